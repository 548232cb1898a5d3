//! One task: a `demo-app` process or the service's own program, from spawn to healthy to
//! stopped.
//!
//! The process gets the task definition's environment and nothing else (a container starts with
//! a clean environment too), `SERVICE_PORT=0`, the runtime's [`Marker`], and its stdout and
//! stderr in its own log file. The start-up line demo-app prints (`... running on port: <port>`)
//! gives the port the OS chose; the task is healthy once `GET /` on that port answers 200, which
//! is what the task definition's `demo-app health-check` checks on AWS.
//!
//! A service's own program ([`Program`]) is told its port (`PORT`) instead, runs through
//! `meshtest-local task-exec` (its own mount namespace with the Service Connect names in its
//! `/etc/hosts`, `crate::task_exec`), in a process group of its own, and is healthy once the
//! model's health check passes (the container's command, or `GET` of a path answering 200), with
//! the check's interval, timeout, retries and start period on the rehearsal's time scale. It is
//! stopped as ECS stops a container: SIGTERM to its group, SIGKILL after its `stopTimeout`.
//! Its log is capped ([`LOG_CAP`]): a program printing megabytes cannot fill the disk.
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
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use local_runtime::plan::HealthPlan;
use local_runtime::process::{Marker, ProcessId};
use local_runtime::rollout::HealthProbes;

/// The most one start of a task writes to its log file; past it the file is cut back to this
/// size (the start of the run is kept, as the first lines say most about a failure) and a line
/// says so, checked every [`CAP_EVERY`].
pub(crate) const LOG_CAP: u64 = 4 * 1024 * 1024;
const CAP_EVERY: Duration = Duration::from_millis(100);

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
    #[error(
        "task {id} ({service} version {version}) exited during start-up ({status}): {last_line} (log: {log})"
    )]
    Exited {
        id: String,
        service: String,
        version: String,
        status: String,
        last_line: String,
        log: PathBuf,
    },
    #[error(
        "task {id} ({service} version {version}) did not become healthy within {secs} s: {reason} (log: {log})"
    )]
    Unhealthy {
        id: String,
        service: String,
        version: String,
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
    /// The service's own program; None: demo-app.
    pub program: Option<Program>,
}

/// A service's own program as one task runs it.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    pub argv: Vec<String>,
    pub dir: Option<PathBuf>,
    /// The free port it is told in `PORT`.
    pub port: u16,
    pub health: HealthPlan,
    /// The health check on the time scale.
    pub probes: Probes,
    /// Its `/etc/hosts` with the Service Connect names (None: no namespace, `HTTP_PROXY`).
    pub hosts: Option<PathBuf>,
    /// ECS's `stopTimeout` on the time scale.
    pub stop_timeout: Duration,
}

/// A health check's settings on the rehearsal's time scale.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probes {
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
    /// Whether failures count towards `retries` at start-up: only for the model's own container
    /// health check (ECS marks the task unhealthy then); an HTTP path is probed until the
    /// deadline, as demo-app is.
    pub counts_failures: bool,
}

impl Probes {
    /// `check`'s settings with one model minute lasting `minute`; ECS's defaults without one
    /// (interval 30 s, timeout 5 s, 3 retries, no start period).
    pub(crate) fn new(check: Option<&model::HealthCheckSpec>, minute: Duration) -> Probes {
        let probes = HealthProbes::new(check, minute);
        let start = check.map_or(0, |c| c.start_period_seconds);
        Probes {
            interval: probes.interval,
            timeout: probes.timeout,
            retries: probes.retries,
            start_period: minute * start / 60,
            counts_failures: check.is_some(),
        }
    }
}

/// What checks one task's health, apart from the task.
#[derive(Debug, Clone)]
pub(crate) struct Checker {
    addr: SocketAddr,
    program: Option<(Program, BTreeMap<String, String>, PathBuf)>,
}

impl Checker {
    /// One health check, at most `timeout`: the program's own, or demo-app's `GET /`.
    pub(crate) async fn check(
        &self,
        client: &HealthClient,
        timeout: Duration,
    ) -> Result<(), String> {
        match &self.program {
            None => probe(client, self.addr, "/", timeout).await,
            Some((program, env, exe)) => check_program(client, program, env, exe, timeout).await,
        }
    }
}

/// How every task of one supervisor starts.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// The `demo-app` binary.
    pub program: PathBuf,
    /// This binary, whose `task-exec` starts a service's own program.
    pub exe: PathBuf,
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

    /// Cuts this start's part of the log back to [`LOG_CAP`] when it grew past it, ending it with
    /// a line saying so. The line is written inside the cap, over its last bytes, so the next cut
    /// (the process appends after the cap between two checks) keeps it.
    fn cap(&self) {
        use std::os::unix::fs::FileExt as _;
        let limit = self.offset.saturating_add(LOG_CAP);
        let Ok(file) = std::fs::OpenOptions::new().write(true).open(&self.path) else {
            return;
        };
        if file.metadata().is_ok_and(|m| m.len() > limit) && file.set_len(limit).is_ok() {
            let line = format!(
                "\n--- meshtest-local: this log is capped at {} MiB per start; later output is dropped (the last lines before a check may follow) ---\n",
                LOG_CAP / (1024 * 1024)
            );
            let at = limit.saturating_sub(line.len() as u64).max(self.offset);
            let _ = file.write_at(line.as_bytes(), at);
        }
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
    exe: PathBuf,
    stop: Option<oneshot::Sender<Duration>>,
    monitor: JoinHandle<()>,
}

impl RunningTask {
    /// What checks this task's health (for the probes of a rollout).
    pub(crate) fn checker(&self) -> Checker {
        Checker {
            addr: self.addr,
            program: self
                .spec
                .program
                .clone()
                .map(|p| (p, self.spec.environment.clone(), self.exe.clone())),
        }
    }

    /// SIGTERM (demo-app drains in-flight requests), SIGKILL after `grace` (a program's own
    /// `stopTimeout` instead); returns once the process has exited.
    pub(crate) async fn stop(mut self, grace: Duration) {
        let grace = self.spec.program.as_ref().map_or(grace, |p| p.stop_timeout);
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

/// SIGTERM, then SIGKILL after `grace`, and reap. `group`: the process leads its own group
/// (a service's own program), and every signal goes to the whole group, so what it forked
/// stops with it.
async fn terminate(child: &mut Child, grace: Duration, group: bool) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let send = |signal| {
            let _ = if group {
                killpg(Pid::from_raw(pid), signal)
            } else {
                kill(Pid::from_raw(pid), signal)
            };
        };
        send(Signal::SIGTERM);
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            if group {
                // The leader is gone; what it forked may not be.
                send(Signal::SIGKILL);
            }
            return;
        }
        tracing::warn!(
            pid,
            "task did not stop within {} s, killing it",
            grace.as_secs_f64()
        );
        if group {
            send(Signal::SIGKILL);
        }
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
        exe: PathBuf::new(),
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
    // A service's own program leads its process group: the group goes with it.
    let group = process.leads_its_group();
    signal_adopted(&process, group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while process.is_running() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if group {
        signal_adopted(&process, group, Signal::SIGKILL);
    }
    if process.is_running() {
        tracing::warn!(task = %spec.id, "task did not stop in time, killing it");
        signal_adopted(&process, group, Signal::SIGKILL);
        while process.is_running() && Instant::now() < deadline + Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tracing::info!(task = %spec.id, "stopped");
}

/// `signal` to `process`, or to its whole group when it leads one (checked to be this very
/// process first; a group whose leader is gone gets it too, its pid being the group's id).
fn signal_adopted(process: &ProcessId, group: bool, signal: Signal) {
    if !group {
        process.signal(signal);
        return;
    }
    if let Ok(pid) = i32::try_from(process.pid) {
        let _ = killpg(Pid::from_raw(pid), signal);
    }
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
    let log = launch.logs.join(format!("{}.log", spec.id));
    let (run_log, out, err) =
        RunLog::open(log.clone(), &spec.id).map_err(|source| TaskError::Log {
            path: log.clone(),
            source,
        })?;
    let (program, mut command) = match &spec.program {
        None => (launch.program.clone(), Command::new(&launch.program)),
        Some(own) => {
            let mut command = Command::new(&launch.exe);
            command.args(task_exec_args(own, &own.argv));
            // Its own group: a stop reaches whatever it forked.
            command.process_group(0);
            (PathBuf::from(&own.argv[0]), command)
        }
    };
    let mut child = command
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
            program: program.clone(),
            source,
        })?;
    let pid = child.id().unwrap_or_default();
    let process = ProcessId::of(pid).unwrap_or(ProcessId {
        pid,
        start: String::new(),
    });
    tracing::info!(task = %spec.id, pid, "started");
    let group = spec.program.is_some();

    let healthy = match &spec.program {
        None => wait_healthy(&mut child, &spec, &run_log, deadline, timeout).await,
        Some(own) => {
            let checker = Checker {
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, own.port)),
                program: Some((own.clone(), spec.environment.clone(), launch.exe.clone())),
            };
            wait_program_healthy(
                &mut child, &spec, own, &checker, &run_log, deadline, timeout,
            )
            .await
        }
    };
    match healthy {
        Ok(addr) => {
            let (stop_tx, stop_rx) = oneshot::channel();
            let monitor = tokio::spawn(monitor(child, spec.clone(), run_log, stop_rx, exits));
            Ok(RunningTask {
                spec,
                process,
                addr,
                log,
                exe: launch.exe.clone(),
                stop: Some(stop_tx),
                monitor,
            })
        }
        Err(err) => {
            terminate(&mut child, Duration::from_secs(2), group).await;
            Err(err)
        }
    }
}

/// `meshtest-local task-exec`'s arguments for `argv` of `program`.
fn task_exec_args(program: &Program, argv: &[String]) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["task-exec".into()];
    if let Some(hosts) = &program.hosts {
        args.extend(["--hosts".into(), hosts.clone().into_os_string()]);
    }
    if let Some(dir) = &program.dir {
        args.extend(["--dir".into(), dir.clone().into_os_string()]);
    }
    args.push("--".into());
    args.extend(argv.iter().map(Into::into));
    args
}

/// A program's own health check: `GET path` on its port, or the container's command run as the
/// program runs (its environment, its folder, its names), exit 0 within `timeout`.
async fn check_program(
    client: &HealthClient,
    program: &Program,
    env: &BTreeMap<String, String>,
    exe: &std::path::Path,
    timeout: Duration,
) -> Result<(), String> {
    let argv = match &program.health {
        HealthPlan::Http { path } => {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, program.port));
            return probe(client, addr, path, timeout).await;
        }
        HealthPlan::Command { argv, .. } => argv,
    };
    let shown = argv.join(" ");
    let mut child = Command::new(exe)
        .args(task_exec_args(program, argv))
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run the health check `{shown}`: {e}"))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!(
            "the health check `{shown}` ended with {}",
            describe(status)
        )),
        Ok(Err(e)) => Err(format!("the health check `{shown}` failed: {e}")),
        Err(_) => {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            Err(format!(
                "the health check `{shown}` did not finish within {} s",
                timeout.as_secs_f64()
            ))
        }
    }
}

/// Probes a program with its own health check until it passes: as ECS does, failures count only
/// once the start period is over, and `retries` of them in a row make it unhealthy (the model's
/// container check); an HTTP path is probed until `deadline`. It must stay running meanwhile,
/// and must not have left behind a child that listens while it exited (a fork that exits is an
/// exit).
async fn wait_program_healthy(
    child: &mut Child,
    spec: &TaskSpec,
    program: &Program,
    checker: &Checker,
    log: &RunLog,
    deadline: Instant,
    timeout: Duration,
) -> Result<SocketAddr, TaskError> {
    let unhealthy = |reason: String| unhealthy(spec, log, timeout, reason);
    let client = health_client();
    let started = Instant::now();
    let probes = program.probes;
    let mut failures = 0;
    loop {
        log.cap();
        if let Ok(Some(status)) = child.try_wait() {
            return Err(exited(spec, log, status).await);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome = checker
            .check(&client, probes.timeout.min(left.max(POLL)))
            .await;
        // An exit while the check ran is the cause, whatever the check said.
        if let Ok(Some(status)) = child.try_wait() {
            return Err(exited(spec, log, status).await);
        }
        match outcome {
            Ok(()) => return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, program.port))),
            Err(last) => {
                if probes.counts_failures && started.elapsed() >= probes.start_period {
                    failures += 1;
                    if failures >= probes.retries {
                        return Err(unhealthy(format!(
                            "it failed its health check {failures} times in a row (the last: {last}){}",
                            not_listening_hint(program.port)
                        )));
                    }
                }
                if Instant::now() >= deadline {
                    return Err(unhealthy(format!(
                        "{last}{}",
                        not_listening_hint(program.port)
                    )));
                }
            }
        }
        let pause = if probes.counts_failures {
            probes.interval
        } else {
            POLL * 5
        };
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()) + POLL))
            .await;
    }
}

/// When nothing listens on the port the program was told: say so, since the usual cause is a
/// program that does not read `PORT`.
fn not_listening_hint(port: u16) -> String {
    match std::net::TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(200),
    ) {
        Ok(_) => String::new(),
        Err(_) => format!(
            "; nothing listens on port {port}, the one it was told in PORT: it must listen on the port in PORT"
        ),
    }
}

/// The error for a task that exited during start-up, with its last line.
async fn exited(spec: &TaskSpec, log: &RunLog, status: ExitStatus) -> TaskError {
    let mut status_text = describe(status);
    if spec.program.is_some() && status.success() {
        // A program that daemonizes: ECS stops the task when its main process exits.
        status_text.push_str(
            "; a program must keep running in the foreground: the task ends when it exits, as on ECS, and what it forked is stopped",
        );
    }
    TaskError::Exited {
        id: spec.id.clone(),
        service: spec.service.clone(),
        version: spec.version.clone(),
        status: status_text,
        last_line: log.last_line().await,
        log: log.path.clone(),
    }
}

/// `spec`'s task did not become healthy within `timeout`, because of `reason`.
fn unhealthy(spec: &TaskSpec, log: &RunLog, timeout: Duration, reason: String) -> TaskError {
    TaskError::Unhealthy {
        id: spec.id.clone(),
        service: spec.service.clone(),
        version: spec.version.clone(),
        secs: timeout.as_secs_f64(),
        reason,
        log: log.path.clone(),
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
    let unhealthy = |reason: String| unhealthy(spec, log, timeout, reason);
    let exited = async |status: ExitStatus| exited(spec, log, status).await;
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
        let Err(last) = probe(&client, addr, "/", HealthProbes::MIN_TIMEOUT).await else {
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

/// One health check of the task at `addr`: `GET path` answered 200 within `timeout`, or what
/// happened instead.
pub(crate) async fn probe(
    client: &HealthClient,
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(), String> {
    let request = Request::get(format!("http://{addr}{path}"))
        .header(hyper::header::USER_AGENT, "meshtest-local-health-check")
        // demo-app's FAULT_RATE spares health probes: a faulty version still starts, and
        // its rollout is rolled back by the alarm on its traffic.
        .header("x-meshtest-health", "1")
        .body(Empty::new())
        .expect("a GET of a loopback address is valid");
    match tokio::time::timeout(timeout, client.request(request)).await {
        Ok(Ok(response)) if response.status() == StatusCode::OK => Ok(()),
        Ok(Ok(response)) => Err(format!(
            "GET {path} answered {}",
            response.status().as_u16()
        )),
        Ok(Err(err)) => Err(format!("GET {path} failed: {err}")),
        Err(_) => Err(format!(
            "GET {path} did not answer within {} s",
            timeout.as_secs_f64()
        )),
    }
}

/// Owns the process once it is healthy: reports an unrequested exit, or stops it on request.
async fn monitor(
    mut child: Child,
    spec: TaskSpec,
    log: RunLog,
    mut stop: oneshot::Receiver<Duration>,
    exits: mpsc::UnboundedSender<Exited>,
) {
    enum Next {
        Exited(std::io::Result<ExitStatus>),
        Stop(Duration),
    }
    let mut cap = tokio::time::interval(CAP_EVERY);
    let group = spec.program.is_some();
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    let next = loop {
        tokio::select! {
            status = child.wait() => break Next::Exited(status),
            // A dropped handle also stops the task: nothing may run that nobody tracks.
            grace = &mut stop => break Next::Stop(grace.unwrap_or(Duration::from_secs(2))),
            _ = cap.tick() => log.cap(),
        }
    };
    match next {
        Next::Exited(status) => {
            let status = status.map_or_else(|e| e.to_string(), describe);
            tracing::warn!(task = %spec.id, %status, "exited unexpectedly");
            if group && let Some(pid) = pid {
                // What it forked goes with it, as a container's processes do.
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = exits.send(Exited {
                service: spec.service,
                task_id: spec.id,
                status,
            });
        }
        Next::Stop(grace) => {
            terminate(&mut child, grace, group).await;
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
