//! What the local runtime runs and how it routes: a pure function of the validated model.
//!
//! [`LocalPlan::from_stack`] turns a [`Stack`] into the services to run (one `demo-app` process
//! per task, with the task definition's environment) and the routing tables of the three kinds of
//! listener the runtime opens: the egress proxy every task uses as `HTTP_PROXY` (mesh names such as
//! `blue.serviceconnect`, `green.appmesh` or `router`), the App Mesh virtual gateway, and one
//! listener per service. [`route`] decides where one request goes. Nothing here does I/O, spawns
//! a process or knows about tokio: the supervisor asks, this module answers, and the tests below
//! pin every rule.
//!
//! Decisions made here (they follow Envoy, which App Mesh configures):
//! - Path prefixes match as plain string prefixes (`/split` matches `/split`, `/split/x` and
//!   `/splitx`), longest prefix first whatever the declared order, so a catch-all `/` never hides a
//!   more specific route.
//! - A gateway route rewrites its matched prefix to `/` (App Mesh's default), never producing `//`:
//!   `/split/downstream/blue.appmesh` reaches the service as `/downstream/blue.appmesh`. Router
//!   routes do not rewrite. The query string is kept.
//! - A weighted pick takes one uniform 64-bit draw: the point `draw % total_weight` falls into the
//!   targets' cumulative weights in declared order, so it is deterministic given the draw and a
//!   target of weight 0 is never picked.
//! - A name the mesh does not know is refused (502, like Envoy's egress filter `DROP_ALL`); a known
//!   name on another port too. Every virtual service of the mesh is reachable from every task: the
//!   seed's own transcript shows `gateway > blue > blue.appmesh` answering, although blue's virtual
//!   node lists only `green.appmesh` as a backend.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
// `core::net`: an address is data here; the core opens no socket.
use core::net::SocketAddr;

use model::downstream::default_allows;
use model::{
    DiscoverySpec, GatewaySpec, MeshSpec, ProviderSpec, Stack, StackSpec, TestTrafficRule,
    app_environment,
};
use serde::{Deserialize, Serialize};

use crate::rollout::{RollsOut, Split};

pub mod program;
pub use program::{HealthPlan, ProgramPlan};

/// Port of a mesh name when the request does not say (`http://blue.appmesh/`).
const DEFAULT_HTTP_PORT: u16 = 80;
/// Where an ALB gateway listens locally when its AWS port is privileged (80): the seed
/// gateway's port, so the walkthroughs' URLs are the same for both gateways.
pub const LOCAL_ALB_PORT: u16 = 9080;

/// Everything the runtime needs from one validated stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPlan {
    stack: String,
    namespace: String,
    services: Vec<ServicePlan>,
    names: BTreeMap<(String, u16), MeshName>,
    routers: BTreeMap<String, Vec<RoutePlan>>,
    gateway: Option<GatewayPlan>,
    blue_green_state: Option<String>,
}

/// One ECS service: its tasks run as `demo-app` processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlan {
    pub name: String,
    pub version: String,
    pub desired_count: u32,
    /// The app container's environment as the task definition sets it (`model::app_environment`).
    pub environment: BTreeMap<String, String>,
    /// `DOWNSTREAM_ALLOW` to add locally when demo-app's default allow-list (single-label names
    /// and `*.<namespace>`) would refuse one of the mesh's names; None when it would not.
    pub downstream_allow: Option<String>,
    /// How a new task definition reaches production when the service's strategy shifts
    /// traffic (`LINEAR 20% every 1 min, bake 2 min`, [`crate::rollout::summary`]); None for a
    /// rolling update, whose tasks are replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RollsOut>,
    /// The model's `deployment.lifecycleHooks`, one compact JSON each: they change no task, but
    /// the next rollout runs them, so a change of hooks alone is a change of the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<String>,
    /// The service's own program (its `local` block) at this version; None: demo-app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<ProgramPlan>,
}

impl ServicePlan {
    /// The environment of one local task: the task definition's, then the loopback specifics.
    /// `SERVICE_PORT=0` lets the OS choose (demo-app prints the real port), `SERVICE_HOST` keeps
    /// it on loopback, and `HTTP_PROXY` sends its downstream calls to the egress proxy, where the
    /// mesh names resolve. `NO_PROXY` is emptied so no name bypasses the proxy.
    pub fn task_environment(&self, egress: SocketAddr) -> BTreeMap<String, String> {
        let mut env = self.environment.clone();
        let proxy = format!("http://{egress}");
        env.insert("SERVICE_PORT".into(), "0".into());
        env.insert("SERVICE_HOST".into(), "127.0.0.1".into());
        // reqwest reads both spellings; setting both means neither can point elsewhere.
        env.insert("HTTP_PROXY".into(), proxy.clone());
        env.insert("http_proxy".into(), proxy);
        env.insert("NO_PROXY".into(), String::new());
        env.insert("no_proxy".into(), String::new());
        if let Some(allow) = &self.downstream_allow {
            env.insert("DOWNSTREAM_ALLOW".into(), allow.clone());
        }
        env
    }

    /// Whether running tasks must be replaced to go from `self` to `new` (a new task definition).
    pub fn needs_new_tasks(&self, new: &ServicePlan) -> bool {
        self.environment != new.environment
            || self.downstream_allow != new.downstream_allow
            || self.program != new.program
    }
}

/// What a mesh name leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "name")]
pub enum NameTarget {
    /// The tasks of one service.
    Service(String),
    /// A virtual router, whose routes pick a service by weight.
    Router(String),
}

/// Where a mesh name comes from in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NameSource {
    /// A Service Connect client alias.
    ServiceConnect,
    /// An App Mesh virtual service.
    VirtualService,
    /// The Cloud Map record ECS registers in a private DNS namespace.
    CloudMap,
}

/// A name resolvable from inside the services, on one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshName {
    pub name: String,
    pub port: u16,
    pub target: NameTarget,
    pub source: NameSource,
    /// Which requests to this name count as test traffic during a rollout (Service Connect
    /// client aliases only: routing by header happens in the client's Service Connect proxy).
    #[serde(skip)]
    pub test_traffic: Option<TestTrafficRule>,
}

/// A virtual router route: a path prefix and weighted services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutePlan {
    pub name: String,
    pub prefix: String,
    /// (service, weight) in declared order; virtual nodes are already resolved to services.
    pub targets: Vec<(String, u32)>,
}

/// The stack's edge: the App Mesh virtual gateway, or the ALB gateway that succeeds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayPlan {
    pub name: String,
    pub listener_port: u16,
    /// Longest prefix first (ties keep the declared order).
    pub routes: Vec<GatewayRoutePlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRoutePlan {
    pub name: String,
    pub prefix: String,
    pub target: GatewayTarget,
    /// The test listener rule in front of this rule when it is the production rule of a
    /// service that shifts traffic at the ALB ([`model::AlbShift`]): the same path plus this
    /// header. ECS points it at the new revision from `TEST_TRAFFIC_SHIFT` on, so a request
    /// that matches it goes to the new revision while plain requests follow the production
    /// weights. Not on the wire: the data plane derives its plan from the model.
    #[serde(skip)]
    pub test_rule: Option<TestTrafficRule>,
}

/// Where a gateway route sends a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum GatewayTarget {
    /// An App Mesh gateway route: a virtual service, the prefix always rewritten to `/`, the
    /// prefix matched as a plain string prefix (Envoy's).
    VirtualService { name: String },
    /// An ALB listener rule: a weighted forward across services, the prefix rewritten only when
    /// the rule says so, and matched on a path segment boundary (`/blue` is `/blue` and
    /// `/blue/*`, as the rule's two path patterns are on AWS).
    Alb {
        targets: Vec<(String, u32)>,
        rewrite: bool,
    },
}

impl GatewayRoutePlan {
    /// `/split -> router`, `/split -> blue 50, green 50 (rewrite to /)`: what status shows.
    pub fn describe(&self) -> String {
        format!("{} -> {}", self.prefix, self.target_text())
    }

    /// `router`, `blue 50, green 50 (rewrite to /)`.
    pub fn target_text(&self) -> String {
        match &self.target {
            GatewayTarget::VirtualService { name } => name.clone(),
            GatewayTarget::Alb { targets, rewrite } => {
                let to: Vec<String> = match targets.as_slice() {
                    [(one, _)] => vec![one.clone()],
                    many => many.iter().map(|(s, w)| format!("{s} {w}")).collect(),
                };
                let rewrite = if *rewrite { " (rewrite to /)" } else { "" };
                format!("{}{rewrite}", to.join(", "))
            }
        }
    }

    fn matches(&self, path: &str) -> bool {
        match &self.target {
            GatewayTarget::VirtualService { .. } => path.starts_with(&self.prefix),
            GatewayTarget::Alb { .. } => {
                self.prefix.ends_with('/')
                    || path
                        .strip_prefix(self.prefix.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }
        }
    }
}

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A task's downstream call through its `HTTP_PROXY`; `authority` is the absolute URI's
    /// `host[:port]` (or the `Host` header).
    Egress { authority: &'a str },
    /// The virtual gateway's listener.
    Gateway,
    /// A service's own listener (what a task's public IP is on AWS).
    Service(&'a str),
}

/// Where one request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    Forward(Forward<'a>),
    Reject(Reject),
}

/// Forward to one task of `service`, as `path` (path and query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward<'a> {
    pub service: &'a str,
    pub path: Cow<'a, str>,
    /// The gateway route that matched, if any.
    pub gateway_route: Option<&'a str>,
    /// The virtual router and route that picked the service, if any.
    pub router_route: Option<(&'a str, &'a str)>,
    /// The Service Connect test traffic rule of the client alias the request came through, or
    /// at the gateway the test listener rule of the production rule that matched (which
    /// matches as the ALB does: [`alb_test_match`]).
    pub test_rule: Option<&'a TestTrafficRule>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// The egress proxy was asked for a name the mesh does not have (or not on that port).
    UnknownName { authority: String },
    /// The authority is not `host[:port]`.
    BadAuthority { authority: String },
    /// No route's prefix matches the path.
    NoRoute { path: String },
    /// The service is not in the plan (a stale listener).
    UnknownService { service: String },
}

impl Reject {
    /// The HTTP status the proxy answers with: 502 for what Envoy would refuse at egress, 404
    /// when no route matches, 400 for a malformed authority.
    pub fn status(&self) -> u16 {
        match self {
            Reject::UnknownName { .. } => 502,
            Reject::BadAuthority { .. } => 400,
            Reject::NoRoute { .. } => 404,
            Reject::UnknownService { .. } => 503,
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::UnknownName { authority } => {
                write!(f, "`{authority}` is not a name in this mesh")
            }
            Reject::BadAuthority { authority } => write!(f, "`{authority}` is not host[:port]"),
            Reject::NoRoute { path } => write!(f, "no route matches `{path}`"),
            Reject::UnknownService { service } => {
                write!(f, "service `{service}` is not running")
            }
        }
    }
}

impl LocalPlan {
    /// The plan for `stack`. Cannot fail: `Stack::new` already checked every reference.
    pub fn from_stack(stack: &Stack) -> LocalPlan {
        let spec = stack.spec();
        let namespace = spec.cluster.discovery.namespace().to_owned();
        // Virtual services are added before Cloud Map records, so a name that is both goes
        // through the mesh, as Envoy's interception does on AWS.
        let mut names = Names::new();
        service_connect_names(spec, &namespace, &mut names);
        let mut routers = BTreeMap::new();
        let mut gateway = None;
        if let Some(mesh) = &spec.mesh {
            routers = router_plans(mesh);
            virtual_service_names(mesh, &mut names);
            gateway = mesh.gateway.as_ref().map(mesh_gateway_plan);
        }
        if let Some(alb) = &spec.alb_gateway {
            gateway = Some(alb_plan(stack, alb));
        }
        cloud_map_names(spec, &mut names);
        let services = service_plans(stack, &namespace, &names);
        LocalPlan {
            stack: spec.name.clone(),
            namespace,
            services,
            names,
            routers,
            gateway,
            blue_green_state: spec.blue_green.as_ref().map(|bg| bg.state_json.clone()),
        }
    }

    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// The Cloud Map namespace the services see as `SERVICE_NAMESPACE`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Services in model order.
    pub fn services(&self) -> &[ServicePlan] {
        &self.services
    }

    pub fn service(&self, name: &str) -> Option<&ServicePlan> {
        self.services.iter().find(|s| s.name == name)
    }

    /// `self` with `service`'s tasks as `running` runs them: its version, its task definition's
    /// environment, its allow-list and its program. What runs while `service` rolls out: the new
    /// description (`self`: every other service, route, rule and name, and `service`'s own
    /// deployment configuration) applied first with the running revision's tasks left alone,
    /// which the rollout then replaces. On AWS this is one stack update: CloudFormation updates
    /// what the service references first, then ECS deploys the service's new revision with its
    /// new deployment configuration.
    pub fn with_tasks_of(&self, running: &LocalPlan, service: &str) -> LocalPlan {
        let mut plan = self.clone();
        let old = running.service(service);
        if let (Some(svc), Some(old)) = (plan.services.iter_mut().find(|s| s.name == service), old)
        {
            svc.version.clone_from(&old.version);
            svc.environment.clone_from(&old.environment);
            svc.downstream_allow.clone_from(&old.downstream_allow);
            svc.program.clone_from(&old.program);
        }
        plan
    }

    /// The test traffic rule of `service`'s Service Connect client alias: during a rollout of
    /// `service`, the target plan's rule decides, as ECS applies the new service revision's
    /// Service Connect configuration. None without a client alias.
    pub fn test_rule(&self, service: &str) -> Option<&TestTrafficRule> {
        self.names
            .values()
            .filter(|n| n.target == NameTarget::Service(service.to_owned()))
            .find_map(|n| n.test_traffic.as_ref())
    }

    /// Each Service Connect client alias's own loopback address (127.255.0.0/16), as ECS writes
    /// them into a task's `/etc/hosts` ([`program::alias_addresses`]).
    pub fn alias_addresses(&self) -> BTreeMap<String, core::net::Ipv4Addr> {
        program::alias_addresses(
            &self.stack,
            self.names
                .values()
                .filter(|n| n.source == NameSource::ServiceConnect)
                .map(|n| n.name.as_str()),
        )
    }

    /// Every Service Connect client alias with its port and its loopback address: where the
    /// data plane listens for programs that resolve the names from their `/etc/hosts`.
    pub fn alias_listeners(&self) -> Vec<(String, SocketAddr)> {
        let addresses = self.alias_addresses();
        self.names
            .values()
            .filter(|n| n.source == NameSource::ServiceConnect)
            .filter_map(|n| {
                let ip = addresses.get(&n.name)?;
                Some((
                    format!("{}:{}", n.name, n.port),
                    SocketAddr::from((*ip, n.port)),
                ))
            })
            .collect()
    }

    /// Whether any service runs its own program rather than demo-app.
    pub fn runs_programs(&self) -> bool {
        self.services.iter().any(|s| s.program.is_some())
    }

    /// Every name resolvable through the egress proxy, sorted by name and port.
    pub fn names(&self) -> impl Iterator<Item = &MeshName> {
        self.names.values()
    }

    /// Routes of each virtual router, longest prefix first.
    pub fn routers(&self) -> &BTreeMap<String, Vec<RoutePlan>> {
        &self.routers
    }

    pub fn gateway(&self) -> Option<&GatewayPlan> {
        self.gateway.as_ref()
    }

    /// The blue-green state JSON the stack writes when deployed, if it is a blue-green stack.
    pub fn blue_green_state(&self) -> Option<&str> {
        self.blue_green_state.as_deref()
    }
}

/// The ALB gateway's listener rules (the App Mesh gateway's successor; it takes the gateway
/// listener when a stack has both), each production rule with its test rule.
fn alb_plan(stack: &Stack, alb: &model::AlbGatewaySpec) -> GatewayPlan {
    // The test rule of each production rule, by the rule's index ([`model::AlbShift`]).
    let test_rules: BTreeMap<usize, TestTrafficRule> = stack
        .spec()
        .services
        .iter()
        .filter_map(|svc| stack.alb_shift(svc))
        .filter_map(|shift| Some((shift.production_rule, shift.test_rule?)))
        .collect();
    let mut routes: Vec<GatewayRoutePlan> = alb
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| GatewayRoutePlan {
            name: r.name.clone(),
            prefix: r.path_prefix.clone(),
            target: GatewayTarget::Alb {
                targets: r
                    .targets
                    .iter()
                    .map(|t| (t.service.clone(), t.weight))
                    .collect(),
                rewrite: r.rewrite_prefix,
            },
            test_rule: test_rules.get(&i).cloned(),
        })
        .collect();
    routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    GatewayPlan {
        name: alb.name.clone(),
        listener_port: u16::try_from(alb.listener_port)
            .ok()
            .filter(|port| *port >= 1024)
            .unwrap_or(LOCAL_ALB_PORT),
        routes,
    }
}

/// Every name the egress proxy resolves, by name and port.
type Names = BTreeMap<(String, u16), MeshName>;

/// Adds `name` unless its name and port are already there: the first source wins.
fn add_name(names: &mut Names, name: MeshName) {
    names.entry((name.name.clone(), name.port)).or_insert(name);
}

/// `name` on `port` (normalised), without a test traffic rule.
fn mesh_name(name: &str, port: u32, target: NameTarget, source: NameSource) -> MeshName {
    MeshName {
        name: normalise_host(name),
        port: u16::try_from(port).unwrap_or(DEFAULT_HTTP_PORT),
        target,
        source,
        test_traffic: None,
    }
}

/// Service Connect client aliases (`blue.serviceconnect:80`), with their test traffic rules.
fn service_connect_names(spec: &StackSpec, namespace: &str, names: &mut Names) {
    for svc in &spec.services {
        if let Some(sc) = &svc.service_connect {
            let dns = sc
                .dns_name
                .clone()
                .unwrap_or_else(|| format!("{}.{namespace}", sc.discovery_name));
            let target = NameTarget::Service(svc.name.clone());
            let name = mesh_name(
                &dns,
                sc.client_alias_port,
                target,
                NameSource::ServiceConnect,
            );
            add_name(
                names,
                MeshName {
                    test_traffic: Some(TestTrafficRule::of(sc.test_traffic.as_ref())),
                    ..name
                },
            );
        }
    }
}

/// The service behind virtual node `node`.
fn node_service(mesh: &MeshSpec, node: &str) -> String {
    mesh.virtual_nodes
        .iter()
        .find(|n| n.name == node)
        .map(|n| n.service.clone())
        .unwrap_or_else(|| node.to_owned())
}

/// Each virtual router's routes, longest prefix first.
fn router_plans(mesh: &MeshSpec) -> BTreeMap<String, Vec<RoutePlan>> {
    let mut routers = BTreeMap::new();
    for router in &mesh.virtual_routers {
        let mut routes: Vec<RoutePlan> = router
            .routes
            .iter()
            .map(|r| RoutePlan {
                name: r.name.clone(),
                prefix: r.prefix.clone(),
                targets: r
                    .targets
                    .iter()
                    .map(|t| (node_service(mesh, &t.virtual_node), t.weight))
                    .collect(),
            })
            .collect();
        // Stable sort: equal lengths keep the declared order.
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        routers.insert(router.name.clone(), routes);
    }
    routers
}

/// App Mesh virtual services (`green.appmesh`, `router`) on their provider's port.
fn virtual_service_names(mesh: &MeshSpec, names: &mut Names) {
    for vs in &mesh.virtual_services {
        let (target, port) = match &vs.provider {
            ProviderSpec::VirtualNode(node) => {
                let port = mesh
                    .virtual_nodes
                    .iter()
                    .find(|n| &n.name == node)
                    .map_or(u32::from(DEFAULT_HTTP_PORT), |n| n.port);
                (NameTarget::Service(node_service(mesh, node)), port)
            }
            ProviderSpec::VirtualRouter(router) => {
                let port = mesh
                    .virtual_routers
                    .iter()
                    .find(|r| &r.name == router)
                    .map_or(u32::from(DEFAULT_HTTP_PORT), |r| r.port);
                (NameTarget::Router(router.clone()), port)
            }
        };
        add_name(
            names,
            mesh_name(&vs.name, port, target, NameSource::VirtualService),
        );
    }
}

/// The App Mesh virtual gateway's routes, longest prefix first.
fn mesh_gateway_plan(g: &GatewaySpec) -> GatewayPlan {
    let mut routes: Vec<GatewayRoutePlan> = g
        .routes
        .iter()
        .map(|r| GatewayRoutePlan {
            name: r.name.clone(),
            prefix: r.prefix.clone(),
            target: GatewayTarget::VirtualService {
                name: r.virtual_service.clone(),
            },
            test_rule: None,
        })
        .collect();
    routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    GatewayPlan {
        name: g.name.clone(),
        listener_port: u16::try_from(g.listener_port).unwrap_or(0),
        routes,
    }
}

/// The Cloud Map records of a private DNS namespace (`blue.appmesh` on the container port).
fn cloud_map_names(spec: &StackSpec, names: &mut Names) {
    if let DiscoverySpec::PrivateDns { namespace } = &spec.cluster.discovery {
        for svc in &spec.services {
            let name = format!("{}.{namespace}", svc.name);
            let target = NameTarget::Service(svc.name.clone());
            add_name(
                names,
                mesh_name(&name, svc.port.container_port, target, NameSource::CloudMap),
            );
        }
    }
}

/// Each service's tasks: the task definition's environment, plus `DOWNSTREAM_ALLOW` when a mesh
/// name falls outside demo-app's default allow-list.
fn service_plans(stack: &Stack, namespace: &str, names: &Names) -> Vec<ServicePlan> {
    stack
        .spec()
        .services
        .iter()
        .map(|svc| ServicePlan {
            name: svc.name.clone(),
            version: svc.version.clone(),
            desired_count: svc.desired_count,
            environment: app_environment(stack, svc),
            downstream_allow: None,
            rollout: RollsOut::of(&stack.deployment(svc)),
            hooks: svc
                .deployment
                .lifecycle_hooks
                .iter()
                .map(|h| serde_json::to_string(h).unwrap_or_default())
                .collect(),
            program: ProgramPlan::of(svc),
        })
        .map(|mut svc| {
            svc.downstream_allow = allow_list_for(&svc, namespace, names.values());
            svc
        })
        .collect()
}

/// Lowercase, without the trailing dot of a fully qualified name.
fn normalise_host(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// demo-app's default allow-list ([`model::downstream::default_allows`]) permits single-label
/// names and names under its namespace, never `localhost` or `instance-data`; when a mesh name
/// falls outside it (a custom Service Connect `dnsName`, a service named `instance-data`), list
/// the namespace wildcard and every mesh name explicitly so the service can still call them.
fn allow_list_for<'a>(
    svc: &ServicePlan,
    namespace: &str,
    names: impl Iterator<Item = &'a MeshName>,
) -> Option<String> {
    if svc.environment.contains_key("DOWNSTREAM_ALLOW") {
        return None; // the user's own list wins, as it would on AWS
    }
    let names: BTreeSet<&str> = names.map(|n| n.name.as_str()).collect();
    if names.iter().all(|n| default_allows(n, Some(namespace))) {
        return None;
    }
    let mut entries = vec![format!("*.{}", namespace.to_ascii_lowercase())];
    entries.extend(names.iter().map(|n| (*n).to_owned()));
    Some(entries.join(","))
}

/// Index of the target `draw` picks among `weights` (see the module docs), or None when every
/// weight is 0.
pub fn pick_weighted(weights: impl IntoIterator<Item = u32> + Clone, draw: u64) -> Option<usize> {
    let total: u64 = weights.clone().into_iter().map(u64::from).sum();
    if total == 0 {
        return None;
    }
    let mut point = draw % total;
    for (i, w) in weights.into_iter().enumerate() {
        let w = u64::from(w);
        if point < w {
            return Some(i);
        }
        point -= w;
    }
    None
}

/// One revision of a service that is rolling out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    /// The revision serving before the rollout.
    Old,
    New,
}

/// Which revision of a rolling-out service serves one request: test traffic (a request that
/// came through a Service Connect alias and matches its rule) goes to the new revision once the
/// split says so; every other request follows the production share, picked by `draw` over
/// tenths of a percent.
pub fn pick_revision(split: Split, test: bool, draw: u64) -> Revision {
    if test && split.test_to_new {
        return Revision::New;
    }
    let new = split.new.tenths().min(1000);
    match pick_weighted([1000 - new, new], draw) {
        Some(1) => Revision::New,
        _ => Revision::Old,
    }
}

/// Whether a request with `headers` matches an ALB test listener rule's `http-header`
/// condition for `rule`: the header name and the value compared case-insensitively, `*`
/// matching any run of characters and `?` one, and any value at all for a rule without one
/// (rendered as `*`); a header given twice matches if one of its values does
/// (`AWS::ElasticLoadBalancingV2::ListenerRule HttpHeaderConfig`,
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-elasticloadbalancingv2-listenerrule-httpheaderconfig.html>).
/// Service Connect's rule compares the value exactly ([`TestTrafficRule::matches`]).
pub fn alb_test_match<'h>(
    rule: &TestTrafficRule,
    headers: impl IntoIterator<Item = (&'h str, &'h str)>,
) -> bool {
    let pattern = model::alb::header_condition_value(rule).to_ascii_lowercase();
    headers.into_iter().any(|(name, value)| {
        name.eq_ignore_ascii_case(&rule.header)
            && glob(pattern.as_bytes(), value.to_ascii_lowercase().as_bytes())
    })
}

/// `*` (any run) and `?` (one character) against `text`, iteratively with one backtrack point.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

/// Splits `path_and_query` at `?`.
fn split_query(path_and_query: &str) -> (&str, &str) {
    match path_and_query.find('?') {
        Some(i) => path_and_query.split_at(i),
        None => (path_and_query, ""),
    }
}

/// App Mesh's default gateway rewrite: the matched prefix of the path becomes `/`; the rest of
/// the path and the query are kept. Borrows when no new string is needed (the common case).
fn rewrite_prefix<'a>(path_and_query: &'a str, prefix: &str) -> Cow<'a, str> {
    if prefix == "/" {
        return Cow::Borrowed(path_and_query);
    }
    let rest = &path_and_query[prefix.len()..];
    if rest.starts_with('/') && !prefix.ends_with('/') {
        Cow::Borrowed(rest)
    } else {
        Cow::Owned(format!("/{rest}"))
    }
}

/// Parses `host[:port]` into a normalised host and a port (80 when absent).
fn parse_authority(authority: &str) -> Option<(String, u16)> {
    let authority = authority.trim();
    if authority.is_empty() || authority.contains(['/', '@', ' ']) {
        return None;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        // IPv6 literal: never a mesh name, but parse it so the answer is "unknown", not "bad".
        let end = rest.find(']')?;
        let host = &rest[..end];
        match &rest[end + 1..] {
            "" => (host, DEFAULT_HTTP_PORT),
            p => (host, p.strip_prefix(':')?.parse().ok()?),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (authority, DEFAULT_HTTP_PORT),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((normalise_host(host), port))
}

/// Where the request on `entry` for `path_and_query` goes, given a uniform `draw` for any
/// weighted pick.
pub fn route<'a>(
    plan: &'a LocalPlan,
    entry: Entry<'_>,
    path_and_query: &'a str,
    draw: u64,
) -> Decision<'a> {
    let path_and_query = if path_and_query.is_empty() {
        "/"
    } else {
        path_and_query
    };
    match entry {
        Entry::Service(name) => match plan.service(name) {
            Some(svc) => Decision::Forward(Forward {
                service: &svc.name,
                path: Cow::Borrowed(path_and_query),
                gateway_route: None,
                router_route: None,
                test_rule: None,
            }),
            None => Decision::Reject(Reject::UnknownService {
                service: name.to_owned(),
            }),
        },
        Entry::Egress { authority } => {
            let Some((host, port)) = parse_authority(authority) else {
                return Decision::Reject(Reject::BadAuthority {
                    authority: authority.to_owned(),
                });
            };
            match plan.names.get(&(host, port)) {
                Some(name) => {
                    match resolve(plan, &name.target, Cow::Borrowed(path_and_query), draw) {
                        Decision::Forward(f) => Decision::Forward(Forward {
                            test_rule: name.test_traffic.as_ref(),
                            ..f
                        }),
                        reject => reject,
                    }
                }
                None => Decision::Reject(Reject::UnknownName {
                    authority: authority.to_owned(),
                }),
            }
        }
        Entry::Gateway => route_gateway(plan, path_and_query, draw),
    }
}

/// The gateway's longest matching route, then its target.
fn route_gateway<'a>(plan: &'a LocalPlan, path_and_query: &'a str, draw: u64) -> Decision<'a> {
    let (path, _) = split_query(path_and_query);
    let no_route = || {
        Decision::Reject(Reject::NoRoute {
            path: path.to_owned(),
        })
    };
    let Some(gateway) = &plan.gateway else {
        return no_route();
    };
    let Some(route) = gateway.routes.iter().find(|r| r.matches(path)) else {
        return no_route();
    };
    let decision = match &route.target {
        GatewayTarget::VirtualService { name } => {
            let rewritten = rewrite_prefix(path_and_query, &route.prefix);
            // The gateway reaches the virtual service on its provider's port, whatever it is.
            let target = plan
                .names
                .values()
                .find(|n| &n.name == name && n.source == NameSource::VirtualService)
                .map(|n| &n.target);
            match target {
                Some(target) => resolve(plan, target, rewritten, draw),
                None => Decision::Reject(Reject::UnknownName {
                    authority: name.clone(),
                }),
            }
        }
        GatewayTarget::Alb { targets, rewrite } => {
            let path = if *rewrite {
                rewrite_prefix(path_and_query, &route.prefix)
            } else {
                Cow::Borrowed(path_and_query)
            };
            match pick_weighted(targets.iter().map(|(_, w)| *w), draw) {
                Some(i) => Decision::Forward(Forward {
                    service: &targets[i].0,
                    path,
                    gateway_route: None,
                    router_route: None,
                    test_rule: route.test_rule.as_ref(),
                }),
                None => no_route(),
            }
        }
    };
    match decision {
        Decision::Forward(f) => Decision::Forward(Forward {
            gateway_route: Some(&route.name),
            ..f
        }),
        reject => reject,
    }
}

/// Follows a name's target to one service.
fn resolve<'a>(
    plan: &'a LocalPlan,
    target: &'a NameTarget,
    path_and_query: Cow<'a, str>,
    draw: u64,
) -> Decision<'a> {
    match target {
        NameTarget::Service(service) => Decision::Forward(Forward {
            service,
            path: path_and_query,
            gateway_route: None,
            router_route: None,
            test_rule: None,
        }),
        NameTarget::Router(router) => {
            let routes = plan.routers.get(router).map(Vec::as_slice).unwrap_or(&[]);
            let (path, _) = split_query(&path_and_query);
            let Some(route) = routes.iter().find(|r| path.starts_with(&r.prefix)) else {
                return Decision::Reject(Reject::NoRoute {
                    path: path.to_owned(),
                });
            };
            match pick_weighted(route.targets.iter().map(|(_, w)| *w), draw) {
                Some(i) => Decision::Forward(Forward {
                    service: &route.targets[i].0,
                    path: path_and_query,
                    gateway_route: None,
                    router_route: Some((router, &route.name)),
                    test_rule: None,
                }),
                None => Decision::Reject(Reject::NoRoute {
                    path: path.to_owned(),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests;
