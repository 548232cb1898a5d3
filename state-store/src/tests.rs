//! Unit tests for the blue-green state: JSON compatibility with the seed and the transition

use super::*;

fn state(next_update: Colour, current_version: u32, previous_version: u32) -> BlueGreenState {
    BlueGreenState {
        next_update,
        current_version,
        previous_version,
    }
}

/// Parses `input` and compares with the expected state, or with a substring of the error.
fn check_parse(input: &str, expected: Result<BlueGreenState, &str>) {
    let actual = BlueGreenState::from_json(input);
    match (&actual, &expected) {
        (Ok(got), Ok(want)) => assert_eq!(got, want, "input: {input}"),
        (Err(err), Err(want)) => {
            let message = err.to_string();
            assert!(
                message.contains(want),
                "input: {input}\nerror: {message}\nexpected it to contain: {want}"
            );
        }
        _ => panic!("input: {input}\ngot: {actual:?}\nexpected: {expected:?}"),
    }
}

#[test]
fn parses_seed_json() {
    check_parse(
        r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#,
        Ok(state(Colour::Blue, 1, 1)),
    );
    check_parse(
        r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#,
        Ok(state(Colour::Green, 2, 1)),
    );
    // Whitespace and key order do not matter on input.
    check_parse(
        "{ \"previousVersion\": 7,\n  \"currentVersion\": 9, \"nextUpdate\": \"green\" }",
        Ok(state(Colour::Green, 9, 7)),
    );
}

#[test]
fn parses_readme_spelling_next_version() {
    check_parse(
        r#"{"nextUpdate":"green","currentVersion":3,"nextVersion":2}"#,
        Ok(state(Colour::Green, 3, 2)),
    );
}

#[test]
fn rejects_bad_json() {
    check_parse("", Err("state is not valid blue-green state JSON: EOF"));
    check_parse(
        "not json",
        Err("state is not valid blue-green state JSON: expected"),
    );
    check_parse(
        r#"{"nextUpdate":"blue","currentVersion":1}"#,
        Err("missing field `previousVersion`"),
    );
    check_parse(
        r#"{"currentVersion":1,"previousVersion":1}"#,
        Err("missing field `nextUpdate`"),
    );
    check_parse(
        r#"{"nextUpdate":"red","currentVersion":1,"previousVersion":1}"#,
        Err("unknown variant `red`, expected `blue` or `green`"),
    );
    check_parse(
        r#"{"nextUpdate":"Blue","currentVersion":1,"previousVersion":1}"#,
        Err("unknown variant `Blue`"),
    );
    check_parse(
        r#"{"nextUpdate":"blue","currentVersion":"1","previousVersion":1}"#,
        Err("invalid type: string \"1\", expected u32"),
    );
    check_parse(
        r#"{"nextUpdate":"blue","currentVersion":-1,"previousVersion":1}"#,
        Err("invalid value: integer `-1`, expected u32"),
    );
    check_parse(
        r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1,"extra":true}"#,
        Err("unknown field `extra`"),
    );
    // Both spellings at once is ambiguous: refuse rather than pick one silently.
    check_parse(
        r#"{"nextUpdate":"blue","currentVersion":2,"previousVersion":1,"nextVersion":1}"#,
        Err("duplicate field `previousVersion`"),
    );
    check_parse(
        r#"{"nextUpdate":"blue","currentVersion":0,"previousVersion":0}"#,
        Err("stored state has currentVersion 0 but versions start at 1"),
    );
    check_parse(
        r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":0}"#,
        Err("stored state has previousVersion 0 but versions start at 1"),
    );
}

#[test]
fn error_message_says_what_is_expected() {
    let err = BlueGreenState::from_json("{}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "state is not valid blue-green state JSON: missing field `nextUpdate` at line 1 column 2; \
         expected e.g. {\"nextUpdate\":\"blue\",\"currentVersion\":1,\"previousVersion\":1}"
    );
}

#[test]
fn writes_compact_json_in_seed_key_order() {
    assert_eq!(
        BlueGreenState::bootstrap().to_json(),
        r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#
    );
    assert_eq!(
        state(Colour::Green, 12, 11).to_json(),
        r#"{"nextUpdate":"green","currentVersion":12,"previousVersion":11}"#
    );
    // The README spelling is read but never written back.
    let from_readme =
        BlueGreenState::from_json(r#"{"nextUpdate":"blue","currentVersion":4,"nextVersion":3}"#)
            .unwrap();
    assert_eq!(
        from_readme.to_json(),
        r#"{"nextUpdate":"blue","currentVersion":4,"previousVersion":3}"#
    );
}

#[test]
fn round_trips() {
    for original in [
        BlueGreenState::bootstrap(),
        state(Colour::Green, 2, 1),
        state(Colour::Blue, u32::MAX, 1),
    ] {
        let json = original.to_json();
        assert_eq!(
            BlueGreenState::from_json(&json).unwrap(),
            original,
            "{json}"
        );
    }
}

#[test]
fn bootstrap_is_the_default() {
    assert_eq!(BlueGreenState::default(), BlueGreenState::bootstrap());
    assert_eq!(
        BlueGreenState::bootstrap(),
        state(Colour::Blue, 1, 1),
        "SPEC §2: a missing parameter starts from blue, 1, 1"
    );
}

/// Deploys `version` on `input` (seed JSON) and compares the resulting JSON.
fn check_deploy(input: &str, version: u32, expected: &str) {
    let before = BlueGreenState::from_json(input).unwrap();
    let after = before.deploy(version).unwrap();
    assert_eq!(after.to_json(), expected, "deploy {version} on {input}");
}

#[test]
fn deploy_transitions() {
    // A new version flips nextUpdate and shifts current into previous.
    check_deploy(
        r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#,
        2,
        r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#,
    );
    check_deploy(
        r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#,
        3,
        r#"{"nextUpdate":"blue","currentVersion":3,"previousVersion":2}"#,
    );
    // Same version: unchanged.
    check_deploy(
        r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#,
        2,
        r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#,
    );
    // Going back to the previous version is a new deploy like any other, onto the other colour
    // (which already runs it), so nothing actually restarts.
    check_deploy(
        r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#,
        1,
        r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":2}"#,
    );
    // Versions need not be consecutive.
    check_deploy(
        r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#,
        10,
        r#"{"nextUpdate":"green","currentVersion":10,"previousVersion":1}"#,
    );
}

#[test]
fn deploy_zero_is_rejected() {
    let err = BlueGreenState::bootstrap().deploy(0).unwrap_err();
    assert!(
        matches!(err, StateError::InvalidVersion { version: 0 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "version 0 is not valid: versions start at 1, deploy version 1 or higher"
    );
}

#[test]
fn rollback_to_previous_version_keeps_both_colours() {
    let at_2 = BlueGreenState::bootstrap().deploy(2).unwrap();
    let back_to_1 = at_2.deploy(1).unwrap();
    assert_eq!(at_2.versions(), ColourVersions { blue: 1, green: 2 });
    assert_eq!(back_to_1.versions(), ColourVersions { blue: 1, green: 2 });
}

/// SPEC §2 walkthrough: 1/1 -> deploy 2 -> only green changes to 2 -> deploy 3 -> only blue
/// changes to 3.
#[test]
fn seed_walkthrough() {
    let bootstrap = BlueGreenState::bootstrap();
    assert_eq!(bootstrap.versions(), ColourVersions { blue: 1, green: 1 });

    let at_2 = bootstrap.deploy(2).unwrap();
    assert_eq!(
        at_2.to_json(),
        r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#
    );
    assert_eq!(at_2.versions(), ColourVersions { blue: 1, green: 2 });
    assert_eq!(changed_colours(&bootstrap, &at_2), vec![Colour::Green]);

    let at_3 = at_2.deploy(3).unwrap();
    assert_eq!(
        at_3.to_json(),
        r#"{"nextUpdate":"blue","currentVersion":3,"previousVersion":2}"#
    );
    assert_eq!(at_3.versions(), ColourVersions { blue: 3, green: 2 });
    assert_eq!(changed_colours(&at_2, &at_3), vec![Colour::Blue]);

    let again_3 = at_3.deploy(3).unwrap();
    assert_eq!(again_3, at_3);
    assert_eq!(changed_colours(&at_3, &again_3), Vec::<Colour>::new());
}

fn changed_colours(before: &BlueGreenState, after: &BlueGreenState) -> Vec<Colour> {
    Colour::ALL
        .into_iter()
        .filter(|&c| before.version_of(c) != after.version_of(c))
        .collect()
}

#[test]
fn version_of_follows_next_update() {
    let s = state(Colour::Green, 5, 4);
    assert_eq!(s.version_of(Colour::Green), 5);
    assert_eq!(s.version_of(Colour::Blue), 4);
    assert_eq!(s.versions().get(Colour::Green), 5);
    assert_eq!(s.versions().get(Colour::Blue), 4);
}

#[test]
fn colour_names() {
    assert_eq!(Colour::Blue.to_string(), "blue");
    assert_eq!(Colour::Green.as_str(), "green");
    assert_eq!(Colour::Blue.other(), Colour::Green);
    assert_eq!(Colour::Green.other(), Colour::Blue);
    assert_eq!(serde_json::to_string(&Colour::Green).unwrap(), r#""green""#);
}
