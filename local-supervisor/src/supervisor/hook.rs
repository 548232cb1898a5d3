//! A Lambda hook's `localCommand`, run in its own process group with its output in its own
//! size-capped log, and stopped (the whole group) when the rollout stops waiting on it.
//!
//! The engine decides how long a hook may take (its timeout, ECS's default when it sets none)
//! and when its stage ends; this module only makes sure nothing outlives that decision. The
//! command is a process group leader (`setpgid(0, 0)`), so a shell's children and their children
//! are stopped with it: SIGTERM to the group, SIGKILL to what is left after [`STOP_GRACE`].
//! Stopping is checked by the group's members in `/proc`, not by the leader alone. On AWS the
//! stand-in is a Lambda function ECS invokes, again every 30 s while it answers `IN_PROGRESS`,
//! until the hook's timeout
//! (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/lambda-lifecycle-hooks.html>):
//! nothing of it runs on once the deployment stops waiting, and so nothing of the command does.
//!
//! Its stdout and stderr share one pipe that a thread copies to
//! `hooks/<service>-<hook>-<n>.log`, up to [`LOG_LIMIT`] bytes and a truncation line; the rest is
//! read and dropped, so a chatty hook neither blocks on a full pipe nor fills the disk (a hook
//! once wrote 200 MB to `supervisor.log`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use local_runtime::process::ProcessId;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a hook's processes get between SIGTERM and SIGKILL: a hook is a check, not a
/// service with requests to drain.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(2);

/// The most output a hook run keeps in its log: 1 MiB (the rest is dropped, after one line
/// saying so).
pub(super) const LOG_LIMIT: u64 = 1024 * 1024;

/// One hook command run, from its start until its process group is gone.
#[derive(Debug)]
pub(super) struct HookProcess {
    /// The engine's run id ([`local_runtime::rollout::Action::RunHook`]).
    pub run: u64,
    pub log: PathBuf,
    /// The command's process, leader of its group (the group's id is its pid): recorded in
    /// `applied.json`, so a supervisor that takes over after this one dies stops the group.
    pub leader: Option<ProcessId>,
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<()>,
}

/// What starting a hook command needs.
#[derive(Debug)]
pub(super) struct HookStart<'a> {
    pub run: u64,
    pub service: &'a str,
    pub hook: &'a str,
    pub stage: &'a str,
    pub command: &'a [String],
    pub hooks_dir: &'a Path,
}

impl HookProcess {
    /// Starts `start.command`; `finished` hears how it ended when it ends on its own (not when
    /// stopped).
    pub(super) fn start(
        start: &HookStart<'_>,
        finished: impl FnOnce(Result<(), String>) + Send + 'static,
    ) -> HookProcess {
        let (stop, stopped) = oneshot::channel();
        let log = log_path(start.hooks_dir, start.service, start.hook);
        let spawned = spawn(start, log.as_deref());
        let leader = spawned
            .as_ref()
            .ok()
            .and_then(Child::id)
            .and_then(ProcessId::of);
        let (run, hook, command) = (start.run, start.hook.to_owned(), start.command.join(" "));
        let done = tokio::spawn(async move {
            match spawned {
                Ok(child) => supervise(child, &hook, &command, stopped, finished).await,
                Err(err) => finished(Err(err)),
            }
        });
        HookProcess {
            run,
            log: log.unwrap_or_default(),
            leader,
            stop: Some(stop),
            done,
        }
    }

    /// Stops the run's process group (if it still has members) and returns once it is gone.
    pub(super) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.done).await;
    }
}

/// The first `hooks/<service>-<hook>-<n>.log` not taken, created empty; None when the folder
/// cannot be written (the run goes on without a log).
fn log_path(dir: &Path, service: &str, hook: &str) -> Option<PathBuf> {
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    if let Err(err) = std::fs::create_dir_all(dir) {
        tracing::warn!(dir = %dir.display(), %err, "cannot create the hooks log folder");
        return None;
    }
    (1..10_000u32).find_map(|n| {
        let path = dir.join(format!("{}-{}-{n}.log", safe(service), safe(hook)));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .ok()
            .map(|_| path)
    })
}

/// Starts the command as the leader of a new process group, its output into `log`.
fn spawn(start: &HookStart<'_>, log: Option<&Path>) -> Result<Child, String> {
    let Some((program, args)) = start.command.split_first() else {
        return Err("the hook's localCommand is empty".into());
    };
    let file = match log {
        Some(path) => std::fs::OpenOptions::new().append(true).open(path).ok(),
        None => None,
    };
    let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
    let writer2 = writer
        .try_clone()
        .map_err(|e| format!("cannot make a pipe: {e}"))?;
    let child = {
        // The command keeps copies of the pipe's writing end: dropped at the end of this block,
        // so the copying thread sees the end of the output when the group is gone.
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(writer2)
            .process_group(0)
            .kill_on_drop(true);
        command
            .spawn()
            .map_err(|e| format!("cannot run `{program}`: {e}"))?
    };
    let header = format!(
        "--- meshtest-local: hook {} at {} (run {}): {} ---\n",
        start.hook,
        start.stage,
        start.run,
        start.command.join(" ")
    );
    // A thread, not a blocking task: a process that escaped the group may hold the pipe open,
    // and the runtime must not wait for that when the supervisor exits.
    std::thread::spawn(move || copy_capped(reader, file, &header, LOG_LIMIT));
    tracing::info!(
        hook = start.hook,
        stage = start.stage,
        pid = child.id().unwrap_or_default(),
        log = %log.map(|p| p.display().to_string()).unwrap_or_default(),
        "hook command started"
    );
    Ok(child)
}

/// Copies `from` to `to` (after `header`) up to `limit` bytes, then one truncation line, and
/// reads the rest to its end without keeping it.
fn copy_capped(
    mut from: impl std::io::Read,
    mut to: Option<std::fs::File>,
    header: &str,
    limit: u64,
) {
    let mut write = |bytes: &[u8]| {
        if let Some(file) = to.as_mut()
            && file.write_all(bytes).is_err()
        {
            to = None;
        }
    };
    write(header.as_bytes());
    let mut kept = 0u64;
    let mut dropped = 0u64;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let room = usize::try_from(limit.saturating_sub(kept)).unwrap_or(usize::MAX);
        let keep = n.min(room);
        if keep > 0 {
            write(&buf[..keep]);
            kept += keep as u64;
        }
        if keep < n {
            if dropped == 0 {
                write(
                    format!(
                        "\n--- meshtest-local: output truncated at {limit} bytes; the rest is dropped ---\n"
                    )
                    .as_bytes(),
                );
            }
            dropped += (n - keep) as u64;
        }
    }
}

/// Waits for the command to end or to be stopped; either way the whole group is gone when this
/// returns.
async fn supervise(
    mut child: Child,
    hook: &str,
    command: &str,
    stopped: oneshot::Receiver<()>,
    finished: impl FnOnce(Result<(), String>),
) {
    let Some(pgid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
        finished(Err(
            "the hook command exited before it could be watched".into()
        ));
        return;
    };
    let ended = tokio::select! {
        status = child.wait() => Some(status),
        // Asked to stop, or the handle is gone (the rollout was replaced): stop either way.
        _ = stopped => None,
    };
    if let Some(status) = ended {
        finished(match status {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(format!("`{command}` ended with {status}")),
            Err(err) => Err(format!("cannot wait for `{command}`: {err}")),
        });
    }
    // What the command left behind in its group goes too, success or not.
    let how = stop_group(pgid, &mut child, STOP_GRACE).await;
    tracing::info!(hook, pgid, how = how.as_str(), "hook process group stopped");
}

/// How [`stop_group`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupStopped {
    /// No member was left.
    AlreadyGone,
    Terminated,
    Killed,
    /// Members still ran after SIGKILL and a wait (should not happen).
    StillRunning,
}

impl GroupStopped {
    fn as_str(self) -> &'static str {
        match self {
            GroupStopped::AlreadyGone => "already gone",
            GroupStopped::Terminated => "terminated",
            GroupStopped::Killed => "killed",
            GroupStopped::StillRunning => "still running",
        }
    }
}

/// SIGTERM to group `pgid`, SIGKILL after `grace` to what is left; `leader` is reaped meanwhile
/// (an unreaped leader would count as a member).
async fn stop_group(pgid: i32, leader: &mut Child, grace: Duration) -> GroupStopped {
    let _ = leader.try_wait();
    if group_members(pgid).is_empty() {
        return GroupStopped::AlreadyGone;
    }
    if killpg(Pid::from_raw(pgid), Signal::SIGTERM) == Err(Errno::ESRCH) {
        return GroupStopped::AlreadyGone;
    }
    if wait_group_gone(pgid, leader, grace).await {
        return GroupStopped::Terminated;
    }
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    if wait_group_gone(pgid, leader, Duration::from_secs(5)).await {
        GroupStopped::Killed
    } else {
        GroupStopped::StillRunning
    }
}

async fn wait_group_gone(pgid: i32, leader: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let _ = leader.try_wait();
        if group_members(pgid).is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The live (not zombie) processes in group `pgid`, from `/proc/<pid>/stat` (field 5 is the
/// group). Without procfs, whether the group still takes a signal (`kill(-pgid, 0)`).
fn group_members(pgid: i32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return match killpg(Pid::from_raw(pgid), None) {
            Err(Errno::ESRCH) => Vec::new(),
            _ => vec![u32::try_from(pgid).unwrap_or_default()],
        };
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // The state is one letter: Z (zombie) and X (dead) run nothing.
            let live = fields
                .first()
                .and_then(|s| s.chars().next())
                .is_some_and(|state| !matches!(state, 'Z' | 'X'));
            live && fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("meshtest-hook-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn start(dir: &Path, script: &str) -> (HookProcess, oneshot::Receiver<Result<(), String>>) {
        let (tx, rx) = oneshot::channel();
        let command = ["sh".to_owned(), "-c".to_owned(), script.to_owned()];
        let hook = HookProcess::start(
            &HookStart {
                run: 1,
                service: "web",
                hook: "check",
                stage: "POST_SCALE_UP",
                command: &command,
                hooks_dir: dir,
            },
            move |outcome| {
                let _ = tx.send(outcome);
            },
        );
        (hook, rx)
    }

    /// Pids a hook script wrote to `file`, one a line, once it wrote `count` of them.
    async fn pids(file: &Path, count: usize) -> Vec<u32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let pids: Vec<u32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            if pids.len() >= count && text.ends_with('\n') {
                return pids;
            }
            assert!(Instant::now() < deadline, "the hook never wrote its pids");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A hook whose shell and background child both ignore SIGTERM: stopping it kills the
    /// whole group, and neither pid is left.
    #[tokio::test]
    async fn stopping_a_hook_kills_its_whole_group() {
        let dir = temp_dir("group");
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("pids");
        let script = format!(
            "trap '' TERM; sleep 1000 & echo $$ > {m}.tmp; echo $! >> {m}.tmp; mv {m}.tmp {m}; wait",
            m = marker.display()
        );
        let (hook, mut finished) = start(&dir.join("hooks"), &script);
        let pids = pids(&marker, 2).await;
        let pgid = i32::try_from(pids[0]).unwrap();
        assert_eq!(group_members(pgid).len(), 2, "the shell and its sleep");
        hook.stop().await;
        assert_eq!(group_members(pgid), Vec::<u32>::new());
        for pid in pids {
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists()
                    || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .is_ok_and(|s| s.contains(") Z")),
                "pid {pid} still runs"
            );
        }
        assert!(
            finished.try_recv().is_err(),
            "a stopped hook reports no outcome"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A command that ends on its own reports how, and leaves nothing of its group behind.
    #[tokio::test]
    async fn a_hook_that_ends_reports_and_its_leftovers_go() {
        let dir = temp_dir("ends");
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("pids");
        let script = format!(
            "sleep 1000 & echo $! > {m}.tmp; mv {m}.tmp {m}; exit 3",
            m = marker.display()
        );
        let (hook, finished) = start(&dir.join("hooks"), &script);
        let outcome = tokio::time::timeout(Duration::from_secs(30), finished)
            .await
            .expect("the hook ends")
            .expect("it reports");
        assert_eq!(
            outcome,
            Err(format!("`sh -c {script}` ended with exit status: 3"))
        );
        let left = pids(&marker, 1).await[0];
        hook.stop().await;
        assert!(
            std::fs::read_to_string(format!("/proc/{left}/stat"))
                .map_or(true, |s| s.contains(") Z")),
            "the hook's background sleep {left} still runs"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// 3 MiB of output: the log keeps the header, the first [`LOG_LIMIT`] bytes and one
    /// truncation line, and the hook is not held up by the rest.
    #[tokio::test]
    async fn a_chatty_hook_log_is_capped() {
        let dir = temp_dir("chatty");
        let hooks = dir.join("hooks");
        let (hook, finished) = start(
            &hooks,
            "head -c 3145728 /dev/zero | tr '\\0' x; echo done >&2",
        );
        let outcome = tokio::time::timeout(Duration::from_secs(60), finished)
            .await
            .expect("the hook is not blocked by its output")
            .expect("it reports");
        assert_eq!(outcome, Ok(()));
        assert_eq!(hook.log, hooks.join("web-check-1.log"));
        let log = hook.log.clone();
        hook.stop().await;
        // The copying thread may still be writing the last bytes it read.
        let deadline = Instant::now() + Duration::from_secs(10);
        let text = loop {
            let text = std::fs::read_to_string(&log).unwrap();
            if text.contains("truncated") || Instant::now() >= deadline {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let header = "--- meshtest-local: hook check at POST_SCALE_UP (run 1): sh -c ";
        assert!(text.starts_with(header), "{}", &text[..200]);
        let truncation =
            "\n--- meshtest-local: output truncated at 1048576 bytes; the rest is dropped ---\n";
        assert!(text.ends_with(truncation), "{}", &text[text.len() - 200..]);
        let body = text.split_once("---\n").unwrap().1;
        assert_eq!(body.len() as u64, LOG_LIMIT + truncation.len() as u64);
        assert!(!body.contains("done"), "nothing after the cap is kept");
        // A second run gets its own file.
        let (again, _) = start(&hooks, "true");
        assert_eq!(again.log, hooks.join("web-check-2.log"));
        again.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
