//! How tests find the pinned Python tools, and what they do when a tool is missing (SPEC §6)

use std::ffi::OsString;

use meshtest_tests::{Tool, ToolLookup, is_ci, locate_tool, workspace_root};

fn check(tool: Tool, env_value: Option<&str>, ci: bool, expected: ToolLookup) {
    let actual = locate_tool(tool, env_value.map(OsString::from), ci, "some::test");
    assert_eq!(
        actual, expected,
        "tool {tool:?}, env {env_value:?}, ci {ci}"
    );
}

#[test]
fn existing_file_is_used() {
    let file = workspace_root().join("Cargo.toml");
    let file_str = file.to_str().unwrap();
    check(
        Tool::CfnLint,
        Some(file_str),
        false,
        ToolLookup::Found(file.clone()),
    );
    check(
        Tool::MotoServer,
        Some(file_str),
        true,
        ToolLookup::Found(file.clone()),
    );
}

#[test]
fn unset_variable_skips_locally_and_fails_in_ci() {
    check(
        Tool::CfnLint,
        None,
        false,
        ToolLookup::Skip(
            "SKIPPED some::test: cfn-lint not found (MESHTEST_CFN_LINT is not set) \
             (run cargo xtask test to install it)"
                .into(),
        ),
    );
    check(
        Tool::CfnLint,
        Some(""),
        true,
        ToolLookup::Fail(
            "cfn-lint not found (MESHTEST_CFN_LINT is not set): \
             run the suite with cargo xtask test, which installs it"
                .into(),
        ),
    );
    check(
        Tool::Checkov,
        None,
        true,
        ToolLookup::Fail(
            "checkov not found (MESHTEST_CHECKOV is not set): \
             run the suite with cargo xtask test, which installs it"
                .into(),
        ),
    );
    check(
        Tool::MotoServer,
        None,
        true,
        ToolLookup::Fail(
            "moto_server not found (MESHTEST_MOTO_SERVER is not set): \
             run the suite with cargo xtask test, which installs it"
                .into(),
        ),
    );
}

#[test]
fn path_that_is_not_a_file_is_missing() {
    let dir = workspace_root();
    let dir_str = dir.to_str().unwrap();
    check(
        Tool::CfnLint,
        Some(dir_str),
        false,
        ToolLookup::Skip(format!(
            "SKIPPED some::test: cfn-lint not found (MESHTEST_CFN_LINT points at {dir_str}, \
             which is not a file) (run cargo xtask test to install it)"
        )),
    );
    check(
        Tool::MotoServer,
        Some("/nonexistent/moto_server"),
        true,
        ToolLookup::Fail(
            "moto_server not found (MESHTEST_MOTO_SERVER points at /nonexistent/moto_server, \
             which is not a file): run the suite with cargo xtask test, which installs it"
                .into(),
        ),
    );
}

#[test]
fn ci_variable() {
    fn check_ci(value: Option<&str>, expected: bool) {
        assert_eq!(is_ci(value.map(OsString::from)), expected, "CI={value:?}");
    }
    check_ci(None, false);
    check_ci(Some(""), false);
    check_ci(Some("false"), false);
    check_ci(Some("0"), false);
    check_ci(Some("true"), true);
    check_ci(Some("1"), true);
    check_ci(Some("yes"), true);
}
