//! meshtest-cli's binary as a user runs it (`cargo test` builds a package's binaries for its
//! integration tests, which is also how other crates' tests find `meshtest-aws`)

use std::process::Command;

#[test]
fn meshtest_aws_sends_local_commands_to_xtask() {
    let output = Command::new(env!("CARGO_BIN_EXE_meshtest-aws"))
        .args(["status", "gateway", "--local"])
        .output()
        .expect("meshtest-aws runs");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: --local runs through `cargo xtask`, not meshtest-aws\n"
    );
}
