//! `verify` and the alarm readings against mocked CloudWatch clients: how each series is
//! classified, and what a rollout shows of its alarms

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::Client as CloudWatch;
use aws_sdk_cloudwatch::operation::describe_alarm_history::DescribeAlarmHistoryOutput;
use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::operation::list_metrics::ListMetricsOutput;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    AlarmHistoryItem, Dimension, HistoryItemType, Metric, MetricAlarm, ScanBy, StateValue,
};
use aws_smithy_mocks::{Rule, mock};
use model::AlarmState;
use serde_json::json;

use super::alarms::{ReadSeries, TemplateAlarm, template_alarms};
use super::client::Aws;
use super::mocks::Rules;
use super::verify::{VerifyRequest, classify, verify};
use crate::outcome::{Series, Severity, StateChange};
use crate::report::Recorder;
use crate::target::Named;

/// The documented outbound Service Connect series of `front` calling `web` in cluster
/// `rollout` (Amazon ECS developer guide, "Amazon ECS CloudWatch metrics": `ClusterName,
/// ServiceName, TargetDiscoveryName` with `ServiceName` the caller).
fn outbound(metric: &str) -> Series {
    Series {
        namespace: "AWS/ECS".into(),
        metric: metric.into(),
        dimensions: BTreeMap::from([
            ("ClusterName".into(), "rollout".into()),
            ("ServiceName".into(), "front".into()),
            ("TargetDiscoveryName".into(), "web".into()),
        ]),
    }
}

const CLASSES: [&str; 4] = [
    "HTTPCode_Target_2XX_Count",
    "HTTPCode_Target_3XX_Count",
    "HTTPCode_Target_4XX_Count",
    "HTTPCode_Target_5XX_Count",
];

/// An error-rate alarm reading the four answer classes, each `FILL`ed or not.
fn error_rate(filled: bool) -> TemplateAlarm {
    TemplateAlarm {
        logical_id: "WebErrorRateAlarm".into(),
        name: "rollout-web-error-rate".into(),
        series: CLASSES
            .iter()
            .enumerate()
            .map(|(i, metric)| ReadSeries {
                series: outbound(metric),
                id: format!("m{i}"),
                filled,
            })
            .collect(),
    }
}

fn severities(alarm: &TemplateAlarm, found: &[bool]) -> Vec<Severity> {
    classify(alarm, found).iter().map(|c| c.severity).collect()
}

#[test]
fn before_any_traffic_every_missing_series_is_a_note() {
    let checks = classify(&error_rate(true), &[false; 4]);
    assert!(
        checks
            .iter()
            .all(|c| c.severity == Severity::Note && !c.found)
    );
    assert_eq!(
        checks[3].why.as_deref(),
        Some(
            "no data yet, as expected before any traffic: the caller front's Service Connect proxy publishes it once front sends a request to web (a new series takes up to 15 minutes to be listed)"
        )
    );
}

#[test]
fn found_series_are_ok() {
    assert_eq!(severities(&error_rate(true), &[true; 4]), [Severity::Ok; 4]);
}

#[test]
fn a_missing_answer_class_beside_one_found_is_no_such_answer_yet() {
    let checks = classify(&error_rate(true), &[true, false, false, false]);
    assert_eq!(
        checks.iter().map(|c| c.severity).collect::<Vec<_>>(),
        [Severity::Ok, Severity::Note, Severity::Note, Severity::Note]
    );
    assert_eq!(
        checks[3].why.as_deref(),
        Some(
            "no 5xx answer yet: the alarm counts it as 0 (FILL); the caller front's Service Connect proxy publishes it once front sends a request to web"
        )
    );
    // Without FILL the expression has no value for the period: that is worth a warning.
    assert_eq!(
        severities(&error_rate(false), &[true, false, false, false]),
        [
            Severity::Ok,
            Severity::Warning,
            Severity::Warning,
            Severity::Warning
        ]
    );
}

#[test]
fn after_traffic_a_missing_series_of_another_caller_is_a_warning_naming_its_publisher() {
    let mut alarm = error_rate(true);
    let mut gateway = outbound("HTTPCode_Target_5XX_Count");
    gateway
        .dimensions
        .insert("ServiceName".into(), "gateway".into());
    alarm.series.push(ReadSeries {
        series: gateway.clone(),
        id: "g5".into(),
        filled: true,
    });
    let checks = classify(&alarm, &[true, false, false, true, false]);
    let last = &checks[4];
    assert_eq!((last.severity, last.found), (Severity::Warning, false));
    assert_eq!(last.series, gateway);
    assert_eq!(
        last.why.as_deref(),
        Some(
            "missing although the alarm's other series have data: the caller gateway's Service Connect proxy publishes it once gateway sends a request to web"
        )
    );
}

#[test]
fn a_template_names_its_alarms_for_the_stack_and_reads_their_series() {
    let template = json!({"Resources": {
        "WebErrorRateAlarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmName": {"Fn::Sub": "${AWS::StackName}-web-error-rate"},
            "Metrics": [
                {"Id": "ok1", "MetricStat": {"Metric": {"Namespace": "AWS/ECS", "MetricName": "HTTPCode_Target_2XX_Count",
                    "Dimensions": [{"Name": "ClusterName", "Value": "rollout"}, {"Name": "ServiceName", "Value": "front"}, {"Name": "TargetDiscoveryName", "Value": "web"}]},
                    "Period": 60, "Stat": "Sum"}, "ReturnData": false},
                {"Id": "errors1", "MetricStat": {"Metric": {"Namespace": "AWS/ECS", "MetricName": "HTTPCode_Target_5XX_Count",
                    "Dimensions": [{"Name": "ClusterName", "Value": "rollout"}, {"Name": "ServiceName", "Value": "front"}, {"Name": "TargetDiscoveryName", "Value": "web"}]},
                    "Period": 60, "Stat": "Sum"}, "ReturnData": false},
                {"Id": "errorRate", "Expression": "100 * FILL(errors1, 0) / ok1", "ReturnData": true}
            ]}},
        "Cpu": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmName": "cpu-high", "Namespace": "AWS/ECS", "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "ClusterName", "Value": "rollout"}]}},
        "Generated": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Namespace": "AWS/ECS"}},
        "Web": {"Type": "AWS::ECS::Service", "Properties": {}}
    }});
    let (alarms, unnamed) = template_alarms(&template, "staging");
    assert_eq!(unnamed, ["Generated"]);
    assert_eq!(alarms.len(), 2);
    assert_eq!(alarms[0].name, "cpu-high");
    assert_eq!(alarms[0].series.len(), 1);
    assert_eq!(alarms[0].series[0].series.metric, "CPUUtilization");
    let web = &alarms[1];
    assert_eq!(
        (web.logical_id.as_str(), web.name.as_str()),
        ("WebErrorRateAlarm", "staging-web-error-rate")
    );
    assert_eq!(
        web.series,
        [
            ReadSeries {
                series: outbound("HTTPCode_Target_2XX_Count"),
                id: "ok1".into(),
                filled: false,
            },
            ReadSeries {
                series: outbound("HTTPCode_Target_5XX_Count"),
                id: "errors1".into(),
                filled: true,
            },
        ]
    );
}

#[test]
fn the_rollout_app_verifies_its_error_rate_alarm_under_the_deployed_name() {
    let target = crate::target::resolve(&crate::target::Choice {
        app: "rollout",
        stack_name: Some("rollout-staging"),
        ..crate::target::Choice::default()
    })
    .expect("the rollout app resolves");
    let request = VerifyRequest::new(&target).expect("renders");
    assert!(request.unnamed.is_empty());
    assert_eq!(request.alarms.len(), 1);
    let alarm = &request.alarms[0];
    assert_eq!(alarm.name, "rollout-staging-web-error-rate");
    assert!(!alarm.series.is_empty());
    // Every series it reads is a Service Connect series front publishes about web.
    for read in &alarm.series {
        assert_eq!(read.series.namespace, "AWS/ECS");
        assert_eq!(
            read.series
                .dimensions
                .get("ServiceName")
                .map(String::as_str),
            Some("front")
        );
        assert_eq!(
            read.series
                .dimensions
                .get("TargetDiscoveryName")
                .map(String::as_str),
            Some("web")
        );
    }
}

/// `ListMetrics` as CloudWatch answers it: every published series that has the filter's
/// dimensions, extra dimensions or not.
fn list_metrics(published: Vec<Series>) -> Rule {
    mock!(CloudWatch::list_metrics).then_compute_output(move |input| {
        let matching = published.iter().filter(|s| {
            Some(s.namespace.as_str()) == input.namespace()
                && Some(s.metric.as_str()) == input.metric_name()
                && input.dimensions().iter().all(|f| {
                    f.name()
                        .and_then(|n| s.dimensions.get(n))
                        .is_some_and(|v| Some(v.as_str()) == f.value())
                })
        });
        ListMetricsOutput::builder()
            .set_metrics(Some(
                matching
                    .map(|s| {
                        Metric::builder()
                            .namespace(&s.namespace)
                            .metric_name(&s.metric)
                            .set_dimensions(Some(
                                s.dimensions
                                    .iter()
                                    .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                                    .collect(),
                            ))
                            .build()
                    })
                    .collect(),
            ))
            .build()
    })
}

fn aws(rules: &[&Rule]) -> Aws {
    Rules {
        cloudwatch: rules,
        ..Rules::default()
    }
    .aws()
}

fn request(filled: bool) -> VerifyRequest {
    VerifyRequest {
        target: Named {
            name: "rollout".into(),
        },
        alarms: vec![error_rate(filled)],
        unnamed: Vec::new(),
    }
}

fn alarm_in_alarm() -> Rule {
    mock!(CloudWatch::describe_alarms)
        .match_requests(|r| r.alarm_names() == ["rollout-web-error-rate"])
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name("rollout-web-error-rate")
                        .state_value(StateValue::Alarm)
                        .state_reason("Threshold Crossed: 1 datapoint [12.5] was greater than the threshold (10.0).")
                        .state_transitioned_timestamp(DateTime::from_secs(1_767_693_600))
                        .build(),
                )
                .build()
        })
}

#[tokio::test]
async fn verify_finds_exactly_the_series_read_and_the_alarm_state_and_last_change() {
    let mut wider = outbound("HTTPCode_Target_5XX_Count");
    wider.dimensions.insert("Extra".into(), "x".into());
    // 2XX as read; 5XX only with an extra dimension, which is another series.
    let metrics = list_metrics(vec![outbound("HTTPCode_Target_2XX_Count"), wider]);
    let alarms = alarm_in_alarm();
    let history = mock!(CloudWatch::describe_alarm_history)
        .match_requests(|r| {
            r.alarm_name() == Some("rollout-web-error-rate")
                && r.history_item_type() == Some(&HistoryItemType::StateUpdate)
                && r.scan_by() == Some(&ScanBy::TimestampDescending)
                && r.max_records() == Some(1)
        })
        .then_output(|| {
            DescribeAlarmHistoryOutput::builder()
                .alarm_history_items(
                    AlarmHistoryItem::builder()
                        .timestamp(DateTime::from_secs(1_767_693_600))
                        .history_summary("Alarm updated from OK to ALARM")
                        .build(),
                )
                .build()
        });
    let aws = aws(&[&metrics, &alarms, &history]);
    let out = Recorder::new();
    let verified = verify(&aws, &request(true), &out).await.expect("verify");
    assert_eq!(out.text(), "", "nothing the endpoint could not say");
    let alarm = &verified.alarms[0];
    assert_eq!(alarm.state, Some(AlarmState::Alarm));
    assert_eq!(
        alarm.last_change,
        Some(StateChange {
            at: "2026-01-06T10:00:00Z".into(),
            summary: Some("Alarm updated from OK to ALARM".into()),
        })
    );
    assert_eq!(
        alarm.series.iter().map(|c| c.found).collect::<Vec<_>>(),
        [true, false, false, false]
    );
    assert_eq!(
        alarm.series.iter().map(|c| c.severity).collect::<Vec<_>>(),
        [Severity::Ok, Severity::Note, Severity::Note, Severity::Note]
    );
    assert!(verified.clean());
    assert_eq!(metrics.num_calls(), 4, "one ListMetrics per series");

    let shown = Recorder::new();
    verified.show(&shown);
    assert_eq!(
        shown.lines()[..3],
        [
            "alarm rollout-web-error-rate (WebErrorRateAlarm): ALARM: Threshold Crossed: 1 datapoint [12.5] was greater than the threshold (10.0).",
            "  last change 2026-01-06T10:00:00Z: Alarm updated from OK to ALARM",
            "  found AWS/ECS HTTPCode_Target_2XX_Count{ClusterName=rollout,ServiceName=front,TargetDiscoveryName=web}",
        ]
    );
    assert!(
        shown.lines()[5].starts_with("  note: missing AWS/ECS HTTPCode_Target_5XX_Count{ClusterName=rollout,ServiceName=front,TargetDiscoveryName=web}: no 5xx answer yet: the alarm counts it as 0 (FILL)"),
        "{}",
        shown.text()
    );
}

#[tokio::test]
async fn an_endpoint_without_alarm_history_falls_back_to_the_transition_time() {
    let metrics = list_metrics(Vec::new());
    let alarms = alarm_in_alarm();
    // What moto answers for an action it does not implement.
    let history = mock!(CloudWatch::describe_alarm_history)
        .sequence()
        .http_status(
            500,
            Some("<!doctype html><title>500 Internal Server Error</title>".into()),
        )
        .repeatedly()
        .build();
    let aws = aws(&[&metrics, &alarms, &history]);
    let out = Recorder::new();
    let verified = verify(&aws, &request(true), &out).await.expect("verify");
    assert_eq!(
        out.text(),
        "note: the endpoint does not implement DescribeAlarmHistory: the last state change is DescribeAlarms' StateTransitionedTimestamp, without its summary\n"
    );
    assert_eq!(
        verified.alarms[0].last_change,
        Some(StateChange {
            at: "2026-01-06T10:00:00Z".into(),
            summary: None,
        })
    );
    assert!(
        verified.alarms[0]
            .series
            .iter()
            .all(|c| c.severity == Severity::Note)
    );
}

#[tokio::test]
async fn an_alarm_cloudwatch_does_not_have_is_a_warning() {
    let metrics = list_metrics(vec![outbound("HTTPCode_Target_2XX_Count")]);
    let alarms =
        mock!(CloudWatch::describe_alarms).then_output(|| DescribeAlarmsOutput::builder().build());
    let aws = aws(&[&metrics, &alarms]);
    let verified = verify(&aws, &request(false), &Recorder::new())
        .await
        .expect("verify");
    assert_eq!(verified.alarms[0].state, None);
    assert_eq!(verified.alarms[0].severity(), Severity::Warning);
    assert!(!verified.clean());
}

#[test]
fn a_series_aws_never_publishes_is_a_warning_even_before_traffic() {
    // The alarm this issue replaced: RequestCount on the outbound set, which matches nothing.
    let mut alarm = error_rate(true);
    alarm.series[0].series.metric = "RequestCount".into();
    let checks = classify(&alarm, &[false; 4]);
    assert_eq!(checks[0].severity, Severity::Warning);
    assert_eq!(
        checks[0].why.as_deref(),
        Some(
            "AWS publishes no AWS/ECS RequestCount on these dimensions (cfn_render::metrics), so the alarm reads a series that never gets data: fix the alarm"
        )
    );
    assert!(checks[1..].iter().all(|c| c.severity == Severity::Note));
}
