//! The seed's three stacks (SPEC §2) with SPEC §3's improvements, and their post-App-Mesh
//! successors (`gateway`, `rollout`: SPEC §10), as model constructors

use std::collections::BTreeMap;

use crate::deployment::*;
use crate::spec::*;

/// One app this tool knows: its name, what `list` shows, and how its model is built.
#[derive(Debug, Clone, Copy)]
pub struct App {
    pub name: &'static str,
    pub description: &'static str,
    pub build: AppBuild,
}

/// How an app's model is built, by what it needs besides the stack name: a caller matches on
/// it and supplies exactly those inputs.
#[derive(Debug, Clone, Copy)]
pub enum AppBuild {
    /// Only the stack name (a deploy's version then applies to every service).
    Plain(fn(&str) -> StackSpec),
    /// A blue-green pair: each colour's version and the state the stack writes come from the
    /// blue-green state, which the caller holds (SSM on AWS, state.json locally, or the
    /// bootstrap state). Which stacks keep a state is the model's call (`Stack::blue_green`).
    BlueGreen(fn(&str, &BlueGreenVersions) -> StackSpec),
    /// `web`'s version and the strategy ECS shifts its traffic with.
    Rollout(fn(&str, &RolloutInputs) -> StackSpec),
    /// The strategy of the services behind the ALB gateway (ROLLING unless one is chosen); a
    /// deploy's version applies to every service, as for `Plain`, except with a
    /// traffic-shifting strategy ([`App::takes_version`]).
    Strategy(fn(&str, StrategyKind) -> StackSpec),
}

/// Every app, in the order `cargo xtask list` shows them: the seed's three, then their
/// successors. The one registry: the command line, the deploy engine and the tests that cover
/// every app all read it.
pub const APPS: &[App] = &[
    App {
        name: "serviceconnect",
        description: "ECS cluster, blue and green discovering each other through Service Connect",
        build: AppBuild::Plain(serviceconnect),
    },
    App {
        name: "appmesh",
        description: "blue and green in App Mesh behind a virtual gateway: /blue, /green, /split (50/50)",
        build: AppBuild::Plain(appmesh),
    },
    App {
        name: "bluegreen",
        description: "blue-green versions through an App Mesh 50/50 router, state in SSM",
        build: AppBuild::BlueGreen(bluegreen),
    },
    App {
        name: "gateway",
        description: "the appmesh successor: an ALB with /blue, /green, /split (50/50) to Service Connect services; --strategy shifts blue and green at the ALB (without /split)",
        build: AppBuild::Strategy(gateway_with),
    },
    App {
        name: "rollout",
        description: "the bluegreen successor: web shifts traffic with ECS-native linear, canary or blue/green",
        build: AppBuild::Rollout(rollout),
    },
];

impl App {
    /// The app called `name`, if there is one.
    pub fn find(name: &str) -> Option<&'static App> {
        APPS.iter().find(|app| app.name == name)
    }

    /// Whether a deploy's version goes to `service` of a `Plain` or `Strategy` app built with
    /// `strategy`. Every service's, except in `gateway` with a traffic-shifting strategy: there
    /// it is [`GATEWAY_VERSIONED`]'s alone, as `rollout`'s is `web`'s, so one deploy rolls out
    /// one service and its `/blue` rule. ECS would run two services' deployments side by side;
    /// the local runtime rolls out one service at a time, and the rehearsal's figures are about
    /// one production rule.
    pub fn takes_version(&self, strategy: Option<StrategyKind>, service: &str) -> bool {
        match self.build {
            AppBuild::Strategy(_) if strategy.is_some_and(StrategyKind::is_native_shift) => {
                service == GATEWAY_VERSIONED
            }
            _ => true,
        }
    }
}

/// The service of `gateway` that a deploy with a traffic-shifting strategy gives its version
/// to ([`App::takes_version`]).
pub const GATEWAY_VERSIONED: &str = "blue";

const APP_PORT: u32 = 80;

/// The demo service's container health check: the binary checks its own port, no curl needed.
fn demo_health_check() -> HealthCheckSpec {
    HealthCheckSpec {
        command: vec![
            "CMD".into(),
            "/usr/local/bin/demo-app".into(),
            "health-check".into(),
        ],
        interval_seconds: 10,
        timeout_seconds: 5,
        retries: 3,
        start_period_seconds: 10,
    }
}

fn demo_service(name: &str, version: &str, backends: &[&str]) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        image: ImageSpec::Parameter,
        version: version.into(),
        port: PortSpec {
            container_port: APP_PORT,
            name: "expressjs".into(),
            app_protocol: Some(AppProtocol::Http),
        },
        environment: BTreeMap::new(),
        cpu: 256,
        memory_mib: 512,
        desired_count: 1,
        health_check: Some(demo_health_check()),
        service_connect: None,
        app_mesh: None,
        public: true,
        backends: backends.iter().map(|b| (*b).into()).collect(),
        deployment: DeploymentSpec::default(),
        local: None,
    }
}

fn network() -> NetworkSpec {
    NetworkSpec::public_only("10.0.0.0/16", 2)
}

fn service_connect(discovery_name: &str) -> ServiceConnectSpec {
    ServiceConnectSpec {
        discovery_name: discovery_name.into(),
        client_alias_port: APP_PORT,
        dns_name: None,
        test_traffic: None,
    }
}

/// `demo_service` registered in Service Connect under its own name.
fn sc_service(name: &str, version: &str, backends: &[&str]) -> ServiceSpec {
    ServiceSpec {
        service_connect: Some(service_connect(name)),
        ..demo_service(name, version, backends)
    }
}

/// A Service Connect stack: cluster named after the stack, namespace `namespace`.
fn sc_stack(
    stack_name: &str,
    namespace: &str,
    description: &str,
    services: Vec<ServiceSpec>,
) -> StackSpec {
    StackSpec {
        name: stack_name.into(),
        description: Some(description.into()),
        network: network(),
        cluster: ClusterSpec {
            name: stack_name.into(),
            container_insights: true,
            discovery: DiscoverySpec::ServiceConnect {
                namespace: namespace.into(),
            },
        },
        services,
        mesh: None,
        blue_green: None,
        alb_gateway: None,
        logs: LogSpec::default(),
    }
}

/// `serviceconnect`: blue and green discover each other through Service Connect.
pub fn serviceconnect(stack_name: &str) -> StackSpec {
    sc_stack(
        stack_name,
        "serviceconnect",
        "meshtest serviceconnect: two services discovering each other through ECS Service Connect",
        vec![
            sc_service("blue", "unknown", &["green"]),
            sc_service("green", "unknown", &["blue"]),
        ],
    )
}

fn mesh_service(name: &str, version: &str, peer: &str) -> ServiceSpec {
    ServiceSpec {
        app_mesh: Some(SidecarSpec::for_node(name)),
        ..demo_service(name, version, &[peer])
    }
}

fn node(name: &str, backend: &str) -> VirtualNodeSpec {
    VirtualNodeSpec {
        name: name.into(),
        service: name.into(),
        port: APP_PORT,
        health_check_path: "/".into(),
        health_check_interval_seconds: 5,
        backends: vec![backend.into()],
        access_log: true,
    }
}

fn split_route(name: &str) -> RouteSpec {
    RouteSpec {
        name: name.into(),
        prefix: "/".into(),
        targets: vec![
            WeightedTargetSpec {
                virtual_node: "blue".into(),
                weight: 50,
            },
            WeightedTargetSpec {
                virtual_node: "green".into(),
                weight: 50,
            },
        ],
    }
}

fn gateway_route(name: &str, prefix: &str, target: &str) -> GatewayRouteSpec {
    GatewayRouteSpec {
        name: name.into(),
        prefix: prefix.into(),
        virtual_service: target.into(),
    }
}

/// A mesh with blue and green nodes, a 50/50 router, and a gateway with `routes`.
fn colour_mesh(namespace: &str, route_name: &str, routes: Vec<GatewayRouteSpec>) -> MeshSpec {
    let blue_vs = format!("blue.{namespace}");
    let green_vs = format!("green.{namespace}");
    MeshSpec {
        name: namespace.into(),
        egress_filter: EgressFilter::DropAll,
        gateway: Some(GatewaySpec {
            name: "virtual-gateway".into(),
            listener_port: 9080,
            health_check_interval_seconds: 10,
            load_balancer_port: 80,
            envoy_image: SidecarSpec::for_node("").envoy_image,
            cpu: 256,
            memory_mib: 512,
            desired_count: 1,
            routes,
            access_logs: None,
        }),
        virtual_nodes: vec![node("blue", &green_vs), node("green", &blue_vs)],
        virtual_routers: vec![VirtualRouterSpec {
            name: "router".into(),
            port: APP_PORT,
            routes: vec![split_route(route_name)],
        }],
        virtual_services: vec![
            VirtualServiceSpec {
                name: blue_vs,
                provider: ProviderSpec::VirtualNode("blue".into()),
            },
            VirtualServiceSpec {
                name: green_vs,
                provider: ProviderSpec::VirtualNode("green".into()),
            },
            VirtualServiceSpec {
                name: "router".into(),
                provider: ProviderSpec::VirtualRouter("router".into()),
            },
        ],
    }
}

/// An App Mesh stack: as [`sc_stack`], discovered through a private DNS namespace.
fn mesh_stack(
    stack_name: &str,
    namespace: &str,
    description: &str,
    services: Vec<ServiceSpec>,
    mesh: MeshSpec,
) -> StackSpec {
    let mut spec = sc_stack(stack_name, namespace, description, services);
    spec.cluster.discovery = DiscoverySpec::PrivateDns {
        namespace: namespace.into(),
    };
    spec.mesh = Some(mesh);
    spec
}

/// `appmesh`: blue and green in an App Mesh mesh behind a virtual gateway with
/// `/blue`, `/green` and `/split` (50/50) routes.
pub fn appmesh(stack_name: &str) -> StackSpec {
    let ns = "appmesh";
    let routes = vec![
        gateway_route("blue", "/blue", "blue.appmesh"),
        gateway_route("green", "/green", "green.appmesh"),
        gateway_route("split", "/split", "router"),
    ];
    mesh_stack(
        stack_name,
        ns,
        "meshtest appmesh: two services in an App Mesh mesh behind a virtual gateway",
        vec![
            mesh_service("blue", "unknown", "green"),
            mesh_service("green", "unknown", "blue"),
        ],
        colour_mesh(ns, "split", routes),
    )
}

/// `bluegreen`: the appmesh topology with one gateway route to a 50/50 router, each colour
/// at the version the blue-green state gives it, and the state written by the stack.
pub fn bluegreen(stack_name: &str, inputs: &BlueGreenVersions) -> StackSpec {
    let ns = "bluegreen";
    let mut spec = mesh_stack(
        stack_name,
        ns,
        "meshtest bluegreen: blue-green deployment of one service through an App Mesh router",
        vec![
            mesh_service("blue", &inputs.blue.to_string(), "green"),
            mesh_service("green", &inputs.green.to_string(), "blue"),
        ],
        colour_mesh(ns, "bluegreen", vec![gateway_route("all", "/", "router")]),
    );
    spec.blue_green = Some(BlueGreenSpec {
        blue_service: "blue".into(),
        green_service: "green".into(),
        state_parameter: BlueGreenSpec::parameter_for(stack_name),
        state_json: inputs.state_json.clone(),
    });
    spec
}

fn alb_rule(name: &str, path_prefix: &str, targets: &[(&str, u32)], rewrite: bool) -> AlbRuleSpec {
    AlbRuleSpec {
        name: name.into(),
        path_prefix: path_prefix.into(),
        targets: targets
            .iter()
            .map(|(service, weight)| AlbTargetSpec {
                service: (*service).into(),
                weight: *weight,
            })
            .collect(),
        rewrite_prefix: rewrite,
    }
}

/// `gateway`: the `appmesh` successor. Blue and green call each other through Service Connect;
/// an ALB routes `/blue`, `/green` and `/split` (50/50) to them with the prefix rewritten to `/`,
/// so `/split/downstream/blue.gateway` reaches a colour as `/downstream/blue.gateway`.
pub fn gateway(stack_name: &str) -> StackSpec {
    let private = |name: &str, peer: &str| ServiceSpec {
        public: false,
        ..sc_service(name, "unknown", &[peer])
    };
    let mut spec = sc_stack(
        stack_name,
        "gateway",
        "meshtest gateway: two Service Connect services behind an ALB with /blue, /green and /split (50/50) rules",
        vec![private("blue", "green"), private("green", "blue")],
    );
    spec.alb_gateway = Some(AlbGatewaySpec {
        name: "gateway".into(),
        listener_port: 80,
        rules: vec![
            alb_rule("blue", "/blue", &[("blue", 1)], true),
            alb_rule("green", "/green", &[("green", 1)], true),
            alb_rule("split", "/split", &[("blue", 50), ("green", 50)], true),
        ],
        access_logs: None,
        infrastructure_role_arn: None,
    });
    spec
}

/// `gateway` with blue and green deploying `strategy` (issue 21). ROLLING is `gateway` itself.
/// With a traffic-shifting strategy ECS moves each colour's `/blue` or `/green` rule between
/// the colour's two target groups (short bakes, as `rollout`'s `web`), a request with
/// `x-amzn-ecs-blue-green-test: true` reaches the new revision from the test stage on, and
/// `/split` is left out: a weighted forward across services cannot share a target group ECS
/// moves (the model refuses it; README "Rolling out a service behind the gateway"). Each colour
/// rolls back on its error-rate alarm, which reads its two target groups
/// ([`crate::alarm::ErrorRateReads::TargetGroups`]). A deploy's version goes to blue alone
/// ([`App::takes_version`]).
pub fn gateway_with(stack_name: &str, strategy: StrategyKind) -> StackSpec {
    let mut spec = gateway(stack_name);
    if !strategy.is_native_shift() {
        return spec;
    }
    for svc in &mut spec.services {
        svc.deployment = rollout_deployment(strategy);
        if let Some(sc) = svc.service_connect.as_mut() {
            sc.test_traffic = Some(TestTrafficSpec {
                header: DEFAULT_TEST_TRAFFIC_HEADER.into(),
                value: "true".into(),
            });
        }
    }
    if let Some(gw) = spec.alb_gateway.as_mut() {
        gw.rules.retain(|r| r.targets.len() == 1);
    }
    spec
}

/// What `rollout` deploys: `web`'s version and the strategy ECS moves traffic to it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloutInputs {
    pub version: u32,
    pub strategy: StrategyKind,
}

impl Default for RolloutInputs {
    fn default() -> Self {
        RolloutInputs {
            version: 1,
            strategy: StrategyKind::Linear,
        }
    }
}

/// `web`'s deployment in `rollout` for `strategy`: short bakes so a rollout is watchable, the
/// stack's 5xx-rate alarm with rollback, and the circuit breaker.
pub fn rollout_deployment(strategy: StrategyKind) -> DeploymentSpec {
    DeploymentSpec {
        controller: DeploymentController::Ecs,
        strategy,
        bake_time_minutes: strategy.is_native_shift().then_some(2),
        linear: (strategy == StrategyKind::Linear).then_some(LinearSpec {
            step_percent: Percent::whole(20),
            step_bake_time_minutes: 1,
        }),
        canary: (strategy == StrategyKind::Canary).then_some(CanarySpec {
            canary_percent: Percent::whole(10),
            canary_bake_time_minutes: 2,
        }),
        alarms: Some(AlarmsSpec {
            names: Vec::new(),
            error_rate: Some(ErrorRateAlarmSpec::default()),
            rollback: true,
        }),
        circuit_breaker: CircuitBreakerSpec::default(),
        lifecycle_hooks: Vec::new(),
    }
}

/// `rollout`: the `bluegreen` successor. `front`, behind the ALB, calls `web` over Service
/// Connect; `web` runs `inputs.version` and ECS shifts traffic to a new version with
/// `inputs.strategy`, test traffic marked by `x-amzn-ecs-blue-green-test: true`.
pub fn rollout(stack_name: &str, inputs: &RolloutInputs) -> StackSpec {
    let front = ServiceSpec {
        public: false,
        ..sc_service("front", "1", &["web"])
    };
    let mut web = ServiceSpec {
        public: false,
        deployment: rollout_deployment(inputs.strategy),
        ..sc_service("web", &inputs.version.to_string(), &[])
    };
    if let Some(sc) = web.service_connect.as_mut() {
        sc.test_traffic = Some(TestTrafficSpec {
            header: DEFAULT_TEST_TRAFFIC_HEADER.into(),
            value: "true".into(),
        });
    }
    let mut spec = sc_stack(
        stack_name,
        "rollout",
        "meshtest rollout: front behind an ALB calls web over Service Connect; web deploys with an ECS-native strategy",
        vec![front, web],
    );
    spec.alb_gateway = Some(AlbGatewaySpec {
        name: "rollout".into(),
        listener_port: 80,
        rules: vec![alb_rule("front", "/", &[("front", 1)], false)],
        access_logs: None,
        infrastructure_role_arn: None,
    });
    spec
}

/// A reading of `web`'s deployment from version `1` to `2` in progress: `strategy`, at
/// `stage`, with `production` percent on `2` and nothing else known (no bake, alarm, hook,
/// step or task counts). The one fixture the display, event and dashboard tests start from
/// (`RolloutProgress { field, ..rollout_progress(...) }`), so a new field is added here only.
pub fn rollout_progress(
    strategy: StrategyKind,
    stage: DeploymentStage,
    production: u32,
) -> RolloutProgress {
    RolloutProgress {
        service: "web".into(),
        status: DeploymentStatus::InProgress,
        strategy,
        stage: Some(stage),
        source: Some("1".into()),
        target: Some("2".into()),
        production_percent: Percent::whole(production),
        test_traffic_on_target: false,
        bake_remaining_ms: None,
        alarms_triggered: Vec::new(),
        rollback_reason: None,
        paused_at: None,
        alarms: Vec::new(),
        hook_running: None,
        hook_timeouts: Vec::new(),
        step: None,
        observed_percent: None,
        revisions: Vec::new(),
        hook_waiting: None,
        started_at_ms: None,
    }
}

/// `rollout`'s error-rate alarm on `web` (`rollout-web-error-rate`, threshold 10%) read in
/// `state` with `value_tenths` (the last period's 5xx share in tenths of a percent) and a reason
/// naming the period and the state. The one alarm reading the event and display tests start
/// from (`AlarmReading { field, ..error_rate_reading(...) }`).
pub fn error_rate_reading(state: AlarmState, value_tenths: Option<u32>) -> AlarmReading {
    AlarmReading {
        name: "rollout-web-error-rate".into(),
        state,
        threshold_percent: Some(Percent::whole(10)),
        value_percent: value_tenths.map(Percent::from_tenths),
        reason: Some(format!("period 3: {}", state.as_str())),
    }
}
