//! The command line's use of the AWS engine (`meshtest-aws`): clap arguments become a typed
//! request once, the flow runs with the reporter it is given (the [`crate::Terminal`]), and its
//! typed outcome becomes output and an exit code

use std::future::Future;

use anyhow::{Context, Result, bail};
use deploy::aws::{self as engine, AwsBackend, Options, StackReport, VerifyRequest};
use deploy::error::{ConnectError, Error, Stopped};
use deploy::outcome::{Changes, Diffed, StatusReport};
use deploy::report::{Confirm, Reporter, Verb};
use deploy::request::{
    Connection, DeployRequest, DestroyRequest, DiffRequest, Parameters, RolloutRequest,
    StatusRequest,
};
use deploy::target::Subject;

use crate::args::{
    AwsArgs, DeployArgs, DestroyArgs, DiffArgs, Outcome, RolloutArgs, StackCommand, StatusArgs,
    Target, VerifyArgs,
};
use crate::wording::{self, Worded};

/// Runs one AWS command to its end, reporting to `out`.
pub fn run(command: StackCommand, terminal: &dyn Reporter) -> Result<Outcome> {
    let label = command.target().label();
    let events = command.events_out(terminal)?;
    let result = {
        let out = &Worded::new(&events, label.clone(), false);
        match command {
            StackCommand::Diff(args) => diff(&args, out),
            StackCommand::Deploy(args) => deploy(&args, out),
            StackCommand::Destroy(args) => destroy(&args, out),
            StackCommand::Status(args) => status(&args, out),
            StackCommand::Rollback(args) => rollback(&args, out),
            StackCommand::Continue(args) => continue_paused(&args, out),
        }
    };
    events.finish();
    result.map_err(|err| hint(err, &label))
}

/// An engine error with the command that carries on from it, for the target as `label` names it.
fn hint(err: anyhow::Error, label: &str) -> anyhow::Error {
    match err.downcast_ref::<Error>() {
        Some(Error::Stopped(Stopped::Watching)) => anyhow::anyhow!(
            "{err}; follow it again with `{}`",
            wording::command(Verb::Watch, label, false)
        ),
        _ => err,
    }
}

fn diff(args: &DiffArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    let request = DiffRequest::new(
        args.target
            .resolve(args.build.version, args.build.strategy)?,
    );
    let options = Options {
        template_bucket: args.template_bucket.clone(),
        ..Options::default()
    };
    with_aws(&args.aws, options, terminal, |aws, out| async move {
        let diffed = engine::diff(&aws, &request, out).await?;
        show_diff(out, &diffed, args.json)?;
        Ok(if args.fail && !diffed.is_empty() {
            Outcome::Failure
        } else {
            Outcome::Success
        })
    })
}

/// The diff as text, or as JSON on stdout with the notes on stderr.
fn show_diff(out: &dyn Reporter, diffed: &Diffed, json: bool) -> Result<()> {
    let Changes::Template(diff) = &diffed.changes else {
        bail!("AWS answered with another backend's changes")
    };
    if json {
        let json = serde_json::json!({
            "stack": diffed.stack_name,
            "exists": diffed.exists,
            "differences": !diff.is_empty(),
            "diff": diff,
        });
        out.line(serde_json::to_string_pretty(&json)?);
        for note in &diffed.notes {
            out.note(format!("note: {note}"));
        }
    } else {
        for note in &diffed.notes {
            out.line(format!("note: {note}"));
        }
        out.block(&diff.to_text());
    }
    Ok(())
}

fn deploy(args: &DeployArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    let request = DeployRequest::new(
        args.target
            .resolve(args.build.version, args.build.strategy)?,
    );
    let options = Options {
        parameters: Parameters {
            image: args.image.clone(),
            allowed_cidr: args.allow_cidr,
        },
        confirm: Confirm::from_yes(args.yes),
        template_bucket: args.template_bucket.clone(),
        ..Options::default()
    };
    with_aws(&args.aws, options, terminal, |aws, out| async move {
        let deployed = engine::deploy(&aws, &request, out).await?;
        Ok(Outcome::of(deployed.succeeded()))
    })
}

fn destroy(args: &DestroyArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    let request = DestroyRequest::new(resolved_or_named(
        &args.target,
        terminal,
        "destroying it by name; a Service Connect namespace ECS left behind is not looked for",
    )?);
    let options = Options {
        confirm: Confirm::from_yes(args.yes),
        ..Options::default()
    };
    with_aws(&args.aws, options, terminal, |aws, out| async move {
        let destroyed = engine::destroy(&aws, &request, out).await?;
        Ok(Outcome::of(destroyed.succeeded()))
    })
}

/// `target` resolved, or, when its JSON description is gone and `--stack-name` names the stack,
/// the name alone, with a note saying so and what is `left_out` for that.
fn resolved_or_named(target: &Target, out: &dyn Reporter, left_out: &str) -> Result<Subject> {
    match target.resolve(None, None) {
        Ok(resolved) => Ok(resolved.into()),
        Err(Error::ReadDescription { path, source }) if target.stack_name.is_some() => {
            let named = target.named()?;
            out.note(format!(
                "note: cannot read {path} ({source}): stack {}: {left_out}",
                named.name
            ));
            Ok(named.into())
        }
        Err(err) => Err(err.into()),
    }
}

fn status(args: &StatusArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    if args.follows() {
        return watch(args, terminal);
    }
    let request = StatusRequest::new(resolved_or_named(
        &args.target,
        terminal,
        "showing it without its blue-green state and rollouts",
    )?);
    with_aws(
        &args.aws,
        Options::default(),
        terminal,
        |aws, out| async move {
            let report = stack_report(engine::status(&aws, &request, out).await?)?;
            show_status(out, &report, args.json)?;
            Ok(Outcome::of(report.healthy()))
        },
    )
}

/// AWS's status as the stack report it is.
fn stack_report(report: StatusReport) -> Result<StackReport> {
    match report {
        StatusReport::Stack(report) => Ok(*report),
        StatusReport::Local(_) => bail!("AWS answered with another backend's status"),
    }
}

/// `status --watch`: the stack once, then its deployments live until they end (with
/// `--wait-until`, until that is settled).
fn watch(args: &StatusArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    let target = args.target.resolve(None, None)?;
    let label = args.target.label();
    let request = StatusRequest::new(target.clone());
    let mut watched = RolloutRequest::new(target);
    if let Some(wait) = args.wait() {
        watched = watched.waiting(wait);
    }
    // The rollouts show live below, not as the status's lines.
    let options = Options {
        status_rollouts: false,
        ..Options::default()
    };
    with_aws(&args.aws, options, terminal, |aws, out| async move {
        let report = stack_report(engine::status(&aws, &request, out).await?)?;
        show_status(out, &report, false)?;
        if report.found.is_none() {
            return Ok(Outcome::Failure);
        }
        let rollouts = engine::watch(&aws, &watched, out).await?;
        Ok(crate::watched::outcome(
            rollouts,
            args.wait(),
            &label,
            false,
            out,
        ))
    })
}

fn show_status(out: &dyn Reporter, report: &StackReport, json: bool) -> Result<()> {
    if json {
        out.line(serde_json::to_string_pretty(&report.to_json()?)?);
    } else {
        report.show(out);
    }
    Ok(())
}

/// `verify`: the stack's alarms, their series and state; exit 1 when one needs attention (an
/// alarm CloudWatch does not have, a series missing after traffic).
pub fn verify(args: &VerifyArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    let target = args.target.resolve(None, None)?.named;
    let terminal = &Worded::new(terminal, args.target.label(), false);
    with_aws(
        &args.aws,
        Options::default(),
        terminal,
        |backend, out| async move {
            let request = VerifyRequest::deployed(&backend.aws, &target, out).await?;
            let verified = engine::verify(&backend.aws, &request, out).await?;
            if args.json {
                out.line(serde_json::to_string_pretty(&verified)?);
            } else {
                verified.show(out);
            }
            Ok(Outcome::of(verified.clean()))
        },
    )
}

fn rollback(args: &RolloutArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    let request = RolloutRequest::new(args.target.resolve(None, None)?);
    with_aws(
        &args.aws,
        Options::default(),
        terminal,
        |aws, out| async move {
            engine::rollback(&aws, &request, out).await?;
            Ok(Outcome::Success)
        },
    )
}

fn continue_paused(args: &RolloutArgs, terminal: &dyn Reporter) -> Result<Outcome> {
    let request = RolloutRequest::new(args.target.resolve(None, None)?);
    with_aws(
        &args.aws,
        Options::default(),
        terminal,
        |aws, out| async move {
            engine::continue_paused(&aws, &request, out).await?;
            Ok(Outcome::Success)
        },
    )
}

/// Connects (credentials are checked first, so a missing one is a one-line error before any
/// work) and runs `flow` on a small runtime with the terminal as its reporter, on the AWS
/// backend with `options`.
fn with_aws<'a, F, Fut>(
    args: &AwsArgs,
    options: Options,
    out: &'a dyn Reporter,
    flow: F,
) -> Result<Outcome>
where
    F: FnOnce(AwsBackend, &'a dyn Reporter) -> Fut,
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
        let mut backend = AwsBackend::connect(&connection)
            .await
            .map_err(connect_hint)?;
        backend.options = options;
        let calls = backend.aws.calls.clone();
        let result = flow(backend, out).await;
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
