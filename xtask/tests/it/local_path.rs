//! The local path (`deploy --local`, `synth`, `list`) compiles no AWS SDK: xtask's own
//! dependencies, resolved for xtask alone as `cargo xtask` builds it, hold no `aws-` crate.

use std::process::Command;

#[test]
fn xtask_builds_without_the_aws_sdk() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(meshtest_tests::workspace_root())
        .args([
            "tree",
            "--offline",
            "-p",
            "xtask",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}"])
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    // Positive control: the tree is xtask's, with the deploy engine in it.
    assert!(tree.lines().any(|l| l.starts_with("deploy ")), "{tree}");
    let aws: Vec<&str> = tree.lines().filter(|l| l.starts_with("aws-")).collect();
    assert!(
        aws.is_empty(),
        "the local path compiles AWS crates: {aws:?}"
    );
}
