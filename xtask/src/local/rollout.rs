//! Rollouts on the local runtime: `deploy --local` following the rollout it started,
//! `status --local --watch`, `rollback --local` and `continue --local`
//!
//! The supervisor runs the rollout (local-runtime's engine); these commands only read its status
//! and send it commands, and show the progress with the same display as the AWS watch
//! ([`deploy::rollout_view`]).

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use local_runtime::control::{ControlClient, RolloutCommand, Status};
use local_runtime::rollout::LocalRollout;
use model::{Stack, StackSpec};

use crate::cli::{Outcome, RolloutArgs, StatusArgs};
use local_runtime::launcher::Found;

use super::find_stack;
use crate::rollout_view::{self, Commands, RolloutView};

const POLL: Duration = Duration::from_millis(100);
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// `stack` with `env` (`KEY=VALUE` each) added to the environment of every service that
/// deploys with a traffic-shifting strategy: the new revision's tasks get it (`--env
/// FAULT_RATE=0.5` rehearses a rollback). Validated again, so a reserved name is refused.
pub fn with_env(stack: Stack, env: &[String]) -> Result<Stack> {
    if env.is_empty() {
        return Ok(stack);
    }
    let mut pairs = Vec::new();
    for item in env {
        let Some((key, value)) = item.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            bail!("--env {item:?} is not KEY=VALUE");
        };
        pairs.push((key.trim().to_owned(), value.to_owned()));
    }
    let mut spec: StackSpec = stack.into_spec();
    let mut names = Vec::new();
    for svc in &mut spec.services {
        if svc.deployment.strategy.is_native_shift() {
            svc.environment.extend(pairs.iter().cloned());
            names.push(svc.name.clone());
        }
    }
    if names.is_empty() {
        bail!(
            "--env only applies to services that roll out (BLUE_GREEN, LINEAR or CANARY), and {} has none",
            spec.name
        );
    }
    eprintln!("--env applies to {}", names.join(", "));
    Stack::new(spec).context("the stack with --env does not validate")
}

/// `web 1 -> 2: PRODUCTION_TRAFFIC_SHIFT, ...` and the time scale, for `status --local`.
pub fn print(rollout: &LocalRollout) {
    println!(
        "  rollout {} (one model minute = {} ms; {:.1} s of {:.1} s of bakes)",
        rollout_view::summary(&rollout.progress),
        rollout.minute_ms,
        rollout.elapsed_ms as f64 / 1000.0,
        rollout.nominal_ms as f64 / 1000.0
    );
}

/// Shows the rollout `client`'s supervisor runs until it ends: success only if it succeeded.
pub fn follow(client: &ControlClient, app: &str) -> Result<Outcome> {
    let commands = Commands {
        app: app.to_owned(),
        local: true,
    };
    let out = deploy::report::Terminal::new();
    let mut view = RolloutView::new(commands, &out);
    let result = follow_loop(client, &mut view);
    view.finish();
    let rollout = result?;
    let p = &rollout.progress;
    if p.status == model::DeploymentStatus::Successful {
        println!(
            "{} took {:.2} s (its bakes add up to {:.2} s)",
            p.service,
            rollout.ended_ms.unwrap_or(rollout.elapsed_ms) as f64 / 1000.0,
            rollout.nominal_ms as f64 / 1000.0
        );
    }
    Ok(if rollout_view::failed(p) {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

fn follow_loop(client: &ControlClient, view: &mut RolloutView<'_>) -> Result<LocalRollout> {
    loop {
        let status = client
            .status(CONTROL_TIMEOUT)
            .context("cannot read the rollout's status")?;
        let Some(rollout) = status.rollout else {
            bail!("the local runtime runs no rollout");
        };
        view.show(&rollout.progress);
        if rollout.progress.status.is_terminal() {
            return Ok(rollout);
        }
        std::thread::sleep(POLL);
    }
}

/// The supervisor of `target`, answering.
fn running(target: &crate::cli::Target) -> Result<(ControlClient, Status)> {
    match find_stack(target)? {
        Found::Running(running) => Ok((running.client, running.status)),
        Found::Dead(record) => bail!(
            "{} is not running locally: its supervisor (pid {}) is gone; clean up with `cargo xtask destroy {} --local`",
            record.stack,
            record.supervisor.pid,
            target.app
        ),
        Found::Unreadable(err) => Err(err.into()),
        Found::Nothing => bail!(
            "{} is not running locally: start it with `cargo xtask deploy {} --local`",
            target.resolve(None, None)?.name,
            target.app
        ),
    }
}

pub fn watch(args: &StatusArgs) -> Result<Outcome> {
    let (client, status) = running(&args.target)?;
    if status.rollout.is_none() {
        println!(
            "{} runs no rollout: deploy a new version with `cargo xtask deploy {} --local --version N`",
            status.stack, args.target.app
        );
        return Ok(Outcome::Success);
    }
    follow(&client, &args.target.app)
}

fn command(args: &RolloutArgs, command: RolloutCommand) -> Result<Outcome> {
    let (client, _) = running(&args.target)?;
    let status = client.rollout(command, CONTROL_TIMEOUT)?;
    if let Some(rollout) = &status.rollout {
        println!("{}", rollout_view::summary(&rollout.progress));
    }
    Ok(Outcome::Success)
}

pub fn rollback(args: &RolloutArgs) -> Result<Outcome> {
    command(args, RolloutCommand::Rollback)
}

pub fn continue_paused(args: &RolloutArgs) -> Result<Outcome> {
    command(args, RolloutCommand::Continue)
}
