//! `meshtest-local`: the supervisor of one stack's local runtime (started by `cargo xtask deploy
//! --local`, driven through its control API; see `local_runtime::supervisor`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use local_runtime::state_dir::StateDir;
use local_runtime::supervisor::{self, Config};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(
    name = "meshtest-local",
    about = "Supervisor of a meshtest stack's local runtime (use `cargo xtask deploy <app> --local`)"
)]
struct Cli {
    /// The stack this supervisor runs (only models of this stack are accepted)
    #[arg(long)]
    stack: String,
    /// The stack's state folder (runtime.json, state.json, logs)
    #[arg(long, value_name = "DIR")]
    state_dir: PathBuf,
    /// The demo-app binary every task runs
    #[arg(long, value_name = "PATH")]
    demo_app: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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

/// The proxies share the machine with every task and with the client under test, so they get a
/// fraction of the cores. Measured on 2 cores with wrk through the gateway: one thread (no
/// cross-thread wake-ups) served 41% of direct throughput, two worker threads 36%.
fn runtime_builder(cores: usize) -> tokio::runtime::Builder {
    if cores <= 2 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads((cores / 2).min(4));
        builder
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
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
            stack: cli.stack,
            state_dir: StateDir::at(cli.state_dir),
            demo_app: cli.demo_app,
        };
        supervisor::run(config, stop)
            .await
            .context("the supervisor failed")
    })
}
