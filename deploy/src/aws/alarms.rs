//! CloudWatch alarms of a stack: which alarms a template defines and the series they read, and
//! what CloudWatch says of them now (`DescribeAlarms`, `DescribeAlarmHistory`)
//!
//! `verify` and the rollout follower both read alarms through here, so an alarm's state means the
//! same thing in both.

use super::client::{Aws, Failed, failed};
use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudwatch::types::{HistoryItemType, MetricAlarm, ScanBy, StateValue};
use model::{AlarmReading, AlarmState, Percent};
use serde_json::Value;

use crate::outcome::{Series, StateChange};

/// One series an alarm of the template reads, and whether its metric math fills gaps in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSeries {
    /// The series; until [`resolve`] ran, without the dimensions `from_stack` names.
    pub series: Series,
    /// The query's `Id` in the alarm's `Metrics`.
    pub id: String,
    /// An expression reads it as `FILL(id, ...)`: a period without data counts as that value.
    pub filled: bool,
    /// Dimensions whose value the template gives as an attribute of one of the stack's own
    /// resources (`Fn::GetAtt`), by dimension name: only the deployed stack knows them.
    pub from_stack: BTreeMap<String, StackAttribute>,
}

/// `Fn::GetAtt [logical_id, attribute]` in a template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StackAttribute {
    pub logical_id: String,
    pub attribute: String,
}

/// An `AWS::CloudWatch::Alarm` of a template, named as it is in the deployed stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateAlarm {
    pub logical_id: String,
    pub name: String,
    pub series: Vec<ReadSeries>,
}

impl TemplateAlarm {
    /// Whether some series' dimensions come from the deployed stack's resources.
    pub fn reads_the_stack(&self) -> bool {
        self.series.iter().any(|r| !r.from_stack.is_empty())
    }
}

/// The alarms `template` (its JSON form) defines, with `${AWS::StackName}` in their names and
/// dimension values resolved for `stack_name`. An alarm whose name CloudFormation generates, or
/// that uses another intrinsic, cannot be named offline: it is returned in the second list by
/// logical id. A dimension value that is an attribute of a stack resource is kept in the
/// series' `from_stack`, for [`resolve`].
pub fn template_alarms(template: &Value, stack_name: &str) -> (Vec<TemplateAlarm>, Vec<String>) {
    let mut alarms = Vec::new();
    let mut unnamed = Vec::new();
    let Some(resources) = template["Resources"].as_object() else {
        return (alarms, unnamed);
    };
    for (logical_id, resource) in resources {
        if resource["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let props = &resource["Properties"];
        let Some(name) = literal(&props["AlarmName"], stack_name) else {
            unnamed.push(logical_id.clone());
            continue;
        };
        alarms.push(TemplateAlarm {
            logical_id: logical_id.clone(),
            name,
            series: read_series(props, stack_name),
        });
    }
    // By logical id, as the renderer's maps order them, whatever order the JSON kept.
    alarms.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    unnamed.sort();
    (alarms, unnamed)
}

/// A string, or an `Fn::Sub` whose only variable is `AWS::StackName`.
fn literal(value: &Value, stack_name: &str) -> Option<String> {
    if let Some(text) = value.as_str() {
        return Some(text.to_owned());
    }
    let sub = value.get("Fn::Sub")?.as_str()?;
    let resolved = sub.replace("${AWS::StackName}", stack_name);
    (!resolved.contains("${")).then_some(resolved)
}

/// `Fn::GetAtt [logical_id, attribute]` (or its `logical_id.attribute` string form).
fn get_att(value: &Value) -> Option<StackAttribute> {
    let att = value.get("Fn::GetAtt")?;
    let (logical_id, attribute) = match att {
        Value::Array(parts) => match parts.as_slice() {
            [id, attribute] => (id.as_str()?, attribute.as_str()?),
            _ => return None,
        },
        Value::String(dotted) => dotted.split_once('.')?,
        _ => return None,
    };
    Some(StackAttribute {
        logical_id: logical_id.to_owned(),
        attribute: attribute.to_owned(),
    })
}

/// The series of a metric math alarm (`Metrics[].MetricStat.Metric`) or of a single-metric
/// alarm (`Namespace`, `MetricName`, `Dimensions`).
fn read_series(props: &Value, stack_name: &str) -> Vec<ReadSeries> {
    let series = |metric: &Value| -> Option<(Series, BTreeMap<String, StackAttribute>)> {
        let mut dimensions = BTreeMap::new();
        let mut from_stack = BTreeMap::new();
        for d in metric["Dimensions"].as_array().into_iter().flatten() {
            let name = literal(&d["Name"], stack_name)?;
            match literal(&d["Value"], stack_name) {
                Some(value) => {
                    dimensions.insert(name, value);
                }
                None => {
                    from_stack.insert(name, get_att(&d["Value"])?);
                }
            }
        }
        Some((
            Series {
                namespace: literal(&metric["Namespace"], stack_name)?,
                metric: literal(&metric["MetricName"], stack_name)?,
                dimensions,
            },
            from_stack,
        ))
    };
    let Some(queries) = props["Metrics"].as_array() else {
        return series(props)
            .map(|(series, from_stack)| ReadSeries {
                series,
                id: String::new(),
                filled: false,
                from_stack,
            })
            .into_iter()
            .collect();
    };
    // `FILL(id, 0)`, spaces or not: the expressions as one text without blanks.
    let expressions: String = queries
        .iter()
        .filter_map(|q| q["Expression"].as_str())
        .flat_map(|e| e.chars().filter(|c| !c.is_whitespace()))
        .collect();
    queries
        .iter()
        .filter_map(|q| {
            let id = q["Id"].as_str().unwrap_or_default().to_owned();
            let filled = expressions.contains(&format!("FILL({id},"));
            let (series, from_stack) = series(&q["MetricStat"]["Metric"])?;
            Some(ReadSeries {
                series,
                id,
                filled,
                from_stack,
            })
        })
        .collect()
}

/// A resource of the deployed stack, as `ListStackResources` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackResource {
    pub logical_id: String,
    pub resource_type: String,
    /// `None` while CloudFormation has not created it (or skipped it).
    pub physical_id: Option<String>,
    /// `CREATE_COMPLETE`, ..., for messages.
    pub status: String,
}

/// A dimension value [`resolve`] read from the deployed stack: which attribute of which
/// resource, and the resource's physical id it was worked out from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resolved {
    pub attribute: StackAttribute,
    pub physical_id: String,
    pub value: String,
}

/// Why a dimension an alarm reads cannot be worked out from the deployed stack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    #[error(
        "alarm {alarm} reads its {dimension} dimension from {logical_id}'s {attribute}, but stack {stack} has no resource {logical_id}"
    )]
    NoResource {
        stack: String,
        alarm: String,
        dimension: String,
        logical_id: String,
        attribute: String,
    },
    #[error(
        "alarm {alarm} reads its {dimension} dimension from {logical_id}'s {attribute}, but resource {logical_id} of stack {stack} has no physical id ({status})"
    )]
    NotCreated {
        stack: String,
        alarm: String,
        dimension: String,
        logical_id: String,
        attribute: String,
        status: String,
    },
    #[error(
        "alarm {alarm} reads its {dimension} dimension from {logical_id}'s {attribute}, which meshtest cannot work out from a {resource_type}'s physical id {physical_id}"
    )]
    Unknown {
        alarm: String,
        dimension: String,
        logical_id: String,
        attribute: String,
        resource_type: String,
        physical_id: String,
    },
}

/// `alarms` with every dimension a series reads from the stack filled in from `resources`
/// (the deployed stack's, named `stack`), and what was read for each alarm.
///
/// The attributes the renderer's alarms read are the Elastic Load Balancing full names, whose
/// resources' physical ids are their ARNs (CloudFormation User Guide,
/// `AWS::ElasticLoadBalancingV2::TargetGroup` and `::LoadBalancer`, "Return values": `Ref`
/// returns the ARN; `TargetGroupFullName` is `targetgroup/my-target-group/cbf133c568e0d028`,
/// `LoadBalancerFullName` is `app/my-load-balancer/50dc6c495c0c9188`). CloudWatch's ALB metrics
/// take exactly these as their `TargetGroup` and `LoadBalancer` dimensions, "the final portion"
/// of each ARN (Elastic Load Balancing, "CloudWatch metrics for your Application Load
/// Balancer", "Metric dimensions for Application Load Balancers").
pub fn resolve(
    alarms: &[TemplateAlarm],
    stack: &str,
    resources: &[StackResource],
) -> Result<Vec<(TemplateAlarm, BTreeSet<Resolved>)>, Box<Unresolved>> {
    alarms
        .iter()
        .map(|alarm| {
            let mut alarm = alarm.clone();
            let mut read = BTreeSet::new();
            for series in &mut alarm.series {
                for (dimension, attribute) in &series.from_stack {
                    let resolved =
                        resolve_one(stack, &alarm.name, dimension, attribute, resources)?;
                    series
                        .series
                        .dimensions
                        .insert(dimension.clone(), resolved.value.clone());
                    read.insert(resolved);
                }
            }
            Ok((alarm, read))
        })
        .collect()
}

fn resolve_one(
    stack: &str,
    alarm: &str,
    dimension: &str,
    attribute: &StackAttribute,
    resources: &[StackResource],
) -> Result<Resolved, Box<Unresolved>> {
    let StackAttribute {
        logical_id,
        attribute: name,
    } = attribute;
    let Some(resource) = resources.iter().find(|r| &r.logical_id == logical_id) else {
        return Err(Box::new(Unresolved::NoResource {
            stack: stack.to_owned(),
            alarm: alarm.to_owned(),
            dimension: dimension.to_owned(),
            logical_id: logical_id.clone(),
            attribute: name.clone(),
        }));
    };
    let Some(physical_id) = resource.physical_id.as_deref().filter(|id| !id.is_empty()) else {
        return Err(Box::new(Unresolved::NotCreated {
            stack: stack.to_owned(),
            alarm: alarm.to_owned(),
            dimension: dimension.to_owned(),
            logical_id: logical_id.clone(),
            attribute: name.clone(),
            status: resource.status.clone(),
        }));
    };
    full_name(&resource.resource_type, name, physical_id)
        .map(|value| Resolved {
            attribute: attribute.clone(),
            physical_id: physical_id.to_owned(),
            value,
        })
        .ok_or_else(|| {
            Box::new(Unresolved::Unknown {
                alarm: alarm.to_owned(),
                dimension: dimension.to_owned(),
                logical_id: logical_id.clone(),
                attribute: name.clone(),
                resource_type: resource.resource_type.clone(),
                physical_id: physical_id.to_owned(),
            })
        })
}

/// The Elastic Load Balancing full name `attribute` of a resource of `resource_type` whose
/// physical id (its ARN, `arn:aws:elasticloadbalancing:region:account:targetgroup/name/id`)
/// is `arn`; `None` for another attribute, another type or an ARN of another shape.
fn full_name(resource_type: &str, attribute: &str, arn: &str) -> Option<String> {
    let kind: FullName = attribute.parse().ok()?;
    let (service, resource) = parse_arn(arn)?;
    if resource_type != kind.resource_type() || service != ELB_SERVICE {
        return None;
    }
    let name = kind.of(resource)?;
    // `targetgroup/name/id`, `app/name/id`: a type (or prefix), a name and an id.
    (name.split('/').filter(|part| !part.is_empty()).count() == 3).then(|| name.to_owned())
}

/// The service part of an Elastic Load Balancing ARN.
const ELB_SERVICE: &str = "elasticloadbalancing";

/// An ARN's service and resource parts (`arn:partition:service:region:account:resource`).
fn parse_arn(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.strip_prefix("arn:")?.splitn(5, ':');
    let _partition = parts.next()?;
    let service = parts.next()?;
    let (_region, _account) = (parts.next()?, parts.next()?);
    Some((service, parts.next()?))
}

/// The `Fn::GetAtt` attributes whose value is an Elastic Load Balancing resource's full name.
#[derive(Debug, Clone, Copy)]
enum FullName {
    TargetGroup,
    LoadBalancer,
}

impl std::str::FromStr for FullName {
    type Err = ();

    fn from_str(attribute: &str) -> Result<FullName, ()> {
        match attribute {
            "TargetGroupFullName" => Ok(FullName::TargetGroup),
            "LoadBalancerFullName" => Ok(FullName::LoadBalancer),
            _ => Err(()),
        }
    }
}

impl FullName {
    /// The resource type that has the attribute.
    fn resource_type(self) -> &'static str {
        match self {
            FullName::TargetGroup => "AWS::ElasticLoadBalancingV2::TargetGroup",
            FullName::LoadBalancer => "AWS::ElasticLoadBalancingV2::LoadBalancer",
        }
    }

    /// The full name in an ARN's resource part: `targetgroup/name/id` whole, the load
    /// balancer's without its `loadbalancer/` (leaving `app/name/id`).
    fn of(self, resource: &str) -> Option<&str> {
        match self {
            FullName::TargetGroup => resource.starts_with("targetgroup/").then_some(resource),
            FullName::LoadBalancer => resource.strip_prefix("loadbalancer/"),
        }
    }
}

/// The model's view of CloudWatch's `StateValue`; a value CloudWatch adds later reads as
/// insufficient data rather than failing a watch.
pub fn state_of(value: Option<&StateValue>) -> AlarmState {
    match value {
        Some(StateValue::Ok) => AlarmState::Ok,
        Some(StateValue::Alarm) => AlarmState::Alarm,
        _ => AlarmState::InsufficientData,
    }
}

/// The alarms of these names CloudWatch has, by name. `DescribeAlarms` takes up to 100 names
/// a call (CloudWatch API reference, DescribeAlarms: `AlarmNames`, maximum 100 items).
pub async fn describe_alarms(
    aws: &Aws,
    names: &[String],
) -> Result<BTreeMap<String, MetricAlarm>, Failed> {
    let mut found = BTreeMap::new();
    for chunk in names.chunks(100) {
        let mut token: Option<String> = None;
        // Bounded: 100 names fit in one page of 100 results; a few pages cover any endpoint.
        for _ in 0..10 {
            let out = aws
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| failed(&e))?;
            for alarm in out.metric_alarms() {
                if let Some(name) = alarm.alarm_name() {
                    found.insert(name.to_owned(), alarm.clone());
                }
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

/// What the rollout display shows of an alarm. `own` says whether the stack made it (its
/// error-rate alarm compares a percentage); for another alarm the threshold and value are in
/// units meshtest does not know, so they are left out.
pub fn reading_of(name: &str, alarm: Option<&MetricAlarm>, own: bool) -> AlarmReading {
    let Some(alarm) = alarm else {
        return AlarmReading {
            name: name.to_owned(),
            state: AlarmState::InsufficientData,
            threshold_percent: None,
            value_percent: None,
            reason: Some("CloudWatch has no alarm of this name".to_owned()),
        };
    };
    let percent = |value: f64| Percent::from_tenths((value.max(0.0) * 10.0).round() as u32);
    AlarmReading {
        name: name.to_owned(),
        state: state_of(alarm.state_value()),
        threshold_percent: alarm.threshold().filter(|_| own).map(percent),
        value_percent: alarm
            .state_reason_data()
            .and_then(last_datapoint)
            .filter(|_| own)
            .map(percent),
        reason: alarm.state_reason().map(str::to_owned),
    }
}

/// The newest value in `StateReasonData`'s `recentDatapoints`. CloudWatch documents the field
/// only as "an explanation for the alarm state, in JSON format" (API reference, MetricAlarm);
/// the shape with `recentDatapoints` is the one its alarm state change events carry
/// (CloudWatch User Guide, "Alarm events and EventBridge"). Anything else reads as no value.
pub fn last_datapoint(reason_data: &str) -> Option<f64> {
    let data: Value = serde_json::from_str(reason_data).ok()?;
    data["recentDatapoints"].as_array()?.last()?.as_f64()
}

/// Why the endpoint cannot say an alarm's last state change, or the change itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastChange {
    Read(Option<StateChange>),
    /// The endpoint does not implement `DescribeAlarmHistory` (moto).
    Unsupported,
}

/// The alarm's newest state update from its history (`DescribeAlarmHistory` with
/// `HistoryItemType=StateUpdate`, newest first, one record), or `None` without one.
pub async fn last_change(aws: &Aws, name: &str) -> Result<LastChange, Failed> {
    let out = aws
        .cloudwatch
        .describe_alarm_history()
        .alarm_name(name)
        .history_item_type(HistoryItemType::StateUpdate)
        .scan_by(ScanBy::TimestampDescending)
        .max_records(1)
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(err) if super::rollout::not_implemented(&err) => return Ok(LastChange::Unsupported),
        Err(err) => return Err(failed(&err)),
    };
    Ok(LastChange::Read(out.alarm_history_items().first().map(
        |item| {
            StateChange {
                at: item
                    .timestamp()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                summary: item.history_summary().map(str::to_owned),
            }
        },
    )))
}

/// The names of `alarms`, for the reading's `own`.
pub fn names(alarms: &[TemplateAlarm]) -> BTreeSet<String> {
    alarms.iter().map(|a| a.name.clone()).collect()
}
