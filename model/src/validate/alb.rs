//! The ALB gateway: its name, listener, AZs, and path rules forwarding to the stack's services

use super::validator::Validator;
use crate::rules;
use crate::spec::*;

impl Validator {
    pub(super) fn alb_gateway(&mut self, g: &AlbGatewaySpec, stack: &StackSpec) {
        let p = "albGateway";
        self.check(format!("{p}.name"), rules::alb_name(&g.name));
        self.check(format!("{p}.listenerPort"), rules::port(g.listener_port));
        let two_azs = match &stack.network {
            NetworkSpec::NewVpc { az_count, .. } => *az_count >= 2,
            NetworkSpec::ExistingVpc { subnet_ids, .. } => subnet_ids.len() >= 2,
        };
        if !two_azs {
            self.err(
                p,
                "an ALB needs subnets in at least two AZs: set network.azCount to 2 or more (or list two subnetIds in different AZs)",
            );
        }
        match g.rules.len() {
            0 => self.err(
                format!("{p}.rules"),
                "an ALB gateway needs at least one rule",
            ),
            n if n > 100 => self.err(
                format!("{p}.rules"),
                format!("an ALB listener takes at most 100 rules, not {n}"),
            ),
            _ => {}
        }
        for (i, r) in g.rules.iter().enumerate() {
            self.alb_rule(&format!("{p}.rules[{i}]"), r, stack);
        }
        self.unique(
            "rule name",
            g.rules
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("{p}.rules[{i}].name"), r.name.as_str())),
        );
        // `/blue` and `/blue/` match the same paths: one of them would never be used.
        for (i, r) in g.rules.iter().enumerate() {
            let same = |other: &AlbRuleSpec| {
                other.path_prefix.trim_end_matches('/') == r.path_prefix.trim_end_matches('/')
            };
            if let Some(j) = g.rules[..i].iter().position(same) {
                self.err(
                    format!("{p}.rules[{i}].pathPrefix"),
                    format!(
                        "path prefix {} matches the same paths as {p}.rules[{j}]",
                        rules::quote(&r.path_prefix)
                    ),
                );
            }
        }
    }

    fn alb_rule(&mut self, p: &str, r: &AlbRuleSpec, stack: &StackSpec) {
        self.check(format!("{p}.name"), rules::ecs_name(&r.name));
        self.check(format!("{p}.name"), rules::logical_id_source(&r.name));
        self.check(
            format!("{p}.pathPrefix"),
            rules::alb_path_prefix(&r.path_prefix),
        );
        let n = r.targets.len();
        if !(1..=5).contains(&n) {
            self.err(
                format!("{p}.targets"),
                format!("a rule forwards to 1-5 services (an ALB forward's limit), not {n}"),
            );
        } else if r.targets.iter().all(|t| t.weight == 0) {
            self.err(
                format!("{p}.targets"),
                "every weight is 0: at least one target needs a positive weight",
            );
        }
        for (k, t) in r.targets.iter().enumerate() {
            let tp = format!("{p}.targets[{k}]");
            if stack.services.iter().all(|s| s.name != t.service) {
                self.err(
                    format!("{tp}.service"),
                    format!("service {} is not in this stack", rules::quote(&t.service)),
                );
            }
            self.check(
                format!("{tp}.weight"),
                rules::range(t.weight, 0, 999, "weight"),
            );
        }
        self.unique(
            "rule target",
            r.targets
                .iter()
                .enumerate()
                .map(|(k, t)| (format!("{p}.targets[{k}].service"), t.service.as_str())),
        );
    }
}
