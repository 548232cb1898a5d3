//! The supervisor's life cycle from the client side: lock the state folder, find what runs,
//! start a supervisor (detached, carrying the folder's [`Marker`]), stop it and whatever of the
//! stack is left. Blocking; `cargo xtask deploy|destroy|status|diff --local` use it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::control::{ControlClient, ControlError, Status};
use crate::process::ProcessId;
use crate::process::{MARKER_DIR_ENV, MARKER_TOKEN_ENV, Marker, StopError};
use crate::state_dir::{AppliedRecord, RuntimeRecord, StateDir, StateDirError};

/// How long the supervisor may take to write `runtime.json` after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a supervisor may take to stop its tasks and exit after `POST /shutdown`.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Every control call but an apply.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a leftover process may take to exit after SIGTERM before SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(3);

/// Why a launcher step failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    StateDir(#[from] StateDirError),
    #[error("cannot open {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another deploy or destroy of this stack still holds {path} after {secs} s")]
    LockTimeout { path: PathBuf, secs: u64 },
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("the local runtime of {stack} (pid {pid}) does not answer")]
    Unresponsive {
        stack: String,
        pid: u32,
        #[source]
        source: ControlError,
    },
    #[error("cannot start {path}")]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the supervisor exited at start ({status}): {last_line}")]
    ExitedAtStart { status: String, last_line: String },
    #[error("the supervisor did not start within {secs} s (log: {log})")]
    StartTimeout { secs: u64, log: PathBuf },
    #[error(transparent)]
    Stop(#[from] StopError),
}

/// Exclusive lock on the state folder for one deploy or destroy (creating the folder); released
/// when dropped. `waiting` is called once if another holder makes it wait.
pub fn lock(
    dir: &StateDir,
    timeout: Duration,
    waiting: impl FnOnce(),
) -> Result<File, LaunchError> {
    dir.create()?;
    let path = dir.lock_file();
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| LaunchError::Lock {
            path: path.clone(),
            source,
        })?;
    // Another deploy or destroy of this stack holds it; each of those is bounded, so is this.
    let deadline = Instant::now() + timeout;
    let mut waiting = Some(waiting);
    while file.try_lock().is_err() {
        if Instant::now() >= deadline {
            return Err(LaunchError::LockTimeout {
                path,
                secs: timeout.as_secs(),
            });
        }
        if let Some(waiting) = waiting.take() {
            waiting();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(file)
}

/// A supervisor that answers, with its record and a client.
#[derive(Debug)]
pub struct Running {
    pub record: RuntimeRecord,
    pub client: ControlClient,
    pub status: Status,
}

/// What the state folder says about a supervisor.
#[derive(Debug)]
pub enum Found {
    Nothing,
    Running(Box<Running>),
    /// `runtime.json` names a supervisor that is gone (killed, or the machine restarted).
    Dead(RuntimeRecord),
    /// `runtime.json` cannot be read or parsed.
    Unreadable(StateDirError),
}

/// What runs for `dir`. Fails only when a live supervisor does not answer.
pub fn find(dir: &StateDir) -> Result<Found, LaunchError> {
    let record = match dir.read_runtime() {
        Ok(Some(record)) => record,
        Ok(None) => return Ok(Found::Nothing),
        Err(err) => return Ok(Found::Unreadable(err)),
    };
    if !record.supervisor.is_running() {
        return Ok(Found::Dead(record));
    }
    let client = ControlClient::new(&record.control_url, &record.token)?;
    let status = client
        .status(CONTROL_TIMEOUT)
        .map_err(|source| LaunchError::Unresponsive {
            stack: record.stack.clone(),
            pid: record.supervisor.pid,
            source,
        })?;
    Ok(Found::Running(Box::new(Running {
        record,
        client,
        status,
    })))
}

/// What a new supervisor does with what its dead predecessor left running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// The data plane still serves and the model it routes by is on disk: the new supervisor
    /// takes over the data plane and the tasks, and rolls back a rollout it interrupted, so
    /// traffic neither stops nor jumps to the target revision.
    Adopt,
    /// Nothing to take over (no data plane, or no model to rebuild routing from): stop what is
    /// left and start empty.
    CleanStart,
}

/// Whether a supervisor started after the one `record` names adopts or starts clean; `alive`
/// tells whether a recorded process still runs (pid and start time).
pub fn decide(
    record: &RuntimeRecord,
    applied: Option<&AppliedRecord>,
    alive: impl Fn(&ProcessId) -> bool,
) -> Restart {
    let model = applied.is_some_and(|a| a.spec.is_some());
    match &record.dataplane {
        Some(plane) if model && !alive(&record.supervisor) && alive(plane) => Restart::Adopt,
        _ => Restart::CleanStart,
    }
}

/// What a supervisor started now would take over from the dead one a record names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    /// The data plane that still serves.
    pub dataplane: ProcessId,
    /// The rollout the dead supervisor was running, as it last recorded it: the new supervisor
    /// rolls it back.
    pub rollout: Option<crate::rollout::LocalRollout>,
}

/// What the next supervisor would take over from the dead one `record` names, when [`decide`]
/// says it adopts.
pub fn takeover(dir: &StateDir, record: &RuntimeRecord) -> Option<Takeover> {
    let applied = dir.read_applied().ok().flatten();
    match decide(record, applied.as_ref(), ProcessId::is_running) {
        Restart::Adopt => Some(Takeover {
            dataplane: record.dataplane.clone()?,
            rollout: applied.and_then(|a| a.rollout).map(|r| r.status),
        }),
        Restart::CleanStart => None,
    }
}

/// Starts a supervisor in place of the dead one `record` names: it adopts what runs when
/// [`decide`] says so, else what is left is stopped first. Returns the new supervisor, what was
/// decided, and the pids stopped.
pub fn restart(
    dir: &StateDir,
    stack: &str,
    record: RuntimeRecord,
    binaries: &Binaries,
) -> Result<(Running, Restart, Vec<u32>), LaunchError> {
    let applied = dir.read_applied().ok().flatten();
    let decision = decide(&record, applied.as_ref(), ProcessId::is_running);
    let stopped = match decision {
        Restart::Adopt => Vec::new(),
        Restart::CleanStart => stop_leftovers(dir, &[record])?,
    };
    let running = spawn(dir, stack, binaries, decision == Restart::Adopt)?;
    Ok((running, decision, stopped))
}

/// The programs a supervisor runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub supervisor: PathBuf,
    pub demo_app: PathBuf,
}

/// Starts a supervisor for `stack`, detached (its own process group, output to
/// `supervisor.log`), and waits until it answers.
pub fn start(dir: &StateDir, stack: &str, binaries: &Binaries) -> Result<Running, LaunchError> {
    spawn(dir, stack, binaries, false)
}

fn spawn(
    dir: &StateDir,
    stack: &str,
    binaries: &Binaries,
    adopt: bool,
) -> Result<Running, LaunchError> {
    use std::os::unix::process::CommandExt as _;
    let log_path = dir.supervisor_log();
    let log_err = |source| StateDirError::Write {
        path: log_path.clone(),
        source,
    };
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(log_err)?;
    let log2 = log.try_clone().map_err(log_err)?;
    // The marker's token is in the folder before the process exists: it is findable from the
    // start, whatever happens to runtime.json.
    let marker: Marker = dir.new_marker()?;
    let mut command = Command::new(&binaries.supervisor);
    if adopt {
        command.arg("--adopt");
    }
    let mut child = command
        .arg("--stack")
        .arg(stack)
        .arg("--state-dir")
        .arg(&marker.dir)
        .arg("--demo-app")
        .arg(&binaries.demo_app)
        .env(MARKER_DIR_ENV, &marker.dir)
        .env(MARKER_TOKEN_ENV, &marker.token)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        // Its own process group: Ctrl-C in the terminal that deployed must not reach the
        // runtime it leaves running (the supervisor also ignores SIGHUP).
        .process_group(0)
        .spawn()
        .map_err(|source| LaunchError::Spawn {
            path: binaries.supervisor.clone(),
            source,
        })?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(record)) = dir.read_runtime()
            && record.supervisor.pid == child.id()
        {
            let client = ControlClient::new(&record.control_url, &record.token)?;
            let status = client.status(CONTROL_TIMEOUT)?;
            return Ok(Running {
                record,
                client,
                status,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(LaunchError::ExitedAtStart {
                status: status.to_string(),
                last_line: last_line(&log_path),
            });
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(LaunchError::StartTimeout {
                secs: START_TIMEOUT.as_secs(),
                log: log_path,
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn last_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output")
        .to_owned()
}

/// Stops whatever of the stack still runs (see [`StateDir::stop_leftovers`]).
pub fn stop_leftovers(dir: &StateDir, records: &[RuntimeRecord]) -> Result<Vec<u32>, LaunchError> {
    Ok(dir.stop_leftovers(records, LEFTOVER_GRACE)?)
}

/// What [`stop_everything`] stopped, and why it could not go by the record, if it could not.
#[derive(Debug)]
pub struct StoppedAll {
    /// The pids that stopped, sorted.
    pub pids: Vec<u32>,
    pub record_problem: Option<RecordProblem>,
}

/// Why [`stop_everything`] found the processes by their marker only.
#[derive(Debug)]
pub enum RecordProblem {
    /// `runtime.json` cannot be read or parsed.
    Unreadable(StateDirError),
    /// It names a supervisor that runs but does not answer.
    Unresponsive(LaunchError),
}

/// Stops everything of the stack in `dir`, whatever its record says or whether it has one: the
/// supervisor it names (asked, then stopped), then every process that still carries the folder's
/// marker. `destroy` runs this before it removes the folder.
pub fn stop_everything(dir: &StateDir) -> Result<StoppedAll, LaunchError> {
    let mut record_problem = None;
    let mut stopped = match find(dir) {
        Ok(Found::Running(running)) => shut_down(&running, dir)?,
        Ok(Found::Dead(record)) => stop_leftovers(dir, &[record])?,
        Ok(Found::Nothing) => Vec::new(),
        Ok(Found::Unreadable(err)) => {
            record_problem = Some(RecordProblem::Unreadable(err));
            Vec::new()
        }
        Err(err) => {
            record_problem = Some(RecordProblem::Unresponsive(err));
            Vec::new()
        }
    };
    let records: Vec<RuntimeRecord> = dir.read_runtime().ok().flatten().into_iter().collect();
    stopped.extend(stop_leftovers(dir, &records)?);
    stopped.sort_unstable();
    stopped.dedup();
    Ok(StoppedAll {
        pids: stopped,
        record_problem,
    })
}

/// A supervisor started for a first deploy that failed: stops everything it ran
/// ([`shut_down`]) and forgets its record, keeping the logs; returns the pids that stopped.
/// A record it cannot remove is left behind: it names a stopped supervisor, which the next
/// command finds dead and cleans up after.
pub fn abandon(running: &Running, dir: &StateDir) -> Result<Vec<u32>, LaunchError> {
    let stopped = shut_down(running, dir);
    let _ = dir.remove_runtime();
    stopped
}

/// Asks `running` to stop everything, waits, then stops whatever of the stack still runs;
/// returns the pids that stopped.
pub fn shut_down(running: &Running, dir: &StateDir) -> Result<Vec<u32>, LaunchError> {
    let mut stopped = Vec::new();
    if running.client.shutdown(CONTROL_TIMEOUT).is_ok()
        && running.record.supervisor.wait_gone(STOP_TIMEOUT)
    {
        stopped.push(running.record.supervisor.pid);
        stopped.extend(running.record.dataplane.iter().map(|p| p.pid));
        stopped.extend(running.record.tasks.iter().map(|t| t.process.pid));
    }
    // Whatever is left (a supervisor that did not stop, tasks it did not know it had), from the
    // record read before and the one it left.
    let mut records = vec![running.record.clone()];
    if let Ok(Some(last)) = dir.read_runtime() {
        records.push(last);
    }
    stopped.extend(stop_leftovers(dir, &records)?);
    stopped.sort_unstable();
    stopped.dedup();
    Ok(stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(pid: u32) -> ProcessId {
        ProcessId {
            pid,
            start: "1".into(),
        }
    }

    fn record(dataplane: Option<ProcessId>) -> RuntimeRecord {
        RuntimeRecord {
            stack: "s".into(),
            supervisor: id(1),
            dataplane,
            control_url: "http://127.0.0.1:1".into(),
            token: "t".into(),
            egress_url: "http://127.0.0.1:2".into(),
            gateway_url: None,
            services: std::collections::BTreeMap::new(),
            tasks: Vec::new(),
        }
    }

    fn applied(with_model: bool) -> AppliedRecord {
        AppliedRecord {
            spec: with_model.then(|| model::examples::appmesh("s")),
            gateway_port: None,
            health_timeout_ms: None,
            rollout: None,
        }
    }

    #[test]
    fn a_dead_supervisor_with_a_live_data_plane_and_a_model_is_adopted() {
        let alive = |live: &'static [u32]| move |p: &ProcessId| live.contains(&p.pid);
        let with = applied(true);
        let without = applied(false);
        let plane = record(Some(id(2)));
        assert_eq!(decide(&plane, Some(&with), alive(&[2])), Restart::Adopt);
        // The data plane died too: nothing serves, nothing to take over.
        assert_eq!(decide(&plane, Some(&with), alive(&[])), Restart::CleanStart);
        // No model to rebuild routing from.
        assert_eq!(
            decide(&plane, Some(&without), alive(&[2])),
            Restart::CleanStart
        );
        assert_eq!(decide(&plane, None, alive(&[2])), Restart::CleanStart);
        // A record of a runtime without a data plane.
        assert_eq!(
            decide(&record(None), Some(&with), alive(&[1, 2])),
            Restart::CleanStart
        );
        // The supervisor still runs: not this function's case, never adopted from under it.
        assert_eq!(
            decide(&plane, Some(&with), alive(&[1, 2])),
            Restart::CleanStart
        );
    }
}
