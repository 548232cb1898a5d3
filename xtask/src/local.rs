//! diff, deploy, destroy and status on the local runtime (SPEC §7)
//!
//! `deploy --local` builds `demo-app` and the `meshtest-local` supervisor, starts the supervisor
//! in the background (its own process group, its log in the state folder) unless one already runs
//! for the stack, sends it the model through its control API and prints the endpoints once every
//! task is healthy. The other commands read `target/local/<stack>/runtime.json` to find it; when
//! that record is gone or corrupt, `destroy` (and a deploy after a crash) still finds every
//! process by the marker in its environment (`local_runtime::process::Marker`).
//!
//! The blue-green state lives with the supervisor (its `GET /status`): while it runs, `state.json`
//! is only a copy, and a copy that disagrees is reported and used only with `--force`.
//!
//! Settings from the environment (documented in ARCHITECTURE.md):
//! `MESHTEST_LOCAL_GATEWAY_PORT` (default: the gateway's listener port, 0: any free port),
//! `MESHTEST_LOCAL_HEALTH_TIMEOUT_MS` (default 10000), `MESHTEST_LOCAL_PROFILE` (`debug` or
//! `release`, default debug), `MESHTEST_LOCAL_DEMO_APP` (run this binary instead of building
//! demo-app) and `MESHTEST_LOCAL_NO_BUILD` (use the binaries already built; see [`env_flag`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use local_runtime::changes::{self, Change};
use local_runtime::control::{ApplyRequest, ApplyResponse, ControlError, DEFAULT_HEALTH_TIMEOUT};
use local_runtime::launcher::{self, Binaries, Found, Running};
use local_runtime::plan::LocalPlan;
use local_runtime::rollout::HookAction;
use local_runtime::state_dir::{RuntimeRecord, StateDir};
use model::Stack;

use deploy::report::Reporter;
use deploy::settings::{env_flag, env_var};
use deploy::target::Resolved;

use crate::cli::{DeployArgs, DestroyArgs, DiffArgs, Outcome, StatusArgs};
use crate::synth;
use show::pid_list;

mod rollout;
mod show;
mod state;
pub(crate) use rollout::{continue_paused, rollback, watch};

/// Longer than any one deploy or destroy takes (their own waits are bounded).
const LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// Local runtime settings read from the environment.
#[derive(Debug)]
struct Settings {
    gateway_port: Option<u16>,
    health_timeout: Duration,
    profile: String,
    demo_app: Option<PathBuf>,
    build: bool,
}

impl Settings {
    fn from_env() -> Result<Settings> {
        let gateway_port = env_var("MESHTEST_LOCAL_GATEWAY_PORT")
            .map(|v| {
                v.trim().parse::<u16>().with_context(|| {
                    format!("MESHTEST_LOCAL_GATEWAY_PORT={v:?} is not a port number")
                })
            })
            .transpose()?;
        let health_timeout = env_var("MESHTEST_LOCAL_HEALTH_TIMEOUT_MS")
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(Duration::from_millis)
                    .with_context(|| format!("MESHTEST_LOCAL_HEALTH_TIMEOUT_MS={v:?} is not a positive number of milliseconds"))
            })
            .transpose()?
            .unwrap_or(DEFAULT_HEALTH_TIMEOUT);
        let profile = env_var("MESHTEST_LOCAL_PROFILE").unwrap_or_else(|| "debug".to_owned());
        if profile != "debug" && profile != "release" {
            bail!("MESHTEST_LOCAL_PROFILE={profile:?} is not `debug` or `release`");
        }
        Ok(Settings {
            gateway_port,
            health_timeout,
            profile,
            demo_app: env_var("MESHTEST_LOCAL_DEMO_APP").map(PathBuf::from),
            build: !env_flag("MESHTEST_LOCAL_NO_BUILD")?,
        })
    }
}

/// A path as the user would type it from the workspace root.
fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&cwd)
        .or_else(|_| path.strip_prefix(synth::workspace_root()))
        .unwrap_or(path)
        .display()
        .to_string()
}

/// One local command's target, resolved once: its stack name names the state folder, its
/// label the commands a hint names; everything the command says goes to `out`.
struct Local<'a> {
    target: Resolved,
    dir: StateDir,
    out: &'a dyn Reporter,
}

impl<'a> Local<'a> {
    fn new(target: Resolved, out: &'a dyn Reporter) -> Local<'a> {
        let dir = StateDir::new(&synth::target_dir(), &target.name);
        Local { target, dir, out }
    }

    /// `cargo xtask <verb> <target> --local`, for a hint.
    fn command(&self, verb: &str) -> String {
        format!("cargo xtask {verb} {} --local", self.target.label)
    }

    /// Exclusive lock on the state folder for one deploy or destroy; released when dropped.
    fn lock(&self) -> Result<File> {
        launcher::lock(&self.dir, LOCK_TIMEOUT, || {
            self.out
                .note("waiting for another deploy or destroy of this stack to finish");
        })
        .with_context(|| {
            format!(
                "cannot lock the local runtime's folder {}",
                shown(self.dir.path())
            )
        })
    }

    /// [`launcher::find`] for the commands that need a readable record: an unreadable or
    /// unresponsive one is an error that says how to get out.
    fn find_readable(&self) -> Result<Found> {
        let way_out = || format!("stop everything it ran with `{}`", self.command("destroy"));
        match launcher::find(&self.dir) {
            Ok(Found::Unreadable(err)) => Err(anyhow::Error::new(err).context(format!(
                "the local runtime's record in {} is unreadable; {}",
                shown(self.dir.path()),
                way_out()
            ))),
            Ok(found) => Ok(found),
            Err(err) => Err(anyhow::Error::new(err).context(way_out())),
        }
    }

    /// The supervisor that runs the stack, or why there is none and what to do about it.
    fn running(&self) -> Result<Running> {
        let name = &self.target.name;
        match self.find_readable()? {
            Found::Running(running) => Ok(*running),
            Found::Dead(record) => bail!(
                "{name} is not running locally: its supervisor (pid {}) is gone; clean up with `{}`",
                record.supervisor.pid,
                self.command("destroy")
            ),
            Found::Nothing => {
                let orphans: Vec<u32> = self
                    .dir
                    .marked_processes()
                    .iter()
                    .map(|p| p.id.pid)
                    .collect();
                if orphans.is_empty() {
                    bail!(
                        "{name} is not running locally: start it with `{}`",
                        self.command("deploy")
                    )
                }
                bail!(
                    "{name} has no runtime record but processes of it still run ({}); stop them with `{}`",
                    pid_list(&orphans),
                    self.command("destroy")
                )
            }
            Found::Unreadable(err) => Err(err.into()),
        }
    }
}

fn cargo_build(settings: &Settings, out: &dyn Reporter) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(synth::workspace_root()).arg("build");
    if settings.profile == "release" {
        command.arg("--release");
    }
    command.args([
        "-p",
        "local-runtime",
        "--bin",
        local_runtime::SUPERVISOR_BIN,
    ]);
    let what = if settings.demo_app.is_none() {
        command.args(["-p", "demo-app", "--bin", "demo-app"]);
        "demo-app and meshtest-local"
    } else {
        "meshtest-local"
    };
    out.note(format!("building {what} ({} profile)", settings.profile));
    // stdout and stderr are inherited: cargo's progress shows as it happens.
    let status = command.status().context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build of {what} failed ({status})");
    }
    Ok(())
}

/// The two binaries, checked to exist.
fn binaries(settings: &Settings) -> Result<Binaries> {
    let dir = synth::target_dir().join(&settings.profile);
    let supervisor = dir.join(local_runtime::SUPERVISOR_BIN);
    let demo_app = settings
        .demo_app
        .clone()
        .unwrap_or_else(|| dir.join("demo-app"));
    for (what, path) in [("supervisor", &supervisor), ("demo-app", &demo_app)] {
        if !path.is_file() {
            bail!(
                "missing {what} binary {}: build it with `cargo build -p {}`{}",
                shown(path),
                if what == "demo-app" {
                    "demo-app"
                } else {
                    "local-runtime"
                },
                if settings.build {
                    ""
                } else {
                    " (MESHTEST_LOCAL_NO_BUILD is set)"
                }
            );
        }
    }
    Ok(Binaries {
        supervisor,
        demo_app,
    })
}

/// The supervisor to apply to: the one that runs, or a new one once whatever an earlier one
/// left behind (after a crash, or with its record deleted) is stopped. True when new.
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
    let stopped = launcher::stop_leftovers(dir, &records)?;
    match (records.first(), stopped.is_empty()) {
        (Some(record), _) => local.out.note(format!(
            "the previous local runtime of {name} (pid {}) is gone{}; starting a new one",
            record.supervisor.pid,
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
        shown(dir.path())
    ));
    let running = launcher::start(dir, name, &binaries)
        .with_context(|| format!("cannot start the local runtime of {name}"))?;
    Ok((running, true))
}

/// The failure of an apply: a first deploy leaves nothing running, a later one the previous
/// deployment.
fn apply_failed(
    local: &Local<'_>,
    running: &Running,
    fresh: bool,
    err: ControlError,
) -> anyhow::Error {
    let (dir, name) = (&local.dir, &local.target.name);
    if fresh {
        let stopped = launcher::shut_down(running, dir).unwrap_or_default();
        let _ = std::fs::remove_file(dir.runtime_file());
        local.out.note(format!(
            "stopped the local runtime of {name} ({} process(es)); its logs stay in {}",
            stopped.len(),
            shown(dir.path())
        ));
        return anyhow::Error::new(err).context(format!("local deploy of {name} failed"));
    }
    let what = match &err {
        ControlError::Api { .. } => "the previous deployment still runs",
        _ => "check `cargo xtask status --local`",
    };
    anyhow::Error::new(err).context(format!("local deploy of {name} failed ({what})"))
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

pub fn deploy(args: &DeployArgs, out: &dyn Reporter) -> Result<Outcome> {
    let settings = Settings::from_env()?;
    if args.image.is_some() || args.allow_cidr.is_some() {
        out.note(
            "note: --image and --allow-cidr only apply to AWS; every local task runs demo-app on 127.0.0.1",
        );
    }
    let local = Local::new(
        args.target
            .resolve(args.build.version, args.build.strategy)?,
        out,
    );
    let lock_held = local.lock()?;
    let found = local.find_readable()?;
    let stack = local.desired_stack(&found, args.force)?;
    let stack = rollout::with_env(stack, &args.env, out)?;
    for note in hooks_left_out(&stack) {
        out.note(note);
    }
    if settings.build {
        cargo_build(&settings, out)?;
    }

    let started = Instant::now();
    let (running, fresh) = ensure_supervisor(&local, found, &settings)?;
    let request = ApplyRequest {
        spec: stack.spec().clone(),
        gateway_port: settings.gateway_port,
        health_timeout_ms: u64::try_from(settings.health_timeout.as_millis()).unwrap_or(u64::MAX),
        minute_ms: args
            .minute
            .map(|m| u64::try_from(m.as_millis()).unwrap_or(u64::MAX)),
    };
    // Start-up, drain and stop are each bounded by the supervisor; this bounds them together.
    let timeout = settings.health_timeout * 2 + Duration::from_secs(60);
    let response = running
        .client
        .apply(&request, timeout)
        .map_err(|err| apply_failed(&local, &running, fresh, err))?;
    show_applied(out, &local.target.name, &response, started);
    show::print_status(out, &response.status, &local.dir);
    if response
        .status
        .rollout
        .as_ref()
        .is_some_and(|r| !r.progress.status.is_terminal())
    {
        // The supervisor refuses another deploy while the rollout runs; the lock need not.
        drop(lock_held);
        return rollout::follow(&local, &running.client);
    }
    if fresh {
        show::hint(out, &response.status);
        out.line(format!("stop it with: {}", local.command("destroy")));
    }
    Ok(Outcome::Success)
}

pub fn destroy(args: &DestroyArgs, out: &dyn Reporter) -> Result<Outcome> {
    let local = Local::new(args.target.resolve(None, None)?, out);
    let (dir, name) = (&local.dir, &local.target.name);
    if !dir.exists() {
        out.line(format!("nothing to destroy: {name} is not running locally"));
        return Ok(Outcome::Success);
    }
    let lock = local.lock()?;
    // Whatever the record says, every process carrying the folder's marker is stopped after.
    let mut stopped = match launcher::find(dir) {
        Ok(Found::Running(running)) => launcher::shut_down(&running, dir)?,
        Ok(Found::Dead(record)) => launcher::stop_leftovers(dir, &[record])?,
        Ok(Found::Nothing) => Vec::new(),
        Ok(Found::Unreadable(err)) => {
            let err = anyhow::Error::new(err);
            out.note(format!("{err:#}; finding its processes by their marker"));
            Vec::new()
        }
        Err(err) => {
            let err = anyhow::Error::new(err);
            out.note(format!("{err:#}; stopping it and its tasks"));
            Vec::new()
        }
    };
    let records: Vec<RuntimeRecord> = dir.read_runtime().ok().flatten().into_iter().collect();
    stopped.extend(launcher::stop_leftovers(dir, &records)?);
    stopped.sort_unstable();
    stopped.dedup();
    drop(lock);
    dir.remove()
        .with_context(|| format!("cannot remove {}", shown(dir.path())))?;
    if stopped.is_empty() {
        out.line(format!(
            "{name}: no process was running; removed {}",
            shown(dir.path())
        ));
    } else {
        out.line(format!(
            "stopped {name}: {} process(es) ({}); removed {}",
            stopped.len(),
            pid_list(&stopped),
            shown(dir.path())
        ));
    }
    Ok(Outcome::Success)
}

pub fn status(args: &StatusArgs, out: &dyn Reporter) -> Result<Outcome> {
    let local = Local::new(args.target.resolve(None, None)?, out);
    let running = local.running()?;
    if args.json {
        out.line(serde_json::to_string_pretty(&running.status)?);
    } else {
        show::print_status(out, &running.status, &local.dir);
    }
    let state = state::running_state(&running.status)?;
    let file = state::read_state_file(&local.dir)?;
    if let Some(problem) = state::state_file_problem(&local.dir, &file, state.as_ref()) {
        bail!(
            "{problem}; the next deploy uses what runs and rewrites it (`--force` deploys from the file instead)"
        );
    }
    Ok(Outcome::Success)
}

pub fn diff(args: &DiffArgs, out: &dyn Reporter) -> Result<Outcome> {
    let local = Local::new(
        args.target
            .resolve(args.build.version, args.build.strategy)?,
        out,
    );
    let found = local.find_readable()?;
    let stack = local.desired_stack(&found, args.force)?;
    let new = LocalPlan::from_stack(&stack);
    let (old, running) = match found {
        Found::Running(running) => {
            let spec = running.status.spec.clone();
            let old = spec
                .map(|spec| Stack::new(spec).map(|s| LocalPlan::from_stack(&s)))
                .transpose()
                .context("the running model no longer validates")?;
            (old, true)
        }
        _ => (None, false),
    };
    let changes: Vec<Change> = changes::diff(old.as_ref(), &new);
    if args.json {
        out.line(serde_json::to_string_pretty(&changes)?);
    } else {
        out.line(format!(
            "Stack {} (local{})",
            local.target.name,
            if running {
                ""
            } else {
                ": not running, a deploy starts everything"
            }
        ));
        if changes.is_empty() {
            out.line("There were no differences");
        }
        for change in &changes {
            out.line(change);
        }
    }
    Ok(Outcome::of(!args.fail || changes.is_empty()))
}
