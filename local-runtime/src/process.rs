//! Which processes are ours: a pid plus its start time, checked again before any signal.
//!
//! A pid alone is not an identity: once a process exits, the kernel may give its pid to an
//! unrelated process. Everything the runtime records is a [`ProcessId`] (pid and the kernel's start
//! time of that process), and [`ProcessId::is_running`] compares both, so `destroy` never signals
//! a process it did not start. Zombies count as gone: they run nothing and cannot be signalled
//! into stopping.

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

    #[test]
    fn no_such_process() {
        // Pids are below 2^22 on Linux.
        assert_eq!(ProcessId::of(u32::MAX / 2), None);
    }
}
