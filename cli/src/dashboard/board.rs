//! What the dashboard page shows, built from what a backend read (pure: no I/O, no clock): the
//! stack's topology from the model, a card per rollout (its step track, stage, bake or hook
//! time left, alarm line, which buttons apply) and the chart's history of each version's share
//! of answers and 5xx per second
//!
//! A [`Board`] keeps the last reading's cumulative counts and the chart's recent points, and
//! turns each new reading into the next [`Frame`], the JSON the page renders. Every text the
//! page shows of a rollout comes from here: the banner at the top is the line of the card it
//! names, never an older answer (a button's answer names only what the button did).

use std::collections::{BTreeMap, VecDeque};

use local_runtime::control::VersionTraffic;
use local_runtime::plan::{GatewayTarget, LocalPlan, NameTarget};
use model::{DeploymentStatus, HookTarget, Percent, RolloutProgress, Stack, StackSpec};
use serde::Serialize;

/// How many points each service's chart keeps (two minutes at the default poll).
pub const HISTORY: usize = 240;

/// One reading of a backend.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// The stack's model: what runs locally, the resolved description on AWS.
    pub spec: Option<StackSpec>,
    pub rollouts: Vec<Observed>,
    /// Cumulative answers by service and version, when the backend counts them (locally, the
    /// data plane's `GET /traffic`); `None` on AWS, where the chart shows ECS's share.
    pub traffic: Option<Vec<VersionTraffic>>,
    /// Each alarm's series as CloudWatch computes it (AWS; none locally, where the chart has
    /// every answer's status).
    pub alarm_series: Vec<AlarmSeries>,
}

/// One alarm's series from CloudWatch: what the alarm compares with its threshold, one value a
/// period, over the window read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmSeries {
    pub service: String,
    pub alarm: String,
    /// `>`, `>=`, `<` or `<=`: the side of the threshold that breaches (`None` for an anomaly
    /// band, which has no fixed threshold).
    pub comparison: Option<&'static str>,
    /// In the alarm's own units (for the stack's error-rate alarm, a percentage).
    pub threshold: Option<f64>,
    pub period_seconds: u32,
    /// The window read, in Unix milliseconds: the chart spans it whole.
    pub from_ms: u64,
    pub to_ms: u64,
    /// Oldest first.
    pub points: Vec<SeriesPoint>,
    /// Why the series could not be read: the page shows it in the chart's place.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesPoint {
    /// The period's start, in Unix milliseconds.
    pub at_ms: u64,
    pub value: f64,
}

/// What a button did, as the banner says it until the next press.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Acted {
    /// `continue` or `rollback`.
    pub action: &'static str,
    /// `done` or `refused`.
    pub outcome: &'static str,
    /// Why it was refused. A done action's own lines are not kept: the line they would show
    /// is the card's, which the banner shows as it is now.
    pub error: Option<String>,
}

/// The page's top line: the current line of one card, and what the last button did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Banner {
    /// The card whose line it shows: the first deployment going forward, else the first one.
    pub service: Option<String>,
    /// That card's [`Card::line`], the same text.
    pub line: Option<String>,
    pub acted: Option<Acted>,
}

/// One service's deployment as read.
#[derive(Debug, Clone)]
pub struct Observed {
    pub progress: RolloutProgress,
    /// The production share after each shift when the backend knows its plan (the local
    /// engine); otherwise the model's steps for the strategy are shown.
    pub steps: Option<Vec<Percent>>,
}

/// Where the chart's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChartSource {
    /// Every answer through the local data plane, per second.
    Answers,
    /// The production share ECS set for each revision (no answer counts).
    ProductionShare,
}

/// What the page renders, sent whole on every change.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Frame {
    pub stack: String,
    /// `local` or `aws`.
    pub backend: &'static str,
    /// Since the dashboard started.
    pub at_ms: u64,
    /// The last read failed (the rest is the last good reading).
    pub error: Option<String>,
    pub topology: Topology,
    pub rollouts: Vec<Card>,
    pub chart_source: ChartSource,
    /// By service, oldest point first.
    pub chart: BTreeMap<String, Vec<Point>>,
    /// The alarms' series from CloudWatch (AWS), each with its threshold.
    pub alarm_series: Vec<AlarmSeries>,
    pub banner: Banner,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    pub gateway: Option<GatewayView>,
    pub services: Vec<ServiceView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayView {
    pub name: String,
    /// Longest prefix first, as the gateway matches them.
    pub routes: Vec<RouteView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteView {
    pub prefix: String,
    /// The services the rule reaches (through a virtual router: every one it may pick).
    pub services: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    pub name: String,
    pub version: String,
    /// The services it calls (its `backends`, resolved through the mesh's names).
    pub calls: Vec<String>,
    /// The version a deployment in progress brings.
    pub rolling_out_to: Option<String>,
}

/// One service's deployment as the page shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub service: String,
    pub strategy: &'static str,
    pub status: &'static str,
    pub stage: Option<&'static str>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub production_percent: f64,
    /// Stage, production share, test traffic and bake in one line, as the card and the banner
    /// show it.
    pub line: String,
    pub test_traffic_on_target: bool,
    /// The production share after each shift (BLUE_GREEN: one, 100).
    pub steps: Vec<f64>,
    /// How many of `steps` production has reached.
    pub step: usize,
    pub bake_remaining_ms: Option<u64>,
    pub hook: Option<HookView>,
    pub alarms: Vec<AlarmView>,
    pub rollback_reason: Option<String>,
    /// A pause hook awaits an action.
    pub can_continue: bool,
    /// The deployment still goes forward.
    pub can_rollback: bool,
}

/// The hook the deployment waits on.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookView {
    /// `pause` or `lambda`.
    pub kind: &'static str,
    pub name: String,
    pub stage: &'static str,
    /// A Lambda hook's run so far and its timeout, in real seconds (a pause's start is not
    /// reported: its timeout is shown in model minutes).
    pub elapsed_seconds: Option<u64>,
    pub timeout_seconds: Option<u64>,
    pub timeout_minutes: u32,
    pub timeout_action: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmView {
    pub name: String,
    pub state: &'static str,
    pub value_percent: Option<f64>,
    pub threshold_percent: Option<f64>,
    pub reason: Option<String>,
}

/// One poll's figures for one service.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    pub at_ms: u64,
    /// By version.
    pub versions: BTreeMap<String, VersionPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionPoint {
    /// Its share (0 to 1) of the service's answers since the last poll, or of production;
    /// `None` when nothing answered in between.
    pub share: Option<f64>,
    /// Answers and 5xx per second (`None` where the backend counts none).
    pub per_second: Option<f64>,
    pub errors_per_second: Option<f64>,
}

/// Cumulative (answers, 5xx) by service and version.
type Counts = BTreeMap<(String, String), (u64, u64)>;

/// The dashboard's memory between readings.
#[derive(Debug)]
pub struct Board {
    stack: String,
    backend: &'static str,
    /// The previous reading's time and counts, by service and version.
    last_counts: Option<(u64, Counts)>,
    chart: BTreeMap<String, VecDeque<Point>>,
    last: Option<Frame>,
    /// What the last button did.
    acted: Option<Acted>,
}

impl Board {
    pub fn new(stack: &str, backend: &'static str) -> Board {
        Board {
            stack: stack.to_owned(),
            backend,
            last_counts: None,
            chart: BTreeMap::new(),
            last: None,
            acted: None,
        }
    }

    /// Notes what a button did, for the banner of the frames from now on.
    pub fn acted(&mut self, acted: Acted) {
        self.acted = Some(acted);
    }

    /// The frame for `reading` taken at `at_ms`; a failed read keeps the last frame's figures
    /// and says why.
    pub fn frame(&mut self, at_ms: u64, reading: Result<Reading, String>) -> Frame {
        let reading = match reading {
            Ok(reading) => reading,
            Err(error) => {
                let mut frame = self.last.clone().unwrap_or_else(|| Frame {
                    stack: self.stack.clone(),
                    backend: self.backend,
                    at_ms,
                    error: None,
                    topology: Topology::default(),
                    rollouts: Vec::new(),
                    chart_source: ChartSource::Answers,
                    chart: BTreeMap::new(),
                    alarm_series: Vec::new(),
                    banner: banner(&[], None),
                });
                frame.at_ms = at_ms;
                frame.error = Some(error);
                frame.banner.acted.clone_from(&self.acted);
                return frame;
            }
        };
        let stack = reading
            .spec
            .as_ref()
            .and_then(|spec| Stack::new(spec.clone()).ok());
        let chart_source = match &reading.traffic {
            Some(traffic) => {
                self.chart_answers(at_ms, traffic, &reading.rollouts);
                ChartSource::Answers
            }
            None => {
                self.chart_production(at_ms, &reading.rollouts);
                ChartSource::ProductionShare
            }
        };
        let cards: Vec<Card> = reading
            .rollouts
            .iter()
            .map(|o| card(o, stack.as_ref()))
            .collect();
        let frame = Frame {
            stack: self.stack.clone(),
            backend: self.backend,
            at_ms,
            error: None,
            topology: stack
                .as_ref()
                .map(|s| topology(s, &reading.rollouts))
                .unwrap_or_default(),
            banner: banner(&cards, self.acted.clone()),
            rollouts: cards,
            chart_source,
            chart: self
                .chart
                .iter()
                .map(|(service, points)| (service.clone(), points.iter().cloned().collect()))
                .collect(),
            alarm_series: reading.alarm_series,
        };
        self.last = Some(frame.clone());
        frame
    }

    fn push(&mut self, service: &str, point: Point) {
        let points = self.chart.entry(service.to_owned()).or_default();
        points.push_back(point);
        while points.len() > HISTORY {
            points.pop_front();
        }
    }

    /// A point per service from the counts' growth since the last reading: each version's
    /// share of the answers in between and its rates. The versions shown are those that
    /// answered in between and a rollout's two.
    fn chart_answers(&mut self, at_ms: u64, traffic: &[VersionTraffic], rollouts: &[Observed]) {
        let now: Counts = traffic
            .iter()
            .map(|t| {
                (
                    (t.service.clone(), t.version.clone()),
                    (t.answers, t.errors),
                )
            })
            .collect();
        let Some((then_ms, then)) = self.last_counts.replace((at_ms, now.clone())) else {
            return;
        };
        let seconds = at_ms.saturating_sub(then_ms) as f64 / 1000.0;
        if seconds <= 0.0 {
            return;
        }
        // A count lower than before is a restarted data plane: counted anew from zero.
        let grown = |key: &(String, String), (answers, errors): (u64, u64)| {
            let (a0, e0) = then.get(key).copied().unwrap_or_default();
            if answers < a0 || errors < e0 {
                (answers, errors)
            } else {
                (answers - a0, errors - e0)
            }
        };
        let mut by_service: BTreeMap<&str, BTreeMap<String, (u64, u64)>> = BTreeMap::new();
        for (key, counts) in &now {
            let delta = grown(key, *counts);
            let shown = delta.0 > 0
                || rollouts.iter().any(|o| {
                    o.progress.service == key.0
                        && (o.progress.source.as_ref() == Some(&key.1)
                            || o.progress.target.as_ref() == Some(&key.1))
                });
            if shown {
                by_service
                    .entry(key.0.as_str())
                    .or_default()
                    .insert(key.1.clone(), delta);
            }
        }
        let points: Vec<(String, Point)> = by_service
            .into_iter()
            .map(|(service, versions)| {
                let total: u64 = versions.values().map(|(a, _)| a).sum();
                let versions = versions
                    .into_iter()
                    .map(|(version, (answers, errors))| {
                        let point = VersionPoint {
                            share: (total > 0).then(|| answers as f64 / total as f64),
                            per_second: Some(answers as f64 / seconds),
                            errors_per_second: Some(errors as f64 / seconds),
                        };
                        (version, point)
                    })
                    .collect();
                (service.to_owned(), Point { at_ms, versions })
            })
            .collect();
        for (service, point) in points {
            self.push(&service, point);
        }
    }

    /// A point per rollout from the production share the backend reports for its target.
    fn chart_production(&mut self, at_ms: u64, rollouts: &[Observed]) {
        for o in rollouts {
            let p = &o.progress;
            let target = f64::from(p.production_percent.tenths()) / 1000.0;
            let mut versions = BTreeMap::new();
            let share = |share: f64| VersionPoint {
                share: Some(share),
                per_second: None,
                errors_per_second: None,
            };
            if let Some(source) = &p.source {
                versions.insert(source.clone(), share(1.0 - target));
            }
            if let Some(name) = &p.target {
                versions.insert(name.clone(), share(target));
            }
            self.push(&p.service, Point { at_ms, versions });
        }
    }
}

fn percent(p: Percent) -> f64 {
    f64::from(p.tenths()) / 10.0
}

/// The banner for `cards`: the line of the first deployment going forward, else of the first.
fn banner(cards: &[Card], acted: Option<Acted>) -> Banner {
    let shown = cards
        .iter()
        .find(|c| c.can_rollback)
        .or_else(|| cards.first());
    Banner {
        service: shown.map(|c| c.service.clone()),
        line: shown.map(|c| c.line.clone()),
        acted,
    }
}

/// A bake's time left as the page shows it: tenths under 10 s.
fn seconds(ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    if ms < 10_000 {
        format!("{s:.1} s")
    } else {
        format!("{s:.0} s")
    }
}

/// The card's line: `stage PRODUCTION_TRAFFIC_SHIFT, production 60% on 2, test traffic on it,
/// bake 2.0 s left`.
fn card_line(p: &RolloutProgress) -> String {
    let mut line = format!(
        "stage {}, production {}% on {}",
        p.stage.map_or("-", |s| s.as_str()),
        percent(p.production_percent),
        p.target.as_deref().unwrap_or("the new revision")
    );
    if p.test_traffic_on_target {
        line.push_str(", test traffic on it");
    }
    if let Some(ms) = p.bake_remaining_ms {
        line.push_str(&format!(", bake {} left", seconds(ms)));
    }
    line
}

/// Whether the deployment still goes forward (not ended, not rolling back or stopping).
fn going_forward(status: DeploymentStatus) -> bool {
    matches!(
        status,
        DeploymentStatus::Pending | DeploymentStatus::InProgress
    )
}

fn card(o: &Observed, stack: Option<&Stack>) -> Card {
    let p = &o.progress;
    let spec = stack.and_then(|s| s.spec().services.iter().find(|svc| svc.name == p.service));
    let deployment = stack.zip(spec).map(|(stack, svc)| stack.deployment(svc));
    let steps: Vec<Percent> = match &o.steps {
        Some(steps) => steps.clone(),
        None => deployment
            .as_ref()
            .map(|d| d.traffic_steps().iter().map(|s| s.percent).collect())
            .unwrap_or_default(),
    };
    let step = match p.status {
        DeploymentStatus::Successful => steps.len(),
        _ => steps
            .iter()
            .filter(|s| **s <= p.production_percent && s.tenths() > 0)
            .count(),
    };
    let hook = match (&p.hook_running, p.paused_at) {
        (Some(running), _) => Some(HookView {
            kind: "lambda",
            name: running.hook.clone(),
            stage: running.stage.as_str(),
            elapsed_seconds: Some(running.elapsed_seconds),
            timeout_seconds: Some(running.timeout_seconds),
            timeout_minutes: running.timeout.minutes,
            timeout_action: running.timeout.action.as_str(),
        }),
        (None, Some(stage)) => {
            // The model's pause hook at that stage gives its timeout.
            let pause = deployment.as_ref().and_then(|d| {
                d.hooks.iter().find(|h| {
                    matches!(h.target, HookTarget::Pause)
                        && h.stages.iter().any(|s| s.as_str() == stage.as_str())
                })
            });
            let timeout = pause.map(model::Hook::effective_timeout);
            Some(HookView {
                kind: "pause",
                name: "pause".to_owned(),
                stage: stage.as_str(),
                elapsed_seconds: None,
                timeout_seconds: None,
                timeout_minutes: timeout.as_ref().map_or(0, |t| t.minutes),
                timeout_action: timeout.as_ref().map_or("", |t| t.action.as_str()),
            })
        }
        (None, None) => None,
    };
    Card {
        service: p.service.clone(),
        strategy: p.strategy.as_str(),
        status: p.status.as_str(),
        stage: p.stage.map(|s| s.as_str()),
        source: p.source.clone(),
        target: p.target.clone(),
        production_percent: percent(p.production_percent),
        line: card_line(p),
        test_traffic_on_target: p.test_traffic_on_target,
        steps: steps.into_iter().map(percent).collect(),
        step,
        bake_remaining_ms: p.bake_remaining_ms,
        hook,
        alarms: p
            .alarms
            .iter()
            .map(|a| AlarmView {
                name: a.name.clone(),
                state: a.state.as_str(),
                value_percent: a.value_percent.map(percent),
                threshold_percent: a.threshold_percent.map(percent),
                reason: a.reason.clone(),
            })
            .collect(),
        rollback_reason: p.rollback_reason.clone(),
        can_continue: p.paused_at.is_some() && going_forward(p.status),
        can_rollback: going_forward(p.status),
    }
}

/// Gateway rules -> services -> the services they call, from the model's plan (the same for
/// both backends: it is the model's routing).
fn topology(stack: &Stack, rollouts: &[Observed]) -> Topology {
    let plan = LocalPlan::from_stack(stack);
    // A mesh name (Service Connect alias, virtual service) to the services it reaches.
    let reach = |name: &str| -> Vec<String> {
        let targets: Vec<&NameTarget> = plan
            .names()
            .filter(|n| n.name == name)
            .map(|n| &n.target)
            .collect();
        let mut services: Vec<String> = Vec::new();
        for target in targets {
            match target {
                NameTarget::Service(service) => services.push(service.clone()),
                NameTarget::Router(router) => {
                    for route in plan.routers().get(router).into_iter().flatten() {
                        services.extend(route.targets.iter().map(|(s, _)| s.clone()));
                    }
                }
            }
        }
        if services.is_empty() && plan.service(name).is_some() {
            services.push(name.to_owned());
        }
        services.sort();
        services.dedup();
        services
    };
    let gateway = plan.gateway().map(|g| GatewayView {
        name: g.name.clone(),
        routes: g
            .routes
            .iter()
            .map(|r| RouteView {
                prefix: r.prefix.clone(),
                services: match &r.target {
                    GatewayTarget::VirtualService { name } => reach(name),
                    GatewayTarget::Alb { targets, .. } => {
                        targets.iter().map(|(s, _)| s.clone()).collect()
                    }
                },
            })
            .collect(),
    });
    let services = stack
        .spec()
        .services
        .iter()
        .map(|svc| {
            let mut calls: Vec<String> = svc
                .backends
                .iter()
                .flat_map(|b| {
                    let reached = reach(b);
                    if reached.is_empty() {
                        vec![b.clone()]
                    } else {
                        reached
                    }
                })
                .collect();
            calls.dedup();
            ServiceView {
                name: svc.name.clone(),
                version: svc.version.clone(),
                calls,
                rolling_out_to: rollouts
                    .iter()
                    .find(|o| o.progress.service == svc.name && going_forward(o.progress.status))
                    .and_then(|o| o.progress.target.clone()),
            }
        })
        .collect();
    Topology { gateway, services }
}

#[cfg(test)]
mod tests {
    use model::examples::{self, RolloutInputs};
    use model::{AlarmReading, AlarmState, DeploymentStage, StrategyKind};

    use super::*;

    fn progress(status: DeploymentStatus, production: u32) -> RolloutProgress {
        RolloutProgress {
            status,
            test_traffic_on_target: true,
            bake_remaining_ms: Some(800),
            alarms: vec![AlarmReading {
                name: "r-web-error-rate".into(),
                state: AlarmState::Ok,
                threshold_percent: Some(Percent::whole(10)),
                value_percent: Some(Percent::from_tenths(12)),
                reason: None,
            }],
            ..examples::rollout_progress(
                StrategyKind::Linear,
                DeploymentStage::ProductionTrafficShift,
                production,
            )
        }
    }

    fn rollout_spec() -> StackSpec {
        examples::rollout(
            "r",
            &RolloutInputs {
                version: 1,
                strategy: StrategyKind::Linear,
            },
        )
    }

    fn traffic(web1: (u64, u64), web2: (u64, u64)) -> Vec<VersionTraffic> {
        vec![
            VersionTraffic {
                service: "web".into(),
                version: "1".into(),
                answers: web1.0,
                errors: web1.1,
            },
            VersionTraffic {
                service: "web".into(),
                version: "2".into(),
                answers: web2.0,
                errors: web2.1,
            },
        ]
    }

    /// The chart takes per-second differences of the cumulative counts: each version's share
    /// of the answers between two readings, and its answers and 5xx per second.
    #[test]
    fn the_chart_shows_each_versions_share_and_rates_between_readings() {
        let mut board = Board::new("r", "local");
        let reading = |t| Reading {
            spec: Some(rollout_spec()),
            rollouts: vec![Observed {
                progress: progress(DeploymentStatus::InProgress, 40),
                steps: None,
            }],
            traffic: Some(t),
            alarm_series: Vec::new(),
        };
        let first = board.frame(0, Ok(reading(traffic((100, 0), (0, 0)))));
        assert!(first.chart.is_empty(), "one reading has no rate yet");
        let second = board.frame(500, Ok(reading(traffic((130, 3), (20, 2)))));
        let point = second.chart["web"].last().unwrap();
        assert_eq!(point.at_ms, 500);
        assert_eq!(point.versions["1"].share, Some(0.6));
        assert_eq!(point.versions["2"].share, Some(0.4));
        assert_eq!(point.versions["2"].per_second, Some(40.0));
        assert_eq!(point.versions["1"].errors_per_second, Some(6.0));
        // Nothing answered: no share, zero rates, for the rollout's two versions.
        let third = board.frame(1500, Ok(reading(traffic((130, 3), (20, 2)))));
        let point = third.chart["web"].last().unwrap();
        assert_eq!(point.versions["2"].share, None);
        assert_eq!(point.versions["2"].per_second, Some(0.0));
        // A failed read keeps the figures and says why.
        let failed = board.frame(2000, Err("the control API does not answer".into()));
        assert_eq!(
            failed.error.as_deref(),
            Some("the control API does not answer")
        );
        assert_eq!(failed.chart["web"].len(), 2);
        assert_eq!(failed.rollouts.len(), 1);
    }

    /// The card marks the step reached from the model's LINEAR steps, and the buttons follow
    /// the status: continue only at a pause, rollback while the deployment goes forward.
    #[test]
    fn a_card_has_the_step_track_and_the_buttons_that_apply() {
        let stack = Stack::new(rollout_spec()).unwrap();
        let observed = |status, production| Observed {
            progress: progress(status, production),
            steps: None,
        };
        let c = card(&observed(DeploymentStatus::InProgress, 40), Some(&stack));
        assert_eq!(c.steps, [20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!((c.step, c.can_continue, c.can_rollback), (2, false, true));
        assert_eq!(c.alarms[0].value_percent, Some(1.2));
        assert_eq!(c.alarms[0].state, "OK");
        let mut paused = observed(DeploymentStatus::InProgress, 0);
        paused.progress.paused_at = Some(DeploymentStage::PostTestTrafficShift);
        let c = card(&paused, Some(&stack));
        assert_eq!((c.step, c.can_continue, c.can_rollback), (0, true, true));
        assert_eq!(c.hook.as_ref().map(|h| h.kind), Some("pause"));
        let c = card(&observed(DeploymentStatus::Successful, 100), Some(&stack));
        assert_eq!((c.step, c.can_continue, c.can_rollback), (5, false, false));
        let c = card(
            &observed(DeploymentStatus::RollbackInProgress, 20),
            Some(&stack),
        );
        assert!(!c.can_rollback && !c.can_continue);
        // The engine's own steps win over the model's.
        let mut canary = observed(DeploymentStatus::InProgress, 10);
        canary.steps = Some(vec![Percent::whole(10), Percent::HUNDRED]);
        assert_eq!(card(&canary, Some(&stack)).step, 1);
    }

    /// The banner is the current line of the card it names, read by read: after Continue was
    /// pressed at 20%, the page at 60% says 60% in the banner as on the card (the page once
    /// kept the button's answer there, which said 20% until the next press). A button's outcome
    /// stays, without the lines it answered with.
    #[test]
    fn the_banner_is_the_cards_current_line_not_a_buttons_older_answer() {
        let mut board = Board::new("r", "aws");
        let reading = |production| Reading {
            spec: Some(rollout_spec()),
            rollouts: vec![Observed {
                progress: progress(DeploymentStatus::InProgress, production),
                steps: None,
            }],
            ..Reading::default()
        };
        let at_20 = board.frame(0, Ok(reading(20)));
        assert_eq!(at_20.banner.line, Some(at_20.rollouts[0].line.clone()));
        board.acted(Acted {
            action: "continue",
            outcome: "done",
            error: None,
        });
        let at_60 = board.frame(5000, Ok(reading(60)));
        let line = "stage PRODUCTION_TRAFFIC_SHIFT, production 60% on 2, test traffic on it, bake 0.8 s left";
        assert_eq!(at_60.rollouts[0].line, line);
        assert_eq!(at_60.banner.line.as_deref(), Some(line));
        assert_eq!(at_60.banner.service.as_deref(), Some("web"));
        assert_eq!(at_60.banner.acted.as_ref().map(|a| a.outcome), Some("done"));
        // A failed read keeps the last line and the outcome.
        let failed = board.frame(6000, Err("throttled".into()));
        assert_eq!(failed.banner, at_60.banner);
        // With two cards, the one still going forward is the banner's.
        let mut done = progress(DeploymentStatus::Successful, 100);
        done.service = "front".into();
        let two = board.frame(
            7000,
            Ok(Reading {
                rollouts: vec![
                    Observed {
                        progress: done,
                        steps: None,
                    },
                    reading(80).rollouts.remove(0),
                ],
                ..reading(80)
            }),
        );
        assert_eq!(two.banner.service.as_deref(), Some("web"));
        assert_eq!(two.banner.line, Some(two.rollouts[1].line.clone()));
        assert!(two.rollouts[1].line.contains("production 80% on 2"));
    }

    /// The alarms' series pass to the page as read, threshold and message included.
    #[test]
    fn the_alarm_series_reach_the_page_with_their_threshold_or_their_message() {
        let mut board = Board::new("r", "aws");
        let series = AlarmSeries {
            service: "web".into(),
            alarm: "r-web-error-rate".into(),
            comparison: Some(">"),
            threshold: Some(10.0),
            period_seconds: 60,
            from_ms: 0,
            to_ms: 1_800_000,
            points: vec![SeriesPoint {
                at_ms: 60_000,
                value: 12.5,
            }],
            error: None,
        };
        let denied = AlarmSeries {
            points: Vec::new(),
            error: Some("cannot read the series".into()),
            ..series.clone()
        };
        let frame = board.frame(
            0,
            Ok(Reading {
                spec: Some(rollout_spec()),
                alarm_series: vec![series.clone(), denied.clone()],
                ..Reading::default()
            }),
        );
        assert_eq!(frame.alarm_series, [series, denied]);
        let json = serde_json::to_value(&frame).unwrap();
        assert_eq!(json["alarmSeries"][0]["threshold"], 10.0);
        assert_eq!(json["alarmSeries"][0]["points"][0]["value"], 12.5);
        assert_eq!(json["alarmSeries"][1]["error"], "cannot read the series");
    }

    /// Gateway rules reach the services (through the App Mesh router for the `appmesh` app),
    /// and each service lists the services it calls.
    #[test]
    fn the_topology_follows_gateway_rules_to_services_and_their_calls() {
        let stack = Stack::new(rollout_spec()).unwrap();
        let t = topology(&stack, &[]);
        let gateway = t.gateway.expect("the rollout app has a gateway");
        assert!(
            gateway.routes.iter().any(|r| r.services == ["front"]),
            "{gateway:?}"
        );
        let front = t.services.iter().find(|s| s.name == "front").unwrap();
        assert_eq!(front.calls, ["web"]);

        let mesh = Stack::new(examples::appmesh("appmesh")).unwrap();
        let t = topology(&mesh, &[]);
        let routes = t.gateway.expect("the appmesh app has a gateway").routes;
        assert!(
            routes.iter().any(|r| r.services.len() == 2),
            "a router route reaches both colours: {routes:?}"
        );
    }
}
