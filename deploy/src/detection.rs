//! What each traffic-shifting service's error-rate alarm can catch at each production step: the
//! lines `synth`, `diff` and `deploy` show before anything is deployed (issue 16)
//!
//! On AWS the alarm reads the 5xx share of *all* the service's answers as its callers see them:
//! no Service Connect dimension tells the old revision from the new one. At a 20% step a new
//! version failing half its requests makes about 10% of all requests fail, which a 10% threshold
//! ("greater than") lets through. The figures come from the model's typed view
//! ([`model::Deployment::detection`]); this module only words them.

use model::Stack;

use crate::report::Reporter;

/// The lines for every service of `stack` whose deployment shifts traffic under an error-rate
/// alarm: a heading, one line per step, and a warning when the first step cannot catch a version
/// that fails every request. Empty when no service has such an alarm.
pub fn lines(stack: &Stack) -> Vec<String> {
    let mut lines = Vec::new();
    for svc in &stack.spec().services {
        let Some(detection) = stack.deployment(svc).detection() else {
            continue;
        };
        lines.push(format!(
            "{}: its error-rate alarm fires when more than {}% of all its answers are 5xx, old and new version together (as on AWS):",
            svc.name, detection.threshold
        ));
        lines.extend(detection.steps.iter().map(|step| format!("  {step}")));
        if let Some(warning) = detection.warning() {
            lines.push(format!("warning: {}: {warning}", svc.name));
        }
    }
    lines
}

/// Writes [`lines`] as notes (stderr on a terminal, so a template or JSON on stdout stays clean).
pub fn report(stack: &Stack, out: &dyn Reporter) {
    for line in lines(stack) {
        out.note(line);
    }
}

#[cfg(test)]
mod tests {
    use model::examples::{self, RolloutInputs};
    use model::{Percent, StrategyKind};

    use super::*;

    /// The lines for the `rollout` app deployed with `strategy`, its alarm's threshold changed
    /// to `threshold` when given.
    fn check(strategy: StrategyKind, threshold: Option<Percent>, expected: &[&str]) {
        let inputs = RolloutInputs {
            strategy,
            ..RolloutInputs::default()
        };
        let mut spec = examples::rollout("rollout", &inputs);
        let alarms = spec
            .services
            .iter_mut()
            .filter_map(|svc| svc.deployment.alarms.as_mut()?.error_rate.as_mut());
        for alarm in alarms {
            if let Some(t) = threshold {
                alarm.threshold_percent = t;
            }
        }
        let stack = Stack::new(spec).expect("valid rollout model");
        assert_eq!(lines(&stack), expected);
    }

    #[test]
    fn each_step_says_what_the_alarm_catches() {
        check(
            StrategyKind::Linear,
            None,
            &[
                "web: its error-rate alarm fires when more than 10% of all its answers are 5xx, old and new version together (as on AWS):",
                "  at 20%: catches a new version failing more than 50% of its requests",
                "  at 40%: catches a new version failing more than 25% of its requests",
                "  at 60%: catches a new version failing more than 16.7% of its requests",
                "  at 80%: catches a new version failing more than 12.5% of its requests",
                "  at 100%: catches a new version failing more than 10% of its requests",
            ],
        );
        check(
            StrategyKind::BlueGreen,
            None,
            &[
                "web: its error-rate alarm fires when more than 10% of all its answers are 5xx, old and new version together (as on AWS):",
                "  at 100%: catches a new version failing more than 10% of its requests",
            ],
        );
    }

    #[test]
    fn a_first_step_that_cannot_catch_a_failing_version_is_a_warning() {
        check(
            StrategyKind::Canary,
            None,
            &[
                "web: its error-rate alarm fires when more than 10% of all its answers are 5xx, old and new version together (as on AWS):",
                "  at 10%: cannot catch even a new version failing every request",
                "  at 100%: catches a new version failing more than 10% of its requests",
                "warning: web: the first step (10%) cannot catch a new version that fails every request: at most 10% of all requests fail then, and the alarm needs more than 10%: set alarms.errorRate.thresholdPercent below 10 (e.g. 5)",
            ],
        );
        check(
            StrategyKind::Linear,
            Some(Percent::whole(20)),
            &[
                "web: its error-rate alarm fires when more than 20% of all its answers are 5xx, old and new version together (as on AWS):",
                "  at 20%: cannot catch even a new version failing every request",
                "  at 40%: catches a new version failing more than 50% of its requests",
                "  at 60%: catches a new version failing more than 33.4% of its requests",
                "  at 80%: catches a new version failing more than 25% of its requests",
                "  at 100%: catches a new version failing more than 20% of its requests",
                "warning: web: the first step (20%) cannot catch a new version that fails every request: at most 20% of all requests fail then, and the alarm needs more than 20%: set alarms.errorRate.thresholdPercent below 20 (e.g. 10)",
            ],
        );
    }

    #[test]
    fn a_stack_without_alarms_says_nothing() {
        let stack = Stack::new(examples::gateway("gateway")).unwrap();
        assert!(lines(&stack).is_empty());
    }
}
