//! One task: a `demo-app` process, from spawn to healthy to stopped.
//!
//! The process gets the task definition's environment and nothing else (a container starts with
//! a clean environment too), `SERVICE_PORT=0`, the runtime's [`Marker`], and its stdout and
//! stderr in its own log file. The start-up line demo-app prints (`... running on port: <port>`)
//! gives the port the OS chose; the task is healthy once `GET /` on that port answers 200, which
//! is what the task definition's `demo-app health-check` checks on AWS.
//!
//! A log file outlives its process (a new supervisor after a crash numbers its tasks from 1
//! again, so `green-task1.log` may hold a dead run's lines): only what this start wrote, after the
//! offset the file had when it began, is searched for the port.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use local_runtime::process::{Marker, ProcessId};
use local_runtime::rollout::HealthProbes;

/// The text before the port in demo-app's start-up line.
const STARTUP_MARKER: &str = " running on port: ";
const POLL: Duration = Duration::from_millis(10);

/// Why a task did not become healthy.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TaskError {
    #[error("cannot create log file {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("task {id} exited during start-up ({status}): {last_line} (log: {log})")]
    Exited {
        id: String,
        status: String,
        last_line: String,
        log: PathBuf,
    },
    #[error("task {id} did not become healthy within {secs} s: {reason} (log: {log})")]
    Unhealthy {
        id: String,
        secs: f64,
        reason: String,
        log: PathBuf,
    },
}

/// What to start.
#[derive(Debug, Clone)]
pub(crate) struct TaskSpec {
    pub id: String,
    pub service: String,
    pub version: String,
    pub environment: BTreeMap<String, String>,
}

/// How every task of one supervisor starts.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// The `demo-app` binary.
    pub program: PathBuf,
    /// The folder of the task logs.
    pub logs: PathBuf,
    pub marker: Marker,
}

/// This start's part of a task's log: what was written after `offset`.
#[derive(Debug, Clone)]
struct RunLog {
    path: PathBuf,
    offset: u64,
}

impl RunLog {
    /// Opens (appends to) the log, marks where this start begins, and returns two handles for the
    /// process's stdout and stderr.
    fn open(path: PathBuf, id: &str) -> std::io::Result<(RunLog, std::fs::File, std::fs::File)> {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        writeln!(file, "--- meshtest-local: starting task {id} ---")?;
        let offset = file.metadata()?.len();
        let err = file.try_clone()?;
        Ok((RunLog { path, offset }, file, err))
    }

    /// What this start wrote so far.
    async fn read(&self) -> String {
        let bytes = tokio::fs::read(&self.path).await.unwrap_or_default();
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
        String::from_utf8_lossy(bytes.get(start..).unwrap_or_default()).into_owned()
    }

    async fn last_line(&self) -> String {
        let text = self.read().await;
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map_or_else(|| "no output".to_owned(), str::to_owned)
    }
}

/// Told to the supervisor when a task's process exits without being asked to.
#[derive(Debug)]
pub(crate) struct Exited {
    pub service: String,
    pub task_id: String,
    pub status: String,
}

/// A healthy task and the handle that stops it.
#[derive(Debug)]
pub(crate) struct RunningTask {
    pub spec: TaskSpec,
    pub process: ProcessId,
    /// Where it listens (the data plane routes to it there).
    pub addr: SocketAddr,
    pub log: PathBuf,
    stop: Option<oneshot::Sender<Duration>>,
    monitor: JoinHandle<()>,
}

impl RunningTask {
    /// SIGTERM (demo-app drains in-flight requests), SIGKILL after `grace`; returns once the
    /// process has exited.
    pub(crate) async fn stop(mut self, grace: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(grace);
        }
        let _ = (&mut self.monitor).await;
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => status.to_string(),
    }
}

/// The port in demo-app's start-up line, if `log` has the whole line (a line still being
/// written could show a truncated port).
pub(crate) fn startup_port(log: &str) -> Option<u16> {
    log.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .find_map(|line| line.split_once(STARTUP_MARKER))
        .and_then(|(_, port)| port.trim().parse().ok())
}

/// SIGTERM, then SIGKILL after `grace`, and reap.
async fn terminate(child: &mut Child, grace: Duration) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            return;
        }
        tracing::warn!(
            pid,
            "task did not stop within {} s, killing it",
            grace.as_secs_f64()
        );
    }
    let _ = child.kill().await;
}

/// How often an adopted task (not this process's child, so no exit to wait on) is checked.
const ADOPTED_POLL: Duration = Duration::from_millis(100);

/// A task a dead supervisor started, taken over by pid and start time: it is watched by polling
/// (a task that dies is still noticed and reported on `exits`) and stopped by signals.
pub(crate) fn adopt(
    spec: TaskSpec,
    process: ProcessId,
    addr: SocketAddr,
    log: PathBuf,
    exits: mpsc::UnboundedSender<Exited>,
) -> RunningTask {
    let (stop_tx, stop_rx) = oneshot::channel();
    let monitor = tokio::spawn(watch_adopted(process.clone(), spec.clone(), stop_rx, exits));
    RunningTask {
        spec,
        process,
        addr,
        log,
        stop: Some(stop_tx),
        monitor,
    }
}

async fn watch_adopted(
    process: ProcessId,
    spec: TaskSpec,
    mut stop: oneshot::Receiver<Duration>,
    exits: mpsc::UnboundedSender<Exited>,
) {
    let mut tick = tokio::time::interval(ADOPTED_POLL);
    let grace = loop {
        tokio::select! {
            _ = tick.tick() => {
                if !process.is_running() {
                    tracing::warn!(task = %spec.id, "adopted task exited unexpectedly");
                    let _ = exits.send(Exited {
                        service: spec.service,
                        task_id: spec.id,
                        status: "exited (adopted: its status is unknown)".into(),
                    });
                    return;
                }
            }
            grace = &mut stop => break grace.unwrap_or(Duration::from_secs(2)),
        }
    };
    process.signal(Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while process.is_running() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if process.is_running() {
        tracing::warn!(task = %spec.id, "task did not stop in time, killing it");
        process.signal(Signal::SIGKILL);
        while process.is_running() && Instant::now() < deadline + Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tracing::info!(task = %spec.id, "stopped");
}

/// Starts `spec` and returns once it answers `GET /` with 200, or fails by `deadline`; on
/// failure the process is gone before this returns. `exits` hears about a later unrequested exit.
pub(crate) async fn start(
    launch: &Launch,
    spec: TaskSpec,
    deadline: Instant,
    timeout: Duration,
    exits: mpsc::UnboundedSender<Exited>,
) -> Result<RunningTask, TaskError> {
    let program = &launch.program;
    let log = launch.logs.join(format!("{}.log", spec.id));
    let (run_log, out, err) =
        RunLog::open(log.clone(), &spec.id).map_err(|source| TaskError::Log {
            path: log.clone(),
            source,
        })?;
    let mut child = Command::new(program)
        .env_clear()
        .envs(&spec.environment)
        .envs(launch.marker.env())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        // If this future is dropped half-way (the supervisor is shutting down), the process
        // must not outlive it.
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| TaskError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    let pid = child.id().unwrap_or_default();
    let process = ProcessId::of(pid).unwrap_or(ProcessId {
        pid,
        start: String::new(),
    });
    tracing::info!(task = %spec.id, pid, "started");

    match wait_healthy(&mut child, &spec, &run_log, deadline, timeout).await {
        Ok(addr) => {
            let (stop_tx, stop_rx) = oneshot::channel();
            let monitor = tokio::spawn(monitor(child, spec.clone(), stop_rx, exits));
            Ok(RunningTask {
                spec,
                process,
                addr,
                log,
                stop: Some(stop_tx),
                monitor,
            })
        }
        Err(err) => {
            terminate(&mut child, Duration::from_secs(2)).await;
            Err(err)
        }
    }
}

/// Waits for the start-up line, then for `GET /` to answer 200.
async fn wait_healthy(
    child: &mut Child,
    spec: &TaskSpec,
    log: &RunLog,
    deadline: Instant,
    timeout: Duration,
) -> Result<SocketAddr, TaskError> {
    let unhealthy = |reason: String| TaskError::Unhealthy {
        id: spec.id.clone(),
        secs: timeout.as_secs_f64(),
        reason,
        log: log.path.clone(),
    };
    let exited = async |status: ExitStatus| TaskError::Exited {
        id: spec.id.clone(),
        status: describe(status),
        last_line: log.last_line().await,
        log: log.path.clone(),
    };
    let port = loop {
        if let Some(port) = startup_port(&log.read().await) {
            break port;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(exited(status).await);
        }
        if Instant::now() >= deadline {
            return Err(unhealthy("it never printed its start-up line".into()));
        }
        tokio::time::sleep(POLL).await;
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let client = health_client();
    loop {
        let Err(last) = probe(&client, addr, HealthProbes::MIN_TIMEOUT).await else {
            return Ok(addr);
        };
        if let Ok(Some(status)) = child.try_wait() {
            return Err(exited(status).await);
        }
        if Instant::now() >= deadline {
            return Err(unhealthy(last));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The client of the health probes.
pub(crate) type HealthClient = Client<HttpConnector, Empty<Bytes>>;

pub(crate) fn health_client() -> HealthClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// One health check of the task at `addr`: `GET /` answered 200 within `timeout`, or what
/// happened instead.
pub(crate) async fn probe(
    client: &HealthClient,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(), String> {
    let request = Request::get(format!("http://{addr}/"))
        .header(hyper::header::USER_AGENT, "meshtest-local-health-check")
        // demo-app's FAULT_RATE spares health probes: a faulty version still starts, and
        // its rollout is rolled back by the alarm on its traffic.
        .header("x-meshtest-health", "1")
        .body(Empty::new())
        .expect("a GET of a loopback address is valid");
    match tokio::time::timeout(timeout, client.request(request)).await {
        Ok(Ok(response)) if response.status() == StatusCode::OK => Ok(()),
        Ok(Ok(response)) => Err(format!("GET / answered {}", response.status().as_u16())),
        Ok(Err(err)) => Err(format!("GET / failed: {err}")),
        Err(_) => Err(format!(
            "GET / did not answer within {} s",
            timeout.as_secs_f64()
        )),
    }
}

/// Owns the process once it is healthy: reports an unrequested exit, or stops it on request.
async fn monitor(
    mut child: Child,
    spec: TaskSpec,
    mut stop: oneshot::Receiver<Duration>,
    exits: mpsc::UnboundedSender<Exited>,
) {
    enum Next {
        Exited(std::io::Result<ExitStatus>),
        Stop(Duration),
    }
    let next = tokio::select! {
        status = child.wait() => Next::Exited(status),
        // A dropped handle also stops the task: nothing may run that nobody tracks.
        grace = &mut stop => Next::Stop(grace.unwrap_or(Duration::from_secs(2))),
    };
    match next {
        Next::Exited(status) => {
            let status = status.map_or_else(|e| e.to_string(), describe);
            tracing::warn!(task = %spec.id, %status, "exited unexpectedly");
            let _ = exits.send(Exited {
                service: spec.service,
                task_id: spec.id,
                status,
            });
        }
        Next::Stop(grace) => {
            terminate(&mut child, grace).await;
            tracing::info!(task = %spec.id, "stopped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_from_the_startup_line() {
        assert_eq!(
            startup_port("Service 'blue' (version 1) running on port: 41234\n"),
            Some(41234)
        );
        assert_eq!(
            startup_port("noise\nService 'a b' (version x) running on port: 80\nmore"),
            Some(80)
        );
        assert_eq!(
            startup_port("Service 'blue' (version 1) running on port: "),
            None
        );
        assert_eq!(startup_port(""), None);
        assert_eq!(
            startup_port("Service 'blue' (version 1) running on port: 412"),
            None
        );
    }

    #[tokio::test]
    async fn a_new_start_reads_only_its_own_output() {
        use std::io::Write as _;
        let dir = std::env::temp_dir().join(format!("meshtest-runlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("green-task1.log");
        // A dead run's start-up line, as a supervisor killed with its tasks leaves it.
        std::fs::write(
            &path,
            "Service 'green' (version 1) running on port: 41000\n",
        )
        .unwrap();
        let (log, mut out, _err) = RunLog::open(path.clone(), "green-task1").unwrap();
        assert_eq!(startup_port(&log.read().await), None);
        assert_eq!(log.last_line().await, "no output");
        writeln!(out, "Service 'green' (version 1) running on port: 42000").unwrap();
        assert_eq!(startup_port(&log.read().await), Some(42000));
        let whole = std::fs::read_to_string(&path).unwrap();
        assert!(
            whole.contains("41000")
                && whole.contains("--- meshtest-local: starting task green-task1 ---")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
