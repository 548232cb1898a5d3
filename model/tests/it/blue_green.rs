//! Blue-green rules: the two colour services, the state parameter's name and the state JSON.

use model::{BlueGreenSpec, StackSpec};

use crate::check;

fn bg(s: &mut StackSpec) -> &mut BlueGreenSpec {
    s.blue_green
        .as_mut()
        .expect("the bluegreen example has a blue-green section")
}

#[test]
fn missing_colour_services() {
    check(
        |s| bg(s).blue_service = "purple".to_owned(),
        &[(
            "blueGreen.blueService",
            "service `purple` is not in this stack",
        )],
    );
    check(
        |s| {
            bg(s).blue_service = "cyan".to_owned();
            bg(s).green_service = "magenta".to_owned();
        },
        &[
            (
                "blueGreen.blueService",
                "service `cyan` is not in this stack",
            ),
            (
                "blueGreen.greenService",
                "service `magenta` is not in this stack",
            ),
        ],
    );
}

#[test]
fn same_service_for_both_colours() {
    check(
        |s| bg(s).green_service = "blue".to_owned(),
        &[(
            "blueGreen.greenService",
            "blue and green must be different services",
        )],
    );
}

#[test]
fn bad_state_parameter_name() {
    let rule = "is not a valid SSM parameter name: start with `/`, use letters, digits and `/_.-`, not under /aws or /ssm";
    for name in [
        "bluegreen/state",
        "/bluegreen/blue green",
        "/aws/state",
        "/AWS/state",
        "/ssm/state",
        "/bg/state$",
    ] {
        let message = format!("`{name}` {rule}");
        check(
            |s| bg(s).state_parameter = name.to_owned(),
            &[("blueGreen.stateParameter", &message)],
        );
    }
    check(
        |s| bg(s).state_parameter = "/team-a/bluegreen.v2/state_1".to_owned(),
        &[],
    );
}

#[test]
fn invalid_state_json() {
    for state in ["", "{", r#"{"nextUpdate":"blue",}"#] {
        check(
            |s| bg(s).state_json = state.to_owned(),
            &[("blueGreen.stateJson", "state is not valid JSON")],
        );
    }
}

#[test]
fn state_json_larger_than_an_ssm_parameter() {
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(4096));
    check(
        |s| bg(s).state_json = big,
        &[(
            "blueGreen.stateJson",
            "state is larger than the 4096 bytes a standard SSM parameter holds",
        )],
    );
}

#[test]
fn the_model_says_which_stacks_keep_a_blue_green_state() {
    let stack = model::Stack::new(crate::bluegreen()).expect("valid");
    let pair = stack.blue_green().expect("the bluegreen app keeps a state");
    assert_eq!(pair.state_parameter, "/bluegreen/blue-green-state");
    let plain = model::Stack::new(crate::serviceconnect()).expect("valid");
    assert!(plain.blue_green().is_none());
    assert!(
        plain
            .with_blue_green(&model::BlueGreenVersions {
                blue: 2,
                green: 3,
                state_json: "{}".into(),
            })
            .is_none()
    );
}

#[test]
fn a_state_sets_each_colour_by_the_pair_not_by_name() {
    // Colours named by the pair, not by convention: swap which service is blue.
    let mut spec = crate::bluegreen();
    let pair = bg(&mut spec);
    std::mem::swap(&mut pair.blue_service, &mut pair.green_service);
    let stack = model::Stack::new(spec).expect("valid");
    let versions = model::BlueGreenVersions {
        blue: 4,
        green: 3,
        state_json: r#"{"nextUpdate":"green","currentVersion":4,"previousVersion":3}"#.into(),
    };
    let next = stack
        .with_blue_green(&versions)
        .expect("it keeps a state")
        .expect("still valid");
    let version = |name: &str| next.service(name).expect("service").version.clone();
    assert_eq!(
        (version("green"), version("blue")),
        ("4".into(), "3".into())
    );
    assert_eq!(
        next.blue_green().expect("pair").state_json,
        versions.state_json
    );
}
