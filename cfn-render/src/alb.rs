//! The ALB gateway (the App Mesh virtual gateway's successor): an internet-facing Application Load
//! Balancer whose listener rules route path prefixes to services, weighted, with prefix rewrite
//!
//! Only `AllowedCidr` reaches the listener port, and the load balancer reaches the tasks only on
//! the ports of the services it forwards to. Rules are evaluated longest prefix first, whatever
//! their order in the model, so `/split` never falls into `/`; no match answers a fixed 404.

use std::collections::{BTreeMap, BTreeSet};

use model::{AccessLogsSpec, AlbGatewaySpec, AlbRuleSpec, Stack};

use crate::ids::logical_id;
use crate::network::{self, NetRefs, TASK_SECURITY_GROUP};
use crate::template::{Expr, Resource, Template, obj, props, strs};
use crate::{ALLOWED_CIDR_PARAMETER, RenderError, checkov};

/// Seconds the load balancer lets in-flight requests finish on a deregistering task: short, so a
/// deployment is not held up by the 300 s default; the demo's requests take milliseconds.
pub const DEREGISTRATION_DELAY_SECONDS: u32 = 5;
/// Seconds ECS ignores failing load balancer health checks of a new task.
pub const HEALTH_CHECK_GRACE_PERIOD_SECONDS: u32 = 30;

/// What the ECS service behind the gateway needs: its target group and the rules forwarding to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub target_group: String,
    /// Listener rules that forward to the target group; ECS refuses a target group that is not
    /// attached to a load balancer yet, so the service waits for them.
    pub rules: BTreeSet<String>,
}

/// The gateway's attachments, by service name (empty without a gateway).
pub type Attachments = BTreeMap<String, Attachment>;

/// Logical id of the target group of `service`.
pub fn target_group_id(service: &str) -> String {
    logical_id(&[service, "TargetGroup"])
}

/// The rules in evaluation order: longest prefix first, ties by name, so priorities are a pure
/// function of the model.
pub fn rules_by_priority(gw: &AlbGatewaySpec) -> Vec<&AlbRuleSpec> {
    let mut rules: Vec<&AlbRuleSpec> = gw.rules.iter().collect();
    rules.sort_by(|a, b| {
        b.path_prefix
            .len()
            .cmp(&a.path_prefix.len())
            .then_with(|| a.name.cmp(&b.name))
    });
    rules
}

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
    let id = |suffix: &str| logical_id(&[&gw.name, suffix]);
    let targets: BTreeSet<&str> = gw
        .rules
        .iter()
        .flat_map(|r| r.targets.iter().map(|t| t.service.as_str()))
        .collect();
    let ports: BTreeSet<u32> = targets.iter().map(|s| service_port(stack, s)).collect();
    let sg = id("SecurityGroup");
    security_groups(t, stack, gw, net, &sg, &ports)?;
    for service in &targets {
        target_group(t, net, service, service_port(stack, service))?;
    }
    let (lb, listener) = load_balancer(t, gw, net, &sg)?;
    let mut attachments = Attachments::new();
    for (i, rule) in rules_by_priority(gw).into_iter().enumerate() {
        let rule_id = logical_id(&[&gw.name, &rule.name, "Rule"]);
        let priority = u32::try_from(i + 1).unwrap_or_else(|_| unreachable!("few rules"));
        listener_rule(t, &rule_id, &listener, rule, priority)?;
        for target in &rule.targets {
            attachments
                .entry(target.service.clone())
                .or_insert_with(|| Attachment {
                    target_group: target_group_id(&target.service),
                    rules: BTreeSet::new(),
                })
                .rules
                .insert(rule_id.clone());
        }
    }
    let port = if gw.listener_port == 80 {
        String::new()
    } else {
        format!(":{}", gw.listener_port)
    };
    t.add_output(
        "GatewayLoadBalancerDnsName",
        "DNS name of the gateway's load balancer",
        Expr::get_att(&lb, "DNSName"),
    );
    t.add_output(
        "GatewayUrl",
        "URL of the gateway",
        Expr::sub(format!("http://${{{lb}.DNSName}}{port}")),
    );
    Ok(attachments)
}

/// The internet-facing load balancer in the public subnets and its HTTP listener, which answers
/// 404 to anything no rule matches; returns their logical ids.
fn load_balancer(
    t: &mut Template,
    gw: &AlbGatewaySpec,
    net: &NetRefs,
    sg: &str,
) -> Result<(String, String), RenderError> {
    let id = |suffix: &str| logical_id(&[&gw.name, suffix]);
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

fn target_group(
    t: &mut Template,
    net: &NetRefs,
    service: &str,
    port: u32,
) -> Result<(), RenderError> {
    t.add(
        target_group_id(service),
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

fn listener_rule(
    t: &mut Template,
    id: &str,
    listener: &str,
    rule: &AlbRuleSpec,
    priority: u32,
) -> Result<(), RenderError> {
    let groups = rule
        .targets
        .iter()
        .map(|target| {
            obj([
                (
                    "TargetGroupArn",
                    Expr::r#ref(target_group_id(&target.service)),
                ),
                ("Weight", target.weight.into()),
            ])
        })
        .collect();
    let mut p = props([
        ("ListenerArn", Expr::r#ref(listener)),
        ("Priority", priority.into()),
        (
            "Conditions",
            Expr::List(vec![obj([
                ("Field", "path-pattern".into()),
                (
                    "PathPatternConfig",
                    obj([("Values", strs(path_patterns(&rule.path_prefix)))]),
                ),
            ])]),
        ),
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
