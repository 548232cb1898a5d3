//! The command line's use of the local flows (`cargo xtask ... --local`): clap arguments become
//! a request once, settings come from the environment, and a typed result becomes output and an
//! exit code

use anyhow::{Result, bail};
use deploy::local::{self, DeployRequest};
use deploy::outcome::Rollouts;
use deploy::report::Reporter;

use crate::args::{DeployArgs, DiffArgs, Outcome, StackCommand, StatusArgs};
use crate::workspace::{folders, local_settings, missing_binary_hint};

/// Runs one `--local` command to its end.
pub fn run(command: StackCommand, out: &dyn Reporter) -> Result<Outcome> {
    match command {
        StackCommand::Diff(args) => diff(&args, out),
        StackCommand::Deploy(args) => deploy(&args, out),
        StackCommand::Destroy(args) => {
            local::destroy(&args.target.named()?, &folders(), out)?;
            Ok(Outcome::Success)
        }
        StackCommand::Status(args) if args.watch => {
            let rollouts = local::watch(&args.target.named()?, &folders(), out)?;
            Ok(Outcome::of(rollouts != Rollouts::Failed))
        }
        StackCommand::Status(args) => status(&args, out),
        StackCommand::Rollback(args) => {
            local::rollback(&args.target.named()?, &folders(), out)?;
            Ok(Outcome::Success)
        }
        StackCommand::Continue(args) => {
            local::continue_paused(&args.target.named()?, &folders(), out)?;
            Ok(Outcome::Success)
        }
    }
}

fn deploy(args: &DeployArgs, out: &dyn Reporter) -> Result<Outcome> {
    let settings = local_settings()?;
    if args.image.is_some() || args.allow_cidr.is_some() {
        out.note(
            "note: --image and --allow-cidr only apply to AWS; every local task runs demo-app on 127.0.0.1",
        );
    }
    let request = DeployRequest {
        target: args
            .target
            .resolve(args.build.version, args.build.strategy)?,
        from_state_file: args.force,
        minute: args.minute,
        env: args
            .env
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect(),
    };
    let rollouts = local::deploy(&request, &settings, out).map_err(missing_binary_hint)?;
    Ok(Outcome::of(rollouts != Rollouts::Failed))
}

fn status(args: &StatusArgs, out: &dyn Reporter) -> Result<Outcome> {
    let target = args.target.named()?;
    let folders = folders();
    let report = local::status(&target, &folders, out)?;
    if args.json {
        out.line(serde_json::to_string_pretty(&report.status)?);
    } else {
        local::show_status(&target, &folders, &report, out);
    }
    if let Some(problem) = &report.state_file_problem {
        bail!(
            "{problem}; the next deploy uses what runs and rewrites it (`--force` deploys from the file instead)"
        );
    }
    Ok(Outcome::Success)
}

fn diff(args: &DiffArgs, out: &dyn Reporter) -> Result<Outcome> {
    let target = args
        .target
        .resolve(args.build.version, args.build.strategy)?;
    let diffed = local::diff(&target, args.force, &folders(), out)?;
    if args.json {
        out.line(serde_json::to_string_pretty(&diffed.changes)?);
    } else {
        out.line(format!(
            "Stack {} (local{})",
            target.named.name,
            if diffed.running {
                ""
            } else {
                ": not running, a deploy starts everything"
            }
        ));
        if diffed.changes.is_empty() {
            out.line("There were no differences");
        }
        for change in &diffed.changes {
            out.line(change);
        }
    }
    Ok(Outcome::of(!args.fail || diffed.changes.is_empty()))
}
