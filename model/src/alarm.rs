//! What a service's error-rate alarm reads and what it can catch: its Service Connect metrics per
//! caller, CloudWatch's limits on them, and the detection floor at each traffic step

use std::fmt;

use crate::deployment::{Deployment, Percent};
use crate::spec::{ServiceSpec, StackSpec};

/// The Service Connect outbound response counts the error-rate alarm reads for each dimension
/// set: 5xx over the sum of all four, so numerator and denominator count the same responses.
pub const ERROR_RATE_METRIC_NAMES: [&str; 4] = [
    "HTTPCode_Target_2XX_Count",
    "HTTPCode_Target_3XX_Count",
    "HTTPCode_Target_4XX_Count",
    "HTTPCode_Target_5XX_Count",
];

/// CloudWatch's hard limit on the metrics a metric math alarm references ("Alarms based on metric
/// math expressions can reference a maximum of 10 metrics",
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html>;
/// PutMetricAlarm's `Metrics`: up to 20 queries, at most 10 of them with a `MetricStat`).
pub const MAX_ALARM_METRICS: usize = 10;

/// The longest evaluation range (`Period x EvaluationPeriods`, seconds) CloudWatch accepts for an
/// alarm whose period is under an hour, and for any other (PutMetricAlarm `Period`: "can't be more
/// than 604,800 seconds. For alarms with a period of less than one hour (3,600 seconds), the
/// total evaluation period can't be longer than one day (86,400 seconds)",
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html>).
/// High-resolution periods (10, 30 s) are under an hour, so one day holds for them too.
pub const MAX_EVALUATION_SECONDS_SHORT_PERIOD: u64 = 86_400;
pub const MAX_EVALUATION_SECONDS: u64 = 604_800;

/// `period_seconds x evaluation_periods` against CloudWatch's limit: `Err(limit)` when over it.
pub fn evaluation_range_limit(period_seconds: u32, evaluation_periods: u32) -> Result<(), u64> {
    let limit = if period_seconds < 3_600 {
        MAX_EVALUATION_SECONDS_SHORT_PERIOD
    } else {
        MAX_EVALUATION_SECONDS
    };
    if u64::from(period_seconds) * u64::from(evaluation_periods) <= limit {
        Ok(())
    } else {
        Err(limit)
    }
}

/// The metrics of a service's error-rate alarm: the four response counts of
/// [`ERROR_RATE_METRIC_NAMES`] on `ClusterName, ServiceName=<caller>, TargetDiscoveryName` for
/// each caller in the stack, or on `TargetDiscoveryName` alone when nothing in the stack calls the
/// service. The renderer writes exactly these; validation holds them to [`MAX_ALARM_METRICS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRateMetrics<'a> {
    pub cluster: &'a str,
    /// The service's Service Connect discovery name (`TargetDiscoveryName`).
    pub discovery_name: &'a str,
    /// The stack's services whose `backends` list this one, in the stack's order.
    pub callers: Vec<&'a str>,
}

impl ErrorRateMetrics<'_> {
    /// One per caller, or the one `TargetDiscoveryName` set when there is no caller.
    pub fn dimension_sets(&self) -> usize {
        self.callers.len().max(1)
    }

    /// The metrics (CloudWatch `MetricStat` queries) the alarm references; its expressions (the
    /// renderer writes three: errors, responses, their ratio) come on top and count towards
    /// CloudWatch's separate limit of 10 expressions, not towards [`MAX_ALARM_METRICS`].
    pub fn metric_count(&self) -> usize {
        ERROR_RATE_METRIC_NAMES.len() * self.dimension_sets()
    }
}

/// The metrics `svc`'s error-rate alarm reads; `None` without Service Connect (no such alarm).
pub fn error_rate_metrics<'a>(
    stack: &'a StackSpec,
    svc: &'a ServiceSpec,
) -> Option<ErrorRateMetrics<'a>> {
    let sc = svc.service_connect.as_ref()?;
    Some(ErrorRateMetrics {
        cluster: &stack.cluster.name,
        discovery_name: &sc.discovery_name,
        callers: stack
            .services
            .iter()
            .filter(|c| c.backends.contains(&svc.name))
            .map(|c| c.name.as_str())
            .collect(),
    })
}

/// The `AWS/ApplicationELB` response counts the error-rate alarm of a service that shifts traffic
/// at the ALB reads on each of its two target groups (`TargetGroup, LoadBalancer`): 5xx over the
/// sum of all four, as [`ERROR_RATE_METRIC_NAMES`] on Service Connect ("CloudWatch metrics for
/// your Application Load Balancer",
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html>:
/// `HTTPCode_Target_2XX_Count` .. `HTTPCode_Target_5XX_Count` count the answers the targets
/// gave, on `LoadBalancer` and on `TargetGroup, LoadBalancer`). An answer the load balancer
/// makes itself when a target does not answer (`HTTPCode_ELB_502_Count`, `_504_`) is in none of
/// them, so it is in neither count.
pub const TARGET_GROUP_METRIC_COUNT: usize = 2 * ERROR_RATE_METRIC_NAMES.len();

/// What a service's error-rate alarm reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorRateReads<'a> {
    /// The callers' Service Connect outbound counts ([`ErrorRateMetrics`]).
    ServiceConnect(ErrorRateMetrics<'a>),
    /// The ALB's counts on both target groups of a service that shifts traffic at the ALB
    /// gateway ([`TARGET_GROUP_METRIC_COUNT`] metrics). ECS registers the new revision in
    /// whichever of the two groups is not production, so the groups swap roles from one
    /// deployment to the next ("Application Load Balancer resources for blue/green, linear, and
    /// canary deployments",
    /// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb-resources-for-blue-green.html>;
    /// `DescribeServiceRevisions` reports which group each revision serves from): an alarm on
    /// one fixed group would watch the new revision only every other deployment. Summed over
    /// both, the alarm sees every answer the ALB got from the service, old and new revision
    /// together, test traffic included, whichever deployment it is.
    TargetGroups,
}

impl ErrorRateReads<'_> {
    /// The metrics (CloudWatch `MetricStat` queries) the alarm references.
    pub fn metric_count(&self) -> usize {
        match self {
            ErrorRateReads::ServiceConnect(m) => m.metric_count(),
            ErrorRateReads::TargetGroups => TARGET_GROUP_METRIC_COUNT,
        }
    }
}

/// The smallest failure rate of a new version that an error-rate alarm with `threshold` catches
/// while `production` of the traffic reaches it, the old version answering no 5xx.
///
/// The alarm sees both revisions at once: the 5xx share is `failure x production`, and it fires
/// when that is greater than the threshold (`GreaterThanThreshold`), so the new version must fail
/// more than `threshold / production` of its requests. The result is rounded *up* to the 0.1 grid,
/// so "more than X%" never claims a failure rate the alarm would miss. `None` when
/// `threshold >= production`: not even a version failing every request is caught.
pub fn detection_floor(threshold: Percent, production: Percent) -> Option<Percent> {
    if production.tenths() == 0 || threshold >= production {
        return None;
    }
    let exact = u64::from(threshold.tenths()) * 1000;
    let floor = exact.div_ceil(u64::from(production.tenths()));
    // threshold < production, so the quotient is under 1000 tenths.
    Some(Percent::from_tenths(floor as u32))
}

/// What a deployment's error-rate alarm catches at each production traffic step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub threshold: Percent,
    pub steps: Vec<StepDetection>,
}

/// One production step: the new version's share after it, and the failure rate of the new version
/// the alarm needs to see at that share ([`detection_floor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepDetection {
    pub production: Percent,
    /// The alarm fires when the new version fails more than this share of its requests; `None`:
    /// it cannot fire at this step.
    pub floor: Option<Percent>,
}

/// The first step cannot catch a version that fails every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectionWarning {
    /// The first step's production share.
    pub step: Percent,
    pub threshold: Percent,
    /// A threshold that would catch such a version there: half the step, on the 0.1 grid; `None`
    /// when the step is 0.1% (no threshold on the grid is below it).
    pub suggested: Option<Percent>,
}

impl Detection {
    /// The detection of `deployment`'s error-rate alarm; `None` for a rolling update (no traffic
    /// steps) or without an `errorRate` alarm.
    pub fn of(deployment: &Deployment) -> Option<Detection> {
        let threshold = deployment
            .alarms
            .as_ref()?
            .error_rate
            .as_ref()?
            .threshold_percent;
        let steps: Vec<StepDetection> = deployment
            .traffic_steps()
            .iter()
            .map(|s| StepDetection {
                production: s.percent,
                floor: detection_floor(threshold, s.percent),
            })
            .collect();
        if steps.is_empty() {
            return None;
        }
        Some(Detection { threshold, steps })
    }

    /// A warning when the first step cannot catch even a version that fails everything.
    pub fn warning(&self) -> Option<DetectionWarning> {
        let first = self.steps.first()?;
        if first.floor.is_some() {
            return None;
        }
        let half = first.production.tenths() / 2;
        Some(DetectionWarning {
            step: first.production,
            threshold: self.threshold,
            suggested: (half > 0).then(|| Percent::from_tenths(half)),
        })
    }
}

impl fmt::Display for StepDetection {
    /// `at 20%: catches a new version failing more than 50% of its requests`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.floor {
            Some(floor) => write!(
                f,
                "at {}%: catches a new version failing more than {floor}% of its requests",
                self.production
            ),
            None => write!(
                f,
                "at {}%: cannot catch even a new version failing every request",
                self.production
            ),
        }
    }
}

impl fmt::Display for DetectionWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the first step ({step}%) cannot catch a new version that fails every request: at most {step}% of all requests fail then, and the alarm needs more than {threshold}%",
            step = self.step,
            threshold = self.threshold
        )?;
        match self.suggested {
            Some(s) => write!(
                f,
                ": set alarms.errorRate.thresholdPercent below {} (e.g. {s})",
                self.step
            ),
            None => write!(f, ": take a larger first step"),
        }
    }
}
