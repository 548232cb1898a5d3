//! CloudFormation building blocks: look up a stack, make and read change sets, follow a stack
//! operation to its end with progress, and report failures
//!
//! Polling is done here with a short, growing interval (100 ms up to 2 s) rather than the SDK
//! waiters, which poll every 30 s: a deploy should return as soon as the stack is done.

use super::client::{Aws, aws_error, is_missing_stack};
use crate::error::{AwsError, AwsErrorKind, Error, Refusal, Result};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{
    Capability, Change, ChangeSetStatus, ChangeSetType, Parameter, Replacement, RequiresRecreation,
    Stack, StackEvent,
};
use cfn_render::diff::{self, ReplacementMark};

use super::alarms::StackResource;
use super::upload::TemplateSource;
use crate::outcome::{Failure, StackStatus, Watched};
use crate::report::{Progress, Reporter, Verb};
use crate::target::Named;
use serde_json::Value;

pub const FIRST_POLL: Duration = Duration::from_millis(100);
pub const MAX_POLL: Duration = Duration::from_secs(2);

/// The next polling interval: grows by half up to [`MAX_POLL`].
pub fn next_interval(current: Duration) -> Duration {
    grow(current, MAX_POLL)
}

/// Every poll in this crate grows its interval the same way: by half, up to `max`.
pub fn grow(current: Duration, max: Duration) -> Duration {
    (current * 3 / 2).min(max)
}

/// The stack, or `None` when it does not exist.
pub async fn find(aws: &Aws, name: &str) -> Result<Option<Stack>> {
    match aws.cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(err) if is_missing_stack(&err) => Ok(None),
        Err(err) => Err(aws_error("DescribeStacks", &err, |why| {
            format!("cannot describe stack {name}: {why}")
        })),
    }
}

pub fn status_of(stack: &Stack) -> StackStatus {
    StackStatus::parse(
        stack
            .stack_status()
            .map(|s| s.as_str())
            .unwrap_or("UNKNOWN"),
    )
}

/// The deployed template as JSON, or `Null` for a stack that has none yet.
pub async fn deployed_template(aws: &Aws, stack: &str) -> Result<serde_json::Value> {
    let out = aws
        .cfn
        .get_template()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            aws_error("GetTemplate", &e, |why| {
                format!("cannot read the template of stack {stack}: {why}")
            })
        })?;
    let Some(body) = out.template_body() else {
        return Ok(serde_json::Value::Null);
    };
    serde_json::from_str(body).map_err(|source| Error::Json {
        what: format!(
            "the deployed template of stack {stack} is not JSON (was it deployed by another tool?): \
             delete the stack or deploy it with the tool that made it"
        ),
        source,
    })
}

/// The template the stack `target` names runs, for the commands that act on a deployed stack
/// (`status`, its watch and waits, `rollback`, `continue`, `verify`, the dashboard): they read
/// what was deployed, not what this checkout renders without the deploy's flags (the gateway
/// deployed with a strategy carries it in its template). Refused when the stack does not exist.
pub async fn running_template(aws: &Aws, target: &Named, out: &dyn Reporter) -> Result<Value> {
    match deployed_template(aws, &target.name).await {
        Err(Error::Aws(err)) if err.kind == AwsErrorKind::NotFound => {
            Err(Error::Refused(Refusal::NotDeployed {
                stack: target.name.clone(),
                deploy: out.command(&Verb::Deploy.on(&target.name)),
            }))
        }
        other => other,
    }
}

/// Every resource of `stack` (`ListStackResources`, paged).
pub async fn resources(aws: &Aws, stack: &str) -> Result<Vec<StackResource>> {
    let mut resources = Vec::new();
    let mut token: Option<String> = None;
    // Bounded: a stack has at most 500 resources (CloudFormation quotas), a few pages of them.
    for _ in 0..50 {
        let page = aws
            .cfn
            .list_stack_resources()
            .stack_name(stack)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                aws_error("ListStackResources", &e, |why| {
                    format!("cannot list the resources of stack {stack}: {why}")
                })
            })?;
        resources.extend(page.stack_resource_summaries().iter().map(|r| {
            StackResource {
                logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: r.resource_type().unwrap_or_default().to_owned(),
                physical_id: r.physical_resource_id().map(str::to_owned),
                status: r
                    .resource_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            }
        }));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(resources)
}

/// Parameters and capabilities for a change set.
#[derive(Debug, Clone)]
pub struct ChangeSetRequest<'a> {
    pub stack: &'a str,
    pub kind: ChangeSetType,
    pub template: &'a TemplateSource,
    pub parameters: Vec<Parameter>,
    pub description: &'a str,
}

/// A change set that CloudFormation has finished computing.
#[derive(Debug, Clone)]
pub struct ReadyChangeSet {
    pub id: String,
    pub stack_id: String,
    pub changes: Vec<Change>,
}

/// What became of a change set.
#[derive(Debug)]
pub enum ChangeSetResult {
    Ready(ReadyChangeSet),
    /// CloudFormation found nothing to change; the change set has been deleted.
    NoChanges,
}

/// Creates a change set and waits until CloudFormation has computed it.
pub async fn create_change_set(
    aws: &Aws,
    request: &ChangeSetRequest<'_>,
) -> Result<ChangeSetResult> {
    let name = format!(
        "meshtest-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );
    let created = match request
        .template
        .apply(aws.cfn.create_change_set())
        .stack_name(request.stack)
        .change_set_name(&name)
        .change_set_type(request.kind.clone())
        .set_parameters(Some(request.parameters.clone()))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .description(request.description)
        .send()
        .await
    {
        Ok(created) => created,
        // moto refuses an unchanged template right away instead of failing the change set.
        Err(err)
            if err
                .as_service_error()
                .and_then(|e| e.meta().message())
                .is_some_and(|m| m.contains("No updates are to be performed")) =>
        {
            return Ok(ChangeSetResult::NoChanges);
        }
        Err(err) => {
            return Err(aws_error("CreateChangeSet", &err, |why| {
                format!(
                    "cannot create a change set for stack {}: {why}",
                    request.stack
                )
            }));
        }
    };
    let made = ReadyChangeSet {
        id: created.id().unwrap_or(&name).to_string(),
        stack_id: created.stack_id().unwrap_or(request.stack).to_string(),
        changes: Vec::new(),
    };
    let mut interval = FIRST_POLL;
    loop {
        let (status, reason, changes) = read_change_set(aws, &made).await?;
        match status {
            Some(ChangeSetStatus::CreateComplete) if changes.is_empty() => {
                // moto completes a change set without changes instead of failing it.
                delete_change_set(aws, &made.id, &made.stack_id).await?;
                return Ok(ChangeSetResult::NoChanges);
            }
            Some(ChangeSetStatus::CreateComplete) => {
                return Ok(ChangeSetResult::Ready(ReadyChangeSet { changes, ..made }));
            }
            Some(ChangeSetStatus::Failed) => {
                let no_changes = reason.contains("didn't contain changes")
                    || reason.contains("No updates are to be performed");
                delete_change_set(aws, &made.id, &made.stack_id).await?;
                if no_changes {
                    return Ok(ChangeSetResult::NoChanges);
                }
                return Err(Error::Aws(AwsError {
                    kind: AwsErrorKind::Validation,
                    operation: "CreateChangeSet",
                    message: format!(
                        "CloudFormation rejected the change set for stack {}: {reason}",
                        request.stack
                    ),
                    remedy: None,
                }));
            }
            _ => {}
        }
        tokio::time::sleep(interval).await;
        interval = next_interval(interval);
    }
}

/// The status, its reason and every change (all pages) of change set `made`.
async fn read_change_set(
    aws: &Aws,
    made: &ReadyChangeSet,
) -> Result<(Option<ChangeSetStatus>, String, Vec<Change>)> {
    let mut changes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .cfn
            .describe_change_set()
            .change_set_name(&made.id)
            .stack_name(&made.stack_id)
            .include_property_values(true)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                aws_error("DescribeChangeSet", &e, |why| {
                    format!("cannot read change set {}: {why}", made.id)
                })
            })?;
        changes.extend(page.changes().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            let reason = page.status_reason().unwrap_or_default().to_string();
            return Ok((page.status().cloned(), reason, changes));
        }
    }
}

pub async fn delete_change_set(aws: &Aws, id: &str, stack_id: &str) -> Result<()> {
    aws.cfn
        .delete_change_set()
        .change_set_name(id)
        .stack_name(stack_id)
        .send()
        .await
        .map_err(|e| {
            aws_error("DeleteChangeSet", &e, |why| {
                format!(
                    "cannot delete change set {id}: {why}; delete it in the CloudFormation console"
                )
            })
        })?;
    Ok(())
}

/// Replacement verdicts for the diff, from the change set's resource changes.
pub fn replacement_marks(changes: &[Change]) -> Vec<ReplacementMark> {
    changes
        .iter()
        .filter_map(Change::resource_change)
        .filter_map(|rc| {
            let replacement = match rc.replacement()? {
                Replacement::True => diff::Replacement::True,
                Replacement::Conditional => diff::Replacement::Conditional,
                _ => diff::Replacement::False,
            };
            let recreating_properties: BTreeSet<String> = rc
                .details()
                .iter()
                .filter_map(|d| d.target())
                .filter(|t| {
                    matches!(
                        t.requires_recreation(),
                        Some(RequiresRecreation::Always | RequiresRecreation::Conditionally)
                    )
                })
                .filter_map(|t| t.name().map(str::to_string))
                .collect();
            Some(ReplacementMark {
                logical_id: rc.logical_resource_id()?.to_string(),
                replacement,
                recreating_properties,
            })
        })
        .collect()
}

/// The id of the newest event of a stack, so a watch shows only what happens after it.
pub async fn newest_event_id(aws: &Aws, stack: &str) -> Result<Option<String>> {
    Ok(newest_event(aws, stack)
        .await?
        .and_then(|e| e.event_id().map(str::to_string)))
}

/// The stack's newest event, if it has any (`DescribeStackEvents` lists the newest first).
pub async fn newest_event(
    aws: &Aws,
    stack: &str,
) -> Result<Option<aws_sdk_cloudformation::types::StackEvent>> {
    match aws
        .cfn
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
    {
        Ok(out) => Ok(out.stack_events().first().cloned()),
        Err(err) if is_missing_stack(&err) => Ok(None),
        Err(err) => Err(aws_error("DescribeStackEvents", &err, |why| {
            format!("cannot read the events of stack {stack}: {why}")
        })),
    }
}

/// Follows a stack operation until the stack reaches a terminal status, reporting each new
/// event and how many of the `total` resources have finished ([`Progress`]: a terminal draws
/// it as a bar). `after_event` is the newest event before the operation started.
pub async fn watch(
    aws: &Aws,
    out: &dyn Reporter,
    stack_id: &str,
    after_event: Option<&str>,
    total: usize,
) -> Result<Watched> {
    out.show(Progress::StackStarted { resources: total });
    let result = watch_loop(aws, out, stack_id, after_event).await;
    out.show(Progress::StackEnded);
    result
}

async fn watch_loop(
    aws: &Aws,
    out: &dyn Reporter,
    stack_id: &str,
    after_event: Option<&str>,
) -> Result<Watched> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut latest: BTreeMap<String, String> = BTreeMap::new();
    let mut failures: Vec<Failure> = Vec::new();
    let mut interval = Duration::ZERO;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => {
                let status = match find(aws, stack_id).await {
                    Ok(Some(stack)) => status_of(&stack),
                    Ok(None) => StackStatus::DeleteComplete,
                    Err(_) => StackStatus::Other("unknown (cannot describe it)".to_owned()),
                };
                return Ok(Watched::Interrupted { status });
            }
            () = tokio::time::sleep(interval) => {}
        }
        let events = new_events(aws, stack_id, after_event, &mut seen).await?;
        let active = !events.is_empty();
        for event in &events {
            out.show(Progress::StackEvent(&event_line(event)));
            if event.resource_type() != Some("AWS::CloudFormation::Stack") {
                latest.insert(
                    event.logical_resource_id().unwrap_or_default().to_string(),
                    event
                        .resource_status()
                        .map(|s| s.as_str())
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            failures.extend(failure_of(event));
        }
        show_resources(out, &latest);
        let (status, reason) = match find(aws, stack_id).await? {
            Some(stack) => (
                status_of(&stack),
                stack.stack_status_reason().map(str::to_string),
            ),
            None => (StackStatus::DeleteComplete, None),
        };
        if status.is_terminal() {
            // Events can land after the status flips; one more read keeps the report complete.
            let late = new_events(aws, stack_id, after_event, &mut seen).await?;
            failures.extend(late.iter().filter_map(failure_of));
            return Ok(Watched::Finished {
                status,
                reason,
                failures,
            });
        }
        interval = if active || interval.is_zero() {
            FIRST_POLL
        } else {
            next_interval(interval)
        };
    }
}

/// Deletes stack `id` and follows it to a terminal status (`total` resources for the bar).
pub async fn delete_and_watch(
    aws: &Aws,
    out: &dyn Reporter,
    id: &str,
    stack_name: &str,
    total: usize,
) -> Result<Watched> {
    let after = newest_event_id(aws, id).await?;
    aws.cfn
        .delete_stack()
        .stack_name(id)
        .send()
        .await
        .map_err(|e| {
            aws_error("DeleteStack", &e, |why| {
                format!("cannot delete stack {stack_name}: {why}")
            })
        })?;
    watch(aws, out, id, after.as_deref(), total).await
}

/// One event as a line: status, resource type, logical id and the reason when there is one.
fn event_line(event: &StackEvent) -> String {
    let reason = event.resource_status_reason().unwrap_or_default();
    format!(
        "{:<28} {:<40} {}{}",
        event
            .resource_status()
            .map(|s| s.as_str())
            .unwrap_or_default(),
        event.resource_type().unwrap_or_default(),
        event.logical_resource_id().unwrap_or_default(),
        if reason.is_empty() {
            String::new()
        } else {
            format!(": {reason}")
        }
    )
}

/// The failure an event reports: a `*_FAILED` status with a reason.
fn failure_of(event: &StackEvent) -> Option<Failure> {
    let status = event.resource_status().map(|s| s.as_str()).unwrap_or("");
    let reason = event.resource_status_reason().unwrap_or_default();
    (status.ends_with("_FAILED") && !reason.is_empty()).then(|| Failure {
        logical_id: event.logical_resource_id().unwrap_or_default().into(),
        resource_type: event.resource_type().unwrap_or_default().into(),
        status: status.into(),
        reason: reason.into(),
    })
}

/// How many resources have finished, and which are still in progress.
fn show_resources(out: &dyn Reporter, latest: &BTreeMap<String, String>) {
    let finished = latest
        .values()
        .filter(|s| !s.ends_with("_IN_PROGRESS"))
        .count();
    let in_progress: Vec<&str> = latest
        .iter()
        .filter(|(_, s)| s.ends_with("_IN_PROGRESS"))
        .map(|(id, _)| id.as_str())
        .collect();
    out.show(Progress::StackResources {
        finished,
        in_progress: &in_progress,
    });
}

/// Events newer than `after_event` not seen yet, oldest first.
async fn new_events(
    aws: &Aws,
    stack_id: &str,
    after_event: Option<&str>,
    seen: &mut HashSet<String>,
) -> Result<Vec<StackEvent>> {
    let mut fresh = Vec::new();
    let mut token: Option<String> = None;
    // Events come newest first; stop at the first one already known. Ten pages (1,000 events)
    // bounds a first read of a long-lived stack.
    'pages: for _ in 0..10 {
        let page = match aws
            .cfn
            .describe_stack_events()
            .stack_name(stack_id)
            .set_next_token(token.clone())
            .send()
            .await
        {
            Ok(page) => page,
            Err(err) if is_missing_stack(&err) => break,
            Err(err) => {
                return Err(aws_error("DescribeStackEvents", &err, |why| {
                    format!("cannot read the events of stack {stack_id}: {why}")
                }));
            }
        };
        for event in page.stack_events() {
            let id = event.event_id().unwrap_or_default();
            if Some(id) == after_event || seen.contains(id) {
                break 'pages;
            }
            fresh.push(event.clone());
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for event in &fresh {
        seen.insert(event.event_id().unwrap_or_default().to_string());
    }
    fresh.reverse();
    Ok(fresh)
}

/// Prints the failed resources of a finished operation with their reasons, and its final
/// status.
pub fn report_failure(out: &dyn Reporter, stack: &str, watched: &Watched) {
    let Watched::Finished {
        status,
        reason,
        failures,
    } = watched
    else {
        return;
    };
    if !failures.is_empty() {
        out.line("failed resources:");
        let mut shown = BTreeSet::new();
        for f in failures {
            if shown.insert((&f.logical_id, &f.status, &f.reason)) {
                out.line(format!(
                    "  {} ({}) {}: {}",
                    f.logical_id, f.resource_type, f.status, f.reason
                ));
            }
        }
    }
    match reason {
        Some(reason) if !reason.is_empty() => {
            out.line(format!("stack {stack}: {status} ({reason})"))
        }
        _ => out.line(format!("stack {stack}: {status}")),
    }
}

/// The stack's outputs by key.
pub fn outputs(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .outputs()
        .iter()
        .map(|o| {
            (
                o.output_key().unwrap_or_default().to_owned(),
                o.output_value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Prints the stack's outputs, one per line.
pub fn print_outputs(out: &dyn Reporter, outputs: &BTreeMap<String, String>) {
    if outputs.is_empty() {
        return;
    }
    out.line("outputs:");
    for (key, value) in outputs {
        out.line(format!("  {key} = {value}"));
    }
}

/// How long the watch took, for the `--debug` timing line.
pub fn since(start: Instant) -> String {
    format!("{:.2}s", start.elapsed().as_secs_f64())
}
