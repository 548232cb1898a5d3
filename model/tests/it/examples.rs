//! The seed examples (SPEC §2 with §3's changes): they validate, and their derived facts hold.

use model::examples::{self, APPS, BlueGreenInputs};
use model::{Ipv4Cidr, NetworkSpec, Stack, VpcLayout, app_environment};

use crate::{BOOTSTRAP_STATE, appmesh, bluegreen, serviceconnect};

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
    assert_eq!(APPS, ["serviceconnect", "appmesh", "bluegreen"]);
}

#[test]
fn the_three_examples_validate() {
    for (app, spec) in APPS.iter().zip([serviceconnect(), appmesh(), bluegreen()]) {
        assert_eq!(spec.name, *app);
        let stack = Stack::new(spec.clone()).unwrap_or_else(|e| panic!("{app}: {e}"));
        // Validation does not rewrite the description it was given.
        assert_eq!(stack.spec(), &spec);
        assert_eq!(stack.name(), *app);
        assert_eq!(stack.into_spec(), spec);
    }
}

#[test]
fn examples_take_the_stack_name_they_are_given() {
    let inputs = BlueGreenInputs {
        blue_version: 1,
        green_version: 1,
        state_json: BOOTSTRAP_STATE.into(),
    };
    for spec in [
        examples::serviceconnect("sc-test"),
        examples::appmesh("am-test"),
        examples::bluegreen("bg-test", &inputs),
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
    let inputs = BlueGreenInputs {
        blue_version: 3,
        green_version: 2,
        state_json: BOOTSTRAP_STATE.into(),
    };
    let spec = examples::bluegreen("bg-test", &inputs);
    assert_eq!(
        spec.blue_green.unwrap().state_parameter,
        "/bg-test/blue-green-state"
    );
    assert_eq!(examples::state_parameter_name("x"), "/x/blue-green-state");
}

#[test]
fn bluegreen_colours_run_the_versions_they_are_given() {
    let state = r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#;
    let inputs = BlueGreenInputs {
        blue_version: 1,
        green_version: 2,
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
    for spec in [serviceconnect(), appmesh(), bluegreen()] {
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
            ("RUST_LOG", "info"),
            ("SERVICE_NAME", "blue"),
            ("SERVICE_NAMESPACE", "serviceconnect"),
            ("SERVICE_PORT", "80"),
            ("SERVICE_VERSION", "unknown"),
        ]
    );
}
