//! The command line's use of the engine (`meshtest-aws`): clap arguments become a typed request
//! once, the flow runs with a [`Terminal`] reporter, and its typed outcome becomes output and an
//! exit code

use std::future::Future;

use anyhow::{Context, Result, bail};

use super::client::Aws;
use super::{Scope, StatusReport, StatusRequest, VerifyRequest};
use crate::cli::{
    AwsArgs, DeployArgs, DestroyArgs, DiffArgs, Outcome, RolloutArgs, StackCommand, StatusArgs,
    Target, VerifyArgs,
};
use crate::error::Error;
use crate::outcome::{Diffed, Rollouts};
use crate::report::{Confirm, Reporter, Terminal};
use crate::request::{Connection, DeployRequest, DestroyRequest, DiffRequest, Parameters};
use crate::target::{Named, Resolved};

/// Runs one AWS command to its end.
pub fn run(command: StackCommand) -> Result<Outcome> {
    match command {
        StackCommand::Diff(args) => diff(&args),
        StackCommand::Deploy(args) => deploy(&args),
        StackCommand::Destroy(args) => destroy(&args),
        StackCommand::Status(args) => status(&args),
        StackCommand::Rollback(args) => rollback(&args),
        StackCommand::Continue(args) => continue_paused(&args),
    }
}

fn diff(args: &DiffArgs) -> Result<Outcome> {
    let request = DiffRequest {
        target: args
            .target
            .resolve(args.build.version, args.build.strategy)?,
        template_bucket: args.template_bucket.clone(),
    };
    with_aws(&args.aws, |aws, out| async move {
        let diffed = super::diff(&aws, &request, out).await?;
        show_diff(out, &diffed, args.json)?;
        Ok(if args.fail && !diffed.diff.is_empty() {
            Outcome::Failure
        } else {
            Outcome::Success
        })
    })
}

/// The diff as text, or as JSON on stdout with the notes on stderr.
fn show_diff(out: &dyn Reporter, diffed: &Diffed, json: bool) -> Result<()> {
    if json {
        let json = serde_json::json!({
            "stack": diffed.stack_name,
            "exists": diffed.exists,
            "differences": !diffed.diff.is_empty(),
            "diff": diffed.diff,
        });
        out.line(serde_json::to_string_pretty(&json)?);
        for note in &diffed.notes {
            out.note(format!("note: {note}"));
        }
    } else {
        for note in &diffed.notes {
            out.line(format!("note: {note}"));
        }
        out.block(&diffed.diff.to_text());
    }
    Ok(())
}

fn deploy(args: &DeployArgs) -> Result<Outcome> {
    let request = DeployRequest {
        target: args
            .target
            .resolve(args.build.version, args.build.strategy)?,
        parameters: Parameters {
            image: args.image.clone(),
            allowed_cidr: args.allow_cidr,
        },
        confirm: Confirm::from_yes(args.yes),
        template_bucket: args.template_bucket.clone(),
        follow_rollouts: true,
        verify_alarms: true,
    };
    with_aws(&args.aws, |aws, out| async move {
        let deployed = super::deploy(&aws, &request, out).await?;
        Ok(Outcome::of(deployed.succeeded()))
    })
}

fn destroy(args: &DestroyArgs) -> Result<Outcome> {
    let request = DestroyRequest {
        confirm: Confirm::from_yes(args.yes),
        ..destroy_target(args)?
    };
    with_aws(&args.aws, |aws, out| async move {
        let destroyed = super::destroy(&aws, &request, out).await?;
        Ok(Outcome::of(destroyed.succeeded()))
    })
}

/// What to destroy: the resolved target, or its name alone when its description is gone
/// (without the namespace clean-up, which needs the model).
fn destroy_target(args: &DestroyArgs) -> Result<DestroyRequest> {
    Ok(
        match resolved_or_named(
            &args.target,
            "destroying it by name; a Service Connect namespace ECS left behind is not looked for",
        )? {
            Ok(target) => DestroyRequest::new(&target),
            Err(target) => DestroyRequest {
                target,
                namespace: None,
                confirm: Confirm::Ask,
            },
        },
    )
}

/// `target` resolved, or, when its JSON description is gone and `--stack-name` names the stack,
/// the name alone, with a note saying so and what is `left_out` for that.
fn resolved_or_named(target: &Target, left_out: &str) -> Result<Result<Resolved, Named>> {
    match target.resolve(None, None) {
        Ok(resolved) => Ok(Ok(resolved)),
        Err(Error::ReadDescription { path, source }) if target.stack_name.is_some() => {
            let named = target.named()?;
            terminal().note(format!(
                "note: cannot read {path} ({source}): stack {}: {left_out}",
                named.name
            ));
            Ok(Err(named))
        }
        Err(err) => Err(err.into()),
    }
}

fn status(args: &StatusArgs) -> Result<Outcome> {
    if args.watch {
        return watch(args);
    }
    let request = match resolved_or_named(
        &args.target,
        "showing it without its blue-green state and rollouts",
    )? {
        Ok(target) => StatusRequest::new(&target),
        Err(target) => StatusRequest {
            target,
            state_parameter: None,
            rollouts: None,
        },
    };
    with_aws(&args.aws, |aws, out| async move {
        let report = super::status(&aws, &request, out).await?;
        show_status(out, &report, &request.target.label, args.json)?;
        Ok(Outcome::of(report.healthy()))
    })
}

/// `status --watch`: the stack once, then its deployments live until they end.
fn watch(args: &StatusArgs) -> Result<Outcome> {
    let target = args.target.resolve(None, None)?;
    if Scope::of(&target.stack).services.is_empty() {
        bail!(
            "{} has no service with a blue-green, linear or canary deployment: nothing to watch",
            target.named.label
        );
    }
    let request = StatusRequest {
        rollouts: None,
        ..StatusRequest::new(&target)
    };
    with_aws(&args.aws, |aws, out| async move {
        let report = super::status(&aws, &request, out).await?;
        show_status(out, &report, &target.named.label, false)?;
        if report.found.is_none() {
            return Ok(Outcome::Failure);
        }
        let rollouts = super::watch(&aws, &target, out).await?;
        Ok(Outcome::of(rollouts != Rollouts::Failed))
    })
}

fn show_status(out: &dyn Reporter, report: &StatusReport, label: &str, json: bool) -> Result<()> {
    if json {
        out.line(serde_json::to_string_pretty(&report.to_json()?)?);
    } else {
        report.show(out, label);
    }
    Ok(())
}

/// `verify`: the stack's alarms, their series and state; exit 1 when one needs attention (an
/// alarm CloudWatch does not have, a series missing after traffic).
pub fn verify(args: &VerifyArgs) -> Result<Outcome> {
    let request = VerifyRequest::new(&args.target.resolve(None, None)?)?;
    with_aws(&args.aws, |aws, out| async move {
        let verified = super::verify(&aws, &request, out).await?;
        if args.json {
            out.line(serde_json::to_string_pretty(&verified)?);
        } else {
            verified.show(out);
        }
        Ok(Outcome::of(verified.clean()))
    })
}

fn rollback(args: &RolloutArgs) -> Result<Outcome> {
    let target = args.target.resolve(None, None)?;
    with_aws(&args.aws, |aws, out| async move {
        super::rollback(&aws, &target, out).await?;
        Ok(Outcome::Success)
    })
}

fn continue_paused(args: &RolloutArgs) -> Result<Outcome> {
    let target = args.target.resolve(None, None)?;
    with_aws(&args.aws, |aws, out| async move {
        super::continue_paused(&aws, &target, out).await?;
        Ok(Outcome::Success)
    })
}

/// The terminal every command reports to. The flows borrow it across awaits, so it lives as long
/// as the process.
fn terminal() -> &'static dyn Reporter {
    static TERMINAL: std::sync::OnceLock<Terminal> = std::sync::OnceLock::new();
    TERMINAL.get_or_init(Terminal::new)
}

/// Connects (credentials are checked first, so a missing one is a one-line error before any
/// work) and runs `flow` on a small runtime with the terminal as its reporter.
fn with_aws<F, Fut>(args: &AwsArgs, flow: F) -> Result<Outcome>
where
    F: FnOnce(Aws, &'static dyn Reporter) -> Fut,
    Fut: Future<Output = Result<Outcome>>,
{
    let out = terminal();
    // One thread is plenty: the work is waiting on AWS, one request at a time.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let connection = Connection {
        region: args.region.clone(),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
    };
    runtime.block_on(async {
        let aws = Aws::connect(&connection).await?;
        let calls = aws.calls.clone();
        let result = flow(aws, out).await;
        calls.report_if_asked();
        result
    })
}
