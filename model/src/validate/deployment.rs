//! How a service deploys: the strategy and the controller it needs, the path its traffic
//! shifts on, the linear and canary configurations and CloudFormation's time limits (the
//! alarms and hooks have their own modules)

use super::validator::{Validator, percent_range};
use crate::deployment::*;
use crate::rules;
use crate::spec::*;

impl Validator {
    /// `services[i].deployment` (`sp` is the service's path): the strategy and its
    /// configuration, alarms and hooks.
    pub(super) fn deployment(&mut self, sp: &str, svc: &ServiceSpec, stack: &StackSpec) {
        let p = &format!("{sp}.deployment");
        let d = &svc.deployment;
        let kind = d.strategy;
        if kind.is_native_shift() && d.controller != DeploymentController::Ecs {
            self.err(
                format!("{p}.controller"),
                format!(
                    "strategy {} needs controller ECS, not {}",
                    kind.as_str(),
                    d.controller.as_str()
                ),
            );
        }
        if kind.is_native_shift() {
            self.traffic_path(sp, svc, stack);
        }
        let config_ok = self.strategy_config(p, d);
        let bakes_ok = config_ok && self.strategy_duration(p, d);
        if let Some(alarms) = &d.alarms {
            self.alarms(&format!("{p}.alarms"), alarms, svc, stack);
        }
        if !d.lifecycle_hooks.is_empty() && !kind.is_native_shift() {
            self.err(
                format!("{p}.lifecycleHooks"),
                format!(
                    "lifecycle hooks need a BLUE_GREEN, LINEAR or CANARY strategy, not {}",
                    kind.as_str()
                ),
            );
        }
        let errors = self.errors.len();
        for (k, hook) in d.lifecycle_hooks.iter().enumerate() {
            self.hook(&format!("{p}.lifecycleHooks[{k}]"), hook);
        }
        // An out-of-range bake or timeout is reported once, where it is.
        if bakes_ok && self.errors.len() == errors && kind.is_native_shift() {
            self.hook_waits(p, d);
        }
    }

    /// A traffic-shifting strategy moves traffic in the callers' Service Connect proxies, per
    /// request only on an HTTP port, or at the ALB gateway for a service it forwards to (whose
    /// rules `validate/alb.rs` checks).
    fn traffic_path(&mut self, sp: &str, svc: &ServiceSpec, stack: &StackSpec) {
        let p = &format!("{sp}.deployment");
        let strategy = svc.deployment.strategy.as_str();
        if svc.service_connect.is_some() && svc.port.app_protocol.is_none() {
            // Without an HTTP appProtocol Service Connect proxies TCP and balances connections,
            // not requests (aws/containers-roadmap#2343; ECS PortMapping.appProtocol: "If you
            // don't set a value for this parameter, then TCP is used").
            self.err(
                format!("{sp}.port.appProtocol"),
                format!(
                    "strategy {strategy} shifts a share of requests, but without an appProtocol Service Connect balances connections, not requests, so step percentages and test traffic headers would not hold: set appProtocol to http, http2 or grpc, or deploy ROLLING"
                ),
            );
        }
        let behind_alb = stack
            .alb_gateway
            .as_ref()
            .is_some_and(|g| crate::alb::rules_to(g, &svc.name).next().is_some());
        if svc.service_connect.is_none() && !behind_alb {
            let why = if svc.app_mesh.is_some() {
                ", not an App Mesh sidecar: move the service to serviceConnect"
            } else {
                ": give the service serviceConnect, or forward an albGateway rule to it"
            };
            self.err(
                format!("{p}.strategy"),
                format!(
                    "strategy {strategy} shifts traffic through Service Connect or the ALB gateway{why}"
                ),
            );
        }
    }

    /// The linear and canary configurations and the bake times; false when a value is out of
    /// range (the duration check would only repeat it).
    fn strategy_config(&mut self, p: &str, d: &DeploymentSpec) -> bool {
        let errors = self.errors.len();
        if let Some(m) = d.bake_time_minutes {
            self.check(
                format!("{p}.bakeTimeMinutes"),
                rules::range(m, 0, 1440, "bakeTimeMinutes"),
            );
        }
        if let Some(l) = &d.linear {
            if d.strategy != StrategyKind::Linear {
                self.err(
                    format!("{p}.linear"),
                    format!(
                        "a linear configuration needs strategy LINEAR, not {}",
                        d.strategy.as_str()
                    ),
                );
            }
            self.check(
                format!("{p}.linear.stepPercent"),
                percent_range(l.step_percent, Percent::whole(3), "stepPercent"),
            );
            self.check(
                format!("{p}.linear.stepBakeTimeMinutes"),
                rules::range(l.step_bake_time_minutes, 0, 1440, "stepBakeTimeMinutes"),
            );
        }
        if let Some(c) = &d.canary {
            if d.strategy != StrategyKind::Canary {
                self.err(
                    format!("{p}.canary"),
                    format!(
                        "a canary configuration needs strategy CANARY, not {}",
                        d.strategy.as_str()
                    ),
                );
            }
            self.check(
                format!("{p}.canary.canaryPercent"),
                percent_range(c.canary_percent, Percent::from_tenths(1), "canaryPercent"),
            );
            self.check(
                format!("{p}.canary.canaryBakeTimeMinutes"),
                rules::range(c.canary_bake_time_minutes, 0, 1440, "canaryBakeTimeMinutes"),
            );
        }
        self.errors.len() == errors
    }

    /// CloudFormation's 33-hour rule (SPEC §10); false when the bakes break it.
    fn strategy_duration(&mut self, p: &str, d: &DeploymentSpec) -> bool {
        let deployment = Deployment::new(d, None);
        let total = deployment.total_minutes();
        if total <= MAX_STRATEGY_MINUTES {
            return true;
        }
        let bake = deployment.bake_minutes.unwrap_or(0);
        let detail = match deployment.strategy {
            Strategy::Linear {
                step_bake_minutes, ..
            } => {
                let steps = deployment.traffic_steps().len() - 1;
                format!("bake {bake} + {steps} steps x {step_bake_minutes}")
            }
            Strategy::Canary { bake_minutes, .. } => {
                format!("bake {bake} + canary bake {bake_minutes}")
            }
            Strategy::Rolling | Strategy::BlueGreen => format!("bake {bake}"),
        };
        self.err(
            p,
            format!(
                "the strategy takes {total} minutes ({detail}), over CloudFormation's 33-hour limit of {MAX_STRATEGY_MINUTES}: shorten the bakes or take larger steps"
            ),
        );
        false
    }

    /// CloudFormation's 36-hour operation limit on the bakes plus every hook waiting out its
    /// timeout each time it runs: a deployment that can outlast it fails the stack update.
    fn hook_waits(&mut self, p: &str, d: &DeploymentSpec) {
        let worst = Deployment::new(d, None).worst_case();
        let total = worst.total_minutes();
        if worst.hooks.is_empty() || total <= MAX_OPERATION_MINUTES {
            return;
        }
        let hooks: Vec<String> = worst.hooks.iter().map(ToString::to_string).collect();
        self.err(
            format!("{p}.lifecycleHooks"),
            format!(
                "the deployment can take {total} minutes (bakes {} + {}), over CloudFormation's 36-hour operation limit of {MAX_OPERATION_MINUTES}: set lifecycleHooks[k].timeout.minutes, use fewer hook stages, or shorten the bakes",
                worst.bake_minutes,
                hooks.join(" + ")
            ),
        );
    }
}
