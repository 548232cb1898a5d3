//! `destroy`: delete the stack, follow it to `DELETE_COMPLETE`, then clean up the Service
//! Connect namespace ECS may have created on its own (SPEC §3.1)
//!
//! ECS creates a Cloud Map HTTP namespace when a cluster or service names one that does not
//! exist yet; no stack owns it, so deleting the stack leaves it behind. meshtest passes the
//! namespace by ARN, but stacks deployed by the seed (or a race, CDK issues 25554/25616) can
//! still leave one. It is deleted only when it is provably nobody's: the right name and type,
//! no CloudFormation stack owns it, and no Cloud Map service is registered in it.

use super::client::{Aws, aws_error, code_of, described, is_missing_stack};
use crate::error::{Cancelled, Error, Refusal, Result};
use aws_sdk_servicediscovery::types::{
    FilterCondition, NamespaceFilter, NamespaceFilterName, NamespaceType, ServiceFilter,
    ServiceFilterName,
};

use model::DiscoverySpec;

use super::stack;
use super::{AwsBackend, region_suffix};
use crate::outcome::{Destroyed, StackStatus, Watched};
use crate::report::{Confirm, Input, Reporter, Verb};
use crate::request::DestroyRequest;

/// Deletes `request.target`'s stack after asking (unless [`Confirm::Yes`]) and follows it to
/// the end; then removes the Service Connect namespace ECS may have left behind.
pub async fn destroy(
    backend: &AwsBackend,
    request: &DestroyRequest,
    out: &dyn Reporter,
) -> Result<Destroyed> {
    let (aws, confirm) = (&backend.aws, backend.options.confirm);
    let target = request.target.named();
    let stack_name = target.name.as_str();
    let destroyed = match stack::find(aws, stack_name).await? {
        None => {
            out.line(format!(
                "stack {stack_name} does not exist{}: nothing to destroy",
                region_suffix(aws)
            ));
            Destroyed::Absent
        }
        Some(found) => {
            let status = stack::status_of(&found);
            if status.in_progress() && status != StackStatus::DeleteInProgress {
                return Err(Error::Refused(Refusal::StackBusy {
                    stack: stack_name.to_owned(),
                    status: status.to_string(),
                    status_command: out.command(&Verb::Status.on(stack_name)),
                }));
            }
            let id = found.stack_id().unwrap_or(stack_name).to_string();
            let resources = stack::resources(aws, &id).await?.len();
            out.line(format!(
                "stack {stack_name}{} is {status} with {resources} resource(s): destroy deletes all of them",
                region_suffix(aws)
            ));
            if !out.confirm(
                &format!("delete stack {stack_name}?"),
                confirm,
                "destroy the stack",
            )? {
                return Err(Error::Cancelled(Cancelled::Destroy));
            }
            let watched = stack::delete_and_watch(aws, out, &id, stack_name, resources).await?;
            report(out, target, &watched);
            Destroyed::Deleted(watched)
        }
    };
    if destroyed.succeeded()
        && let Some(namespace) = request.target.resolved().and_then(namespace_of)
    {
        clean_orphaned_namespace(aws, out, namespace, confirm).await?;
    }
    Ok(destroyed)
}

/// The stack's Service Connect namespace: one of that name that ECS made outside the stack is
/// deleted after it (`None`: no such clean-up).
fn namespace_of(target: &crate::target::Resolved) -> Option<&str> {
    match &target.stack.spec().cluster.discovery {
        DiscoverySpec::ServiceConnect { namespace } => Some(namespace),
        DiscoverySpec::PrivateDns { .. } => None,
    }
}

/// What became of the delete, and what to do when it did not finish.
fn report(out: &dyn Reporter, target: &crate::target::Named, watched: &Watched) {
    let stack_name = &target.name;
    match watched {
        Watched::Finished { status, .. } if *status == StackStatus::DeleteComplete => {
            out.line(format!("stack {stack_name}: DELETE_COMPLETE"));
        }
        Watched::Finished { .. } => {
            stack::report_failure(out, stack_name, watched);
            out.line(format!(
                "fix or remove the resources above, then run `{}` again",
                out.command(&Verb::Destroy.on(stack_name))
            ));
        }
        Watched::Interrupted { status } => {
            out.note(format!(
                "stopped watching: stack {stack_name} is {status} and the delete carries on; follow it with `{}`",
                out.command(&Verb::Status.on(stack_name))
            ));
        }
    }
}

/// Finds HTTP namespaces named `name` that no stack owns and that hold no services, reports
/// them, and deletes them when confirmed.
async fn clean_orphaned_namespace(
    aws: &Aws,
    ui: &dyn Reporter,
    name: &str,
    confirm: Confirm,
) -> Result<()> {
    for (id, arn) in http_namespaces_named(aws, name).await? {
        if !is_left_over(aws, ui, name, &id).await? {
            continue;
        }
        ui.line(format!(
            "left behind: Cloud Map namespace {name} ({id}), created outside any stack (ECS makes one when given a namespace name)"
        ));
        if !ui.can_ask() && confirm != Confirm::Yes {
            ui.line(format!(
                "  delete it with `aws servicediscovery delete-namespace --id {id}` or rerun with {}",
                ui.input(Input::Yes)
            ));
            continue;
        }
        if !ui.confirm(
            &format!("delete namespace {name} ({arn})?"),
            confirm,
            "delete the namespace",
        )? {
            ui.line("  kept");
            continue;
        }
        aws.discovery
            .delete_namespace()
            .id(&id)
            .send()
            .await
            .map_err(|e| aws_error("DeleteNamespace", &e, |why| format!("cannot delete Cloud Map namespace {id}: {why}; delete it in the Cloud Map console")))?;
        ui.line(format!("  deleted Cloud Map namespace {name} ({id})"));
    }
    Ok(())
}

/// The ids and ARNs of the HTTP namespaces called `name`.
async fn http_namespaces_named(aws: &Aws, name: &str) -> Result<Vec<(String, String)>> {
    let mut token = None;
    let mut candidates = Vec::new();
    loop {
        let page = aws
            .discovery
            .list_namespaces()
            .filters(
                NamespaceFilter::builder()
                    .name(NamespaceFilterName::Type)
                    .values(NamespaceType::Http.as_str())
                    .condition(FilterCondition::Eq)
                    .build()?,
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                aws_error("ListNamespaces", &e, |why| {
                    format!("cannot list Cloud Map namespaces to look for a leftover {name}: {why}")
                })
            })?;
        candidates.extend(
            page.namespaces()
                .iter()
                .filter(|n| n.name() == Some(name))
                .filter_map(|n| {
                    Some((n.id()?.to_string(), n.arn().unwrap_or_default().to_string()))
                }),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(candidates);
        }
    }
}

/// Whether namespace `id` belongs to no stack and holds no service; says so when it is kept.
async fn is_left_over(aws: &Aws, ui: &dyn Reporter, name: &str, id: &str) -> Result<bool> {
    // DescribeStackResources by physical id answers "does not exist" when no stack owns it.
    match aws
        .cfn
        .describe_stack_resources()
        .physical_resource_id(id)
        .send()
        .await
    {
        Ok(owned) if !owned.stack_resources().is_empty() => {
            let owner = owned.stack_resources()[0]
                .stack_name()
                .unwrap_or("another stack");
            ui.line(format!(
                "Cloud Map namespace {name} ({id}) belongs to stack {owner}: left alone"
            ));
            return Ok(false);
        }
        Ok(_) => {}
        Err(err) if is_missing_stack(&err) || code_of(&err) == Some("ValidationError") => {}
        Err(err) => {
            ui.note(format!(
                "warning: cannot tell whether Cloud Map namespace {name} ({id}) is left over ({}): check it in the Cloud Map console",
                described(&err, ui)
            ));
            return Ok(false);
        }
    }
    let services = aws
        .discovery
        .list_services()
        .filters(
            ServiceFilter::builder()
                .name(ServiceFilterName::NamespaceId)
                .values(id)
                .condition(FilterCondition::Eq)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| {
            aws_error("ListServices", &e, |why| {
                format!("cannot list the services of Cloud Map namespace {id}: {why}")
            })
        })?;
    if !services.services().is_empty() {
        ui.line(format!(
            "Cloud Map namespace {name} ({id}) is owned by no stack but still has {} service(s): left alone, delete them first if they are yours",
            services.services().len()
        ));
    }
    Ok(services.services().is_empty())
}
