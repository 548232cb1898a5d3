//! The command line's use of the AWS engine (`meshtest-aws`): clap arguments become a typed
//! request once, the flow runs with the reporter it is given (the [`crate::Terminal`]), and its
//! typed outcome becomes output and an exit code

use std::future::Future;

use anyhow::{Context, Result, bail};
use deploy::aws::{self as engine, Aws, Scope, StatusReport, StatusRequest, VerifyRequest};
use deploy::error::{ConnectError, Error, Stopped};
use deploy::outcome::{Diffed, Rollouts};
use deploy::report::{Confirm, Reporter};
use deploy::request::{Connection, DeployRequest, DestroyRequest, DiffRequest, Parameters};
use deploy::target::{Named, Resolved};

use crate::args::{
    AwsArgs, DeployArgs, DestroyArgs, DiffArgs, Outcome, RolloutArgs, StackCommand, StatusArgs,
    Target, VerifyArgs,
};

/// Runs one AWS command to its end, reporting to `out`.
pub fn run(command: StackCommand, out: &dyn Reporter) -> Result<Outcome> {
    let label = command.target().label();
    match command {
        StackCommand::Diff(args) => diff(&args, out),
        StackCommand::Deploy(args) => deploy(&args, out),
        StackCommand::Destroy(args) => destroy(&args, out),
        StackCommand::Status(args) => status(&args, out),
        StackCommand::Rollback(args) => rollback(&args, out),
        StackCommand::Continue(args) => continue_paused(&args, out),
    }
    .map_err(|err| hint(err, &label))
}

/// An engine error with the command that carries on from it, for the target as `label` names it.
fn hint(err: anyhow::Error, label: &str) -> anyhow::Error {
    match err.downcast_ref::<Error>() {
        Some(Error::Stopped(Stopped::Watching)) => {
            anyhow::anyhow!("{err}; follow it again with `cargo xtask status {label} --watch`")
        }
        _ => err,
    }
}

fn diff(args: &DiffArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    let request = DiffRequest {
        target: args
            .target
            .resolve(args.build.version, args.build.strategy)?,
        template_bucket: args.template_bucket.clone(),
    };
    with_aws(&args.aws, terminal, |aws, out| async move {
        let diffed = engine::diff(&aws, &request, out).await?;
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

fn deploy(args: &DeployArgs, terminal: &dyn Reporter) -> Result<Outcome> {
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
    with_aws(&args.aws, terminal, |aws, out| async move {
        let deployed = engine::deploy(&aws, &request, out).await?;
        Ok(Outcome::of(deployed.succeeded()))
    })
}

fn destroy(args: &DestroyArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    let request = DestroyRequest {
        confirm: Confirm::from_yes(args.yes),
        ..destroy_target(args, terminal)?
    };
    with_aws(&args.aws, terminal, |aws, out| async move {
        let destroyed = engine::destroy(&aws, &request, out).await?;
        Ok(Outcome::of(destroyed.succeeded()))
    })
}

/// What to destroy: the resolved target, or its name alone when its description is gone
/// (without the namespace clean-up, which needs the model).
fn destroy_target(args: &DestroyArgs, out: &dyn Reporter) -> Result<DestroyRequest> {
    Ok(
        match resolved_or_named(
            &args.target,
            out,
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
fn resolved_or_named(
    target: &Target,
    out: &dyn Reporter,
    left_out: &str,
) -> Result<Result<Resolved, Named>> {
    match target.resolve(None, None) {
        Ok(resolved) => Ok(Ok(resolved)),
        Err(Error::ReadDescription { path, source }) if target.stack_name.is_some() => {
            let named = target.named()?;
            out.note(format!(
                "note: cannot read {path} ({source}): stack {}: {left_out}",
                named.name
            ));
            Ok(Err(named))
        }
        Err(err) => Err(err.into()),
    }
}

fn status(args: &StatusArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    if args.watch {
        return watch(args, terminal);
    }
    let request = match resolved_or_named(
        &args.target,
        terminal,
        "showing it without its blue-green state and rollouts",
    )? {
        Ok(target) => StatusRequest::new(&target),
        Err(target) => StatusRequest {
            target,
            state_parameter: None,
            rollouts: None,
        },
    };
    with_aws(&args.aws, terminal, |aws, out| async move {
        let report = engine::status(&aws, &request, out).await?;
        show_status(out, &report, &request.target.label, args.json)?;
        Ok(Outcome::of(report.healthy()))
    })
}

/// `status --watch`: the stack once, then its deployments live until they end.
fn watch(args: &StatusArgs, terminal: &dyn Reporter) -> Result<Outcome> {
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
    with_aws(&args.aws, terminal, |aws, out| async move {
        let report = engine::status(&aws, &request, out).await?;
        show_status(out, &report, &target.named.label, false)?;
        if report.found.is_none() {
            return Ok(Outcome::Failure);
        }
        let rollouts = engine::watch(&aws, &target, out).await?;
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
pub fn verify(args: &VerifyArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    let request = VerifyRequest::new(&args.target.resolve(None, None)?)?;
    with_aws(&args.aws, terminal, |aws, out| async move {
        let verified = engine::verify(&aws, &request, out).await?;
        if args.json {
            out.line(serde_json::to_string_pretty(&verified)?);
        } else {
            verified.show(out);
        }
        Ok(Outcome::of(verified.clean()))
    })
}

fn rollback(args: &RolloutArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    let target = args.target.resolve(None, None)?;
    with_aws(&args.aws, terminal, |aws, out| async move {
        engine::rollback(&aws, &target, out).await?;
        Ok(Outcome::Success)
    })
}

fn continue_paused(args: &RolloutArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    let target = args.target.resolve(None, None)?;
    with_aws(&args.aws, terminal, |aws, out| async move {
        engine::continue_paused(&aws, &target, out).await?;
        Ok(Outcome::Success)
    })
}

/// Connects (credentials are checked first, so a missing one is a one-line error before any
/// work) and runs `flow` on a small runtime with the terminal as its reporter.
fn with_aws<'a, F, Fut>(args: &AwsArgs, out: &'a dyn Reporter, flow: F) -> Result<Outcome>
where
    F: FnOnce(Aws, &'a dyn Reporter) -> Fut,
    Fut: Future<Output = Result<Outcome>>,
{
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
        let aws = Aws::connect(&connection).await.map_err(connect_hint)?;
        let calls = aws.calls.clone();
        let result = flow(aws, out).await;
        calls.report_if_asked(out);
        result
    })
}

/// A connection error with how to fix it, in the flags of this command line.
fn connect_hint(err: Error) -> anyhow::Error {
    match &err {
        Error::Connect(ConnectError::NoRegion) => anyhow::anyhow!(
            "{err}: pass --region REGION or set AWS_REGION (or use --local to run without AWS)"
        ),
        Error::Connect(ConnectError::NoCredentials { .. }) => anyhow::anyhow!(
            "{err}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile NAME (run `aws sso login --profile NAME` first for SSO), or use --local to run without AWS"
        ),
        _ => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_errors_say_which_flags_fix_them() {
        assert_eq!(
            connect_hint(ConnectError::NoRegion.into()).to_string(),
            "no AWS region configured: pass --region REGION or set AWS_REGION (or use --local to run without AWS)"
        );
        let none = ConnectError::NoCredentials {
            why: "no providers in chain provided credentials".into(),
        };
        assert_eq!(
            connect_hint(none.into()).to_string(),
            "no AWS credentials found (no providers in chain provided credentials): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile NAME (run `aws sso login --profile NAME` first for SSO), or use --local to run without AWS"
        );
    }

    #[test]
    fn a_stopped_watch_names_the_command_that_follows_it_again() {
        let stopped = anyhow::Error::from(Error::Stopped(Stopped::Watching));
        assert_eq!(
            hint(stopped, "rollout --stack-name r2").to_string(),
            "stopped watching: the deployment carries on; follow it again with `cargo xtask status rollout --stack-name r2 --watch`"
        );
        let other = anyhow::anyhow!("something else");
        assert_eq!(hint(other, "rollout").to_string(), "something else");
    }
}
