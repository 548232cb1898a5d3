//! The supervisor's side of its data plane process (`crate::dataplane`): starting it, pushing
//! each routing snapshot to it in order, binding and closing listeners through it, waiting for
//! retired tasks to drain, and the error-rate alarm evaluated on the answers it counted.
//!
//! A publish stays synchronous for the supervisor (it is made under its lock, in step with the
//! state it shows): the snapshot goes to a pusher task that sends the newest one, in order, and
//! records which generation the data plane applied. A drain first waits for the data plane to
//! have applied every snapshot published before it, so a task is only drained once no snapshot
//! routes to it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use local_runtime::control::VersionTraffic;
use local_runtime::process::ProcessId;
use local_runtime::rollout::alarm::{Counted, Datapoint, ErrorRateAlarm};
use local_runtime::state_dir::StateDir;
use model::Percent;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::wire::{
    self, HeldListener, ListenerKind, PeriodCounts, Request, Response, WireAlarm, WireSnapshot,
};

/// How long the data plane may take to answer after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the data plane may take to exit after `Shutdown`.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Between two tries to push a snapshot the data plane did not take.
const PUSH_RETRY: Duration = Duration::from_millis(100);

/// Why the data plane could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PlaneError {
    #[error("cannot find this program to start its data plane")]
    Exe(#[source] std::io::Error),
    #[error("cannot open {path}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the data plane")]
    Spawn(#[source] std::io::Error),
    #[error(
        "the data plane did not answer within {} s (log: {log})",
        START_TIMEOUT.as_secs()
    )]
    Start { log: PathBuf },
    #[error("the data plane (pid {pid}) does not answer on {}", socket.display())]
    Attach { pid: u32, socket: PathBuf },
}

/// Why a listener could not be bound.
#[derive(Debug)]
pub(crate) struct ListenError {
    pub in_use: bool,
    pub message: String,
}

/// The data plane as the supervisor drives it.
#[derive(Debug)]
pub(crate) struct DataPlane {
    socket: PathBuf,
    pub(crate) process: ProcessId,
    pub(crate) egress: SocketAddr,
    child: tokio::sync::Mutex<Option<Child>>,
    generation: AtomicU64,
    pushes: mpsc::UnboundedSender<WireSnapshot>,
    applied: watch::Receiver<u64>,
    closes: mpsc::UnboundedSender<u64>,
}

impl DataPlane {
    /// Starts `meshtest-local dataplane` for `state_dir` (with this process's environment, so it
    /// carries the stack's marker), and waits until it answers.
    pub(crate) async fn start(state_dir: &StateDir) -> Result<Arc<DataPlane>, PlaneError> {
        let exe = std::env::current_exe().map_err(PlaneError::Exe)?;
        let socket = state_dir.dataplane_socket();
        let log_path = state_dir.dataplane_log();
        let log_err = |source| PlaneError::Log {
            path: log_path.clone(),
            source,
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(log_err)?;
        let log2 = log.try_clone().map_err(log_err)?;
        let mut child = Command::new(exe)
            .arg("dataplane")
            .arg("--state-dir")
            .arg(state_dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .map_err(PlaneError::Spawn)?;
        let pid = child.id().unwrap_or_default();
        let deadline = Instant::now() + START_TIMEOUT;
        let egress = loop {
            if let Ok(Response::Hello {
                pid: answered,
                egress,
                ..
            }) = wire::call(&socket, &Request::Hello).await
                && answered == pid
            {
                break egress;
            }
            if Instant::now() >= deadline || matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill().await;
                return Err(PlaneError::Start { log: log_path });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let process = ProcessId::of(pid).unwrap_or(ProcessId {
            pid,
            start: String::new(),
        });
        let (pushes, inbox) = mpsc::unbounded_channel();
        let (applied_tx, applied) = watch::channel(0);
        let (closes, close_inbox) = mpsc::unbounded_channel();
        tokio::spawn(push(socket.clone(), inbox, applied_tx));
        tokio::spawn(close(socket.clone(), close_inbox));
        tracing::info!(pid, egress = %egress, "data plane started");
        Ok(Arc::new(DataPlane {
            socket,
            process,
            egress,
            child: tokio::sync::Mutex::new(Some(child)),
            generation: AtomicU64::new(0),
            pushes,
            applied,
            closes,
        }))
    }

    /// Takes over the data plane `process` a dead supervisor started: what it answers to
    /// `Hello` (its egress, the generation it applied, the listeners it holds). Its next
    /// snapshots continue from that generation, so the data plane does not ignore them.
    pub(crate) async fn attach(
        state_dir: &StateDir,
        process: ProcessId,
    ) -> Result<(Arc<DataPlane>, Vec<HeldListener>), PlaneError> {
        let socket = state_dir.dataplane_socket();
        let answer = wire::call(&socket, &Request::Hello).await;
        let Ok(Response::Hello {
            pid,
            egress,
            generation,
            listeners,
        }) = answer
        else {
            return Err(PlaneError::Attach {
                pid: process.pid,
                socket,
            });
        };
        // Another process answers there (the recorded one is gone, or was replaced).
        if pid != process.pid || !process.is_running() {
            return Err(PlaneError::Attach {
                pid: process.pid,
                socket,
            });
        }
        let (pushes, inbox) = mpsc::unbounded_channel();
        let (applied_tx, applied) = watch::channel(generation);
        let (closes, close_inbox) = mpsc::unbounded_channel();
        tokio::spawn(push(socket.clone(), inbox, applied_tx));
        tokio::spawn(close(socket.clone(), close_inbox));
        tracing::info!(pid, egress = %egress, generation, "data plane adopted");
        let plane = Arc::new(DataPlane {
            socket,
            process,
            egress,
            child: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(generation),
            pushes,
            applied,
            closes,
        });
        Ok((plane, listeners))
    }

    /// A handle on listener `id` the data plane already holds (adopted).
    pub(crate) fn held(&self, id: u64) -> Listening {
        Listening {
            id,
            closes: self.closes.clone(),
        }
    }

    /// Publishes `snapshot` and returns its generation (set here); the data plane applies it
    /// shortly.
    pub(crate) fn publish(&self, mut snapshot: WireSnapshot) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        snapshot.generation = generation;
        let _ = self.pushes.send(snapshot);
        generation
    }

    /// The generation of the newest snapshot the data plane applied.
    pub(crate) fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Binds a listener on 127.0.0.1:`port`; it accepts once a published snapshot lists it,
    /// and closes when the returned handle is dropped.
    pub(crate) async fn listen(
        self: &Arc<Self>,
        kind: ListenerKind,
        port: u16,
    ) -> Result<(Listening, SocketAddr), ListenError> {
        let request = Request::Listen {
            listener: kind,
            port,
        };
        match wire::call(&self.socket, &request).await {
            Ok(Response::Listening { id, addr }) => Ok((
                Listening {
                    id,
                    closes: self.closes.clone(),
                },
                addr,
            )),
            Ok(Response::Refused { message, in_use }) => Err(ListenError { in_use, message }),
            Ok(other) => Err(ListenError {
                in_use: false,
                message: format!("unexpected answer {other:?}"),
            }),
            Err(err) => Err(ListenError {
                in_use: false,
                message: err.to_string(),
            }),
        }
    }

    /// Waits until the data plane applied every snapshot published so far, or until `deadline`;
    /// false (said in the log) when it did not.
    pub(crate) async fn caught_up(&self, deadline: Instant) -> bool {
        let published = self.generation.load(Ordering::SeqCst);
        let mut applied = self.applied.clone();
        let caught_up = tokio::time::timeout_at(deadline, applied.wait_for(|g| *g >= published));
        let done = matches!(caught_up.await, Ok(Ok(_)));
        if !done {
            tracing::warn!("the data plane did not apply the latest snapshot in time");
        }
        done
    }

    /// Waits until the data plane applied every snapshot published so far, then until none of
    /// `tasks` has a request in flight; bounded by `timeout` in all.
    pub(crate) async fn drain(&self, tasks: Vec<String>, timeout: Duration) {
        if tasks.is_empty() {
            return;
        }
        let deadline = Instant::now() + timeout;
        if !self.caught_up(deadline).await {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let request = Request::Drain {
            tasks,
            timeout_ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
        };
        match wire::call(&self.socket, &request).await {
            Ok(Response::Drained { left: 0 }) => {}
            Ok(Response::Drained { left }) => {
                tracing::warn!(left, "requests still in flight after the drain timeout");
            }
            Ok(other) => tracing::warn!(?other, "unexpected answer to a drain"),
            Err(err) => tracing::warn!(error = %err, "cannot drain"),
        }
    }

    /// The answers counted for `service`'s alarm since the last call.
    async fn alarm_counts(&self, service: &str) -> Vec<PeriodCounts> {
        let request = Request::AlarmCounts {
            service: service.to_owned(),
        };
        match wire::call(&self.socket, &request).await {
            Ok(Response::Counts { periods }) => periods,
            Ok(other) => {
                tracing::warn!(?other, "unexpected answer to the alarm counts");
                Vec::new()
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the alarm counts");
                Vec::new()
            }
        }
    }

    /// Every version's answers counted by the data plane so far (`GET /traffic`).
    pub(crate) async fn traffic(&self) -> Result<Vec<VersionTraffic>, String> {
        match wire::call(&self.socket, &Request::Traffic).await {
            Ok(Response::Traffic { services }) => Ok(services),
            Ok(other) => Err(format!(
                "the data plane answered {other:?} to a traffic read"
            )),
            Err(err) => Err(err.to_string()),
        }
    }

    /// Asks the data plane to exit and waits for it (SIGKILL after [`STOP_TIMEOUT`]).
    pub(crate) async fn shutdown(&self) {
        let _ = wire::call(&self.socket, &Request::Shutdown).await;
        let Some(mut child) = self.child.lock().await.take() else {
            // Adopted: not this process's child, so watched by pid and start time.
            let deadline = Instant::now() + STOP_TIMEOUT;
            while self.process.is_running() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if self.process.is_running() {
                tracing::warn!("the data plane did not stop; killing it");
                let _ = self.process.stop(Duration::ZERO);
            }
            return;
        };
        if tokio::time::timeout(STOP_TIMEOUT, child.wait())
            .await
            .is_err()
        {
            tracing::warn!("the data plane did not stop; killing it");
            let _ = child.kill().await;
        }
    }
}

/// Sends the snapshots in order, the newest when several wait; retries one the data plane did
/// not take (unless a newer one came meanwhile).
async fn push(
    socket: PathBuf,
    mut inbox: mpsc::UnboundedReceiver<WireSnapshot>,
    applied: watch::Sender<u64>,
) {
    let mut warned = false;
    while let Some(mut snapshot) = inbox.recv().await {
        loop {
            while let Ok(newer) = inbox.try_recv() {
                snapshot = newer;
            }
            let generation = snapshot.generation;
            let request = Request::Publish {
                snapshot: Box::new(snapshot.clone()),
            };
            match wire::call(&socket, &request).await {
                Ok(Response::Done) => {
                    applied.send_replace(generation);
                    warned = false;
                    break;
                }
                Ok(other) if !warned => {
                    tracing::error!(?other, "the data plane refused a snapshot");
                    warned = true;
                }
                Err(err) if !warned => {
                    tracing::error!(error = %err, "cannot push the routing snapshot");
                    warned = true;
                }
                _ => {}
            }
            tokio::time::sleep(PUSH_RETRY).await;
        }
    }
}

/// Closes the listeners whose handles were dropped.
async fn close(socket: PathBuf, mut inbox: mpsc::UnboundedReceiver<u64>) {
    while let Some(id) = inbox.recv().await {
        if let Err(err) = wire::call(&socket, &Request::Close { id }).await {
            tracing::warn!(error = %err, id, "cannot close a listener");
        }
    }
}

/// A listener of the data plane; dropping it closes it.
#[derive(Debug)]
pub(crate) struct Listening {
    pub(crate) id: u64,
    closes: mpsc::UnboundedSender<u64>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.closes.send(self.id);
    }
}

/// A service's error-rate alarm while it is watched: the data plane counts the answers, by
/// period from the rollout's start; the supervisor takes the counts at each period's end and
/// evaluates the alarm.
#[derive(Debug)]
pub(crate) struct AlarmWatch {
    service: String,
    /// Which answers the data plane counts for it.
    counted: Counted,
    /// When the rollout began: time 0 of the alarm's periods.
    started: Instant,
    started_unix_ms: u64,
    alarm: Mutex<ErrorRateAlarm>,
    /// The new revision's share of the answers taken last (the Service Connect proxy's count),
    /// what the rollout's tree shows as observed.
    observed: Mutex<Option<Percent>>,
}

impl AlarmWatch {
    pub(crate) fn new(
        service: String,
        counted: Counted,
        alarm: ErrorRateAlarm,
        started: Instant,
    ) -> AlarmWatch {
        let since = started.elapsed();
        let unix_ms = SystemTime::now()
            .checked_sub(since)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        AlarmWatch {
            service,
            counted,
            started,
            started_unix_ms: unix_ms,
            alarm: Mutex::new(alarm),
            observed: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ErrorRateAlarm> {
        self.alarm.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the data plane needs to count for this alarm.
    pub(crate) fn wire(&self) -> WireAlarm {
        WireAlarm {
            started_unix_ms: self.started_unix_ms,
            period_ms: u64::try_from(self.lock().period().as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            counted: self.counted,
        }
    }

    /// Takes the data plane's counts, then evaluates the periods that ended; the state reason
    /// when the alarm went into ALARM.
    pub(crate) async fn evaluate(&self, plane: &DataPlane) -> Option<String> {
        let counts = plane.alarm_counts(&self.service).await;
        self.evaluate_counts(&counts, self.started.elapsed())
    }

    /// Records `counts` in the periods the data plane counted them in, then evaluates the
    /// periods that ended by `now` (since the rollout began).
    fn evaluate_counts(&self, counts: &[PeriodCounts], now: Duration) -> Option<String> {
        let answers: u64 = counts.iter().map(|c| c.answers).sum();
        let new: u64 = counts.iter().map(|c| c.new_answers).sum();
        // In tenths of a percent, rounded to the nearest; no answers leave the last share.
        if let Some(tenths) = (new.min(answers) * 1000 + answers / 2).checked_div(answers) {
            *self.observed.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Percent::from_tenths(u32::try_from(tenths).unwrap_or(1000)));
        }
        let mut alarm = self.lock();
        let period = alarm.period();
        for counted in counts {
            // The middle of the period the data plane counted them in (a period the alarm
            // already evaluated counts in the first one still open, as a late answer does).
            let index = u32::try_from(counted.period).unwrap_or(u32::MAX);
            let at = period.saturating_mul(index).saturating_add(period / 2);
            for i in 0..counted.answers {
                alarm.record(at, i < counted.errors);
            }
        }
        alarm.evaluate(now)
    }

    /// When the period being counted ends.
    pub(crate) fn next_evaluation(&self) -> Instant {
        self.started + self.lock().next_evaluation()
    }

    pub(crate) fn name(&self) -> String {
        self.lock().name().to_owned()
    }

    pub(crate) fn reading(&self) -> model::AlarmReading {
        self.lock().reading()
    }

    pub(crate) fn history(&self) -> Vec<Datapoint> {
        self.lock().history()
    }

    /// The new revision's share of the last answers counted, if any came.
    pub(crate) fn observed(&self) -> Option<Percent> {
        *self.observed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The alarms of a snapshot, for the wire.
pub(crate) fn wire_alarms<'a>(
    alarms: impl IntoIterator<Item = (&'a String, &'a Arc<AlarmWatch>)>,
) -> BTreeMap<String, WireAlarm> {
    alarms
        .into_iter()
        .map(|(service, alarm)| (service.clone(), alarm.wire()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm() -> AlarmWatch {
        // 60 s periods at 1 s a minute: one period is 1 s; 1 of 1 datapoints above 10%.
        let spec = model::ErrorRateAlarmSpec::default();
        let alarm = ErrorRateAlarm::new("web-error-rate".into(), &spec, Duration::from_secs(1));
        AlarmWatch::new("web".into(), Counted::ServiceConnect, alarm, Instant::now())
    }

    /// The counts the data plane took land in their own periods: a healthy first period and a
    /// failing second one put the alarm in ALARM at the second period's end, not before.
    #[test]
    fn counts_are_evaluated_in_the_period_they_were_counted_in() {
        let watch = alarm();
        let period = watch.lock().period();
        let counts = |period, answers, errors| PeriodCounts {
            period,
            answers,
            errors,
            new_answers: 0,
        };
        let fine = watch.evaluate_counts(&[counts(0, 100, 1), counts(1, 100, 60)], period);
        assert_eq!(fine, None, "only the first period has ended");
        let history = watch.history();
        assert_eq!(
            (history[0].answers, history[0].errors),
            (100, 1),
            "{history:?}"
        );
        let alarmed = watch.evaluate_counts(&[], period * 2);
        assert!(alarmed.is_some(), "{:?}", watch.reading());
        assert_eq!(watch.history()[1].errors, 60);
    }

    /// The new revision's share of the answers taken last is what the tree shows as observed;
    /// a take without answers keeps the last share.
    #[test]
    fn the_observed_share_is_the_new_revisions_part_of_the_last_answers() {
        let watch = alarm();
        assert_eq!(watch.observed(), None, "no answer yet");
        let counts = |period, answers, new_answers| PeriodCounts {
            period,
            answers,
            errors: 0,
            new_answers,
        };
        watch.evaluate_counts(&[counts(0, 300, 50), counts(1, 200, 67)], Duration::ZERO);
        assert_eq!(
            watch.observed(),
            Some(Percent::from_tenths(234)),
            "117 of 500"
        );
        watch.evaluate_counts(&[], Duration::ZERO);
        assert_eq!(watch.observed(), Some(Percent::from_tenths(234)));
        // A data plane from before the new revision's answers were counted sends none.
        let old: PeriodCounts =
            serde_json::from_str(r#"{"period": 2, "answers": 10, "errors": 1}"#).unwrap();
        assert_eq!(old.new_answers, 0);
    }

    #[test]
    fn the_data_plane_counts_from_the_same_start_and_period() {
        let watch = alarm();
        let wire = watch.wire();
        assert_eq!(wire.period_ms, 1000);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(now_ms.abs_diff(wire.started_unix_ms) < 1000, "{wire:?}");
    }
}
