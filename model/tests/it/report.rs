//! The error report as a whole: every problem at once, in field order, and how it prints.

use model::{DiscoverySpec, Stack, ValidationError, ValidationErrors};

use crate::{bluegreen, problems, serviceconnect};

/// One problem in each part of the stack, mutated in reverse field order so that the report's
/// order cannot come from the order the test happened to break things in.
fn broken_everywhere() -> model::StackSpec {
    let mut s = bluegreen();
    s.logs.retention_days = 10;
    let bg = s.blue_green.as_mut().unwrap();
    bg.state_json = "{".into();
    let m = s.mesh.as_mut().unwrap();
    m.virtual_services[0].provider = model::ProviderSpec::VirtualNode("purple".into());
    m.virtual_routers[0].routes[0].targets[0].weight = 101;
    m.virtual_nodes[1].port = 8080;
    m.gateway.as_mut().unwrap().routes[0].virtual_service = "purple".into();
    m.name = "my mesh".into();
    s.services[1].backends = vec!["purple".into()];
    s.services[1].health_check.as_mut().unwrap().retries = 0;
    s.services[0].app_mesh.as_mut().unwrap().admin_port = 80;
    s.services[0].memory_mib = 4096;
    s.services[0].port.name = "Express JS".into();
    s.cluster.name = "my cluster".into();
    if let model::NetworkSpec::NewVpc { az_count, .. } = &mut s.network {
        *az_count = 0;
    }
    s.name = "1bad".into();
    s
}

#[test]
fn every_problem_is_reported_in_field_order() {
    let paths: Vec<String> = problems(broken_everywhere())
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    assert_eq!(
        paths,
        [
            "name",
            "network.azCount",
            "cluster.name",
            "services[0].port.name",
            "services[0].memoryMib",
            "services[0].appMesh.adminPort",
            "services[1].healthCheck.retries",
            "services[1].backends[0]",
            "mesh.name",
            "mesh.gateway.routes[0].virtualService",
            "mesh.virtualNodes[1].port",
            "mesh.virtualRouters[0].routes[0].targets[0].weight",
            "mesh.virtualServices[0].provider.virtualNode",
            "blueGreen.stateJson",
            "logs.retentionDays",
        ]
    );
}

#[test]
fn display_lists_every_problem_one_per_line_with_the_count() {
    let errors = Stack::new(broken_everywhere()).expect_err("broken everywhere");
    assert_eq!(errors.0.len(), 15);
    insta::assert_snapshot!(errors.to_string());
}

#[test]
fn display_of_one_problem_is_singular() {
    let mut spec = serviceconnect();
    spec.cluster.discovery = DiscoverySpec::ServiceConnect {
        namespace: "Bad".into(),
    };
    let errors = Stack::new(spec).expect_err("bad namespace");
    assert_eq!(
        errors.to_string(),
        "stack description has 1 problem:\n  cluster.discovery.namespace: `Bad` is not a valid DNS name: \
         use dot-separated labels of 1-63 lowercase letters, digits and hyphens"
    );
}

#[test]
fn one_error_displays_as_path_colon_message() {
    let e = ValidationError {
        path: "services[0].port.name".into(),
        message: "bad".into(),
    };
    assert_eq!(e.to_string(), "services[0].port.name: bad");
    assert_eq!(
        ValidationErrors(vec![e.clone(), e]).to_string(),
        "stack description has 2 problems:\n  services[0].port.name: bad\n  services[0].port.name: bad"
    );
}

#[test]
fn validation_errors_is_a_std_error() {
    // Callers (xtask, the CLI) propagate it with `?` into anyhow; that needs `std::error::Error`.
    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<ValidationErrors>();
    assert_error::<model::LoadError>();
}
