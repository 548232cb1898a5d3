//! The seed walkthrough: deploying 2 changes only green, deploying 3 changes only blue

use std::collections::BTreeSet;

use cfn_render::Template;
use state_store::BlueGreenState;

use crate::{bluegreen, json};

/// Logical ids whose resource differs between two templates (added, removed or changed).
fn changed(before: &Template, after: &Template) -> BTreeSet<String> {
    let ids: BTreeSet<&String> = before
        .resources
        .keys()
        .chain(after.resources.keys())
        .collect();
    ids.into_iter()
        .filter(|id| before.resources.get(*id) != after.resources.get(*id))
        .cloned()
        .collect()
}

fn version_of(t: &Template, task_definition: &str) -> String {
    let env = &json(t)["Resources"][task_definition]["Properties"]["ContainerDefinitions"][0]["Environment"];
    let var = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Name"] == "SERVICE_VERSION")
        .expect("SERVICE_VERSION set");
    var["Value"].as_str().unwrap().to_owned()
}

fn state_value(t: &Template) -> String {
    json(t)["Resources"]["BlueGreenStateParameter"]["Properties"]["Value"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn check(
    before: &BlueGreenState,
    version: u32,
    expected_changes: &[&str],
    expected_versions: (&str, &str),
) -> BlueGreenState {
    let after = before.deploy(version).unwrap();
    let (t0, t1) = (bluegreen(before), bluegreen(&after));
    let expected: BTreeSet<String> = expected_changes.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(changed(&t0, &t1), expected, "deploying version {version}");
    assert_eq!(
        (
            version_of(&t1, "BlueTaskDefinition").as_str(),
            version_of(&t1, "GreenTaskDefinition").as_str()
        ),
        expected_versions
    );
    assert_eq!(state_value(&t1), after.to_json());
    after
}

#[test]
fn version_2_changes_only_green_and_version_3_only_blue() {
    let bootstrap = BlueGreenState::bootstrap();
    let t = bluegreen(&bootstrap);
    assert_eq!(
        (
            version_of(&t, "BlueTaskDefinition").as_str(),
            version_of(&t, "GreenTaskDefinition").as_str()
        ),
        ("1", "1")
    );
    assert_eq!(
        state_value(&t),
        r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#
    );

    let v2 = check(
        &bootstrap,
        2,
        &["BlueGreenStateParameter", "GreenTaskDefinition"],
        ("1", "2"),
    );
    assert_eq!(
        v2.to_json(),
        r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#
    );
    let v3 = check(
        &v2,
        3,
        &["BlueGreenStateParameter", "BlueTaskDefinition"],
        ("3", "2"),
    );
    assert_eq!(
        v3.to_json(),
        r#"{"nextUpdate":"blue","currentVersion":3,"previousVersion":2}"#
    );
}

#[test]
fn redeploying_the_current_version_changes_nothing() {
    let v2 = BlueGreenState::bootstrap().deploy(2).unwrap();
    assert!(changed(&bluegreen(&v2), &bluegreen(&v2.deploy(2).unwrap())).is_empty());
}

#[test]
fn state_parameter_is_named_per_stack() {
    let t = json(&bluegreen(&BlueGreenState::bootstrap()));
    let p = &t["Resources"]["BlueGreenStateParameter"]["Properties"];
    assert_eq!(p["Name"], "/bluegreen/blue-green-state");
    assert_eq!(p["Type"], "String");
}
