//! Unit tests of the routing rules, on the seed's stacks and on small variations of them

use core::net::SocketAddr;

use model::examples;
use model::{GatewayRouteSpec, ServiceConnectSpec, Stack, StackSpec};

use super::*;

fn plan(spec: StackSpec) -> LocalPlan {
    LocalPlan::from_stack(&Stack::new(spec).expect("test stack validates"))
}

fn appmesh() -> LocalPlan {
    plan(examples::appmesh("appmesh"))
}

fn serviceconnect() -> LocalPlan {
    plan(examples::serviceconnect("serviceconnect"))
}

fn bluegreen(blue: u32, green: u32) -> LocalPlan {
    plan(examples::bluegreen(
        "bluegreen",
        &model::BlueGreenVersions {
            blue,
            green,
            state_json: r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#.into(),
        },
    ))
}

/// (service, path) of a forward, or the reject's status.
fn outcome(decision: Decision<'_>) -> Result<(String, String), u16> {
    match decision {
        Decision::Forward(f) => Ok((f.service.to_owned(), f.path.into_owned())),
        Decision::Reject(r) => Err(r.status()),
    }
}

fn egress(plan: &LocalPlan, authority: &str, path: &str) -> Result<(String, String), u16> {
    outcome(route(plan, Entry::Egress { authority }, path, 0))
}

fn gateway(plan: &LocalPlan, path: &str, draw: u64) -> Result<(String, String), u16> {
    outcome(route(plan, Entry::Gateway, path, draw))
}

fn ok(service: &str, path: &str) -> Result<(String, String), u16> {
    Ok((service.to_owned(), path.to_owned()))
}

/// splitmix64: a fixed, well-mixed sequence of draws, so ratio tests never flake.
fn draws(n: usize) -> impl Iterator<Item = u64> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    (0..n).map(move |_| {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

#[test]
fn serviceconnect_names_are_the_client_aliases() {
    let p = serviceconnect();
    let names: Vec<(&str, u16, &NameTarget)> = p
        .names()
        .map(|n| (n.name.as_str(), n.port, &n.target))
        .collect();
    assert_eq!(
        names,
        [
            (
                "blue.serviceconnect",
                80,
                &NameTarget::Service("blue".into())
            ),
            (
                "green.serviceconnect",
                80,
                &NameTarget::Service("green".into())
            ),
        ]
    );
    assert_eq!(egress(&p, "blue.serviceconnect", "/"), ok("blue", "/"));
    assert_eq!(
        egress(&p, "blue.serviceconnect:80", "/x?y=1"),
        ok("blue", "/x?y=1")
    );
    // Names are case-insensitive and may be fully qualified.
    assert_eq!(egress(&p, "GREEN.ServiceConnect.", "/"), ok("green", "/"));
    assert!(p.gateway().is_none());
}

#[test]
fn unknown_names_and_ports_are_refused_like_drop_all() {
    let p = serviceconnect();
    assert_eq!(egress(&p, "blue.serviceconnect:8080", "/"), Err(502));
    // The discovery name alone is not a client alias.
    assert_eq!(egress(&p, "blue", "/"), Err(502));
    assert_eq!(egress(&p, "example.com", "/"), Err(502));
    assert_eq!(egress(&p, "169.254.169.254", "/"), Err(502));
    assert_eq!(egress(&p, "[::1]:80", "/"), Err(502));
    for bad in [
        "",
        ":80",
        "blue.serviceconnect:http",
        "a@b",
        "[::1",
        "[::1]x",
    ] {
        assert_eq!(egress(&p, bad, "/"), Err(400), "{bad:?}");
    }
    let Decision::Reject(reject) = route(&p, Entry::Egress { authority: "nope" }, "/", 0) else {
        panic!("nope is not a mesh name");
    };
    assert_eq!(reject.to_string(), "`nope` is not a name in this mesh");
}

#[test]
fn appmesh_names_are_virtual_services_then_cloud_map() {
    let p = appmesh();
    let names: Vec<(&str, &NameTarget, NameSource)> = p
        .names()
        .map(|n| (n.name.as_str(), &n.target, n.source))
        .collect();
    assert_eq!(
        names,
        [
            // Cloud Map's `blue.appmesh` record coincides with the virtual service and loses.
            (
                "blue.appmesh",
                &NameTarget::Service("blue".into()),
                NameSource::VirtualService
            ),
            (
                "green.appmesh",
                &NameTarget::Service("green".into()),
                NameSource::VirtualService
            ),
            (
                "router",
                &NameTarget::Router("router".into()),
                NameSource::VirtualService
            ),
        ]
    );
    assert_eq!(egress(&p, "green.appmesh", "/"), ok("green", "/"));
    let Decision::Forward(f) = route(
        &p,
        Entry::Egress {
            authority: "router",
        },
        "/",
        1,
    ) else {
        panic!("router is a mesh name");
    };
    assert_eq!(f.router_route, Some(("router", "split")));
    assert_eq!(f.gateway_route, None);
}

#[test]
fn gateway_routes_rewrite_the_prefix_to_slash() {
    let p = appmesh();
    assert_eq!(gateway(&p, "/blue", 0), ok("blue", "/"));
    assert_eq!(gateway(&p, "/green", 0), ok("green", "/"));
    assert_eq!(gateway(&p, "/blue/", 0), ok("blue", "/"));
    assert_eq!(gateway(&p, "/blue/x/y", 0), ok("blue", "/x/y"));
    assert_eq!(gateway(&p, "/blue?x=1", 0), ok("blue", "/?x=1"));
    assert_eq!(gateway(&p, "/blue/x?y=/z", 0), ok("blue", "/x?y=/z"));
    // gateway > colour > blue: the colour sees its own /downstream path.
    let (_, path) = gateway(&p, "/split/downstream/blue.appmesh", 0).unwrap();
    assert_eq!(path, "/downstream/blue.appmesh");
    // Plain string prefixes, as Envoy matches them.
    assert_eq!(gateway(&p, "/bluex", 0), ok("blue", "/x"));
    let Decision::Forward(f) = route(&p, Entry::Gateway, "/split", 0) else {
        panic!("/split routes");
    };
    assert_eq!(f.gateway_route, Some("split"));
    assert_eq!(f.router_route, Some(("router", "split")));
}

#[test]
fn gateway_without_a_matching_route_answers_404() {
    let p = appmesh();
    for path in ["/", "/red", "/Blue", "", "?blue"] {
        assert_eq!(gateway(&p, path, 0), Err(404), "{path:?}");
    }
    // A stack without a gateway routes nothing there.
    assert_eq!(gateway(&serviceconnect(), "/blue", 0), Err(404));
}

#[test]
fn longest_prefix_wins_whatever_the_declared_order() {
    let mut spec = examples::appmesh("appmesh");
    let g = spec.mesh.as_mut().unwrap().gateway.as_mut().unwrap();
    let route = |name: &str, prefix: &str, vs: &str| GatewayRouteSpec {
        name: name.into(),
        prefix: prefix.into(),
        virtual_service: vs.into(),
    };
    g.routes = vec![
        route("all", "/", "router"),
        route("blue", "/b", "blue.appmesh"),
        route("green", "/b/green", "green.appmesh"),
    ];
    let p = plan(spec);
    let prefixes: Vec<&str> = p
        .gateway()
        .unwrap()
        .routes
        .iter()
        .map(|r| r.prefix.as_str())
        .collect();
    assert_eq!(prefixes, ["/b/green", "/b", "/"]);
    assert_eq!(gateway(&p, "/b/green/x", 0), ok("green", "/x"));
    assert_eq!(gateway(&p, "/b/x", 0), ok("blue", "/x"));
    // The catch-all keeps the whole path (prefix `/` rewritten to `/`).
    let (_, path) = gateway(&p, "/other?q", 0).unwrap();
    assert_eq!(path, "/other?q");
}

#[test]
fn weighted_pick_is_deterministic_given_the_draw() {
    assert_eq!(pick_weighted([50, 50], 0), Some(0));
    assert_eq!(pick_weighted([50, 50], 49), Some(0));
    assert_eq!(pick_weighted([50, 50], 50), Some(1));
    assert_eq!(pick_weighted([50, 50], 99), Some(1));
    assert_eq!(pick_weighted([50, 50], 100), Some(0));
    assert_eq!(pick_weighted([1, 2, 3], 0), Some(0));
    assert_eq!(pick_weighted([1, 2, 3], 2), Some(1));
    assert_eq!(pick_weighted([1, 2, 3], 3), Some(2));
    assert_eq!(pick_weighted([1, 2, 3], 5), Some(2));
    assert_eq!(
        pick_weighted([1, 2, 3], u64::MAX),
        Some(pick_weighted([1, 2, 3], u64::MAX % 6).unwrap())
    );
    // Weight 0 is never picked; all zero picks nothing.
    assert!((0..1000).all(|d| pick_weighted([0, 7, 0], d) == Some(1)));
    assert_eq!(pick_weighted([0, 0], 3), None);
    assert_eq!(pick_weighted(Vec::<u32>::new(), 3), None);
    // Every draw in one cycle of the total lands exactly in proportion.
    let mut counts = [0; 3];
    for d in 0..600 {
        counts[pick_weighted([10, 20, 70], d).unwrap()] += 1;
    }
    assert_eq!(counts, [60, 120, 420]);
}

#[test]
fn split_lands_within_two_points_of_half_over_ten_thousand_draws() {
    let p = appmesh();
    let mut blue = 0;
    let n = 10_000;
    for draw in draws(n) {
        match gateway(&p, "/split", draw).unwrap().0.as_str() {
            "blue" => blue += 1,
            "green" => {}
            other => panic!("split picked {other}"),
        }
    }
    let share = f64::from(blue) / n as f64;
    assert!((0.48..=0.52).contains(&share), "blue share {share}");
}

#[test]
fn uneven_router_weights_are_honoured() {
    let mut spec = examples::appmesh("appmesh");
    let routes = &mut spec.mesh.as_mut().unwrap().virtual_routers[0].routes;
    routes[0].targets[0].weight = 90;
    routes[0].targets[1].weight = 10;
    let p = plan(spec);
    let n = 10_000;
    let blue = draws(n)
        .filter(|d| gateway(&p, "/split", *d).unwrap().0 == "blue")
        .count();
    let share = blue as f64 / n as f64;
    assert!((0.88..=0.92).contains(&share), "blue share {share}");

    let mut spec = examples::appmesh("appmesh");
    spec.mesh.as_mut().unwrap().virtual_routers[0].routes[0].targets[0].weight = 0;
    let p = plan(spec);
    assert!(draws(1000).all(|d| gateway(&p, "/split", d).unwrap().0 == "green"));
}

#[test]
fn bluegreen_sends_every_path_through_the_router_unchanged() {
    let p = bluegreen(1, 2);
    assert_eq!(gateway(&p, "/", 0).unwrap().1, "/");
    assert_eq!(
        gateway(&p, "/downstream/blue.bluegreen", 0).unwrap().1,
        "/downstream/blue.bluegreen"
    );
    let services: BTreeSet<String> = draws(100).map(|d| gateway(&p, "/", d).unwrap().0).collect();
    assert_eq!(
        services,
        BTreeSet::from(["blue".to_owned(), "green".to_owned()])
    );
    assert_eq!(p.service("blue").unwrap().version, "1");
    assert_eq!(p.service("green").unwrap().version, "2");
    assert!(p.blue_green_state().unwrap().contains("nextUpdate"));
    assert_eq!(egress(&p, "blue.bluegreen", "/"), ok("blue", "/"));
}

#[test]
fn service_listeners_forward_unchanged() {
    let p = appmesh();
    assert_eq!(
        outcome(route(
            &p,
            Entry::Service("green"),
            "/downstream/blue.appmesh",
            0
        )),
        ok("green", "/downstream/blue.appmesh")
    );
    assert_eq!(
        outcome(route(&p, Entry::Service("green"), "", 0)),
        ok("green", "/")
    );
    assert_eq!(outcome(route(&p, Entry::Service("red"), "/", 0)), Err(503));
}

#[test]
fn task_environment_is_the_task_definition_plus_loopback() {
    let p = serviceconnect();
    let egress: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let env = p.service("green").unwrap().task_environment(egress);
    let get = |k: &str| env.get(k).map(String::as_str);
    assert_eq!(get("SERVICE_NAME"), Some("green"));
    assert_eq!(get("SERVICE_VERSION"), Some("unknown"));
    assert_eq!(get("SERVICE_NAMESPACE"), Some("serviceconnect"));
    assert_eq!(get("SERVICE_PORT"), Some("0"));
    assert_eq!(get("SERVICE_HOST"), Some("127.0.0.1"));
    assert_eq!(get("HTTP_PROXY"), Some("http://127.0.0.1:4000"));
    assert_eq!(get("http_proxy"), Some("http://127.0.0.1:4000"));
    assert_eq!(get("NO_PROXY"), Some(""));
    // demo-app's default allow-list already permits `*.serviceconnect`.
    assert_eq!(get("DOWNSTREAM_ALLOW"), None);
    // The model's environment itself keeps the container port, as on AWS.
    assert_eq!(
        p.service("green").unwrap().environment["SERVICE_PORT"],
        "80"
    );
}

#[test]
fn names_outside_the_default_allow_list_are_allowed_explicitly() {
    let mut spec = examples::serviceconnect("serviceconnect");
    spec.services[0].service_connect = Some(ServiceConnectSpec {
        discovery_name: "blue".into(),
        client_alias_port: 80,
        dns_name: Some("api.internal".into()),
        test_traffic: None,
    });
    let p = plan(spec.clone());
    assert_eq!(egress(&p, "api.internal", "/"), ok("blue", "/"));
    assert_eq!(
        p.service("green").unwrap().downstream_allow.as_deref(),
        Some("*.serviceconnect,api.internal,green.serviceconnect")
    );
    // A list the user set wins.
    spec.services[1]
        .environment
        .insert("DOWNSTREAM_ALLOW".into(), "api.internal".into());
    let p = plan(spec);
    assert_eq!(p.service("green").unwrap().downstream_allow, None);
    let env = p
        .service("green")
        .unwrap()
        .task_environment("127.0.0.1:1".parse().unwrap());
    assert_eq!(env["DOWNSTREAM_ALLOW"], "api.internal");
}

#[test]
fn special_names_are_allowed_explicitly() {
    // demo-app's defaults never reach `instance-data.*`, even under the namespace.
    let mut spec = examples::serviceconnect("serviceconnect");
    spec.services[0].service_connect = Some(ServiceConnectSpec {
        discovery_name: "instance-data".into(),
        client_alias_port: 80,
        dns_name: None,
        test_traffic: None,
    });
    let p = plan(spec);
    assert_eq!(
        p.service("green").unwrap().downstream_allow.as_deref(),
        Some("*.serviceconnect,green.serviceconnect,instance-data.serviceconnect")
    );
}

#[test]
fn new_tasks_only_for_a_new_task_definition() {
    let (v1, v2) = (bluegreen(1, 1), bluegreen(1, 2));
    let blue = |p: &LocalPlan| p.service("blue").unwrap().clone();
    let green = |p: &LocalPlan| p.service("green").unwrap().clone();
    assert!(!blue(&v1).needs_new_tasks(&blue(&v2)));
    assert!(green(&v1).needs_new_tasks(&green(&v2)));
    let mut scaled = green(&v1);
    scaled.desired_count = 3;
    assert!(!green(&v1).needs_new_tasks(&scaled));
    let mut env = green(&v1);
    env.environment.insert("FEATURE".into(), "on".into());
    assert!(green(&v1).needs_new_tasks(&env));
}

/// The serviceconnect stack behind an ALB gateway: `/blue`, `/green`, `/split` (50/50, prefix
/// rewritten) and a catch-all `/` to green without a rewrite.
fn alb() -> LocalPlan {
    use model::{AlbGatewaySpec, AlbRuleSpec, AlbTargetSpec};
    let mut spec = examples::serviceconnect("alb");
    let rule = |name: &str, prefix: &str, targets: &[&str], rewrite: bool| AlbRuleSpec {
        name: name.into(),
        path_prefix: prefix.into(),
        targets: targets
            .iter()
            .map(|s| AlbTargetSpec {
                service: (*s).into(),
                weight: 50,
            })
            .collect(),
        rewrite_prefix: rewrite,
    };
    spec.alb_gateway = Some(AlbGatewaySpec {
        name: "alb".into(),
        listener_port: 9080,
        rules: vec![
            rule("all", "/", &["green"], false),
            rule("blue", "/blue", &["blue"], true),
            rule("green", "/green", &["green"], true),
            rule("split", "/split", &["blue", "green"], true),
        ],
        access_logs: None,
        infrastructure_role_arn: None,
    });
    plan(spec)
}

#[test]
fn alb_rules_match_whole_segments_longest_first_and_rewrite_when_told() {
    let p = alb();
    let g = p.gateway().expect("the ALB takes the gateway listener");
    assert_eq!((g.name.as_str(), g.listener_port), ("alb", 9080));
    let described: Vec<String> = g.routes.iter().map(GatewayRoutePlan::describe).collect();
    assert_eq!(
        described,
        [
            "/green -> green (rewrite to /)",
            "/split -> blue 50, green 50 (rewrite to /)",
            "/blue -> blue (rewrite to /)",
            "/ -> green",
        ]
    );
    assert_eq!(gateway(&p, "/blue", 0), ok("blue", "/"));
    assert_eq!(
        gateway(&p, "/blue/downstream/green.serviceconnect?x=1", 0),
        ok("blue", "/downstream/green.serviceconnect?x=1")
    );
    // `/bluex` is not under `/blue`: the catch-all takes it, path unchanged.
    assert_eq!(gateway(&p, "/bluex", 0), ok("green", "/bluex"));
    assert_eq!(gateway(&p, "/", 0), ok("green", "/"));
    let Decision::Forward(f) = route(&p, Entry::Gateway, "/split", 0) else {
        panic!("/split routes");
    };
    assert_eq!((f.gateway_route, f.test_rule), (Some("split"), None));
}

#[test]
fn alb_split_is_half_and_half_over_10000_requests() {
    let p = alb();
    let blue = draws(10_000)
        .filter(|d| gateway(&p, "/split", *d).unwrap().0 == "blue")
        .count();
    assert!((4_800..=5_200).contains(&blue), "blue got {blue} of 10000");
}

#[test]
fn service_connect_aliases_carry_their_test_traffic_rule() {
    let mut spec = examples::serviceconnect("serviceconnect");
    spec.services[0]
        .service_connect
        .as_mut()
        .unwrap()
        .test_traffic = Some(model::TestTrafficSpec {
        header: "x-canary".into(),
        value: "yes".into(),
    });
    let p = plan(spec);
    let rule = |authority| match route(&p, Entry::Egress { authority }, "/", 0) {
        Decision::Forward(f) => f.test_rule.cloned(),
        Decision::Reject(r) => panic!("{r}"),
    };
    let blue = rule("blue.serviceconnect").expect("blue's own rule");
    assert_eq!(
        (blue.header.as_str(), blue.value.as_deref()),
        ("x-canary", Some("yes"))
    );
    let green = rule("green.serviceconnect").expect("ECS's default rule");
    assert_eq!(green, TestTrafficRule::of(None));
    // The rule of a service, what a rollout of it routes test traffic by.
    assert_eq!(p.test_rule("blue"), Some(&blue));
    assert_eq!(p.test_rule("green"), Some(&green));
    assert_eq!(p.test_rule("nobody"), None);
    // Requests from outside the namespace carry no rule.
    let Decision::Forward(f) = route(&p, Entry::Service("blue"), "/", 0) else {
        panic!("the service listener forwards");
    };
    assert_eq!(f.test_rule, None);
    // Neither do App Mesh names.
    let mesh = appmesh();
    let Decision::Forward(f) = route(
        &mesh,
        Entry::Egress {
            authority: "blue.appmesh",
        },
        "/",
        0,
    ) else {
        panic!("blue.appmesh routes");
    };
    assert_eq!(f.test_rule, None);
    assert_eq!(mesh.test_rule("blue"), None);
}

#[test]
fn revisions_follow_the_production_share_and_test_traffic_its_flag() {
    use crate::rollout::Split;
    let share = |split: Split, test: bool| {
        draws(10_000)
            .filter(|d| pick_revision(split, test, *d) == Revision::New)
            .count()
    };
    let at = |percent: u32, test_to_new: bool| Split {
        new: model::Percent::whole(percent),
        test_to_new,
    };
    assert_eq!(share(at(0, false), true), 0, "before TEST_TRAFFIC_SHIFT");
    assert_eq!(share(at(0, true), true), 10_000);
    assert_eq!(share(at(0, true), false), 0);
    let twenty = share(at(20, true), false);
    assert!((1_900..=2_100).contains(&twenty), "{twenty}");
    assert_eq!(share(at(100, true), false), 10_000);
    assert_eq!(share(Split::OLD, false), 0);
}

/// A service that shifts traffic at the ALB: its production rule carries the test listener rule
/// (the same path plus the service's test header), which a gateway request hands to the proxy
/// with the service; other rules carry none, and ROLLING has none at all.
#[test]
fn a_production_rule_at_the_alb_carries_its_test_rule() {
    let stack = Stack::new(examples::gateway_with(
        "gateway",
        model::StrategyKind::Linear,
    ))
    .expect("valid");
    let plan = LocalPlan::from_stack(&stack);
    let rule = TestTrafficRule {
        header: "x-amzn-ecs-blue-green-test".into(),
        value: Some("true".into()),
    };
    let gateway = plan.gateway().expect("the ALB gateway");
    let test_rules: Vec<(&str, Option<&TestTrafficRule>)> = gateway
        .routes
        .iter()
        .map(|r| (r.name.as_str(), r.test_rule.as_ref()))
        .collect();
    assert_eq!(
        test_rules,
        [("green", Some(&rule)), ("blue", Some(&rule))],
        "/split is left out with a strategy"
    );
    match route(&plan, Entry::Gateway, "/blue/downstream/x?q=1", 7) {
        Decision::Forward(f) => {
            assert_eq!(f.service, "blue");
            assert_eq!(f.path, "/downstream/x?q=1");
            assert_eq!(f.test_rule, Some(&rule));
        }
        other => panic!("{other:?}"),
    }
    let rolling = LocalPlan::from_stack(&Stack::new(examples::gateway("gateway")).expect("valid"));
    assert!(
        rolling
            .gateway()
            .expect("the ALB gateway")
            .routes
            .iter()
            .all(|r| r.test_rule.is_none())
    );
    match route(&rolling, Entry::Gateway, "/blue", 7) {
        Decision::Forward(f) => assert_eq!(f.test_rule, None),
        other => panic!("{other:?}"),
    }
}

/// The ALB compares an `http-header` condition's name and value case-insensitively, with `*`
/// and `?` wildcards; a rule without a value is rendered `*` and takes any value.
#[test]
fn the_test_listener_rule_matches_as_the_alb_does() {
    let rule = |value: Option<&str>| TestTrafficRule {
        header: "x-amzn-ecs-blue-green-test".into(),
        value: value.map(str::to_owned),
    };
    let matches = |rule: &TestTrafficRule, headers: &[(&str, &str)]| {
        alb_test_match(rule, headers.iter().copied())
    };
    let exact = rule(Some("true"));
    assert!(matches(&exact, &[("x-amzn-ecs-blue-green-test", "true")]));
    assert!(matches(&exact, &[("X-Amzn-ECS-Blue-Green-Test", "TRUE")]));
    assert!(!matches(&exact, &[("x-amzn-ecs-blue-green-test", "truee")]));
    assert!(!matches(&exact, &[("x-amzn-ecs-blue-green-test", "")]));
    assert!(!matches(&exact, &[("x-other", "true")]));
    assert!(!matches(&exact, &[]));
    // A header given twice matches when one of its values does.
    assert!(matches(
        &exact,
        &[
            ("x-amzn-ecs-blue-green-test", "no"),
            ("x-amzn-ecs-blue-green-test", "true")
        ]
    ));
    let any = rule(None);
    assert!(matches(&any, &[("x-amzn-ecs-blue-green-test", "")]));
    assert!(matches(&any, &[("x-amzn-ecs-blue-green-test", "anything")]));
    assert!(!matches(&any, &[("x-other", "true")]));
    let wild = rule(Some("v?-*-end"));
    assert!(matches(&wild, &[("x-amzn-ecs-blue-green-test", "v2--end")]));
    assert!(matches(
        &wild,
        &[("x-amzn-ecs-blue-green-test", "V2-abc-END")]
    ));
    assert!(!matches(
        &wild,
        &[("x-amzn-ecs-blue-green-test", "v22-x-end")]
    ));
    assert!(!matches(
        &wild,
        &[("x-amzn-ecs-blue-green-test", "v2-x-en")]
    ));
}

/// `serviceconnect` with green running its own program: versions 1 and 2, a CMD-SHELL check.
fn with_program(version: &str) -> LocalPlan {
    let mut spec = examples::serviceconnect("serviceconnect");
    let green = &mut spec.services[1];
    green.version = version.into();
    green.health_check = Some(model::HealthCheckSpec {
        command: vec!["CMD-SHELL".into(), "curl -f localhost:$PORT".into()],
        interval_seconds: 10,
        timeout_seconds: 5,
        retries: 3,
        start_period_seconds: 0,
    });
    green.local = Some(model::LocalSpec {
        command: vec!["python3".into(), "app.py".into()],
        working_directory: Some("/srv/green".into()),
        environment: [("A".to_owned(), "1".to_owned())].into(),
        health_check_path: None,
        stop_timeout_seconds: Some(5),
        versions: [
            ("1".to_owned(), model::LocalVersionSpec::default()),
            (
                "2".to_owned(),
                model::LocalVersionSpec {
                    command: Some(vec!["python3".into(), "v2.py".into()]),
                    environment: [("A".to_owned(), "2".to_owned())].into(),
                },
            ),
        ]
        .into(),
    });
    plan(spec)
}

#[test]
fn a_local_block_is_the_program_of_its_version_and_demo_app_is_the_default() {
    let one = with_program("1");
    assert_eq!(one.service("blue").unwrap().program, None);
    let program = one.service("green").unwrap().program.clone().unwrap();
    assert_eq!(program.command, ["python3", "app.py"]);
    assert_eq!(program.working_directory.as_deref(), Some("/srv/green"));
    assert_eq!(program.stop_timeout_seconds, 5);
    match &program.health {
        HealthPlan::Command { argv, check } => {
            assert_eq!(argv, &["sh", "-c", "curl -f localhost:$PORT"]);
            assert_eq!(check.interval_seconds, 10);
        }
        other => panic!("{other:?}"),
    }
    let two = with_program("2");
    let program2 = two.service("green").unwrap().program.clone().unwrap();
    assert_eq!(program2.command, ["python3", "v2.py"]);
    assert_eq!(program2.environment.get("A").map(String::as_str), Some("2"));
    // Another program is a new task definition; blue's demo-app is not touched.
    assert!(
        one.service("green")
            .unwrap()
            .needs_new_tasks(two.service("green").unwrap())
    );
    assert!(one.runs_programs() && !serviceconnect().runs_programs());
}

#[test]
fn a_program_is_told_its_port_name_and_version() {
    let p = with_program("2");
    let green = p.service("green").unwrap();
    let program = green.program.as_ref().unwrap();
    let env = program::program_environment(
        &green.environment,
        program,
        (&green.name, &green.version),
        41000,
        None,
    );
    let get = |k: &str| env.get(k).map(String::as_str);
    assert_eq!(get("PORT"), Some("41000"));
    // The port mapping's container port, rewritten to the free one.
    assert_eq!(get("SERVICE_PORT"), Some("41000"));
    assert_eq!(get("MESHTEST_SERVICE"), Some("green"));
    assert_eq!(get("MESHTEST_VERSION"), Some("2"));
    assert_eq!(get("SERVICE_NAMESPACE"), Some("serviceconnect"));
    assert_eq!(get("A"), Some("2"));
    assert_eq!(get("HTTP_PROXY"), None, "names resolve from /etc/hosts");
    let egress: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let env = program::program_environment(
        &green.environment,
        program,
        (&green.name, &green.version),
        41000,
        Some(egress),
    );
    assert_eq!(
        env.get("HTTP_PROXY").map(String::as_str),
        Some("http://127.0.0.1:4000")
    );
    assert_eq!(
        env.get("NO_PROXY").map(String::as_str),
        Some("localhost,127.0.0.1")
    );
}

#[test]
fn each_client_alias_gets_its_own_stable_address_in_127_255() {
    let p = serviceconnect();
    let addresses = p.alias_addresses();
    assert_eq!(
        addresses.keys().collect::<Vec<_>>(),
        ["blue.serviceconnect", "green.serviceconnect"]
    );
    let blue = addresses["blue.serviceconnect"];
    assert_ne!(blue, addresses["green.serviceconnect"]);
    for addr in addresses.values() {
        let [a, b, ..] = addr.octets();
        assert_eq!((a, b), (127, 255), "{addr}");
        assert!(*addr != core::net::Ipv4Addr::new(127, 255, 0, 0));
    }
    // Adding a name moves no other.
    let more = program::alias_addresses(
        "serviceconnect",
        [
            "blue.serviceconnect",
            "green.serviceconnect",
            "red.serviceconnect",
        ],
    );
    assert_eq!(more["blue.serviceconnect"], blue);
    // Every name is distinct even when many hash alike.
    let names: Vec<String> = (0..2000).map(|i| format!("s{i}.shop")).collect();
    let many = program::alias_addresses("shop", names.iter().map(String::as_str));
    let distinct: BTreeSet<_> = many.values().collect();
    assert_eq!(distinct.len(), 2000);
    // Listeners: the alias's own address on its port.
    let listeners = p.alias_listeners();
    assert!(
        listeners.contains(&(
            "blue.serviceconnect:80".to_owned(),
            SocketAddr::from((blue, 80))
        )),
        "{listeners:?}"
    );
    let hosts = program::hosts_file("127.0.0.1 localhost", &addresses);
    assert!(hosts.starts_with("127.0.0.1 localhost\n"), "{hosts}");
    assert!(
        hosts.contains(&format!("{blue}\tblue.serviceconnect\n")),
        "{hosts}"
    );
}

/// While blue rolls out of the plain gateway into the gateway with a strategy, what runs is the
/// new description with blue's running tasks: `/split` is gone, `/blue` carries its test rule,
/// and blue keeps the version, environment and allow-list its running tasks were started with.
#[test]
fn a_rolling_service_keeps_its_running_tasks_in_the_new_description() {
    let running = plan(examples::gateway("gateway"));
    let mut spec = examples::gateway_with("gateway", model::StrategyKind::Linear);
    let blue = spec.services.iter_mut().find(|s| s.name == "blue").unwrap();
    blue.version = "2".into();
    blue.environment.insert("GREETING".into(), "hi".into());
    let target = plan(spec);
    let meanwhile = target.with_tasks_of(&running, "blue");

    let (was, now) = (
        running.service("blue").unwrap(),
        meanwhile.service("blue").unwrap(),
    );
    assert_eq!(now.version, was.version);
    assert_eq!(now.environment, was.environment);
    assert_eq!(now.downstream_allow, was.downstream_allow);
    assert!(!was.needs_new_tasks(now), "blue's tasks are left alone");
    // Its deployment configuration is the new one: the rollout goes by it.
    assert_eq!(now.rollout, target.service("blue").unwrap().rollout);
    assert!(now.rollout.is_some());
    // Everything else is the new description's.
    assert_eq!(meanwhile.gateway(), target.gateway());
    assert_eq!(meanwhile.service("green"), target.service("green"));
    let routes: Vec<&str> = meanwhile
        .gateway()
        .unwrap()
        .routes
        .iter()
        .map(|r| r.prefix.as_str())
        .collect();
    assert_eq!(routes, ["/green", "/blue"]);
    let blue_rule = meanwhile
        .gateway()
        .unwrap()
        .routes
        .iter()
        .find(|r| r.name == "blue");
    assert!(blue_rule.is_some_and(|r| r.test_rule.is_some()));
    // A service it does not name, or one the running plan lacks, changes nothing.
    assert_eq!(target.with_tasks_of(&running, "nobody"), target);
}
