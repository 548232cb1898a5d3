//! App Mesh: each service's Envoy sidecar, the mesh's virtual nodes, routers, routes and
//! services, and its virtual gateway

use std::collections::BTreeSet;

use super::validator::Validator;
use crate::rules;
use crate::spec::*;

impl Validator {
    pub(super) fn sidecar(
        &mut self,
        p: &str,
        sc: &SidecarSpec,
        svc: &ServiceSpec,
        stack: &StackSpec,
    ) {
        let node_exists = stack
            .mesh
            .as_ref()
            .is_some_and(|m| m.virtual_nodes.iter().any(|n| n.name == sc.virtual_node));
        let node_service = stack
            .mesh
            .as_ref()
            .and_then(|m| m.virtual_nodes.iter().find(|n| n.name == sc.virtual_node))
            .map(|n| n.service.as_str());
        if !node_exists {
            self.err(
                format!("{p}.virtualNode"),
                format!(
                    "virtual node {} is not in mesh.virtualNodes",
                    rules::quote(&sc.virtual_node)
                ),
            );
        } else if node_service != Some(svc.name.as_str())
            && stack.services.iter().any(|other| {
                Some(other.name.as_str()) == node_service
                    && other.app_mesh.as_ref().map(|a| a.virtual_node.as_str())
                        == Some(sc.virtual_node.as_str())
            })
        {
            // Only when the node is properly owned by another service: a node pointing at a
            // missing or sidecar-less service is already reported at the node.
            self.err(
                format!("{p}.virtualNode"),
                format!(
                    "virtual node {} belongs to service {}, not {}",
                    rules::quote(&sc.virtual_node),
                    rules::quote(node_service.unwrap_or_default()),
                    rules::quote(&svc.name)
                ),
            );
        }
        self.check(format!("{p}.envoyImage"), rules::image_uri(&sc.envoy_image));
        self.check(
            format!("{p}.ignoredUid"),
            rules::range(sc.ignored_uid, 1, 65535, "ignoredUid"),
        );
        let ports = [
            ("proxyIngressPort", sc.proxy_ingress_port),
            ("proxyEgressPort", sc.proxy_egress_port),
            ("adminPort", sc.admin_port),
        ];
        for (i, (field, port)) in ports.iter().enumerate() {
            self.check(format!("{p}.{field}"), rules::port(*port));
            if *port == svc.port.container_port {
                self.err(
                    format!("{p}.{field}"),
                    format!("port {port} is also the app's container port"),
                );
            } else if let Some((other, _)) = ports[..i].iter().find(|(_, q)| q == port) {
                self.err(
                    format!("{p}.{field}"),
                    format!("port {port} is also the sidecar's {other}"),
                );
            }
        }
        for (i, ip) in sc.egress_ignored_ips.iter().enumerate() {
            if ip.parse::<core::net::Ipv4Addr>().is_err() {
                self.err(
                    format!("{p}.egressIgnoredIps[{i}]"),
                    format!("{} is not an IPv4 address", rules::quote(ip)),
                );
            }
        }
    }

    pub(super) fn mesh(&mut self, m: &MeshSpec, stack: &StackSpec) {
        if !matches!(stack.cluster.discovery, DiscoverySpec::PrivateDns { .. }) {
            self.err(
                "mesh",
                "App Mesh virtual nodes need cluster.discovery of kind privateDns",
            );
        }
        self.check("mesh.name", rules::app_mesh_name(&m.name));
        let nodes: BTreeSet<&str> = m.virtual_nodes.iter().map(|n| n.name.as_str()).collect();
        let routers: BTreeSet<&str> = m.virtual_routers.iter().map(|r| r.name.as_str()).collect();
        let vservices: BTreeSet<&str> =
            m.virtual_services.iter().map(|s| s.name.as_str()).collect();
        if let Some(g) = &m.gateway {
            self.gateway(g, &vservices);
            if stack.services.iter().any(|svc| svc.name == g.name) {
                self.err(
                    "mesh.gateway.name",
                    format!(
                        "{} is also a service name: the gateway runs as an ECS service of that name",
                        rules::quote(&g.name)
                    ),
                );
            }
        }

        for (i, n) in m.virtual_nodes.iter().enumerate() {
            self.virtual_node(&format!("mesh.virtualNodes[{i}]"), n, stack, &vservices);
        }
        self.unique(
            "virtual node",
            m.virtual_nodes
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("mesh.virtualNodes[{i}].name"), x.name.as_str())),
        );

        for (i, r) in m.virtual_routers.iter().enumerate() {
            self.virtual_router(&format!("mesh.virtualRouters[{i}]"), r, &nodes);
        }
        self.unique(
            "virtual router",
            m.virtual_routers
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("mesh.virtualRouters[{i}].name"), x.name.as_str())),
        );

        for (i, vs) in m.virtual_services.iter().enumerate() {
            self.virtual_service(&format!("mesh.virtualServices[{i}]"), vs, &nodes, &routers);
        }
        self.unique(
            "virtual service",
            m.virtual_services
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("mesh.virtualServices[{i}].name"), x.name.as_str())),
        );
    }

    fn virtual_node(
        &mut self,
        p: &str,
        n: &VirtualNodeSpec,
        stack: &StackSpec,
        vservices: &BTreeSet<&str>,
    ) {
        self.check(format!("{p}.name"), rules::app_mesh_name(&n.name));
        self.check(format!("{p}.name"), rules::logical_id_source(&n.name));
        let svc = stack.services.iter().find(|s| s.name == n.service);
        match svc {
            None => self.err(
                format!("{p}.service"),
                format!("service {} is not in this stack", rules::quote(&n.service)),
            ),
            Some(svc)
                if svc.app_mesh.as_ref().map(|a| a.virtual_node.as_str())
                    != Some(n.name.as_str()) =>
            {
                self.err(
                    format!("{p}.service"),
                    format!(
                        "service {} has no appMesh sidecar for virtual node {}",
                        rules::quote(&svc.name),
                        rules::quote(&n.name)
                    ),
                );
            }
            Some(_) => {}
        }
        self.check(format!("{p}.port"), rules::port(n.port));
        if let Some(svc) = svc
            && svc.port.container_port != n.port
        {
            self.err(
                format!("{p}.port"),
                format!(
                    "port {} differs from service {}'s container port {}",
                    n.port,
                    rules::quote(&svc.name),
                    svc.port.container_port
                ),
            );
        }
        self.check(
            format!("{p}.healthCheckPath"),
            rules::path_prefix(&n.health_check_path),
        );
        self.check(
            format!("{p}.healthCheckIntervalSeconds"),
            rules::range(
                n.health_check_interval_seconds,
                5,
                300,
                "health check interval",
            ),
        );
        for (j, b) in n.backends.iter().enumerate() {
            if !vservices.contains(b.as_str()) {
                self.err(
                    format!("{p}.backends[{j}]"),
                    format!(
                        "virtual service {} is not in mesh.virtualServices",
                        rules::quote(b)
                    ),
                );
            }
        }
    }

    fn virtual_router(&mut self, p: &str, r: &VirtualRouterSpec, nodes: &BTreeSet<&str>) {
        self.check(format!("{p}.name"), rules::app_mesh_name(&r.name));
        self.check(format!("{p}.name"), rules::logical_id_source(&r.name));
        self.check(format!("{p}.port"), rules::port(r.port));
        if r.routes.is_empty() {
            self.err(
                format!("{p}.routes"),
                "a virtual router needs at least one route",
            );
        }
        for (j, route) in r.routes.iter().enumerate() {
            self.route(&format!("{p}.routes[{j}]"), route, nodes);
        }
        self.unique(
            "route",
            r.routes
                .iter()
                .enumerate()
                .map(|(j, x)| (format!("{p}.routes[{j}].name"), x.name.as_str())),
        );
    }

    fn virtual_service(
        &mut self,
        p: &str,
        vs: &VirtualServiceSpec,
        nodes: &BTreeSet<&str>,
        routers: &BTreeSet<&str>,
    ) {
        self.check(format!("{p}.name"), rules::app_mesh_name(&vs.name));
        self.check(format!("{p}.name"), rules::logical_id_source(&vs.name));
        match &vs.provider {
            ProviderSpec::VirtualNode(n) if !nodes.contains(n.as_str()) => {
                self.err(
                    format!("{p}.provider.virtualNode"),
                    format!(
                        "virtual node {} is not in mesh.virtualNodes",
                        rules::quote(n)
                    ),
                );
            }
            ProviderSpec::VirtualRouter(r) if !routers.contains(r.as_str()) => {
                self.err(
                    format!("{p}.provider.virtualRouter"),
                    format!(
                        "virtual router {} is not in mesh.virtualRouters",
                        rules::quote(r)
                    ),
                );
            }
            _ => {}
        }
    }

    fn route(&mut self, p: &str, route: &RouteSpec, nodes: &BTreeSet<&str>) {
        self.check(format!("{p}.name"), rules::app_mesh_name(&route.name));
        self.check(format!("{p}.name"), rules::logical_id_source(&route.name));
        self.check(format!("{p}.prefix"), rules::path_prefix(&route.prefix));
        if !(1..=10).contains(&route.targets.len()) {
            self.err(
                format!("{p}.targets"),
                format!(
                    "a route needs 1-10 weighted targets, not {}",
                    route.targets.len()
                ),
            );
        }
        if !route.targets.is_empty() && route.targets.iter().all(|t| t.weight == 0) {
            self.err(
                format!("{p}.targets"),
                "every weight is 0: at least one target needs a positive weight",
            );
        }
        for (k, t) in route.targets.iter().enumerate() {
            let tp = format!("{p}.targets[{k}]");
            if !nodes.contains(t.virtual_node.as_str()) {
                self.err(
                    format!("{tp}.virtualNode"),
                    format!(
                        "virtual node {} is not in mesh.virtualNodes",
                        rules::quote(&t.virtual_node)
                    ),
                );
            }
            self.check(
                format!("{tp}.weight"),
                rules::range(t.weight, 0, 100, "weight"),
            );
        }
        self.unique(
            "route target",
            route.targets.iter().enumerate().map(|(k, t)| {
                (
                    format!("{p}.targets[{k}].virtualNode"),
                    t.virtual_node.as_str(),
                )
            }),
        );
    }

    fn gateway(&mut self, g: &GatewaySpec, vservices: &BTreeSet<&str>) {
        let p = "mesh.gateway";
        self.check(format!("{p}.name"), rules::app_mesh_name(&g.name));
        self.check(format!("{p}.name"), rules::ecs_name(&g.name));
        self.check(format!("{p}.name"), rules::logical_id_source(&g.name));
        self.check(format!("{p}.listenerPort"), rules::port(g.listener_port));
        self.check(
            format!("{p}.healthCheckIntervalSeconds"),
            rules::range(
                g.health_check_interval_seconds,
                5,
                300,
                "health check interval",
            ),
        );
        self.check(
            format!("{p}.loadBalancerPort"),
            rules::port(g.load_balancer_port),
        );
        self.check(format!("{p}.envoyImage"), rules::image_uri(&g.envoy_image));
        self.fargate(p, g.cpu, g.memory_mib);
        self.check(
            format!("{p}.desiredCount"),
            rules::range(g.desired_count, 0, 1000, "desiredCount"),
        );
        if g.routes.is_empty() {
            self.err(format!("{p}.routes"), "a gateway needs at least one route");
        }
        for (i, r) in g.routes.iter().enumerate() {
            let rp = format!("{p}.routes[{i}]");
            self.check(format!("{rp}.name"), rules::app_mesh_name(&r.name));
            self.check(format!("{rp}.name"), rules::logical_id_source(&r.name));
            self.check(format!("{rp}.prefix"), rules::path_prefix(&r.prefix));
            if !vservices.contains(r.virtual_service.as_str()) {
                self.err(
                    format!("{rp}.virtualService"),
                    format!(
                        "virtual service {} is not in mesh.virtualServices",
                        rules::quote(&r.virtual_service)
                    ),
                );
            }
        }
        self.unique(
            "gateway route",
            g.routes
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("{p}.routes[{i}].name"), x.name.as_str())),
        );
        self.unique(
            "gateway route prefix",
            g.routes
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("{p}.routes[{i}].prefix"), x.prefix.as_str())),
        );
    }
}
