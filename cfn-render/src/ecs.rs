//! ECS cluster, Cloud Map namespace, and per service: log groups, roles, task definition, service

use std::collections::BTreeMap;

use model::{
    DiscoverySpec, HealthCheckSpec, ImageSpec, ServiceConnectSpec, ServiceSpec, SidecarSpec, Stack,
    app_environment,
};

use crate::ids::logical_id;
use crate::network::{NetRefs, TASK_SECURITY_GROUP};
use crate::template::{Expr, Resource, Template, obj, props, strs};
use crate::{IMAGE_PARAMETER, RenderError};
use crate::{alb, appmesh_arn, checkov, deployment};

pub const CLUSTER: &str = "Cluster";
pub const NAMESPACE: &str = "Namespace";
/// Name of the app container in every service's task definition.
pub const APP_CONTAINER: &str = "app";
/// Name of the Envoy container (sidecar or gateway).
pub const ENVOY_CONTAINER: &str = "envoy";

/// What services need to know about the cluster.
#[derive(Debug, Clone)]
pub struct ClusterRefs {
    pub namespace_name: String,
    pub service_connect: bool,
}

pub fn render_cluster(
    t: &mut Template,
    stack: &Stack,
    net: &NetRefs,
) -> Result<ClusterRefs, RenderError> {
    let cluster = &stack.spec().cluster;
    let namespace_name = cluster.discovery.namespace().to_owned();
    let service_connect = matches!(cluster.discovery, DiscoverySpec::ServiceConnect { .. });
    let namespace = if service_connect {
        // Declared here and passed by ARN (SPEC §3.1): ECS never creates a namespace no stack owns.
        Resource::new(
            "AWS::ServiceDiscovery::HttpNamespace",
            props([
                ("Name", namespace_name.as_str().into()),
                (
                    "Description",
                    format!("meshtest {}: Service Connect namespace", stack.name()).into(),
                ),
            ]),
        )
    } else {
        Resource::new(
            "AWS::ServiceDiscovery::PrivateDnsNamespace",
            props([
                ("Name", namespace_name.as_str().into()),
                ("Vpc", net.vpc_id.clone()),
                (
                    "Description",
                    format!("meshtest {}: private DNS namespace", stack.name()).into(),
                ),
            ]),
        )
    };
    t.add(NAMESPACE, namespace)?;
    let mut cluster_props = props([
        ("ClusterName", cluster.name.as_str().into()),
        (
            "ClusterSettings",
            Expr::List(vec![obj([
                ("Name", "containerInsights".into()),
                (
                    "Value",
                    if cluster.container_insights {
                        "enabled"
                    } else {
                        "disabled"
                    }
                    .into(),
                ),
            ])]),
        ),
    ]);
    if service_connect {
        cluster_props.insert(
            "ServiceConnectDefaults".into(),
            obj([("Namespace", namespace_arn())]),
        );
    }
    t.add(CLUSTER, Resource::new("AWS::ECS::Cluster", cluster_props))?;
    t.add_output(
        "ClusterName",
        "ECS cluster of the stack",
        Expr::r#ref(CLUSTER),
    );
    t.add_output(
        "NamespaceId",
        "Cloud Map namespace of the stack",
        Expr::r#ref(NAMESPACE),
    );
    Ok(ClusterRefs {
        namespace_name,
        service_connect,
    })
}

/// A Cloud Map ARN built from the resource's `Ref` (its id). `Fn::GetAtt` would work on AWS
/// too, but CloudFormation emulators that skip Cloud Map resources (moto) refuse a `GetAtt` on
/// them while resolving a `Ref`, and the ARN format is documented and stable.
fn cloud_map_arn(kind: &str, id: &str) -> Expr {
    Expr::sub(format!(
        "arn:${{AWS::Partition}}:servicediscovery:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/${{{id}}}"
    ))
}

/// The stack's Cloud Map namespace ARN (SPEC §3.1: Service Connect gets the namespace by ARN).
pub fn namespace_arn() -> Expr {
    cloud_map_arn("namespace", NAMESPACE)
}

/// A log group with the stack's retention, encrypted with `logs.kmsKeyArn` when it is set.
pub fn log_group(t: &mut Template, stack: &Stack, id: &str) -> Result<(), RenderError> {
    let logs = &stack.spec().logs;
    let mut group = Resource::new(
        "AWS::Logs::LogGroup",
        props([("RetentionInDays", logs.retention_days.into())]),
    );
    match &logs.kms_key_arn {
        Some(arn) => {
            group
                .properties
                .insert("KmsKeyId".into(), arn.as_str().into());
        }
        None => checkov::skip(
            &mut group,
            &[(checkov::LOG_GROUP_KMS, checkov::LOG_GROUP_KMS_REASON)],
        ),
    }
    t.add(id, group)
}

pub fn log_configuration(group: &str, prefix: &str) -> Expr {
    obj([
        ("LogDriver", "awslogs".into()),
        (
            "Options",
            obj([
                ("awslogs-group", Expr::r#ref(group)),
                ("awslogs-region", Expr::r#ref("AWS::Region")),
                ("awslogs-stream-prefix", prefix.into()),
            ]),
        ),
    ])
}

fn assume_ecs_tasks() -> Expr {
    obj([
        ("Version", "2012-10-17".into()),
        (
            "Statement",
            Expr::List(vec![obj([
                ("Effect", "Allow".into()),
                (
                    "Principal",
                    obj([("Service", "ecs-tasks.amazonaws.com".into())]),
                ),
                ("Action", "sts:AssumeRole".into()),
            ])]),
        ),
    ])
}

pub fn allow(actions: &[&str], resources: Vec<Expr>) -> Expr {
    obj([
        ("Effect", "Allow".into()),
        ("Action", strs(actions)),
        ("Resource", Expr::List(resources)),
    ])
}

fn role(
    t: &mut Template,
    id: &str,
    policy_name: &str,
    statements: Vec<Expr>,
) -> Result<(), RenderError> {
    t.add(
        id,
        Resource::new(
            "AWS::IAM::Role",
            props([
                ("AssumeRolePolicyDocument", assume_ecs_tasks()),
                (
                    "Policies",
                    Expr::List(vec![obj([
                        ("PolicyName", policy_name.into()),
                        (
                            "PolicyDocument",
                            obj([
                                ("Version", "2012-10-17".into()),
                                ("Statement", Expr::List(statements)),
                            ]),
                        ),
                    ])]),
                ),
            ]),
        ),
    )
}

/// The role ECS uses to start a task: pull the image, write to the task's log groups, no more.
pub fn execution_role(t: &mut Template, id: &str, log_groups: &[&str]) -> Result<(), RenderError> {
    let groups = log_groups
        .iter()
        .map(|g| Expr::get_att(*g, "Arn"))
        .collect();
    role(
        t,
        id,
        "task-execution",
        vec![
            allow(&["logs:CreateLogStream", "logs:PutLogEvents"], groups),
            allow(&["ecr:GetAuthorizationToken"], vec!["*".into()]),
            // The image is a parameter, so its repository is unknown when rendering.
            allow(
                &[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                vec!["*".into()],
            ),
        ],
    )
}

/// The role the task's containers run as.
pub fn task_role(t: &mut Template, id: &str, statements: Vec<Expr>) -> Result<(), RenderError> {
    role(t, id, "task", statements)
}

fn environment(vars: &BTreeMap<String, Expr>) -> Expr {
    Expr::List(
        vars.iter()
            .map(|(k, v)| obj([("Name", k.as_str().into()), ("Value", v.clone())]))
            .collect(),
    )
}

fn health_check(hc: &HealthCheckSpec) -> Expr {
    obj([
        ("Command", strs(&hc.command)),
        ("Interval", hc.interval_seconds.into()),
        ("Timeout", hc.timeout_seconds.into()),
        ("Retries", hc.retries.into()),
        ("StartPeriod", hc.start_period_seconds.into()),
    ])
}

fn tcp_port(port: u32) -> Expr {
    obj([("ContainerPort", port.into()), ("Protocol", "tcp".into())])
}

/// An Envoy container joined to the App Mesh resource `resource_arn` (a node or a gateway).
pub fn envoy_container(
    image: &str,
    resource_arn: Expr,
    ports: &[u32],
    admin_port: u32,
    uid: u32,
    log_group: &str,
) -> Expr {
    obj([
        ("Name", ENVOY_CONTAINER.into()),
        ("Image", image.into()),
        ("Essential", true.into()),
        ("User", uid.to_string().into()),
        (
            "Environment",
            environment(&BTreeMap::from([(
                "APPMESH_RESOURCE_ARN".to_owned(),
                resource_arn,
            )])),
        ),
        (
            "PortMappings",
            Expr::List(ports.iter().map(|p| tcp_port(*p)).collect()),
        ),
        (
            "Ulimits",
            Expr::List(vec![obj([
                ("Name", "nofile".into()),
                ("SoftLimit", 15000u32.into()),
                ("HardLimit", 15000u32.into()),
            ])]),
        ),
        (
            "HealthCheck",
            obj([
                (
                    "Command",
                    strs([
                        "CMD-SHELL",
                        &format!(
                            "curl -s http://localhost:{admin_port}/server_info | grep state | grep -q LIVE"
                        ),
                    ]),
                ),
                ("Interval", 5u32.into()),
                ("Timeout", 2u32.into()),
                ("Retries", 3u32.into()),
                ("StartPeriod", 10u32.into()),
            ]),
        ),
        (
            "LogConfiguration",
            log_configuration(log_group, ENVOY_CONTAINER),
        ),
    ])
}

/// A Fargate task definition.
pub fn task_definition(
    family: String,
    cpu: u32,
    memory_mib: u32,
    execution_role: &str,
    task_role: Option<&str>,
    containers: Vec<Expr>,
) -> BTreeMap<String, Expr> {
    let mut p = props([
        ("Family", family.into()),
        ("Cpu", cpu.to_string().into()),
        ("Memory", memory_mib.to_string().into()),
        ("NetworkMode", "awsvpc".into()),
        ("RequiresCompatibilities", strs(["FARGATE"])),
        ("ExecutionRoleArn", Expr::get_att(execution_role, "Arn")),
        ("ContainerDefinitions", Expr::List(containers)),
    ]);
    if let Some(task_role) = task_role {
        p.insert("TaskRoleArn".into(), Expr::get_att(task_role, "Arn"));
    }
    p
}

/// The properties every Fargate service of the stack shares.
pub fn fargate_service(
    name: &str,
    task_definition: &str,
    desired_count: u32,
    net: &NetRefs,
) -> BTreeMap<String, Expr> {
    props([
        ("ServiceName", name.into()),
        ("Cluster", Expr::r#ref(CLUSTER)),
        ("TaskDefinition", Expr::r#ref(task_definition)),
        ("DesiredCount", desired_count.into()),
        ("LaunchType", "FARGATE".into()),
        (
            "NetworkConfiguration",
            obj([(
                "AwsvpcConfiguration",
                obj([
                    (
                        "AssignPublicIp",
                        if net.assign_public_ip {
                            "ENABLED"
                        } else {
                            "DISABLED"
                        }
                        .into(),
                    ),
                    (
                        "SecurityGroups",
                        Expr::List(vec![Expr::get_att(TASK_SECURITY_GROUP, "GroupId")]),
                    ),
                    ("Subnets", Expr::List(net.task_subnets.clone())),
                ]),
            )]),
        ),
        (
            "DeploymentConfiguration",
            deployment::default_configuration(),
        ),
        ("EnableECSManagedTags", true.into()),
        ("PropagateTags", "SERVICE".into()),
    ])
}

/// Everything a service renders into besides its own resources.
pub struct ServiceContext<'a> {
    pub net: &'a NetRefs,
    pub cluster: &'a ClusterRefs,
    /// The ALB gateway's target groups and rules, by service name.
    pub alb: &'a alb::Attachments,
}

pub fn render_service(
    t: &mut Template,
    stack: &Stack,
    svc: &ServiceSpec,
    cx: &ServiceContext<'_>,
) -> Result<(), RenderError> {
    let id = |suffix: &str| logical_id(&[&svc.name, suffix]);
    let logs = id("LogGroup");
    log_group(t, stack, &logs)?;
    let mut groups = vec![logs.clone()];
    let sc_logs = id("ServiceConnectLogGroup");
    if svc.service_connect.is_some() {
        log_group(t, stack, &sc_logs)?;
        groups.push(sc_logs.clone());
    }
    let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    execution_role(t, &id("ExecutionRole"), &group_refs)?;
    let td = service_task_definition(t, stack, svc, &logs)?;

    let mut service = fargate_service(&svc.name, &td, svc.desired_count, cx.net);
    if let Some(sc) = &svc.service_connect {
        service.insert(
            "ServiceConnectConfiguration".into(),
            service_connect_configuration(svc, sc, &cx.cluster.namespace_name, &sc_logs),
        );
    }
    if !cx.cluster.service_connect {
        let discovery = id("DiscoveryService");
        cloud_map_service(t, &discovery, &svc.name)?;
        service.insert(
            "ServiceRegistries".into(),
            Expr::List(vec![obj([(
                "RegistryArn",
                cloud_map_arn("service", &discovery),
            )])]),
        );
    }
    let waiver = deployment::apply(t, stack, svc, &mut service)?;
    let mut deps = cx.net.egress_routes.clone();
    if let Some(attachment) = cx.alb.get(&svc.name) {
        let mut lb = props([
            ("ContainerName", APP_CONTAINER.into()),
            ("ContainerPort", svc.port.container_port.into()),
            ("TargetGroupArn", Expr::r#ref(&attachment.target_group)),
        ]);
        if let Some(shift) = &attachment.shift {
            lb.insert(
                "AdvancedConfiguration".into(),
                shift.advanced_configuration(),
            );
        }
        service.insert("LoadBalancers".into(), Expr::List(vec![Expr::Map(lb)]));
        service.insert(
            "HealthCheckGracePeriodSeconds".into(),
            alb::HEALTH_CHECK_GRACE_PERIOD_SECONDS.into(),
        );
        deps.extend(attachment.rules.iter().cloned());
    }
    let mut resource = Resource::new("AWS::ECS::Service", service).depends_on(deps);
    resource.metadata.extend(waiver);
    t.add(id("Service"), resource)
}

/// `ServiceConnectConfiguration` of a service that registers in the namespace.
fn service_connect_configuration(
    svc: &ServiceSpec,
    sc: &ServiceConnectSpec,
    namespace: &str,
    log_group: &str,
) -> Expr {
    let dns_name = sc
        .dns_name
        .clone()
        .unwrap_or_else(|| format!("{}.{}", sc.discovery_name, namespace));
    let mut alias = props([
        ("Port", sc.client_alias_port.into()),
        ("DnsName", dns_name.into()),
    ]);
    if let Some(rule) = &sc.test_traffic {
        alias.insert(
            "TestTrafficRules".into(),
            deployment::test_traffic_rules(rule),
        );
    }
    obj([
        ("Enabled", true.into()),
        ("Namespace", namespace_arn()),
        (
            "Services",
            Expr::List(vec![obj([
                ("PortName", svc.port.name.as_str().into()),
                ("DiscoveryName", sc.discovery_name.as_str().into()),
                ("ClientAliases", Expr::List(vec![Expr::Map(alias)])),
            ])]),
        ),
        (
            "LogConfiguration",
            log_configuration(log_group, "service-connect"),
        ),
    ])
}

/// The app container of a service.
fn app_container(
    stack: &Stack,
    svc: &ServiceSpec,
    logs: &str,
    sidecar: bool,
) -> BTreeMap<String, Expr> {
    let env = app_environment(stack, svc)
        .into_iter()
        .map(|(k, v)| (k, Expr::Str(v)))
        .collect();
    let image = match &svc.image {
        ImageSpec::Parameter => Expr::r#ref(IMAGE_PARAMETER),
        ImageSpec::Uri { uri } => uri.as_str().into(),
    };
    let mut port_mapping = props([
        ("ContainerPort", svc.port.container_port.into()),
        ("Protocol", "tcp".into()),
        ("Name", svc.port.name.as_str().into()),
    ]);
    // AppProtocol is only meaningful to Service Connect; without one the port is TCP.
    if let Some(protocol) = svc.port.app_protocol.filter(|_| !sidecar) {
        port_mapping.insert("AppProtocol".into(), protocol.as_str().into());
    }
    let mut app = props([
        ("Name", APP_CONTAINER.into()),
        ("Image", image),
        ("Essential", true.into()),
        ("PortMappings", Expr::List(vec![Expr::Map(port_mapping)])),
        ("Environment", environment(&env)),
        ("LogConfiguration", log_configuration(logs, APP_CONTAINER)),
    ]);
    if let Some(hc) = &svc.health_check {
        app.insert("HealthCheck".into(), health_check(hc));
    }
    app
}

/// The task definition of a service (with its task role and Envoy when it joins App Mesh);
/// returns its logical id.
fn service_task_definition(
    t: &mut Template,
    stack: &Stack,
    svc: &ServiceSpec,
    logs: &str,
) -> Result<String, RenderError> {
    let id = |suffix: &str| logical_id(&[&svc.name, suffix]);
    let mesh_name = stack.spec().mesh.as_ref().map(|m| m.name.as_str());
    let sidecar: Option<(&SidecarSpec, &str)> = svc.app_mesh.as_ref().zip(mesh_name);
    let mut app = app_container(stack, svc, logs, sidecar.is_some());
    let family = format!("{}-{}", stack.name(), svc.name);
    let td_props = if let Some((sc, mesh)) = sidecar {
        let task_role_id = id("TaskRole");
        task_role(
            t,
            &task_role_id,
            vec![allow(
                &["appmesh:StreamAggregatedResources"],
                vec![appmesh_arn::node(mesh, &sc.virtual_node)],
            )],
        )?;
        app.insert(
            "DependsOn".into(),
            Expr::List(vec![obj([
                ("ContainerName", ENVOY_CONTAINER.into()),
                ("Condition", "HEALTHY".into()),
            ])]),
        );
        let envoy = envoy_container(
            &sc.envoy_image,
            appmesh_arn::node(mesh, &sc.virtual_node),
            &[sc.admin_port, sc.proxy_ingress_port, sc.proxy_egress_port],
            sc.admin_port,
            sc.ignored_uid,
            logs,
        );
        let mut td_props = task_definition(
            family,
            svc.cpu,
            svc.memory_mib,
            &id("ExecutionRole"),
            Some(&task_role_id),
            vec![Expr::Map(app), envoy],
        );
        td_props.insert("ProxyConfiguration".into(), proxy_configuration(svc, sc));
        td_props
    } else {
        task_definition(
            family,
            svc.cpu,
            svc.memory_mib,
            &id("ExecutionRole"),
            None,
            vec![Expr::Map(app)],
        )
    };
    let td = id("TaskDefinition");
    t.add(&td, Resource::new("AWS::ECS::TaskDefinition", td_props))?;
    Ok(td)
}

/// The App Mesh proxy configuration: the app's traffic goes through Envoy, Envoy's does not.
fn proxy_configuration(svc: &ServiceSpec, sc: &SidecarSpec) -> Expr {
    let proxy_props = [
        ("AppPorts", svc.port.container_port.to_string()),
        ("EgressIgnoredIPs", sc.egress_ignored_ips.join(",")),
        ("IgnoredUID", sc.ignored_uid.to_string()),
        ("ProxyEgressPort", sc.proxy_egress_port.to_string()),
        ("ProxyIngressPort", sc.proxy_ingress_port.to_string()),
    ];
    obj([
        ("Type", "APPMESH".into()),
        ("ContainerName", ENVOY_CONTAINER.into()),
        (
            "ProxyConfigurationProperties",
            Expr::List(
                proxy_props
                    .into_iter()
                    .map(|(k, v)| obj([("Name", k.into()), ("Value", v.into())]))
                    .collect(),
            ),
        ),
    ])
}

/// A Cloud Map service in the private DNS namespace that ECS registers the tasks' IPs in.
fn cloud_map_service(t: &mut Template, id: &str, name: &str) -> Result<(), RenderError> {
    t.add(
        id,
        Resource::new(
            "AWS::ServiceDiscovery::Service",
            props([
                ("Name", name.into()),
                ("NamespaceId", Expr::r#ref(NAMESPACE)),
                (
                    "DnsConfig",
                    obj([
                        (
                            "DnsRecords",
                            Expr::List(vec![obj([("Type", "A".into()), ("TTL", 60u32.into())])]),
                        ),
                        ("RoutingPolicy", "MULTIVALUE".into()),
                    ]),
                ),
                (
                    "HealthCheckCustomConfig",
                    obj([("FailureThreshold", 1u32.into())]),
                ),
            ]),
        ),
    )
}
