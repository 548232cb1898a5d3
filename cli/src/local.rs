//! The command line's use of the local flows (`cargo xtask ... --local`): clap arguments become
//! a request and the local backend's options once, settings come from the environment, and a
//! typed result becomes output and an exit code

use anyhow::{Context as _, Result, bail};
use deploy::local::{self, LocalBackend, Options, StartFrom};
use deploy::outcome::{Changes, StatusReport};
use deploy::report::Reporter;
use deploy::request::{DeployRequest, DestroyRequest, DiffRequest, RolloutRequest, StatusRequest};

use deploy::error::TargetError;
use deploy::local::Folders;
use deploy::target::Named;
use local_runtime::state_dir::StateDir;

use crate::args::{DeployArgs, DiffArgs, Outcome, StackCommand, StatusArgs, Target};
use crate::wording::Worded;
use crate::workspace::{folders, local_settings, missing_binary_hint};

/// Runs one `--local` command to its end.
pub fn run(command: StackCommand, terminal: &dyn Reporter) -> Result<Outcome> {
    let backend = LocalBackend::new(local_settings()?);
    let events = command.events_out(terminal)?;
    let result = run_with(backend, command, &events);
    events.finish();
    result
}

fn run_with(
    backend: LocalBackend,
    command: StackCommand,
    events: &dyn Reporter,
) -> Result<Outcome> {
    let out = &Worded::new(events, command.target().label(), true);
    match command {
        StackCommand::Diff(args) => diff(backend, &args, out),
        StackCommand::Deploy(args) => deploy(backend, &args, out),
        StackCommand::Destroy(args) => {
            let request = DestroyRequest::new(named(&args.target, "destroy")?);
            local::destroy(&backend, &request, out)?;
            Ok(Outcome::Success)
        }
        StackCommand::Status(args) if args.follows() => {
            let mut request = RolloutRequest::new(named(&args.target, "status")?);
            if let Some(wait) = args.wait() {
                request = request.waiting(wait);
            }
            let rollouts = local::watch(&backend, &request, out)?;
            let label = args.target.label();
            Ok(crate::watched::outcome(
                rollouts,
                args.wait(),
                &label,
                true,
                out,
            ))
        }
        StackCommand::Status(args) => status(&backend, &args, out),
        StackCommand::Rollback(args) => {
            let request = RolloutRequest::new(named(&args.target, "rollback")?);
            local::rollback(&backend, &request, out)?;
            Ok(Outcome::Success)
        }
        StackCommand::Continue(args) => {
            let request = RolloutRequest::new(named(&args.target, "continue")?);
            local::continue_paused(&backend, &request, out)?;
            Ok(Outcome::Success)
        }
    }
}

/// `--force`: a blue-green stack starts from `state.json`.
fn start_from(force: bool) -> StartFrom {
    if force {
        StartFrom::StateFile
    } else {
        StartFrom::Running
    }
}

fn deploy(mut backend: LocalBackend, args: &DeployArgs, out: &dyn Reporter) -> Result<Outcome> {
    if args.image.is_some() || args.allow_cidr.is_some() {
        out.note(
            "note: --image and --allow-cidr only apply to AWS; every local task runs demo-app on 127.0.0.1",
        );
    }
    backend.options = Options {
        start_from: start_from(args.force),
        minute: args.minute,
        env: args
            .env
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect(),
    };
    let request = DeployRequest::new(
        args.target
            .resolve(args.build.version, args.build.strategy)?,
    );
    let deployed = local::deploy(&backend, &request, out).map_err(missing_binary_hint)?;
    Ok(Outcome::of(deployed.succeeded()))
}

/// The stack a command on what runs locally acts on. A name that is no app but names a local
/// stack (one deployed from a JSON description) gets a message saying what to pass, where it
/// used to read only "unknown app".
fn named(target: &Target, verb: &str) -> Result<Named> {
    target
        .named()
        .map_err(|err| local_stack_hint(err, target, verb, &folders()))
}

fn local_stack_hint(
    err: deploy::Error,
    target: &Target,
    verb: &str,
    folders: &Folders,
) -> anyhow::Error {
    let app = &target.app;
    let is_unknown = matches!(&err, deploy::Error::Target(TargetError::UnknownApp { .. }));
    // Only a valid stack name can be a state folder's name (and cannot leave `local/`).
    if !is_unknown || model::rules::stack_name(app).is_err() {
        return err.into();
    }
    let dir = StateDir::new(&folders.target_dir, app);
    if !dir.exists() {
        return err.into();
    }
    anyhow::anyhow!(
        "`{app}` is no app, but the local runtime has a stack of that name ({}): pass its JSON description (`cargo xtask {verb} <file>.json --local`) or name it with --stack-name (`cargo xtask {verb} rollout --stack-name {app} --local`)",
        dir.path().display()
    )
}

fn status(backend: &LocalBackend, args: &StatusArgs, out: &dyn Reporter) -> Result<Outcome> {
    let target = named(&args.target, "status")?;
    let report = local::status(backend, &StatusRequest::new(target.clone()), out)?;
    // Without the aws feature (xtask's build) the enum has one variant, so the pattern is
    // irrefutable and an `else` would warn.
    #[cfg(feature = "aws")]
    let StatusReport::Local(report) = report else {
        bail!("the local runtime answered with another backend's status")
    };
    #[cfg(not(feature = "aws"))]
    let StatusReport::Local(report) = report;
    if args.json {
        out.line(serde_json::to_string_pretty(&report.status)?);
    } else {
        local::show_status(backend, &target, &report, out);
    }
    if let Some(problem) = &report.state_file_problem {
        bail!(
            "{problem}; the next deploy uses what runs and rewrites it (`--force` deploys from the file instead)"
        );
    }
    Ok(Outcome::Success)
}

fn diff(mut backend: LocalBackend, args: &DiffArgs, out: &dyn Reporter) -> Result<Outcome> {
    backend.options.start_from = start_from(args.force);
    let target = args
        .target
        .resolve(args.build.version, args.build.strategy)?;
    let diffed = local::diff(&backend, &DiffRequest::new(target), out)?;
    let Changes::Local(changes) = &diffed.changes else {
        bail!("the local runtime answered with another backend's changes")
    };
    if args.json {
        out.line(serde_json::to_string_pretty(changes).context("cannot write the changes")?);
    } else {
        out.line(format!(
            "Stack {} (local{})",
            diffed.stack_name,
            if diffed.exists {
                ""
            } else {
                ": not running, a deploy starts everything"
            }
        ));
        if changes.is_empty() {
            out.line("There were no differences");
        }
        for change in changes {
            out.line(change);
        }
    }
    Ok(Outcome::of(!args.fail || changes.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `status hx --local` for a stack deployed from `hx.json` used to say only "unknown app":
    /// with a state folder of that name it says what to pass; without one the error stays.
    #[test]
    fn a_local_stack_name_is_not_an_unknown_app() {
        let base = std::env::temp_dir().join(format!("meshtest-cli-hx-{}", std::process::id()));
        let folders = Folders {
            target_dir: base.clone(),
            shown_from: base.clone(),
        };
        let target = |app: &str| Target {
            app: app.into(),
            stack_name: None,
        };
        let message = |app: &str| {
            let t = target(app);
            let err = t.named().expect_err("no app");
            local_stack_hint(err, &t, "status", &folders).to_string()
        };
        assert!(
            message("hx").starts_with("unknown app `hx`"),
            "{}",
            message("hx")
        );
        let dir = StateDir::new(&base, "hx");
        dir.create().unwrap();
        assert_eq!(
            message("hx"),
            format!(
                "`hx` is no app, but the local runtime has a stack of that name ({}): pass its JSON description (`cargo xtask status <file>.json --local`) or name it with --stack-name (`cargo xtask status rollout --stack-name hx --local`)",
                dir.path().display()
            )
        );
        // A name that could not be a folder's is never looked up.
        assert!(
            message("../hx").starts_with("unknown app"),
            "{}",
            message("../hx")
        );
        // The way the message offers works.
        let offered = Target {
            app: "rollout".into(),
            stack_name: Some("hx".into()),
        };
        assert_eq!(offered.named().unwrap().name, "hx");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
