//! `destroy`: delete the stack, follow it to `DELETE_COMPLETE`, then clean up the Service
//! Connect namespace ECS may have created on its own (SPEC §3.1)
//!
//! ECS creates a Cloud Map HTTP namespace when a cluster or service names one that does not
//! exist yet; no stack owns it, so deleting the stack leaves it behind. meshtest passes the
//! namespace by ARN, but stacks deployed by the seed (or a race, CDK issues 25554/25616) can
//! still leave one. It is deleted only when it is provably nobody's: the right name and type,
//! no CloudFormation stack owns it, and no Cloud Map service is registered in it.

use anyhow::{Result, anyhow, bail};
use aws_sdk_servicediscovery::types::{
    FilterCondition, NamespaceFilter, NamespaceFilterName, NamespaceType, ServiceFilter,
    ServiceFilterName,
};
use model::DiscoverySpec;

use super::client::{Aws, code_of, describe, is_missing_stack};
use super::stack::{self, Watched};
use super::ui::Ui;
use crate::cli::{DestroyArgs, Outcome};
use crate::target as synth;

pub async fn run(aws: &Aws, ui: &Ui, args: &DestroyArgs) -> Result<Outcome> {
    let stack_name = synth::stack_name(&args.target)?;
    // The namespace name comes from the model, so an unknown app fails before anything else.
    let synthesized = synth::synthesize(
        &args.target.app,
        args.target.stack_name.as_deref(),
        None,
        None,
    )?;
    let namespace = match &synthesized.stack.spec().cluster.discovery {
        DiscoverySpec::ServiceConnect { namespace } => Some(namespace.clone()),
        DiscoverySpec::PrivateDns { .. } => None,
    };

    let outcome = match stack::find(aws, &stack_name).await? {
        None => {
            ui.line(format!(
                "stack {stack_name} does not exist{}: nothing to destroy",
                region_suffix(aws)
            ));
            Outcome::Success
        }
        Some(found) => {
            let status = stack::status_of(&found).to_string();
            if stack::in_progress(&status) && status != "DELETE_IN_PROGRESS" {
                bail!(
                    "stack {stack_name} is {status}: wait for it to finish (`cargo xtask status {}`) or cancel it, then destroy",
                    args.target.app
                );
            }
            let id = found.stack_id().unwrap_or(&stack_name).to_string();
            let resources = count_resources(aws, &id).await?;
            ui.line(format!(
                "stack {stack_name}{} is {status} with {resources} resource(s): destroy deletes all of them",
                region_suffix(aws)
            ));
            if !ui.confirm(
                &format!("delete stack {stack_name}?"),
                args.yes,
                "destroy the stack",
            )? {
                bail!("destroy cancelled: nothing was deleted");
            }
            let after = stack::newest_event_id(aws, &id).await?;
            aws.cfn
                .delete_stack()
                .stack_name(&id)
                .send()
                .await
                .map_err(|e| anyhow!("cannot delete stack {stack_name}: {}", describe(&e)))?;
            match stack::watch(aws, ui, &id, after.as_deref(), resources).await? {
                Watched::Finished { status, .. } if status == "DELETE_COMPLETE" => {
                    ui.line(format!("stack {stack_name}: DELETE_COMPLETE"));
                    Outcome::Success
                }
                Watched::Finished {
                    status,
                    reason,
                    failures,
                } => {
                    stack::report_failure(ui, &stack_name, &status, reason.as_deref(), &failures);
                    ui.line(format!(
                        "fix or remove the resources above, then run `cargo xtask destroy {}` again",
                        args.target.app
                    ));
                    Outcome::Failure
                }
                Watched::Interrupted { status } => {
                    ui.note(format!(
                        "stopped watching: stack {stack_name} is {status} and the delete carries on; follow it with `cargo xtask status {}`",
                        args.target.app
                    ));
                    return Ok(Outcome::Failure);
                }
            }
        }
    };
    if outcome == Outcome::Success
        && let Some(namespace) = namespace
    {
        clean_orphaned_namespace(aws, ui, &namespace, args.yes).await?;
    }
    Ok(outcome)
}

fn region_suffix(aws: &Aws) -> String {
    if aws.region.is_empty() {
        String::new()
    } else {
        format!(" in {}", aws.region)
    }
}

async fn count_resources(aws: &Aws, stack_id: &str) -> Result<usize> {
    let mut count = 0;
    let mut token = None;
    loop {
        let page = aws
            .cfn
            .list_stack_resources()
            .stack_name(stack_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot list the resources of stack {stack_id}: {}",
                    describe(&e)
                )
            })?;
        count += page.stack_resource_summaries().len();
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(count);
        }
    }
}

/// Finds HTTP namespaces named `name` that no stack owns and that hold no services, reports
/// them, and deletes them when confirmed.
async fn clean_orphaned_namespace(aws: &Aws, ui: &Ui, name: &str, yes: bool) -> Result<()> {
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
                anyhow!(
                    "cannot list Cloud Map namespaces to look for a leftover {name}: {}",
                    describe(&e)
                )
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
            break;
        }
    }
    for (id, arn) in candidates {
        // DescribeStackResources by physical id answers "does not exist" when no stack owns it.
        match aws
            .cfn
            .describe_stack_resources()
            .physical_resource_id(&id)
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
                continue;
            }
            Ok(_) => {}
            Err(err) if is_missing_stack(&err) || code_of(&err) == Some("ValidationError") => {}
            Err(err) => {
                ui.note(format!(
                    "warning: cannot tell whether Cloud Map namespace {name} ({id}) is left over ({}): check it in the Cloud Map console",
                    describe(&err)
                ));
                continue;
            }
        }
        let services = aws
            .discovery
            .list_services()
            .filters(
                ServiceFilter::builder()
                    .name(ServiceFilterName::NamespaceId)
                    .values(&id)
                    .condition(FilterCondition::Eq)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot list the services of Cloud Map namespace {id}: {}",
                    describe(&e)
                )
            })?;
        if !services.services().is_empty() {
            ui.line(format!(
                "Cloud Map namespace {name} ({id}) is owned by no stack but still has {} service(s): left alone, delete them first if they are yours",
                services.services().len()
            ));
            continue;
        }
        ui.line(format!(
            "left behind: Cloud Map namespace {name} ({id}), created outside any stack (ECS makes one when given a namespace name)"
        ));
        if !ui.interactive && !yes {
            ui.line(format!(
                "  delete it with `aws servicediscovery delete-namespace --id {id}` or rerun with --yes"
            ));
            continue;
        }
        if !ui.confirm(
            &format!("delete namespace {name} ({arn})?"),
            yes,
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
            .map_err(|e| anyhow!("cannot delete Cloud Map namespace {id}: {}; delete it in the Cloud Map console", describe(&e)))?;
        ui.line(format!("  deleted Cloud Map namespace {name} ({id})"));
    }
    Ok(())
}
