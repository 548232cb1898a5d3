//! Template diff over real renders: the blue-green walkthrough as a reviewer sees it

use cfn_render::diff::{ChangeKind, TemplateDiff};
use state_store::BlueGreenState;

use crate::{bluegreen, json};

fn walkthrough_diff(before: &BlueGreenState, version: u32) -> TemplateDiff {
    let after = before.deploy(version).expect("valid version");
    TemplateDiff::between(&json(&bluegreen(before)), &json(&bluegreen(&after)))
}

#[test]
fn bluegreen_v1_to_v2_text() {
    let diff = walkthrough_diff(&BlueGreenState::bootstrap(), 2);
    insta::assert_snapshot!("bluegreen_v1_to_v2", diff.to_text());
}

/// The services reference their task definitions with `Ref`, so the template text of a service
/// does not change: only the change set shows the service being updated to the new revision.
#[test]
fn bluegreen_v1_to_v2_touches_only_green_and_the_state() {
    let diff = walkthrough_diff(&BlueGreenState::bootstrap(), 2);
    let ids: Vec<(&str, ChangeKind)> = diff
        .resources
        .iter()
        .map(|r| (r.logical_id.as_str(), r.kind))
        .collect();
    assert_eq!(
        ids,
        [
            ("BlueGreenStateParameter", ChangeKind::Modified),
            ("GreenTaskDefinition", ChangeKind::Modified),
        ]
    );
    assert!(diff.security.is_empty() && diff.parameters.is_empty());
}

#[test]
fn bluegreen_v2_to_v3_touches_only_blue_and_the_state() {
    let v2 = BlueGreenState::bootstrap().deploy(2).unwrap();
    let diff = walkthrough_diff(&v2, 3);
    let ids: Vec<&str> = diff
        .resources
        .iter()
        .map(|r| r.logical_id.as_str())
        .collect();
    assert_eq!(ids, ["BlueGreenStateParameter", "BlueTaskDefinition"]);
}
