//! The workspace's binaries and examples as `cargo test --workspace` builds them, for tests that
//! run an executable of another crate.
//!
//! Why not `cargo build -p deploy --bin meshtest-aws` (or `cargo run --example`) from the test:
//! cargo unifies features over the packages it is asked to build, and the test build includes
//! dev-dependencies (`aws-smithy-mocks` turns on `test-util` in the SDK's runtime crates). A
//! build of one package alone therefore resolves different features and compiles a second copy
//! of the whole AWS SDK (about 4 GB with debug info, several minutes on two cores); with the
//! example, a third. Asking cargo for the same selection the suite was built with finds every
//! unit fresh, and names the executables it already has.
//!
//! The first call in a test process runs `cargo test --workspace --no-run`; under
//! `cargo xtask test` that build is done, so it costs a fingerprint check. Run alone (`cargo test
//! -p deploy`), the first call builds the other crates' tests once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde::Deserialize;

/// The path of the binary or example `name` of the workspace, built by the test build; panics
/// with cargo's own output when the build fails or there is no such executable.
pub fn executable(name: &str) -> PathBuf {
    static EXECUTABLES: OnceLock<BTreeMap<String, PathBuf>> = OnceLock::new();
    let executables = EXECUTABLES.get_or_init(|| build_workspace_tests(&crate::workspace_root()));
    match executables.get(name) {
        Some(path) => path.clone(),
        None => panic!(
            "`cargo test --workspace --no-run` built no binary or example named {name:?} (it built {:?})",
            executables.keys().collect::<Vec<_>>()
        ),
    }
}

/// The binaries `bins` names as (package, bin), built as the command line builds them
/// (`cargo build -p local-supervisor --bin meshtest-local -p demo-app --bin demo-app`: the same
/// units as the local quick start and xtask's local tests, so they are built once, and no
/// integration test of their crates needs the test build to compile them), in `bins`' order;
/// panics with cargo's output when the build fails. Each call costs a fingerprint check once
/// built.
pub fn cargo_built(bins: &[(&str, &str)]) -> Vec<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(crate::workspace_root())
        .args(["build", "--message-format=json-render-diagnostics"]);
    for (package, bin) in bins {
        command.args(["-p", package, "--bin", bin]);
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("run cargo build");
    assert!(
        output.status.success(),
        "`cargo build` of {bins:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let built = executables(&String::from_utf8_lossy(&output.stdout));
    bins.iter()
        .map(|(_, bin)| match built.get(*bin) {
            Some(path) => path.clone(),
            None => panic!("`cargo build` built no binary named {bin:?} (it built {built:?})"),
        })
        .collect()
}

/// One line of `cargo --message-format=json`; only compiler artifacts matter here.
#[derive(Debug, Deserialize)]
struct Message {
    reason: String,
    target: Option<Target>,
    profile: Option<Profile>,
    executable: Option<PathBuf>,
}

/// `test` is true for a unit-test harness built from a bin target: same name and kind as the
/// binary, but its `executable` runs the bin's `#[test]`s.
#[derive(Debug, Deserialize)]
struct Profile {
    test: bool,
}

#[derive(Debug, Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

fn build_workspace_tests(root: &Path) -> BTreeMap<String, PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "test",
            "--workspace",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run cargo test --no-run");
    assert!(
        output.status.success(),
        "`cargo test --workspace --no-run` failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    executables(&String::from_utf8_lossy(&output.stdout))
}

/// Binaries and examples by target name, from cargo's JSON messages (test harnesses left out,
/// including a bin's own, which carries the bin's name).
fn executables(json_lines: &str) -> BTreeMap<String, PathBuf> {
    json_lines
        .lines()
        .filter_map(|line| serde_json::from_str::<Message>(line).ok())
        .filter(|m| m.reason == "compiler-artifact")
        .filter(|m| m.profile.as_ref().is_some_and(|p| !p.test))
        .filter_map(|m| {
            let target = m.target?;
            let runnable = target.kind.iter().any(|k| k == "bin" || k == "example");
            Some((target.name, m.executable?)).filter(|_| runnable)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_and_examples_are_found_and_test_harnesses_are_not() {
        // Cargo's order varies; the bin's own test harness comes after the bin here.
        let lines = [
            r#"{"reason":"compiler-artifact","target":{"name":"meshtest-aws","kind":["bin"]},"profile":{"test":false},"executable":"/t/debug/meshtest-aws","fresh":true}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"meshtest-aws","kind":["bin"]},"profile":{"test":true},"executable":"/t/debug/deps/meshtest_aws-5e","fresh":true}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"library","kind":["example"]},"profile":{"test":false},"executable":"/t/debug/examples/library-0a1b","fresh":true}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"it","kind":["test"]},"profile":{"test":true},"executable":"/t/debug/deps/it-99","fresh":true}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"deploy","kind":["lib"]},"profile":{"test":false},"executable":null,"fresh":true}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "not json",
        ]
        .join("\n");
        let found = executables(&lines);
        let expected: BTreeMap<String, PathBuf> = [
            (
                "library".to_owned(),
                PathBuf::from("/t/debug/examples/library-0a1b"),
            ),
            (
                "meshtest-aws".to_owned(),
                PathBuf::from("/t/debug/meshtest-aws"),
            ),
        ]
        .into();
        assert_eq!(found, expected);
    }
}
