//! A deployment's alarms: existing alarms by name, and the error-rate alarm the stack creates
//! (its threshold, periods, and the metrics CloudWatch lets it read)

use super::validator::{Validator, percent_range};
use crate::deployment::*;
use crate::rules;
use crate::spec::*;

impl Validator {
    pub(super) fn alarms(&mut self, p: &str, a: &AlarmsSpec, svc: &ServiceSpec, stack: &StackSpec) {
        if a.names.is_empty() && a.error_rate.is_none() {
            self.err(
                p,
                "alarms need names or an errorRate alarm: add one or remove alarms",
            );
        }
        for (k, name) in a.names.iter().enumerate() {
            self.check(format!("{p}.names[{k}]"), rules::alarm_name(name));
        }
        self.unique(
            "alarm name",
            a.names
                .iter()
                .enumerate()
                .map(|(k, n)| (format!("{p}.names[{k}]"), n.as_str())),
        );
        let Some(e) = &a.error_rate else { return };
        let ep = format!("{p}.errorRate");
        // A service that shifts traffic at the ALB gateway is watched on its target groups
        // (`ErrorRateReads::TargetGroups`); any other on its callers' Service Connect counts.
        if crate::alb::error_rate_reads(stack, svc).is_none() {
            self.err(
                ep.as_str(),
                "the errorRate alarm reads the service's Service Connect metrics, or its ALB target groups when it shifts traffic at the ALB gateway: give the service serviceConnect, or list existing alarms in names",
            );
        }
        self.check(
            format!("{ep}.thresholdPercent"),
            percent_range(
                e.threshold_percent,
                Percent::from_tenths(1),
                "thresholdPercent",
            ),
        );
        self.check(
            format!("{ep}.periodSeconds"),
            rules::alarm_period(e.period_seconds),
        );
        if e.evaluation_periods == 0 {
            self.err(
                format!("{ep}.evaluationPeriods"),
                "evaluationPeriods must be at least 1",
            );
        }
        if let Some(d) = e.datapoints_to_alarm {
            self.check(
                format!("{ep}.datapointsToAlarm"),
                rules::range(d, 1, e.evaluation_periods.max(1), "datapointsToAlarm"),
            );
        }
        if rules::alarm_period(e.period_seconds).is_ok()
            && let Err(limit) =
                crate::alarm::evaluation_range_limit(e.period_seconds, e.evaluation_periods)
        {
            let range = u64::from(e.period_seconds) * u64::from(e.evaluation_periods);
            let which = if limit == crate::alarm::MAX_EVALUATION_SECONDS {
                "7 days"
            } else {
                "one day, for periods under an hour"
            };
            self.err(
                format!("{ep}.evaluationPeriods"),
                format!(
                    "{} periods of {} s evaluate {range} s, over CloudWatch's limit of {limit} s ({which}): use fewer evaluation periods",
                    e.evaluation_periods, e.period_seconds
                ),
            );
        }
        self.alarm_metrics(&ep, svc, stack);
    }

    /// The error-rate alarm reads HTTP response counts per caller: Service Connect publishes them
    /// only for an HTTP appProtocol, and CloudWatch lets one alarm reference 10 metrics.
    fn alarm_metrics(&mut self, ep: &str, svc: &ServiceSpec, stack: &StackSpec) {
        // The target groups' alarm reads a fixed 8 metrics, under CloudWatch's 10.
        let Some(crate::alarm::ErrorRateReads::ServiceConnect(metrics)) =
            crate::alb::error_rate_reads(stack, svc)
        else {
            return;
        };
        // A traffic-shifting service without one is refused at port.appProtocol already.
        if svc.port.app_protocol.is_none() && !svc.deployment.strategy.is_native_shift() {
            // ECS PortMapping.appProtocol: "Amazon ECS doesn't add protocol-specific telemetry
            // for TCP".
            self.err(
                ep,
                "the errorRate alarm reads HTTP response counts, which Service Connect publishes only for a port with an appProtocol: set port.appProtocol to http, http2 or grpc, or list existing alarms in names",
            );
        }
        let count = metrics.metric_count();
        if count > crate::alarm::MAX_ALARM_METRICS {
            let callers: Vec<String> = metrics.callers.iter().map(|c| rules::quote(c)).collect();
            self.err(
                ep,
                format!(
                    "the errorRate alarm of {} would read {count} metrics ({} response counts for each of its {} callers {}), over CloudWatch's limit of {} per metric math alarm: let at most {} services call it, or list an existing alarm in names instead",
                    rules::quote(&svc.name),
                    crate::alarm::ERROR_RATE_METRIC_NAMES.len(),
                    metrics.callers.len(),
                    callers.join(", "),
                    crate::alarm::MAX_ALARM_METRICS,
                    crate::alarm::MAX_ALARM_METRICS / crate::alarm::ERROR_RATE_METRIC_NAMES.len(),
                ),
            );
        }
    }
}
