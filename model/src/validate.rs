//! The one validating constructor: `StackSpec` in, `Stack` out, or every problem with its field path

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::cidr::Ipv4Cidr;
use crate::deployment::*;
use crate::json::JsonError;
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
    Json(#[from] JsonError),
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
        Ok(Stack::new(StackSpec::from_json(text)?)?)
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

    /// The metrics `svc`'s error-rate alarm reads (its callers in the stack's order and their
    /// count); `None` without Service Connect. Validated to fit CloudWatch's limit.
    pub fn error_rate_metrics<'a>(
        &'a self,
        svc: &'a ServiceSpec,
    ) -> Option<crate::alarm::ErrorRateMetrics<'a>> {
        crate::alarm::error_rate_metrics(&self.spec, svc)
    }

    pub fn into_spec(self) -> StackSpec {
        self.spec
    }

    /// The blue-green pair and its state parameter when this stack keeps a blue-green state:
    /// the one place that decides whether a deploy reads and writes one.
    pub fn blue_green(&self) -> Option<&BlueGreenSpec> {
        self.spec.blue_green.as_ref()
    }

    /// This stack with its blue-green colours at `versions` and `state_json` as the state the
    /// stack writes, validated again (a version is free text until then). `None` when the stack
    /// keeps no blue-green state.
    pub fn with_blue_green(
        &self,
        versions: &BlueGreenVersions,
    ) -> Option<Result<Stack, ValidationErrors>> {
        let pair = self.blue_green()?;
        let mut spec = self.spec.clone();
        for svc in &mut spec.services {
            if svc.name == pair.blue_service {
                svc.version = versions.blue.to_string();
            } else if svc.name == pair.green_service {
                svc.version = versions.green.to_string();
            }
        }
        if let Some(bg) = &mut spec.blue_green {
            bg.state_json = versions.state_json.clone();
        }
        Some(Stack::new(spec))
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
                self.err(path, format!("duplicate {what} {}", rules::quote(name)));
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
        if let Some(alb) = &s.alb_gateway {
            self.alb_gateway(alb, s);
        }
        self.encryption_and_access_logs(s);
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
            } => self.new_vpc(cidr, *az_count, *private_subnets, *nat_gateways),
            NetworkSpec::ExistingVpc {
                vpc_id, subnet_ids, ..
            } => {
                self.existing_vpc(vpc_id, subnet_ids);
                None
            }
        }
    }

    /// The subnets of a VPC the stack creates, when its CIDR, AZ count and NAT gateways agree.
    fn new_vpc(
        &mut self,
        cidr: &str,
        az_count: u32,
        private_subnets: bool,
        nat_gateways: u32,
    ) -> Option<VpcLayout> {
        let parsed = self.vpc_cidr(cidr);
        let azs_ok = (1..=6).contains(&az_count);
        if !azs_ok {
            self.err(
                "network.azCount",
                format!("azCount {az_count} is out of range 1-6"),
            );
        }
        let nats_ok = self.nat_gateways(az_count, private_subnets, nat_gateways);
        let cidr = parsed?;
        if !azs_ok || !nats_ok {
            return None;
        }
        let count = az_count * if private_subnets { 2 } else { 1 };
        let Some(mut subnets) = cidr.split(count, 28) else {
            self.err(
                "network.cidr",
                format!("VPC CIDR `{cidr}` is too small for {count} subnets of at least /28"),
            );
            return None;
        };
        let private = subnets.split_off(az_count as usize);
        Some(VpcLayout {
            cidr,
            public_subnets: subnets,
            private_subnets: private,
            nat_gateways,
        })
    }

    fn vpc_cidr(&mut self, cidr: &str) -> Option<Ipv4Cidr> {
        match Ipv4Cidr::parse(cidr) {
            Ok(c) if !(16..=28).contains(&c.prefix()) => {
                self.err(
                    "network.cidr",
                    format!(
                        "VPC CIDR {} must have a prefix length of 16 to 28",
                        rules::quote(cidr)
                    ),
                );
                None
            }
            Ok(c) => Some(c),
            Err(m) => {
                self.err("network.cidr", m);
                None
            }
        }
    }

    /// Whether the NAT gateway count fits the private subnets and the AZs.
    fn nat_gateways(&mut self, az_count: u32, private_subnets: bool, nat_gateways: u32) -> bool {
        match (private_subnets, nat_gateways) {
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
            (true, n) if n > az_count => {
                self.err(
                    "network.natGateways",
                    format!("{n} NAT gateways for {az_count} AZs: use at most one per AZ"),
                );
                false
            }
            (true, _) => true,
        }
    }

    fn existing_vpc(&mut self, vpc_id: &str, subnet_ids: &[String]) {
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
                    format!(
                        "{} is set from the model and cannot be overridden",
                        rules::quote(key)
                    ),
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
                if let Some(t) = &sc.test_traffic {
                    let tp = format!("{sp}.testTraffic");
                    self.check(format!("{tp}.header"), rules::http_header_name(&t.header));
                    self.check(format!("{tp}.value"), rules::http_header_value(&t.value));
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
                self.err(
                    bp,
                    format!("service {} cannot be its own backend", rules::quote(b)),
                );
            } else if !names.contains(b.as_str()) {
                self.err(
                    bp,
                    format!("backend {} is not a service in this stack", rules::quote(b)),
                );
            }
        }
        self.deployment(p, svc, stack);
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

    fn blue_green(&mut self, bg: &BlueGreenSpec, services: &BTreeSet<&str>) {
        for (field, name) in [
            ("blueService", &bg.blue_service),
            ("greenService", &bg.green_service),
        ] {
            if !services.contains(name.as_str()) {
                self.err(
                    format!("blueGreen.{field}"),
                    format!("service {} is not in this stack", rules::quote(name)),
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
    /// `services[i].deployment` (`sp` is the service's path): the strategy and its
    /// configuration, alarms and hooks.
    fn deployment(&mut self, sp: &str, svc: &ServiceSpec, stack: &StackSpec) {
        let p = &format!("{sp}.deployment");
        let d = &svc.deployment;
        let kind = d.strategy;
        if kind.is_native_shift() && d.controller != DeploymentController::Ecs {
            self.err(
                format!("{p}.controller"),
                format!(
                    "strategy {} needs controller ECS, not {}",
                    kind.as_str(),
                    d.controller.as_str()
                ),
            );
        }
        if kind.is_native_shift() {
            self.traffic_path(sp, svc, stack);
        }
        let config_ok = self.strategy_config(p, d);
        let bakes_ok = config_ok && self.strategy_duration(p, d);
        if let Some(alarms) = &d.alarms {
            self.alarms(&format!("{p}.alarms"), alarms, svc, stack);
        }
        if !d.lifecycle_hooks.is_empty() && !kind.is_native_shift() {
            self.err(
                format!("{p}.lifecycleHooks"),
                format!(
                    "lifecycle hooks need a BLUE_GREEN, LINEAR or CANARY strategy, not {}",
                    kind.as_str()
                ),
            );
        }
        let errors = self.errors.len();
        for (k, hook) in d.lifecycle_hooks.iter().enumerate() {
            self.hook(&format!("{p}.lifecycleHooks[{k}]"), hook);
        }
        // An out-of-range bake or timeout is reported once, where it is.
        if bakes_ok && self.errors.len() == errors && kind.is_native_shift() {
            self.hook_waits(p, d);
        }
    }

    /// A traffic-shifting strategy moves traffic in the callers' Service Connect proxies, per
    /// request only on an HTTP port.
    fn traffic_path(&mut self, sp: &str, svc: &ServiceSpec, stack: &StackSpec) {
        let p = &format!("{sp}.deployment");
        let strategy = svc.deployment.strategy.as_str();
        if svc.service_connect.is_some() && svc.port.app_protocol.is_none() {
            // Without an HTTP appProtocol Service Connect proxies TCP and balances connections,
            // not requests (aws/containers-roadmap#2343; ECS PortMapping.appProtocol: "If you
            // don't set a value for this parameter, then TCP is used").
            self.err(
                format!("{sp}.port.appProtocol"),
                format!(
                    "strategy {strategy} shifts a share of requests, but without an appProtocol Service Connect balances connections, not requests, so step percentages and test traffic headers would not hold: set appProtocol to http, http2 or grpc, or deploy ROLLING"
                ),
            );
        }
        if svc.service_connect.is_none() {
            let why = if svc.app_mesh.is_some() {
                ", not an App Mesh sidecar: move the service to serviceConnect"
            } else {
                ": give the service serviceConnect"
            };
            self.err(
                format!("{p}.strategy"),
                format!("strategy {strategy} shifts traffic through Service Connect{why}"),
            );
        }
        let alb_rule = stack
            .alb_gateway
            .iter()
            .flat_map(|g| g.rules.iter().enumerate())
            .find(|(_, r)| r.targets.iter().any(|t| t.service == svc.name));
        if let Some((i, _)) = alb_rule {
            self.err(
                format!("{p}.strategy"),
                format!(
                    "strategy {strategy} is not supported for a service the ALB gateway forwards to (albGateway.rules[{i}]): \
                     ALB-based blue/green needs alternate target groups and an infrastructure role this tool does not render yet; \
                     deploy it ROLLING, or put a Service Connect service in front of it"
                ),
            );
        }
    }

    /// The linear and canary configurations and the bake times; false when a value is out of
    /// range (the duration check would only repeat it).
    fn strategy_config(&mut self, p: &str, d: &DeploymentSpec) -> bool {
        let errors = self.errors.len();
        if let Some(m) = d.bake_time_minutes {
            self.check(
                format!("{p}.bakeTimeMinutes"),
                rules::range(m, 0, 1440, "bakeTimeMinutes"),
            );
        }
        if let Some(l) = &d.linear {
            if d.strategy != StrategyKind::Linear {
                self.err(
                    format!("{p}.linear"),
                    format!(
                        "a linear configuration needs strategy LINEAR, not {}",
                        d.strategy.as_str()
                    ),
                );
            }
            self.check(
                format!("{p}.linear.stepPercent"),
                percent_range(l.step_percent, Percent::whole(3), "stepPercent"),
            );
            self.check(
                format!("{p}.linear.stepBakeTimeMinutes"),
                rules::range(l.step_bake_time_minutes, 0, 1440, "stepBakeTimeMinutes"),
            );
        }
        if let Some(c) = &d.canary {
            if d.strategy != StrategyKind::Canary {
                self.err(
                    format!("{p}.canary"),
                    format!(
                        "a canary configuration needs strategy CANARY, not {}",
                        d.strategy.as_str()
                    ),
                );
            }
            self.check(
                format!("{p}.canary.canaryPercent"),
                percent_range(c.canary_percent, Percent::from_tenths(1), "canaryPercent"),
            );
            self.check(
                format!("{p}.canary.canaryBakeTimeMinutes"),
                rules::range(c.canary_bake_time_minutes, 0, 1440, "canaryBakeTimeMinutes"),
            );
        }
        self.errors.len() == errors
    }

    /// CloudFormation's 33-hour rule (SPEC §10); false when the bakes break it.
    fn strategy_duration(&mut self, p: &str, d: &DeploymentSpec) -> bool {
        let deployment = Deployment::new(d, None);
        let total = deployment.total_minutes();
        if total <= MAX_STRATEGY_MINUTES {
            return true;
        }
        let bake = deployment.bake_minutes.unwrap_or(0);
        let detail = match deployment.strategy {
            Strategy::Linear {
                step_bake_minutes, ..
            } => {
                let steps = deployment.traffic_steps().len() - 1;
                format!("bake {bake} + {steps} steps x {step_bake_minutes}")
            }
            Strategy::Canary { bake_minutes, .. } => {
                format!("bake {bake} + canary bake {bake_minutes}")
            }
            Strategy::Rolling | Strategy::BlueGreen => format!("bake {bake}"),
        };
        self.err(
            p,
            format!(
                "the strategy takes {total} minutes ({detail}), over CloudFormation's 33-hour limit of {MAX_STRATEGY_MINUTES}: shorten the bakes or take larger steps"
            ),
        );
        false
    }

    /// CloudFormation's 36-hour operation limit on the bakes plus every hook waiting out its
    /// timeout each time it runs: a deployment that can outlast it fails the stack update.
    fn hook_waits(&mut self, p: &str, d: &DeploymentSpec) {
        let worst = Deployment::new(d, None).worst_case();
        let total = worst.total_minutes();
        if worst.hooks.is_empty() || total <= MAX_OPERATION_MINUTES {
            return;
        }
        let hooks: Vec<String> = worst.hooks.iter().map(ToString::to_string).collect();
        self.err(
            format!("{p}.lifecycleHooks"),
            format!(
                "the deployment can take {total} minutes (bakes {} + {}), over CloudFormation's 36-hour operation limit of {MAX_OPERATION_MINUTES}: set lifecycleHooks[k].timeout.minutes, use fewer hook stages, or shorten the bakes",
                worst.bake_minutes,
                hooks.join(" + ")
            ),
        );
    }

    fn alarms(&mut self, p: &str, a: &AlarmsSpec, svc: &ServiceSpec, stack: &StackSpec) {
        if a.names.is_empty() && a.error_rate.is_none() {
            self.err(
                p,
                "alarms need names or an errorRate alarm: add one or remove alarms",
            );
        }
        for (k, name) in a.names.iter().enumerate() {
            self.check(format!("{p}.names[{k}]"), rules::alarm_name(name));
        }
        self.unique(
            "alarm name",
            a.names
                .iter()
                .enumerate()
                .map(|(k, n)| (format!("{p}.names[{k}]"), n.as_str())),
        );
        let Some(e) = &a.error_rate else { return };
        let ep = format!("{p}.errorRate");
        if svc.service_connect.is_none() {
            self.err(
                ep.as_str(),
                "the errorRate alarm reads the service's Service Connect metrics: give the service serviceConnect, or list existing alarms in names",
            );
        }
        self.check(
            format!("{ep}.thresholdPercent"),
            percent_range(
                e.threshold_percent,
                Percent::from_tenths(1),
                "thresholdPercent",
            ),
        );
        self.check(
            format!("{ep}.periodSeconds"),
            rules::alarm_period(e.period_seconds),
        );
        if e.evaluation_periods == 0 {
            self.err(
                format!("{ep}.evaluationPeriods"),
                "evaluationPeriods must be at least 1",
            );
        }
        if let Some(d) = e.datapoints_to_alarm {
            self.check(
                format!("{ep}.datapointsToAlarm"),
                rules::range(d, 1, e.evaluation_periods.max(1), "datapointsToAlarm"),
            );
        }
        if rules::alarm_period(e.period_seconds).is_ok()
            && let Err(limit) =
                crate::alarm::evaluation_range_limit(e.period_seconds, e.evaluation_periods)
        {
            let range = u64::from(e.period_seconds) * u64::from(e.evaluation_periods);
            let which = if limit == crate::alarm::MAX_EVALUATION_SECONDS {
                "7 days"
            } else {
                "one day, for periods under an hour"
            };
            self.err(
                format!("{ep}.evaluationPeriods"),
                format!(
                    "{} periods of {} s evaluate {range} s, over CloudWatch's limit of {limit} s ({which}): use fewer evaluation periods",
                    e.evaluation_periods, e.period_seconds
                ),
            );
        }
        self.alarm_metrics(&ep, svc, stack);
    }

    /// The error-rate alarm reads HTTP response counts per caller: Service Connect publishes them
    /// only for an HTTP appProtocol, and CloudWatch lets one alarm reference 10 metrics.
    fn alarm_metrics(&mut self, ep: &str, svc: &ServiceSpec, stack: &StackSpec) {
        let Some(metrics) = crate::alarm::error_rate_metrics(stack, svc) else {
            return;
        };
        // A traffic-shifting service without one is refused at port.appProtocol already.
        if svc.port.app_protocol.is_none() && !svc.deployment.strategy.is_native_shift() {
            // ECS PortMapping.appProtocol: "Amazon ECS doesn't add protocol-specific telemetry
            // for TCP".
            self.err(
                ep,
                "the errorRate alarm reads HTTP response counts, which Service Connect publishes only for a port with an appProtocol: set port.appProtocol to http, http2 or grpc, or list existing alarms in names",
            );
        }
        let count = metrics.metric_count();
        if count > crate::alarm::MAX_ALARM_METRICS {
            let callers: Vec<String> = metrics.callers.iter().map(|c| rules::quote(c)).collect();
            self.err(
                ep,
                format!(
                    "the errorRate alarm of {} would read {count} metrics ({} response counts for each of its {} callers {}), over CloudWatch's limit of {} per metric math alarm: let at most {} services call it, or list an existing alarm in names instead",
                    rules::quote(&svc.name),
                    crate::alarm::ERROR_RATE_METRIC_NAMES.len(),
                    metrics.callers.len(),
                    callers.join(", "),
                    crate::alarm::MAX_ALARM_METRICS,
                    crate::alarm::MAX_ALARM_METRICS / crate::alarm::ERROR_RATE_METRIC_NAMES.len(),
                ),
            );
        }
    }

    fn hook(&mut self, p: &str, h: &LifecycleHookSpec) {
        let pause = h.target_type == HookTargetType::Pause;
        if h.stages.is_empty() {
            self.err(format!("{p}.stages"), "a hook needs at least one stage");
        }
        let mut seen = BTreeSet::new();
        for (j, stage) in h.stages.iter().enumerate() {
            let sp = format!("{p}.stages[{j}]");
            if !seen.insert(stage) {
                self.err(sp, format!("duplicate stage {}", stage.as_str()));
                continue;
            }
            let instead = match stage {
                LifecycleStage::TestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
                LifecycleStage::ProductionTrafficShift => {
                    "PRE_PRODUCTION_TRAFFIC_SHIFT or POST_PRODUCTION_TRAFFIC_SHIFT"
                }
                _ => continue,
            };
            if pause {
                let stage = stage.as_str();
                self.err(
                    sp,
                    format!("a PAUSE hook cannot run at {stage}: pause at {instead}"),
                );
            }
        }
        match (h.target_type, &h.hook_target_arn) {
            (HookTargetType::AwsLambda, None) => self.err(
                format!("{p}.hookTargetArn"),
                "an AWS_LAMBDA hook needs hookTargetArn, the function's ARN",
            ),
            (HookTargetType::AwsLambda, Some(arn)) => {
                self.check(
                    format!("{p}.hookTargetArn"),
                    rules::lambda_function_arn(arn),
                );
            }
            (HookTargetType::Pause, Some(_)) => self.err(
                format!("{p}.hookTargetArn"),
                "a PAUSE hook has no target: remove hookTargetArn",
            ),
            (HookTargetType::Pause, None) => {}
        }
        self.hook_role(p, h);
        if let Some(t) = &h.timeout {
            self.check(
                format!("{p}.timeout.minutes"),
                rules::range(t.minutes, 1, 20160, "timeout"),
            );
        }
        match &h.local_command {
            Some(_) if pause => self.err(
                format!("{p}.localCommand"),
                "a PAUSE hook waits for `continue` and runs nothing: remove localCommand",
            ),
            Some(cmd) if cmd.first().is_none_or(String::is_empty) => self.err(
                format!("{p}.localCommand"),
                "localCommand needs a program to run: [program, args...]",
            ),
            _ => {}
        }
    }

    /// The role ECS assumes to invoke a Lambda hook: "the IAM role that grants Amazon ECS
    /// permission to call Lambda functions on your behalf" (ECS API reference,
    /// `DeploymentLifecycleHook.roleArn`,
    /// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentLifecycleHook.html>);
    /// terraform-provider-aws PR #48128 makes `role_arn` required for `AWS_LAMBDA` and unused for
    /// `PAUSE`. The stack can create it (`createRole`) instead of naming one.
    fn hook_role(&mut self, p: &str, h: &LifecycleHookSpec) {
        match (h.target_type, &h.role_arn, h.create_role) {
            (HookTargetType::AwsLambda, None, false) => self.err(
                format!("{p}.roleArn"),
                "an AWS_LAMBDA hook needs the role ECS assumes to invoke the function: give an existing role's ARN in roleArn, or set createRole: true",
            ),
            (HookTargetType::AwsLambda, Some(_), true) => self.err(
                format!("{p}.createRole"),
                "roleArn and createRole both give the hook's role: remove one",
            ),
            (HookTargetType::AwsLambda, Some(role), false) => {
                self.check(format!("{p}.roleArn"), rules::iam_role_arn(role));
            }
            (HookTargetType::AwsLambda, None, true) => {}
            (HookTargetType::Pause, role, create) => {
                if role.is_some() {
                    self.err(
                        format!("{p}.roleArn"),
                        "a PAUSE hook invokes nothing and needs no role: remove roleArn",
                    );
                }
                if create {
                    self.err(
                        format!("{p}.createRole"),
                        "a PAUSE hook invokes nothing and needs no role: remove createRole",
                    );
                }
            }
        }
    }

    fn alb_gateway(&mut self, g: &AlbGatewaySpec, stack: &StackSpec) {
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

/// The optional settings that turn on what checkov asks for (log encryption, load balancer
/// access logs); without them the renderer writes the reasons as checkov skips.
impl Validator {
    fn encryption_and_access_logs(&mut self, s: &StackSpec) {
        if let Some(arn) = &s.logs.kms_key_arn {
            self.check("logs.kmsKeyArn", rules::kms_key_arn(arn));
        }
        if let Some(logs) = s.alb_gateway.as_ref().and_then(|g| g.access_logs.as_ref()) {
            self.access_logs("albGateway.accessLogs", logs);
        }
        let mesh_gateway = s.mesh.as_ref().and_then(|m| m.gateway.as_ref());
        if let Some(logs) = mesh_gateway.and_then(|g| g.access_logs.as_ref()) {
            self.access_logs("mesh.gateway.accessLogs", logs);
        }
    }

    fn access_logs(&mut self, p: &str, logs: &AccessLogsSpec) {
        self.check(format!("{p}.bucket"), rules::s3_bucket_name(&logs.bucket));
        if let Some(prefix) = &logs.prefix {
            self.check(format!("{p}.prefix"), rules::access_log_prefix(prefix));
        }
    }
}

/// `value` within `min`-100.
fn percent_range(value: Percent, min: Percent, what: &str) -> Result<(), String> {
    if (min..=Percent::HUNDRED).contains(&value) {
        Ok(())
    } else {
        Err(format!("{what} {value} is out of range {min}-100"))
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
