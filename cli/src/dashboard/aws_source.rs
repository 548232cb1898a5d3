//! The dashboard's AWS backend: the deploy library's status (each traffic-shifting service's
//! newest ECS deployment: status, stage, the production share ECS set, a pause awaiting action,
//! the alarms that rolled it back) and the state of each service's alarms from CloudWatch
//! (`DescribeAlarms`), read every [`POLL`]; the buttons call the library's rollback and
//! continue (`StopServiceDeployment`, `ContinueServiceDeployment`)
//!
//! ECS reports no answer counts, so the chart shows the production share ECS set for each
//! revision (`ServiceDeployment.targetServiceRevision.requestedProductionTrafficWeight`,
//! <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceRevisionSummary.html>),
//! not the share of answers; the README's local-vs-AWS table says so. Beside it the page
//! charts each alarm's series as CloudWatch computes it, with the alarm's threshold
//! ([`alarm_series`]): `GetMetricData` with the alarm's own queries (its metric math, or its one
//! metric), every [`SERIES_POLL`], over the last [`SERIES_WINDOW`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Metric, MetricAlarm, MetricDataQuery, MetricStat, ScanBy,
};
use deploy::Recorder;
use deploy::aws::client::failed;
use deploy::aws::{self as engine, AwsBackend, Options, VerifyRequest};
use deploy::outcome::StatusReport;
use deploy::report::Reporter;
use deploy::request::{Connection, RolloutRequest, StatusRequest};
use deploy::target::Resolved;

use super::board::{AlarmSeries, Observed, Reading, SeriesPoint};
use super::source::{Action, Source};
use crate::wording::Worded;

/// AWS's APIs are throttled per account: a poll every few seconds, as `status --watch` grows to.
pub const POLL: Duration = Duration::from_secs(5);

/// How often the alarms' series are read. CloudWatch keeps them one value a period (a minute
/// for the stack's own alarms) and charges `GetMetricData` per metric requested
/// (<https://aws.amazon.com/cloudwatch/pricing/>), so a read a minute sees every new value and
/// costs a twelfth of one every poll.
pub const SERIES_POLL: Duration = Duration::from_secs(60);

/// How far back an alarm's chart reaches.
pub const SERIES_WINDOW: Duration = Duration::from_secs(30 * 60);

/// How many pages of one series are read at most: 30 one-minute values fit in the first.
const SERIES_PAGES: usize = 5;

/// One stack on AWS.
#[derive(Debug)]
pub struct AwsSource {
    runtime: tokio::runtime::Runtime,
    backend: AwsBackend,
    target: Resolved,
    label: String,
    /// The alarms the stack itself defines (their threshold and value are percentages).
    own: BTreeSet<String>,
    /// The alarms' series last read, and when.
    series: Mutex<Option<(Instant, Vec<AlarmSeries>)>>,
}

impl AwsSource {
    /// Connects to AWS (credentials checked first) for `target`, whose deployed template says
    /// which alarms are the stack's own.
    pub fn connect(
        connection: &Connection,
        target: Resolved,
        label: String,
        out: &dyn Reporter,
    ) -> Result<AwsSource> {
        // A worker of its own: the poller and a button's thread each block on it in turn.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let mut backend = runtime.block_on(AwsBackend::connect(connection))?;
        backend.options = Options {
            status_rollouts: true,
            ..Options::default()
        };
        let own = runtime
            .block_on(VerifyRequest::deployed(&backend.aws, &target.named, out))?
            .alarms
            .into_iter()
            .map(|a| a.name)
            .collect();
        Ok(AwsSource {
            runtime,
            backend,
            target,
            label,
            own,
            series: Mutex::new(None),
        })
    }

    /// The alarms a deployment of `service` watches: those the model names, and the stack's
    /// own error-rate alarm (named as cfn-render names it) when the template has it.
    fn alarm_names(&self, service: &str) -> Vec<String> {
        let spec = self.target.stack.spec();
        let Some(svc) = spec.services.iter().find(|s| s.name == service) else {
            return Vec::new();
        };
        let mut names = Vec::new();
        if let Some(alarms) = &svc.deployment.alarms {
            names.extend(alarms.names.iter().cloned());
        }
        let own = format!("{}-{service}-error-rate", self.target.named.name);
        if self.own.contains(&own) {
            names.push(own);
        }
        names
    }

    /// Each service's alarms, by service, for every service of the stack.
    fn alarms_by_service(&self) -> Vec<(String, Vec<String>)> {
        self.target
            .stack
            .spec()
            .services
            .iter()
            .map(|svc| (svc.name.clone(), self.alarm_names(&svc.name)))
            .filter(|(_, names)| !names.is_empty())
            .collect()
    }

    /// The alarms' series: read again when the last read is [`SERIES_POLL`] old.
    async fn series(
        &self,
        alarms: &[(String, Vec<String>)],
        found: &Result<BTreeMap<String, MetricAlarm>, String>,
    ) -> Vec<AlarmSeries> {
        let fresh = {
            let cached = self.series.lock().unwrap_or_else(|e| e.into_inner());
            cached
                .as_ref()
                .filter(|(at, _)| at.elapsed() < SERIES_POLL)
                .map(|(_, series)| series.clone())
        };
        if let Some(series) = fresh {
            return series;
        }
        let now = SystemTime::now();
        let mut series = Vec::new();
        for (service, names) in alarms {
            for name in names {
                let one = match found {
                    Ok(found) => {
                        alarm_series(
                            &self.backend.aws.cloudwatch,
                            service,
                            name,
                            found.get(name),
                            now,
                        )
                        .await
                    }
                    Err(why) => unread(service, name, now, why.clone()),
                };
                series.push(one);
            }
        }
        *self.series.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), series.clone()));
        series
    }
}

/// Unix milliseconds of `t`.
fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The series of `alarm` over the window before `now`, with nothing read yet.
fn window(service: &str, alarm: &str, now: SystemTime) -> AlarmSeries {
    let to_ms = unix_ms(now);
    AlarmSeries {
        service: service.to_owned(),
        alarm: alarm.to_owned(),
        comparison: None,
        threshold: None,
        period_seconds: 0,
        from_ms: to_ms.saturating_sub(u64::try_from(SERIES_WINDOW.as_millis()).unwrap_or(0)),
        to_ms,
        points: Vec::new(),
        error: None,
    }
}

/// A series that could not be read, saying why.
fn unread(service: &str, alarm: &str, now: SystemTime, why: String) -> AlarmSeries {
    AlarmSeries {
        error: Some(why),
        ..window(service, alarm, now)
    }
}

/// The side of the threshold that breaches (CloudWatch API reference, `PutMetricAlarm`:
/// `ComparisonOperator`); an anomaly band's operators have no fixed threshold to draw.
fn comparison(op: Option<&ComparisonOperator>) -> Option<&'static str> {
    match op? {
        ComparisonOperator::GreaterThanThreshold => Some(">"),
        ComparisonOperator::GreaterThanOrEqualToThreshold => Some(">="),
        ComparisonOperator::LessThanThreshold => Some("<"),
        ComparisonOperator::LessThanOrEqualToThreshold => Some("<="),
        _ => None,
    }
}

/// The queries that compute what `alarm` compares with its threshold, the id of the one whose
/// values it compares, and its period in seconds; `None` for an alarm that reads neither
/// metric math nor one metric (CloudWatch API reference, `MetricAlarm`: `Metrics`, or
/// `Namespace`, `MetricName`, `Dimensions`, `Statistic`/`ExtendedStatistic`, `Period`).
///
/// A metric math alarm's queries go as they are, with `ReturnData` true on the one the alarm
/// compares only: `GetMetricData` returns every query whose `ReturnData` is true or unset, and
/// each returned series is one more to receive (`GetMetricData` API reference, `MetricDataQuery`:
/// `ReturnData`).
pub fn series_queries(alarm: &MetricAlarm) -> Option<(Vec<MetricDataQuery>, String, i32)> {
    let queries = alarm.metrics();
    if !queries.is_empty() {
        let returned = queries
            .iter()
            .find(|q| q.return_data() == Some(true))
            .or_else(|| (queries.len() == 1).then(|| &queries[0]))?
            .id()?
            .to_owned();
        let period = queries
            .iter()
            .filter_map(|q| q.metric_stat().and_then(MetricStat::period).or(q.period()))
            .max()
            .unwrap_or(60);
        let queries = queries
            .iter()
            .map(|q| {
                MetricDataQuery::builder()
                    .set_id(q.id().map(str::to_owned))
                    .set_metric_stat(q.metric_stat().cloned())
                    .set_expression(q.expression().map(str::to_owned))
                    .set_label(q.label().map(str::to_owned))
                    .set_period(q.period())
                    .set_account_id(q.account_id().map(str::to_owned))
                    .return_data(q.id() == Some(returned.as_str()))
                    .build()
            })
            .collect();
        return Some((queries, returned, period));
    }
    let stat = alarm
        .statistic()
        .map(|s| s.as_str().to_owned())
        .or_else(|| alarm.extended_statistic().map(str::to_owned))?;
    let period = alarm.period().unwrap_or(60);
    let metric = Metric::builder()
        .set_namespace(alarm.namespace().map(str::to_owned))
        .set_metric_name(Some(alarm.metric_name()?.to_owned()))
        .set_dimensions(Some(alarm.dimensions().to_vec()))
        .build();
    let query = MetricDataQuery::builder()
        .id("m1")
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period)
                .stat(stat)
                .set_unit(alarm.unit().cloned())
                .build(),
        )
        .return_data(true)
        .build();
    Some((vec![query], "m1".to_owned(), period))
}

/// The series of alarm `name` (of `service`) over the [`SERIES_WINDOW`] before `now`, from
/// CloudWatch's `GetMetricData` with the alarm's own queries ([`series_queries`]); `alarm` is
/// what `DescribeAlarms` said of it. A failed read is the series' `error`, which the page shows
/// in the chart's place.
pub async fn alarm_series(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    service: &str,
    name: &str,
    alarm: Option<&MetricAlarm>,
    now: SystemTime,
) -> AlarmSeries {
    let Some(alarm) = alarm else {
        return unread(
            service,
            name,
            now,
            format!("CloudWatch has no alarm {name}: deploy the stack, or check the alarm's name"),
        );
    };
    let Some((queries, returned, period)) = series_queries(alarm) else {
        return unread(
            service,
            name,
            now,
            format!("alarm {name} reads no metric or metric math the dashboard can chart"),
        );
    };
    let mut series = window(service, name, now);
    series.comparison = comparison(alarm.comparison_operator());
    series.threshold = series.comparison.and(alarm.threshold());
    series.period_seconds = u32::try_from(period).unwrap_or(60);
    let start = now
        .checked_sub(SERIES_WINDOW)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut token: Option<String> = None;
    for _ in 0..SERIES_PAGES {
        let answer = cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            .start_time(DateTime::from(start))
            .end_time(DateTime::from(now))
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(token.clone())
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(err) => {
                series.error = Some(format!(
                    "cannot read the series of alarm {name} (GetMetricData): {}; the dashboard needs cloudwatch:GetMetricData to chart it",
                    failed(&err).why
                ));
                return series;
            }
        };
        for result in answer
            .metric_data_results()
            .iter()
            .filter(|r| r.id() == Some(returned.as_str()))
        {
            for (at, value) in result.timestamps().iter().zip(result.values()) {
                let at_ms = u64::try_from(at.to_millis().unwrap_or(0)).unwrap_or(0);
                series.points.push(SeriesPoint {
                    at_ms,
                    value: *value,
                });
            }
        }
        token = answer.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    series.points.sort_by_key(|p| p.at_ms);
    series
}

impl Source for AwsSource {
    fn backend(&self) -> &'static str {
        "aws"
    }

    fn poll(&self) -> Duration {
        POLL
    }

    fn read(&self) -> Result<Reading> {
        let out = Recorder::new();
        let worded = Worded::new(&out, self.label.clone(), false);
        self.runtime.block_on(async {
            let request = StatusRequest::new(self.target.clone());
            let StatusReport::Stack(report) =
                engine::status(&self.backend, &request, &worded).await?
            else {
                anyhow::bail!("AWS answered with another backend's status")
            };
            if report.found.is_none() {
                anyhow::bail!(
                    "stack {} does not exist: deploy it first",
                    report.stack_name
                );
            }
            // Every alarm of the stack in one DescribeAlarms: their state for the cards, their
            // definitions for the series.
            let alarms = self.alarms_by_service();
            let names: Vec<String> = alarms
                .iter()
                .flat_map(|(_, names)| names.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let found = if names.is_empty() {
                Ok(BTreeMap::new())
            } else {
                engine::describe_alarms(&self.backend.aws, &names)
                    .await
                    .map_err(|e| {
                        format!(
                            "cannot read the alarms (DescribeAlarms): {}; the dashboard needs cloudwatch:DescribeAlarms to show them",
                            e.why
                        )
                    })
            };
            let mut rollouts = Vec::new();
            for rollout in report.rollouts {
                let Some(mut progress) = rollout.deployment else {
                    continue;
                };
                // Without the alarms the rollout is still shown; the series say why.
                if let Ok(found) = &found {
                    progress.alarms = self
                        .alarm_names(&progress.service)
                        .iter()
                        .map(|n| engine::reading_of(n, found.get(n), self.own.contains(n)))
                        .collect();
                }
                rollouts.push(Observed {
                    progress,
                    steps: None,
                });
            }
            let alarm_series = self.series(&alarms, &found).await;
            Ok(Reading {
                spec: Some(self.target.stack.spec().clone()),
                rollouts,
                traffic: None,
                alarm_series,
            })
        })
    }

    fn act(&self, action: Action) -> Result<String> {
        let out = Recorder::new();
        let worded = Worded::new(&out, self.label.clone(), false);
        let request = RolloutRequest::new(self.target.clone());
        self.runtime.block_on(async {
            match action {
                Action::Continue => engine::continue_paused(&self.backend, &request, &worded).await,
                Action::Rollback => engine::rollback(&self.backend, &request, &worded).await,
            }
        })?;
        Ok(out.lines().join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatch::Client as CloudWatch;
    use aws_sdk_cloudwatch::operation::get_metric_data::{GetMetricDataError, GetMetricDataOutput};
    use aws_sdk_cloudwatch::types::{Dimension, MetricDataResult, Statistic};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    /// 2026-01-06 10:00:00 UTC.
    const NOW_S: u64 = 1_767_693_600;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_S)
    }

    fn count(id: &str, metric: &str) -> MetricDataQuery {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/ECS")
                            .metric_name(metric)
                            .dimensions(
                                Dimension::builder()
                                    .name("TargetDiscoveryName")
                                    .value("web")
                                    .build(),
                            )
                            .build(),
                    )
                    .period(60)
                    .stat("Sum")
                    .build(),
            )
            .return_data(false)
            .build()
    }

    /// The stack's error-rate alarm as DescribeAlarms describes it (abridged to two counts).
    fn error_rate_alarm() -> MetricAlarm {
        MetricAlarm::builder()
            .alarm_name("r-web-error-rate")
            .metrics(count("code5xx_1", "HTTPCode_Target_5XX_Count"))
            .metrics(count("code2xx_1", "HTTPCode_Target_2XX_Count"))
            .metrics(
                MetricDataQuery::builder()
                    .id("errorRate")
                    .expression("IF(code2xx_1 + code5xx_1 > 0, 100 * FILL(code5xx_1, 0) / (code2xx_1 + code5xx_1), 0)")
                    .return_data(true)
                    .build(),
            )
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .threshold(10.0)
            .build()
    }

    /// The series of web's error-rate alarm as `cw` answers.
    async fn web_series(cw: &CloudWatch) -> AlarmSeries {
        alarm_series(
            cw,
            "web",
            "r-web-error-rate",
            Some(&error_rate_alarm()),
            now(),
        )
        .await
    }

    fn result(id: &str, points: &[(u64, f64)]) -> MetricDataResult {
        let mut r = MetricDataResult::builder().id(id);
        for (at, value) in points {
            r = r
                .timestamps(DateTime::from_secs(i64::try_from(*at).unwrap()))
                .values(*value);
        }
        r.build()
    }

    /// A metric math alarm's queries go as the alarm has them, only its compared expression
    /// returned, over the last 30 minutes in time order; the series is that expression's
    /// values with the alarm's threshold and side.
    #[tokio::test]
    async fn a_metric_math_alarms_series_is_its_own_expression_with_its_threshold() {
        let read = mock!(CloudWatch::get_metric_data)
            .match_requests(|r| {
                let returned: Vec<_> = r
                    .metric_data_queries()
                    .iter()
                    .filter(|q| q.return_data() == Some(true))
                    .filter_map(|q| q.id())
                    .collect();
                r.metric_data_queries().len() == 3
                    && returned == ["errorRate"]
                    && r.metric_data_queries()[2]
                        .expression()
                        .is_some_and(|e| e.starts_with("IF("))
                    && r.start_time() == Some(&DateTime::from_secs((NOW_S - 1800) as i64))
                    && r.end_time() == Some(&DateTime::from_secs(NOW_S as i64))
                    && r.scan_by() == Some(&ScanBy::TimestampAscending)
            })
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result(
                        "errorRate",
                        &[(NOW_S - 180, 2.0), (NOW_S - 120, 12.5), (NOW_S - 60, 4.0)],
                    ))
                    .build()
            });
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&read]);
        let series = web_series(&cw).await;
        assert_eq!(read.num_calls(), 1);
        assert_eq!(series.error, None);
        assert_eq!(
            (series.comparison, series.threshold),
            (Some(">"), Some(10.0))
        );
        assert_eq!(series.period_seconds, 60);
        assert_eq!(series.to_ms - series.from_ms, 1_800_000);
        let values: Vec<(u64, f64)> = series
            .points
            .iter()
            .map(|p| (p.at_ms / 1000, p.value))
            .collect();
        assert_eq!(
            values,
            [(NOW_S - 180, 2.0), (NOW_S - 120, 12.5), (NOW_S - 60, 4.0)]
        );
    }

    /// A single-metric alarm is read as one query of its metric, statistic and period.
    #[test]
    fn a_single_metric_alarm_reads_its_metric_with_its_statistic_and_period() {
        let alarm = MetricAlarm::builder()
            .alarm_name("web-5xx")
            .namespace("AWS/ApplicationELB")
            .metric_name("HTTPCode_Target_5XX_Count")
            .dimensions(
                Dimension::builder()
                    .name("LoadBalancer")
                    .value("app/x/1")
                    .build(),
            )
            .statistic(Statistic::Sum)
            .period(300)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .threshold(5.0)
            .build();
        let (queries, returned, period) = series_queries(&alarm).expect("one metric");
        assert_eq!((returned.as_str(), period), ("m1", 300));
        let stat = queries[0].metric_stat().expect("a metric query");
        assert_eq!(stat.stat(), Some("Sum"));
        assert_eq!(stat.period(), Some(300));
        let metric = stat.metric().unwrap();
        assert_eq!(metric.metric_name(), Some("HTTPCode_Target_5XX_Count"));
        assert_eq!(metric.dimensions().len(), 1);
        assert_eq!(queries[0].return_data(), Some(true));
        assert_eq!(comparison(alarm.comparison_operator()), Some(">="));
        // An alarm that reads nothing chartable has no queries.
        assert!(series_queries(&MetricAlarm::builder().alarm_name("x").build()).is_none());
    }

    /// A read CloudWatch refuses (no permission) is the series' error, naming the permission,
    /// and the alarm CloudWatch does not have is said as such.
    #[tokio::test]
    async fn a_denied_read_is_the_series_message_not_a_failure() {
        let denied = mock!(CloudWatch::get_metric_data).then_error(|| {
            GetMetricDataError::generic(
                aws_sdk_cloudwatch::error::ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("User is not authorized to perform cloudwatch:GetMetricData")
                    .build(),
            )
        });
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&denied]);
        let series = web_series(&cw).await;
        assert_eq!(
            series.error.as_deref(),
            Some(
                "cannot read the series of alarm r-web-error-rate (GetMetricData): AccessDenied: User is not authorized to perform cloudwatch:GetMetricData; the dashboard needs cloudwatch:GetMetricData to chart it"
            )
        );
        assert!(series.points.is_empty());
        let missing = alarm_series(&cw, "web", "r-web-error-rate", None, now()).await;
        assert_eq!(
            denied.num_calls(),
            1,
            "no read for an alarm CloudWatch lacks"
        );
        assert!(
            missing
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("CloudWatch has no alarm r-web-error-rate")),
            "{missing:?}"
        );
    }
}
