//! How a service behind the ALB gateway rolls out with an ECS-native strategy: the listener rule
//! whose weights ECS moves between the service's two target groups, the rule that carries test
//! traffic, and the role ECS uses to call Elastic Load Balancing
//!
//! What AWS needs is `AWS::ECS::Service LoadBalancers[].AdvancedConfiguration`
//! (`AlternateTargetGroupArn`, `ProductionListenerRule`, `TestListenerRule`, `RoleArn`:
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-ecs-service-advancedconfiguration.html>)
//! and the resources of "Application Load Balancer resources for blue/green, linear, and canary
//! deployments" (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb-resources-for-blue-green.html>):
//! two target groups, a production rule and an optional test rule, each forwarding to both.

use crate::deployment::TestTrafficRule;
use crate::rules::logical_id;
use crate::spec::{AlbGatewaySpec, AlbRuleSpec, ServiceSpec, StackSpec};

/// The role ECS assumes to move listener rule weights (`AdvancedConfiguration.RoleArn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InfrastructureRole {
    /// An existing role, by ARN (`albGateway.infrastructureRoleArn`).
    Arn(String),
    /// A role the stack creates, trusted by `ecs.amazonaws.com`.
    Created,
}

/// How one service behind the ALB gateway shifts traffic: what the renderer turns into the
/// alternate target group, the rules and `AdvancedConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbShift {
    /// Index in `albGateway.rules` of the production rule: the one rule that forwards to this
    /// service alone (the validator refuses any other rule forwarding to it).
    pub production_rule: usize,
    /// The header that sends a request matching the production rule's path to the new
    /// revision from the test stage on: the service's `serviceConnect.testTraffic`, as an ALB
    /// `http-header` condition on a rule evaluated just before the production rule. `None`:
    /// no test rule (ECS then has no test traffic to route for this service).
    pub test_rule: Option<TestTrafficRule>,
    pub role: InfrastructureRole,
}

impl AlbShift {
    /// The shift of `svc`: `None` unless it deploys with a traffic-shifting strategy and the
    /// gateway forwards to it.
    pub fn of(spec: &StackSpec, svc: &ServiceSpec) -> Option<AlbShift> {
        if !svc.deployment.strategy.is_native_shift() {
            return None;
        }
        let gw = spec.alb_gateway.as_ref()?;
        let production_rule = production_rule(gw, &svc.name)?;
        let test_rule = svc
            .service_connect
            .as_ref()
            .and_then(|sc| sc.test_traffic.as_ref())
            .map(|t| TestTrafficRule::of(Some(t)));
        let role = gw
            .infrastructure_role_arn
            .clone()
            .map_or(InfrastructureRole::Created, InfrastructureRole::Arn);
        Some(AlbShift {
            production_rule,
            test_rule,
            role,
        })
    }
}

/// What `svc`'s error-rate alarm reads (here rather than in `alarm`, which would close a module
/// cycle with `alb`): the ALB's target groups when it shifts traffic at the
/// ALB gateway, its callers' Service Connect counts otherwise; `None` for neither (no such
/// alarm).
pub fn error_rate_reads<'a>(
    stack: &'a StackSpec,
    svc: &'a ServiceSpec,
) -> Option<crate::alarm::ErrorRateReads<'a>> {
    if AlbShift::of(stack, svc).is_some() {
        return Some(crate::alarm::ErrorRateReads::TargetGroups);
    }
    crate::alarm::error_rate_metrics(stack, svc).map(crate::alarm::ErrorRateReads::ServiceConnect)
}

/// The ALB `http-header` condition value of a test rule: the exact value, or `*` (ALB's
/// wildcard) for ECS's default header with any value.
pub fn header_condition_value(rule: &TestTrafficRule) -> &str {
    rule.value.as_deref().unwrap_or("*")
}

/// The rules that forward to `service`, with their index in `albGateway.rules`.
pub fn rules_to<'a>(
    gw: &'a AlbGatewaySpec,
    service: &'a str,
) -> impl Iterator<Item = (usize, &'a AlbRuleSpec)> + 'a {
    gw.rules
        .iter()
        .enumerate()
        .filter(move |(_, r)| r.targets.iter().any(|t| t.service == service))
}

/// The first rule that forwards to `service` alone.
pub fn production_rule(gw: &AlbGatewaySpec, service: &str) -> Option<usize> {
    rules_to(gw, service)
        .find(|(_, r)| r.targets.len() == 1)
        .map(|(i, _)| i)
}

/// Logical id of the target group of `service` behind the gateway.
pub fn target_group_id(service: &str) -> String {
    logical_id(&[service, "TargetGroup"])
}

/// Logical id of the alternate target group of a service that shifts traffic at the gateway.
pub fn alternate_target_group_id(service: &str) -> String {
    logical_id(&[service, "AlternateTargetGroup"])
}

/// Logical id of the role ECS assumes to move the gateway's rule weights, when the stack
/// creates it.
pub fn infrastructure_role_id(gw: &AlbGatewaySpec) -> String {
    gateway_id(gw, "InfrastructureRole")
}

/// Logical id of one of the gateway's own resources (`SecurityGroup`, `LoadBalancer`,
/// `Listener`).
pub fn gateway_id(gw: &AlbGatewaySpec, suffix: &str) -> String {
    logical_id(&[&gw.name, suffix])
}

/// Logical id of the listener rule `rule` renders to; `test`: its test rule.
pub fn rule_id(gw: &AlbGatewaySpec, rule: &AlbRuleSpec, test: bool) -> String {
    let kind = if test { "TestRule" } else { "Rule" };
    logical_id(&[&gw.name, &rule.name, kind])
}
