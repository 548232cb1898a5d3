//! The seed examples (SPEC §2 with §3's changes): they validate, and their derived facts hold.

use model::examples::{self, APPS, App, AppBuild, RolloutInputs};
use model::{
    DEFAULT_TEST_TRAFFIC_HEADER, DeploymentController, ErrorRateAlarmSpec, Ipv4Cidr, NetworkSpec,
    PROPAGATE_HEADERS, Percent, Stack, StrategyKind, TestTrafficSpec, VpcLayout, app_environment,
    propagate_headers,
};

use crate::{BOOTSTRAP_STATE, appmesh, bluegreen, gateway, rollout, serviceconnect};

fn cidrs(list: &[Ipv4Cidr]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

fn layout(network: NetworkSpec) -> VpcLayout {
    let mut spec = serviceconnect();
    spec.network = network;
    Stack::new(spec)
        .expect("valid")
        .vpc()
        .expect("a new VPC has a layout")
        .clone()
}

#[test]
fn apps_are_listed_in_display_order() {
    let names: Vec<&str> = APPS.iter().map(|app| app.name).collect();
    assert_eq!(
        names,
        [
            "serviceconnect",
            "appmesh",
            "bluegreen",
            "gateway",
            "rollout"
        ]
    );
}

#[test]
fn the_five_examples_validate() {
    let specs = [
        serviceconnect(),
        appmesh(),
        bluegreen(),
        gateway(),
        rollout(),
    ];
    assert_eq!(specs.len(), APPS.len());
    for (app, spec) in APPS.iter().map(|app| app.name).zip(specs) {
        assert_eq!(spec.name, app);
        let stack = Stack::new(spec.clone()).unwrap_or_else(|e| panic!("{app}: {e}"));
        // Validation does not rewrite the description it was given.
        assert_eq!(stack.spec(), &spec);
        assert_eq!(stack.name(), app);
        assert_eq!(stack.into_spec(), spec);
    }
}

#[test]
fn every_registry_app_builds_a_valid_stack_of_its_name() {
    let versions = model::BlueGreenVersions {
        blue: 1,
        green: 1,
        state_json: BOOTSTRAP_STATE.into(),
    };
    for app in APPS {
        let spec = match app.build {
            AppBuild::Plain(build) => build(app.name),
            AppBuild::BlueGreen(build) => build(app.name, &versions),
            AppBuild::Rollout(build) => build(app.name, &RolloutInputs::default()),
            AppBuild::Strategy(build) => build(app.name, model::StrategyKind::Linear),
        };
        assert_eq!(spec.name, app.name);
        Stack::new(spec).unwrap_or_else(|e| panic!("{}: {e}", app.name));
        assert_eq!(
            App::find(app.name).map(|found| found.description),
            Some(app.description)
        );
    }
    assert!(App::find("nope").is_none());
}

#[test]
fn examples_take_the_stack_name_they_are_given() {
    let inputs = model::BlueGreenVersions {
        blue: 1,
        green: 1,
        state_json: BOOTSTRAP_STATE.into(),
    };
    for spec in [
        examples::serviceconnect("sc-test"),
        examples::appmesh("am-test"),
        examples::bluegreen("bg-test", &inputs),
        examples::gateway("gw-test"),
        examples::rollout("ro-test", &RolloutInputs::default()),
    ] {
        Stack::new(spec.clone()).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        assert_eq!(spec.cluster.name, spec.name);
    }
}

#[test]
fn bluegreen_state_parameter_is_per_stack() {
    assert_eq!(
        bluegreen().blue_green.unwrap().state_parameter,
        "/bluegreen/blue-green-state"
    );
    let inputs = model::BlueGreenVersions {
        blue: 3,
        green: 2,
        state_json: BOOTSTRAP_STATE.into(),
    };
    let spec = examples::bluegreen("bg-test", &inputs);
    assert_eq!(
        spec.blue_green.unwrap().state_parameter,
        "/bg-test/blue-green-state"
    );
    assert_eq!(
        model::BlueGreenSpec::parameter_for("x"),
        "/x/blue-green-state"
    );
}

#[test]
fn bluegreen_colours_run_the_versions_they_are_given() {
    let state = r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#;
    let inputs = model::BlueGreenVersions {
        blue: 1,
        green: 2,
        state_json: state.into(),
    };
    let stack = Stack::new(examples::bluegreen("bluegreen", &inputs)).expect("valid");
    assert_eq!(stack.service("blue").unwrap().version, "1");
    assert_eq!(stack.service("green").unwrap().version, "2");
    let bg = stack.spec().blue_green.as_ref().unwrap();
    assert_eq!(
        (bg.blue_service.as_str(), bg.green_service.as_str()),
        ("blue", "green")
    );
    assert_eq!(bg.state_json, state);
}

#[test]
fn default_vpc_is_two_public_17s_without_nat() {
    for spec in [
        serviceconnect(),
        appmesh(),
        bluegreen(),
        gateway(),
        rollout(),
    ] {
        let stack = Stack::new(spec).expect("valid");
        let vpc = stack.vpc().expect("the examples create their VPC");
        assert_eq!(vpc.cidr.to_string(), "10.0.0.0/16");
        assert_eq!(
            cidrs(&vpc.public_subnets),
            ["10.0.0.0/17", "10.0.128.0/17"],
            "{}",
            stack.name()
        );
        assert!(vpc.private_subnets.is_empty());
        assert_eq!(vpc.nat_gateways, 0);
    }
}

#[test]
fn private_subnets_follow_the_public_ones() {
    let two = layout(NetworkSpec::NewVpc {
        cidr: "10.0.0.0/16".into(),
        az_count: 2,
        private_subnets: true,
        nat_gateways: 1,
    });
    assert_eq!(cidrs(&two.public_subnets), ["10.0.0.0/18", "10.0.64.0/18"]);
    assert_eq!(
        cidrs(&two.private_subnets),
        ["10.0.128.0/18", "10.0.192.0/18"]
    );
    assert_eq!(two.nat_gateways, 1);

    // Six subnets round up to eight equal blocks; the last two stay free.
    let three = layout(NetworkSpec::NewVpc {
        cidr: "172.16.0.0/20".into(),
        az_count: 3,
        private_subnets: true,
        nat_gateways: 3,
    });
    assert_eq!(
        cidrs(&three.public_subnets),
        ["172.16.0.0/23", "172.16.2.0/23", "172.16.4.0/23"]
    );
    assert_eq!(
        cidrs(&three.private_subnets),
        ["172.16.6.0/23", "172.16.8.0/23", "172.16.10.0/23"]
    );
    assert_eq!(three.nat_gateways, 3);
}

#[test]
fn app_environment_is_the_demo_app_contract() {
    let mut spec = serviceconnect();
    spec.services[0]
        .environment
        .insert("RUST_LOG".into(), "info".into());
    let stack = Stack::new(spec).expect("valid");
    let env = app_environment(&stack, stack.service("blue").unwrap());
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        [
            // blue calls green, whose alias has ECS's default rule.
            ("PROPAGATE_HEADERS", DEFAULT_TEST_TRAFFIC_HEADER),
            ("RUST_LOG", "info"),
            ("SERVICE_NAME", "blue"),
            ("SERVICE_NAMESPACE", "serviceconnect"),
            ("SERVICE_PORT", "80"),
            ("SERVICE_VERSION", "unknown"),
        ]
    );
}

/// A caller passes on ECS's default test header and each rule's header of the Service Connect
/// services it calls, so test traffic reaches a new revision through it.
#[test]
fn callers_propagate_the_test_headers_of_the_services_they_call() {
    let headers = |spec: model::StackSpec, svc: &str| {
        let stack = Stack::new(spec).expect("valid");
        let svc = stack.service(svc).unwrap();
        let env = app_environment(&stack, svc);
        (
            propagate_headers(&stack, svc),
            env.get(PROPAGATE_HEADERS).cloned(),
        )
    };
    // web's rule is the default header with a value: listed once.
    assert_eq!(
        headers(rollout(), "front"),
        (
            vec![DEFAULT_TEST_TRAFFIC_HEADER.to_owned()],
            Some(DEFAULT_TEST_TRAFFIC_HEADER.to_owned())
        )
    );
    // web calls nothing: demo-app's default applies.
    assert_eq!(headers(rollout(), "web"), (vec![], None));
    // A custom rule: its header after ECS's default.
    let mut custom = rollout();
    let web = custom
        .services
        .iter_mut()
        .find(|s| s.name == "web")
        .unwrap();
    web.service_connect.as_mut().unwrap().test_traffic = Some(TestTrafficSpec {
        header: "x-canary".into(),
        value: "yes".into(),
    });
    let want = format!("{DEFAULT_TEST_TRAFFIC_HEADER},x-canary");
    assert_eq!(headers(custom, "front").1, Some(want));
    // A user's own value would hide a rule's header from its callers: the model refuses it
    // (`services::reserved_env_names_are_refused_with_their_reason`).
    // App Mesh has no test traffic: nothing to pass on.
    let mesh = appmesh();
    for svc in mesh
        .services
        .iter()
        .map(|s| s.name.clone())
        .collect::<Vec<_>>()
    {
        assert_eq!(headers(mesh.clone(), &svc), (vec![], None), "{svc}");
    }
}

/// Each ALB rule in one line: `name prefix -> service weight, ... [rewrite]`.
fn alb_rules(spec: &model::StackSpec) -> Vec<String> {
    let alb = spec.alb_gateway.as_ref().expect("an ALB gateway");
    alb.rules
        .iter()
        .map(|r| {
            let targets: Vec<String> = r
                .targets
                .iter()
                .map(|t| format!("{} {}", t.service, t.weight))
                .collect();
            let rewrite = if r.rewrite_prefix { " rewrite" } else { "" };
            format!(
                "{} {} -> {}{rewrite}",
                r.name,
                r.path_prefix,
                targets.join(", ")
            )
        })
        .collect()
}

#[test]
fn gateway_routes_the_seeds_paths_through_an_alb() {
    let stack = Stack::new(gateway()).expect("valid");
    let spec = stack.spec();
    assert_eq!(spec.cluster.discovery.namespace(), "gateway");
    assert!(spec.mesh.is_none() && spec.blue_green.is_none());
    let alb = spec.alb_gateway.as_ref().unwrap();
    assert_eq!((alb.name.as_str(), alb.listener_port), ("gateway", 80));
    assert_eq!(
        alb_rules(spec),
        [
            "blue /blue -> blue 1 rewrite",
            "green /green -> green 1 rewrite",
            "split /split -> blue 50, green 50 rewrite",
        ]
    );
    for (name, peer) in [("blue", "green"), ("green", "blue")] {
        let svc = stack.service(name).unwrap();
        let sc = svc.service_connect.as_ref().expect("Service Connect");
        assert_eq!(
            (sc.discovery_name.as_str(), sc.client_alias_port),
            (name, 80)
        );
        assert_eq!(svc.backends, [peer]);
        assert!(!svc.public, "{name}: only the ALB reaches the services");
        assert!(svc.deployment.is_default());
    }
}

#[test]
fn rollout_shifts_web_with_the_strategy_it_is_given() {
    let stack = Stack::new(rollout()).expect("valid");
    let spec = stack.spec();
    assert_eq!(spec.cluster.discovery.namespace(), "rollout");
    assert_eq!(alb_rules(spec), ["front / -> front 1"]);
    let front = stack.service("front").unwrap();
    assert_eq!(front.backends, ["web"]);
    assert_eq!(front.version, "1");
    assert!(front.deployment.is_default() && !front.public);

    let web = stack.service("web").unwrap();
    assert_eq!(web.version, "1");
    assert!(!web.public);
    let test = web.service_connect.as_ref().unwrap().test_traffic.as_ref();
    let test = test.expect("a test traffic rule");
    assert_eq!(
        (test.header.as_str(), test.value.as_str()),
        (DEFAULT_TEST_TRAFFIC_HEADER, "true")
    );
    let d = &web.deployment;
    assert_eq!(
        (d.controller, d.strategy, d.bake_time_minutes),
        (DeploymentController::Ecs, StrategyKind::Linear, Some(2))
    );
    let linear = d.linear.as_ref().unwrap();
    assert_eq!(
        (linear.step_percent, linear.step_bake_time_minutes),
        (Percent::whole(20), 1)
    );
    assert!(d.canary.is_none());
    let alarms = d.alarms.as_ref().unwrap();
    assert!(alarms.rollback && alarms.names.is_empty());
    assert_eq!(alarms.error_rate, Some(ErrorRateAlarmSpec::default()));
    assert!(d.circuit_breaker.enable && d.circuit_breaker.rollback);
}

#[test]
fn rollout_strategies_and_versions() {
    for (strategy, linear, canary) in [
        (StrategyKind::Linear, true, false),
        (StrategyKind::Canary, false, true),
        (StrategyKind::BlueGreen, false, false),
    ] {
        let inputs = RolloutInputs {
            version: 7,
            strategy,
        };
        let stack = Stack::new(examples::rollout("ro", &inputs))
            .unwrap_or_else(|e| panic!("{strategy:?}: {e}"));
        let web = stack.service("web").unwrap();
        assert_eq!(web.version, "7");
        let d = &web.deployment;
        assert_eq!((d.strategy, d.bake_time_minutes), (strategy, Some(2)));
        assert_eq!((d.linear.is_some(), d.canary.is_some()), (linear, canary));
        if let Some(c) = &d.canary {
            assert_eq!(
                (c.canary_percent, c.canary_bake_time_minutes),
                (Percent::whole(10), 2)
            );
        }
        // front never changes with web's strategy or version.
        assert_eq!(stack.service("front"), rollout().services.first());
    }
}

#[test]
fn strategies_parse_from_the_command_line() {
    for (text, kind) in [
        ("blue-green", StrategyKind::BlueGreen),
        ("BLUE_GREEN", StrategyKind::BlueGreen),
        ("linear", StrategyKind::Linear),
        ("Canary", StrategyKind::Canary),
        ("rolling", StrategyKind::Rolling),
    ] {
        assert_eq!(text.parse::<StrategyKind>(), Ok(kind), "{text}");
        assert_eq!(kind.cli_name().parse::<StrategyKind>(), Ok(kind));
    }
    // The echoed text is quoted and escaped: an ESC cannot reach the terminal.
    assert_eq!(
        "bluegreen\u{1b}"
            .parse::<StrategyKind>()
            .unwrap_err()
            .to_string(),
        "unknown deployment strategy `bluegreen\\u{1b}`: use blue-green, linear, canary or rolling"
    );
}
