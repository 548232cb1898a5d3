//! App Mesh: mesh, virtual nodes, routers and routes, virtual services, and the virtual gateway
//! with its Fargate service and internet-facing NLB

use model::{GatewaySpec, MeshSpec, ProviderSpec, Stack, VirtualNodeSpec};

use crate::ecs::{self, ClusterRefs, ENVOY_CONTAINER};
use crate::ids::logical_id;
use crate::network::{self, NetRefs, TASK_SECURITY_GROUP};
use crate::template::{Expr, Resource, Template, obj, props};
use crate::{ALLOWED_CIDR_PARAMETER, RenderError, alb};

const MESH: &str = "Mesh";
/// Envoy's admin port on the gateway task.
const GATEWAY_ADMIN_PORT: u32 = 9901;
const ENVOY_UID: u32 = 1337;

/// ARNs are built with `Fn::Sub` from known names rather than `Fn::GetAtt`, so task roles and
/// Envoy's `APPMESH_RESOURCE_ARN` need no App Mesh resource to exist when they are created
/// (and the stack deploys on emulators that do not implement App Mesh).
fn arn(mesh: &str, tail: &str) -> Expr {
    Expr::sub(format!(
        "arn:${{AWS::Partition}}:appmesh:${{AWS::Region}}:${{AWS::AccountId}}:mesh/{mesh}{tail}"
    ))
}

pub fn node_arn(mesh: &str, node: &str) -> Expr {
    arn(mesh, &format!("/virtualNode/{node}"))
}

fn gateway_arn(mesh: &str, gateway: &str) -> Expr {
    arn(mesh, &format!("/virtualGateway/{gateway}"))
}

fn node_id(name: &str) -> String {
    logical_id(&[name, "VirtualNode"])
}

fn router_id(name: &str) -> String {
    logical_id(&[name, "VirtualRouter"])
}

fn virtual_service_id(name: &str) -> String {
    logical_id(&[name, "VirtualService"])
}

fn mesh_name() -> Expr {
    Expr::get_att(MESH, "MeshName")
}

fn http_health_check(path: &str, interval_seconds: u32) -> Expr {
    obj([
        ("Protocol", "http".into()),
        ("Path", path.into()),
        ("IntervalMillis", (interval_seconds * 1000).into()),
        ("TimeoutMillis", 2000u32.into()),
        ("HealthyThreshold", 2u32.into()),
        ("UnhealthyThreshold", 2u32.into()),
    ])
}

fn http_port(port: u32) -> Expr {
    obj([("Port", port.into()), ("Protocol", "http".into())])
}

fn stdout_access_log() -> Expr {
    obj([(
        "AccessLog",
        obj([("File", obj([("Path", "/dev/stdout".into())]))]),
    )])
}

pub fn render(
    t: &mut Template,
    stack: &Stack,
    mesh: &MeshSpec,
    net: &NetRefs,
    cluster: &ClusterRefs,
) -> Result<(), RenderError> {
    t.add(
        MESH,
        Resource::new(
            "AWS::AppMesh::Mesh",
            props([
                ("MeshName", mesh.name.as_str().into()),
                (
                    "Spec",
                    obj([(
                        "EgressFilter",
                        obj([("Type", mesh.egress_filter.as_str().into())]),
                    )]),
                ),
            ]),
        ),
    )?;
    for node in &mesh.virtual_nodes {
        virtual_node(t, node, cluster)?;
    }
    for router in &mesh.virtual_routers {
        let rid = router_id(&router.name);
        t.add(
            &rid,
            Resource::new(
                "AWS::AppMesh::VirtualRouter",
                props([
                    ("MeshName", mesh_name()),
                    ("VirtualRouterName", router.name.as_str().into()),
                    (
                        "Spec",
                        obj([(
                            "Listeners",
                            Expr::List(vec![obj([("PortMapping", http_port(router.port))])]),
                        )]),
                    ),
                ]),
            ),
        )?;
        for route in &router.routes {
            let targets = route
                .targets
                .iter()
                .map(|w| {
                    obj([
                        (
                            "VirtualNode",
                            Expr::get_att(node_id(&w.virtual_node), "VirtualNodeName"),
                        ),
                        ("Weight", w.weight.into()),
                    ])
                })
                .collect();
            t.add(
                logical_id(&[&router.name, &route.name, "Route"]),
                Resource::new(
                    "AWS::AppMesh::Route",
                    props([
                        ("MeshName", mesh_name()),
                        (
                            "VirtualRouterName",
                            Expr::get_att(&rid, "VirtualRouterName"),
                        ),
                        ("RouteName", route.name.as_str().into()),
                        (
                            "Spec",
                            obj([(
                                "HttpRoute",
                                obj([
                                    ("Match", obj([("Prefix", route.prefix.as_str().into())])),
                                    ("Action", obj([("WeightedTargets", Expr::List(targets))])),
                                ]),
                            )]),
                        ),
                    ]),
                ),
            )?;
        }
    }
    for vs in &mesh.virtual_services {
        let provider = match &vs.provider {
            ProviderSpec::VirtualNode(n) => obj([(
                "VirtualNode",
                obj([(
                    "VirtualNodeName",
                    Expr::get_att(node_id(n), "VirtualNodeName"),
                )]),
            )]),
            ProviderSpec::VirtualRouter(r) => obj([(
                "VirtualRouter",
                obj([(
                    "VirtualRouterName",
                    Expr::get_att(router_id(r), "VirtualRouterName"),
                )]),
            )]),
        };
        t.add(
            virtual_service_id(&vs.name),
            Resource::new(
                "AWS::AppMesh::VirtualService",
                props([
                    ("MeshName", mesh_name()),
                    ("VirtualServiceName", vs.name.as_str().into()),
                    ("Spec", obj([("Provider", provider)])),
                ]),
            ),
        )?;
    }
    if let Some(gateway) = &mesh.gateway {
        render_gateway(t, stack, mesh, gateway, net)?;
    }
    Ok(())
}

fn virtual_node(
    t: &mut Template,
    node: &VirtualNodeSpec,
    cluster: &ClusterRefs,
) -> Result<(), RenderError> {
    // Backends name virtual services literally: blue calls green and green calls blue, and
    // references would make that a dependency cycle.
    let backends = node
        .backends
        .iter()
        .map(|b| {
            obj([(
                "VirtualService",
                obj([("VirtualServiceName", b.as_str().into())]),
            )])
        })
        .collect();
    let mut spec = props([
        (
            "Listeners",
            Expr::List(vec![obj([
                ("PortMapping", http_port(node.port)),
                (
                    "HealthCheck",
                    http_health_check(&node.health_check_path, node.health_check_interval_seconds),
                ),
            ])]),
        ),
        (
            "ServiceDiscovery",
            obj([(
                "AWSCloudMap",
                obj([
                    ("NamespaceName", cluster.namespace_name.as_str().into()),
                    ("ServiceName", node.service.as_str().into()),
                ]),
            )]),
        ),
        ("Backends", Expr::List(backends)),
    ]);
    if node.access_log {
        spec.insert("Logging".into(), stdout_access_log());
    }
    t.add(
        node_id(&node.name),
        Resource::new(
            "AWS::AppMesh::VirtualNode",
            props([
                ("MeshName", mesh_name()),
                ("VirtualNodeName", node.name.as_str().into()),
                ("Spec", Expr::Map(spec)),
            ]),
        )
        // The node names its Cloud Map service literally; the service must exist first.
        .depends_on([logical_id(&[&node.service, "DiscoveryService"])]),
    )
}

fn render_gateway(
    t: &mut Template,
    stack: &Stack,
    mesh: &MeshSpec,
    g: &GatewaySpec,
    net: &NetRefs,
) -> Result<(), RenderError> {
    let id = |suffix: &str| logical_id(&[&g.name, suffix]);
    let gw = logical_id(&[&g.name]);
    t.add(
        &gw,
        Resource::new(
            "AWS::AppMesh::VirtualGateway",
            props([
                ("MeshName", mesh_name()),
                ("VirtualGatewayName", g.name.as_str().into()),
                (
                    "Spec",
                    obj([
                        (
                            "Listeners",
                            Expr::List(vec![obj([
                                ("PortMapping", http_port(g.listener_port)),
                                (
                                    "HealthCheck",
                                    http_health_check("/", g.health_check_interval_seconds),
                                ),
                            ])]),
                        ),
                        ("Logging", stdout_access_log()),
                    ]),
                ),
            ]),
        ),
    )?;
    for route in &g.routes {
        t.add(
            logical_id(&[&g.name, &route.name, "GatewayRoute"]),
            Resource::new(
                "AWS::AppMesh::GatewayRoute",
                props([
                    ("MeshName", mesh_name()),
                    (
                        "VirtualGatewayName",
                        Expr::get_att(&gw, "VirtualGatewayName"),
                    ),
                    ("GatewayRouteName", route.name.as_str().into()),
                    (
                        "Spec",
                        obj([(
                            "HttpRoute",
                            obj([
                                ("Match", obj([("Prefix", route.prefix.as_str().into())])),
                                (
                                    "Action",
                                    obj([
                                        (
                                            "Target",
                                            obj([(
                                                "VirtualService",
                                                obj([(
                                                    "VirtualServiceName",
                                                    Expr::get_att(
                                                        virtual_service_id(&route.virtual_service),
                                                        "VirtualServiceName",
                                                    ),
                                                )]),
                                            )]),
                                        ),
                                        // Written out although it is App Mesh's default: `/blue/x` reaches the service as `/x`.
                                        (
                                            "Rewrite",
                                            obj([(
                                                "Prefix",
                                                obj([("DefaultPrefix", "ENABLED".into())]),
                                            )]),
                                        ),
                                    ]),
                                ),
                            ]),
                        )]),
                    ),
                ]),
            ),
        )?;
    }

    // The gateway's Envoy runs as its own Fargate service.
    let logs = id("LogGroup");
    ecs::log_group(t, stack, &logs)?;
    ecs::execution_role(t, &id("ExecutionRole"), &[&logs])?;
    ecs::task_role(
        t,
        &id("TaskRole"),
        vec![ecs::allow(
            &["appmesh:StreamAggregatedResources"],
            vec![gateway_arn(&mesh.name, &g.name)],
        )],
    )?;
    let envoy = ecs::envoy_container(
        &g.envoy_image,
        gateway_arn(&mesh.name, &g.name),
        &[g.listener_port, GATEWAY_ADMIN_PORT],
        GATEWAY_ADMIN_PORT,
        ENVOY_UID,
        &logs,
    );
    let td = id("TaskDefinition");
    t.add(
        &td,
        Resource::new(
            "AWS::ECS::TaskDefinition",
            ecs::task_definition(
                format!("{}-{}", stack.name(), g.name),
                g.cpu,
                g.memory_mib,
                &id("ExecutionRole"),
                Some(&id("TaskRole")),
                vec![envoy],
            ),
        ),
    )?;

    // Internet-facing NLB with its own security group: the operator CIDR reaches only the
    // listener, and only the NLB reaches the gateway tasks.
    let lb_sg = id("LoadBalancerSecurityGroup");
    t.add(
        &lb_sg,
        Resource::new(
            "AWS::EC2::SecurityGroup",
            props([
                (
                    "GroupDescription",
                    format!("meshtest {}: gateway load balancer", stack.name()).into(),
                ),
                ("VpcId", net.vpc_id.clone()),
                (
                    "SecurityGroupEgress",
                    Expr::List(vec![obj([
                        ("IpProtocol", "tcp".into()),
                        ("FromPort", g.listener_port.into()),
                        ("ToPort", g.listener_port.into()),
                        (
                            "DestinationSecurityGroupId",
                            Expr::get_att(TASK_SECURITY_GROUP, "GroupId"),
                        ),
                        ("Description", "to the gateway tasks".into()),
                    ])]),
                ),
            ]),
        ),
    )?;
    network::ingress(
        t,
        &format!("{lb_sg}FromAllowedCidrPort{}", g.load_balancer_port),
        &lb_sg,
        g.load_balancer_port,
        ("CidrIp", Expr::r#ref(ALLOWED_CIDR_PARAMETER)),
        "operator CIDR to the gateway listener",
    )?;
    network::ingress(
        t,
        &format!("{TASK_SECURITY_GROUP}From{lb_sg}Port{}", g.listener_port),
        TASK_SECURITY_GROUP,
        g.listener_port,
        ("SourceSecurityGroupId", Expr::get_att(&lb_sg, "GroupId")),
        "gateway load balancer to the gateway tasks",
    )?;
    let lb = id("LoadBalancer");
    let resource = alb::internet_facing_load_balancer(
        alb::LoadBalancerKind::Network,
        net,
        &lb_sg,
        (g.access_logs.as_ref(), "mesh.gateway.accessLogs"),
    );
    t.add(&lb, resource)?;
    let tg = id("TargetGroup");
    t.add(
        &tg,
        Resource::new(
            "AWS::ElasticLoadBalancingV2::TargetGroup",
            props([
                ("Port", g.listener_port.into()),
                ("Protocol", "TCP".into()),
                ("TargetType", "ip".into()),
                ("VpcId", net.vpc_id.clone()),
                ("HealthCheckProtocol", "TCP".into()),
                ("HealthCheckIntervalSeconds", 10u32.into()),
                ("HealthyThresholdCount", 2u32.into()),
                ("UnhealthyThresholdCount", 2u32.into()),
                (
                    "TargetGroupAttributes",
                    Expr::List(vec![obj([
                        ("Key", "deregistration_delay.timeout_seconds".into()),
                        ("Value", "30".into()),
                    ])]),
                ),
            ]),
        ),
    )?;
    let listener = id("Listener");
    t.add(
        &listener,
        Resource::new(
            "AWS::ElasticLoadBalancingV2::Listener",
            props([
                ("LoadBalancerArn", Expr::r#ref(&lb)),
                ("Port", g.load_balancer_port.into()),
                ("Protocol", "TCP".into()),
                (
                    "DefaultActions",
                    Expr::List(vec![obj([
                        ("Type", "forward".into()),
                        ("TargetGroupArn", Expr::r#ref(&tg)),
                    ])]),
                ),
            ]),
        ),
    )?;
    let mut service = ecs::fargate_service(&g.name, &td, g.desired_count, net);
    service.insert(
        "LoadBalancers".into(),
        Expr::List(vec![obj([
            ("ContainerName", ENVOY_CONTAINER.into()),
            ("ContainerPort", g.listener_port.into()),
            ("TargetGroupArn", Expr::r#ref(&tg)),
        ])]),
    );
    service.insert("HealthCheckGracePeriodSeconds".into(), 60u32.into());
    // The target group must be attached to a listener before a service can register in it.
    let mut deps = net.egress_routes.clone();
    deps.push(listener);
    t.add(
        id("Service"),
        Resource::new("AWS::ECS::Service", service).depends_on(deps),
    )?;
    t.add_output(
        "GatewayLoadBalancerDnsName",
        "DNS name of the gateway's load balancer",
        Expr::get_att(&lb, "DNSName"),
    );
    t.add_output(
        "GatewayUrl",
        "URL of the gateway",
        Expr::sub(format!("http://${{{lb}.DNSName}}")),
    );
    Ok(())
}
