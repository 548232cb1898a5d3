//! `load-client`: poll a host like the seed's client script, or put load on it.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use load_client::{Config, Engine, Mode, Target};

#[derive(Debug, Parser)]
#[command(
    name = "load-client",
    version,
    about = "Poll a demo service once a second and tally service:version answers, or load it",
    after_help = "Modes:\n  \
        Without options it polls like the seed: `Running against http://<hostname>`, then one\n  \
        `<status> <reason> <key>=<count> ...` line per request, keys sorted.\n  \
        --concurrency or --rate switch to load mode; so do --requests or --duration without --interval\n  \
        (with --interval they just bound the polling). Load mode prints a progress line per interval.\n  \
        Both print a summary at the end or on Ctrl-C."
)]
struct Cli {
    /// Hostname (requested as http://<hostname>) or a full http(s):// URL
    #[arg(value_parser = parse_target)]
    target: Target,
    /// Pause between polls; in load mode, time between progress lines [default: 1s]
    #[arg(long, value_parser = humantime::parse_duration)]
    interval: Option<Duration>,
    /// Concurrent keep-alive connections (load mode)
    #[arg(long, short = 'c', value_parser = clap::value_parser!(u32).range(1..=100_000))]
    concurrency: Option<u32>,
    /// Total requests per second across connections (load mode; default: as fast as possible)
    #[arg(long, value_parser = positive_rate)]
    rate: Option<f64>,
    /// Stop after this long, e.g. 10s or 1m30s
    #[arg(long, short = 'd', value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many requests in total
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Per-request timeout, body included
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Print the summary as JSON on stdout (other output goes to stderr)
    #[arg(long)]
    json: bool,
    /// Load mode through reqwest even for http:// targets (honours HTTP_PROXY, follows
    /// redirects; costs more CPU per request than the built-in HTTP/1.1 path)
    #[arg(long)]
    via_reqwest: bool,
}

fn parse_target(s: &str) -> Result<Target, String> {
    Target::parse(s).map_err(|e| e.to_string())
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err("expected a positive number of requests per second".to_owned()),
    }
}

impl Cli {
    fn config(&self) -> Config {
        let target = self.target.clone();
        let load = self.concurrency.is_some()
            || self.rate.is_some()
            || ((self.requests.is_some() || self.duration.is_some()) && self.interval.is_none());
        let mut config = if load {
            let mut c = Config::load(target, self.concurrency.unwrap_or(1) as usize);
            if let Mode::Load { rate, .. } = &mut c.mode {
                *rate = self.rate;
            }
            c
        } else {
            Config::poll(target)
        };
        if let Some(interval) = self.interval {
            config.interval = interval;
        }
        config.duration = self.duration;
        config.requests = self.requests;
        config.timeout = self.timeout;
        if self.via_reqwest {
            config.engine = Engine::Reqwest;
        }
        config
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("load-client: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let config = cli.config();
    // Load mode does its work on its own threads; this runtime only coordinates.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let summary = runtime.block_on(async {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        if cli.json {
            load_client::run(&config, &mut std::io::stderr(), ctrl_c).await
        } else {
            load_client::run(&config, &mut std::io::stdout(), ctrl_c).await
        }
    })?;
    let mut stdout = std::io::stdout().lock();
    if cli.json {
        serde_json::to_writer_pretty(&mut stdout, &summary).context("cannot write the summary")?;
        writeln!(stdout).context("cannot write the summary")?;
    } else {
        writeln!(stdout, "\n{summary}").context("cannot write the summary")?;
    }
    Ok(())
}
