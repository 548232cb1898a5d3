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
    pub series: Series,
    /// The query's `Id` in the alarm's `Metrics`.
    pub id: String,
    /// An expression reads it as `FILL(id, ...)`: a period without data counts as that value.
    pub filled: bool,
}

/// An `AWS::CloudWatch::Alarm` of a template, named as it is in the deployed stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateAlarm {
    pub logical_id: String,
    pub name: String,
    pub series: Vec<ReadSeries>,
}

/// The alarms `template` (its JSON form) defines, with `${AWS::StackName}` in their names and
/// dimension values resolved for `stack_name`. An alarm whose name CloudFormation generates, or
/// that uses another intrinsic, cannot be named offline: it is returned in the second list by
/// logical id.
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

/// The series of a metric math alarm (`Metrics[].MetricStat.Metric`) or of a single-metric
/// alarm (`Namespace`, `MetricName`, `Dimensions`).
fn read_series(props: &Value, stack_name: &str) -> Vec<ReadSeries> {
    let series = |metric: &Value| -> Option<Series> {
        let dimensions = metric["Dimensions"]
            .as_array()
            .map(|dims| {
                dims.iter()
                    .map(|d| {
                        Some((
                            literal(&d["Name"], stack_name)?,
                            literal(&d["Value"], stack_name)?,
                        ))
                    })
                    .collect::<Option<BTreeMap<_, _>>>()
            })
            .unwrap_or(Some(BTreeMap::new()))?;
        Some(Series {
            namespace: literal(&metric["Namespace"], stack_name)?,
            metric: literal(&metric["MetricName"], stack_name)?,
            dimensions,
        })
    };
    let Some(queries) = props["Metrics"].as_array() else {
        return series(props)
            .map(|series| ReadSeries {
                series,
                id: String::new(),
                filled: false,
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
            Some(ReadSeries {
                series: series(&q["MetricStat"]["Metric"])?,
                id,
                filled,
            })
        })
        .collect()
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
