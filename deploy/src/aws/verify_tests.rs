//! `verify` and the alarm readings against mocked CloudWatch clients: how each series is
//! classified, and what a rollout shows of its alarms

use std::collections::BTreeMap;

use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput;
use aws_sdk_cloudformation::types::{ResourceStatus, StackResourceSummary};
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

use super::alarms::{
    self, ReadSeries, StackAttribute, StackResource, TemplateAlarm, template_alarms,
};
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
                from_stack: BTreeMap::new(),
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
        from_stack: BTreeMap::new(),
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
                from_stack: BTreeMap::new(),
            },
            ReadSeries {
                series: outbound("HTTPCode_Target_5XX_Count"),
                id: "errors1".into(),
                filled: true,
                from_stack: BTreeMap::new(),
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
    let request = rendered(&target);
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

// The ALB-fronted services' error-rate alarms (issue 21): their `TargetGroup` and
// `LoadBalancer` dimensions are `Fn::GetAtt` of the stack's own resources.

const LOAD_BALANCER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/gatew-Gatew-X1Y2Z3/50dc6c495c0c9188";
const LB_NAME: &str = "app/gatew-Gatew-X1Y2Z3/50dc6c495c0c9188";

/// A target group's ARN as Elastic Load Balancing gives it, and its full name.
fn group(name: &str) -> (String, String) {
    let full = format!("targetgroup/{name}/73e2d6bc24d8a067");
    (
        format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:{full}"),
        full,
    )
}

/// The target groups of the gateway's two services, by logical id, with the names
/// CloudFormation would give them.
const GROUPS: [(&str, &str); 4] = [
    ("BlueTargetGroup", "gatew-BlueT-1F2A3B"),
    ("BlueAlternateTargetGroup", "gatew-BlueA-6E5D4C"),
    ("GreenTargetGroup", "gatew-Green-9A8B7C"),
    ("GreenAlternateTargetGroup", "gatew-Green-1A2B3C"),
];

/// The gateway's resources as `ListStackResources` lists them (those the alarms read, and one
/// more), without `leave_out`.
fn gateway_resources(leave_out: &str) -> Vec<StackResource> {
    let resource = |id: &str, kind: &str, physical: String| StackResource {
        logical_id: id.into(),
        resource_type: kind.into(),
        physical_id: Some(physical),
        status: "CREATE_COMPLETE".into(),
    };
    let mut all = vec![
        resource(
            "GatewayLoadBalancer",
            "AWS::ElasticLoadBalancingV2::LoadBalancer",
            LOAD_BALANCER.into(),
        ),
        resource("Cluster", "AWS::ECS::Cluster", "gateway-Cluster-Xk2".into()),
    ];
    for (id, name) in GROUPS {
        all.push(resource(
            id,
            "AWS::ElasticLoadBalancingV2::TargetGroup",
            group(name).0,
        ));
    }
    all.retain(|r| r.logical_id != leave_out);
    all
}

/// The request for `target`'s template as the renderer makes it (what `deploy` verifies).
fn rendered(target: &crate::target::Resolved) -> VerifyRequest {
    let built = target.build(None).expect("renders");
    VerifyRequest::of(&target.named, &built.template.to_json_value())
}

/// `verify gateway` on a stack deployed with `--strategy linear`: that template's alarms.
fn gateway_request() -> VerifyRequest {
    let target = crate::target::resolve(&crate::target::Choice {
        app: "gateway",
        strategy: Some(model::StrategyKind::Linear),
        ..crate::target::Choice::default()
    })
    .expect("the gateway app resolves");
    rendered(&target)
}

fn alb(metric: &str, target_group: &str) -> Series {
    Series {
        namespace: "AWS/ApplicationELB".into(),
        metric: metric.into(),
        dimensions: BTreeMap::from([
            ("LoadBalancer".into(), LB_NAME.into()),
            ("TargetGroup".into(), target_group.into()),
        ]),
    }
}

#[test]
fn the_gateway_alb_alarms_read_their_dimensions_from_the_stack() {
    let request = gateway_request();
    assert!(request.unnamed.is_empty());
    let names: Vec<&str> = request.alarms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["gateway-blue-error-rate", "gateway-green-error-rate"]
    );
    let blue = &request.alarms[0];
    assert!(blue.reads_the_stack());
    // Four answer classes on each of the service's two target groups: none is dropped.
    assert_eq!(blue.series.len(), 8);
    for (i, read) in blue.series.iter().enumerate() {
        let group = if i < 4 {
            "BlueTargetGroup"
        } else {
            "BlueAlternateTargetGroup"
        };
        assert_eq!(read.series.namespace, "AWS/ApplicationELB");
        assert_eq!(read.series.metric, CLASSES[i % 4]);
        assert!(read.filled, "{}", read.id);
        assert!(
            read.series.dimensions.is_empty(),
            "known only once deployed"
        );
        assert_eq!(
            read.from_stack,
            BTreeMap::from([
                (
                    "LoadBalancer".into(),
                    StackAttribute {
                        logical_id: "GatewayLoadBalancer".into(),
                        attribute: "LoadBalancerFullName".into(),
                    }
                ),
                (
                    "TargetGroup".into(),
                    StackAttribute {
                        logical_id: group.into(),
                        attribute: "TargetGroupFullName".into(),
                    }
                ),
            ])
        );
    }
}

#[test]
fn resolving_fills_each_series_with_the_full_names_of_the_deployed_resources() {
    let request = gateway_request();
    let resolved = alarms::resolve(&request.alarms, "gateway", &gateway_resources(""))
        .expect("every resource is there");
    let (blue, read) = &resolved[0];
    let primary = group("gatew-BlueT-1F2A3B").1;
    let alternate = group("gatew-BlueA-6E5D4C").1;
    let series: Vec<Series> = blue.series.iter().map(|r| r.series.clone()).collect();
    let expected: Vec<Series> = [&primary, &alternate]
        .iter()
        .flat_map(|g| CLASSES.iter().map(move |c| alb(c, g)))
        .collect();
    assert_eq!(series, expected);
    assert_eq!(
        read.iter()
            .map(|r| (
                r.attribute.logical_id.as_str(),
                r.value.as_str(),
                r.physical_id.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            (
                "BlueAlternateTargetGroup",
                alternate.as_str(),
                group("gatew-BlueA-6E5D4C").0.as_str()
            ),
            (
                "BlueTargetGroup",
                primary.as_str(),
                group("gatew-BlueT-1F2A3B").0.as_str()
            ),
            ("GatewayLoadBalancer", LB_NAME, LOAD_BALANCER),
        ]
    );
    let green = &resolved[1].0;
    assert_eq!(
        green.series[7].series,
        alb("HTTPCode_Target_5XX_Count", &group("gatew-Green-1A2B3C").1)
    );
}

#[test]
fn a_resource_the_stack_lacks_is_an_error_naming_its_logical_id() {
    let request = gateway_request();
    let err = alarms::resolve(
        &request.alarms,
        "gateway",
        &gateway_resources("BlueAlternateTargetGroup"),
    )
    .expect_err("the alternate target group is missing");
    assert_eq!(
        err.to_string(),
        "alarm gateway-blue-error-rate reads its TargetGroup dimension from BlueAlternateTargetGroup's TargetGroupFullName, but stack gateway has no resource BlueAlternateTargetGroup"
    );

    let mut creating = gateway_resources("");
    creating[0].physical_id = None;
    creating[0].status = "CREATE_IN_PROGRESS".into();
    assert_eq!(
        alarms::resolve(&request.alarms, "gateway", &creating)
            .expect_err("no ARN yet")
            .to_string(),
        "alarm gateway-blue-error-rate reads its LoadBalancer dimension from GatewayLoadBalancer's LoadBalancerFullName, but resource GatewayLoadBalancer of stack gateway has no physical id (CREATE_IN_PROGRESS)"
    );

    let mut odd = gateway_resources("");
    odd[0].physical_id = Some("gateway-lb".into());
    assert_eq!(
        alarms::resolve(&request.alarms, "gateway", &odd)
            .expect_err("not an ARN")
            .to_string(),
        "alarm gateway-blue-error-rate reads its LoadBalancer dimension from GatewayLoadBalancer's LoadBalancerFullName, which meshtest cannot work out from a AWS::ElasticLoadBalancingV2::LoadBalancer's physical id gateway-lb"
    );
}

#[test]
fn an_alarm_with_literal_dimensions_needs_no_stack() {
    let (alarm, read) = alarms::resolve(&[error_rate(true)], "rollout", &[])
        .expect("nothing to resolve")
        .remove(0);
    assert_eq!(alarm, error_rate(true));
    assert!(read.is_empty());
}

/// `ListStackResources` for the gateway, in two pages.
fn listed_resources() -> Rule {
    let page = |resources: Vec<StackResource>, next: Option<&'static str>| {
        ListStackResourcesOutput::builder()
            .set_stack_resource_summaries(Some(
                resources
                    .into_iter()
                    .map(|r| {
                        StackResourceSummary::builder()
                            .logical_resource_id(r.logical_id)
                            .resource_type(r.resource_type)
                            .set_physical_resource_id(r.physical_id)
                            .resource_status(ResourceStatus::CreateComplete)
                            .build()
                    })
                    .collect(),
            ))
            .set_next_token(next.map(str::to_owned))
            .build()
    };
    let mut all = gateway_resources("");
    let second = all.split_off(3);
    mock!(Cfn::list_stack_resources)
        .match_requests(|r| r.stack_name() == Some("gateway"))
        .sequence()
        .output(move || page(all.clone(), Some("page-2")))
        .output(move || page(second.clone(), None))
        .build()
}

#[tokio::test]
async fn verify_reads_the_alb_alarms_series_with_the_deployed_stacks_names_and_says_so() {
    let primary = group("gatew-BlueT-1F2A3B").1;
    let alternate = group("gatew-BlueA-6E5D4C").1;
    // Traffic through blue's primary target group, never a 5xx; nothing through green or
    // through blue's alternate target group (no deployment yet).
    let metrics = list_metrics(
        CLASSES[..3]
            .iter()
            .map(|c| alb(c, &primary))
            .chain([alb("RequestCount", &alternate)])
            .collect(),
    );
    let alarms = mock!(CloudWatch::describe_alarms).then_output(|| {
        DescribeAlarmsOutput::builder()
            .set_metric_alarms(Some(
                ["gateway-blue-error-rate", "gateway-green-error-rate"]
                    .iter()
                    .map(|name| {
                        MetricAlarm::builder()
                            .alarm_name(*name)
                            .state_value(StateValue::Ok)
                            .build()
                    })
                    .collect(),
            ))
            .build()
    });
    let history = mock!(CloudWatch::describe_alarm_history)
        .then_output(|| DescribeAlarmHistoryOutput::builder().build());
    let resources = listed_resources();
    let aws = Rules {
        cfn: &[&resources],
        cloudwatch: &[&metrics, &alarms, &history],
        ..Rules::default()
    }
    .aws();
    let out = Recorder::new();
    let verified = verify(&aws, &gateway_request(), &out)
        .await
        .expect("verify");
    assert_eq!(out.text(), "");
    assert_eq!(resources.num_calls(), 2, "both pages, once for both alarms");
    assert_eq!(
        metrics.num_calls(),
        16,
        "one ListMetrics per series of each alarm"
    );
    let blue = &verified.alarms[0];
    assert_eq!(
        blue.series
            .iter()
            .map(|c| (c.found, c.severity))
            .collect::<Vec<_>>(),
        [
            (true, Severity::Ok),
            (true, Severity::Ok),
            (true, Severity::Ok),
            (false, Severity::Note),
            (false, Severity::Note),
            (false, Severity::Note),
            (false, Severity::Note),
            (false, Severity::Note),
        ]
    );
    assert!(verified.clean(), "{verified:?}");
    let json = serde_json::to_value(blue).expect("serializes");
    assert_eq!(
        json["fromStack"][2],
        json!({"logicalId": "GatewayLoadBalancer", "attribute": "LoadBalancerFullName",
               "physicalId": LOAD_BALANCER, "value": LB_NAME})
    );

    let shown = Recorder::new();
    verified.show(&shown);
    let lines = shown.lines();
    assert_eq!(
        lines[..5],
        [
            "alarm gateway-blue-error-rate (BlueErrorRateAlarm): OK".to_owned(),
            format!(
                "  BlueAlternateTargetGroup TargetGroupFullName read from the stack: {alternate} ({})",
                group("gatew-BlueA-6E5D4C").0
            ),
            format!(
                "  BlueTargetGroup TargetGroupFullName read from the stack: {primary} ({})",
                group("gatew-BlueT-1F2A3B").0
            ),
            format!(
                "  GatewayLoadBalancer LoadBalancerFullName read from the stack: {LB_NAME} ({LOAD_BALANCER})"
            ),
            format!(
                "  found AWS/ApplicationELB HTTPCode_Target_2XX_Count{{LoadBalancer={LB_NAME},TargetGroup={primary}}}"
            ),
        ]
    );
    assert_eq!(
        lines[7],
        format!(
            "  note: missing AWS/ApplicationELB HTTPCode_Target_5XX_Count{{LoadBalancer={LB_NAME},TargetGroup={primary}}}: no 5xx answer yet: the alarm counts it as 0 (FILL); the Application Load Balancer publishes it once a target of {primary} answers a request through it with that class"
        )
    );
    assert_eq!(
        lines[8],
        format!(
            "  note: missing AWS/ApplicationELB HTTPCode_Target_2XX_Count{{LoadBalancer={LB_NAME},TargetGroup={alternate}}}: no answer through {alternate} yet: between deployments one of the service's two target groups gets no traffic; the alarm counts it as 0 (FILL)"
        )
    );
    // Green had no traffic at all: every series a note, as before any traffic.
    assert!(
        verified.alarms[1]
            .series
            .iter()
            .all(|c| c.severity == Severity::Note)
    );
}

#[tokio::test]
async fn verify_refuses_when_the_deployed_stack_lacks_a_resource_an_alarm_reads() {
    let resources = mock!(Cfn::list_stack_resources).then_output(|| {
        ListStackResourcesOutput::builder()
            .stack_resource_summaries(
                StackResourceSummary::builder()
                    .logical_resource_id("GatewayLoadBalancer")
                    .resource_type("AWS::ElasticLoadBalancingV2::LoadBalancer")
                    .physical_resource_id(LOAD_BALANCER)
                    .resource_status(ResourceStatus::CreateComplete)
                    .build(),
            )
            .build()
    });
    let alarms =
        mock!(CloudWatch::describe_alarms).then_output(|| DescribeAlarmsOutput::builder().build());
    let aws = Rules {
        cfn: &[&resources],
        cloudwatch: &[&alarms],
        ..Rules::default()
    }
    .aws();
    let err = verify(&aws, &gateway_request(), &Recorder::new())
        .await
        .expect_err("the target groups are not in the stack");
    assert_eq!(
        err.to_string(),
        "alarm gateway-blue-error-rate reads its TargetGroup dimension from BlueTargetGroup's TargetGroupFullName, but stack gateway has no resource BlueTargetGroup: verify again once the stack's deploy has ended, or deploy again (`deploy gateway`)"
    );
}

/// `verify gateway` without `--strategy` checks the alarms of the template the stack runs: the
/// gateway deployed with `--strategy linear` has two ALB error-rate alarms the rendered
/// gateway lacks. A stack that does not exist is refused with what to do.
#[tokio::test]
async fn verify_reads_the_alarms_of_the_template_the_stack_runs() {
    use aws_sdk_cloudformation::error::ErrorMetadata;
    use aws_sdk_cloudformation::operation::get_template::GetTemplateError;

    let gateway = crate::target::resolve(&crate::target::Choice {
        app: "gateway",
        ..crate::target::Choice::default()
    })
    .expect("the gateway app resolves");
    assert!(
        rendered(&gateway).alarms.is_empty(),
        "rendered without a strategy"
    );
    let template = super::mocks::deployed(&super::mocks::rendered(
        "gateway",
        Some(model::StrategyKind::Linear),
    ));
    let aws = Rules {
        cfn: &[&template],
        ..Rules::default()
    }
    .aws();
    let request = VerifyRequest::deployed(&aws, &gateway.named, &Recorder::new())
        .await
        .expect("the deployed template");
    assert_eq!(
        alarms::names(&request.alarms),
        ["gateway-blue-error-rate", "gateway-green-error-rate"]
            .map(str::to_owned)
            .into(),
    );

    let missing = mock!(Cfn::get_template).then_error(|| {
        GetTemplateError::generic(
            ErrorMetadata::builder()
                .code("ValidationError")
                .message("Stack with id gateway does not exist")
                .build(),
        )
    });
    let aws = Rules {
        cfn: &[&missing],
        ..Rules::default()
    }
    .aws();
    let err = VerifyRequest::deployed(&aws, &gateway.named, &Recorder::new())
        .await
        .expect_err("no stack");
    assert_eq!(
        err.to_string(),
        "stack gateway is not deployed, so it has no alarms to verify: deploy it first (`deploy gateway`)"
    );
}
