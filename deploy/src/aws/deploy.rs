//! `deploy`: change set, diff, confirmation, execution, events until the stack settles
//!
//! Order matters for safety: everything that can refuse (missing parameters, a bad state
//! parameter, no confirmation, a state that moved since the diff) happens before the change set
//! executes, and a refused change set is deleted so nothing half-made is left behind.

use super::client::{Aws, aws_error};
use crate::error::{AwsError, AwsErrorKind, Cancelled, Error, Refusal, Result, Stopped};
use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_cloudformation::types::{ChangeSetType, Parameter, Stack};
use cfn_render::diff::TemplateDiff;
use cfn_render::{ALLOWED_CIDR_PARAMETER, IMAGE_PARAMETER, Template};
use state_store::ssm::{SsmStore, StoredState};

use super::alarms;
use super::rollout::{self, FollowOptions, Poll, Scope};
use super::stack::{self, ChangeSetRequest, ChangeSetResult};
use super::upload;
use super::verify::{VerifyRequest, verify};
use super::{appmesh_kinds, blue_green_state, print_state, region_suffix};
use crate::outcome::{Deployed, Rollouts, StackStatus, Verified, Watched};
use crate::report::{Confirm, Input, Reporter, Verb};
use crate::request::DeployRequest;

use super::{AwsBackend, Options};
use crate::rollout_view::Commands;
use crate::target::Resolved;

/// Deploys `request.target` through a change set: shows the diff, asks (unless
/// [`Confirm::Yes`]), executes, follows the stack to a terminal status and then the ECS
/// deployments the update started. Everything that can refuse happens before the change set
/// executes; a refused change set is deleted.
pub async fn deploy(
    backend: &AwsBackend,
    request: &DeployRequest,
    out: &dyn Reporter,
) -> Result<Deployed> {
    let (aws, options) = (&backend.aws, &backend.options);
    let request = &Asked { request, options };
    let target = &request.request.target;
    let stack_name = target.named.name.as_str();
    check_offline(request, out)?;
    let existing = settle(aws, out, target).await?;

    // A blue-green stack: the state decides which colour gets the version; read it strictly.
    let (store, stored) = match blue_green_state(aws, target.state_parameter()).await? {
        Some((store, stored)) => (Some(store), Some(stored)),
        None => (None, None),
    };
    let synthesized = target.build(stored.as_ref().map(|s| &s.state))?;
    crate::detection::report(&synthesized.stack, out);
    let template = &synthesized.template;
    let parameters = parameters(template, existing.as_ref(), request)?;
    let source = upload::place(
        aws,
        out,
        stack_name,
        options.template_bucket.as_deref(),
        template,
    )
    .await?;

    let kind = if existing.is_some() {
        ChangeSetType::Update
    } else {
        ChangeSetType::Create
    };
    let change_set = ChangeSetRequest {
        stack: stack_name,
        kind,
        template: &source,
        parameters,
        description: "meshtest deploy",
    };
    let ready = match stack::create_change_set(aws, &change_set).await? {
        ChangeSetResult::NoChanges => {
            out.line("no changes");
            return Ok(Deployed::NoChanges);
        }
        ChangeSetResult::Ready(ready) => ready,
    };
    out.line(source.report());
    let plan = Planned {
        request,
        template,
        existing: existing.as_ref(),
        ready: &ready,
    };

    // A refusal before execution must delete the change set it made.
    let state = store.as_ref().zip(stored.as_ref());
    if let Err(err) = review(aws, out, plan, state).await {
        let _ = stack::delete_change_set(aws, &ready.id, &ready.stack_id).await;
        return Err(err);
    }
    let (watched, outputs, executed_after) = execute(aws, out, plan).await?;
    let settled = matches!(&watched, Watched::Finished { status, .. } if status.is_success());
    let checked = VerifyRequest::of(&target.named, &template.to_json_value());
    let (rollouts, verified) = if settled {
        if let Some(store) = &store {
            // The stack wrote the new state itself; read it back to show what runs where.
            if let Ok(now) = store.load().await {
                print_state(out, store.parameter(), &now);
            }
        }
        let rollouts = follow_rollouts(
            aws,
            out,
            request,
            &synthesized.stack,
            &checked,
            executed_after,
        )
        .await?;
        (rollouts, verify_alarms(aws, out, request, &checked).await)
    } else {
        (Rollouts::NotFollowed, None)
    };
    Ok(Deployed::Executed {
        watched,
        outputs,
        rollouts,
        verified,
    })
}

/// Once the stack settled (and its rollouts ended, however): `verify` on the alarms it
/// defines, shown. It informs and never fails the deploy, which has happened: an error reading
/// CloudWatch is a warning with the command to try again.
async fn verify_alarms(
    aws: &Aws,
    out: &dyn Reporter,
    request: &Asked<'_>,
    checked: &VerifyRequest,
) -> Option<Verified> {
    if !request.options.verify_alarms || (checked.alarms.is_empty() && checked.unnamed.is_empty()) {
        return None;
    }
    match verify(aws, checked, out).await {
        Ok(verified) => {
            verified.show(out);
            Some(verified)
        }
        Err(err) => {
            out.note(format!(
                "warning: cannot verify the stack's alarms: {}; try again with `{}`",
                err.said(&|input| out.input(input)),
                out.command(&Verb::Verify.on(&request.request.target.named.name))
            ));
            None
        }
    }
}

/// The stack update started ECS deployments of the traffic-shifting services: show them to
/// their end, so the outcome says whether the new version went live.
///
/// Only deployments created since `executed_after` (the stack's newest event before the change
/// set executed, on AWS's clock) are followed: a service the update did not change keeps its
/// previous deployment, which says nothing of this deploy (one that rolled back days ago
/// would fail it), so it is said and left out.
async fn follow_rollouts(
    aws: &Aws,
    out: &dyn Reporter,
    request: &Asked<'_>,
    stack: &model::Stack,
    checked: &VerifyRequest,
    executed_after: Option<std::time::SystemTime>,
) -> Result<Rollouts> {
    let scope = Scope::of(stack);
    if scope.services.is_empty() || !request.options.follow_rollouts {
        return Ok(Rollouts::NotFollowed);
    }
    let opts = FollowOptions {
        stack: request.request.target.named.name.clone(),
        commands: Commands::of(&request.request.target.named.name, out),
        poll: Poll::STANDARD,
        own_alarms: alarms::names(&checked.alarms),
        wait: None,
        since: executed_after,
    };
    rollout::follow(aws, out, &scope, &opts).await
}

/// A deploy's request with the AWS-only options it runs with.
#[derive(Debug, Clone, Copy)]
struct Asked<'a> {
    request: &'a DeployRequest,
    options: &'a Options,
}

/// What a deploy has decided once its change set is ready: what review and execute work on.
#[derive(Debug, Clone, Copy)]
struct Planned<'a> {
    request: &'a Asked<'a>,
    template: &'a Template,
    existing: Option<&'a Stack>,
    ready: &'a stack::ReadyChangeSet,
}

/// The checks that need no AWS call: whether the CIDR opens the world, and the image.
fn check_offline(request: &Asked<'_>, out: &dyn Reporter) -> Result<()> {
    if let Some(cidr) = request.options.parameters.allowed_cidr
        && cidr.prefix() == 0
    {
        // Before any AWS call: the ports depend on the stack, not on the deployed state.
        let offline = request.request.target.build(None)?;
        let ingress = crate::target::allowed_cidr_ingress(&offline.template);
        let opens = if ingress.is_empty() {
            "no port in this template".to_owned()
        } else {
            ingress.join(", ")
        };
        if request.options.confirm != Confirm::Yes {
            return Err(Error::Refused(Refusal::WorldOpenCidr {
                cidr: cidr.to_string(),
                opens,
            }));
        }
        out.note(format!(
            "warning: {} {cidr} opens {opens} to the whole internet",
            out.input(Input::AllowedCidr)
        ));
    }
    if request
        .options
        .parameters
        .image
        .as_deref()
        .is_some_and(|i| i.trim().is_empty())
    {
        return Err(Error::Refused(Refusal::EmptyImage));
    }
    Ok(())
}

/// Shows the diff, asks, and proves the blue-green state did not move since it was read.
async fn review(
    aws: &Aws,
    out: &dyn Reporter,
    plan: Planned<'_>,
    state: Option<(&SsmStore, &StoredState)>,
) -> Result<()> {
    let Planned {
        request,
        template,
        existing,
        ready,
    } = plan;
    let stack_name = request.request.target.named.name.as_str();
    let old = match existing {
        Some(_) => stack::deployed_template(aws, stack_name).await?,
        None => serde_json::Value::Null,
    };
    let new = template.to_json_value();
    let mut diff = TemplateDiff::between(&old, &new);
    diff.apply_replacements(&stack::replacement_marks(&ready.changes));
    out.line(format!(
        "stack {stack_name}{}: {} resource change(s)",
        region_suffix(aws),
        ready.changes.len()
    ));
    out.block(&diff.to_text());
    if let Some((store, stored)) = state {
        out.line(format!(
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
        out.note(format!(
            "warning: this stack deploys App Mesh resources ({}); AWS App Mesh reached end of support \
             on 2026-09-30 and AWS may refuse to create them; the serviceconnect app is the supported path",
            mesh.join(", ")
        ));
        if !out.confirm(
            "deploy App Mesh resources anyway?",
            request.options.confirm,
            "deploy App Mesh resources",
        )? {
            return Err(Error::Cancelled(Cancelled::Deploy));
        }
    }
    if !out.confirm(
        &format!("deploy these changes to stack {stack_name}?"),
        request.options.confirm,
        "deploy",
    )? {
        return Err(Error::Cancelled(Cancelled::Deploy));
    }

    // The diff above was made from this state; if another deploy moved it since, executing
    // would put versions on the wrong colours.
    if let Some((store, stored)) = state {
        store.ensure_unchanged(stored).await?;
    }
    Ok(())
}

/// Executes the change set and follows the stack to a terminal status; the stack's outputs
/// once it is there, and the time of the stack's newest event before the execution (AWS's
/// clock: what the execution changes comes after it).
async fn execute(
    aws: &Aws,
    out: &dyn Reporter,
    plan: Planned<'_>,
) -> Result<(
    Watched,
    BTreeMap<String, String>,
    Option<std::time::SystemTime>,
)> {
    let (target, ready) = (&plan.request.request.target, plan.ready);
    let stack_name = target.named.name.as_str();
    let before = stack::newest_event(aws, &ready.stack_id).await?;
    let after_event = before
        .as_ref()
        .and_then(|e| e.event_id())
        .map(str::to_string);
    let executed_after = before
        .as_ref()
        .and_then(|e| e.timestamp())
        .and_then(|t| std::time::SystemTime::try_from(*t).ok());
    let total = match plan.existing {
        Some(_) => ready.changes.len(),
        None => plan.template.resources.len(),
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
        return Err(aws_error("ExecuteChangeSet", &err, |why| {
            format!(
                "CloudFormation refused to execute the change set for stack {stack_name}: {why}"
            )
        }));
    }
    let executed = Instant::now();
    let watched = stack::watch(aws, out, &ready.stack_id, after_event.as_deref(), total)
        .await
        .map_err(|e| {
            let (kind, operation, remedy, what) = match e {
                Error::Aws(inner) => (inner.kind, inner.operation, inner.remedy, inner.message),
                other => (
                    AwsErrorKind::Other,
                    "DescribeStackEvents",
                    None,
                    other.said(&|input| out.input(input)),
                ),
            };
            Error::Aws(AwsError {
                kind,
                operation,
                message: format!(
                    "{what}; the deploy was started, follow it with `{}`",
                    out.command(&Verb::Status.on(stack_name))
                ),
                remedy,
            })
        })?;
    let mut outputs = BTreeMap::new();
    match &watched {
        Watched::Interrupted { status } => {
            interrupted(out, target, status, plan.existing.is_none());
        }
        Watched::Finished { status, .. } if status.is_success() => {
            out.line(format!("stack {stack_name}: {status}"));
            if let Some(stack) = stack::find(aws, &ready.stack_id).await? {
                outputs = stack::outputs(&stack);
                stack::print_outputs(out, &outputs);
            }
            if super::debug_timing(out) {
                // moto finishes the stack inside ExecuteChangeSet, so this is the delay
                // between the stack reaching its status and the deploy returning.
                out.note(format!(
                    "timing: deploy returning within {} of ExecuteChangeSet returning",
                    stack::since(executed)
                ));
            }
        }
        Watched::Finished { status, .. } => {
            stack::report_failure(out, stack_name, &watched);
            if *status == StackStatus::RollbackComplete {
                out.line("the stack holds no resources now; the next deploy deletes it first");
            }
        }
    }
    Ok((watched, outputs, executed_after))
}

/// Ctrl-C while CloudFormation works: it carries on regardless, so say where things stand.
fn interrupted(out: &dyn Reporter, target: &Resolved, status: &StackStatus, creating: bool) {
    let stack_name = &target.named.name;
    out.note(format!(
        "stopped watching: stack {stack_name} is {status} and CloudFormation carries on without this command"
    ));
    out.note(format!(
        "  follow it: {}",
        out.command(&Verb::Status.on(stack_name))
    ));
    if creating {
        out.note(format!(
            "  undo it:   {} (a create cannot be cancelled, only deleted)",
            out.command(&Verb::Destroy.on(stack_name))
        ));
    } else {
        out.note(format!(
            "  cancel it: aws cloudformation cancel-update-stack --stack-name {stack_name}"
        ));
    }
}

/// Waits out an operation in progress and clears a `ROLLBACK_COMPLETE` stack; returns the
/// stack to update, or `None` to create.
async fn settle(aws: &Aws, out: &dyn Reporter, target: &Resolved) -> Result<Option<Stack>> {
    let stack_name = target.named.name.as_str();
    let Some(mut stack) = stack::find(aws, stack_name).await? else {
        return Ok(None);
    };
    if stack::status_of(&stack).in_progress() {
        out.note(format!(
            "stack {stack_name} is {}: waiting for that operation to finish before deploying (Ctrl-C stops waiting; the operation continues)",
            stack::status_of(&stack)
        ));
        let id = stack.stack_id().unwrap_or(stack_name).to_string();
        let after = stack::newest_event_id(aws, &id).await?;
        if let Watched::Interrupted { status } =
            stack::watch(aws, out, &id, after.as_deref(), 0).await?
        {
            return Err(Error::Stopped(Stopped::Waiting {
                stack: stack_name.to_owned(),
                status: status.to_string(),
            }));
        }
        match stack::find(aws, stack_name).await? {
            Some(now) => stack = now,
            None => return Ok(None),
        }
    }
    match stack::status_of(&stack) {
        StackStatus::RollbackComplete => {
            out.note(format!(
                "stack {stack_name} is ROLLBACK_COMPLETE after a failed create and holds no resources: deleting it before creating it again"
            ));
            let id = stack.stack_id().unwrap_or(stack_name).to_string();
            match stack::delete_and_watch(aws, out, &id, stack_name, 0).await? {
                Watched::Finished {
                    status: StackStatus::DeleteComplete,
                    ..
                } => Ok(None),
                Watched::Finished { status, .. } | Watched::Interrupted { status } => {
                    Err(Error::Refused(Refusal::NotDeleted {
                        stack: stack_name.to_owned(),
                        status: status.to_string(),
                        destroy: out.command(&Verb::Destroy.on(stack_name)),
                    }))
                }
            }
        }
        // Made by a change set that was never executed: it has no template, create into it.
        StackStatus::ReviewInProgress | StackStatus::DeleteComplete => Ok(None),
        StackStatus::UpdateRollbackFailed => Err(Error::Refused(Refusal::RollbackFailed {
            stack: stack_name.to_owned(),
        })),
        _ => Ok(Some(stack)),
    }
}

/// The change set's parameters: a flag's value when given; on an update, the previous value;
/// the template default; otherwise a first deploy needs the flag.
fn parameters(
    template: &Template,
    existing: Option<&Stack>,
    request: &Asked<'_>,
) -> Result<Vec<Parameter>> {
    let stack_name = &request.request.target.named.name;
    let cidr = request
        .options
        .parameters
        .allowed_cidr
        .map(|c| c.to_string());
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
        let (value, input) = match name.as_str() {
            IMAGE_PARAMETER => (
                request.options.parameters.image.as_deref(),
                Some(Input::Image),
            ),
            ALLOWED_CIDR_PARAMETER => (cidr.as_deref(), Some(Input::AllowedCidr)),
            _ => (None, None),
        };
        let parameter = Parameter::builder().parameter_key(name);
        if let Some(value) = value {
            out.push(parameter.parameter_value(value).build());
        } else if previous.contains(&name.as_str()) {
            out.push(parameter.use_previous_value(true).build());
        } else if declared.default.is_none() {
            let Some(input) = input else {
                return Err(Error::Refused(Refusal::ParameterWithoutDefault {
                    stack: stack_name.to_owned(),
                    parameter: name.clone(),
                }));
            };
            return Err(Error::Refused(Refusal::ParameterNeeded {
                stack: stack_name.to_owned(),
                parameter: name.clone(),
                input,
            }));
        }
    }
    Ok(out)
}
