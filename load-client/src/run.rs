//! Running a [`Config`]: seed-style polling, or load over concurrent keep-alive connections.
//!
//! Load mode copies wrk's shape: one OS thread per core, each with its own single-threaded
//! runtime and [`Tally`], the connections split evenly between them, each connection a loop of
//! its own (see `h1`; or through a per-thread reqwest client for `https://`). Nothing is shared
//! on the request path except one relaxed counter for `--requests`; tallies and latency
//! histograms are merged once at the end.

use std::cell::RefCell;
use std::future::Future;
use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, Url};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::config::{Config, Engine, Mode};
use crate::h1::{self, Endpoint};
use crate::tally::{ErrorKind, Outcome, Summary, Tally, body_key};

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot build the http client")]
    Client(#[source] reqwest::Error),
    #[error("cannot start a load thread")]
    Thread(#[source] std::io::Error),
    #[error("a load thread failed")]
    ThreadFailed,
    #[error("cannot write output")]
    Output(#[source] std::io::Error),
    #[error("rate must be a positive number of requests per second")]
    Rate,
}

/// Run `config` until its bounds are reached or `shutdown` completes, writing the
/// `Running against ...` line, poll-mode tally lines and load-mode progress lines to `out`.
/// Requests still in flight when the run stops are not counted.
pub async fn run(
    config: &Config,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, RunError> {
    writeln!(out, "Running against {}", config.target).map_err(RunError::Output)?;
    match config.mode {
        Mode::Poll => poll(config, out, shutdown).await,
        Mode::Load { concurrency, rate } => load(config, concurrency, rate, out, shutdown).await,
    }
}

fn client(timeout: Duration) -> Result<Client, RunError> {
    Client::builder()
        .timeout(timeout)
        .tcp_nodelay(true)
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

async fn poll(
    config: &Config,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, RunError> {
    let client = client(config.timeout)?;
    let url = config.target.url().clone();
    let mut tally = Tally::new();
    let mut ticker = tokio::time::interval(config.interval);
    // A slow answer delays the next poll instead of bunching polls up afterwards.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let started = Instant::now();
    let deadline = config
        .duration
        .map(|d| tokio::time::Instant::from_std(started + d));
    let mut key = String::new();
    tokio::pin!(shutdown);
    loop {
        if config.requests.is_some_and(|limit| tally.total() >= limit) {
            break;
        }
        let one = async {
            ticker.tick().await;
            let sent = Instant::now();
            let outcome = fetch(&client, &url, &mut key).await;
            (outcome, sent.elapsed())
        };
        let sleep_until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let (outcome, latency) = tokio::select! {
            r = one => r,
            () = &mut shutdown => break,
            () = sleep_until_deadline => break,
        };
        tally.record(&outcome, latency);
        let head = match &outcome {
            Outcome::Response { status, .. } => reqwest::StatusCode::from_u16(*status)
                .map_or_else(|_| status.to_string(), |s| s.to_string()),
            Outcome::Failed { kind } => format!("error {}", kind.word()),
        };
        if let Outcome::Response { key: k, .. } = outcome {
            key = k;
        }
        writeln!(out, "{head} {}", tally.keys_line()).map_err(RunError::Output)?;
        out.flush().map_err(RunError::Output)?;
    }
    Ok(tally.summary(&config.target.to_string(), started.elapsed()))
}

/// State every load thread reads.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) url: Url,
    pub(crate) timeout: Duration,
    engine: Engine,
    /// Requests started so far, across threads; compared with `limit`.
    started: AtomicU64,
    limit: Option<u64>,
    /// Pause between requests on one connection when a rate is set.
    period: Option<Duration>,
}

impl Plan {
    /// Claim the right to start one more request; false once `--requests` are all claimed.
    pub(crate) fn take_ticket(&self) -> bool {
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        self.limit.is_none_or(|limit| n < limit)
    }

    /// Requests started so far (loops that find the limit reached still bump the counter once).
    fn sent(&self) -> u64 {
        self.started
            .load(Ordering::Relaxed)
            .min(self.limit.unwrap_or(u64::MAX))
    }

    /// The per-connection pacer for `--rate`, if any.
    pub(crate) fn pacer(&self) -> Option<tokio::time::Interval> {
        self.period.map(|p| {
            let mut i = tokio::time::interval(p);
            // Timer resolution is 1 ms: catching up keeps the average rate for short periods.
            i.set_missed_tick_behavior(MissedTickBehavior::Burst);
            i
        })
    }
}

async fn load(
    config: &Config,
    concurrency: usize,
    rate: Option<f64>,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, RunError> {
    let concurrency = concurrency.max(1);
    let period = match rate {
        Some(r) if r.is_finite() && r > 0.0 => {
            Some(Duration::from_secs_f64(concurrency as f64 / r))
        }
        Some(_) => return Err(RunError::Rate),
        None => None,
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(concurrency);
    let plan = Arc::new(Plan {
        url: config.target.url().clone(),
        timeout: config.timeout,
        engine: config.engine,
        started: AtomicU64::new(0),
        limit: config.requests,
        period,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let mut results = Vec::with_capacity(threads);
    for t in 0..threads {
        // Spread connections evenly: the first `concurrency % threads` threads take one more.
        let connections = concurrency / threads + usize::from(t < concurrency % threads);
        let (tx, rx) = oneshot::channel();
        let plan = Arc::clone(&plan);
        let stop = stop_rx.clone();
        std::thread::Builder::new()
            .name(format!("load-{t}"))
            .spawn(move || {
                let _ = tx.send(load_thread(&plan, connections, stop));
            })
            .map_err(RunError::Thread)?;
        results.push(rx);
    }

    // Wait for the threads to finish by themselves (request limit), or stop them.
    let deadline = config
        .duration
        .map(|d| tokio::time::Instant::from_std(started + d));
    let mut progress = tokio::time::interval_at(
        tokio::time::Instant::now() + config.interval,
        config.interval,
    );
    progress.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_count = 0u64;
    let mut last_at = started;
    let gather = async move {
        let mut gathered = Vec::with_capacity(threads);
        for rx in results {
            gathered.push(rx.await);
        }
        gathered
    };
    tokio::pin!(gather);
    tokio::pin!(shutdown);
    let mut stopped = false;
    let gathered = loop {
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            gathered = &mut gather => break gathered,
            () = &mut shutdown, if !stopped => { stopped = true; let _ = stop_tx.send(true); }
            () = until_deadline, if !stopped => { stopped = true; let _ = stop_tx.send(true); }
            _ = progress.tick(), if config.progress && !stopped => {
                let now = Instant::now();
                let count = plan.sent();
                let rate = (count - last_count) as f64 / now.duration_since(last_at).as_secs_f64();
                writeln!(out, "[{:>6.1}s] {count} requests sent, {rate:.0} req/s", now.duration_since(started).as_secs_f64())
                    .map_err(RunError::Output)?;
                last_count = count;
                last_at = now;
            }
        }
    };
    let elapsed = started.elapsed();
    let mut total = Tally::new();
    for result in gathered {
        total.merge(&result.map_err(|_| RunError::ThreadFailed)??);
    }
    Ok(total.summary(&config.target.to_string(), elapsed))
}

/// One load thread: its own runtime, client and tally, `connections` request loops.
fn load_thread(
    plan: &Arc<Plan>,
    connections: usize,
    mut stop: watch::Receiver<bool>,
) -> Result<Tally, RunError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Thread)?;
    let tally = Rc::new(RefCell::new(Tally::new()));
    let local = tokio::task::LocalSet::new();
    let endpoint = match plan.engine {
        Engine::Auto => Endpoint::for_url(&plan.url).map(Rc::new),
        Engine::Reqwest => None,
    };
    let client = match endpoint {
        Some(_) => None,
        None => Some(client(plan.timeout)?),
    };
    local.block_on(&runtime, async {
        let mut loops = JoinSet::new();
        for _ in 0..connections {
            match (&endpoint, &client) {
                (Some(endpoint), _) => loops.spawn_local(h1::connection_loop(
                    Arc::clone(plan),
                    Rc::clone(endpoint),
                    Rc::clone(&tally),
                )),
                (None, Some(client)) => loops.spawn_local(client_loop(
                    Arc::clone(plan),
                    client.clone(),
                    Rc::clone(&tally),
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
    Ok(Rc::try_unwrap(tally).map_or_else(|rc| rc.borrow().clone(), RefCell::into_inner))
}

/// Requests back to back (or paced) through a reqwest client: the path for `https://` targets.
async fn client_loop(plan: Arc<Plan>, client: Client, tally: Rc<RefCell<Tally>>) {
    let mut pacer = plan.pacer();
    let mut key = String::new();
    while plan.take_ticket() {
        if let Some(p) = pacer.as_mut() {
            p.tick().await;
        }
        let sent = Instant::now();
        let outcome = fetch(&client, &plan.url, &mut key).await;
        let latency = sent.elapsed();
        let mut tally = tally.borrow_mut();
        match outcome {
            Outcome::Response { status, key: k } => {
                tally.record_response(status, &k, latency);
                key = k;
            }
            Outcome::Failed { kind } => tally.record_failure(kind),
        }
    }
}
