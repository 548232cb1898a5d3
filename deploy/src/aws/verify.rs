//! `verify`: whether the alarms a deployed stack defines can see anything. For each alarm, every
//! metric series it reads is looked up with `ListMetrics`, then its state, reason and last state
//! change are read
//!
//! The alarms are those of the template the stack runs (`GetTemplate`), not of what this
//! checkout would render: a stack deployed with another strategy, version or description file
//! is verified as it was deployed, with no flag to repeat.
//!
//! A series whose dimensions the template takes from the stack's own resources (the ALB
//! error-rate alarm's `TargetGroup` and `LoadBalancer`, `Fn::GetAtt` of the target groups' and
//! load balancer's full names) is looked up with the values the deployed stack gives them
//! (`ListStackResources`: the resources' ARNs), and the output says which values were read.
//!
//! `ListMetrics` lists a series only once data was put for it and for two weeks after the last
//! datum, and a new series takes up to 15 minutes to be listed (CloudWatch API reference,
//! ListMetrics). Its dimension filter matches every series that *has* the given dimensions, so
//! a series counts as found only when its dimension set is exactly the one the alarm reads.

use super::client::{Aws, aws_error};
use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudwatch::types::DimensionFilter;

use super::alarms::{self, LastChange, ReadSeries, TemplateAlarm};
use super::stack;
use crate::error::{Error, Refusal, Result};
use crate::outcome::{AlarmCheck, FromStack, Series, SeriesCheck, Severity, StateChange, Verified};
use crate::report::{Input, Reporter, Verb};
use crate::target::Named;

/// Which stack's alarms to verify, and what its template says of them.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    pub target: Named,
    pub alarms: Vec<TemplateAlarm>,
    /// Alarms whose name meshtest cannot work out offline (logical ids).
    pub unnamed: Vec<String>,
}

impl VerifyRequest {
    /// The alarms of the template `target`'s stack runs now (`GetTemplate`); refused when the
    /// stack is not deployed.
    pub async fn deployed(aws: &Aws, target: &Named, out: &dyn Reporter) -> Result<VerifyRequest> {
        let template = stack::running_template(aws, target, out).await?;
        Ok(VerifyRequest::of(target, &template))
    }

    /// The alarms of `template` (its JSON form) for the stack `target` names.
    pub fn of(target: &Named, template: &serde_json::Value) -> VerifyRequest {
        let (alarms, unnamed) = alarms::template_alarms(template, &target.name);
        VerifyRequest {
            target: target.clone(),
            alarms,
            unnamed,
        }
    }
}

/// Checks each alarm of `request`: its series (found, or missing and why), its state, reason
/// and last state change. Notes on what the endpoint cannot say go to `out`.
pub async fn verify(aws: &Aws, request: &VerifyRequest, out: &dyn Reporter) -> Result<Verified> {
    for logical_id in &request.unnamed {
        out.note(format!(
            "note: alarm {logical_id} has a name CloudFormation generates or builds from a parameter: it is not verified"
        ));
    }
    let names: Vec<String> = request.alarms.iter().map(|a| a.name.clone()).collect();
    let described = alarms::describe_alarms(aws, &names).await.map_err(|why| {
        why.into_error("DescribeAlarms", |why| {
            format!(
                "cannot describe the alarms of stack {}: {why}",
                request.target.name
            )
        })
    })?;
    let resolved = resolve(aws, request, out).await?;
    let mut history = true;
    let mut checks = Vec::new();
    for (alarm, from_stack) in &resolved {
        let mut found = Vec::new();
        for read in &alarm.series {
            found.push(exists(aws, &read.series).await?);
        }
        let series = classify(alarm, &found);
        let metric_alarm = described.get(&alarm.name);
        let mut last_change = None;
        if let Some(metric_alarm) = metric_alarm {
            if history {
                match alarms::last_change(aws, &alarm.name).await {
                    Ok(LastChange::Read(change)) => last_change = change,
                    Ok(LastChange::Unsupported) => {
                        history = false;
                        out.note(
                            "note: the endpoint does not implement DescribeAlarmHistory: the last state change is DescribeAlarms' StateTransitionedTimestamp, without its summary",
                        );
                    }
                    Err(why) => {
                        return Err(why.into_error("DescribeAlarmHistory", |why| {
                            format!("cannot read the history of alarm {}: {why}", alarm.name)
                        }));
                    }
                }
            }
            if last_change.is_none() {
                last_change = metric_alarm
                    .state_transitioned_timestamp()
                    .or(metric_alarm.state_updated_timestamp())
                    .map(|at| StateChange {
                        at: at.to_string(),
                        summary: None,
                    });
            }
        }
        checks.push(AlarmCheck {
            name: alarm.name.clone(),
            logical_id: alarm.logical_id.clone(),
            state: metric_alarm.map(|a| alarms::state_of(a.state_value())),
            reason: metric_alarm
                .and_then(|a| a.state_reason())
                .map(str::to_owned),
            last_change,
            from_stack: from_stack
                .iter()
                .map(|r| FromStack {
                    logical_id: r.attribute.logical_id.clone(),
                    attribute: r.attribute.attribute.clone(),
                    physical_id: r.physical_id.clone(),
                    value: r.value.clone(),
                })
                .collect(),
            series,
        });
    }
    Ok(Verified {
        stack_name: request.target.name.clone(),
        alarms: checks,
    })
}

/// `request`'s alarms with the dimensions they read from the deployed stack filled in, and what
/// was read for each. The stack's resources are listed only when some alarm needs them.
async fn resolve(
    aws: &Aws,
    request: &VerifyRequest,
    out: &dyn Reporter,
) -> Result<Vec<(TemplateAlarm, BTreeSet<alarms::Resolved>)>> {
    let stack = &request.target.name;
    let resources = if request.alarms.iter().any(TemplateAlarm::reads_the_stack) {
        stack::resources(aws, stack).await?
    } else {
        Vec::new()
    };
    alarms::resolve(&request.alarms, stack, &resources).map_err(|problem| {
        Error::Refused(Refusal::AlarmDimension {
            problem: problem.to_string(),
            deploy: out.command(&Verb::Deploy.on(stack)),
        })
    })
}

/// Whether CloudWatch lists `series` with exactly its dimensions.
async fn exists(aws: &Aws, series: &Series) -> Result<bool> {
    let filters: Vec<DimensionFilter> = series
        .dimensions
        .iter()
        .map(|(name, value)| DimensionFilter::builder().name(name).value(value).build())
        .collect();
    let mut token: Option<String> = None;
    // Bounded: at 500 series a page, the exact filter leaves few pages; 20 is far beyond them.
    for _ in 0..20 {
        let out = aws
            .cloudwatch
            .list_metrics()
            .namespace(&series.namespace)
            .metric_name(&series.metric)
            .set_dimensions(Some(filters.clone()))
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                aws_error("ListMetrics", &e, |why| {
                    format!("cannot list the metric series {series}: {why}")
                })
            })?;
        let exact = out.metrics().iter().any(|m| {
            let dims: BTreeMap<String, String> = m
                .dimensions()
                .iter()
                .filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
                .collect();
            dims == series.dimensions
        });
        if exact {
            return Ok(true);
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(false)
}

/// What each series' presence means for `alarm`: `found[i]` is whether its i-th series exists.
///
/// Before any traffic nothing is published, so a missing series is expected (a note). Once some
/// of its series exist, a missing one is a warning naming what publishes it, except an answer
/// class (`HTTPCode_Target_5XX_Count`) missing beside another class on the same dimensions:
/// Service Connect has answered, just never with that class, and a `FILL` counts it as 0.
pub fn classify(alarm: &TemplateAlarm, found: &[bool]) -> Vec<SeriesCheck> {
    let found_all = found;
    let any = found.iter().any(|f| *f);
    alarm
        .series
        .iter()
        .zip(found)
        .map(|(read, &found)| {
            let (severity, why) = if found {
                (Severity::Ok, None)
            } else if publisher(&read.series).is_none() {
                (Severity::Warning, Some(unpublished(&read.series)))
            } else if !any {
                (
                    Severity::Note,
                    Some(format!(
                        "no data yet, as expected before any traffic: {} (a new series takes up to 15 minutes to be listed)",
                        publisher(&read.series).unwrap_or_default()
                    )),
                )
            } else {
                after_traffic(read, alarm, found_all)
            };
            SeriesCheck {
                series: read.series.clone(),
                found,
                severity,
                why,
            }
        })
        .collect()
}

/// Whether another answer class (`HTTPCode_Target_2XX_Count` beside a `5XX`) exists on the
/// dimensions `read` has.
fn sibling_found(alarm: &TemplateAlarm, read: &ReadSeries, found: &[bool]) -> bool {
    answer_class(&read.series.metric).is_some()
        && alarm.series.iter().zip(found).any(|(other, &found)| {
            found
                && other.series.namespace == read.series.namespace
                && other.series.dimensions == read.series.dimensions
                && answer_class(&other.series.metric).is_some()
        })
}

/// Whether `read` is an answer class of a target group none of whose series the alarm reads
/// has data, while another target group's have: the service's idle target group. A service
/// deployed by ECS behind an ALB has a primary and an alternate target group, and ECS registers
/// each new revision's tasks in the one not in production (Amazon ECS developer guide,
/// "Application Load Balancer resources for blue/green, linear, and canary deployments"), so
/// between deployments one of them gets no traffic at all.
fn idle_target_group(alarm: &TemplateAlarm, read: &ReadSeries, found: &[bool]) -> bool {
    let Some(group) = read.series.dimensions.get("TargetGroup") else {
        return false;
    };
    let found_in = |same: bool| {
        alarm.series.iter().zip(found).any(|(other, &found)| {
            found
                && other.series.namespace == read.series.namespace
                && other.series.dimensions.contains_key("TargetGroup")
                && (other.series.dimensions.get("TargetGroup") == Some(group)) == same
        })
    };
    answer_class(&read.series.metric).is_some() && !found_in(true) && found_in(false)
}

/// A missing series of an alarm that has data elsewhere.
fn after_traffic(
    read: &ReadSeries,
    alarm: &TemplateAlarm,
    found: &[bool],
) -> (Severity, Option<String>) {
    let publisher = publisher(&read.series).unwrap_or_default();
    let sibling_found = sibling_found(alarm, read, found);
    if idle_target_group(alarm, read, found) {
        let group = read.series.dimensions["TargetGroup"].as_str();
        return if read.filled {
            (
                Severity::Note,
                Some(format!(
                    "no answer through {group} yet: between deployments one of the service's two target groups gets no traffic; the alarm counts it as 0 (FILL)"
                )),
            )
        } else {
            (
                Severity::Warning,
                Some(format!(
                    "no answer through {group} yet (between deployments one of the service's two target groups gets no traffic), and the alarm's expression does not FILL it, so it has no value until one comes"
                )),
            )
        };
    }
    match answer_class(&read.series.metric) {
        Some(class) if sibling_found && read.filled => (
            Severity::Note,
            Some(format!(
                "no {class}xx answer yet: the alarm counts it as 0 (FILL); {publisher}"
            )),
        ),
        Some(class) if sibling_found => (
            Severity::Warning,
            Some(format!(
                "no {class}xx answer yet, and the alarm's expression does not FILL it, so it has no value until one comes; {publisher}"
            )),
        ),
        _ => (
            Severity::Warning,
            Some(format!(
                "missing although the alarm's other series have data: {publisher}"
            )),
        ),
    }
}

/// `5` for `HTTPCode_Target_5XX_Count`.
fn answer_class(metric: &str) -> Option<char> {
    let class = metric
        .strip_prefix("HTTPCode_Target_")?
        .strip_suffix("XX_Count")?;
    let mut chars = class.chars();
    match (chars.next(), chars.next()) {
        (Some(digit), None) if digit.is_ascii_digit() => Some(digit),
        _ => None,
    }
}

/// Who publishes `series`, from the catalog of published metrics (`cfn_render::metrics`, built
/// from the Amazon ECS developer guide's "Amazon ECS CloudWatch metrics" and the ELB guide):
/// Service Connect's outbound metrics come from the calling side's proxy (`ServiceName` is the
/// caller, `TargetDiscoveryName` the service called), the inbound ones from the called service's
/// own proxy. `None` when AWS publishes no such series.
fn publisher(series: &Series) -> Option<String> {
    use cfn_render::metrics::{Publisher, find};
    let names: Vec<&str> = series.dimensions.keys().map(String::as_str).collect();
    let entry = find(&series.namespace, &series.metric, &names)?;
    let get = |k: &str| series.dimensions.get(k).map(String::as_str);
    Some(
        match (
            entry.publisher,
            get("TargetDiscoveryName"),
            get("ServiceName"),
        ) {
            (Publisher::ServiceConnectOutbound, Some(target), Some(caller)) => format!(
                "the caller {caller}'s Service Connect proxy publishes it once {caller} sends a request to {target}"
            ),
            (Publisher::ServiceConnectOutbound, Some(target), None) => format!(
                "the Service Connect proxies of {target}'s callers publish it once one of them sends a request to {target}"
            ),
            // "Reporting criteria: There is a nonzero value" (ELB guide, the HTTPCode_Target
            // metrics): a class never answered has no series at all.
            (Publisher::ApplicationElb, ..) if answer_class(&series.metric).is_some() => format!(
                "the Application Load Balancer publishes it once a target of {} answers a request through it with that class",
                get("TargetGroup").unwrap_or("the target group")
            ),
            (Publisher::ServiceConnectInbound, ..) => format!(
                "{}'s own Service Connect proxy publishes it once it receives a request",
                get("ServiceName")
                    .or(get("DiscoveryName"))
                    .unwrap_or("the server")
            ),
            _ => format!("it is {}", entry.published_by()),
        },
    )
}

/// Why a series AWS never publishes is missing: it always will be.
fn unpublished(series: &Series) -> String {
    format!(
        "AWS publishes no {} {} on these dimensions (cfn_render::metrics), so the alarm reads a series that never gets data: fix the alarm",
        series.namespace, series.metric
    )
}

impl Verified {
    /// Each alarm: its state and reason, its last state change, and each series it reads.
    pub fn show(&self, out: &dyn Reporter) {
        if self.alarms.is_empty() {
            out.line(format!("stack {}: no alarm to verify", self.stack_name));
            return;
        }
        for alarm in &self.alarms {
            let heading = format!("alarm {} ({})", alarm.name, alarm.logical_id);
            match (alarm.state, &alarm.reason) {
                (None, _) => out.line(format!(
                    "{heading}: warning: CloudWatch has no alarm of this name: deploy the stack, or check {}",
                    out.input(Input::Region)
                )),
                (Some(state), Some(reason)) => {
                    out.line(format!("{heading}: {}: {reason}", state.as_str()))
                }
                (Some(state), None) => out.line(format!("{heading}: {}", state.as_str())),
            }
            if let Some(change) = &alarm.last_change {
                match &change.summary {
                    Some(summary) => out.line(format!("  last change {}: {summary}", change.at)),
                    None => out.line(format!("  last change {}", change.at)),
                }
            }
            for read in &alarm.from_stack {
                out.line(format!(
                    "  {} {} read from the stack: {} ({})",
                    read.logical_id, read.attribute, read.value, read.physical_id
                ));
            }
            for check in &alarm.series {
                let label = match check.severity {
                    Severity::Ok => "found",
                    Severity::Note => "note: missing",
                    Severity::Warning => "warning: missing",
                };
                match &check.why {
                    Some(why) => out.line(format!("  {label} {}: {why}", check.series)),
                    None => out.line(format!("  {label} {}", check.series)),
                }
            }
        }
    }
}
