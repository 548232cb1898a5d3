//! The ALB gateway (the App Mesh virtual gateway's successor): an internet-facing Application Load
//! Balancer whose listener rules route path prefixes to services, weighted, with prefix rewrite
//!
//! Only `AllowedCidr` reaches the listener port, and the load balancer reaches the tasks only on
//! the ports of the services it forwards to. Rules are evaluated longest prefix first, whatever
//! their order in the model, so `/split` never falls into `/`; no match answers a fixed 404.
//!
//! A service that deploys BLUE_GREEN, LINEAR or CANARY behind the gateway gets a second
//! (alternate) target group; its production rule, and its test rule when it has a test traffic
//! rule, forward to both, all weight on the primary, as "Application Load Balancer resources for
//! blue/green, linear, and canary deployments" sets them up before the first deployment
//! (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb-resources-for-blue-green.html>).
//! ECS then owns those weights: they are the same in every render of the stack whatever the
//! version or strategy, so a stack update never sends this rule to Elastic Load Balancing again
//! unless the rule itself changes (README "What CloudFormation does with the weights ECS moves").

use std::collections::{BTreeMap, BTreeSet};

use model::alb::header_condition_value;
use model::{
    AccessLogsSpec, AlbGatewaySpec, AlbRuleSpec, InfrastructureRole, Stack, TestTrafficRule,
};

use crate::network::{self, NetRefs, TASK_SECURITY_GROUP};
use crate::template::{Expr, Resource, Template, obj, props, strs};
use crate::{ALLOWED_CIDR_PARAMETER, RenderError, checkov};

/// Seconds the load balancer lets in-flight requests finish on a deregistering task: short, so a
/// deployment is not held up by the 300 s default; the demo's requests take milliseconds.
pub const DEREGISTRATION_DELAY_SECONDS: u32 = 5;
/// Seconds ECS ignores failing load balancer health checks of a new task.
pub const HEALTH_CHECK_GRACE_PERIOD_SECONDS: u32 = 30;

/// The weight of the primary target group in a shifting service's rules before its first
/// deployment (the alternate's is 0); ECS moves them from then on.
pub const PRIMARY_WEIGHT: u32 = 100;

/// What the ECS service behind the gateway needs: its target group and the rules forwarding to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub target_group: String,
    /// Listener rules that forward to the target group; ECS refuses a target group that is not
    /// attached to a load balancer yet, so the service waits for them (`DependsOn`). Empty for
    /// a shifting service, whose `AdvancedConfiguration` refers to its only rules.
    pub rules: BTreeSet<String>,
    /// For a service that shifts traffic at the gateway: `AdvancedConfiguration`'s parts.
    pub shift: Option<Shift>,
}

/// `LoadBalancers[].AdvancedConfiguration` of a service that shifts traffic at the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Shift {
    pub alternate_target_group: String,
    pub production_rule: String,
    pub test_rule: Option<String>,
    /// The infrastructure role's ARN: the created role's `Fn::GetAtt`, or the model's ARN.
    pub role: Expr,
}

impl Shift {
    /// `AdvancedConfiguration` as `AWS::ECS::Service` takes it
    /// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-ecs-service-advancedconfiguration.html>):
    /// a listener rule's `Ref` is its ARN.
    pub fn advanced_configuration(&self) -> Expr {
        let mut p = props([
            (
                "AlternateTargetGroupArn",
                Expr::r#ref(&self.alternate_target_group),
            ),
            ("ProductionListenerRule", Expr::r#ref(&self.production_rule)),
            ("RoleArn", self.role.clone()),
        ]);
        if let Some(test) = &self.test_rule {
            p.insert("TestListenerRule".into(), Expr::r#ref(test));
        }
        Expr::Map(p)
    }
}

/// The gateway's attachments, by service name (empty without a gateway).
pub type Attachments = BTreeMap<String, Attachment>;

// The ids the model derives, so its validator can refuse two names that make one id.
pub use model::alb::{
    alternate_target_group_id, gateway_id, infrastructure_role_id, rule_id, target_group_id,
};

/// `path-pattern` values for a prefix: `/blue` matches `/blue` and `/blue/...`; `/` everything.
pub fn path_patterns(prefix: &str) -> Vec<String> {
    let base = prefix.trim_end_matches('/');
    if base.is_empty() {
        vec!["/*".to_owned()]
    } else {
        vec![base.to_owned(), format!("{base}/*")]
    }
}

/// The url-rewrite of a prefix to `/`: `/split` -> `/`, `/split/x?q` -> `/x?q`.
pub fn prefix_rewrite(prefix: &str) -> (String, String) {
    let base = prefix.trim_end_matches('/');
    let escaped: String = base
        .chars()
        .flat_map(|c| {
            let special = r"\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect();
    (format!("^{escaped}/?(.*)$"), "/$1".to_owned())
}

pub fn render(
    t: &mut Template,
    stack: &Stack,
    gw: &AlbGatewaySpec,
    net: &NetRefs,
) -> Result<Attachments, RenderError> {
    let id = |suffix: &str| gateway_id(gw, suffix);
    let targets: BTreeSet<&str> = gw
        .rules
        .iter()
        .flat_map(|r| r.targets.iter().map(|t| t.service.as_str()))
        .collect();
    let ports: BTreeSet<u32> = targets.iter().map(|s| service_port(stack, s)).collect();
    let sg = id("SecurityGroup");
    security_groups(t, stack, gw, net, &sg, &ports)?;
    // The services that shift traffic here, by the index of their production rule.
    let mut shifting: BTreeMap<usize, (&str, Option<TestTrafficRule>)> = BTreeMap::new();
    // One role for the gateway: every shift has the same (`albGateway.infrastructureRoleArn`).
    let mut role_kind = None;
    for service in &targets {
        let port = service_port(stack, service);
        target_group(t, net, &target_group_id(service), port)?;
        let svc = stack
            .service(service)
            .unwrap_or_else(|| unreachable!("validated: rule targets name services"));
        if let Some(shift) = stack.alb_shift(svc) {
            target_group(t, net, &alternate_target_group_id(service), port)?;
            shifting.insert(shift.production_rule, (service, shift.test_rule));
            role_kind = Some(shift.role);
        }
    }
    let role = match role_kind {
        None => None,
        Some(InfrastructureRole::Arn(arn)) => Some(Expr::from(arn.as_str())),
        Some(InfrastructureRole::Created) => {
            let role = infrastructure_role_id(gw);
            t.add(&role, infrastructure_role(stack, gw))?;
            Some(Expr::get_att(&role, "Arn"))
        }
    };
    let (lb, listener) = load_balancer(t, gw, net, &sg)?;
    let mut attachments = Attachments::new();
    for (i, entry) in evaluation_order(gw, &shifting).into_iter().enumerate() {
        let priority = u32::try_from(i + 1).unwrap_or_else(|_| unreachable!("few rules"));
        let rule_id = rule_id(gw, entry.rule, entry.test.is_some());
        let shift_of = shifting.get(&entry.index).map(|(service, _)| *service);
        listener_rule(t, &rule_id, &listener, &entry, shift_of, priority)?;
        if entry.test.is_some() {
            continue;
        }
        for target in &entry.rule.targets {
            attachments
                .entry(target.service.clone())
                .or_insert_with(|| Attachment {
                    target_group: target_group_id(&target.service),
                    rules: BTreeSet::new(),
                    shift: None,
                })
                .rules
                .insert(rule_id.clone());
        }
    }
    for (index, (service, test)) in &shifting {
        let rule = &gw.rules[*index];
        let test_rule = test.as_ref().map(|_| rule_id(gw, rule, true));
        let attachment = attachments
            .get_mut(*service)
            .unwrap_or_else(|| unreachable!("a production rule forwards to its service"));
        // `AdvancedConfiguration` refers to its rules, which orders the service after them.
        attachment.rules.clear();
        attachment.shift = Some(Shift {
            alternate_target_group: alternate_target_group_id(service),
            production_rule: rule_id(gw, rule, false),
            test_rule,
            role: role
                .clone()
                .unwrap_or_else(|| unreachable!("a role when a service shifts")),
        });
    }
    gateway_outputs(t, &lb, gw.listener_port);
    Ok(attachments)
}

/// One listener rule to render: a model rule, or the test rule in front of a production rule.
struct RuleEntry<'a> {
    index: usize,
    rule: &'a AlbRuleSpec,
    /// The header condition of a test rule; `None` for the model's own rule.
    test: Option<&'a TestTrafficRule>,
}

/// Every rule in evaluation order: longest prefix first; for one prefix a test rule before its
/// production rule (a request with the test header must reach it first); then by name, so
/// priorities are a pure function of the model.
fn evaluation_order<'a>(
    gw: &'a AlbGatewaySpec,
    shifting: &'a BTreeMap<usize, (&'a str, Option<TestTrafficRule>)>,
) -> Vec<RuleEntry<'a>> {
    let mut entries: Vec<RuleEntry<'a>> = Vec::new();
    for (index, rule) in gw.rules.iter().enumerate() {
        if let Some((_, Some(test))) = shifting.get(&index) {
            entries.push(RuleEntry {
                index,
                rule,
                test: Some(test),
            });
        }
        entries.push(RuleEntry {
            index,
            rule,
            test: None,
        });
    }
    entries.sort_by(|a, b| {
        b.rule
            .path_prefix
            .len()
            .cmp(&a.rule.path_prefix.len())
            .then_with(|| b.test.is_some().cmp(&a.test.is_some()))
            .then_with(|| a.rule.name.cmp(&b.rule.name))
    });
    entries
}

/// The role ECS assumes to move the gateway's rule weights and register tasks in the target
/// groups: trusted by `ecs.amazonaws.com`, with AWS's managed policy for it, as "Amazon ECS
/// infrastructure IAM role for load balancers" creates it
/// (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/AmazonECSInfrastructureRolePolicyForLoadBalancers.html>).
/// The managed policy, rather than a copy of its actions scoped to this load balancer, because
/// AWS edits it as ECS needs new calls (v6 by February 2026) and a stale copy would fail a
/// deployment halfway; its writes are limited to target groups and listener rules.
fn infrastructure_role(stack: &Stack, gw: &AlbGatewaySpec) -> Resource {
    Resource::new(
        "AWS::IAM::Role",
        props([
            (
                "AssumeRolePolicyDocument",
                obj([
                    ("Version", "2012-10-17".into()),
                    (
                        "Statement",
                        Expr::List(vec![obj([
                            ("Effect", "Allow".into()),
                            ("Principal", obj([("Service", "ecs.amazonaws.com".into())])),
                            ("Action", "sts:AssumeRole".into()),
                        ])]),
                    ),
                ]),
            ),
            (
                "Description",
                format!(
                    "meshtest {}: lets ECS shift traffic between target groups of the {} load balancer",
                    stack.name(),
                    gw.name
                )
                .into(),
            ),
            (
                "ManagedPolicyArns",
                Expr::List(vec![Expr::sub(
                    "arn:${AWS::Partition}:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers",
                )]),
            ),
        ]),
    )
}

/// The gateway's outputs, for either gateway: its load balancer's DNS name and its URL, with
/// the listener's port unless it is 80.
pub(crate) fn gateway_outputs(t: &mut Template, lb: &str, port: u32) {
    let port = if port == 80 {
        String::new()
    } else {
        format!(":{port}")
    };
    t.add_output(
        "GatewayLoadBalancerDnsName",
        "DNS name of the gateway's load balancer",
        Expr::get_att(lb, "DNSName"),
    );
    t.add_output(
        "GatewayUrl",
        "URL of the gateway",
        Expr::sub(format!("http://${{{lb}.DNSName}}{port}")),
    );
}

/// The internet-facing load balancer in the public subnets and its HTTP listener, which answers
/// 404 to anything no rule matches; returns their logical ids.
fn load_balancer(
    t: &mut Template,
    gw: &AlbGatewaySpec,
    net: &NetRefs,
    sg: &str,
) -> Result<(String, String), RenderError> {
    let id = |suffix: &str| gateway_id(gw, suffix);
    let lb = id("LoadBalancer");
    let resource = internet_facing_load_balancer(
        LoadBalancerKind::Application,
        net,
        sg,
        (gw.access_logs.as_ref(), "albGateway.accessLogs"),
    );
    t.add(&lb, resource)?;
    let listener = id("Listener");
    let mut resource = Resource::new(
        "AWS::ElasticLoadBalancingV2::Listener",
        props([
            ("LoadBalancerArn", Expr::r#ref(&lb)),
            ("Port", gw.listener_port.into()),
            ("Protocol", "HTTP".into()),
            (
                "DefaultActions",
                Expr::List(vec![obj([
                    ("Type", "fixed-response".into()),
                    (
                        "FixedResponseConfig",
                        obj([
                            ("StatusCode", "404".into()),
                            ("ContentType", "text/plain".into()),
                            ("MessageBody", "no route".into()),
                        ]),
                    ),
                ])]),
            ),
        ]),
    );
    checkov::skip(
        &mut resource,
        &[
            (checkov::LISTENER_HTTPS, checkov::HTTP_LISTENER_REASON),
            (checkov::LISTENER_TLS, checkov::HTTP_LISTENER_REASON),
        ],
    );
    t.add(&listener, resource)?;
    Ok((lb, listener))
}

/// The two kinds of load balancer a gateway can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadBalancerKind {
    Application,
    Network,
}

/// An internet-facing load balancer in the public subnets behind security group `sg`, writing
/// access logs where `access_logs` says, or carrying the checkov skip that names the model field.
pub fn internet_facing_load_balancer(
    kind: LoadBalancerKind,
    net: &NetRefs,
    sg: &str,
    access_logs: (Option<&AccessLogsSpec>, &str),
) -> Resource {
    let mut properties = props([
        ("Scheme", "internet-facing".into()),
        ("Subnets", Expr::List(net.public_subnets.clone())),
        (
            "SecurityGroups",
            Expr::List(vec![Expr::get_att(sg, "GroupId")]),
        ),
    ]);
    let type_name = match kind {
        LoadBalancerKind::Application => {
            // A request with a header name that is not a valid HTTP token is dropped, not
            // forwarded: no service here needs such headers, and some parse them differently.
            properties.insert(
                "LoadBalancerAttributes".into(),
                Expr::List(vec![checkov::attribute(
                    "routing.http.drop_invalid_header_fields.enabled",
                    "true",
                )]),
            );
            "application"
        }
        LoadBalancerKind::Network => "network",
    };
    properties.insert("Type".into(), type_name.into());
    let mut resource = Resource::new("AWS::ElasticLoadBalancingV2::LoadBalancer", properties)
        // An internet-facing load balancer needs its subnets' internet route.
        .depends_on(
            net.egress_routes
                .iter()
                .filter(|r| r.starts_with("Public"))
                .cloned(),
        );
    let (logs, field) = access_logs;
    checkov::load_balancer_access_logs(&mut resource, logs, field);
    resource
}

fn service_port(stack: &Stack, service: &str) -> u32 {
    stack
        .service(service)
        .unwrap_or_else(|| unreachable!("validated: rule targets name services"))
        .port
        .container_port
}

/// The load balancer's security group (operator CIDR in on the listener port only; out only to
/// the tasks on the target ports) and the tasks' ingress from it on those ports.
fn security_groups(
    t: &mut Template,
    stack: &Stack,
    gw: &AlbGatewaySpec,
    net: &NetRefs,
    sg: &str,
    ports: &BTreeSet<u32>,
) -> Result<(), RenderError> {
    let egress = ports
        .iter()
        .map(|port| {
            obj([
                ("IpProtocol", "tcp".into()),
                ("FromPort", (*port).into()),
                ("ToPort", (*port).into()),
                (
                    "DestinationSecurityGroupId",
                    Expr::get_att(TASK_SECURITY_GROUP, "GroupId"),
                ),
                ("Description", "to the services behind the gateway".into()),
            ])
        })
        .collect();
    t.add(
        sg,
        Resource::new(
            "AWS::EC2::SecurityGroup",
            props([
                (
                    "GroupDescription",
                    format!("meshtest {}: {} load balancer", stack.name(), gw.name).into(),
                ),
                ("VpcId", net.vpc_id.clone()),
                ("SecurityGroupEgress", Expr::List(egress)),
            ]),
        ),
    )?;
    network::ingress(
        t,
        &format!("{sg}FromAllowedCidrPort{}", gw.listener_port),
        sg,
        gw.listener_port,
        ("CidrIp", Expr::r#ref(ALLOWED_CIDR_PARAMETER)),
        "operator CIDR to the gateway listener",
    )?;
    for port in ports {
        network::ingress(
            t,
            &format!("{TASK_SECURITY_GROUP}From{sg}Port{port}"),
            TASK_SECURITY_GROUP,
            *port,
            ("SourceSecurityGroupId", Expr::get_att(sg, "GroupId")),
            "gateway load balancer to a service behind it",
        )?;
    }
    Ok(())
}

fn target_group(t: &mut Template, net: &NetRefs, id: &str, port: u32) -> Result<(), RenderError> {
    t.add(
        id,
        Resource::new(
            "AWS::ElasticLoadBalancingV2::TargetGroup",
            props([
                ("Port", port.into()),
                ("Protocol", "HTTP".into()),
                ("TargetType", "ip".into()),
                ("VpcId", net.vpc_id.clone()),
                ("HealthCheckProtocol", "HTTP".into()),
                ("HealthCheckPath", "/".into()),
                ("Matcher", obj([("HttpCode", "200".into())])),
                ("HealthCheckIntervalSeconds", 10u32.into()),
                ("HealthCheckTimeoutSeconds", 5u32.into()),
                ("HealthyThresholdCount", 2u32.into()),
                ("UnhealthyThresholdCount", 2u32.into()),
                (
                    "TargetGroupAttributes",
                    Expr::List(vec![obj([
                        ("Key", "deregistration_delay.timeout_seconds".into()),
                        ("Value", DEREGISTRATION_DELAY_SECONDS.to_string().into()),
                    ])]),
                ),
            ]),
        ),
    )
}

/// `entry` as a listener rule. For the production or test rule of `shift_of` (the service that
/// shifts traffic there) the forward names its two target groups, all weight on the primary.
fn listener_rule(
    t: &mut Template,
    id: &str,
    listener: &str,
    entry: &RuleEntry<'_>,
    shift_of: Option<&str>,
    priority: u32,
) -> Result<(), RenderError> {
    let rule = entry.rule;
    let group = |tg: String, weight: u32| {
        obj([
            ("TargetGroupArn", Expr::r#ref(tg)),
            ("Weight", weight.into()),
        ])
    };
    let groups = match shift_of {
        Some(service) => vec![
            group(target_group_id(service), PRIMARY_WEIGHT),
            group(alternate_target_group_id(service), 0),
        ],
        None => rule
            .targets
            .iter()
            .map(|target| group(target_group_id(&target.service), target.weight))
            .collect(),
    };
    let mut conditions = vec![obj([
        ("Field", "path-pattern".into()),
        (
            "PathPatternConfig",
            obj([("Values", strs(path_patterns(&rule.path_prefix)))]),
        ),
    ])];
    if let Some(test) = entry.test {
        conditions.push(obj([
            ("Field", "http-header".into()),
            (
                "HttpHeaderConfig",
                obj([
                    ("HttpHeaderName", test.header.as_str().into()),
                    ("Values", strs([header_condition_value(test)])),
                ]),
            ),
        ]));
    }
    let mut p = props([
        ("ListenerArn", Expr::r#ref(listener)),
        ("Priority", priority.into()),
        ("Conditions", Expr::List(conditions)),
        (
            "Actions",
            Expr::List(vec![obj([
                ("Type", "forward".into()),
                ("ForwardConfig", obj([("TargetGroups", Expr::List(groups))])),
            ])]),
        ),
    ]);
    // Rewriting `/` to `/` would change nothing.
    if rule.rewrite_prefix && !rule.path_prefix.trim_end_matches('/').is_empty() {
        let (regex, replace) = prefix_rewrite(&rule.path_prefix);
        p.insert(
            "Transforms".into(),
            Expr::List(vec![obj([
                ("Type", "url-rewrite".into()),
                (
                    "UrlRewriteConfig",
                    obj([(
                        "Rewrites",
                        Expr::List(vec![obj([
                            ("Regex", regex.into()),
                            ("Replace", replace.into()),
                        ])]),
                    )]),
                ),
            ])]),
        );
    }
    t.add(
        id,
        Resource::new("AWS::ElasticLoadBalancingV2::ListenerRule", p),
    )
}
