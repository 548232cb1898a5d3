//! `meshtest-local`: the supervisor of one stack's local runtime (started by `cargo xtask deploy
//! --local`, driven through its control API; see [`supervisor`]), and, as `meshtest-local
//! dataplane`, its data plane (started by the supervisor; see [`dataplane`]).

mod dataplane;
mod supervisor;
mod task_exec;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::supervisor::Config;
use anyhow::{Context as _, bail};
use clap::Parser;
use local_runtime::process::{MARKER_DIR_ENV, MARKER_TOKEN_ENV, Marker};
use local_runtime::state_dir::StateDir;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(
    name = "meshtest-local",
    about = "Supervisor of a meshtest stack's local runtime (use `cargo xtask deploy <app> --local`)",
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// The stack this supervisor runs (only models of this stack are accepted)
    #[arg(long, required = true)]
    stack: Option<String>,
    /// The stack's state folder (runtime.json, state.json, logs)
    #[arg(long, value_name = "DIR", required = true)]
    state_dir: Option<PathBuf>,
    /// The demo-app binary every task runs
    #[arg(long, value_name = "PATH", required = true)]
    demo_app: Option<PathBuf>,
    /// Take over the data plane and tasks a dead supervisor left (the launcher decides)
    #[arg(long)]
    adopt: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Mode {
    /// The data plane of a supervisor (it starts it): gateway, service listeners, egress proxy
    Dataplane {
        /// The stack's state folder (its socket and log)
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
    },
    /// How a service's own program starts (the supervisor runs it): its namespace, its folder
    TaskExec {
        /// Bind this file over /etc/hosts in a mount namespace of its own
        #[arg(long, value_name = "FILE")]
        hosts: Option<PathBuf>,
        /// Run in this folder
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The program and its arguments
        #[arg(last = true, required = true)]
        argv: Vec<std::ffi::OsString>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before anything else: the namespaces want a single-threaded process, and the program's
    // own output is all its log should hold.
    if let Some(Mode::TaskExec { hosts, dir, argv }) = &cli.mode {
        let err = task_exec::run(hosts.as_deref(), dir.as_deref(), argv);
        eprintln!("meshtest-local: {err:#}");
        return ExitCode::from(127);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("meshtest-local: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The control plane and the listeners' accept loops: light work, so one thread on a small
/// machine. Proxied connections run on the data plane's own threads (`supervisor::proxy`).
fn runtime_builder(cores: usize) -> tokio::runtime::Builder {
    if cores <= 2 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads((cores / 2).min(4));
        builder
    }
}

/// The marker this supervisor was started with, from its environment (`var`). Its own
/// environment must carry it (that is how `destroy` finds it without `runtime.json`), and its
/// tasks get the same.
fn marker(
    state_dir: &StateDir,
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> anyhow::Result<Marker> {
    state_dir
        .create()
        .context("cannot create the state folder")?;
    let dir = state_dir
        .canonical()
        .context("cannot resolve the state folder")?;
    let how = "start the supervisor with `cargo xtask deploy <app> --local`";
    let token = var(MARKER_TOKEN_ENV)
        .and_then(|t| t.into_string().ok())
        .filter(|t| !t.trim().is_empty())
        .with_context(|| format!("{MARKER_TOKEN_ENV} is not set: {how}"))?;
    if var(MARKER_DIR_ENV).as_deref() != Some(dir.as_os_str()) {
        bail!(
            "{MARKER_DIR_ENV} is not the state folder {}: {how}",
            dir.display()
        );
    }
    Ok(Marker { dir, token })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let (stack, state_dir, demo_app) = match (cli.mode, cli.stack, cli.state_dir, cli.demo_app) {
        (Some(Mode::Dataplane { state_dir }), ..) => return run_dataplane(StateDir::at(state_dir)),
        (Some(Mode::TaskExec { .. }), ..) => bail!("task-exec runs before the supervisor"),
        (None, Some(stack), Some(state_dir), Some(demo_app)) => (stack, state_dir, demo_app),
        // clap requires all three without a subcommand.
        _ => bail!("--stack, --state-dir and --demo-app are required"),
    };
    let state_dir = StateDir::at(state_dir);
    let marker = marker(&state_dir, |name: &str| std::env::var_os(name))?;
    let runtime = runtime_builder(std::thread::available_parallelism().map_or(1, usize::from))
        .enable_all()
        .thread_name("meshtest-local")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        // The supervisor outlives the terminal that started it: a hang-up is not a reason to stop.
        let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("ignoring SIGHUP");
            }
        });
        let stop = async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping every task"),
                _ = int.recv() => tracing::info!("SIGINT: stopping every task"),
            }
        };
        let config = Config {
            stack,
            state_dir,
            demo_app,
            marker,
            adopt: cli.adopt,
        };
        supervisor::run(config, stop)
            .await
            .context("the supervisor failed")
    })
}

/// The data plane: it carries the same marker as its supervisor (it inherits its environment),
/// so `destroy` finds it; it outlives the supervisor and stops on SIGTERM or when told.
fn run_dataplane(state_dir: StateDir) -> anyhow::Result<()> {
    marker(&state_dir, |name: &str| std::env::var_os(name))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("meshtest-dataplane")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
        tokio::spawn(async move { while hup.recv().await.is_some() {} });
        let stop = async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: the data plane stops"),
                _ = int.recv() => tracing::info!("SIGINT: the data plane stops"),
            }
        };
        dataplane::run(state_dir.dataplane_socket(), stop)
            .await
            .context("the data plane failed")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_run_without_its_whole_marker() {
        let root = std::env::temp_dir().join(format!("meshtest-bin-marker-{}", std::process::id()));
        let state_dir = StateDir::at(root.clone());
        let check =
            |dir: Option<&std::path::Path>, token: Option<&str>, expected: Result<(), &str>| {
                let var = |name: &str| match name {
                    MARKER_DIR_ENV => dir.map(|d| d.as_os_str().to_owned()),
                    MARKER_TOKEN_ENV => token.map(Into::into),
                    _ => None,
                };
                match (marker(&state_dir, var), expected) {
                    (Ok(m), Ok(())) => assert_eq!(m.token, token.unwrap()),
                    (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{e}"),
                    (got, want) => panic!("{dir:?} {token:?}: {got:?}, expected {want:?}"),
                }
            };
        std::fs::create_dir_all(&root).unwrap();
        let canonical = root.canonicalize().unwrap();
        check(Some(&canonical), Some("t"), Ok(()));
        check(
            Some(&canonical),
            None,
            Err("MESHTEST_LOCAL_TOKEN is not set"),
        );
        check(
            Some(&canonical),
            Some(" "),
            Err("MESHTEST_LOCAL_TOKEN is not set"),
        );
        check(
            None,
            Some("t"),
            Err("MESHTEST_LOCAL_STACK_DIR is not the state folder"),
        );
        check(
            Some(&root.join("..")),
            Some("t"),
            Err("MESHTEST_LOCAL_STACK_DIR is not the state folder"),
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
