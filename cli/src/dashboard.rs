//! `cargo xtask dashboard`: a page on 127.0.0.1 that watches a stack's rollouts live (its
//! topology, each rollout's step track, stage, bake or hook time left and alarm line, a chart
//! of each version's share of answers and 5xx per second) with Continue and Rollback buttons
//!
//! A poller thread reads the backend ([`source::Source`]: the deploy library's status, and
//! locally the data plane's answer counts) every [`source::LOCAL_POLL`] (AWS: every
//! [`aws_source::POLL`]), [`board::Board`] turns each reading
//! into a frame, and [`server`] sends every frame to each open page as a server-sent event.
//! The page, its script and its style are built into the binary (no CDN; the chart is plain
//! SVG), so it works offline.

#[cfg(feature = "aws")]
pub mod aws_source;
pub mod board;
pub mod server;
pub mod source;

use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Instant;

use anyhow::{Context as _, Result};
use deploy::local::LocalBackend;
use deploy::report::Reporter;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::args::{DashboardArgs, Outcome};
use crate::workspace::local_settings;
use board::Board;
use server::Shared;
use source::{LocalSource, Source};

/// `dashboard --local`: serves the dashboard of the stack the local runtime runs.
pub fn run_local(args: &DashboardArgs, out: &dyn Reporter) -> Result<Outcome> {
    let backend = LocalBackend::new(local_settings()?);
    let target = args.target.named()?;
    let stack = target.name.clone();
    let source = LocalSource::new(backend, target, args.target.label());
    serve(Arc::new(source), &stack, args.port, out)
}

/// `dashboard` on AWS (in `meshtest-aws`): serves the dashboard of the stack's deployments.
#[cfg(feature = "aws")]
pub fn run_aws(args: &DashboardArgs, out: &dyn Reporter) -> Result<Outcome> {
    let target = args.target.resolve(None, None)?;
    let stack = target.named.name.clone();
    let connection = deploy::request::Connection {
        region: args.aws.region.clone(),
        profile: args.aws.profile.clone(),
        endpoint_url: args.aws.endpoint_url.clone(),
    };
    let worded = crate::wording::Worded::new(out, args.target.label(), false);
    let source = aws_source::AwsSource::connect(&connection, target, args.target.label(), &worded)?;
    serve(Arc::new(source), &stack, args.port, out)
}

/// Serves the dashboard of `stack` read from `source` on 127.0.0.1:`port` (any free port by
/// default) until Ctrl-C. A first reading that fails is the command's error: there is nothing
/// to watch.
pub fn serve(
    source: Arc<dyn Source>,
    stack: &str,
    port: Option<u16>,
    out: &dyn Reporter,
) -> Result<Outcome> {
    let token = local_runtime::process::random_token()
        .context("cannot draw the dashboard's token from /dev/urandom")?;
    let started = Instant::now();
    let mut board = Board::new(stack, source.backend());
    let first = source.read()?;
    let frame = board.frame(0, Ok(first));
    let (tx, frames) = watch::channel(Arc::new(serde_json::to_string(&frame)?));
    // What a button did reaches the board here; a press wakes the poller at once, so the page
    // shows the outcome with the reading that follows it.
    let (acted, presses) = std::sync::mpsc::channel();
    let poller = Arc::clone(&source);
    std::thread::spawn(move || {
        loop {
            match presses.recv_timeout(poller.poll()) {
                Ok(pressed) => board.acted(pressed),
                Err(RecvTimeoutError::Timeout) => {}
                // The server is gone: nothing shows the frames any more.
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let reading = poller.read().map_err(|e| crate::wording::message(&e));
            let at_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let frame = board.frame(at_ms, reading);
            let Ok(text) = serde_json::to_string(&frame) else {
                continue;
            };
            if tx.send(Arc::new(text)).is_err() {
                return;
            }
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the dashboard's runtime")?;
    runtime.block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", port.unwrap_or(0)))
            .await
            .with_context(|| match port {
                Some(port) => format!("cannot listen on 127.0.0.1:{port}: pick another --port"),
                None => "cannot listen on 127.0.0.1".to_owned(),
            })?;
        let addr = listener.local_addr().context("cannot listen on 127.0.0.1")?;
        out.line(format!(
            "dashboard of {stack} ({}): http://{addr}/?token={token}",
            source.backend()
        ));
        out.line("the token in the URL is the key to its buttons: share it with care; Ctrl-C stops the dashboard (the stack carries on)");
        let shared = Arc::new(Shared {
            token,
            frames,
            source,
            acted,
        });
        tokio::select! {
            () = server::serve(listener, shared) => {}
            _ = tokio::signal::ctrl_c() => out.line("dashboard stopped"),
        }
        anyhow::Ok(())
    })?;
    Ok(Outcome::Success)
}
