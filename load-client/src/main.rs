//! `load-client`: poll a host like the seed's client script, or put load on it.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use load_client::TimelineFormat;
use load_client::cli::{Cli, verdict};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("load-client: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config();
    // Load mode does its work on its own threads; this runtime only coordinates.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // With --json, stdout carries only JSON: the summary, or with --timeline the seconds.
    let progress_on_stdout = !cli.json || cli.timeline;
    if config.timeline == Some(TimelineFormat::Json) {
        writeln!(std::io::stderr(), "Running against {}", config.target)
            .context("cannot write to stderr")?;
    }
    let summary = runtime.block_on(async {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        if progress_on_stdout {
            load_client::run(&config, &mut std::io::stdout(), ctrl_c).await
        } else {
            load_client::run(&config, &mut std::io::stderr(), ctrl_c).await
        }
    })?;
    if cli.json && !cli.timeline {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &summary).context("cannot write the summary")?;
        writeln!(stdout).context("cannot write the summary")?;
    } else if cli.json {
        writeln!(std::io::stderr(), "\n{summary}").context("cannot write the summary")?;
    } else {
        writeln!(std::io::stdout(), "\n{summary}").context("cannot write the summary")?;
    }
    let failure = cli
        .max_error_rate(&config.mode)
        .and_then(|max| verdict(&summary, max));
    Ok(match failure {
        Some(line) => {
            eprintln!("load-client: {line}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    })
}
