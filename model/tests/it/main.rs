//! The model's integration tests: one binary, one module per area, and the shared `check` helper.
//!
//! Every validation test starts from a seed example that is known to be valid, breaks exactly
//! one thing, and asserts the exact `(path, message)` list `Stack::new` reports. Asserting the
//! whole list (not "contains") is what catches cascades: a rule that fires twice, or a dangling
//! reference that also trips an unrelated rule.

mod alb_gateway;
mod alb_rollout;
mod blue_green;
mod deployment;
mod deployment_rules;
mod detection;
mod encryption_and_access_logs;
mod examples;
mod json;
mod local;
mod mesh;
mod migrate;
mod network;
mod report;
mod services;

use model::examples::{self as seed, RolloutInputs};
use model::{ServiceSpec, Stack, StackSpec};

/// The bootstrap blue-green state (SPEC §2): what the stack writes on its first deploy.
pub const BOOTSTRAP_STATE: &str = r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#;

pub fn serviceconnect() -> StackSpec {
    seed::serviceconnect("serviceconnect")
}

pub fn appmesh() -> StackSpec {
    seed::appmesh("appmesh")
}

pub fn bluegreen() -> StackSpec {
    let inputs = model::BlueGreenVersions {
        blue: 1,
        green: 1,
        state_json: BOOTSTRAP_STATE.to_owned(),
    };
    seed::bluegreen("bluegreen", &inputs)
}

pub fn gateway() -> StackSpec {
    seed::gateway("gateway")
}

pub fn rollout() -> StackSpec {
    seed::rollout("rollout", &RolloutInputs::default())
}

/// The `(path, message)` pairs `Stack::new` reports for `spec`, in report order (empty if valid).
pub fn problems(spec: StackSpec) -> Vec<(String, String)> {
    match Stack::new(spec) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.into_iter().map(|e| (e.path, e.message)).collect(),
    }
}

/// The one assertion behind every rule test: `base` is valid, and after `mutate` it reports
/// exactly `expected`, in this order.
#[track_caller]
pub fn check_from(base: StackSpec, mutate: impl FnOnce(&mut StackSpec), expected: &[(&str, &str)]) {
    let mut spec = base;
    // A broken base would make every "exactly these problems" assertion below meaningless.
    assert_eq!(
        problems(spec.clone()),
        Vec::<(String, String)>::new(),
        "the base example must be valid"
    );
    mutate(&mut spec);
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(p, m)| ((*p).to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(problems(spec), expected);
}

/// `check_from` the `bluegreen` example: the richest one (private DNS, mesh, gateway, blue-green).
#[track_caller]
pub fn check(mutate: impl FnOnce(&mut StackSpec), expected: &[(&str, &str)]) {
    check_from(bluegreen(), mutate, expected);
}

/// `check_from` the `serviceconnect` example, for rules about Service Connect clusters.
#[track_caller]
pub fn check_sc(mutate: impl FnOnce(&mut StackSpec), expected: &[(&str, &str)]) {
    check_from(serviceconnect(), mutate, expected);
}

/// `check_from` the `rollout` example (LINEAR `web` behind `front`), for deployment rules.
#[track_caller]
pub fn check_rollout(mutate: impl FnOnce(&mut StackSpec), expected: &[(&str, &str)]) {
    check_from(rollout(), mutate, expected);
}

/// `check_from` the `gateway` example, for ALB gateway rules.
#[track_caller]
pub fn check_gateway(mutate: impl FnOnce(&mut StackSpec), expected: &[(&str, &str)]) {
    check_from(gateway(), mutate, expected);
}

/// A service that references nothing (no Service Connect, no sidecar, no backends), so adding it
/// to an example exercises only the rules about the service itself.
pub fn plain_service(name: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.to_owned(),
        service_connect: None,
        app_mesh: None,
        backends: Vec::new(),
        deployment: Default::default(),
        local: None,
        ..serviceconnect().services[0].clone()
    }
}
