//! Every metric series a rendered template reads is one AWS publishes (`cfn_render::metrics`), and
//! the error-rate alarm reads exactly the series it means to

use cfn_render::metric_series::{MetricSeries, metric_series, unpublished};
use cfn_render::metrics::{self, ECS_NAMESPACE, Publisher};
use cfn_render::{Expr, Resource, Template, obj, props};
use model::examples::{AppBuild, RolloutInputs};
use model::{BlueGreenVersions, StackSpec, StrategyKind, examples};
use state_store::BlueGreenState;

use crate::{render, rollout};

/// Every app `cargo xtask` lists (the registry, `model::examples::APPS`), in each of its
/// variants: a new app is checked as soon as it is registered.
fn apps() -> Vec<(String, Template)> {
    let mut out = Vec::new();
    for app in examples::APPS {
        let name = app.name;
        match app.build {
            AppBuild::Plain(build) => out.push((name.to_string(), render(build(name)))),
            AppBuild::BlueGreen(build) => {
                let s = BlueGreenState::bootstrap().deploy(2).unwrap();
                let v = s.versions();
                let versions = BlueGreenVersions {
                    blue: v.blue,
                    green: v.green,
                    state_json: s.to_json(),
                };
                out.push((name.to_string(), render(build(name, &versions))));
            }
            AppBuild::Strategy(build) => {
                for strategy in [
                    StrategyKind::Rolling,
                    StrategyKind::Linear,
                    StrategyKind::Canary,
                    StrategyKind::BlueGreen,
                ] {
                    out.push((
                        format!("{name}-{}", strategy.cli_name()),
                        render(build(name, strategy)),
                    ));
                }
            }
            AppBuild::Rollout(build) => {
                for strategy in [
                    StrategyKind::Linear,
                    StrategyKind::Canary,
                    StrategyKind::BlueGreen,
                ] {
                    let inputs = RolloutInputs {
                        version: 2,
                        strategy,
                    };
                    out.push((
                        format!("{name}-{}", strategy.cli_name()),
                        render(build(name, &inputs)),
                    ));
                }
            }
        }
    }
    out
}

/// `rollout` with a second caller of `web` (`back`), the most callers the model allows.
pub fn two_callers() -> StackSpec {
    let mut spec = examples::rollout("rollout", &examples::RolloutInputs::default());
    let mut second = spec.services[0].clone();
    second.name = "back".into();
    second.service_connect.as_mut().unwrap().discovery_name = "back".into();
    spec.services.push(second);
    spec
}

/// `rollout` where nothing in the stack calls `web`.
pub fn no_caller() -> StackSpec {
    let mut spec = examples::rollout("rollout", &examples::RolloutInputs::default());
    spec.services[0].backends.clear();
    spec
}

/// The fixtures of these tests that have an alarm, besides the apps.
fn alarm_fixtures() -> Vec<(String, Template)> {
    vec![
        ("two-callers".into(), render(two_callers())),
        ("no-caller".into(), render(no_caller())),
    ]
}

fn assert_all_published(label: &str, t: &Template) -> Vec<MetricSeries> {
    let series = metric_series(t).unwrap_or_else(|e| panic!("{label}: {e}"));
    let bad: Vec<String> = unpublished(&series).iter().map(|u| u.to_string()).collect();
    assert!(
        bad.is_empty(),
        "{label} reads series AWS does not publish:\n{}",
        bad.join("\n")
    );
    series
}

#[test]
fn every_app_and_alarm_fixture_reads_only_published_series() {
    let mut alarms = 0;
    for (label, t) in apps().into_iter().chain(alarm_fixtures()) {
        let series = assert_all_published(&label, &t);
        alarms += usize::from(!series.is_empty());
    }
    // The check is not vacuous: the rollout variants, the fixtures and the gateway's three
    // strategies do read series.
    assert_eq!(alarms, 8);
}

/// A service that shifts traffic at the ALB gateway is watched on both of its target groups
/// (ECS swaps which one is production from one deployment to the next), in
/// `AWS/ApplicationELB`, 5xx over the four response classes, as the ALB publishes them.
#[test]
fn a_shift_at_the_alb_is_watched_on_both_target_groups() {
    let t = render(examples::gateway_with("gateway", StrategyKind::Linear));
    let series = assert_all_published("gateway-linear", &t);
    let blue: Vec<String> = series
        .iter()
        .filter(|s| s.logical_id == "BlueErrorRateAlarm")
        .map(|s| s.to_string())
        .collect();
    let on = |group: &str| -> Vec<String> {
        ["2XX", "3XX", "4XX", "5XX"]
            .iter()
            .map(|code| {
                format!(
                    "AWS/ApplicationELB HTTPCode_Target_{code}_Count {{LoadBalancer=${{GatewayLoadBalancer.LoadBalancerFullName}}, TargetGroup=${{{group}.TargetGroupFullName}}}}"
                )
            })
            .collect()
    };
    let mut expected = on("BlueTargetGroup");
    expected.extend(on("BlueAlternateTargetGroup"));
    assert_eq!(blue, expected);
    let json = t.to_json_value();
    let metrics = &json["Resources"]["BlueErrorRateAlarm"]["Properties"]["Metrics"];
    let expression = |id: &str| {
        metrics
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Id"] == id)
            .map(|m| m["Expression"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        expression("errors").as_deref(),
        Some("FILL(code5xx_1, 0) + FILL(code5xx_2, 0)")
    );
    assert_eq!(
        expression("responses").as_deref(),
        Some(
            "FILL(code2xx_1, 0) + FILL(code3xx_1, 0) + FILL(code4xx_1, 0) + FILL(code5xx_1, 0) + FILL(code2xx_2, 0) + FILL(code3xx_2, 0) + FILL(code4xx_2, 0) + FILL(code5xx_2, 0)"
        )
    );
}

/// The alarm this crate rendered before issue 16: 5xx over `RequestCount`, both on the caller's
/// set, built here from the documented dimension sets as it was written.
fn old_alarm() -> Template {
    let metric = |id: &str, name: &str| {
        obj([
            ("Id", id.into()),
            (
                "MetricStat",
                obj([
                    (
                        "Metric",
                        obj([
                            ("Namespace", ECS_NAMESPACE.into()),
                            ("MetricName", name.into()),
                            (
                                "Dimensions",
                                Expr::List(
                                    [
                                        ("ClusterName", "rollout"),
                                        ("ServiceName", "front"),
                                        ("TargetDiscoveryName", "web"),
                                    ]
                                    .iter()
                                    .map(|(n, v)| {
                                        obj([("Name", (*n).into()), ("Value", (*v).into())])
                                    })
                                    .collect(),
                                ),
                            ),
                        ]),
                    ),
                    ("Period", 60u32.into()),
                    ("Stat", "Sum".into()),
                ]),
            ),
            ("ReturnData", false.into()),
        ])
    };
    let mut t = Template::new(None);
    t.add(
        "WebErrorRateAlarm",
        Resource::new(
            "AWS::CloudWatch::Alarm",
            props([(
                "Metrics",
                Expr::List(vec![
                    metric("errors1", "HTTPCode_Target_5XX_Count"),
                    metric("requests1", "RequestCount"),
                    obj([
                        ("Id", "errorRate".into()),
                        (
                            "Expression",
                            "IF(FILL(requests1, 0) > 0, 100 * FILL(errors1, 0) / FILL(requests1, 0), 0)"
                                .into(),
                        ),
                        ("ReturnData", true.into()),
                    ]),
                ]),
            )]),
        ),
    )
    .unwrap();
    t
}

#[test]
fn the_old_alarm_is_refused_and_the_new_one_reads_what_it_divides() {
    let old = metric_series(&old_alarm()).unwrap();
    let refused: Vec<String> = unpublished(&old).iter().map(|u| u.to_string()).collect();
    assert_eq!(
        refused,
        [
            "WebErrorRateAlarm (query requests1) reads AWS/ECS RequestCount on \
          {ClusterName, ServiceName, TargetDiscoveryName}, a dimension set AWS does not publish it on: \
          it is published by the server's Service Connect proxy (ServiceName is the server) on \
          {DiscoveryName} or {ClusterName, DiscoveryName, ServiceName}; query one of those sets"
        ]
    );

    // The new alarm: the four response-code counts, each on the caller's published set.
    let new = assert_all_published("rollout", &rollout(2, StrategyKind::Linear));
    let read: Vec<String> = new
        .iter()
        .map(|s| format!("{} {s}", s.query_id.as_deref().unwrap_or("-")))
        .collect();
    let on = "{ClusterName=rollout, ServiceName=front, TargetDiscoveryName=web}";
    assert_eq!(
        read,
        [
            format!("code2xx_1 AWS/ECS HTTPCode_Target_2XX_Count {on}"),
            format!("code3xx_1 AWS/ECS HTTPCode_Target_3XX_Count {on}"),
            format!("code4xx_1 AWS/ECS HTTPCode_Target_4XX_Count {on}"),
            format!("code5xx_1 AWS/ECS HTTPCode_Target_5XX_Count {on}"),
        ]
    );
    // Numerator and denominator come from one publisher: the caller's proxy.
    for s in &new {
        assert_eq!(
            s.catalog_entry().unwrap().publisher,
            Publisher::ServiceConnectOutbound,
            "{s}"
        );
    }
}

#[test]
fn every_caller_is_read_and_a_service_without_one_is_read_by_discovery_name() {
    let caller_sets = |t: &Template| -> Vec<String> {
        metric_series(t)
            .unwrap()
            .iter()
            .filter(|s| s.metric == "HTTPCode_Target_5XX_Count")
            .map(|s| {
                s.dimensions
                    .iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    };
    assert_eq!(
        caller_sets(&render(two_callers())),
        [
            "ClusterName=rollout,ServiceName=front,TargetDiscoveryName=web",
            "ClusterName=rollout,ServiceName=back,TargetDiscoveryName=web",
        ]
    );
    assert_eq!(
        caller_sets(&render(no_caller())),
        ["TargetDiscoveryName=web"]
    );
    // CloudWatch's limit: a metric-math alarm reads at most 10 metrics.
    for t in [render(two_callers()), render(no_caller())] {
        assert!(metric_series(&t).unwrap().len() <= 10);
    }
    assert!(
        metrics::find(
            ECS_NAMESPACE,
            "HTTPCode_Target_2XX_Count",
            &["TargetDiscoveryName"]
        )
        .is_some()
    );
}
