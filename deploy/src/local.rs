//! diff, deploy, destroy and status on the local runtime (SPEC §7)
//!
//! `deploy --local` has the caller build `demo-app` and the `meshtest-local` supervisor
//! ([`Settings::build`]), starts the supervisor in the background (its own process group, its log in the state folder) unless one already runs
//! for the stack, sends it the model through its control API and prints the endpoints once every
//! task is healthy. The other commands read `target/local/<stack>/runtime.json` to find it; when
//! that record is gone or corrupt, `destroy` (and a deploy after a crash) still finds every
//! process by the marker in its environment (`local_runtime::process::Marker`).
//!
//! The blue-green state lives with the supervisor (its `GET /status`): while it runs, `state.json`
//! is only a copy, and a copy that disagrees is reported and used only with `--force`.
//!
//! [`Settings`] are plain values: the command line (meshtest-cli) reads them from the
//! environment and says where the workspace, its `target/` and the binaries are.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, LocalStep as _, Refusal, Result};
use local_runtime::changes::{self, Change};
use local_runtime::control::{ApplyRequest, ApplyResponse, ControlError};
use local_runtime::launcher::{self, Found, Restart, Running};
use local_runtime::plan::LocalPlan;
use local_runtime::rollout::HookAction;
use local_runtime::state_dir::StateDir;
use model::Stack;

use crate::backend::Backend;
pub use crate::error::LocalBinary;
pub use crate::outcome::LocalStatus;
use crate::outcome::{Deployed, Destroyed, Diffed, Rollouts, StatusReport};
use crate::report::{Input, Reporter, Verb};
use crate::request::{DeployRequest, DestroyRequest, DiffRequest, RolloutRequest, StatusRequest};
use crate::target::Named;

use show::pid_list;

#[cfg(test)]
mod flow_tests;
mod rollout;
mod show;
mod state;
pub use local_runtime::launcher::Binaries;
pub use rollout::{continue_paused, rollback, watch};

/// Longer than any one deploy or destroy takes (their own waits are bounded).
const LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// Where the local runtime keeps its folders and how it shows their paths: the command line
/// finds them from the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folders {
    /// cargo's output folder: a stack's state folder is `<target_dir>/local/<stack>`.
    pub target_dir: PathBuf,
    /// Paths are shown relative to the current directory, else to this one (the workspace).
    pub shown_from: PathBuf,
}

/// Makes the binaries [`Settings::binaries`] names (the command line runs `cargo build`), with
/// its progress on `out`.
pub trait Build: Send + Sync {
    fn build(&self, out: &dyn Reporter) -> Result<()>;
}

/// Local runtime settings (the command line reads them from the environment).
#[derive(Clone)]
pub struct Settings {
    /// The gateway's port; `None`: the model's listener port; `Some(0)`: any free port.
    pub gateway_port: Option<u16>,
    pub health_timeout: Duration,
    pub folders: Folders,
    /// The supervisor and the program every task runs (demo-app).
    pub binaries: Binaries,
    /// Builds the binaries before a deploy starts them; `None`: use them as they are.
    pub build: Option<Arc<dyn Build>>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("gateway_port", &self.gateway_port)
            .field("health_timeout", &self.health_timeout)
            .field("folders", &self.folders)
            .field("binaries", &self.binaries)
            .field("build", &self.build.is_some())
            .finish()
    }
}

/// Where a blue-green stack's colours start from on a local deploy or diff.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StartFrom {
    /// What the supervisor runs; `state.json` when nothing runs.
    #[default]
    Running,
    /// `state.json`, even when it disagrees with what runs (`--force`).
    StateFile,
}

/// What only the local runtime takes for a deploy or diff (AWS has no such thing).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub start_from: StartFrom,
    /// How long one model minute (bakes, hook timeouts) of a rollout lasts [default: 1 s].
    pub minute: Option<Duration>,
    /// Environment for the new revision's tasks of a rolling-out service.
    pub env: Vec<(String, String)>,
}

/// The local runtime as a backend: its settings (folders, binaries, ports) and options.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    pub settings: Settings,
    pub options: Options,
}

impl LocalBackend {
    /// The local runtime with `settings` and the default options.
    pub fn new(settings: Settings) -> LocalBackend {
        LocalBackend {
            settings,
            options: Options::default(),
        }
    }
}

impl Settings {
    /// The local runtime in `folders` with `binaries` as they are (no build), the model's
    /// gateway port and the default health timeout.
    pub fn new(folders: Folders, binaries: Binaries) -> Settings {
        Settings {
            gateway_port: None,
            health_timeout: local_runtime::control::DEFAULT_HEALTH_TIMEOUT,
            folders,
            binaries,
            build: None,
        }
    }
}

impl Folders {
    /// State folders under `target_dir`, shown relative to it.
    pub fn new(target_dir: PathBuf) -> Folders {
        Folders {
            shown_from: target_dir.clone(),
            target_dir,
        }
    }

    /// A path as the user would type it from the current directory or the workspace root.
    pub fn shown(&self, path: &Path) -> String {
        let cwd = std::env::current_dir().unwrap_or_default();
        path.strip_prefix(&cwd)
            .or_else(|_| path.strip_prefix(&self.shown_from))
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// One local command's target, resolved once: its stack name names the state folder, its
/// label the commands a hint names; everything the command says goes to `out`.
struct Local<'a> {
    target: Named,
    dir: StateDir,
    folders: &'a Folders,
    out: &'a dyn Reporter,
}

impl<'a> Local<'a> {
    fn new(target: Named, folders: &'a Folders, out: &'a dyn Reporter) -> Local<'a> {
        let dir = StateDir::new(&folders.target_dir, &target.name);
        Local {
            target,
            dir,
            folders,
            out,
        }
    }

    /// [`Folders::shown`].
    fn shown(&self, path: &Path) -> String {
        self.folders.shown(path)
    }

    /// `verb` on this target, as the reporter words it, for a hint.
    fn command(&self, verb: Verb) -> String {
        self.out.command(&verb.on(&self.target.name))
    }

    /// Exclusive lock on the state folder for one deploy or destroy; released when dropped.
    fn lock(&self) -> Result<File> {
        launcher::lock(&self.dir, LOCK_TIMEOUT, || {
            self.out
                .note("waiting for another deploy or destroy of this stack to finish");
        })
        .with_step(|| {
            format!(
                "cannot lock the local runtime's folder {}",
                self.shown(self.dir.path())
            )
        })
    }

    /// [`launcher::find`] for the commands that need a readable record: an unreadable or
    /// unresponsive one is an error that says how to get out.
    fn find_readable(&self) -> Result<Found> {
        let way_out = || {
            format!(
                "stop everything it ran with `{}`",
                self.command(Verb::Destroy)
            )
        };
        match launcher::find(&self.dir) {
            Ok(Found::Unreadable(err)) => Err(Error::local(
                format!(
                    "the local runtime's record in {} is unreadable; {}",
                    self.shown(self.dir.path()),
                    way_out()
                ),
                err,
            )),
            Ok(found) => Ok(found),
            Err(err) => Err(Error::local(way_out(), err)),
        }
    }

    /// The supervisor that runs the stack, or why there is none and what to do about it.
    fn running(&self) -> Result<Running> {
        let name = &self.target.name;
        match self.find_readable()? {
            Found::Running(running) => Ok(*running),
            Found::Dead(record) => Err(Error::Refused(Refusal::SupervisorGone {
                stack: name.clone(),
                pid: record.supervisor.pid,
                takeover: launcher::takeover(&self.dir, &record).map(Box::new),
                deploy: self.command(Verb::Deploy),
                destroy: self.command(Verb::Destroy),
            })),
            Found::Nothing => {
                let orphans: Vec<u32> = self
                    .dir
                    .marked_processes()
                    .iter()
                    .map(|p| p.id.pid)
                    .collect();
                if orphans.is_empty() {
                    return Err(Error::Refused(Refusal::NotRunning {
                        stack: name.clone(),
                        deploy: self.command(Verb::Deploy),
                    }));
                }
                Err(Error::Refused(Refusal::Orphans {
                    stack: name.clone(),
                    pids: pid_list(&orphans),
                    destroy: self.command(Verb::Destroy),
                }))
            }
            Found::Unreadable(err) => Err(err.into()),
        }
    }
}

/// The two binaries, checked to exist.
fn binaries(settings: &Settings) -> Result<Binaries> {
    let Binaries {
        supervisor,
        demo_app,
    } = &settings.binaries;
    for (binary, path) in [
        (LocalBinary::Supervisor, supervisor),
        (LocalBinary::DemoApp, demo_app),
    ] {
        if !path.is_file() {
            return Err(Error::MissingBinary {
                binary,
                path: settings.folders.shown(path),
            });
        }
    }
    Ok(settings.binaries.clone())
}

/// The supervisor to apply to: the one that runs; a new one that takes over the data plane and
/// tasks a dead one left serving (and rolls back the rollout it interrupted); or a new one once
/// whatever an earlier one left behind (after a crash, or with its record deleted) is stopped.
/// True when new and empty.
fn ensure_supervisor(
    local: &Local<'_>,
    found: Found,
    settings: &Settings,
) -> Result<(Running, bool)> {
    let (dir, name) = (&local.dir, &local.target.name);
    let records = match found {
        Found::Running(running) => return Ok((*running, false)),
        Found::Dead(record) => vec![record],
        Found::Nothing | Found::Unreadable(_) => Vec::new(),
    };
    let binaries = binaries(settings)?;
    if let Some(record) = records.first()
        && let Some(takeover) = launcher::takeover(dir, record)
    {
        local.out.note(format!(
            "the previous local runtime of {name} (pid {}) is gone; a new one takes over its data plane (pid {}) and tasks{}",
            record.supervisor.pid,
            takeover.dataplane.pid,
            takeover.rollout.map_or(String::new(), |r| format!(
                ", and rolls back the rollout of {} it interrupted",
                r.progress.service
            ))
        ));
        let (running, restart, _) = launcher::restart(dir, name, record.clone(), &binaries)
            .with_step(|| format!("cannot start the local runtime of {name}"))?;
        return Ok((running, restart == Restart::CleanStart));
    }
    let stopped = launcher::stop_leftovers(dir, &records)?;
    match (records.first(), stopped.is_empty()) {
        (Some(record), _) => local.out.note(format!(
            "the previous local runtime of {name} (pid {}) is gone{}{}; starting a new one",
            record.supervisor.pid,
            if record.dataplane.as_ref().is_some_and(|p| !p.is_running()) {
                ", its data plane too, so nothing serves that could be taken over"
            } else {
                ""
            },
            if stopped.is_empty() {
                String::new()
            } else {
                format!(" (stopped its leftover processes, {})", pid_list(&stopped))
            }
        )),
        (None, false) => local.out.note(format!(
            "stopped processes of an earlier local runtime of {name} that had no record ({})",
            pid_list(&stopped)
        )),
        (None, true) => {}
    }
    local.out.note(format!(
        "starting the local runtime of {name} in {}",
        local.shown(dir.path())
    ));
    let running = launcher::start(dir, name, &binaries)
        .with_step(|| format!("cannot start the local runtime of {name}"))?;
    Ok((running, true))
}

/// The failure of an apply: a first deploy leaves nothing running, a later one the previous
/// deployment.
fn apply_failed(local: &Local<'_>, running: &Running, fresh: bool, err: ControlError) -> Error {
    let (dir, name) = (&local.dir, &local.target.name);
    if fresh {
        let stopped = launcher::abandon(running, dir).unwrap_or_default();
        local.out.note(format!(
            "stopped the local runtime of {name} ({} process(es)); its logs stay in {}",
            stopped.len(),
            local.shown(dir.path())
        ));
        return Error::local(format!("local deploy of {name} failed"), err);
    }
    let what = match &err {
        ControlError::Api { .. } => "the previous deployment still runs".to_owned(),
        _ => format!("check `{}`", local.command(Verb::Status)),
    };
    Error::local(format!("local deploy of {name} failed ({what})"), err)
}

/// One note per Lambda lifecycle hook without a `localCommand`: the local rollout leaves it out
/// (local-runtime's `RolloutPlan`), so a rehearsal runs without it.
fn hooks_left_out(stack: &Stack) -> Vec<String> {
    let mut notes = Vec::new();
    for svc in &stack.spec().services {
        for hook in stack.deployment(svc).hooks {
            if HookAction::of(&hook).is_none() {
                let stages: Vec<&str> = hook.stages.iter().map(|s| s.as_str()).collect();
                notes.push(format!(
                    "note: {}'s Lambda hook at {} has no localCommand: a local rollout leaves it out (it runs on AWS only)",
                    svc.name,
                    stages.join(", ")
                ));
            }
        }
    }
    notes
}

/// A note for each service this deploy takes to a lower version than runs (both numbers): the
/// rollout app deploys version 1 unless told otherwise, which over version 11 is a downgrade.
fn downgrades(running: &model::StackSpec, desired: &Stack, out: &dyn Reporter) -> Vec<String> {
    let number = |v: &str| v.parse::<u64>().ok();
    desired
        .spec()
        .services
        .iter()
        .filter_map(|svc| {
            let before = running.services.iter().find(|s| s.name == svc.name)?;
            let (from, to) = (number(&before.version)?, number(&svc.version)?);
            (to < from).then(|| {
                format!(
                    "note: {} goes from version {from} down to {to}, a downgrade: deploy with {} {from} to keep it, or a higher one to move on",
                    svc.name,
                    out.input(Input::Version)
                )
            })
        })
        .collect()
}

/// The first `deploy --local` after the model changed: what changed, what was done, how long
/// it took.
fn show_applied(out: &dyn Reporter, name: &str, response: &ApplyResponse, started: Instant) {
    if response.changes.is_empty() {
        out.line(format!(
            "no changes: {name} already runs this model locally"
        ));
        return;
    }
    for change in &response.changes {
        out.line(change);
    }
    for action in &response.actions {
        out.line(format!("  {action}"));
    }
    out.line(format!(
        "healthy in {:.2} s ({:.2} s with start-up)",
        response.elapsed_ms as f64 / 1000.0,
        started.elapsed().as_secs_f64()
    ));
}

/// Deploys `request.target` to the local runtime: builds the binaries (per the backend's
/// settings), starts the supervisor unless one runs, applies the model and, when the apply
/// started a rollout, follows it to its end.
pub fn deploy(
    backend: &LocalBackend,
    request: &DeployRequest,
    out: &dyn Reporter,
) -> Result<Deployed> {
    let (settings, options) = (&backend.settings, &backend.options);
    let local = Local::new(request.target.named.clone(), &settings.folders, out);
    let lock_held = local.lock()?;
    let found = local.find_readable()?;
    let stack = local.desired_stack(&request.target, &found, options)?;
    if let Found::Running(running) = &found
        && let Some(spec) = &running.status.spec
    {
        for note in downgrades(spec, &stack, out) {
            out.note(note);
        }
    }
    for note in hooks_left_out(&stack) {
        out.note(note);
    }
    crate::detection::report(&stack, out);
    if let Some(build) = &settings.build {
        build.build(out)?;
    }

    let started = Instant::now();
    let (running, fresh) = ensure_supervisor(&local, found, settings)?;
    let apply = ApplyRequest {
        spec: stack.spec().clone(),
        gateway_port: settings.gateway_port,
        health_timeout_ms: u64::try_from(settings.health_timeout.as_millis()).unwrap_or(u64::MAX),
        minute_ms: options
            .minute
            .map(|m| u64::try_from(m.as_millis()).unwrap_or(u64::MAX)),
    };
    // Start-up, drain and stop are each bounded by the supervisor; this bounds them together.
    let timeout = settings.health_timeout * 2 + Duration::from_secs(60);
    let response = running
        .client
        .apply(&apply, timeout)
        .map_err(|err| apply_failed(&local, &running, fresh, err))?;
    show_applied(out, &local.target.name, &response, started);
    show::print_status(out, &response.status, &local.dir, local.folders);
    if response
        .status
        .rollout
        .as_ref()
        .is_some_and(|r| !r.progress.status.is_terminal())
    {
        // The supervisor refuses another deploy while the rollout runs; the lock need not.
        drop(lock_held);
        let rollouts = rollout::follow(&local, &running.client)?;
        return Ok(Deployed::Applied { rollouts });
    }
    if fresh {
        show::hint(out, &response.status);
        out.line(format!("stop it with: {}", local.command(Verb::Destroy)));
    }
    if response.changes.is_empty() {
        return Ok(Deployed::NoChanges);
    }
    Ok(Deployed::Applied {
        rollouts: Rollouts::NotFollowed,
    })
}

/// Stops everything the local runtime of `request.target` runs (found by record and by
/// marker) and removes its folder.
pub fn destroy(
    backend: &LocalBackend,
    request: &DestroyRequest,
    out: &dyn Reporter,
) -> Result<Destroyed> {
    let folders = &backend.settings.folders;
    let local = Local::new(request.target.named().clone(), folders, out);
    let (dir, name) = (&local.dir, &local.target.name);
    if !dir.exists() {
        out.line(format!("nothing to destroy: {name} is not running locally"));
        return Ok(Destroyed::Absent);
    }
    let lock = local.lock()?;
    // Whatever the record says, every process carrying the folder's marker is stopped after.
    let launcher::StoppedAll {
        pids: stopped,
        record_problem,
    } = launcher::stop_everything(dir)?;
    match record_problem {
        Some(launcher::RecordProblem::Unreadable(err)) => out.note(format!(
            "{}; finding its processes by their marker",
            model::error_chain(&err)
        )),
        Some(launcher::RecordProblem::Unresponsive(err)) => out.note(format!(
            "{}; stopping it and its tasks",
            model::error_chain(&err)
        )),
        None => {}
    }
    drop(lock);
    dir.remove()
        .with_step(|| format!("cannot remove {}", local.shown(dir.path())))?;
    if stopped.is_empty() {
        out.line(format!(
            "{name}: no process was running; removed {}",
            local.shown(dir.path())
        ));
    } else {
        out.line(format!(
            "stopped {name}: {} process(es) ({}); removed {}",
            stopped.len(),
            pid_list(&stopped),
            local.shown(dir.path())
        ));
    }
    Ok(Destroyed::Stopped { pids: stopped })
}

/// What the local runtime of `request.target` runs, and whether its `state.json` copy
/// disagrees ([`StatusReport::Local`]).
pub fn status(
    backend: &LocalBackend,
    request: &StatusRequest,
    out: &dyn Reporter,
) -> Result<StatusReport> {
    let folders = &backend.settings.folders;
    let local = Local::new(request.target.named().clone(), folders, out);
    let running = local.running()?;
    let state = state::running_state(&running.status);
    let file = state::read_state_file(&local.dir, folders)?;
    let state_file_problem = state::state_file_problem(&local.dir, folders, &file, state.as_ref());
    Ok(StatusReport::Local(Box::new(LocalStatus {
        status: running.status,
        state_file_problem,
    })))
}

/// Prints `status` of `target` as `status --local` shows it.
pub fn show_status(
    backend: &LocalBackend,
    target: &Named,
    status: &LocalStatus,
    out: &dyn Reporter,
) {
    let folders = &backend.settings.folders;
    let dir = StateDir::new(&folders.target_dir, &target.name);
    show::print_status(out, &status.status, &dir, folders);
}

/// What a local deploy of `request.target` would change in what runs (a blue-green stack
/// starts from where the backend's [`Options::start_from`] says, as a deploy would).
pub fn diff(backend: &LocalBackend, request: &DiffRequest, out: &dyn Reporter) -> Result<Diffed> {
    let folders = &backend.settings.folders;
    let target = &request.target;
    let local = Local::new(target.named.clone(), folders, out);
    let found = local.find_readable()?;
    let stack = local.desired_stack(target, &found, &backend.options)?;
    crate::detection::report(&stack, out);
    let new = LocalPlan::from_stack(&stack);
    let (old, running) = match found {
        Found::Running(running) => {
            let spec = running.status.spec.clone();
            let old = spec
                .map(|spec| Stack::new(spec).map(|s| LocalPlan::from_stack(&s)))
                .transpose()
                .step("the running model no longer validates")?;
            (old, true)
        }
        _ => (None, false),
    };
    let changes: Vec<Change> = changes::diff(old.as_ref(), &new);
    Ok(Diffed {
        stack_name: target.named.name.clone(),
        exists: running,
        changes: crate::outcome::Changes::Local(changes),
        notes: Vec::new(),
    })
}

/// Runs a blocking local flow on a thread of its own and waits for it: the control client
/// drives its requests on a runtime of its own, which cannot start on a thread that drives an
/// async runtime (the caller's executor).
fn on_own_thread<T: Send>(flow: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| scope.spawn(flow).join())
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

impl Backend for LocalBackend {
    async fn deploy(&self, request: &DeployRequest, out: &dyn Reporter) -> Result<Deployed> {
        on_own_thread(|| deploy(self, request, out))
    }

    async fn diff(&self, request: &DiffRequest, out: &dyn Reporter) -> Result<Diffed> {
        on_own_thread(|| diff(self, request, out))
    }

    async fn destroy(&self, request: &DestroyRequest, out: &dyn Reporter) -> Result<Destroyed> {
        on_own_thread(|| destroy(self, request, out))
    }

    async fn status(&self, request: &StatusRequest, out: &dyn Reporter) -> Result<StatusReport> {
        on_own_thread(|| status(self, request, out))
    }

    async fn watch(&self, request: &RolloutRequest, out: &dyn Reporter) -> Result<Rollouts> {
        on_own_thread(|| watch(self, request, out))
    }

    async fn rollback(&self, request: &RolloutRequest, out: &dyn Reporter) -> Result<()> {
        on_own_thread(|| rollback(self, request, out))
    }

    async fn continue_paused(&self, request: &RolloutRequest, out: &dyn Reporter) -> Result<()> {
        on_own_thread(|| continue_paused(self, request, out))
    }
}

#[cfg(test)]
mod tests {
    use model::StrategyKind;
    use model::examples::{self, RolloutInputs};

    use super::*;

    fn rollout(version: u32) -> Stack {
        let inputs = RolloutInputs {
            version,
            strategy: StrategyKind::Linear,
        };
        Stack::new(examples::rollout("rollout", &inputs)).unwrap()
    }

    /// `deploy rollout --local` without `--version` over version 11 plans `11 -> 1`: it says
    /// that this is a downgrade and which flag keeps the version.
    #[test]
    fn a_lower_version_than_runs_is_called_a_downgrade() {
        let running = rollout(11).into_spec();
        let out: &dyn Reporter = &crate::Recorder::new();
        assert_eq!(
            downgrades(&running, &rollout(1), out),
            [
                "note: web goes from version 11 down to 1, a downgrade: deploy with Choice::version 11 to keep it, or a higher one to move on"
            ]
        );
        let flags = crate::Recorder::new().inputs(|input| format!("--{input:?}").to_lowercase());
        assert_eq!(
            downgrades(&running, &rollout(1), &flags),
            [
                "note: web goes from version 11 down to 1, a downgrade: deploy with --version 11 to keep it, or a higher one to move on"
            ]
        );
        assert!(downgrades(&running, &rollout(11), out).is_empty());
        assert!(downgrades(&running, &rollout(12), out).is_empty());
        // Versions that are not numbers have no order to judge.
        let mut named = rollout(11).into_spec();
        named
            .services
            .iter_mut()
            .for_each(|s| s.version = "blue".into());
        assert!(downgrades(&named, &rollout(1), out).is_empty());
    }
}
