// The meshtest dashboard's page: renders every frame the server sends (server-sent events) as
// the banner, the topology, a card per rollout with its step track and buttons, plain SVG
// charts, and on AWS each alarm's CloudWatch series with its threshold. Every line of a rollout
// is the frame's (the banner shows a card's line as the frame has it, never a button's older
// answer). Text from the backend is only ever set as text (textContent), never parsed as markup.
'use strict';

const token = new URLSearchParams(location.search).get('token') || '';
const SVG = 'http://www.w3.org/2000/svg';
// The charts span what they have, from 20 s up to two minutes.
const MIN_WINDOW_MS = 20000;
const MAX_WINDOW_MS = 120000;
const COLOURS = ['#3b6fd8', '#e0762b', '#2f9e59', '#a23fc2', '#c2a23f', '#555'];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'className') node.className = v;
    else if (k.startsWith('data-')) node.setAttribute(k, String(v));
    else node[k] = v;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function renderTopology(topology) {
  const routes = el('ul');
  const gateway = topology.gateway;
  if (gateway) {
    for (const r of gateway.routes) routes.append(el('li', {}, r.prefix + ' \u2192 ' + r.services.join(', ')));
  } else {
    routes.append(el('li', {}, 'no gateway'));
  }
  const services = el('ul');
  const calls = el('ul');
  for (const s of topology.services) {
    const rolling = s.rollingOutTo !== null && s.rollingOutTo !== undefined;
    services.append(el('li', { className: rolling ? 'rolling' : '', 'data-service': s.name },
      s.name + ' (version ' + s.version + (rolling ? ' \u2192 ' + s.rollingOutTo + ', rolling out' : '') + ')'));
    calls.append(el('li', {}, s.name + ' \u2192 ' + (s.calls.length ? s.calls.join(', ') : 'nothing')));
  }
  return el('div', { className: 'topology' },
    el('div', { className: 'column' }, el('h3', {}, gateway ? 'gateway ' + gateway.name + ': rules' : 'gateway'), routes),
    el('div', { className: 'column' }, el('h3', {}, 'services'), services),
    el('div', { className: 'column' }, el('h3', {}, 'calls'), calls));
}

function stepTrack(card) {
  const list = el('ol', { className: 'steps', 'data-step': card.step, 'data-steps': card.steps.length });
  card.steps.forEach((percent, i) => {
    const n = i + 1;
    const current = n === card.step;
    list.append(el('li', {
      className: current ? 'current' : (n < card.step ? 'done' : ''),
      'data-current': current ? 'true' : null,
    }, percent + '%'));
  });
  return list;
}

function hookLine(hook) {
  if (!hook) return null;
  if (hook.kind === 'pause') {
    const timeout = hook.timeoutMinutes ? ', times out after ' + hook.timeoutMinutes + ' min (' + hook.timeoutAction + ')' : '';
    return el('p', { className: 'line hook' }, 'pause at ' + hook.stage + ' awaits Continue or Rollback' + timeout);
  }
  const left = Math.max(0, hook.timeoutSeconds - hook.elapsedSeconds);
  return el('p', { className: 'line hook' },
    'hook ' + hook.name + ' at ' + hook.stage + ' running ' + hook.elapsedSeconds + ' s, ' + left + ' s left before ' + hook.timeoutAction);
}

function alarmLines(card) {
  return card.alarms.map((a) => {
    let text = 'alarm ' + a.name + ' ' + a.state;
    if (a.valuePercent !== null && a.valuePercent !== undefined) {
      text += ' ' + a.valuePercent + '%';
      if (a.thresholdPercent !== null && a.thresholdPercent !== undefined) text += ' (threshold ' + a.thresholdPercent + '%)';
    } else if (a.thresholdPercent !== null && a.thresholdPercent !== undefined) {
      text += ' (threshold ' + a.thresholdPercent + '%)';
    }
    return el('p', { className: 'line alarm', 'data-state': a.state }, text);
  });
}

// What a button did, until the frames say it: set while its POST is on its way.
let pending = null;

function actedText(acted) {
  return acted.outcome === 'refused' ? acted.action + ' refused: ' + acted.error : acted.action + ': ' + acted.outcome;
}

function renderBanner(banner) {
  const node = document.getElementById('banner');
  const acted = pending || banner.acted;
  node.hidden = !banner.line && !acted;
  document.getElementById('banner-line').textContent = banner.line ? banner.service + ': ' + banner.line : '';
  document.getElementById('banner-acted').textContent = acted ? actedText(acted) : '';
  if (acted) node.setAttribute('data-outcome', acted.outcome); else node.removeAttribute('data-outcome');
}

let lastFrame = null;

async function press(action, card) {
  const what = action === 'rollback'
    ? 'Roll back the deployment of ' + card.service + ' to ' + (card.source || 'the previous revision') + '?'
    : 'Let the deployment of ' + card.service + ' go on past ' + (card.hook ? card.hook.stage : 'its pause') + '?';
  if (!window.confirm(what)) return;
  pending = { action: action, outcome: 'sent', error: null };
  if (lastFrame) renderBanner(lastFrame.banner);
  try {
    const response = await fetch('/' + action, { method: 'POST', headers: { 'x-meshtest-token': token } });
    const body = await response.json();
    // The server tells the board the same outcome; the next frame carries it.
    pending = { action: action, outcome: response.ok ? 'done' : 'refused', error: response.ok ? null : body.error };
  } catch (err) {
    pending = { action: action, outcome: 'failed', error: String(err) };
  }
  if (lastFrame) renderBanner(lastFrame.banner);
}

function versionsOf(points) {
  const seen = new Set();
  for (const p of points) for (const v of Object.keys(p.versions)) seen.add(v);
  return [...seen].sort();
}

// One SVG line chart of `value(point, version)` for each version over the last two minutes.
function chart(points, versions, value, max, label, W, attrs) {
  const H = 150, PAD = 34;
  const node = svg('svg', Object.assign({ viewBox: '0 0 ' + W + ' ' + H, class: 'chart' }, attrs));
  const end = points.length ? points[points.length - 1].atMs : 0;
  const start = points.length ? points[0].atMs : 0;
  const window_ms = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, end - start));
  const x = (at) => PAD + (W - PAD - 4) * (1 - (end - at) / window_ms);
  const y = (v) => 6 + (H - PAD - 6) * (1 - v / max);
  for (const tick of [0, 0.5, 1]) {
    node.append(svg('line', { x1: PAD, x2: W - 4, y1: y(tick * max), y2: y(tick * max), stroke: '#e1e4ea' }));
    const t = svg('text', { x: 2, y: y(tick * max) + 3 });
    t.textContent = label(tick * max);
    node.append(t);
  }
  const axis = svg('text', { x: PAD, y: H - 6 });
  axis.textContent = 'last ' + Math.round(window_ms / 1000) + ' s';
  node.append(axis);
  versions.forEach((version, i) => {
    let segment = [];
    const flush = () => {
      if (segment.length) node.append(svg('polyline', { points: segment.join(' '), fill: 'none', stroke: COLOURS[i % COLOURS.length], 'stroke-width': 2, 'data-version': version }));
      segment = [];
    };
    for (const p of points) {
      if (end - p.atMs > window_ms) continue;
      const v = p.versions[version] ? value(p.versions[version]) : null;
      if (v === null || v === undefined) { flush(); continue; }
      segment.push(x(p.atMs).toFixed(1) + ',' + y(Math.min(v, max)).toFixed(1));
    }
    flush();
  });
  return node;
}

// An alarm's series from CloudWatch over the window read, with its threshold as a dashed line;
// a series that could not be read shows why instead.
function alarmChart(series) {
  const wrap = el('div', { className: 'alarm-series', 'data-alarm': series.alarm, 'data-service': series.service });
  const per = series.periodSeconds ? ', one value per ' + series.periodSeconds + ' s' : '';
  const threshold = series.threshold !== null && series.threshold !== undefined ? series.threshold : null;
  const side = threshold !== null ? ' (alarm when ' + series.comparison + ' ' + threshold + ')' : '';
  wrap.append(el('div', {}, 'alarm ' + series.alarm + ' (CloudWatch' + per + ')' + side));
  if (series.error) {
    wrap.append(el('p', { className: 'line series-error' }, series.error));
    return wrap;
  }
  const W = 300, H = 150, PAD = 34;
  let max = threshold !== null ? threshold : 0;
  for (const p of series.points) max = Math.max(max, p.value);
  max = max > 0 ? max * 1.25 : 1;
  const span = Math.max(1, series.toMs - series.fromMs);
  const x = (at) => PAD + (W - PAD - 4) * Math.min(1, Math.max(0, (at - series.fromMs) / span));
  const y = (v) => 6 + (H - PAD - 6) * (1 - v / max);
  const node = svg('svg', {
    viewBox: '0 0 ' + W + ' ' + H,
    class: 'chart series',
    'data-threshold': threshold === null ? '' : threshold,
    'data-values': JSON.stringify(series.points.map((p) => p.value)),
    'aria-label': 'series of alarm ' + series.alarm,
  });
  for (const tick of [0, 0.5, 1]) {
    node.append(svg('line', { x1: PAD, x2: W - 4, y1: y(tick * max), y2: y(tick * max), stroke: '#e1e4ea' }));
    const t = svg('text', { x: 2, y: y(tick * max) + 3 });
    t.textContent = (tick * max).toFixed(max < 10 ? 1 : 0);
    node.append(t);
  }
  if (threshold !== null) {
    node.append(svg('line', { class: 'threshold', x1: PAD, x2: W - 4, y1: y(threshold), y2: y(threshold), stroke: '#c0392b', 'stroke-dasharray': '4 3' }));
  }
  if (series.points.length) {
    node.append(svg('polyline', {
      points: series.points.map((p) => x(p.atMs).toFixed(1) + ',' + y(p.value).toFixed(1)).join(' '),
      fill: 'none', stroke: '#3b6fd8', 'stroke-width': 2,
    }));
  } else {
    const t = svg('text', { x: PAD + 6, y: H / 2 });
    t.textContent = 'no value in this window';
    node.append(t);
  }
  const axis = svg('text', { x: PAD, y: H - 6 });
  axis.textContent = 'last ' + Math.round(span / 60000) + ' min';
  node.append(axis);
  wrap.append(node);
  return wrap;
}

function charts(card, frame) {
  const points = frame.chart[card.service] || [];
  const versions = versionsOf(points);
  const last = points.length ? points[points.length - 1].versions : {};
  const shares = {};
  for (const v of versions) shares[v] = last[v] ? last[v].share : null;
  const newShare = card.target && last[card.target] ? last[card.target].share : null;
  const share = chart(points, versions, (v) => v.share, 1, (v) => Math.round(v * 100) + '%', 600, {
    'data-new-share': newShare === null || newShare === undefined ? '' : newShare,
    'data-shares': JSON.stringify(shares),
    'aria-label': 'share of answers per version',
  });
  share.classList.add('share');
  const legend = el('div', { className: 'legend' });
  versions.forEach((v, i) => legend.append(el('span', {}, el('span', { className: 'swatch', style: 'background:' + COLOURS[i % COLOURS.length] }), 'version ' + v)));
  let errors;
  if (frame.chartSource === 'answers') {
    let max = 1;
    for (const p of points) for (const v of Object.values(p.versions)) max = Math.max(max, v.errorsPerSecond || 0);
    errors = chart(points, versions, (v) => v.errorsPerSecond, max, (v) => v.toFixed(1) + '/s', 300, { 'aria-label': '5xx per second per version' });
    errors.classList.add('errors');
  } else {
    const mine = (frame.alarmSeries || []).filter((s) => s.service === card.service);
    errors = mine.length
      ? el('div', {}, ...mine.map(alarmChart))
      : el('p', {}, 'AWS: ECS reports no answer counts; the share is the production weight ECS set, and the service has no alarm to chart');
  }
  const shareTitle = frame.chartSource === 'answers' ? 'share of answers' : 'production share (ECS)';
  const errorsTitle = frame.chartSource === 'answers' ? '5xx per second' : 'alarms (CloudWatch)';
  return el('div', {},
    legend,
    el('div', { className: 'charts' },
      el('div', {}, el('div', {}, shareTitle), share),
      el('div', {}, el('div', {}, errorsTitle), errors)));
}

function renderCard(card, frame) {
  const node = el('div', {
    className: 'card',
    'data-service': card.service,
    'data-status': card.status,
    'data-step': card.step,
    'data-steps': card.steps.length,
    'data-production': card.productionPercent,
    'data-can-continue': card.canContinue,
    'data-can-rollback': card.canRollback,
  });
  node.append(el('h3', {}, card.service + ': ' + (card.source || '?') + ' \u2192 ' + (card.target || '?') + ' (' + card.strategy + ')',
    el('span', { className: 'status', 'data-status': card.status }, card.status)));
  node.append(stepTrack(card));
  node.append(el('p', { className: 'line current' }, card.line));
  const hook = hookLine(card.hook);
  if (hook) node.append(hook);
  for (const a of alarmLines(card)) node.append(a);
  if (card.rollbackReason) node.append(el('p', { className: 'line reason' }, 'rolled back: ' + card.rollbackReason));
  const buttons = el('div', { className: 'buttons' });
  if (card.canContinue) {
    const b = el('button', { type: 'button', 'data-action': 'continue' }, 'Continue');
    b.addEventListener('click', () => press('continue', card));
    buttons.append(b);
  }
  if (card.canRollback) {
    const b = el('button', { type: 'button', 'data-action': 'rollback' }, 'Rollback');
    b.addEventListener('click', () => press('rollback', card));
    buttons.append(b);
  }
  node.append(buttons);
  node.append(charts(card, frame));
  return node;
}

function render(frame) {
  lastFrame = frame;
  // A frame after the press's answer carries its outcome.
  if (pending && pending.outcome !== 'sent' && frame.banner.acted) pending = null;
  renderBanner(frame.banner);
  document.getElementById('stack').textContent = frame.stack;
  document.getElementById('backend').textContent = frame.backend === 'local' ? 'local runtime' : 'AWS';
  const error = document.getElementById('error');
  error.hidden = !frame.error;
  error.textContent = frame.error || '';
  document.getElementById('topology').replaceChildren(renderTopology(frame.topology));
  document.getElementById('chart-source').textContent = frame.chartSource === 'answers'
    ? 'Charts: every answer through the local data plane, per second.'
    : 'Charts: the production share ECS set for each revision.';
  const rollouts = document.getElementById('rollouts');
  if (!frame.rollouts.length) {
    rollouts.replaceChildren(el('p', {}, 'No rollout since the runtime started: deploy a new version to watch it here.'));
  } else {
    rollouts.replaceChildren(...frame.rollouts.map((c) => renderCard(c, frame)));
  }
  // The series of alarms of services without a card (no deployment to show).
  const carded = new Set(frame.rollouts.map((c) => c.service));
  const rest = (frame.alarmSeries || []).filter((s) => !carded.has(s.service));
  document.getElementById('alarms').hidden = !rest.length;
  document.getElementById('alarm-series').replaceChildren(...rest.map(alarmChart));
  document.body.setAttribute('data-frame-at', frame.atMs);
}

const events = new EventSource('/events?token=' + encodeURIComponent(token));
const connection = document.getElementById('connection');
events.onopen = () => { connection.textContent = 'live'; connection.setAttribute('data-connected', 'true'); };
events.onerror = () => { connection.textContent = 'reconnecting'; connection.setAttribute('data-connected', 'false'); };
events.onmessage = (event) => render(JSON.parse(event.data));
