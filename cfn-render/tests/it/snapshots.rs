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
