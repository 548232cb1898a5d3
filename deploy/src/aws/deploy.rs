//! `deploy`: change set, diff, confirmation, execution, events until the stack settles
//!
//! Order matters for safety: everything that can refuse (missing parameters, a bad state
//! parameter, no confirmation, a state that moved since the diff) happens before the change set
//! executes, and a refused change set is deleted so nothing half-made is left behind.

use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use aws_sdk_cloudformation::types::{ChangeSetType, Parameter, Stack};
use cfn_render::diff::TemplateDiff;
use cfn_render::{ALLOWED_CIDR_PARAMETER, IMAGE_PARAMETER, Template};
use state_store::ssm::{SsmStore, StoredState};

use super::client::{Aws, describe};
use super::rollout::{self, FollowOptions, Poll, Scope};
use super::stack::{self, ChangeSetRequest, ChangeSetResult, Watched};
use super::ui::Ui;
use super::upload;
use super::{appmesh_kinds, blue_green_state, print_state, synthesize};
use crate::cli::{DeployArgs, Outcome};
use crate::rollout_view::Commands;
use crate::target as synth;

pub async fn run(aws: &Aws, ui: &Ui, args: &DeployArgs) -> Result<Outcome> {
    let stack_name = synth::stack_name(&args.target)?;
    check_offline(args)?;
    let existing = settle(aws, ui, &stack_name).await?;

    // bluegreen: the state decides which colour gets the version; read it strictly.
    let (store, stored) = match blue_green_state(aws, &args.target, &stack_name).await? {
        Some((store, stored)) => (Some(store), Some(stored)),
        None => (None, None),
    };
    let synthesized = synthesize(
        &args.target,
        args.version,
        args.strategy,
        stored.as_ref().map(|s| &s.state),
    )?;
    let template = &synthesized.template;
    let parameters = parameters(template, existing.as_ref(), args, &stack_name)?;
    let source = upload::place(
        aws,
        ui,
        &stack_name,
        args.template_bucket.as_deref(),
        template,
    )
    .await?;

    let kind = if existing.is_some() {
        ChangeSetType::Update
    } else {
        ChangeSetType::Create
    };
    let request = ChangeSetRequest {
        stack: &stack_name,
        kind,
        template: &source,
        parameters,
        description: "meshtest deploy",
    };
    let ready = match stack::create_change_set(aws, &request).await? {
        ChangeSetResult::NoChanges => {
            ui.line("no changes");
            return Ok(Outcome::Success);
        }
        ChangeSetResult::Ready(ready) => ready,
    };
    ui.line(source.report());
    let plan = Planned {
        args,
        stack_name: &stack_name,
        template,
        existing: existing.as_ref(),
        ready: &ready,
    };

    // A refusal before execution must delete the change set it made.
    let state = store.as_ref().zip(stored.as_ref());
    if let Err(err) = review(aws, ui, plan, state).await {
        let _ = stack::delete_change_set(aws, &ready.id, &ready.stack_id).await;
        return Err(err);
    }
    let outcome = execute(aws, ui, plan).await?;
    if outcome != Outcome::Success {
        return Ok(outcome);
    }
    if let Some(store) = &store {
        // The stack wrote the new state itself; read it back to show what runs where.
        if let Ok(now) = store.load().await {
            print_state(ui, store.parameter(), &now);
        }
    }
    // The stack update started ECS deployments of the traffic-shifting services: show them to
    // their end, so the exit code says whether the new version went live.
    let scope = Scope::of(&synthesized.stack);
    if scope.services.is_empty() {
        return Ok(outcome);
    }
    let opts = FollowOptions {
        commands: Commands {
            app: args.target.app.clone(),
            local: false,
        },
        poll: Poll::STANDARD,
    };
    rollout::follow(aws, ui, &scope, &opts).await
}

/// What a deploy has decided once its change set is ready: what review and execute work on.
#[derive(Debug, Clone, Copy)]
struct Planned<'a> {
    args: &'a DeployArgs,
    stack_name: &'a str,
    template: &'a Template,
    existing: Option<&'a Stack>,
    ready: &'a stack::ReadyChangeSet,
}

/// The checks that need no AWS call: the CIDR (and whether it opens the world) and the image.
fn check_offline(args: &DeployArgs) -> Result<()> {
    if let Some(cidr) = &args.allow_cidr {
        validate_cidr(cidr)?;
        // Before any AWS call: the ports depend on the app, not on the deployed state.
        let offline = synth::synthesize(
            &args.target.app,
            args.target.stack_name.as_deref(),
            None,
            None,
        )?;
        crate::cli::check_world_open(
            cidr,
            args.yes,
            &synth::allowed_cidr_ingress(&offline.template),
        )?;
    }
    if args.image.as_deref().is_some_and(|i| i.trim().is_empty()) {
        bail!(
            "--image is empty: pass a container image URI such as public.ecr.aws/docker/library/nginx:latest"
        );
    }
    Ok(())
}

/// Shows the diff, asks, and proves the blue-green state did not move since it was read.
async fn review(
    aws: &Aws,
    ui: &Ui,
    plan: Planned<'_>,
    state: Option<(&SsmStore, &StoredState)>,
) -> Result<()> {
    let Planned {
        args,
        stack_name,
        template,
        existing,
        ready,
    } = plan;
    let old = match existing {
        Some(_) => stack::deployed_template(aws, stack_name).await?,
        None => serde_json::Value::Null,
    };
    let new: serde_json::Value = serde_json::from_str(&template.to_json_compact())?;
    let mut diff = TemplateDiff::between(&old, &new);
    diff.apply_replacements(&stack::replacement_marks(&ready.changes));
    ui.line(format!(
        "stack {stack_name}{}: {} resource change(s)",
        if aws.region.is_empty() {
            String::new()
        } else {
            format!(" in {}", aws.region)
        },
        ready.changes.len()
    ));
    ui.block(&diff.to_text());
    if let Some((store, stored)) = state {
        ui.line(format!(
            "blue-green state read from {} ({})",
            store.parameter(),
            match stored.version {
                Some(v) => format!("version {v}"),
                None => "not stored yet: starting from versions 1/1".to_string(),
            }
        ));
    }

    let mesh = appmesh_kinds(template);
    if !mesh.is_empty() {
        ui.note(format!(
            "warning: this stack deploys App Mesh resources ({}); AWS App Mesh reached end of support \
             on 2026-09-30 and AWS may refuse to create them; the serviceconnect app is the supported path",
            mesh.join(", ")
        ));
        if !ui.confirm(
            "deploy App Mesh resources anyway?",
            args.yes,
            "deploy App Mesh resources",
        )? {
            bail!("deploy cancelled: nothing was changed");
        }
    }
    if !ui.confirm(
        &format!("deploy these changes to stack {stack_name}?"),
        args.yes,
        "deploy",
    )? {
        bail!("deploy cancelled: nothing was changed");
    }

    // The diff above was made from this state; if another deploy moved it since, executing
    // would put versions on the wrong colours.
    if let Some((store, stored)) = state {
        store.ensure_unchanged(stored).await?;
    }
    Ok(())
}

/// Executes the change set and follows the stack to a terminal status.
async fn execute(aws: &Aws, ui: &Ui, plan: Planned<'_>) -> Result<Outcome> {
    let Planned {
        args,
        stack_name,
        template,
        existing,
        ready,
    } = plan;
    let after_event = stack::newest_event_id(aws, &ready.stack_id).await?;
    let total = match existing {
        Some(_) => ready.changes.len(),
        None => template.resources.len(),
    };
    if let Err(err) = aws
        .cfn
        .execute_change_set()
        .change_set_name(&ready.id)
        .stack_name(&ready.stack_id)
        .send()
        .await
    {
        let _ = stack::delete_change_set(aws, &ready.id, &ready.stack_id).await;
        bail!(
            "CloudFormation refused to execute the change set for stack {stack_name}: {}",
            describe(&err)
        );
    }
    let executed = Instant::now();
    let watched = stack::watch(aws, ui, &ready.stack_id, after_event.as_deref(), total)
        .await
        .map_err(|e| {
            anyhow!(
                "{e:#}; the deploy was started, follow it with `cargo xtask status {}`",
                args.target.app
            )
        })?;
    match watched {
        Watched::Interrupted { status } => {
            interrupted(
                ui,
                &args.target.app,
                stack_name,
                &status,
                existing.is_none(),
            );
            Ok(Outcome::Failure)
        }
        Watched::Finished {
            status,
            reason,
            failures,
        } => {
            if status == "CREATE_COMPLETE" || status == "UPDATE_COMPLETE" {
                ui.line(format!("stack {stack_name}: {status}"));
                if let Some(stack) = stack::find(aws, &ready.stack_id).await? {
                    stack::print_outputs(ui, &stack);
                }
                if super::debug_timing() {
                    // moto finishes the stack inside ExecuteChangeSet, so this is the delay
                    // between the stack reaching its status and the deploy returning.
                    ui.note(format!(
                        "timing: deploy returning within {} of ExecuteChangeSet returning",
                        stack::since(executed)
                    ));
                }
                Ok(Outcome::Success)
            } else {
                stack::report_failure(ui, stack_name, &status, reason.as_deref(), &failures);
                if status == "ROLLBACK_COMPLETE" {
                    ui.line("the stack holds no resources now; the next deploy deletes it first");
                }
                Ok(Outcome::Failure)
            }
        }
    }
}

/// Ctrl-C while CloudFormation works: it carries on regardless, so say where things stand.
fn interrupted(ui: &Ui, app: &str, stack_name: &str, status: &str, creating: bool) {
    let target = if app == stack_name {
        app.to_string()
    } else {
        format!("{app} --stack-name {stack_name}")
    };
    ui.note(format!(
        "stopped watching: stack {stack_name} is {status} and CloudFormation carries on without this command"
    ));
    ui.note(format!("  follow it: cargo xtask status {target}"));
    if creating {
        ui.note(format!(
            "  undo it:   cargo xtask destroy {target} (a create cannot be cancelled, only deleted)"
        ));
    } else {
        ui.note(format!(
            "  cancel it: aws cloudformation cancel-update-stack --stack-name {stack_name}"
        ));
    }
}

/// Waits out an operation in progress and clears a `ROLLBACK_COMPLETE` stack; returns the
/// stack to update, or `None` to create.
async fn settle(aws: &Aws, ui: &Ui, stack_name: &str) -> Result<Option<Stack>> {
    let Some(mut stack) = stack::find(aws, stack_name).await? else {
        return Ok(None);
    };
    if stack::in_progress(stack::status_of(&stack)) {
        ui.note(format!(
            "stack {stack_name} is {}: waiting for that operation to finish before deploying (Ctrl-C stops waiting; the operation continues)",
            stack::status_of(&stack)
        ));
        let id = stack.stack_id().unwrap_or(stack_name).to_string();
        let after = stack::newest_event_id(aws, &id).await?;
        if let Watched::Interrupted { status } =
            stack::watch(aws, ui, &id, after.as_deref(), 0).await?
        {
            bail!("stopped waiting: stack {stack_name} is still {status}; nothing was deployed");
        }
        match stack::find(aws, stack_name).await? {
            Some(now) => stack = now,
            None => return Ok(None),
        }
    }
    match stack::status_of(&stack) {
        "ROLLBACK_COMPLETE" => {
            ui.note(format!(
                "stack {stack_name} is ROLLBACK_COMPLETE after a failed create and holds no resources: deleting it before creating it again"
            ));
            let id = stack.stack_id().unwrap_or(stack_name).to_string();
            match stack::delete_and_watch(aws, ui, &id, stack_name, 0).await? {
                Watched::Finished { status, .. } if status == "DELETE_COMPLETE" => Ok(None),
                Watched::Finished { status, .. } | Watched::Interrupted { status } => bail!(
                    "stack {stack_name} is {status} instead of deleted: delete it with `cargo xtask destroy`, then deploy again"
                ),
            }
        }
        // Made by a change set that was never executed: it has no template, create into it.
        "REVIEW_IN_PROGRESS" => Ok(None),
        "DELETE_COMPLETE" => Ok(None),
        status if status.ends_with("_FAILED") && status != "UPDATE_ROLLBACK_FAILED" => {
            Ok(Some(stack))
        }
        "UPDATE_ROLLBACK_FAILED" => bail!(
            "stack {stack_name} is UPDATE_ROLLBACK_FAILED: fix the resources named in its events, then run \
             `aws cloudformation continue-update-rollback --stack-name {stack_name}` before deploying"
        ),
        _ => Ok(Some(stack)),
    }
}

/// The change set's parameters: a flag's value when given; on an update, the previous value;
/// the template default; otherwise a first deploy needs the flag.
fn parameters(
    template: &Template,
    existing: Option<&Stack>,
    args: &DeployArgs,
    stack_name: &str,
) -> Result<Vec<Parameter>> {
    let mut out = Vec::new();
    let previous: Vec<&str> = existing
        .map(|s| {
            s.parameters()
                .iter()
                .filter_map(|p| p.parameter_key())
                .collect()
        })
        .unwrap_or_default();
    for (name, declared) in &template.parameters {
        let (value, flag) = match name.as_str() {
            IMAGE_PARAMETER => (args.image.as_deref(), "--image URI"),
            ALLOWED_CIDR_PARAMETER => (args.allow_cidr.as_deref(), "--allow-cidr CIDR"),
            _ => (None, ""),
        };
        let parameter = Parameter::builder().parameter_key(name);
        if let Some(value) = value {
            out.push(parameter.parameter_value(value).build());
        } else if previous.contains(&name.as_str()) {
            out.push(parameter.use_previous_value(true).build());
        } else if declared.default.is_none() {
            if flag.is_empty() {
                bail!(
                    "stack {stack_name} needs a value for parameter {name}, which meshtest cannot set: give it a default in the template"
                );
            }
            bail!(
                "stack {stack_name} needs a value for parameter {name} on its first deploy: pass {flag}"
            );
        }
    }
    Ok(out)
}

/// An IPv4 CIDR block: four decimal octets and a prefix length of at most 32.
pub fn validate_cidr(cidr: &str) -> Result<()> {
    let valid = cidr.split_once('/').is_some_and(|(address, prefix)| {
        let octets: Vec<&str> = address.split('.').collect();
        octets.len() == 4
            && octets.iter().all(|o| {
                !o.is_empty()
                    && o.len() <= 3
                    && o.bytes().all(|b| b.is_ascii_digit())
                    && o.parse::<u8>().is_ok()
            })
            && !prefix.is_empty()
            && prefix.len() <= 2
            && prefix.bytes().all(|b| b.is_ascii_digit())
            && prefix.parse::<u8>().is_ok_and(|p| p <= 32)
    });
    if valid {
        Ok(())
    } else {
        bail!(
            "--allow-cidr {cidr} is not an IPv4 CIDR block: pass one such as 203.0.113.7/32 (your public IP with /32)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_shapes() {
        for ok in [
            "203.0.113.7/32",
            "0.0.0.0/0",
            "10.0.0.0/8",
            "255.255.255.255/32",
        ] {
            validate_cidr(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "203.0.113.7",
            "203.0.113.7/33",
            "256.0.0.1/32",
            "1.2.3/24",
            "a.b.c.d/1",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "1.2.3.4.5/32",
            "",
            "::1/128",
            " 1.2.3.4/32",
        ] {
            let err = validate_cidr(bad).unwrap_err().to_string();
            assert!(
                err.contains("pass one such as 203.0.113.7/32"),
                "{bad}: {err}"
            );
        }
    }
}
