//! diff, deploy, destroy and status on the local runtime (SPEC §7)
//!
//! `deploy --local` builds `demo-app` and the `meshtest-local` supervisor, starts the supervisor
//! in the background (its own process group, its log in the state folder) unless one already runs
//! for the stack, sends it the model through its control API and prints the endpoints once every
//! task is healthy. The other commands read `target/local/<stack>/runtime.json` to find it.
//!
//! Settings from the environment (documented in ARCHITECTURE.md):
//! `MESHTEST_LOCAL_GATEWAY_PORT` (default: the gateway's listener port, 0: any free port),
//! `MESHTEST_LOCAL_HEALTH_TIMEOUT_MS` (default 10000), `MESHTEST_LOCAL_PROFILE` (`debug` or
//! `release`, default debug), `MESHTEST_LOCAL_DEMO_APP` (run this binary instead of building
//! demo-app) and `MESHTEST_LOCAL_NO_BUILD=1` (use the binaries already built).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use local_runtime::changes::{self, Change};
use local_runtime::control::{ApplyRequest, ControlClient, ControlError, Status};
use local_runtime::plan::{LocalPlan, NameTarget};
use local_runtime::process::Stopped;
use local_runtime::state_dir::{RuntimeRecord, StateDir};
use model::Stack;
use state_store::BlueGreenState;

use crate::cli::{DeployArgs, DestroyArgs, DiffArgs, Outcome, StatusArgs, StrategyArg, Target};
use crate::local_rollout;
use crate::synth;

const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the supervisor may take to write `runtime.json` after it starts.
const SUPERVISOR_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a supervisor may take to stop its tasks and exit after `POST /shutdown`.
const SUPERVISOR_STOP_TIMEOUT: Duration = Duration::from_secs(30);
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);
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

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
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
            build: env_var("MESHTEST_LOCAL_NO_BUILD").is_none_or(|v| v == "0"),
        })
    }
}

/// Where cargo puts its output: `CARGO_TARGET_DIR`, or `target/` in the workspace.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_relative() {
                synth::workspace_root().join(p)
            } else {
                p
            }
        })
        .unwrap_or_else(|| synth::workspace_root().join("target"))
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

/// The stack name of `target`: `--stack-name`, the name inside a JSON description, or the app.
fn stack_name(target: &Target) -> Result<String> {
    let name = match (&target.stack_name, target.app.ends_with(".json")) {
        (None, true) => {
            let text = std::fs::read_to_string(&target.app)
                .with_context(|| format!("cannot read stack description {}", target.app))?;
            let spec: model::StackSpec = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a valid stack description", target.app))?;
            spec.name
        }
        _ => target.stack_name().to_owned(),
    };
    // The name becomes a folder name: only what CloudFormation accepts, so never `..` or `/`.
    model::rules::stack_name(&name).map_err(|e| anyhow::anyhow!("invalid stack name: {e}"))?;
    Ok(name)
}

fn state_dir(name: &str) -> StateDir {
    StateDir::new(&target_dir(), name)
}

/// Exclusive lock on the state folder for one deploy or destroy; released when dropped.
fn lock(dir: &StateDir) -> Result<File> {
    dir.create()
        .with_context(|| format!("cannot create {}", shown(dir.path())))?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.lock_file())
        .with_context(|| format!("cannot open {}", shown(&dir.lock_file())))?;
    // Another deploy or destroy of this stack holds it; each of those is bounded, so is this.
    let deadline = Instant::now() + LOCK_TIMEOUT;
    let mut told = false;
    while file.try_lock().is_err() {
        if Instant::now() >= deadline {
            bail!(
                "another deploy or destroy of this stack still holds {} after {} s",
                shown(&dir.lock_file()),
                LOCK_TIMEOUT.as_secs()
            );
        }
        if !told {
            eprintln!("waiting for another deploy or destroy of this stack to finish");
            told = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(file)
}

/// The model to run: the app's stack at `version`, blue-green state from `state.json`.
fn desired_stack(
    target: &Target,
    version: Option<u32>,
    strategy: Option<StrategyArg>,
    dir: &StateDir,
) -> Result<(Stack, Option<BlueGreenState>)> {
    let state = if target.app == "bluegreen" {
        let text = dir
            .read_blue_green_state()
            .with_context(|| format!("cannot read {}", shown(&dir.state_file())))?;
        text.map(|t| {
            BlueGreenState::from_json(&t)
                .with_context(|| format!("{} is not valid", shown(&dir.state_file())))
        })
        .transpose()?
    } else {
        None
    };
    let name = stack_name(target)?;
    let synthesized = synth::synthesize_app(&synth::AppInputs {
        app: &target.app,
        stack_name: Some(&name),
        version,
        strategy,
        state: state.as_ref(),
    })?;
    Ok((synthesized.stack, state))
}

/// A supervisor that answers, with its record and a client.
pub(crate) struct Running {
    record: RuntimeRecord,
    client: ControlClient,
    status: Status,
}

impl Running {
    pub(crate) fn into_parts(self) -> (ControlClient, Status) {
        (self.client, self.status)
    }
}

/// What the state folder says about a supervisor.
pub(crate) enum Found {
    Nothing,
    Running(Box<Running>),
    /// `runtime.json` names a supervisor that is gone (killed, or the machine restarted).
    Dead(RuntimeRecord),
}

/// The supervisor of `target`'s stack.
pub(crate) fn find_stack(target: &Target) -> Result<Found> {
    find(&state_dir(&stack_name(target)?))
}

fn find(dir: &StateDir) -> Result<Found> {
    let Some(record) = dir.read_runtime().with_context(|| {
        format!(
            "cannot read the local runtime's state in {}",
            shown(dir.path())
        )
    })?
    else {
        return Ok(Found::Nothing);
    };
    if !record.supervisor.is_running() {
        return Ok(Found::Dead(record));
    }
    let client = ControlClient::new(&record.control_url, &record.token)?;
    let status = client.status(CONTROL_TIMEOUT).with_context(|| {
        format!(
            "the local runtime of {} (pid {}) does not answer; stop it with `cargo xtask destroy {} --local`",
            record.stack, record.supervisor.pid, record.stack
        )
    })?;
    Ok(Found::Running(Box::new(Running {
        record,
        client,
        status,
    })))
}

/// Stops every process `record` lists that still runs (verified by start time); returns the
/// pids it stopped.
fn stop_recorded(record: &RuntimeRecord) -> Result<Vec<u32>> {
    let mut stopped = Vec::new();
    let mut stuck = Vec::new();
    let processes =
        std::iter::once(&record.supervisor).chain(record.tasks.iter().map(|t| &t.process));
    for process in processes {
        match process.stop(Duration::from_secs(3)) {
            Stopped::AlreadyGone => {}
            Stopped::Terminated | Stopped::Killed => stopped.push(process.pid),
            Stopped::StillRunning => stuck.push(process.pid),
        }
    }
    if !stuck.is_empty() {
        bail!("cannot stop process(es) {stuck:?}, even with SIGKILL");
    }
    Ok(stopped)
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
fn binaries(settings: &Settings) -> Result<(PathBuf, PathBuf)> {
    let dir = target_dir().join(&settings.profile);
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
    Ok((supervisor, demo_app))
}

/// Starts the supervisor detached and waits until it has written `runtime.json`.
fn start_supervisor(
    dir: &StateDir,
    stack: &str,
    supervisor: &Path,
    demo_app: &Path,
) -> Result<Running> {
    use std::os::unix::process::CommandExt as _;
    let log_path = dir.supervisor_log();
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", shown(&log_path)))?;
    let log_err = log
        .try_clone()
        .context("cannot duplicate the supervisor log handle")?;
    let mut child = Command::new(supervisor)
        .arg("--stack")
        .arg(stack)
        .arg("--state-dir")
        .arg(dir.path())
        .arg("--demo-app")
        .arg(demo_app)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        // Its own process group: Ctrl-C in this terminal must not reach the runtime it leaves
        // running (the supervisor also ignores SIGHUP).
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {}", shown(supervisor)))?;
    let deadline = Instant::now() + SUPERVISOR_START_TIMEOUT;
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
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output");
            bail!("the supervisor exited at start ({status}): {last}");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the supervisor did not start within {} s (log: {})",
                SUPERVISOR_START_TIMEOUT.as_secs(),
                shown(&log_path)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asks `running` to stop everything, waits, then stops whatever it recorded that still runs.
fn shut_down(running: &Running, dir: &StateDir) -> Result<Vec<u32>> {
    let mut stopped = Vec::new();
    if running.client.shutdown(CONTROL_TIMEOUT).is_ok()
        && running.record.supervisor.wait_gone(SUPERVISOR_STOP_TIMEOUT)
    {
        stopped.push(running.record.supervisor.pid);
        stopped.extend(running.record.tasks.iter().map(|t| t.process.pid));
    }
    // Whatever is left (a supervisor that did not stop, tasks it did not know it had): by pid and
    // start time, from the record read before and the one it left.
    let mut records = vec![running.record.clone()];
    if let Ok(Some(last)) = dir.read_runtime() {
        records.push(last);
    }
    for record in &records {
        stopped.extend(stop_recorded(record)?);
    }
    stopped.sort_unstable();
    stopped.dedup();
    Ok(stopped)
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
            g.routes.join(", ")
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
        local_rollout::print(rollout);
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
        let route = |r: &String| {
            r.split_once(" -> ")
                .map(|(prefix, vs)| (prefix.to_owned(), vs.to_owned()))
        };
        let routes: Vec<(String, String)> = g.routes.iter().filter_map(route).collect();
        let path = routes
            .iter()
            .find(|(_, vs)| is_router(vs))
            .or(routes.first())
            .map_or("/", |(prefix, _)| prefix.as_str());
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

pub fn deploy(args: &DeployArgs) -> Result<Outcome> {
    let settings = Settings::from_env()?;
    if args.image.is_some() || args.allow_cidr.is_some() {
        eprintln!(
            "note: --image and --allow-cidr only apply to AWS; every local task runs demo-app on 127.0.0.1"
        );
    }
    let name = stack_name(&args.target)?;
    let dir = state_dir(&name);
    let _lock = lock(&dir)?;
    let (stack, _state) = desired_stack(&args.target, args.version, args.strategy, &dir)?;
    let stack = local_rollout::with_env(stack, &args.env)?;
    if settings.build {
        cargo_build(&settings)?;
    }
    let (supervisor, demo_app) = binaries(&settings)?;

    let started = Instant::now();
    let (running, fresh) = match find(&dir)? {
        Found::Running(running) => (*running, false),
        found => {
            if let Found::Dead(record) = found {
                let stopped = stop_recorded(&record)?;
                eprintln!(
                    "the previous local runtime of {name} (pid {}) is gone{}; starting a new one",
                    record.supervisor.pid,
                    if stopped.is_empty() {
                        String::new()
                    } else {
                        format!(" (stopped its leftover processes {stopped:?})")
                    }
                );
            }
            eprintln!(
                "starting the local runtime of {name} in {}",
                shown(dir.path())
            );
            (start_supervisor(&dir, &name, &supervisor, &demo_app)?, true)
        }
    };
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
    let response = match running.client.apply(&request, timeout) {
        Ok(response) => response,
        Err(err) => {
            if fresh {
                // A first deploy that fails leaves nothing running.
                let stopped = shut_down(&running, &dir).unwrap_or_default();
                let _ = std::fs::remove_file(dir.runtime_file());
                eprintln!(
                    "stopped the local runtime of {name} ({} process(es)); its logs stay in {}",
                    stopped.len(),
                    shown(dir.path())
                );
                return Err(
                    anyhow::Error::new(err).context(format!("local deploy of {name} failed"))
                );
            }
            let what = match &err {
                ControlError::Api { .. } => "the previous deployment still runs",
                _ => "check `cargo xtask status --local`",
            };
            return Err(
                anyhow::Error::new(err).context(format!("local deploy of {name} failed ({what})"))
            );
        }
    };
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
        return local_rollout::follow(&running.client, &args.target.app);
    }
    if fresh {
        hint(&response.status);
        println!(
            "stop it with: cargo xtask destroy {} --local",
            args.target.app
        );
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
    let stopped = match find(&dir) {
        Ok(Found::Running(running)) => shut_down(&running, &dir)?,
        Ok(Found::Dead(record)) => stop_recorded(&record)?,
        Ok(Found::Nothing) => Vec::new(),
        // A supervisor that runs but does not answer: stop it and its tasks by pid.
        Err(err) => match dir.read_runtime().ok().flatten() {
            Some(record) => {
                eprintln!("{err:#}; stopping its processes by pid");
                stop_recorded(&record)?
            }
            None => return Err(err),
        },
    };
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
            "stopped {name}: {} process(es) (pids {}); removed {}",
            stopped.len(),
            stopped
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            shown(dir.path())
        );
    }
    Ok(Outcome::Success)
}

pub fn status(args: &StatusArgs) -> Result<Outcome> {
    let name = stack_name(&args.target)?;
    let dir = state_dir(&name);
    match find(&dir)? {
        Found::Running(running) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&running.status)?);
            } else {
                print_status(&running.status, &dir);
            }
            Ok(Outcome::Success)
        }
        Found::Dead(record) => bail!(
            "{name} is not running locally: its supervisor (pid {}) is gone; clean up with `cargo xtask destroy {} --local`",
            record.supervisor.pid,
            args.target.app
        ),
        Found::Nothing => bail!(
            "{name} is not running locally: start it with `cargo xtask deploy {} --local`",
            args.target.app
        ),
    }
}

pub fn diff(args: &DiffArgs) -> Result<Outcome> {
    let name = stack_name(&args.target)?;
    let dir = state_dir(&name);
    let (stack, _) = desired_stack(&args.target, args.version, args.strategy, &dir)?;
    let new = LocalPlan::from_stack(&stack);
    let (old, running) = match find(&dir)? {
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
