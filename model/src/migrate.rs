//! App Mesh to its successors (SPEC §10): a mesh model becomes Service Connect, an ALB gateway and
//! an ECS-native deployment strategy, with a table of what each mesh element became

use std::collections::BTreeMap;
use std::fmt;

use crate::deployment::{
    DEFAULT_TEST_TRAFFIC_HEADER, DeploymentSpec, StrategyKind, TestTrafficSpec,
};
use crate::spec::*;
use crate::validate::{Stack, ValidationErrors};

/// Why a model could not be migrated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "stack `{stack}` has no App Mesh mesh, so there is nothing to migrate: migrate takes an App Mesh model (appmesh, bluegreen or a JSON description with `mesh`)"
    )]
    NoMesh { stack: String },
    #[error("the App Mesh model does not validate, fix it first: {0}")]
    Invalid(ValidationErrors),
    #[error(
        "blueGreen.stateJson names no live colour (`nextUpdate` must be `blue` or `green`): cannot tell which version to keep"
    )]
    NoLiveColour,
    #[error(
        "virtual router `{router}` has no route with prefix `/`: an ALB rule cannot repeat the router's second path match, split the gateway route by hand"
    )]
    NoCatchAllRoute { router: String },
    #[error("the migrated model does not validate (a bug in migrate, please report it): {0}")]
    Successor(ValidationErrors),
}

/// Choices the migration cannot read from the mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateOptions {
    /// The strategy the merged blue-green service deploys with.
    pub strategy: StrategyKind,
    /// The strategy of the services the virtual gateway routes to, at the ALB (issue 21): ECS
    /// moves each one's rule between its two target groups. `None` (or ROLLING): they deploy
    /// ROLLING, as the gateway did.
    pub gateway_strategy: Option<StrategyKind>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            strategy: StrategyKind::Linear,
            gateway_strategy: None,
        }
    }
}

/// What one App Mesh element became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Successor {
    Became(String),
    NoEquivalent { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRow {
    pub element: String,
    pub successor: Successor,
}

/// The successor model and the mapping from each App Mesh element to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub spec: StackSpec,
    pub rows: Vec<MappingRow>,
}

impl Migration {
    /// The mapping as a two-column text table, the first column padded to its widest cell.
    pub fn table(&self) -> MappingTable<'_> {
        MappingTable(&self.rows)
    }
}

#[derive(Debug)]
pub struct MappingTable<'a>(&'a [MappingRow]);

impl fmt::Display for MappingTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEAD: (&str, &str) = ("APP MESH", "BECAME");
        let width = self
            .0
            .iter()
            .map(|r| r.element.chars().count())
            .chain([HEAD.0.len()])
            .max()
            .unwrap_or(0);
        writeln!(f, "{:<width$}  {}", HEAD.0, HEAD.1)?;
        for row in self.0 {
            let text = match &row.successor {
                Successor::Became(what) => what.clone(),
                Successor::NoEquivalent { reason } => format!("no equivalent: {reason}"),
            };
            writeln!(f, "{:<width$}  {text}", row.element)?;
        }
        Ok(())
    }
}

/// Migrates with the default options (the blue-green pair deploys LINEAR 20%).
pub fn migrate(spec: &StackSpec) -> Result<Migration, MigrateError> {
    migrate_with(spec, &MigrateOptions::default())
}

/// Turns a validated App Mesh model into its Service Connect successor; the result validates.
pub fn migrate_with(spec: &StackSpec, options: &MigrateOptions) -> Result<Migration, MigrateError> {
    let Some(mesh) = &spec.mesh else {
        return Err(MigrateError::NoMesh {
            stack: spec.name.clone(),
        });
    };
    Stack::new(spec.clone()).map_err(MigrateError::Invalid)?;
    let merge = spec
        .blue_green
        .as_ref()
        .map(|bg| merge_plan(spec, bg))
        .transpose()?;
    let mut m = Migrator {
        spec,
        mesh,
        merge,
        rows: Vec::new(),
        left_out: Vec::new(),
    };
    let namespace = spec.cluster.discovery.namespace();
    m.row(
        format!("mesh `{}`", mesh.name),
        format!("Service Connect namespace `{namespace}` (the mesh's Cloud Map namespace)"),
    );
    let mut services = m.services(options);
    m.virtual_services();
    let mut alb_gateway = m.gateway()?;
    services.extend(m.front(&services, alb_gateway.as_ref()));
    if let (Some(strategy), Some(gw)) = (
        options.gateway_strategy.filter(|s| s.is_native_shift()),
        alb_gateway.as_mut(),
    ) {
        m.shift_at_gateway(strategy, &mut services, gw);
    }
    m.routers(options.strategy);
    m.blue_green();
    m.never_equivalent();
    let successor = StackSpec {
        // The original text describes the mesh, which is gone.
        description: Some(format!(
            "{}: migrated from App Mesh to Service Connect by meshtest migrate",
            spec.name
        )),
        cluster: ClusterSpec {
            discovery: DiscoverySpec::ServiceConnect {
                namespace: namespace.to_owned(),
            },
            ..spec.cluster.clone()
        },
        services,
        mesh: None,
        blue_green: None,
        alb_gateway,
        ..spec.clone()
    };
    Stack::new(successor.clone()).map_err(MigrateError::Successor)?;
    Ok(Migration {
        spec: successor,
        rows: m.rows,
    })
}

/// The blue-green pair becomes one service called `name`, at the live colour's version.
struct MergePlan {
    blue: String,
    green: String,
    live: String,
    name: String,
    /// The rolling service the ALB forwards to in the colours' place: the model refuses a
    /// native strategy on an ALB target (ALB blue/green needs alternate target groups), so the
    /// ALB reaches the merged service through this one over Service Connect, as in `rollout`.
    front: String,
}

impl MergePlan {
    fn is_colour(&self, service: &str) -> bool {
        service == self.blue || service == self.green
    }
}

fn merge_plan(spec: &StackSpec, bg: &BlueGreenSpec) -> Result<MergePlan, MigrateError> {
    // The seed's `nextUpdate` is the colour that received the latest version (state-store).
    let state: serde_json::Value =
        serde_json::from_str(&bg.state_json).map_err(|_| MigrateError::NoLiveColour)?;
    let live = match state.get("nextUpdate").and_then(|v| v.as_str()) {
        Some("blue") => bg.blue_service.clone(),
        Some("green") => bg.green_service.clone(),
        _ => return Err(MigrateError::NoLiveColour),
    };
    let base = |name: &str, colour: &str| {
        name.replacen(colour, "", 1)
            .trim_matches(|c| c == '-' || c == '_')
            .to_owned()
    };
    let (b, g) = (
        base(&bg.blue_service, "blue"),
        base(&bg.green_service, "green"),
    );
    let taken = |name: &str| {
        spec.services
            .iter()
            .any(|s| s.name == name && s.name != bg.blue_service && s.name != bg.green_service)
    };
    let name = [if b == g { b } else { String::new() }, "app".to_owned()]
        .into_iter()
        .find(|n| !n.is_empty() && !taken(n))
        .unwrap_or_else(|| live.clone());
    let front = ["front".to_owned(), format!("{name}-front")]
        .into_iter()
        .find(|n| *n != name && !taken(n))
        .unwrap_or_else(|| format!("{name}-front-1"));
    Ok(MergePlan {
        blue: bg.blue_service.clone(),
        green: bg.green_service.clone(),
        live,
        name,
        front,
    })
}

struct Migrator<'a> {
    spec: &'a StackSpec,
    mesh: &'a MeshSpec,
    merge: Option<MergePlan>,
    rows: Vec<MappingRow>,
    /// Gateway routes left out of the ALB (a weighted forward to services that shift there).
    left_out: Vec<String>,
}

impl<'a> Migrator<'a> {
    fn row(&mut self, element: String, became: String) {
        self.rows.push(MappingRow {
            element,
            successor: Successor::Became(became),
        });
    }

    fn none(&mut self, element: String, reason: &str) {
        self.rows.push(MappingRow {
            element,
            successor: Successor::NoEquivalent {
                reason: reason.to_owned(),
            },
        });
    }

    /// The successor's name for a service (a colour becomes the merged service).
    fn rename(&self, service: &str) -> String {
        match &self.merge {
            Some(plan) if plan.is_colour(service) => plan.name.clone(),
            _ => service.to_owned(),
        }
    }

    fn node(&self, name: &str) -> Option<&'a VirtualNodeSpec> {
        self.mesh.virtual_nodes.iter().find(|n| n.name == name)
    }

    /// The virtual services a node provides directly, in model order.
    fn provided_by(&self, node: &str) -> Vec<&'a VirtualServiceSpec> {
        self.mesh
            .virtual_services
            .iter()
            .filter(|vs| matches!(&vs.provider, ProviderSpec::VirtualNode(n) if n == node))
            .collect()
    }

    fn service_connect_for(&self, svc: &ServiceSpec) -> ServiceConnectSpec {
        let namespace = self.spec.cluster.discovery.namespace();
        if let Some(plan) = self.merge.as_ref().filter(|p| p.is_colour(&svc.name)) {
            return ServiceConnectSpec {
                discovery_name: plan.name.clone(),
                client_alias_port: svc.port.container_port,
                dns_name: None,
                test_traffic: None,
            };
        }
        let node = svc
            .app_mesh
            .as_ref()
            .and_then(|s| self.node(&s.virtual_node));
        let port = node.map_or(svc.port.container_port, |n| n.port);
        let address = node
            .and_then(|n| self.provided_by(&n.name).first().map(|vs| vs.name.clone()))
            .unwrap_or_else(|| format!("{}.{namespace}", svc.name));
        let label = address.split('.').next().unwrap_or(&address).to_owned();
        // `<label>.<namespace>` is Service Connect's default address; anything else is kept as
        // an explicit DNS name so callers' URLs do not change.
        let dns_name = (address != format!("{label}.{namespace}")).then_some(address);
        ServiceConnectSpec {
            discovery_name: label,
            client_alias_port: port,
            dns_name,
            test_traffic: None,
        }
    }

    fn services(&mut self, options: &MigrateOptions) -> Vec<ServiceSpec> {
        let mut out = Vec::new();
        for svc in &self.spec.services {
            if let Some(plan) = &self.merge
                && plan.is_colour(&svc.name)
                && svc.name != plan.live
            {
                continue;
            }
            let mut new = svc.clone();
            new.name = self.rename(&svc.name);
            if svc.app_mesh.is_some() {
                new.app_mesh = None;
                new.service_connect = Some(self.service_connect_for(svc));
            }
            let mut backends: Vec<String> = Vec::new();
            for b in svc.backends.iter().map(|b| self.rename(b)) {
                if b != new.name && !backends.contains(&b) {
                    backends.push(b);
                }
            }
            new.backends = backends;
            if self.merge.as_ref().is_some_and(|p| p.is_colour(&svc.name)) {
                new.deployment = crate::examples::rollout_deployment(options.strategy);
            }
            out.push(new);
        }
        self.node_rows(&out);
        out
    }

    fn node_rows(&mut self, services: &[ServiceSpec]) {
        let namespace = self.spec.cluster.discovery.namespace().to_owned();
        for node in &self.mesh.virtual_nodes {
            let name = self.rename(&node.service);
            let Some(svc) = services.iter().find(|s| s.name == name) else {
                continue;
            };
            let Some(sc) = &svc.service_connect else {
                continue;
            };
            let dns = sc
                .dns_name
                .clone()
                .unwrap_or_else(|| format!("{}.{namespace}", sc.discovery_name));
            self.row(
                format!("virtual node `{}` (service `{}`)", node.name, node.service),
                format!(
                    "service `{name}` with Service Connect (discovery `{}`, {dns}:{}), Envoy sidecar removed",
                    sc.discovery_name, sc.client_alias_port
                ),
            );
        }
        for svc in &self.spec.services {
            if svc.app_mesh.is_none()
                && !self
                    .mesh
                    .virtual_nodes
                    .iter()
                    .any(|n| n.service == svc.name)
            {
                self.row(
                    format!("service `{}` (outside the mesh)", svc.name),
                    "unchanged, not in the Service Connect namespace: add serviceConnect to make it reachable".to_owned(),
                );
            }
        }
    }

    fn virtual_services(&mut self) {
        let namespace = self.spec.cluster.discovery.namespace().to_owned();
        for vs in &self.mesh.virtual_services {
            let element = format!("virtual service `{}`", vs.name);
            match &vs.provider {
                ProviderSpec::VirtualNode(node) => {
                    let Some(service) = self.node(node).map(|n| n.service.clone()) else {
                        continue;
                    };
                    let merged = self.merge.as_ref().filter(|p| p.is_colour(&service));
                    if let Some(plan) = merged {
                        let text = format!(
                            "no address of its own: both colours are service `{}` ({}.{namespace}), the test traffic header `{DEFAULT_TEST_TRAFFIC_HEADER}` reaches a new revision during a deployment",
                            plan.name, plan.name
                        );
                        self.row(element, text);
                    } else if self.provided_by(node).first().map(|f| &f.name) == Some(&vs.name) {
                        self.row(
                            element,
                            format!("client alias `{}` of service `{service}`", vs.name),
                        );
                    } else {
                        self.none(element, "a service has one client alias in this model: callers use its first virtual service's name");
                    }
                }
                ProviderSpec::VirtualRouter(router) => {
                    let text = format!("see virtual router `{router}`");
                    self.row(element, text);
                }
            }
        }
    }
}

impl<'a> Migrator<'a> {
    /// The ALB rule targets a virtual service resolves to, weights summed per successor service.
    fn targets(&self, virtual_service: &str) -> Result<Vec<AlbTargetSpec>, MigrateError> {
        let Some(vs) = self
            .mesh
            .virtual_services
            .iter()
            .find(|vs| vs.name == virtual_service)
        else {
            return Ok(Vec::new());
        };
        let weighted: Vec<(String, u32)> = match &vs.provider {
            ProviderSpec::VirtualNode(node) => self
                .node(node)
                .map(|n| (n.service.clone(), 1))
                .into_iter()
                .collect(),
            ProviderSpec::VirtualRouter(router) => {
                let route = self.catch_all(router)?;
                route
                    .targets
                    .iter()
                    .filter_map(|t| Some((self.node(&t.virtual_node)?.service.clone(), t.weight)))
                    .collect()
            }
        };
        let mut merged: BTreeMap<String, u32> = BTreeMap::new();
        let mut order = Vec::new();
        for (service, weight) in weighted {
            let name = match &self.merge {
                Some(plan) if plan.is_colour(&service) => plan.front.clone(),
                _ => service,
            };
            if !merged.contains_key(&name) {
                order.push(name.clone());
            }
            *merged.entry(name).or_default() += weight;
        }
        let single = order.len() == 1;
        Ok(order
            .into_iter()
            .map(|service| AlbTargetSpec {
                weight: if single { 1 } else { merged[&service] },
                service,
            })
            .collect())
    }

    fn catch_all(&self, router: &str) -> Result<&'a RouteSpec, MigrateError> {
        self.mesh
            .virtual_routers
            .iter()
            .find(|r| r.name == router)
            .and_then(|r| r.routes.iter().find(|route| route.prefix == "/"))
            .ok_or_else(|| MigrateError::NoCatchAllRoute {
                router: router.to_owned(),
            })
    }

    fn gateway(&mut self) -> Result<Option<AlbGatewaySpec>, MigrateError> {
        let Some(gw) = &self.mesh.gateway else {
            return Ok(None);
        };
        let mut rules = Vec::new();
        for route in &gw.routes {
            let targets = self.targets(&route.virtual_service)?;
            let shown: Vec<String> = match targets.as_slice() {
                [one] => vec![one.service.clone()],
                many => many
                    .iter()
                    .map(|t| format!("{} {}", t.service, t.weight))
                    .collect(),
            };
            // App Mesh rewrites a matched prefix to `/` by default; `/` itself needs no rewrite.
            let rewrite_prefix = route.prefix != "/";
            self.row(
                format!(
                    "gateway route `{}` ({} -> {})",
                    route.name, route.prefix, route.virtual_service
                ),
                format!(
                    "ALB rule `{}` ({} -> {}{})",
                    route.name,
                    route.prefix,
                    shown.join(", "),
                    if rewrite_prefix {
                        ", prefix rewritten to /"
                    } else {
                        ""
                    }
                ),
            );
            rules.push(AlbRuleSpec {
                name: route.name.clone(),
                path_prefix: route.prefix.clone(),
                targets,
                rewrite_prefix,
            });
        }
        self.rows.insert(
            self.rows.len() - gw.routes.len(),
            MappingRow {
                element: format!("virtual gateway `{}` (Envoy behind an NLB)", gw.name),
                successor: Successor::Became(format!(
                    "ALB gateway `{}` on port {} (AllowedCidr only), no Envoy service",
                    gw.name, gw.load_balancer_port
                )),
            },
        );
        Ok(Some(AlbGatewaySpec {
            name: gw.name.clone(),
            listener_port: gw.load_balancer_port,
            rules,
            // The NLB's access-log bucket serves the ALB that replaces it.
            access_logs: gw.access_logs.clone(),
            infrastructure_role_arn: None,
        }))
    }
}

impl Migrator<'_> {
    /// The services the virtual gateway routes to deploy `strategy` at the ALB: each one that a
    /// route reaches alone gets it (ECS moves that rule between the service's two target
    /// groups), with ECS's test header as its test traffic. A weighted route across services
    /// (`/split`) is left out: ECS would drain a target group it still sends a share to (the
    /// model refuses it; README "Rolling out a service behind the gateway"). The front of a
    /// merged blue-green pair stays ROLLING: the merged service behind it shifts already.
    fn shift_at_gateway(
        &mut self,
        strategy: StrategyKind,
        services: &mut [ServiceSpec],
        gw: &mut AlbGatewaySpec,
    ) {
        let front = self.merge.as_ref().map(|p| p.front.clone());
        let alone: Vec<String> = gw
            .rules
            .iter()
            .filter(|r| r.targets.len() == 1)
            .map(|r| r.targets[0].service.clone())
            .filter(|s| Some(s) != front.as_ref())
            .collect();
        // A service reached alone by two rules keeps ROLLING: ECS moves one production rule.
        let shifting: Vec<String> = alone
            .iter()
            .filter(|s| alone.iter().filter(|t| t == s).count() == 1)
            .cloned()
            .collect();
        let left_out: Vec<AlbRuleSpec> = gw
            .rules
            .iter()
            .filter(|r| {
                r.targets.len() > 1 && r.targets.iter().any(|t| shifting.contains(&t.service))
            })
            .cloned()
            .collect();
        gw.rules.retain(|r| !left_out.contains(r));
        self.left_out = left_out.iter().map(|r| r.name.clone()).collect();
        for rule in &left_out {
            let names: Vec<String> = rule
                .targets
                .iter()
                .map(|t| format!("`{}`", t.service))
                .collect();
            let reason = format!(
                "a weighted forward across {} cannot share the target groups ECS moves while they deploy {}, so the rule is left out: migrate with no gateway strategy to keep it (they then deploy ROLLING), or put a service of its own behind it",
                names.join(", "),
                strategy.as_str()
            );
            let prefix = format!("gateway route `{}` ", rule.name);
            if let Some(row) = self
                .rows
                .iter_mut()
                .find(|r| r.element.starts_with(&prefix))
            {
                row.successor = Successor::NoEquivalent { reason };
            }
        }
        for svc in services.iter_mut().filter(|s| shifting.contains(&s.name)) {
            svc.deployment = DeploymentSpec {
                // The Service Connect error-rate alarm would not see the ALB's requests.
                alarms: None,
                ..crate::examples::rollout_deployment(strategy)
            };
            if let Some(sc) = svc.service_connect.as_mut() {
                sc.test_traffic = Some(TestTrafficSpec {
                    header: DEFAULT_TEST_TRAFFIC_HEADER.into(),
                    value: "true".into(),
                });
            }
            let rule = gw
                .rules
                .iter()
                .find(|r| r.targets.len() == 1 && r.targets[0].service == svc.name)
                .map(|r| r.name.clone())
                .unwrap_or_default();
            let test = if svc.service_connect.is_some() {
                format!(
                    ", a request with `{DEFAULT_TEST_TRAFFIC_HEADER}: true` reaches the new revision from the test stage on"
                )
            } else {
                String::new()
            };
            self.row(
                format!("gateway traffic to `{}`", svc.name),
                format!(
                    "the {} deployment of service `{}` at the ALB: ECS moves rule `{rule}` between its two target groups{test}",
                    strategy.as_str(),
                    svc.name
                ),
            );
        }
    }
}

const WEIGHTS_INSIDE: &str = "Service Connect keeps no weights between two services: weights exist only while a LINEAR or CANARY deployment moves one service to a new revision, or at the edge with ALB weighted target groups";

impl<'a> Migrator<'a> {
    /// The front service, when an ALB rule reaches the merged service: a rolling copy of it
    /// that calls it over Service Connect.
    fn front(
        &mut self,
        services: &[ServiceSpec],
        alb: Option<&AlbGatewaySpec>,
    ) -> Option<ServiceSpec> {
        let plan = self.merge.as_ref()?;
        let used = alb?
            .rules
            .iter()
            .any(|r| r.targets.iter().any(|t| t.service == plan.front));
        let merged = services.iter().find(|s| s.name == plan.name)?;
        if !used {
            return None;
        }
        let namespace = self.spec.cluster.discovery.namespace();
        let front = ServiceSpec {
            name: plan.front.clone(),
            service_connect: Some(ServiceConnectSpec {
                discovery_name: plan.front.clone(),
                client_alias_port: merged.port.container_port,
                dns_name: None,
                test_traffic: None,
            }),
            backends: vec![plan.name.clone()],
            deployment: DeploymentSpec::default(),
            // The front forwards; the merged service's own program is not its.
            local: None,
            ..merged.clone()
        };
        let text = format!(
            "service `{}` behind the ALB calls `{}` at {}.{namespace}:{} (an ALB target cannot deploy {} here: ALB blue/green needs alternate target groups)",
            plan.front,
            plan.name,
            plan.name,
            merged.port.container_port,
            merged.deployment.strategy.as_str()
        );
        self.row(
            format!("gateway traffic to `{}` / `{}`", plan.blue, plan.green),
            text,
        );
        Some(front)
    }

    fn routers(&mut self, strategy: StrategyKind) {
        for router in &self.mesh.virtual_routers {
            let via_gateway: Vec<&str> = self.gateway_routes_to_router(&router.name);
            for route in &router.routes {
                let weights: Vec<String> = route
                    .targets
                    .iter()
                    .map(|t| format!("{} {}", t.virtual_node, t.weight))
                    .collect();
                let element = format!(
                    "virtual router `{}` route `{}` ({}: {})",
                    router.name,
                    route.name,
                    route.prefix,
                    weights.join(", ")
                );
                let merged = self.merge.as_ref().filter(|plan| {
                    route.targets.iter().all(|t| {
                        self.node(&t.virtual_node)
                            .is_some_and(|n| plan.is_colour(&n.service))
                    })
                });
                if let Some(plan) = merged {
                    let text = format!(
                        "the {} deployment of service `{}`: traffic moves between two revisions only while one rolls out",
                        strategy.as_str(),
                        plan.name
                    );
                    self.row(element, text);
                } else if route.prefix != "/" {
                    self.none(element, "a second path match after the gateway's rewrite: an ALB rule matches the path once, add a rule for the full path by hand");
                } else if !via_gateway.is_empty() {
                    let text = format!("the weights of ALB rule `{}`", via_gateway.join("`, `"));
                    self.row(element, text);
                } else {
                    self.none(element, WEIGHTS_INSIDE);
                }
            }
        }
        self.router_backends();
    }

    /// Gateway routes whose virtual service a router provides.
    fn gateway_routes_to_router(&self, router: &str) -> Vec<&'a str> {
        let Some(gw) = &self.mesh.gateway else {
            return Vec::new();
        };
        gw.routes
            .iter()
            .filter(|r| !self.left_out.contains(&r.name))
            .filter(|r| {
                self.mesh.virtual_services.iter().any(|vs| {
                    vs.name == r.virtual_service
                        && matches!(&vs.provider, ProviderSpec::VirtualRouter(x) if x == router)
                })
            })
            .map(|r| r.name.as_str())
            .collect()
    }

    /// A node calling a router inside the mesh loses the weights: say so for each such call.
    fn router_backends(&mut self) {
        let mut calls = Vec::new();
        for node in &self.mesh.virtual_nodes {
            for backend in &node.backends {
                let routed = self.mesh.virtual_services.iter().any(|vs| {
                    &vs.name == backend && matches!(vs.provider, ProviderSpec::VirtualRouter(_))
                });
                if routed {
                    calls.push(format!("virtual node `{}` backend `{backend}`", node.name));
                }
            }
        }
        for element in calls {
            self.none(element, WEIGHTS_INSIDE);
        }
    }

    fn blue_green(&mut self) {
        let (Some(plan), Some(bg)) = (&self.merge, &self.spec.blue_green) else {
            return;
        };
        let version = self
            .spec
            .services
            .iter()
            .find(|s| s.name == plan.live)
            .map(|s| s.version.clone())
            .unwrap_or_default();
        let rows = [
            (
                format!("blue-green pair `{}` / `{}`", plan.blue, plan.green),
                format!(
                    "one service `{}` at the live version {version} (from `{}`), new versions deploy beside it",
                    plan.name, plan.live
                ),
            ),
            (
                format!("blue-green state `{}`", bg.state_parameter),
                "nothing: ECS keeps the service's revisions, no SSM state".to_owned(),
            ),
        ];
        for (element, became) in rows {
            self.row(element, became);
        }
    }

    /// Rows for what the successor cannot express, whether or not the model used it: a user's
    /// real mesh may have had them even where this model cannot describe them.
    fn never_equivalent(&mut self) {
        match self.mesh.egress_filter {
            EgressFilter::DropAll => self.none(
                "egress filter DROP_ALL".to_owned(),
                "Service Connect does not filter egress: restrict outbound traffic with security groups instead",
            ),
            EgressFilter::AllowAll => self.row(
                "egress filter ALLOW_ALL".to_owned(),
                "nothing: Service Connect does not filter egress".to_owned(),
            ),
        }
        let rows = [
            (
                "persistent weighted routing between two services inside the mesh",
                WEIGHTS_INSIDE,
            ),
            (
                "per-route retry policy",
                "Service Connect applies its own retries and offers no per-route policy: retry in the client",
            ),
            (
                "mutual TLS",
                "Service Connect encrypts with TLS from an AWS Private CA but does not authenticate clients: restrict callers with security groups",
            ),
            (
                "header routing to a different service",
                "a client alias reaches one service; a header only selects a new revision's test traffic during a deployment: route by header at the ALB or in the app",
            ),
        ];
        for (element, reason) in rows {
            self.none(element.to_owned(), reason);
        }
    }
}
