//! Reviewed snapshots of every rendered template, byte for byte what `cargo xtask synth` writes

use model::{StrategyKind, examples};
use state_store::BlueGreenState;

use crate::{bluegreen, render, rollout};

fn check(name: &str, template: &cfn_render::Template) {
    let first = template.to_json_pretty();
    insta::assert_snapshot!(name, first);
}

#[test]
fn serviceconnect() {
    check(
        "serviceconnect",
        &render(examples::serviceconnect("serviceconnect")),
    );
}

#[test]
fn appmesh() {
    check("appmesh", &render(examples::appmesh("appmesh")));
}

#[test]
fn gateway() {
    check("gateway", &render(examples::gateway("gateway")));
}

#[test]
fn rollout_in_each_strategy() {
    for (name, strategy) in [
        ("rollout_linear", StrategyKind::Linear),
        ("rollout_canary", StrategyKind::Canary),
        ("rollout_blue_green", StrategyKind::BlueGreen),
    ] {
        check(name, &rollout(2, strategy));
    }
}

#[test]
fn bluegreen_walkthrough() {
    let bootstrap = BlueGreenState::bootstrap();
    let v2 = bootstrap.deploy(2).unwrap();
    let v3 = v2.deploy(3).unwrap();
    check("bluegreen_bootstrap", &bluegreen(&bootstrap));
    check("bluegreen_version_2", &bluegreen(&v2));
    check("bluegreen_version_3", &bluegreen(&v3));
}

#[test]
fn rendering_is_byte_identical() {
    for spec in [
        examples::serviceconnect("serviceconnect"),
        examples::appmesh("appmesh"),
        examples::gateway("gateway"),
        examples::rollout("rollout", &examples::RolloutInputs::default()),
    ] {
        let a = render(spec.clone()).to_json_pretty();
        let b = render(spec).to_json_pretty();
        assert_eq!(a, b);
    }
    let s = BlueGreenState::bootstrap().deploy(7).unwrap();
    assert_eq!(
        bluegreen(&s).to_json_pretty(),
        bluegreen(&s).to_json_pretty()
    );
}

/// Issue 21's acceptance: `cargo xtask synth gateway --strategy linear`.
#[test]
fn gateway_shifting_at_the_alb() {
    check(
        "gateway_linear",
        &render(examples::gateway_with("gateway", StrategyKind::Linear)),
    );
}

/// The rules ECS moves are the same whatever a deploy changes in the services (version,
/// strategy), so a stack update never sends them to Elastic Load Balancing again and never resets
/// ECS's weights (README "What CloudFormation does with the weights ECS moves").
#[test]
fn the_rules_ecs_owns_do_not_change_between_deploys() {
    let rules = |strategy: StrategyKind, version: &str| {
        let mut spec = examples::gateway_with("gateway", strategy);
        for svc in &mut spec.services {
            svc.version = version.into();
        }
        let json = render(spec).to_json_value();
        ["GatewayBlueRule", "GatewayBlueTestRule", "GatewayGreenRule"]
            .map(|id| json["Resources"][id].clone())
    };
    let first = rules(StrategyKind::Linear, "1");
    assert!(first.iter().all(|r| r.is_object()));
    for (strategy, version) in [
        (StrategyKind::Linear, "2"),
        (StrategyKind::Canary, "2"),
        (StrategyKind::BlueGreen, "3"),
    ] {
        assert_eq!(rules(strategy, version), first, "{strategy:?} {version}");
    }
}
