//! Which processes are ours: a pid plus its start time, checked again before any signal, and a
//! marker in the environment of every process the runtime starts.
//!
//! A pid alone is not an identity: once a process exits, the kernel may give its pid to an
//! unrelated process. Everything the runtime records is a [`ProcessId`] (pid and the kernel's start
//! time of that process), and [`ProcessId::is_running`] compares both, so `destroy` never signals
//! a process it did not start. Zombies count as gone: they run nothing and cannot be signalled
//! into stopping.
//!
//! A record can be lost (the supervisor killed half-way, `runtime.json` deleted or corrupt), so
//! every process the runtime starts also carries a [`Marker`] in its environment: the stack's
//! canonical state folder and a launch token that the folder keeps. [`find_marked`] reads them back
//! from `/proc/<pid>/environ` (processes of this user only, the start time checked around the
//! read), so what runs can be found and stopped without any record, and nothing else is touched.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// A process as recorded at start: pid and start time (clock ticks since boot on Linux).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessId {
    pub pid: u32,
    pub start: String,
}

/// How [`ProcessId::stop`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was not running (or the pid now belongs to another process).
    AlreadyGone,
    /// It exited after SIGTERM.
    Terminated,
    /// It needed SIGKILL.
    Killed,
    /// It was still there after SIGKILL and the wait (should not happen).
    StillRunning,
}

/// Environment variable naming the canonical state folder of the stack a process belongs to.
pub const MARKER_DIR_ENV: &str = "MESHTEST_LOCAL_STACK_DIR";
/// Environment variable holding the launch token the state folder records (one per supervisor
/// start), so a process that merely copied the folder's name is not taken for ours.
pub const MARKER_TOKEN_ENV: &str = "MESHTEST_LOCAL_TOKEN";

/// What every process the runtime starts carries in its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The stack's state folder, canonical (absolute, no symlinks), so one folder has one name.
    pub dir: PathBuf,
    pub token: String,
}

impl Marker {
    /// The environment variables that carry the marker.
    pub fn env(&self) -> [(&'static str, std::ffi::OsString); 2] {
        [
            (MARKER_DIR_ENV, self.dir.clone().into_os_string()),
            (MARKER_TOKEN_ENV, self.token.clone().into()),
        ]
    }
}

/// Why some of our processes could not be stopped.
#[derive(Debug, thiserror::Error)]
#[error("cannot stop process(es) {pids:?}, even with SIGKILL")]
pub struct StopError {
    pub pids: Vec<u32>,
}

/// 128 random bits as hex, from the kernel's generator.
pub fn random_token() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Start time and whether the process is a zombie, or None when there is no such process.
fn probe(pid: u32) -> Option<(String, bool)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
    match stat {
        Some(stat) => {
            // `pid (comm) state ppid ...`: comm may contain spaces and parentheses, so split
            // after the last `)`. Field 3 is the state, field 22 the start time.
            let rest = &stat[stat.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let state = *fields.first()?;
            let start = *fields.get(19)?;
            Some((start.to_owned(), state == "Z" || state == "X"))
        }
        None if std::path::Path::new("/proc/self/stat").exists() => None,
        // No procfs (macOS): ask ps for the start time and state.
        None => {
            let out = std::process::Command::new("ps")
                .args(["-o", "stat=,lstart=", "-p", &pid.to_string()])
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let (state, start) = text.split_once(char::is_whitespace)?;
            Some((start.trim().to_owned(), state.starts_with('Z')))
        }
    }
}

impl ProcessId {
    /// The identity of the running process `pid`, or None when there is none (or a zombie).
    pub fn of(pid: u32) -> Option<ProcessId> {
        match probe(pid)? {
            (_, true) => None,
            (start, false) => Some(ProcessId { pid, start }),
        }
    }

    /// This process.
    pub fn current() -> Option<ProcessId> {
        ProcessId::of(std::process::id())
    }

    /// Whether this very process still runs (same pid and start time, not a zombie).
    pub fn is_running(&self) -> bool {
        matches!(probe(self.pid), Some((start, false)) if start == self.start)
    }

    /// Whether this very process runs and leads its own process group (a service's own
    /// program does: its group is stopped with it).
    pub fn leads_its_group(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        let group = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(2)?.parse::<u32>().ok());
        self.is_running() && group == Some(self.pid)
    }

    /// Sends `signal` only if this very process still runs; returns whether it was sent.
    pub fn signal(&self, signal: Signal) -> bool {
        let Ok(raw) = i32::try_from(self.pid) else {
            return false;
        };
        self.is_running() && kill(Pid::from_raw(raw), signal).is_ok()
    }

    /// Waits until the process is gone, up to `timeout`; returns whether it is.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.is_running() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL: only if this very process still runs.
    /// Blocking; meant for the command line, not for async code.
    pub fn stop(&self, grace: Duration) -> Stopped {
        if !self.signal(Signal::SIGTERM) {
            return Stopped::AlreadyGone;
        }
        if self.wait_gone(grace) {
            return Stopped::Terminated;
        }
        self.signal(Signal::SIGKILL);
        if self.wait_gone(Duration::from_secs(5)) {
            Stopped::Killed
        } else {
            Stopped::StillRunning
        }
    }
}

/// Whether `environ` (NUL-separated `NAME=value` entries) carries `dir` and one of `tokens`.
fn carries_marker(environ: &[u8], dir: &Path, tokens: &BTreeSet<String>) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let value = |name: &str| {
        environ
            .split(|b| *b == 0)
            .find_map(|entry| entry.strip_prefix(name.as_bytes())?.strip_prefix(b"="))
    };
    value(MARKER_DIR_ENV) == Some(dir.as_os_str().as_bytes())
        && value(MARKER_TOKEN_ENV)
            .and_then(|t| std::str::from_utf8(t).ok())
            .is_some_and(|t| tokens.contains(t))
}

/// The parent pid of a running process (field 4 of `/proc/<pid>/stat`).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A process found by its marker, with its parent (to stop parents before their children).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedProcess {
    pub id: ProcessId,
    pub parent: Option<u32>,
}

/// Every running process of this user, other than this one, whose environment carries `dir` and
/// one of `tokens`. Empty without procfs (then only the records can find processes).
pub fn find_marked(dir: &Path, tokens: &BTreeSet<String>) -> Vec<MarkedProcess> {
    use std::os::unix::fs::MetadataExt as _;
    let (Ok(entries), Ok(me)) = (std::fs::read_dir("/proc"), std::fs::metadata("/proc/self"))
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // /proc/<pid> belongs to the process's effective user.
        if pid == std::process::id() || entry.metadata().map_or(true, |m| m.uid() != me.uid()) {
            continue;
        }
        // The start time before and after the read: the environment read is this process's.
        let Some(id) = ProcessId::of(pid) else {
            continue;
        };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if carries_marker(&environ, dir, tokens) && id.is_running() {
            let parent = parent_of(pid);
            found.push(MarkedProcess { id, parent });
        }
    }
    found
}

/// Stops every process [`find_marked`] finds (SIGTERM, `grace`, SIGKILL), parents first (a
/// supervisor stops its own tasks and would replace a task stopped under it), and looks again
/// until none is left; returns the pids it stopped.
pub fn stop_marked(
    dir: &Path,
    tokens: &BTreeSet<String>,
    grace: Duration,
) -> Result<Vec<u32>, StopError> {
    let mut stopped = Vec::new();
    let mut stuck = Vec::new();
    // Supervisor, then its tasks, then any replacement started meanwhile: a few rounds at most.
    for _ in 0..5 {
        let found: Vec<MarkedProcess> = find_marked(dir, tokens)
            .into_iter()
            .filter(|p| !stuck.contains(&p.id.pid))
            .collect();
        if found.is_empty() {
            break;
        }
        let pids: BTreeSet<u32> = found.iter().map(|p| p.id.pid).collect();
        let roots = found
            .iter()
            .filter(|p| p.parent.is_none_or(|parent| !pids.contains(&parent)));
        for process in roots {
            if process.id.stop(grace) == Stopped::StillRunning {
                stuck.push(process.id.pid);
            }
        }
        // A supervisor stops its own tasks: those count as stopped too.
        stopped.extend(
            found
                .iter()
                .filter(|p| !p.id.is_running())
                .map(|p| p.id.pid),
        );
    }
    // Still there after every round (something keeps starting them): say so.
    for left in find_marked(dir, tokens) {
        if !stuck.contains(&left.id.pid) {
            stuck.push(left.id.pid);
        }
    }
    if stuck.is_empty() {
        stopped.sort_unstable();
        stopped.dedup();
        Ok(stopped)
    } else {
        Err(StopError { pids: stuck })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_this_process() {
        let me = ProcessId::current().expect("this process is visible");
        assert!(me.is_running());
        assert_eq!(ProcessId::of(me.pid), Some(me.clone()));
        // Same pid, other start time: another process, never ours.
        let other = ProcessId {
            pid: me.pid,
            start: format!("{}0", me.start),
        };
        assert!(!other.is_running());
        assert!(
            !other.signal(Signal::SIGTERM),
            "must not signal a process that is not ours"
        );
    }

    #[test]
    fn stops_a_child_and_then_calls_it_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep runs");
        let id = ProcessId::of(child.id()).expect("child is visible");
        assert!(id.is_running());
        // Reap in the background so the exited child does not linger as a zombie (which would
        // also count as gone, but this checks the plain path).
        let reaper = std::thread::spawn(move || child.wait());
        assert_eq!(id.stop(Duration::from_secs(5)), Stopped::Terminated);
        assert!(!id.is_running());
        assert_eq!(id.stop(Duration::from_secs(1)), Stopped::AlreadyGone);
        reaper.join().unwrap().unwrap();
    }

    fn sleeper(envs: &[(&str, &str)]) -> std::process::Child {
        std::process::Command::new("sleep")
            .arg("30")
            .env_clear()
            .envs(envs.iter().copied())
            .spawn()
            .expect("sleep runs")
    }

    #[test]
    fn finds_and_stops_only_processes_with_the_whole_marker() {
        let dir = std::env::temp_dir().join(format!("meshtest-marker-{}", std::process::id()));
        let dir_str = dir.to_str().unwrap();
        let tokens = BTreeSet::from(["t1".to_owned(), "t2".to_owned()]);
        let mut ours = sleeper(&[(MARKER_DIR_ENV, dir_str), (MARKER_TOKEN_ENV, "t2")]);
        let mut decoys = [
            sleeper(&[]),
            sleeper(&[(MARKER_DIR_ENV, dir_str), (MARKER_TOKEN_ENV, "other")]),
            sleeper(&[
                (MARKER_DIR_ENV, &format!("{dir_str}x")),
                (MARKER_TOKEN_ENV, "t1"),
            ]),
            sleeper(&[(MARKER_DIR_ENV, dir_str)]),
        ];
        let found: Vec<u32> = find_marked(&dir, &tokens)
            .iter()
            .map(|p| p.id.pid)
            .collect();
        assert_eq!(found, [ours.id()]);
        let reaper = std::thread::spawn(move || ours.wait());
        let stopped = stop_marked(&dir, &tokens, Duration::from_secs(5)).unwrap();
        reaper.join().unwrap().unwrap();
        assert_eq!(stopped.len(), 1);
        assert!(find_marked(&dir, &tokens).is_empty());
        for decoy in &mut decoys {
            assert_eq!(decoy.try_wait().unwrap(), None, "a decoy was stopped");
            decoy.kill().unwrap();
            decoy.wait().unwrap();
        }
    }

    #[test]
    fn no_such_process() {
        // Pids are below 2^22 on Linux.
        assert_eq!(ProcessId::of(u32::MAX / 2), None);
    }
}
