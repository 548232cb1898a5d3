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
use local_runtime::control::{ApplyRequest, ControlError, DEFAULT_HEALTH_TIMEOUT, Status};
use local_runtime::launcher::{self, Binaries, Found, Running};
use local_runtime::plan::{GatewayRoutePlan, GatewayTarget, LocalPlan, NameTarget};
use local_runtime::state_dir::{RuntimeRecord, StateDir};
use model::Stack;
use state_store::BlueGreenState;

use crate::cli::{DeployArgs, DestroyArgs, DiffArgs, Outcome, StatusArgs, StrategyArg, Target};
mod rollout;
use crate::synth;
use deploy::settings::env_var;
pub(crate) use rollout::{continue_paused, rollback, watch};
// `pub(crate)`: the local commands' other modules read their flags through it too
pub(crate) use deploy::settings::env_flag;

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

fn state_dir(name: &str) -> StateDir {
    StateDir::new(&synth::target_dir(), name)
}

/// Exclusive lock on the state folder for one deploy or destroy; released when dropped.
fn lock(dir: &StateDir) -> Result<File> {
    launcher::lock(dir, LOCK_TIMEOUT, || {
        eprintln!("waiting for another deploy or destroy of this stack to finish");
    })
    .with_context(|| {
        format!(
            "cannot lock the local runtime's folder {}",
            shown(dir.path())
        )
    })
}

/// The command that stops everything of `target` and removes its folder: the way out of any
/// state the folder can be in.
fn destroy_command(target: &Target) -> String {
    match &target.stack_name {
        Some(name) => format!(
            "cargo xtask destroy {} --local --stack-name {name}",
            target.app
        ),
        None => format!("cargo xtask destroy {} --local", target.app),
    }
}

/// `state.json` as read from the folder.
enum StateFile {
    Missing,
    Valid(BlueGreenState),
    /// It exists but does not parse: why.
    Invalid(String),
}

fn read_state_file(dir: &StateDir) -> Result<StateFile> {
    let text = dir
        .read_blue_green_state()
        .with_context(|| format!("cannot read {}", shown(&dir.state_file())))?;
    Ok(match text.map(|t| BlueGreenState::from_json(&t)) {
        None => StateFile::Missing,
        Some(Ok(state)) => StateFile::Valid(state),
        Some(Err(err)) => StateFile::Invalid(err.to_string()),
    })
}

/// `blue:1 green:2`
fn versions(state: &BlueGreenState) -> String {
    let v = state.versions();
    format!("blue:{} green:{}", v.blue, v.green)
}

/// The blue-green state the supervisor runs, from its status.
fn running_state(status: &Status) -> Result<Option<BlueGreenState>> {
    status
        .blue_green_state
        .as_deref()
        .map(BlueGreenState::from_json)
        .transpose()
        .context("the local runtime reports a blue-green state that does not parse")
}

/// What is wrong with `state.json` given what runs: not valid, or not what runs.
fn state_file_problem(
    dir: &StateDir,
    file: &StateFile,
    running: Option<&BlueGreenState>,
) -> Option<String> {
    let path = shown(&dir.state_file());
    match (file, running) {
        (StateFile::Invalid(why), _) => Some(format!("{path} is not valid: {why}")),
        (StateFile::Valid(file), Some(running)) if file != running => Some(format!(
            "{path} says {} but the local runtime runs {}",
            versions(file),
            versions(running)
        )),
        _ => None,
    }
}

/// The blue-green state to start from: what the supervisor runs when it runs (`state.json` is
/// its copy, reported when it disagrees), the file when nothing runs or with `force`.
fn blue_green_state(
    dir: &StateDir,
    running: Option<&Status>,
    force: bool,
) -> Result<Option<BlueGreenState>> {
    let file = read_state_file(dir)?;
    let running = running.map(running_state).transpose()?.flatten();
    let problem = state_file_problem(dir, &file, running.as_ref());
    match (file, running) {
        (StateFile::Invalid(_), _) if force || running.is_none() => {
            let problem = problem.unwrap_or_default();
            bail!(
                "{problem}; fix or delete it (a deploy then starts from what runs, or from version 1)"
            )
        }
        (StateFile::Valid(file), _) if force => {
            if let Some(problem) = &problem {
                eprintln!("warning: {problem}; using the file (--force)");
            }
            Ok(Some(file))
        }
        (_, Some(running)) => {
            if let Some(problem) = &problem {
                eprintln!(
                    "warning: {problem}; using what runs (--force uses the file; the next deploy rewrites it)"
                );
            }
            Ok(Some(running))
        }
        (StateFile::Valid(file), None) => Ok(Some(file)),
        (StateFile::Missing | StateFile::Invalid(_), None) => Ok(None),
    }
}

/// The model to run: the app's stack at `version`; for bluegreen, from [`blue_green_state`].
fn desired_stack(
    target: &Target,
    version: Option<u32>,
    strategy: Option<StrategyArg>,
    dir: &StateDir,
    found: &Found,
    force: bool,
) -> Result<Stack> {
    let resolved = target.resolve(version, strategy)?;
    let state = if resolved.state_parameter().is_some() {
        let running = match found {
            Found::Running(running) => Some(&running.status),
            _ => None,
        };
        blue_green_state(dir, running, force)?
    } else {
        None
    };
    Ok(resolved.build(state.as_ref())?.stack)
}

/// The stack name of `target`, checked.
fn stack_name(target: &Target) -> Result<String> {
    Ok(target.resolve(None, None)?.name)
}

/// The supervisor of `target`'s stack (for `status --watch`, `rollback` and `continue`).
pub(crate) fn find_stack(target: &Target) -> Result<Found> {
    find_readable(&state_dir(&stack_name(target)?), target)
}

/// [`launcher::find`] for the commands that need a readable record: an unreadable or unresponsive one
/// is an error that says how to get out.
fn find_readable(dir: &StateDir, target: &Target) -> Result<Found> {
    let way_out = || format!("stop everything it ran with `{}`", destroy_command(target));
    match launcher::find(dir) {
        Ok(Found::Unreadable(err)) => Err(anyhow::Error::new(err).context(format!(
            "the local runtime's record in {} is unreadable; {}",
            shown(dir.path()),
            way_out()
        ))),
        Ok(found) => Ok(found),
        Err(err) => Err(anyhow::Error::new(err).context(way_out())),
    }
}

fn cargo_build(settings: &Settings) -> Result<()> {
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
    eprintln!("building {what} ({} profile)", settings.profile);
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

fn print_status(status: &Status, dir: &StateDir) {
    println!(
        "{} runs locally (state in {})",
        status.stack,
        shown(dir.path())
    );
    if let Some(g) = &status.gateway {
        println!(
            "  gateway {:<16} {}   {}",
            g.name,
            g.url,
            g.routes
                .iter()
                .map(GatewayRoutePlan::describe)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for svc in &status.services {
        println!(
            "  service {:<16} {}   version {}, {}/{} task{}{}",
            svc.name,
            svc.url,
            svc.version,
            svc.tasks.len(),
            svc.desired_count,
            if svc.desired_count == 1 { "" } else { "s" },
            if svc.restarts > 0 {
                format!(", {} restart(s)", svc.restarts)
            } else {
                String::new()
            }
        );
        for task in &svc.tasks {
            println!(
                "    task {:<18} {}   pid {}, log {}",
                task.id,
                task.url,
                task.pid,
                shown(Path::new(&task.log))
            );
        }
    }
    let names: Vec<String> = status
        .names
        .iter()
        .map(|n| {
            if n.port == 80 {
                n.name.clone()
            } else {
                format!("{}:{}", n.name, n.port)
            }
        })
        .collect();
    if !names.is_empty() {
        println!(
            "  mesh names (from inside the services, through {}): {}",
            status.egress_url,
            names.join(", ")
        );
    }
    if let Some(state) = &status.blue_green_state {
        println!("  blue-green state {state}");
    }
    if let Some(rollout) = &status.rollout {
        rollout::print(rollout);
    }
}

/// One example command that shows routing on what runs.
fn hint(status: &Status) {
    if let Some(g) = &status.gateway {
        // A route to a router shows the weighted split; any route will do otherwise.
        let is_router = |vs: &str| {
            status
                .names
                .iter()
                .any(|n| n.name == vs && matches!(n.target, NameTarget::Router(_)))
        };
        let to_router = |r: &&GatewayRoutePlan| matches!(&r.target, GatewayTarget::VirtualService { name } if is_router(name));
        let path = g
            .routes
            .iter()
            .find(to_router)
            .or(g.routes.first())
            .map_or("/", |r| r.prefix.as_str());
        println!("try: curl {}{}", g.url, if path == "/" { "" } else { path });
    } else if let (Some(a), Some(b)) = (status.services.first(), status.services.get(1))
        && let Some(name) = status
            .names
            .iter()
            .find(|n| n.target == NameTarget::Service(a.name.clone()))
    {
        // The seed's Service Connect demo: the second service calls the first by its name.
        println!("try: curl {}/downstream/{}", b.url, name.name);
    }
}

/// `pids 1, 2`
fn pid_list(pids: &[u32]) -> String {
    let list: Vec<String> = pids.iter().map(ToString::to_string).collect();
    format!(
        "pid{} {}",
        if pids.len() == 1 { "" } else { "s" },
        list.join(", ")
    )
}

/// The supervisor to apply to: the one that runs, or a new one once whatever an earlier one
/// left behind (after a crash, or with its record deleted) is stopped. True when new.
fn ensure_supervisor(
    dir: &StateDir,
    name: &str,
    found: Found,
    settings: &Settings,
) -> Result<(Running, bool)> {
    let records = match found {
        Found::Running(running) => return Ok((*running, false)),
        Found::Dead(record) => vec![record],
        Found::Nothing | Found::Unreadable(_) => Vec::new(),
    };
    let binaries = binaries(settings)?;
    let stopped = launcher::stop_leftovers(dir, &records)?;
    match (records.first(), stopped.is_empty()) {
        (Some(record), _) => eprintln!(
            "the previous local runtime of {name} (pid {}) is gone{}; starting a new one",
            record.supervisor.pid,
            if stopped.is_empty() {
                String::new()
            } else {
                format!(" (stopped its leftover processes, {})", pid_list(&stopped))
            }
        ),
        (None, false) => eprintln!(
            "stopped processes of an earlier local runtime of {name} that had no record ({})",
            pid_list(&stopped)
        ),
        (None, true) => {}
    }
    eprintln!(
        "starting the local runtime of {name} in {}",
        shown(dir.path())
    );
    let running = launcher::start(dir, name, &binaries)
        .with_context(|| format!("cannot start the local runtime of {name}"))?;
    Ok((running, true))
}

/// The failure of an apply: a first deploy leaves nothing running, a later one the previous
/// deployment.
fn apply_failed(
    running: &Running,
    dir: &StateDir,
    name: &str,
    fresh: bool,
    err: ControlError,
) -> anyhow::Error {
    if fresh {
        let stopped = launcher::shut_down(running, dir).unwrap_or_default();
        let _ = std::fs::remove_file(dir.runtime_file());
        eprintln!(
            "stopped the local runtime of {name} ({} process(es)); its logs stay in {}",
            stopped.len(),
            shown(dir.path())
        );
        return anyhow::Error::new(err).context(format!("local deploy of {name} failed"));
    }
    let what = match &err {
        ControlError::Api { .. } => "the previous deployment still runs",
        _ => "check `cargo xtask status --local`",
    };
    anyhow::Error::new(err).context(format!("local deploy of {name} failed ({what})"))
}

pub fn deploy(args: &DeployArgs) -> Result<Outcome> {
    let settings = Settings::from_env()?;
    if args.image.is_some() || args.allow_cidr.is_some() {
        eprintln!(
            "note: --image and --allow-cidr only apply to AWS; every local task runs demo-app on 127.0.0.1"
        );
    }
    let name = stack_name(&args.target)?;
    let dir = state_dir(&name);
    let lock_held = lock(&dir)?;
    let found = find_readable(&dir, &args.target)?;
    let stack = desired_stack(
        &args.target,
        args.build.version,
        args.build.strategy,
        &dir,
        &found,
        args.force,
    )?;
    let stack = rollout::with_env(stack, &args.env)?;
    if settings.build {
        cargo_build(&settings)?;
    }

    let started = Instant::now();
    let (running, fresh) = ensure_supervisor(&dir, &name, found, &settings)?;
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
        .map_err(|err| apply_failed(&running, &dir, &name, fresh, err))?;
    if response.changes.is_empty() {
        println!("no changes: {name} already runs this model locally");
    } else {
        for change in &response.changes {
            println!("{change}");
        }
        for action in &response.actions {
            println!("  {action}");
        }
        println!(
            "healthy in {:.2} s ({:.2} s with start-up)",
            response.elapsed_ms as f64 / 1000.0,
            started.elapsed().as_secs_f64()
        );
    }
    print_status(&response.status, &dir);
    if response
        .status
        .rollout
        .as_ref()
        .is_some_and(|r| !r.progress.status.is_terminal())
    {
        // The supervisor refuses another deploy while the rollout runs; the lock need not.
        drop(lock_held);
        return rollout::follow(&running.client, &args.target.app);
    }
    if fresh {
        hint(&response.status);
        println!("stop it with: {}", destroy_command(&args.target));
    }
    Ok(Outcome::Success)
}

pub fn destroy(args: &DestroyArgs) -> Result<Outcome> {
    let name = stack_name(&args.target)?;
    let dir = state_dir(&name);
    if !dir.exists() {
        println!("nothing to destroy: {name} is not running locally");
        return Ok(Outcome::Success);
    }
    let lock = lock(&dir)?;
    // Whatever the record says, every process carrying the folder's marker is stopped after.
    let mut stopped = match launcher::find(&dir) {
        Ok(Found::Running(running)) => launcher::shut_down(&running, &dir)?,
        Ok(Found::Dead(record)) => launcher::stop_leftovers(&dir, &[record])?,
        Ok(Found::Nothing) => Vec::new(),
        Ok(Found::Unreadable(err)) => {
            let err = anyhow::Error::new(err);
            eprintln!("{err:#}; finding its processes by their marker");
            Vec::new()
        }
        Err(err) => {
            let err = anyhow::Error::new(err);
            eprintln!("{err:#}; stopping it and its tasks");
            Vec::new()
        }
    };
    let records: Vec<RuntimeRecord> = dir.read_runtime().ok().flatten().into_iter().collect();
    stopped.extend(launcher::stop_leftovers(&dir, &records)?);
    stopped.sort_unstable();
    stopped.dedup();
    drop(lock);
    dir.remove()
        .with_context(|| format!("cannot remove {}", shown(dir.path())))?;
    if stopped.is_empty() {
        println!(
            "{name}: no process was running; removed {}",
            shown(dir.path())
        );
    } else {
        println!(
            "stopped {name}: {} process(es) ({}); removed {}",
            stopped.len(),
            pid_list(&stopped),
            shown(dir.path())
        );
    }
    Ok(Outcome::Success)
}

pub fn status(args: &StatusArgs) -> Result<Outcome> {
    let name = stack_name(&args.target)?;
    let dir = state_dir(&name);
    let destroy = destroy_command(&args.target);
    match find_readable(&dir, &args.target)? {
        Found::Running(running) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&running.status)?);
            } else {
                print_status(&running.status, &dir);
            }
            let state = running_state(&running.status)?;
            if let Some(problem) = state_file_problem(&dir, &read_state_file(&dir)?, state.as_ref())
            {
                bail!(
                    "{problem}; the next deploy uses what runs and rewrites it (`--force` deploys from the file instead)"
                );
            }
            Ok(Outcome::Success)
        }
        Found::Dead(record) => bail!(
            "{name} is not running locally: its supervisor (pid {}) is gone; clean up with `{destroy}`",
            record.supervisor.pid,
        ),
        Found::Nothing => {
            let orphans: Vec<u32> = dir.marked_processes().iter().map(|p| p.id.pid).collect();
            if orphans.is_empty() {
                bail!(
                    "{name} is not running locally: start it with `cargo xtask deploy {} --local`",
                    args.target.app
                )
            }
            bail!(
                "{name} has no runtime record but processes of it still run ({}); stop them with `{destroy}`",
                pid_list(&orphans)
            )
        }
        Found::Unreadable(err) => Err(err.into()),
    }
}

pub fn diff(args: &DiffArgs) -> Result<Outcome> {
    let name = stack_name(&args.target)?;
    let dir = state_dir(&name);
    let found = find_readable(&dir, &args.target)?;
    let stack = desired_stack(
        &args.target,
        args.build.version,
        args.build.strategy,
        &dir,
        &found,
        args.force,
    )?;
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
        println!("{}", serde_json::to_string_pretty(&changes)?);
    } else {
        println!(
            "Stack {name} (local{})",
            if running {
                ""
            } else {
                ": not running, a deploy starts everything"
            }
        );
        if changes.is_empty() {
            println!("There were no differences");
        }
        for change in &changes {
            println!("{change}");
        }
    }
    Ok(if args.fail && !changes.is_empty() {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}
