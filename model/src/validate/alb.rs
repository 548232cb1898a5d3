//! The ALB gateway: its name, listener, AZs, and path rules forwarding to the stack's services

use std::collections::BTreeMap;

use super::validator::Validator;
use crate::alb::{
    AlbShift, InfrastructureRole, alternate_target_group_id, gateway_id, infrastructure_role_id,
    rule_id, rules_to, target_group_id,
};
use crate::rules;
use crate::spec::*;

/// Rules per Application Load Balancer, not counting the listener's default rule ("Quotas for
/// your Application Load Balancers": Rules per load balancer, 100,
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html>).
/// A test rule is a rule too. The page's per-rule quotas (5 condition values, 5 wildcards, 5
/// target groups per action) always hold here: a rule has a path condition of at most two
/// values and one wildcard, a test rule adds one header value, and a forward names at most 5
/// services (checked) or a service's two target groups.
const MAX_RULES: usize = 100;
/// ALB's `HttpHeaderConfig`: a header name of at most 40 characters, values of at most 128,
/// where `*` and `?` are wildcards
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_HttpHeaderConditionConfig.html>).
const MAX_HEADER_NAME: usize = 40;
/// Target groups per Application Load Balancer, not adjustable (same quotas page: "Target
/// Groups per Application Load Balancer", 100): one per service behind the gateway, two for a
/// service that shifts traffic there.
const MAX_TARGET_GROUPS: usize = 100;

/// A logical id the renderer derives from a model name, with the field the name is in and
/// what the resource is, so a collision names both.
struct Derived {
    id: String,
    path: String,
    name: String,
    what: String,
}

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
        if let Some(arn) = &g.infrastructure_role_arn {
            self.check(
                format!("{p}.infrastructureRoleArn"),
                rules::iam_role_arn(arn),
            );
        }
        let test_rules = stack
            .services
            .iter()
            .filter_map(|svc| AlbShift::of(stack, svc))
            .filter(|shift| shift.test_rule.is_some())
            .count();
        match (g.rules.len(), test_rules) {
            (0, _) => self.err(
                format!("{p}.rules"),
                "an ALB gateway needs at least one rule",
            ),
            (n, 0) if n > MAX_RULES => self.err(
                format!("{p}.rules"),
                format!("an ALB listener takes at most {MAX_RULES} rules, not {n}"),
            ),
            (n, t) if n + t > MAX_RULES => self.err(
                format!("{p}.rules"),
                format!(
                    "an ALB listener takes at most {MAX_RULES} rules, not {n} plus {t} test rules of services that shift traffic: use fewer rules, or drop a service's serviceConnect.testTraffic"
                ),
            ),
            _ => {}
        }
        for (i, r) in g.rules.iter().enumerate() {
            self.alb_rule(&format!("{p}.rules[{i}]"), r, stack);
        }
        self.alb_target_groups(g, stack);
        self.alb_logical_ids(g, stack);
        for (j, svc) in stack.services.iter().enumerate() {
            if svc.deployment.strategy.is_native_shift() {
                self.alb_shift(&format!("services[{j}]"), svc, g);
            }
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

    /// The services behind the gateway and their alternate target groups fit one load balancer.
    fn alb_target_groups(&mut self, g: &AlbGatewaySpec, stack: &StackSpec) {
        let behind: Vec<&ServiceSpec> = stack
            .services
            .iter()
            .filter(|svc| rules_to(g, &svc.name).next().is_some())
            .collect();
        let shifting = behind
            .iter()
            .filter(|svc| AlbShift::of(stack, svc).is_some())
            .count();
        let groups = behind.len() + shifting;
        if groups > MAX_TARGET_GROUPS {
            self.err(
                "albGateway.rules",
                format!(
                    "the services behind the gateway need {groups} target groups ({} services, {shifting} of them with an alternate target group to shift traffic), and an Application Load Balancer takes at most {MAX_TARGET_GROUPS}: put fewer services behind the gateway, or deploy some of them ROLLING",
                    behind.len()
                ),
            );
        }
    }

    /// The logical ids the renderer derives from the gateway's names are distinct: a service
    /// `blue-alternate` next to a shifting `blue` would make `BlueAlternateTargetGroup` twice,
    /// a rule `blue-test` next to `blue`'s test rule `GatewayBlueTestRule` twice, and `my-svc`
    /// next to `my_svc` every id once each. Reported at the second name, naming the first; a
    /// name used twice is its own error (duplicate service or rule name).
    fn alb_logical_ids(&mut self, g: &AlbGatewaySpec, stack: &StackSpec) {
        let mut derived = Vec::new();
        let gw = || ("albGateway.name".to_owned(), g.name.clone());
        for suffix in ["SecurityGroup", "LoadBalancer", "Listener"] {
            let (path, name) = gw();
            derived.push(Derived {
                id: gateway_id(g, suffix),
                path,
                name,
                what: "a resource of the gateway".into(),
            });
        }
        let mut role_created = false;
        let mut tests = BTreeMap::new();
        for (j, svc) in stack.services.iter().enumerate() {
            if rules_to(g, &svc.name).next().is_none() {
                continue;
            }
            let path = format!("services[{j}].name");
            let name = rules::quote(&svc.name);
            derived.push(Derived {
                id: target_group_id(&svc.name),
                path: path.clone(),
                name: svc.name.clone(),
                what: format!("the target group of {name}"),
            });
            let Some(shift) = AlbShift::of(stack, svc) else {
                continue;
            };
            derived.push(Derived {
                id: alternate_target_group_id(&svc.name),
                path,
                name: svc.name.clone(),
                what: format!(
                    "the alternate target group of {name}, which deploys {}",
                    svc.deployment.strategy.as_str()
                ),
            });
            role_created |= shift.role == InfrastructureRole::Created;
            if shift.test_rule.is_some() {
                tests.insert(shift.production_rule, svc.name.clone());
            }
        }
        if role_created {
            let (path, name) = gw();
            derived.push(Derived {
                id: infrastructure_role_id(g),
                path,
                name,
                what: "the gateway's infrastructure role".into(),
            });
        }
        for (i, r) in g.rules.iter().enumerate() {
            let path = format!("albGateway.rules[{i}].name");
            let rule = rules::quote(&r.name);
            derived.push(Derived {
                id: rule_id(g, r, false),
                path: path.clone(),
                name: r.name.clone(),
                what: format!("the listener rule of {rule}"),
            });
            if let Some(service) = tests.get(&i) {
                derived.push(Derived {
                    id: rule_id(g, r, true),
                    path,
                    name: r.name.clone(),
                    what: format!(
                        "the test listener rule of {rule}, for {}'s test traffic",
                        rules::quote(service)
                    ),
                });
            }
        }
        let mut first: BTreeMap<&str, &Derived> = BTreeMap::new();
        for d in &derived {
            match first.get(d.id.as_str()) {
                // The same name twice is reported as a duplicate name.
                Some(earlier) if earlier.name == d.name => {}
                Some(earlier) => self.err(
                    d.path.clone(),
                    format!(
                        "{} and {} ({}) would both be the CloudFormation logical id `{}` ({} and {}): rename one of them",
                        rules::quote(&d.name),
                        rules::quote(&earlier.name),
                        earlier.path,
                        d.id,
                        d.what,
                        earlier.what
                    ),
                ),
                None => {
                    first.insert(&d.id, d);
                }
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

    /// A service behind the gateway that deploys BLUE_GREEN, LINEAR or CANARY (`sp` is its
    /// path): ECS moves one production rule's weights between the service's two target groups
    /// (`AdvancedConfiguration.ProductionListenerRule` names one rule), so that rule must
    /// forward to this service alone, and no other rule may forward to it. A weighted forward
    /// across services (the `gateway` app's `/split`) would keep sending this service's share
    /// to the target group ECS drains, whose tasks are gone after the deployment.
    fn alb_shift(&mut self, sp: &str, svc: &ServiceSpec, g: &AlbGatewaySpec) {
        let strategy = svc.deployment.strategy.as_str();
        let name = rules::quote(&svc.name);
        let mut production: Option<usize> = None;
        for (i, r) in rules_to(g, &svc.name) {
            if r.targets.len() > 1 {
                self.err(
                    format!("albGateway.rules[{i}].targets"),
                    format!(
                        "rule {} forwards to several services with weights, but {name} ({sp}) deploys {strategy}: ECS shifts a service between its two target groups on its production rule only, so this rule would keep sending {name}'s share to the target group ECS drains; forward this rule to one service, or deploy {name} ROLLING",
                        rules::quote(&r.name)
                    ),
                );
            } else if let Some(first) = production {
                self.err(
                    format!("albGateway.rules[{i}]"),
                    format!(
                        "{name} ({sp}) deploys {strategy} and already has its production rule albGateway.rules[{first}]: ECS shifts one production listener rule per service (AdvancedConfiguration.ProductionListenerRule), and this rule's weights would stay on the old target group; forward one rule to {name}"
                    ),
                );
            } else {
                production = Some(i);
            }
        }
        let Some(test) = svc
            .service_connect
            .as_ref()
            .and_then(|sc| sc.test_traffic.as_ref())
        else {
            return;
        };
        if production.is_none() {
            return;
        }
        let tp = format!("{sp}.serviceConnect.testTraffic");
        if test.header.len() > MAX_HEADER_NAME {
            self.err(
                format!("{tp}.header"),
                format!(
                    "the test rule of a service behind the ALB matches this header, and an ALB header condition takes a name of at most {MAX_HEADER_NAME} characters, not {}: use a shorter header",
                    test.header.len()
                ),
            );
        }
        // Its length (at most 128, as ALB's) is checked with the Service Connect rule.
        if test.value.contains(['*', '?']) {
            self.err(
                format!("{tp}.value"),
                "the test rule of a service behind the ALB matches this value, and in an ALB header condition `*` and `?` are wildcards: use a value without them",
            );
        }
    }
}
