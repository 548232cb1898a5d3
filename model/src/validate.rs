//! The one validating constructor: `StackSpec` in, `Stack` out, or every problem with its field path

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::cidr::Ipv4Cidr;
use crate::deployment::*;
use crate::rules;
use crate::spec::*;

/// One problem in a stack description, located by its field path (`services[1].port.name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a stack description, in field order (the order of the fields in the
/// spec types and in JSON); a duplicate name is reported at its second use, after its list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "stack description has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// Why a JSON stack description could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("stack description is not valid JSON for the model: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
}

/// Subnets of a VPC the stack creates, computed once during validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcLayout {
    pub cidr: Ipv4Cidr,
    /// One per AZ, in AZ order.
    pub public_subnets: Vec<Ipv4Cidr>,
    /// One per AZ when private subnets were asked for, else empty.
    pub private_subnets: Vec<Ipv4Cidr>,
    pub nat_gateways: u32,
}

/// A validated stack. The only way to get one is [`Stack::new`], so holding a `Stack` means every
/// reference resolves, every name follows AWS's rules and every size is one AWS offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    spec: StackSpec,
    vpc: Option<VpcLayout>,
}

impl Stack {
    /// Validates `spec`, reporting every problem at once.
    pub fn new(spec: StackSpec) -> Result<Stack, ValidationErrors> {
        let mut v = Validator::default();
        let vpc = v.stack(&spec);
        if v.errors.is_empty() {
            Ok(Stack { spec, vpc })
        } else {
            Err(ValidationErrors(v.errors))
        }
    }

    /// Parses and validates a JSON stack description.
    pub fn from_json(text: &str) -> Result<Stack, LoadError> {
        let spec: StackSpec = serde_json::from_str(text)?;
        Ok(Stack::new(spec)?)
    }

    pub fn spec(&self) -> &StackSpec {
        &self.spec
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The VPC layout when the stack creates its own VPC.
    pub fn vpc(&self) -> Option<&VpcLayout> {
        self.vpc.as_ref()
    }

    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.spec.services.iter().find(|s| s.name == name)
    }

    /// How `svc` (one of this stack's services) deploys, with ECS's defaults filled in.
    pub fn deployment(&self, svc: &ServiceSpec) -> Deployment {
        deployment_of(svc)
    }

    pub fn into_spec(self) -> StackSpec {
        self.spec
    }
}

fn deployment_of(svc: &ServiceSpec) -> Deployment {
    let test_traffic = svc
        .service_connect
        .as_ref()
        .map(|sc| TestTrafficRule::of(sc.test_traffic.as_ref()));
    Deployment::new(&svc.deployment, test_traffic)
}

#[derive(Default)]
struct Validator {
    errors: Vec<ValidationError>,
}

impl Validator {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn check(&mut self, path: impl Into<String>, result: Result<(), String>) {
        if let Err(message) = result {
            self.err(path, message);
        }
    }

    /// Reports a name used twice in one list, at the second use.
    fn unique<'a>(&mut self, what: &str, items: impl IntoIterator<Item = (String, &'a str)>) {
        let mut seen = BTreeSet::new();
        for (path, name) in items {
            if !seen.insert(name) {
                self.err(path, format!("duplicate {what} `{name}`"));
            }
        }
    }

    fn stack(&mut self, s: &StackSpec) -> Option<VpcLayout> {
        self.check("name", rules::stack_name(&s.name));
        if let Some(d) = &s.description
            && d.len() > 1024
        {
            self.err("description", "description is longer than 1024 characters");
        }
        let vpc = self.network(&s.network);
        self.cluster(&s.cluster);
        if s.services.is_empty() {
            self.err("services", "a stack needs at least one service");
        }
        let service_names: BTreeSet<&str> = s.services.iter().map(|x| x.name.as_str()).collect();
        for (i, svc) in s.services.iter().enumerate() {
            self.service(&format!("services[{i}]"), svc, s, &service_names);
        }
        self.unique(
            "service name",
            s.services
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("services[{i}].name"), x.name.as_str())),
        );
        self.unique(
            "Service Connect discovery name",
            s.services.iter().enumerate().filter_map(|(i, x)| {
                x.service_connect.as_ref().map(|sc| {
                    (
                        format!("services[{i}].serviceConnect.discoveryName"),
                        sc.discovery_name.as_str(),
                    )
                })
            }),
        );
        let aliases: Vec<(String, String)> = s
            .services
            .iter()
            .enumerate()
            .filter_map(|(i, x)| {
                let sc = x.service_connect.as_ref()?;
                // A duplicate discovery name is reported once, at the discovery name.
                let repeats_discovery = s.services[..i].iter().any(|earlier| {
                    earlier.service_connect.as_ref().map(|e| &e.discovery_name)
                        == Some(&sc.discovery_name)
                });
                if sc.dns_name.is_none() && repeats_discovery {
                    return None;
                }
                let dns = sc.dns_name.clone().unwrap_or_else(|| {
                    format!("{}.{}", sc.discovery_name, s.cluster.discovery.namespace())
                });
                Some((
                    format!("services[{i}].serviceConnect"),
                    format!("{dns}:{}", sc.client_alias_port),
                ))
            })
            .collect();
        self.unique(
            "Service Connect client alias",
            aliases.iter().map(|(p, a)| (p.clone(), a.as_str())),
        );
        if let Some(mesh) = &s.mesh {
            self.mesh(mesh, s);
        }
        if let Some(bg) = &s.blue_green {
            self.blue_green(bg, &service_names);
        }
        if !rules::LOG_RETENTION_DAYS.contains(&s.logs.retention_days) {
            self.err(
                "logs.retentionDays",
                format!(
                    "CloudWatch Logs does not accept {} days: use one of {}",
                    s.logs.retention_days,
                    rules::LOG_RETENTION_DAYS
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        vpc
    }

    fn network(&mut self, n: &NetworkSpec) -> Option<VpcLayout> {
        match n {
            NetworkSpec::NewVpc {
                cidr,
                az_count,
                private_subnets,
                nat_gateways,
            } => {
                let parsed = match Ipv4Cidr::parse(cidr) {
                    Ok(c) if !(16..=28).contains(&c.prefix()) => {
                        self.err(
                            "network.cidr",
                            format!("VPC CIDR `{cidr}` must have a prefix length of 16 to 28"),
                        );
                        None
                    }
                    Ok(c) => Some(c),
                    Err(m) => {
                        self.err("network.cidr", m);
                        None
                    }
                };
                let azs_ok = (1..=6).contains(az_count);
                if !azs_ok {
                    self.err(
                        "network.azCount",
                        format!("azCount {az_count} is out of range 1-6"),
                    );
                }
                let nats_ok = match (*private_subnets, *nat_gateways) {
                    (false, 0) => true,
                    (false, _) => {
                        self.err(
                            "network.natGateways",
                            "NAT gateways need private subnets: set privateSubnets or use 0",
                        );
                        false
                    }
                    (true, 0) => {
                        self.err(
                            "network.natGateways",
                            "private subnets need at least one NAT gateway, or tasks cannot pull images",
                        );
                        false
                    }
                    (true, n) if n > *az_count => {
                        self.err(
                            "network.natGateways",
                            format!("{n} NAT gateways for {az_count} AZs: use at most one per AZ"),
                        );
                        false
                    }
                    (true, _) => true,
                };
                let cidr = parsed?;
                if !azs_ok || !nats_ok {
                    return None;
                }
                let count = az_count * if *private_subnets { 2 } else { 1 };
                let Some(mut subnets) = cidr.split(count, 28) else {
                    self.err(
                        "network.cidr",
                        format!(
                            "VPC CIDR `{cidr}` is too small for {count} subnets of at least /28"
                        ),
                    );
                    return None;
                };
                let private = subnets.split_off(*az_count as usize);
                Some(VpcLayout {
                    cidr,
                    public_subnets: subnets,
                    private_subnets: private,
                    nat_gateways: *nat_gateways,
                })
            }
            NetworkSpec::ExistingVpc {
                vpc_id, subnet_ids, ..
            } => {
                self.check("network.vpcId", rules::vpc_id(vpc_id));
                if subnet_ids.is_empty() {
                    self.err(
                        "network.subnetIds",
                        "an existing VPC needs at least one subnet id",
                    );
                }
                for (i, id) in subnet_ids.iter().enumerate() {
                    self.check(format!("network.subnetIds[{i}]"), rules::subnet_id(id));
                }
                self.unique(
                    "subnet id",
                    subnet_ids
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (format!("network.subnetIds[{i}]"), x.as_str())),
                );
                None
            }
        }
    }

    fn cluster(&mut self, c: &ClusterSpec) {
        self.check("cluster.name", rules::ecs_name(&c.name));
        self.check(
            "cluster.discovery.namespace",
            rules::dns_name(c.discovery.namespace()),
        );
    }

    fn service(&mut self, p: &str, svc: &ServiceSpec, stack: &StackSpec, names: &BTreeSet<&str>) {
        self.check(format!("{p}.name"), rules::ecs_name(&svc.name));
        self.check(format!("{p}.name"), rules::logical_id_source(&svc.name));
        if let DiscoverySpec::PrivateDns { .. } = stack.cluster.discovery {
            self.check(
                format!("{p}.name"),
                rules::cloud_map_service_name(&svc.name),
            );
        }
        if let ImageSpec::Uri { uri } = &svc.image {
            self.check(format!("{p}.image.uri"), rules::image_uri(uri));
        }
        if svc.version.is_empty() || svc.version.len() > 128 {
            self.err(format!("{p}.version"), "version must be 1-128 characters");
        }
        self.check(
            format!("{p}.port.containerPort"),
            rules::port(svc.port.container_port),
        );
        self.check(
            format!("{p}.port.name"),
            rules::service_connect_name(&svc.port.name),
        );
        for key in svc.environment.keys() {
            let path = format!("{p}.environment.{key}");
            self.check(path.clone(), rules::env_var_name(key));
            if RESERVED_ENV.contains(&key.as_str()) {
                self.err(
                    path,
                    format!("`{key}` is set from the model and cannot be overridden"),
                );
            }
        }
        self.fargate(p, svc.cpu, svc.memory_mib);
        self.check(
            format!("{p}.desiredCount"),
            rules::range(svc.desired_count, 0, 1000, "desiredCount"),
        );
        if let Some(hc) = &svc.health_check {
            self.health_check(&format!("{p}.healthCheck"), hc);
        }
        match (&svc.service_connect, &stack.cluster.discovery) {
            (Some(sc), DiscoverySpec::ServiceConnect { .. }) => {
                let sp = format!("{p}.serviceConnect");
                self.check(
                    format!("{sp}.discoveryName"),
                    rules::service_connect_name(&sc.discovery_name),
                );
                self.check(
                    format!("{sp}.clientAliasPort"),
                    rules::port(sc.client_alias_port),
                );
                if let Some(dns) = &sc.dns_name {
                    self.check(format!("{sp}.dnsName"), rules::dns_name(dns));
                }
            }
            (Some(_), DiscoverySpec::PrivateDns { .. }) => self.err(
                format!("{p}.serviceConnect"),
                "Service Connect needs cluster.discovery of kind serviceConnect",
            ),
            (None, _) => {}
        }
        if let Some(sidecar) = &svc.app_mesh {
            self.sidecar(&format!("{p}.appMesh"), sidecar, svc, stack);
        }
        for (j, b) in svc.backends.iter().enumerate() {
            let bp = format!("{p}.backends[{j}]");
            if b == &svc.name {
                self.err(bp, format!("service `{b}` cannot be its own backend"));
            } else if !names.contains(b.as_str()) {
                self.err(bp, format!("backend `{b}` is not a service in this stack"));
            }
        }
    }

    /// Blames `cpu` when Fargate has no such CPU size, else `memoryMib` when the pair is not offered.
    fn fargate(&mut self, p: &str, cpu: u32, memory_mib: u32) {
        match rules::fargate_cpu(cpu) {
            Err(message) => self.err(format!("{p}.cpu"), message),
            Ok(()) => self.check(
                format!("{p}.memoryMib"),
                rules::fargate_size(cpu, memory_mib),
            ),
        }
    }

    fn health_check(&mut self, p: &str, hc: &HealthCheckSpec) {
        match hc.command.first().map(String::as_str) {
            Some("CMD" | "CMD-SHELL") if hc.command.len() > 1 => {}
            _ => self.err(
                format!("{p}.command"),
                "command must be [\"CMD\", program, args...] or [\"CMD-SHELL\", script]",
            ),
        }
        self.check(
            format!("{p}.intervalSeconds"),
            rules::range(hc.interval_seconds, 5, 300, "interval"),
        );
        self.check(
            format!("{p}.timeoutSeconds"),
            rules::range(hc.timeout_seconds, 2, 120, "timeout"),
        );
        self.check(
            format!("{p}.retries"),
            rules::range(hc.retries, 1, 10, "retries"),
        );
        self.check(
            format!("{p}.startPeriodSeconds"),
            rules::range(hc.start_period_seconds, 0, 300, "start period"),
        );
    }

    fn sidecar(&mut self, p: &str, sc: &SidecarSpec, svc: &ServiceSpec, stack: &StackSpec) {
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
                    "virtual node `{}` is not in mesh.virtualNodes",
                    sc.virtual_node
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
                    "virtual node `{}` belongs to service `{}`, not `{}`",
                    sc.virtual_node,
                    node_service.unwrap_or_default(),
                    svc.name
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
                    format!("`{ip}` is not an IPv4 address"),
                );
            }
        }
    }

    fn mesh(&mut self, m: &MeshSpec, stack: &StackSpec) {
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
                        "`{}` is also a service name: the gateway runs as an ECS service of that name",
                        g.name
                    ),
                );
            }
        }

        for (i, n) in m.virtual_nodes.iter().enumerate() {
            let p = format!("mesh.virtualNodes[{i}]");
            self.check(format!("{p}.name"), rules::app_mesh_name(&n.name));
            self.check(format!("{p}.name"), rules::logical_id_source(&n.name));
            let svc = stack.services.iter().find(|s| s.name == n.service);
            match svc {
                None => self.err(
                    format!("{p}.service"),
                    format!("service `{}` is not in this stack", n.service),
                ),
                Some(svc)
                    if svc.app_mesh.as_ref().map(|a| a.virtual_node.as_str())
                        != Some(n.name.as_str()) =>
                {
                    self.err(
                        format!("{p}.service"),
                        format!(
                            "service `{}` has no appMesh sidecar for virtual node `{}`",
                            svc.name, n.name
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
                        "port {} differs from service `{}`'s container port {}",
                        n.port, svc.name, svc.port.container_port
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
                        format!("virtual service `{b}` is not in mesh.virtualServices"),
                    );
                }
            }
        }
        self.unique(
            "virtual node",
            m.virtual_nodes
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("mesh.virtualNodes[{i}].name"), x.name.as_str())),
        );

        for (i, r) in m.virtual_routers.iter().enumerate() {
            let p = format!("mesh.virtualRouters[{i}]");
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
                self.route(&format!("{p}.routes[{j}]"), route, &nodes);
            }
            self.unique(
                "route",
                r.routes
                    .iter()
                    .enumerate()
                    .map(|(j, x)| (format!("{p}.routes[{j}].name"), x.name.as_str())),
            );
        }
        self.unique(
            "virtual router",
            m.virtual_routers
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("mesh.virtualRouters[{i}].name"), x.name.as_str())),
        );

        for (i, vs) in m.virtual_services.iter().enumerate() {
            let p = format!("mesh.virtualServices[{i}]");
            self.check(format!("{p}.name"), rules::app_mesh_name(&vs.name));
            self.check(format!("{p}.name"), rules::logical_id_source(&vs.name));
            match &vs.provider {
                ProviderSpec::VirtualNode(n) if !nodes.contains(n.as_str()) => {
                    self.err(
                        format!("{p}.provider.virtualNode"),
                        format!("virtual node `{n}` is not in mesh.virtualNodes"),
                    );
                }
                ProviderSpec::VirtualRouter(r) if !routers.contains(r.as_str()) => {
                    self.err(
                        format!("{p}.provider.virtualRouter"),
                        format!("virtual router `{r}` is not in mesh.virtualRouters"),
                    );
                }
                _ => {}
            }
        }
        self.unique(
            "virtual service",
            m.virtual_services
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("mesh.virtualServices[{i}].name"), x.name.as_str())),
        );
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
                        "virtual node `{}` is not in mesh.virtualNodes",
                        t.virtual_node
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
                        "virtual service `{}` is not in mesh.virtualServices",
                        r.virtual_service
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

    fn blue_green(&mut self, bg: &BlueGreenSpec, services: &BTreeSet<&str>) {
        for (field, name) in [
            ("blueService", &bg.blue_service),
            ("greenService", &bg.green_service),
        ] {
            if !services.contains(name.as_str()) {
                self.err(
                    format!("blueGreen.{field}"),
                    format!("service `{name}` is not in this stack"),
                );
            }
        }
        if bg.blue_service == bg.green_service {
            self.err(
                "blueGreen.greenService",
                "blue and green must be different services",
            );
        }
        self.check(
            "blueGreen.stateParameter",
            rules::ssm_parameter_name(&bg.state_parameter),
        );
        if serde_json::from_str::<serde_json::Value>(&bg.state_json).is_err() {
            self.err("blueGreen.stateJson", "state is not valid JSON");
        } else if bg.state_json.len() > 4096 {
            self.err(
                "blueGreen.stateJson",
                "state is larger than the 4096 bytes a standard SSM parameter holds",
            );
        }
    }
}

/// Environment variables the renderer sets from the model (the demo-app contract).
pub const RESERVED_ENV: &[&str] = &[
    "SERVICE_NAME",
    "SERVICE_VERSION",
    "SERVICE_PORT",
    "SERVICE_NAMESPACE",
];

/// Environment variables of a service's app container, as the model defines them: the
/// `SERVICE_*` contract first, then the user's extra variables, all sorted by name.
pub fn app_environment(stack: &Stack, svc: &ServiceSpec) -> BTreeMap<String, String> {
    let mut env = svc.environment.clone();
    env.insert("SERVICE_NAME".into(), svc.name.clone());
    env.insert("SERVICE_VERSION".into(), svc.version.clone());
    env.insert("SERVICE_PORT".into(), svc.port.container_port.to_string());
    env.insert(
        "SERVICE_NAMESPACE".into(),
        stack.spec().cluster.discovery.namespace().to_owned(),
    );
    env
}
