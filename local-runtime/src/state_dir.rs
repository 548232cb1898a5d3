//! The one folder a local stack keeps its state in: `<target>/local/<stack>/`.
//!
//! ```text
//! runtime.json     who runs: the supervisor's pid and start time, the control API address and
//!                  token, every listener's URL, every task's pid, start time, URL and log
//! state.json       blue-green state (the seed's JSON), written after a successful deploy
//! applied.json     what the supervisor runs: the model of the last apply, the gateway port asked
//!                  for, the health timeout, and the rollout in progress (its status, the
//!                  target's task ids, its hook commands' process groups), rewritten at each of
//!                  its transitions (mode 0600), so a supervisor started after a crash adopts
//!                  what runs and rolls that rollout back (`launcher::decide`)
//! launch-tokens    one token per supervisor start: what the processes' markers must carry
//! supervisor.log   the supervisor's own log
//! dataplane.log    the data plane's own log (`meshtest-local dataplane`)
//! dataplane.sock   where the supervisor reaches its data plane (mode 0600)
//! logs/<task>.log  each task's stdout and stderr
//! hooks/<service>-<hook>-<n>.log  each hook command run's stdout and stderr, capped in size
//! .lock            held by `cargo xtask` while it deploys or destroys
//! ```
//!
//! `runtime.json` is rewritten atomically (write, then rename) whenever a process starts or
//! stops, so `destroy` can find every process even when the supervisor itself has died. Should
//! it be lost anyway, `launch-tokens` and the folder's canonical path find the same processes by
//! their environment ([`crate::process::find_marked`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::process::{self, MarkedProcess, Marker, ProcessId, StopError, Stopped};

/// Errors reading or writing the state folder.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a runtime record of this version")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// A task process as recorded in `runtime.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    pub id: String,
    pub service: String,
    pub version: String,
    pub process: ProcessId,
    pub url: String,
    pub log: PathBuf,
}

/// `runtime.json`: everything needed to reach or stop what runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeRecord {
    pub stack: String,
    pub supervisor: ProcessId,
    /// The data plane process (gateway, service listeners, egress proxy), which outlives a
    /// supervisor that dies; None in a record of a runtime without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataplane: Option<ProcessId>,
    /// `http://127.0.0.1:<port>` of the control API.
    pub control_url: String,
    /// Bearer token the control API requires (the file is readable by its owner only).
    pub token: String,
    /// The egress proxy every task uses as `HTTP_PROXY`.
    pub egress_url: String,
    pub gateway_url: Option<String>,
    /// Service name -> its listener's URL.
    pub services: BTreeMap<String, String>,
    pub tasks: Vec<TaskRecord>,
}

/// `applied.json`: what a supervisor started after its predecessor died needs to adopt what
/// runs (the tasks and listeners themselves are in `runtime.json` and the data plane).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedRecord {
    /// The model that routes (during a rollout: the source revision's).
    pub spec: Option<model::StackSpec>,
    /// The gateway port the last apply asked for (0: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_port: Option<u16>,
    /// How long a new task may take to become healthy (the last apply's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_timeout_ms: Option<u64>,
    /// The rollout as `status` last showed it (stage, shares, history), while in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutRecord>,
}

/// A rollout in progress as persisted at its last transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutRecord {
    pub status: crate::rollout::LocalRollout,
    /// The target revision's task ids (the source's are the service's tasks in `runtime.json`).
    pub target_tasks: Vec<String>,
    /// The hook commands running, each the leader of its own process group (whose id is the
    /// leader's pid): a supervisor that takes over stops those groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hook_groups: Vec<ProcessId>,
}

/// Paths of one stack's state folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// `<target_dir>/local/<stack>`. The stack name must already be a valid stack name (letters,
    /// digits and hyphens), so it cannot escape the folder.
    pub fn new(target_dir: &Path, stack: &str) -> StateDir {
        StateDir {
            root: target_dir.join("local").join(stack),
        }
    }

    /// A state folder at an explicit path (the supervisor gets it on its command line).
    pub fn at(root: PathBuf) -> StateDir {
        StateDir { root }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn exists(&self) -> bool {
        self.root.is_dir()
    }

    pub fn runtime_file(&self) -> PathBuf {
        self.root.join("runtime.json")
    }

    pub fn applied_file(&self) -> PathBuf {
        self.root.join("applied.json")
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    pub fn supervisor_log(&self) -> PathBuf {
        self.root.join("supervisor.log")
    }

    /// Where each hook command run writes its output (`<service>-<hook>-<n>.log`).
    pub fn hooks_dir(&self) -> PathBuf {
        self.root.join("hooks")
    }

    pub fn dataplane_log(&self) -> PathBuf {
        self.root.join("dataplane.log")
    }

    /// The data plane's unix socket.
    pub fn dataplane_socket(&self) -> PathBuf {
        self.root.join("dataplane.sock")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.root.join(".lock")
    }

    pub fn launch_tokens_file(&self) -> PathBuf {
        self.root.join("launch-tokens")
    }

    /// The folder's canonical path (it must exist): the name its processes' markers carry.
    pub fn canonical(&self) -> Result<PathBuf, StateDirError> {
        self.root
            .canonicalize()
            .map_err(|source| StateDirError::Read {
                path: self.root.clone(),
                source,
            })
    }

    /// A new marker for a supervisor about to start, its token recorded first, so a process
    /// carrying it is findable from the moment it exists.
    pub fn new_marker(&self) -> Result<Marker, StateDirError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = self.launch_tokens_file();
        let err = |source| StateDirError::Write {
            path: path.clone(),
            source,
        };
        let token = crate::process::random_token().map_err(err)?;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(err)?;
        writeln!(file, "{token}").map_err(err)?;
        Ok(Marker {
            dir: self.canonical()?,
            token,
        })
    }

    /// The running processes that carry this folder's marker with a recorded launch token.
    pub fn marked_processes(&self) -> Vec<MarkedProcess> {
        match (self.canonical(), self.launch_tokens()) {
            (Ok(dir), Ok(tokens)) => process::find_marked(&dir, &tokens),
            // No folder or no tokens: nothing can be proven to be ours.
            _ => Vec::new(),
        }
    }

    /// Stops every process of this stack that still runs; returns their pids. With procfs, those
    /// that carry the folder's marker ([`process::stop_marked`]), whatever `records` say, since a
    /// record may be lost, stale or edited; without procfs (macOS), those `records` list, by pid
    /// and start time.
    pub fn stop_leftovers(
        &self,
        records: &[RuntimeRecord],
        grace: std::time::Duration,
    ) -> Result<Vec<u32>, StopError> {
        if Path::new("/proc/self/environ").exists() {
            return match (self.canonical(), self.launch_tokens()) {
                (Ok(dir), Ok(tokens)) => process::stop_marked(&dir, &tokens, grace),
                _ => Ok(Vec::new()),
            };
        }
        let mut stopped = Vec::new();
        let mut stuck = Vec::new();
        let processes = records.iter().flat_map(|r| {
            std::iter::once(&r.supervisor)
                .chain(&r.dataplane)
                .chain(r.tasks.iter().map(|t| &t.process))
        });
        for process in processes {
            match process.stop(grace) {
                Stopped::AlreadyGone => {}
                Stopped::Terminated | Stopped::Killed => stopped.push(process.pid),
                Stopped::StillRunning => stuck.push(process.pid),
            }
        }
        if stuck.is_empty() {
            Ok(stopped)
        } else {
            Err(StopError { pids: stuck })
        }
    }

    /// Every launch token recorded (empty when there is no such file).
    pub fn launch_tokens(&self) -> Result<BTreeSet<String>, StateDirError> {
        let path = self.launch_tokens_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text
                .lines()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeSet::new()),
            Err(source) => Err(StateDirError::Read { path, source }),
        }
    }

    /// Creates the folder and its `logs/`.
    pub fn create(&self) -> Result<(), StateDirError> {
        let logs = self.logs_dir();
        std::fs::create_dir_all(&logs).map_err(|source| StateDirError::Write { path: logs, source })
    }

    /// `runtime.json`, or None when there is none.
    pub fn read_runtime(&self) -> Result<Option<RuntimeRecord>, StateDirError> {
        read_json(self.runtime_file())
    }

    /// Replaces `runtime.json` atomically, readable by its owner only (it holds the token).
    pub fn write_runtime(&self, record: &RuntimeRecord) -> Result<(), StateDirError> {
        let json = serde_json::to_string_pretty(record).expect("the record always serialises");
        write_atomic(&self.runtime_file(), json.as_bytes(), 0o600)
    }

    /// Forgets the supervisor: removes `runtime.json` (nothing to do when there is none). Only
    /// once what it names has stopped ([`crate::launcher::abandon`]).
    pub fn remove_runtime(&self) -> Result<(), StateDirError> {
        let path = self.runtime_file();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateDirError::Write { path, source }),
        }
    }

    /// `applied.json`, or None when there is none.
    pub fn read_applied(&self) -> Result<Option<AppliedRecord>, StateDirError> {
        read_json(self.applied_file())
    }

    /// Replaces `applied.json` atomically.
    pub fn write_applied(&self, record: &AppliedRecord) -> Result<(), StateDirError> {
        let json = serde_json::to_string_pretty(record).expect("the record always serialises");
        write_atomic(&self.applied_file(), json.as_bytes(), 0o600)
    }

    /// The blue-green state JSON, or None when no deploy has written one.
    pub fn read_blue_green_state(&self) -> Result<Option<String>, StateDirError> {
        let path = self.state_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateDirError::Read { path, source }),
        }
    }

    /// Replaces `state.json` atomically.
    pub fn write_blue_green_state(&self, json: &str) -> Result<(), StateDirError> {
        write_atomic(&self.state_file(), json.as_bytes(), 0o644)
    }

    /// Removes the whole folder (nothing to do when it is already gone).
    pub fn remove(&self) -> Result<(), StateDirError> {
        match std::fs::remove_dir_all(&self.root) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateDirError::Write {
                path: self.root.clone(),
                source,
            }),
        }
    }
}

/// The JSON record at `path`, or None when there is no file.
fn read_json<T: serde::de::DeserializeOwned>(path: PathBuf) -> Result<Option<T>, StateDirError> {
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateDirError::Read { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| StateDirError::Parse { path, source })
}

/// Write to a temporary file next to `path`, then rename over it: readers see the old or the
/// new content, never half of one.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateDirError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let err = |source| StateDirError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_record_round_trips_and_state_is_kept_apart() {
        let base = std::env::temp_dir().join(format!("meshtest-state-dir-{}", std::process::id()));
        let dir = StateDir::new(&base, "appmesh");
        assert_eq!(dir.path(), base.join("local").join("appmesh"));
        assert_eq!(dir.read_runtime().unwrap(), None);
        dir.create().unwrap();
        let record = RuntimeRecord {
            stack: "appmesh".into(),
            supervisor: ProcessId {
                pid: 1,
                start: "2".into(),
            },
            dataplane: None,
            control_url: "http://127.0.0.1:1".into(),
            token: "t".into(),
            egress_url: "http://127.0.0.1:2".into(),
            gateway_url: None,
            services: BTreeMap::from([("blue".into(), "http://127.0.0.1:3".into())]),
            tasks: Vec::new(),
        };
        dir.write_runtime(&record).unwrap();
        assert_eq!(dir.read_runtime().unwrap(), Some(record.clone()));
        dir.remove_runtime().unwrap();
        assert_eq!(dir.read_runtime().unwrap(), None);
        dir.remove_runtime().unwrap();
        dir.write_runtime(&record).unwrap();
        assert_eq!(dir.read_runtime().unwrap(), Some(record));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.runtime_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(dir.launch_tokens().unwrap().is_empty());
        let a = dir.new_marker().unwrap();
        let b = dir.new_marker().unwrap();
        assert_ne!(a.token, b.token);
        assert_eq!(a.dir, dir.path().canonicalize().unwrap());
        assert_eq!(
            dir.launch_tokens().unwrap(),
            BTreeSet::from([a.token, b.token])
        );
        assert_eq!(dir.read_blue_green_state().unwrap(), None);
        dir.write_blue_green_state("{}").unwrap();
        assert_eq!(dir.read_blue_green_state().unwrap().as_deref(), Some("{}"));
        dir.remove().unwrap();
        assert!(!dir.exists());
        dir.remove().unwrap();
        std::fs::remove_dir_all(&base).ok();
    }

    /// `applied.json` round-trips, owner-only, and reads without the optional fields.
    #[test]
    fn applied_record_round_trips() {
        let base = std::env::temp_dir().join(format!("meshtest-applied-{}", std::process::id()));
        let dir = StateDir::new(&base, "appmesh");
        dir.create().unwrap();
        assert_eq!(dir.read_applied().unwrap(), None);
        let record = AppliedRecord {
            spec: Some(model::examples::appmesh("appmesh")),
            gateway_port: Some(0),
            health_timeout_ms: Some(10_000),
            rollout: None,
        };
        dir.write_applied(&record).unwrap();
        assert_eq!(dir.read_applied().unwrap(), Some(record));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.applied_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.applied_file(), r#"{"spec": null}"#).unwrap();
        assert_eq!(
            dir.read_applied().unwrap(),
            Some(AppliedRecord {
                spec: None,
                gateway_port: None,
                health_timeout_ms: None,
                rollout: None,
            })
        );
        std::fs::write(dir.applied_file(), "{").unwrap();
        assert!(matches!(
            dir.read_applied(),
            Err(StateDirError::Parse { .. })
        ));
        std::fs::remove_dir_all(&base).ok();
    }
}
