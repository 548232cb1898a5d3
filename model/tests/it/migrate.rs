//! App Mesh models migrated to Service Connect, an ALB gateway and a native strategy.

use model::migrate::{MigrateError, MigrateOptions, Migration, Successor, migrate, migrate_with};
use model::{
    AlbGatewaySpec, AlbRuleSpec, AlbTargetSpec, DeploymentController, DiscoverySpec, Percent,
    ProviderSpec, ServiceConnectSpec, Stack, StackSpec, StrategyKind, examples,
};

use crate::{appmesh, bluegreen, serviceconnect};

/// Migrates `spec`, checks the successor validates and is free of App Mesh, and returns it.
#[track_caller]
fn migrated(spec: &StackSpec) -> Migration {
    let m = migrate(spec).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    Stack::new(m.spec.clone()).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    assert!(m.spec.mesh.is_none());
    assert!(m.spec.blue_green.is_none());
    assert!(m.spec.services.iter().all(|s| s.app_mesh.is_none()));
    m
}

fn rule(name: &str, prefix: &str, targets: &[(&str, u32)], rewrite_prefix: bool) -> AlbRuleSpec {
    AlbRuleSpec {
        name: name.into(),
        path_prefix: prefix.into(),
        targets: targets
            .iter()
            .map(|(service, weight)| AlbTargetSpec {
                service: (*service).into(),
                weight: *weight,
            })
            .collect(),
        rewrite_prefix,
    }
}

fn no_equivalent(m: &Migration) -> Vec<&str> {
    m.rows
        .iter()
        .filter(|r| matches!(r.successor, Successor::NoEquivalent { .. }))
        .map(|r| r.element.as_str())
        .collect()
}

#[test]
fn appmesh_becomes_service_connect_with_an_alb_gateway() {
    let m = migrated(&appmesh());
    let spec = &m.spec;
    assert_eq!(
        spec.description.as_deref(),
        Some("appmesh: migrated from App Mesh to Service Connect by meshtest migrate")
    );
    assert_eq!(
        spec.cluster.discovery,
        DiscoverySpec::ServiceConnect {
            namespace: "appmesh".into()
        }
    );
    let names: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["blue", "green"]);
    // `blue.appmesh:80` keeps resolving: discovery `blue` in namespace `appmesh`, the node's port.
    assert_eq!(
        spec.services[0].service_connect,
        Some(ServiceConnectSpec {
            discovery_name: "blue".into(),
            client_alias_port: 80,
            dns_name: None,
            test_traffic: None,
        })
    );
    assert_eq!(spec.services[0].backends, ["green"]);
    assert!(spec.services.iter().all(|s| s.deployment.is_default()));
    assert_eq!(
        spec.alb_gateway,
        Some(AlbGatewaySpec {
            name: "virtual-gateway".into(),
            listener_port: 80,
            rules: vec![
                rule("blue", "/blue", &[("blue", 1)], true),
                rule("green", "/green", &[("green", 1)], true),
                rule("split", "/split", &[("blue", 50), ("green", 50)], true),
            ],
            access_logs: None,
            infrastructure_role_arn: None,
        })
    );
    assert_eq!(
        no_equivalent(&m),
        [
            "egress filter DROP_ALL",
            "persistent weighted routing between two services inside the mesh",
            "per-route retry policy",
            "mutual TLS",
            "header routing to a different service",
        ]
    );
    insta::assert_snapshot!("appmesh_table", m.table().to_string());
}

#[test]
fn bluegreen_becomes_one_service_with_a_linear_deployment_behind_a_front() {
    let m = migrated(&bluegreen());
    let spec = &m.spec;
    let names: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["app", "front"]);
    let (app, front) = (&spec.services[0], &spec.services[1]);
    assert_eq!(app.version, "1");
    assert!(
        app.backends.is_empty(),
        "the colours' calls to each other go"
    );
    let sc = app.service_connect.as_ref().expect("service connect");
    assert_eq!(
        (sc.discovery_name.as_str(), sc.client_alias_port),
        ("app", 80)
    );
    assert_eq!(
        app.deployment,
        examples::rollout_deployment(StrategyKind::Linear)
    );
    let d = &app.deployment;
    assert_eq!(d.controller, DeploymentController::Ecs);
    assert_eq!(
        d.linear.as_ref().map(|l| l.step_percent),
        Some(Percent::whole(20))
    );
    let alarms = d.alarms.as_ref().expect("alarms");
    assert!(alarms.rollback && alarms.error_rate.is_some());
    // The ALB cannot target a LINEAR service here: `front` (rolling) calls `app` over Service Connect.
    assert_eq!(front.backends, ["app"]);
    assert!(front.deployment.is_default());
    assert_eq!(
        front
            .service_connect
            .as_ref()
            .map(|sc| sc.discovery_name.as_str()),
        Some("front")
    );
    assert_eq!(
        spec.alb_gateway.as_ref().map(|g| g.rules.clone()),
        Some(vec![rule("all", "/", &[("front", 1)], false)])
    );
    insta::assert_snapshot!("bluegreen_table", m.table().to_string());
}

#[test]
fn bluegreen_without_a_gateway_needs_no_front() {
    let mut spec = bluegreen();
    spec.mesh.as_mut().unwrap().gateway = None;
    let m = migrated(&spec);
    let names: Vec<&str> = m.spec.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["app"]);
    assert_eq!(m.spec.alb_gateway, None);
}

#[test]
fn bluegreen_keeps_the_live_colours_version() {
    // Green received version 3 last; blue still runs 2.
    let inputs = model::BlueGreenVersions {
        blue: 2,
        green: 3,
        state_json: r#"{"nextUpdate":"green","currentVersion":3,"previousVersion":2}"#.into(),
    };
    let m = migrated(&examples::bluegreen("bg", &inputs));
    assert_eq!(m.spec.services[0].version, "3");
    let blue_live = model::BlueGreenVersions {
        state_json: r#"{"nextUpdate":"blue","currentVersion":2,"previousVersion":3}"#.into(),
        ..inputs
    };
    let m = migrated(&examples::bluegreen("bg", &blue_live));
    assert_eq!(m.spec.services[0].version, "2");
}

#[test]
fn bluegreen_strategy_can_be_chosen() {
    for strategy in [StrategyKind::Canary, StrategyKind::BlueGreen] {
        let m = migrate_with(
            &bluegreen(),
            &MigrateOptions {
                strategy,
                ..MigrateOptions::default()
            },
        )
        .unwrap();
        Stack::new(m.spec.clone()).unwrap();
        let d = &m.spec.services[0].deployment;
        assert_eq!(d.strategy, strategy);
        assert_eq!(d.linear, None);
        assert_eq!(d.canary.is_some(), strategy == StrategyKind::Canary);
    }
}

#[test]
fn coloured_names_merge_into_their_common_name() {
    let mut spec = bluegreen();
    let json = serde_json::to_string(&spec)
        .unwrap()
        .replace("\"blue\"", "\"api-blue\"")
        .replace("\"green\"", "\"api-green\"");
    spec = serde_json::from_str(&json).unwrap();
    let m = migrated(&spec);
    assert_eq!(m.spec.services[0].name, "api");
}

#[test]
fn a_virtual_service_outside_the_namespace_keeps_its_name_as_dns_name() {
    let mut spec = appmesh();
    let json = serde_json::to_string(&spec)
        .unwrap()
        .replace("blue.appmesh", "blue.svc.local");
    spec = serde_json::from_str(&json).unwrap();
    let m = migrated(&spec);
    let sc = m.spec.services[0].service_connect.clone().unwrap();
    assert_eq!(sc.discovery_name, "blue");
    assert_eq!(sc.dns_name.as_deref(), Some("blue.svc.local"));
}

#[test]
fn a_node_calling_a_router_loses_the_weights() {
    let mut spec = appmesh();
    let mesh = spec.mesh.as_mut().unwrap();
    mesh.virtual_nodes[0].backends = vec!["router".into()];
    mesh.gateway = None;
    let m = migrated(&spec);
    assert_eq!(m.spec.alb_gateway, None);
    let rows = no_equivalent(&m);
    assert!(rows.contains(&"virtual router `router` route `split` (/: blue 50, green 50)"));
    assert!(rows.contains(&"virtual node `blue` backend `router`"));
}

#[test]
fn a_model_without_a_mesh_is_refused() {
    assert_eq!(
        migrate(&serviceconnect()).unwrap_err(),
        MigrateError::NoMesh {
            stack: "serviceconnect".into()
        }
    );
}

#[test]
fn an_invalid_mesh_model_is_refused_with_its_problems() {
    let mut spec = appmesh();
    spec.mesh.as_mut().unwrap().virtual_services[0].provider =
        ProviderSpec::VirtualNode("nowhere".into());
    let err = migrate(&spec).unwrap_err();
    assert!(
        matches!(&err, MigrateError::Invalid(e) if e.0.len() == 1),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("mesh.virtualServices[0].provider.virtualNode")
    );
}

#[test]
fn a_state_without_a_live_colour_is_refused() {
    let mut spec = bluegreen();
    spec.blue_green.as_mut().unwrap().state_json = "{}".into();
    assert_eq!(migrate(&spec).unwrap_err(), MigrateError::NoLiveColour);
}

#[test]
fn a_router_without_a_catch_all_route_is_refused() {
    let mut spec = appmesh();
    spec.mesh.as_mut().unwrap().virtual_routers[0].routes[0].prefix = "/x".into();
    assert_eq!(
        migrate(&spec).unwrap_err(),
        MigrateError::NoCatchAllRoute {
            router: "router".into()
        }
    );
}

/// `migrate appmesh --strategy linear` (issue 21 item 6): the services the virtual gateway
/// routes to alone deploy LINEAR at the ALB, with ECS's test header; `/split`, a weighted
/// forward across both, is left out and said so.
#[test]
fn the_services_the_gateway_routes_to_take_the_strategy_at_the_alb() {
    let options = MigrateOptions {
        gateway_strategy: Some(StrategyKind::Linear),
        ..MigrateOptions::default()
    };
    let m = migrate_with(&appmesh(), &options).unwrap();
    let stack = Stack::new(m.spec.clone()).unwrap();
    let gw = m.spec.alb_gateway.as_ref().expect("an ALB gateway");
    assert_eq!(
        gw.rules,
        [
            rule("blue", "/blue", &[("blue", 1)], true),
            rule("green", "/green", &[("green", 1)], true),
        ]
    );
    for svc in &m.spec.services {
        assert_eq!(
            svc.deployment.strategy,
            StrategyKind::Linear,
            "{}",
            svc.name
        );
        let shift = stack.alb_shift(svc).expect("shifts at the ALB");
        assert_eq!(
            shift.test_rule.map(|t| t.header),
            Some(model::DEFAULT_TEST_TRAFFIC_HEADER.to_owned())
        );
    }
    assert!(
        no_equivalent(&m)
            .iter()
            .any(|e| e.starts_with("gateway route `split`")),
        "{:?}",
        no_equivalent(&m)
    );
    insta::assert_snapshot!("appmesh_linear_table", m.table().to_string());

    // ROLLING, or no strategy: the gateway stays as it was.
    for gateway_strategy in [None, Some(StrategyKind::Rolling)] {
        let options = MigrateOptions {
            gateway_strategy,
            ..MigrateOptions::default()
        };
        assert_eq!(
            migrate_with(&appmesh(), &options).unwrap(),
            migrate(&appmesh()).unwrap()
        );
    }
}
