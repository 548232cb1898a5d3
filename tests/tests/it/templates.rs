//! cfn-lint over every template the renderer produces: zero errors, no warning but W3696

use cfn_render::RenderOptions;
use model::{NetworkSpec, Stack, StackSpec, examples};
use state_store::BlueGreenState;

fn check(label: &str, spec: StackSpec) {
    let stack = Stack::new(spec).expect("stack validates");
    let template = cfn_render::render(&stack, &RenderOptions::default()).expect("stack renders");
    if let Some(report) = meshtest_tests::cfn_lint(&template.to_json_pretty(), label) {
        report.assert_clean();
    }
}

fn bluegreen(state: &BlueGreenState) -> StackSpec {
    let v = state.versions();
    let inputs = examples::BlueGreenInputs {
        blue_version: v.blue,
        green_version: v.green,
        state_json: state.to_json(),
    };
    examples::bluegreen("bluegreen", &inputs)
}

fn private_network() -> NetworkSpec {
    NetworkSpec::NewVpc {
        cidr: "10.0.0.0/16".into(),
        az_count: 3,
        private_subnets: true,
        nat_gateways: 2,
    }
}

#[test]
fn serviceconnect() {
    check("serviceconnect", examples::serviceconnect("serviceconnect"));
}

#[test]
fn appmesh() {
    check("appmesh", examples::appmesh("appmesh"));
}

#[test]
fn bluegreen_walkthrough() {
    let bootstrap = BlueGreenState::bootstrap();
    let v2 = bootstrap.deploy(2).unwrap();
    let v3 = v2.deploy(3).unwrap();
    check("bluegreen-bootstrap", bluegreen(&bootstrap));
    check("bluegreen-v2", bluegreen(&v2));
    check("bluegreen-v3", bluegreen(&v3));
}

#[test]
fn serviceconnect_with_private_subnets_and_nat() {
    let mut spec = examples::serviceconnect("serviceconnect");
    spec.network = private_network();
    check("serviceconnect-private", spec);
}

#[test]
fn appmesh_with_private_subnets_and_nat() {
    let mut spec = examples::appmesh("appmesh");
    spec.network = private_network();
    check("appmesh-private", spec);
}

#[test]
fn appmesh_in_an_existing_vpc() {
    let mut spec = examples::appmesh("appmesh");
    spec.network = NetworkSpec::ExistingVpc {
        vpc_id: "vpc-0123456789abcdef0".into(),
        subnet_ids: vec!["subnet-11111111".into(), "subnet-22222222".into()],
        assign_public_ip: true,
    };
    check("appmesh-existing-vpc", spec);
}
