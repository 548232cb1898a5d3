//! Running a [`Config`]: seed-style polling, or load over concurrent keep-alive connections.
//!
//! Load mode copies wrk's shape: one OS thread per core, each with its own single-threaded
//! runtime and [`Recorder`], the connections split evenly between them, each connection a loop
//! of its own (see `h1`; or through a per-thread reqwest client for `https://`). Nothing is
//! shared on the request path except one relaxed counter for `--requests` (and, with
//! `--timeline`, each thread's own lane, which the printer locks once a second); tallies and
//! latency histograms are merged once at the end.
//!
//! In both modes the work runs under [`supervise`], which stops it on the shutdown signal or at
//! the deadline and prints what is due meanwhile (progress lines or the timeline).

use std::cell::RefCell;
use std::future::Future;
use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Client, Url};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::config::{Config, ConfigError, Engine, Header, Mode, TimelineFormat};
use crate::h1::{self, Endpoint};
use crate::plan::Plan;
use crate::record::Recorder;
use crate::tally::{ErrorKind, Outcome, Summary, Tally, body_key};
use crate::timeline::Timeline;

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid settings: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot build the http client")]
    Client(#[source] reqwest::Error),
    #[error("cannot start a load thread")]
    Thread(#[source] std::io::Error),
    #[error("a load thread failed")]
    ThreadFailed,
    #[error("cannot write output")]
    Output(#[source] std::io::Error),
}

type Out<'a> = &'a mut (dyn Write + Send);

/// Run `config` until its bounds are reached or `shutdown` completes, writing the
/// `Running against ...` line, then poll-mode tally lines, load-mode progress lines or the
/// timeline to `out`; with a JSON timeline, only its lines (one JSON object each).
/// Requests still in flight when the run stops are not counted.
pub async fn run(
    config: &Config,
    out: Out<'_>,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, RunError> {
    config.check()?;
    if config.timeline != Some(TimelineFormat::Json) {
        writeln!(out, "Running against {}", config.target).map_err(RunError::Output)?;
    }
    match config.mode {
        Mode::Poll => poll(config, out, shutdown).await,
        Mode::Load { concurrency, .. } => load(config, concurrency, out, shutdown).await,
    }
}

fn client(timeout: Duration, headers: &[Header]) -> Result<Client, RunError> {
    let headers: HeaderMap = headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    Client::builder()
        .timeout(timeout)
        .tcp_nodelay(true)
        .default_headers(headers)
        .build()
        .map_err(RunError::Client)
}

/// One request and its classification; `key` is a reusable buffer.
async fn fetch(client: &Client, url: &Url, key: &mut String) -> Outcome {
    let response = match client.get(url.clone()).send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Failed {
                kind: ErrorKind::of(&e),
            };
        }
    };
    let status = response.status();
    // Read the body even for errors so the connection can be reused.
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            return Outcome::Failed {
                kind: ErrorKind::of(&e),
            };
        }
    };
    if status.is_success() {
        body_key(&body, key);
    } else {
        key.clear();
        key.push_str("http:");
        key.push_str(status.as_str());
    }
    Outcome::Response {
        status: status.as_u16(),
        key: std::mem::take(key),
    }
}

/// When a run that started at `started` must stop.
fn deadline(config: &Config, started: Instant) -> Option<Instant> {
    config.duration.and_then(|d| started.checked_add(d))
}

/// What is printed while the work runs.
enum Report<'a> {
    /// Nothing: poll mode prints its own lines, or load mode without progress.
    Quiet,
    /// Load mode: requests sent and the rate since the last line, once per interval.
    Progress {
        out: Out<'a>,
        every: tokio::time::Interval,
        plan: Arc<Plan>,
        started: Instant,
        last: (u64, Instant),
    },
    /// `--timeline`: every second once it has ended.
    Timeline { out: Out<'a>, timeline: Timeline },
}

impl<'a> Report<'a> {
    fn progress(out: Out<'a>, interval: Duration, plan: Arc<Plan>, started: Instant) -> Self {
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self::Progress {
            out,
            every,
            plan,
            started,
            last: (0, started),
        }
    }

    /// Completes when the next report is due.
    async fn due(&mut self) {
        match self {
            Self::Quiet => std::future::pending().await,
            Self::Progress { every, .. } => {
                every.tick().await;
            }
            Self::Timeline { timeline, .. } => {
                tokio::time::sleep_until(timeline.next_boundary().into()).await;
            }
        }
    }

    fn write(&mut self) -> Result<(), RunError> {
        match self {
            Self::Quiet => Ok(()),
            Self::Progress {
                out,
                plan,
                started,
                last,
                ..
            } => {
                let now = Instant::now();
                let count = plan.sent();
                let rate = (count - last.0) as f64 / now.duration_since(last.1).as_secs_f64();
                *last = (count, now);
                let at = now.duration_since(*started).as_secs_f64();
                writeln!(out, "[{at:>6.1}s] {count} requests sent, {rate:.0} req/s")
                    .map_err(RunError::Output)
            }
            Self::Timeline { out, timeline } => {
                timeline.write_ended(*out).map_err(RunError::Output)
            }
        }
    }

    /// At the end of the run: the timeline's last seconds, up to `cutoff` when the run was
    /// stopped at its deadline.
    fn finish(&mut self, cutoff: Option<Instant>) -> Result<(), RunError> {
        match self {
            Self::Timeline { out, timeline } => {
                timeline.write_rest(cutoff, *out).map_err(RunError::Output)
            }
            _ => Ok(()),
        }
    }
}

/// Drive `work` until it ends by itself. On `shutdown` or at `deadline`, signal `stop` and
/// keep waiting for it, so what it counted so far is kept; meanwhile write what `report` has
/// due.
async fn supervise<T>(
    work: impl Future<Output = Result<T, RunError>>,
    stop: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
    deadline: Option<Instant>,
    report: &mut Report<'_>,
) -> Result<T, RunError> {
    tokio::pin!(work);
    tokio::pin!(shutdown);
    let until_deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until_deadline);
    let mut stopped = false;
    let mut cutoff = None;
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            () = &mut shutdown, if !stopped => { stopped = true; let _ = stop.send(true); }
            () = &mut until_deadline, if !stopped => {
                (stopped, cutoff) = (true, deadline);
                let _ = stop.send(true);
            }
            () = report.due(), if !stopped => report.write()?,
        }
    };
    report.finish(cutoff)?;
    result
}

async fn poll(
    config: &Config,
    out: Out<'_>,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, RunError> {
    let client = client(config.timeout, &config.headers)?;
    let started = Instant::now();
    let (stop, stopped) = watch::channel(false);
    // The timeline replaces the seed's line per request.
    let (mut report, lines, lane) = match config.timeline {
        Some(format) => {
            let mut timeline = Timeline::new(started, format);
            let lane = timeline.lane();
            (Report::Timeline { out, timeline }, None, Some(lane))
        }
        None => (Report::Quiet, Some(out), None),
    };
    let mut recorder = Recorder::new(lane);
    let work = poll_loop(config, &client, &mut recorder, lines, stopped);
    let deadline = deadline(config, started);
    supervise(work, stop, shutdown, deadline, &mut report).await?;
    Ok(recorder
        .tally
        .summary(&config.target.to_string(), started.elapsed()))
}

/// The seed's loop: one request per interval, a tally line after each (when `lines` is given).
async fn poll_loop(
    config: &Config,
    client: &Client,
    recorder: &mut Recorder,
    mut lines: Option<Out<'_>>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let url = config.target.url();
    let mut ticker = tokio::time::interval(config.interval);
    // A slow answer delays the next poll instead of bunching polls up afterwards.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut key = String::new();
    while config
        .requests
        .is_none_or(|limit| recorder.tally.total() < limit)
    {
        let one = async {
            ticker.tick().await;
            let sent = Instant::now();
            let outcome = fetch(client, url, &mut key).await;
            (outcome, sent.elapsed())
        };
        let (outcome, latency) = tokio::select! {
            r = one => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        recorder.outcome(&outcome, latency);
        if let Some(out) = lines.as_deref_mut() {
            let head = match &outcome {
                Outcome::Response { status, .. } => reqwest::StatusCode::from_u16(*status)
                    .map_or_else(|_| status.to_string(), |s| s.to_string()),
                Outcome::Failed { kind } => format!("error {}", kind.word()),
            };
            writeln!(out, "{head} {}", recorder.tally.keys_line()).map_err(RunError::Output)?;
            out.flush().map_err(RunError::Output)?;
        }
        if let Outcome::Response { key: k, .. } = outcome {
            key = k;
        }
    }
    Ok(())
}

async fn load(
    config: &Config,
    concurrency: usize,
    out: Out<'_>,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, RunError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(concurrency);
    let plan = Arc::new(Plan::new(config));
    let started = Instant::now();
    let mut timeline = config.timeline.map(|f| Timeline::new(started, f));
    let (stop, stopped) = watch::channel(false);
    let mut results = Vec::with_capacity(threads);
    for t in 0..threads {
        // Spread connections evenly: the first `concurrency % threads` threads take one more.
        let connections = concurrency / threads + usize::from(t < concurrency % threads);
        let (tx, rx) = oneshot::channel();
        let plan = Arc::clone(&plan);
        let stopped = stopped.clone();
        let recorder = Recorder::new(timeline.as_mut().map(Timeline::lane));
        std::thread::Builder::new()
            .name(format!("load-{t}"))
            .spawn(move || {
                let _ = tx.send(load_thread(&plan, connections, recorder, stopped));
            })
            .map_err(RunError::Thread)?;
        results.push(rx);
    }
    let mut report = match timeline {
        Some(timeline) => Report::Timeline { out, timeline },
        None if config.progress => {
            Report::progress(out, config.interval, Arc::clone(&plan), started)
        }
        None => Report::Quiet,
    };
    // Wait for the threads to finish by themselves (request limit), or stop them.
    let gather = async move {
        let mut total = Tally::new();
        for rx in results {
            total.merge(&rx.await.map_err(|_| RunError::ThreadFailed)??);
        }
        Ok(total)
    };
    let deadline = deadline(config, started);
    let total = supervise(gather, stop, shutdown, deadline, &mut report).await?;
    Ok(total.summary(&config.target.to_string(), started.elapsed()))
}

/// One load thread: its own runtime, client and recorder, `connections` request loops.
fn load_thread(
    plan: &Arc<Plan>,
    connections: usize,
    recorder: Recorder,
    mut stop: watch::Receiver<bool>,
) -> Result<Tally, RunError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Thread)?;
    let recorder = Rc::new(RefCell::new(recorder));
    let local = tokio::task::LocalSet::new();
    let endpoint = match plan.engine {
        Engine::Auto => Endpoint::for_url(&plan.url, &plan.headers).map(Rc::new),
        Engine::Reqwest => None,
    };
    let client = match endpoint {
        Some(_) => None,
        None => Some(client(plan.timeout, &plan.headers)?),
    };
    local.block_on(&runtime, async {
        let mut loops = JoinSet::new();
        for _ in 0..connections {
            match (&endpoint, &client) {
                (Some(endpoint), _) => loops.spawn_local(h1::connection_loop(
                    Arc::clone(plan),
                    Rc::clone(endpoint),
                    Rc::clone(&recorder),
                )),
                (None, Some(client)) => loops.spawn_local(client_loop(
                    Arc::clone(plan),
                    client.clone(),
                    Rc::clone(&recorder),
                )),
                (None, None) => unreachable!("a client is built whenever there is no endpoint"),
            };
        }
        let all_done = async { while loops.join_next().await.is_some() {} };
        tokio::select! {
            () = all_done => {}
            _ = stop.wait_for(|s| *s) => {}
        }
        // Requests in flight at the stop are abandoned, as wrk does at the end of a run.
        loops.shutdown().await;
    });
    drop(local);
    Ok(Rc::try_unwrap(recorder)
        .map_or_else(|rc| rc.borrow().tally.clone(), |r| r.into_inner().tally))
}

/// Requests back to back (or paced) through a reqwest client: the path for `https://` targets.
async fn client_loop(plan: Arc<Plan>, client: Client, recorder: Rc<RefCell<Recorder>>) {
    let mut pacer = plan.pacer();
    let mut key = String::new();
    while plan.take_ticket() {
        if let Some(p) = pacer.as_mut() {
            p.tick().await;
        }
        let sent = Instant::now();
        let outcome = fetch(&client, &plan.url, &mut key).await;
        recorder.borrow_mut().outcome(&outcome, sent.elapsed());
        if let Outcome::Response { key: k, .. } = outcome {
            key = k;
        }
    }
}
