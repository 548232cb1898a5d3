//! The dashboard on AWS (moto): `cargo xtask dashboard <app>` runs in `meshtest-aws`, reads the
//! stack through the deploy library and serves the same page and frames, with `aws` as its
//! backend; moto runs no ECS deployment, so there is no rollout to show and a button's
//! rollback is refused with the library's reason. The web service's alarm series is read from
//! CloudWatch (`GetMetricData` with the alarm's own queries) with its threshold.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat,
};

use crate::aws::{cloudwatch, deploy, xtask_command};
use crate::local::Http;
use crate::local::dashboard::Dashboard;
use meshtest_tests::moto::MotoServer;
use serde_json::Value;

/// The 5xx count web's error-rate alarm reads for its caller front (the template's first
/// dimension set: `ClusterName, ServiceName=<caller>, TargetDiscoveryName`).
fn web_5xx() -> Metric {
    let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    Metric::builder()
        .namespace("AWS/ECS")
        .metric_name("HTTPCode_Target_5XX_Count")
        .dimensions(dimension("ClusterName", "rollout"))
        .dimensions(dimension("ServiceName", "front"))
        .dimensions(dimension("TargetDiscoveryName", "web"))
        .build()
}

/// Puts `rollout-web-error-rate` (moto's CloudFormation skips `AWS::CloudWatch::Alarm`) and
/// three per-minute values of the metric it reads, 10, 5 and 2 minutes ago.
///
/// moto's metric math evaluates only an expression that names one query
/// (moto/cloudwatch/metric_data_expression_parser.py), so this alarm compares its 5xx count
/// itself, as metric math (`errorRate = code5xx_1`) rather than the template's
/// `IF(responses > 0, 100 * errors / responses, 0)`; the dashboard sends an alarm's queries as
/// DescribeAlarms gives them, which the unit tests check with the real expression.
fn put_alarm_and_values(moto: &MotoServer) {
    let cw = cloudwatch(moto);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        cw.put_metric_alarm()
            .alarm_name("rollout-web-error-rate")
            .metrics(
                MetricDataQuery::builder()
                    .id("code5xx_1")
                    .metric_stat(
                        MetricStat::builder()
                            .metric(web_5xx())
                            .period(60)
                            .stat("Sum")
                            .build(),
                    )
                    .return_data(false)
                    .build(),
            )
            .metrics(
                MetricDataQuery::builder()
                    .id("errorRate")
                    .expression("code5xx_1")
                    .return_data(true)
                    .build(),
            )
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .threshold(10.0)
            .evaluation_periods(1)
            .send()
            .await
            .expect("put metric alarm");
        let now = SystemTime::now();
        for (minutes_ago, value) in [(10, 2.0), (5, 12.0), (2, 5.0)] {
            let at = now - Duration::from_secs(minutes_ago * 60);
            cw.put_metric_data()
                .namespace("AWS/ECS")
                .metric_data(
                    MetricDatum::builder()
                        .metric_name("HTTPCode_Target_5XX_Count")
                        .set_dimensions(Some(web_5xx().dimensions().to_vec()))
                        .timestamp(DateTime::from(at))
                        .value(value)
                        .build(),
                )
                .send()
                .await
                .expect("put metric data");
        }
    });
}

#[test]
fn the_dashboard_serves_a_stack_on_aws_through_meshtest_aws() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let run = deploy(&moto, "rollout", &[]);
    assert_eq!(run.code, 0, "{run}");
    put_alarm_and_values(&moto);
    let mut command = xtask_command();
    command.args([
        "dashboard",
        "rollout",
        "--endpoint-url",
        &moto.endpoint_url(),
    ]);
    let dashboard = Dashboard::run(command);
    let base = dashboard.base().to_owned();
    let token = dashboard.url.split_once("token=").unwrap().1.to_owned();
    let http = Http::new();
    assert_eq!(http.get(&format!("{base}/frame")).0, 403);
    let (status, body) = http.get(&format!("{base}/frame?token={token}"));
    assert_eq!(status, 200, "{body}");
    let frame: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(frame["backend"], "aws", "{frame}");
    assert_eq!(frame["chartSource"], "productionShare", "{frame}");
    assert_eq!(frame["rollouts"], serde_json::json!([]), "{frame}");
    let services: Vec<&str> = frame["topology"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["front", "web"], "{frame}");
    assert_eq!(
        frame["topology"]["services"][0]["calls"],
        serde_json::json!(["web"])
    );
    // web's alarm series: the three values in time order, with the alarm's threshold and side,
    // over the last 30 minutes; front has no alarm.
    let series = frame["alarmSeries"].as_array().expect("alarm series");
    assert_eq!(series.len(), 1, "{frame}");
    let web = &series[0];
    assert_eq!(web["service"], "web", "{web}");
    assert_eq!(web["alarm"], "rollout-web-error-rate", "{web}");
    assert_eq!(web["error"], Value::Null, "{web}");
    assert_eq!(
        (web["comparison"].as_str(), web["threshold"].as_f64()),
        (Some(">"), Some(10.0)),
        "{web}"
    );
    assert_eq!(web["periodSeconds"], 60, "{web}");
    let (times, values): (Vec<u64>, Vec<f64>) = web["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["atMs"].as_u64().unwrap(), p["value"].as_f64().unwrap()))
        .unzip();
    assert_eq!(values, [2.0, 12.0, 5.0], "{web}");
    let (from, to) = (
        web["fromMs"].as_u64().unwrap(),
        web["toMs"].as_u64().unwrap(),
    );
    assert_eq!(to - from, 30 * 60 * 1000, "{web}");
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{web}");
    assert!(times.iter().all(|t| (from..=to).contains(t)), "{web}");
    let (status, body) = http.post(
        &format!("{base}/rollback"),
        Some(("x-meshtest-token", &token)),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("the endpoint does not implement ListServiceDeployments"),
        "{body}"
    );
}
