//! App Mesh rules: sidecars, virtual nodes, routers and routes, virtual services and the gateway.

use model::{
    DiscoverySpec, GatewayRouteSpec, GatewaySpec, MeshSpec, ProviderSpec, RouteSpec, SidecarSpec,
    StackSpec, WeightedTargetSpec,
};

use crate::{check, check_sc, plain_service};

const APP_MESH_NAME_RULE: &str =
    "is not a valid App Mesh name: use 1-255 letters, digits, hyphens, underscores and dots";
const NO_LOGICAL_ID: &str = "has no letters or digits to build a CloudFormation logical id from";

fn mesh(s: &mut StackSpec) -> &mut MeshSpec {
    s.mesh.as_mut().expect("the mesh examples have a mesh")
}

fn gateway(s: &mut StackSpec) -> &mut GatewaySpec {
    mesh(s)
        .gateway
        .as_mut()
        .expect("the mesh examples have a gateway")
}

fn route(s: &mut StackSpec) -> &mut RouteSpec {
    &mut mesh(s).virtual_routers[0].routes[0]
}

fn sidecar(s: &mut StackSpec, service: usize) -> &mut SidecarSpec {
    s.services[service]
        .app_mesh
        .as_mut()
        .expect("the mesh examples have sidecars")
}

/// Renames a virtual node everywhere it is referenced, so only rules about the name itself fire.
fn rename_node(s: &mut StackSpec, old: &str, new: &str) {
    for svc in &mut s.services {
        if let Some(sc) = svc.app_mesh.as_mut().filter(|sc| sc.virtual_node == old) {
            sc.virtual_node = new.to_owned();
        }
    }
    let m = mesh(s);
    for n in m.virtual_nodes.iter_mut().filter(|n| n.name == old) {
        n.name = new.to_owned();
    }
    for t in m
        .virtual_routers
        .iter_mut()
        .flat_map(|r| &mut r.routes)
        .flat_map(|r| &mut r.targets)
    {
        if t.virtual_node == old {
            t.virtual_node = new.to_owned();
        }
    }
    for vs in &mut m.virtual_services {
        if vs.provider == ProviderSpec::VirtualNode(old.to_owned()) {
            vs.provider = ProviderSpec::VirtualNode(new.to_owned());
        }
    }
}

/// Renames a virtual router and the virtual service provider that points at it.
fn rename_router(s: &mut StackSpec, old: &str, new: &str) {
    let m = mesh(s);
    for r in m.virtual_routers.iter_mut().filter(|r| r.name == old) {
        r.name = new.to_owned();
    }
    for vs in &mut m.virtual_services {
        if vs.provider == ProviderSpec::VirtualRouter(old.to_owned()) {
            vs.provider = ProviderSpec::VirtualRouter(new.to_owned());
        }
    }
}

/// Renames a virtual service and the node backends and gateway routes that point at it.
fn rename_virtual_service(s: &mut StackSpec, old: &str, new: &str) {
    let m = mesh(s);
    for vs in m.virtual_services.iter_mut().filter(|vs| vs.name == old) {
        vs.name = new.to_owned();
    }
    for b in m
        .virtual_nodes
        .iter_mut()
        .flat_map(|n| &mut n.backends)
        .filter(|b| *b == old)
    {
        *b = new.to_owned();
    }
    for r in m
        .gateway
        .iter_mut()
        .flat_map(|g| &mut g.routes)
        .filter(|r| r.virtual_service == old)
    {
        r.virtual_service = new.to_owned();
    }
}

/// Adds a service with a sidecar and its virtual node, so a route can target one more node.
fn add_node(s: &mut StackSpec, name: &str) {
    let mut svc = plain_service(name);
    svc.app_mesh = Some(SidecarSpec::for_node(name));
    s.services.push(svc);
    let m = mesh(s);
    let mut node = m.virtual_nodes[0].clone();
    node.name = name.to_owned();
    node.service = name.to_owned();
    node.backends.clear();
    m.virtual_nodes.push(node);
}

fn target(node: &str, weight: u32) -> WeightedTargetSpec {
    WeightedTargetSpec {
        virtual_node: node.to_owned(),
        weight,
    }
}

// --- mesh and cluster ---

#[test]
fn mesh_on_a_service_connect_cluster() {
    check(
        |s| {
            s.cluster.discovery = DiscoverySpec::ServiceConnect {
                namespace: "bluegreen".to_owned(),
            }
        },
        &[(
            "mesh",
            "App Mesh virtual nodes need cluster.discovery of kind privateDns",
        )],
    );
}

#[test]
fn bad_app_mesh_names() {
    for name in ["my mesh", "mesh/1", ""] {
        let message = format!("`{name}` {APP_MESH_NAME_RULE}");
        check(
            |s| mesh(s).name = name.to_owned(),
            &[("mesh.name", &message)],
        );
    }
    let bad = "blue node";
    let message = format!("`{bad}` {APP_MESH_NAME_RULE}");
    check(
        |s| rename_node(s, "blue", bad),
        &[("mesh.virtualNodes[0].name", &message)],
    );
    check(
        |s| rename_router(s, "router", bad),
        &[("mesh.virtualRouters[0].name", &message)],
    );
    check(
        |s| route(s).name = bad.to_owned(),
        &[("mesh.virtualRouters[0].routes[0].name", &message)],
    );
    check(
        |s| rename_virtual_service(s, "router", bad),
        &[("mesh.virtualServices[2].name", &message)],
    );
    check(
        |s| gateway(s).routes[0].name = bad.to_owned(),
        &[("mesh.gateway.routes[0].name", &message)],
    );
    // The gateway is also an ECS service, so its name must follow both rules.
    check(
        |s| gateway(s).name = bad.to_owned(),
        &[
            ("mesh.gateway.name", &message),
            (
                "mesh.gateway.name",
                "`blue node` is not a valid ECS name: use 1-255 letters, digits, hyphens and underscores",
            ),
        ],
    );
}

#[test]
fn gateway_name_must_be_a_valid_ecs_name() {
    check(
        |s| gateway(s).name = "virtual.gateway".to_owned(),
        &[(
            "mesh.gateway.name",
            "`virtual.gateway` is not a valid ECS name: use 1-255 letters, digits, hyphens and underscores",
        )],
    );
}

#[test]
fn mesh_names_without_alphanumerics_for_logical_ids() {
    let message = format!("`--` {NO_LOGICAL_ID}");
    check(
        |s| rename_node(s, "blue", "--"),
        &[("mesh.virtualNodes[0].name", &message)],
    );
    check(
        |s| rename_router(s, "router", "--"),
        &[("mesh.virtualRouters[0].name", &message)],
    );
    check(
        |s| route(s).name = "--".to_owned(),
        &[("mesh.virtualRouters[0].routes[0].name", &message)],
    );
    check(
        |s| rename_virtual_service(s, "router", "--"),
        &[("mesh.virtualServices[2].name", &message)],
    );
    check(
        |s| gateway(s).name = "--".to_owned(),
        &[("mesh.gateway.name", &message)],
    );
    check(
        |s| gateway(s).routes[0].name = "--".to_owned(),
        &[("mesh.gateway.routes[0].name", &message)],
    );
}

// --- sidecars ---

#[test]
fn sidecar_names_a_missing_node() {
    // The node `blue` now has no sidecar pointing at it either: both ends are reported.
    check(
        |s| sidecar(s, 0).virtual_node = "purple".to_owned(),
        &[
            (
                "services[0].appMesh.virtualNode",
                "virtual node `purple` is not in mesh.virtualNodes",
            ),
            (
                "mesh.virtualNodes[0].service",
                "service `blue` has no appMesh sidecar for virtual node `blue`",
            ),
        ],
    );
    // Without any mesh, a sidecar has nothing to join.
    check_sc(
        |s| s.services[0].app_mesh = Some(SidecarSpec::for_node("blue")),
        &[(
            "services[0].appMesh.virtualNode",
            "virtual node `blue` is not in mesh.virtualNodes",
        )],
    );
}

#[test]
fn sidecar_ports_out_of_range() {
    for port in [0, 70_000] {
        let message = format!("port {port} is out of range 1-65535");
        check(
            |s| sidecar(s, 0).proxy_ingress_port = port,
            &[("services[0].appMesh.proxyIngressPort", &message)],
        );
        check(
            |s| sidecar(s, 0).proxy_egress_port = port,
            &[("services[0].appMesh.proxyEgressPort", &message)],
        );
        check(
            |s| sidecar(s, 1).admin_port = port,
            &[("services[1].appMesh.adminPort", &message)],
        );
    }
}

#[test]
fn sidecar_port_equal_to_app_port() {
    let message = "port 80 is also the app's container port";
    check(
        |s| sidecar(s, 0).proxy_ingress_port = 80,
        &[("services[0].appMesh.proxyIngressPort", message)],
    );
    check(
        |s| sidecar(s, 0).proxy_egress_port = 80,
        &[("services[0].appMesh.proxyEgressPort", message)],
    );
    check(
        |s| sidecar(s, 1).admin_port = 80,
        &[("services[1].appMesh.adminPort", message)],
    );
}

#[test]
fn sidecar_ignored_uid_out_of_range() {
    check(
        |s| sidecar(s, 0).ignored_uid = 0,
        &[(
            "services[0].appMesh.ignoredUid",
            "ignoredUid 0 is out of range 1-65535",
        )],
    );
}

#[test]
fn sidecar_bad_egress_ignored_ip() {
    check(
        |s| {
            sidecar(s, 0).egress_ignored_ips = vec![
                "169.254.170.2".into(),
                "169.254.169".into(),
                "fe80::1".into(),
            ]
        },
        &[
            (
                "services[0].appMesh.egressIgnoredIps[1]",
                "`169.254.169` is not an IPv4 address",
            ),
            (
                "services[0].appMesh.egressIgnoredIps[2]",
                "`fe80::1` is not an IPv4 address",
            ),
        ],
    );
}

#[test]
fn sidecar_bad_envoy_image() {
    check(
        |s| sidecar(s, 1).envoy_image = "envoy latest".to_owned(),
        &[(
            "services[1].appMesh.envoyImage",
            "`envoy latest` is not a valid image reference: 1-255 characters, no spaces",
        )],
    );
}

// --- virtual nodes ---

#[test]
fn node_whose_service_does_not_exist() {
    check(
        |s| mesh(s).virtual_nodes[0].service = "purple".to_owned(),
        &[(
            "mesh.virtualNodes[0].service",
            "service `purple` is not in this stack",
        )],
    );
}

#[test]
fn node_whose_service_has_no_sidecar() {
    // `blue` loses its sidecar entirely ...
    check(
        |s| s.services[0].app_mesh = None,
        &[(
            "mesh.virtualNodes[0].service",
            "service `blue` has no appMesh sidecar for virtual node `blue`",
        )],
    );
    // ... or the node names a service whose sidecar joins another node.
    check(
        |s| mesh(s).virtual_nodes[1].service = "blue".to_owned(),
        &[(
            "mesh.virtualNodes[1].service",
            "service `blue` has no appMesh sidecar for virtual node `green`",
        )],
    );
}

#[test]
fn node_port_differs_from_service_port() {
    check(
        |s| mesh(s).virtual_nodes[1].port = 8080,
        &[(
            "mesh.virtualNodes[1].port",
            "port 8080 differs from service `green`'s container port 80",
        )],
    );
}

#[test]
fn node_port_out_of_range() {
    for port in [0, 70_000] {
        let range = format!("port {port} is out of range 1-65535");
        let mismatch = format!("port {port} differs from service `blue`'s container port 80");
        check(
            |s| mesh(s).virtual_nodes[0].port = port,
            &[
                ("mesh.virtualNodes[0].port", &range),
                ("mesh.virtualNodes[0].port", &mismatch),
            ],
        );
    }
}

#[test]
fn node_bad_health_check() {
    check(
        |s| mesh(s).virtual_nodes[0].health_check_path = "health".to_owned(),
        &[(
            "mesh.virtualNodes[0].healthCheckPath",
            "`health` is not a valid path prefix: start with `/`, no spaces",
        )],
    );
    check(
        |s| mesh(s).virtual_nodes[0].health_check_interval_seconds = 4,
        &[(
            "mesh.virtualNodes[0].healthCheckIntervalSeconds",
            "health check interval 4 is out of range 5-300",
        )],
    );
}

#[test]
fn dangling_node_backend() {
    check(
        |s| {
            mesh(s).virtual_nodes[1]
                .backends
                .push("purple.bluegreen".to_owned())
        },
        &[(
            "mesh.virtualNodes[1].backends[1]",
            "virtual service `purple.bluegreen` is not in mesh.virtualServices",
        )],
    );
}

#[test]
fn duplicate_virtual_nodes() {
    check(
        |s| {
            let copy = mesh(s).virtual_nodes[0].clone();
            mesh(s).virtual_nodes.push(copy);
        },
        &[("mesh.virtualNodes[2].name", "duplicate virtual node `blue`")],
    );
}

// --- virtual routers and routes ---

#[test]
fn router_port_out_of_range() {
    for port in [0, 70_000] {
        let message = format!("port {port} is out of range 1-65535");
        check(
            |s| mesh(s).virtual_routers[0].port = port,
            &[("mesh.virtualRouters[0].port", &message)],
        );
    }
}

#[test]
fn router_without_routes() {
    check(
        |s| mesh(s).virtual_routers[0].routes.clear(),
        &[(
            "mesh.virtualRouters[0].routes",
            "a virtual router needs at least one route",
        )],
    );
}

#[test]
fn duplicate_virtual_routers() {
    check(
        |s| {
            let copy = mesh(s).virtual_routers[0].clone();
            mesh(s).virtual_routers.push(copy);
        },
        &[(
            "mesh.virtualRouters[1].name",
            "duplicate virtual router `router`",
        )],
    );
}

#[test]
fn duplicate_routes_within_a_router() {
    check(
        |s| {
            let mut copy = route(s).clone();
            copy.prefix = "/other".to_owned();
            mesh(s).virtual_routers[0].routes.push(copy);
        },
        &[(
            "mesh.virtualRouters[0].routes[1].name",
            "duplicate route `bluegreen`",
        )],
    );
    // Route names only need to be unique within their router.
    check(
        |s| {
            let mut other = mesh(s).virtual_routers[0].clone();
            other.name = "other".to_owned();
            mesh(s).virtual_routers.push(other);
        },
        &[],
    );
}

#[test]
fn bad_route_prefix() {
    check(
        |s| route(s).prefix = "/a b".to_owned(),
        &[(
            "mesh.virtualRouters[0].routes[0].prefix",
            "`/a b` is not a valid path prefix: start with `/`, no spaces",
        )],
    );
}

#[test]
fn dangling_route_target() {
    check(
        |s| route(s).targets[1].virtual_node = "purple".to_owned(),
        &[(
            "mesh.virtualRouters[0].routes[0].targets[1].virtualNode",
            "virtual node `purple` is not in mesh.virtualNodes",
        )],
    );
}

#[test]
fn route_weights_all_zero() {
    check(
        |s| route(s).targets = vec![target("blue", 0), target("green", 0)],
        &[(
            "mesh.virtualRouters[0].routes[0].targets",
            "every weight is 0: at least one target needs a positive weight",
        )],
    );
    // One zero weight is how a blue-green cut-over drains a colour: allowed.
    check(
        |s| route(s).targets = vec![target("blue", 0), target("green", 100)],
        &[],
    );
}

#[test]
fn route_weight_over_100() {
    check(
        |s| route(s).targets[0].weight = 101,
        &[(
            "mesh.virtualRouters[0].routes[0].targets[0].weight",
            "weight 101 is out of range 0-100",
        )],
    );
}

#[test]
fn route_without_targets() {
    check(
        |s| route(s).targets.clear(),
        &[(
            "mesh.virtualRouters[0].routes[0].targets",
            "a route needs 1-10 weighted targets, not 0",
        )],
    );
}

#[test]
fn route_with_too_many_targets() {
    let extra: Vec<String> = (1..=9).map(|i| format!("node{i}")).collect();
    let mut nodes = vec!["blue".to_owned(), "green".to_owned()];
    nodes.extend(extra.iter().cloned());
    check(
        |s| {
            for name in &extra {
                add_node(s, name);
            }
            route(s).targets = nodes.iter().map(|n| target(n, 1)).collect();
        },
        &[(
            "mesh.virtualRouters[0].routes[0].targets",
            "a route needs 1-10 weighted targets, not 11",
        )],
    );
    // Ten is the limit, not past it.
    check(
        |s| {
            for name in &extra {
                add_node(s, name);
            }
            route(s).targets = nodes[..10].iter().map(|n| target(n, 1)).collect();
        },
        &[],
    );
}

#[test]
fn duplicate_route_targets() {
    check(
        |s| route(s).targets[1].virtual_node = "blue".to_owned(),
        &[(
            "mesh.virtualRouters[0].routes[0].targets[1].virtualNode",
            "duplicate route target `blue`",
        )],
    );
}

// --- virtual services ---

#[test]
fn dangling_virtual_service_provider() {
    check(
        |s| mesh(s).virtual_services[0].provider = ProviderSpec::VirtualNode("purple".to_owned()),
        &[(
            "mesh.virtualServices[0].provider.virtualNode",
            "virtual node `purple` is not in mesh.virtualNodes",
        )],
    );
    check(
        |s| mesh(s).virtual_services[2].provider = ProviderSpec::VirtualRouter("purple".to_owned()),
        &[(
            "mesh.virtualServices[2].provider.virtualRouter",
            "virtual router `purple` is not in mesh.virtualRouters",
        )],
    );
}

#[test]
fn duplicate_virtual_services() {
    check(
        |s| {
            let copy = mesh(s).virtual_services[0].clone();
            mesh(s).virtual_services.push(copy);
        },
        &[(
            "mesh.virtualServices[3].name",
            "duplicate virtual service `blue.bluegreen`",
        )],
    );
}

// --- gateway ---

#[test]
fn gateway_ports_out_of_range() {
    for port in [0, 70_000] {
        let message = format!("port {port} is out of range 1-65535");
        check(
            |s| gateway(s).listener_port = port,
            &[("mesh.gateway.listenerPort", &message)],
        );
        check(
            |s| gateway(s).load_balancer_port = port,
            &[("mesh.gateway.loadBalancerPort", &message)],
        );
    }
}

#[test]
fn gateway_fargate_size_not_offered() {
    check(
        |s| gateway(s).memory_mib = 4096,
        &[(
            "mesh.gateway.memoryMib",
            "Fargate does not offer 4096 MiB with 256 CPU units: use 512 to 2048 MiB in steps of 512",
        )],
    );
    check(
        |s| gateway(s).cpu = 300,
        &[(
            "mesh.gateway.cpu",
            "Fargate does not offer 300 CPU units: use one of 256, 512, 1024, 2048, 4096, 8192, 16384",
        )],
    );
}

#[test]
fn gateway_health_check_interval_desired_count_and_image() {
    check(
        |s| gateway(s).health_check_interval_seconds = 301,
        &[(
            "mesh.gateway.healthCheckIntervalSeconds",
            "health check interval 301 is out of range 5-300",
        )],
    );
    check(
        |s| gateway(s).desired_count = 1001,
        &[(
            "mesh.gateway.desiredCount",
            "desiredCount 1001 is out of range 0-1000",
        )],
    );
    check(
        |s| gateway(s).envoy_image = String::new(),
        &[(
            "mesh.gateway.envoyImage",
            "`` is not a valid image reference: 1-255 characters, no spaces",
        )],
    );
}

#[test]
fn gateway_without_routes() {
    check(
        |s| gateway(s).routes.clear(),
        &[("mesh.gateway.routes", "a gateway needs at least one route")],
    );
}

#[test]
fn dangling_gateway_route_target() {
    check(
        |s| gateway(s).routes[0].virtual_service = "purple".to_owned(),
        &[(
            "mesh.gateway.routes[0].virtualService",
            "virtual service `purple` is not in mesh.virtualServices",
        )],
    );
}

#[test]
fn bad_gateway_route_prefix() {
    check(
        |s| gateway(s).routes[0].prefix = "all".to_owned(),
        &[(
            "mesh.gateway.routes[0].prefix",
            "`all` is not a valid path prefix: start with `/`, no spaces",
        )],
    );
}

fn gateway_route(name: &str, prefix: &str) -> GatewayRouteSpec {
    GatewayRouteSpec {
        name: name.to_owned(),
        prefix: prefix.to_owned(),
        virtual_service: "router".to_owned(),
    }
}

#[test]
fn duplicate_gateway_routes() {
    check(
        |s| gateway(s).routes.push(gateway_route("all", "/other")),
        &[(
            "mesh.gateway.routes[1].name",
            "duplicate gateway route `all`",
        )],
    );
}

#[test]
fn duplicate_gateway_route_prefixes() {
    check(
        |s| gateway(s).routes.push(gateway_route("other", "/")),
        &[(
            "mesh.gateway.routes[1].prefix",
            "duplicate gateway route prefix `/`",
        )],
    );
}

#[test]
fn sidecar_ports_collide_with_each_other() {
    check(
        |s| sidecar(s, 0).admin_port = 15000,
        &[(
            "services[0].appMesh.adminPort",
            "port 15000 is also the sidecar's proxyIngressPort",
        )],
    );
}

#[test]
fn sidecar_joins_a_node_owned_by_another_service() {
    check(
        |s| {
            let mut extra = s.services[1].clone();
            extra.name = "purple".to_owned();
            extra.backends.clear();
            extra.app_mesh.as_mut().unwrap().virtual_node = "blue".to_owned();
            s.services.push(extra);
        },
        &[(
            "services[2].appMesh.virtualNode",
            "virtual node `blue` belongs to service `blue`, not `purple`",
        )],
    );
}

#[test]
fn gateway_named_like_a_service() {
    check(
        |s| s.mesh.as_mut().unwrap().gateway.as_mut().unwrap().name = "blue".to_owned(),
        &[(
            "mesh.gateway.name",
            "`blue` is also a service name: the gateway runs as an ECS service of that name",
        )],
    );
}
