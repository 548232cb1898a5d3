//! `demo-app`: run the demo service, or probe a running one with `demo-app health-check`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use demo_app::{App, Config};
use tokio::signal::unix::{Signal, SignalKind, signal};

const ENVIRONMENT: &str = "\
Environment:
  SERVICE_NAME, SERVICE_VERSION      reported in every answer (default: unknown)
  SERVICE_PORT                       port to listen on (default: 3000; 0 = any free port)
  SERVICE_HOST                       address to listen on (default: 0.0.0.0)
  SERVICE_NAMESPACE                  mesh namespace whose names /downstream may fetch by default
  DOWNSTREAM_ALLOW                   comma-separated allow-list: name, *.suffix, *, IP, each with optional :port
  DOWNSTREAM_CONNECT_TIMEOUT_MS      downstream connect timeout (default: 2000)
  DOWNSTREAM_TIMEOUT_MS              downstream total timeout (default: 5000)
  DOWNSTREAM_MAX_BODY_BYTES          downstream body cap (default: 1048576)
  SERVICE_WORKERS                    worker threads (default: number of CPUs)
  SHUTDOWN_TIMEOUT_SECS              drain time after SIGTERM or Ctrl-C (default: 25)
  RUST_LOG                           log filter (default: info; one access-log line per request)
  HTTP_PROXY, NO_PROXY               proxy for downstream requests";

#[derive(Debug, Parser)]
#[command(name = "demo-app", version, about = "Demo HTTP service for meshtest", after_help = ENVIRONMENT)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// GET / on this container's SERVICE_PORT; exit 0 on 200, 1 otherwise
    HealthCheck {
        /// Connect, write and read timeout in milliseconds
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::HealthCheck { timeout_ms }) => {
            health_check(Duration::from_millis(timeout_ms))
        }
        None => serve(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("demo-app: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn health_check(timeout: Duration) -> anyhow::Result<()> {
    let config = Config::from_env().context("invalid configuration")?;
    let addr = demo_app::probe_addr(&config)?;
    demo_app::health_check(addr, timeout).context("health check failed")
}

fn serve() -> anyhow::Result<()> {
    let config = Config::from_env().context("invalid configuration")?;
    let _log = demo_app::init_logging().context("cannot set up logging")?;
    // The main thread only runs the accept loop's controller and the signal watch; request work
    // happens on actix's own worker threads, so a single-threaded runtime is enough here.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Register the handlers before announcing the port, so a SIGTERM sent right after the
        // start-up line drains instead of killing the process.
        let term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        let app = App::new(config.clone())
            .with_shutdown_signal(shutdown_signal(term, int))
            .start()
            .await
            .context("cannot start the service")?;
        println!("{}", config.startup_line(app.local_addr().port()));
        app.wait().await.context("service stopped with an error")?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Completes on the first SIGTERM or SIGINT (both drain: actix alone would treat SIGINT as an
/// immediate stop); a second signal exits at once.
async fn shutdown_signal(mut term: Signal, mut int: Signal) {
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("received {name}, draining in-flight requests");
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("demo-app: second signal, exiting without draining");
        std::process::exit(130);
    });
}
