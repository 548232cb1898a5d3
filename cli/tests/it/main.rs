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

#[test]
fn meshtest_aws_runs_a_command_parsed_already() {
    use clap::Parser;
    use meshtest_cli::args::AwsCommand;
    use meshtest_cli::aws_bin::PARSED_COMMAND;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: AwsCommand,
    }
    let parsed = Cli::parse_from(["xtask", "status", "gateway", "--local"]).command;
    let json = serde_json::to_string(&parsed).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_meshtest-aws"))
        .args([PARSED_COMMAND, &json])
        .output()
        .expect("meshtest-aws runs");
    // The same answer as to the arguments themselves: it ran the command it was handed.
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: --local runs through `cargo xtask`, not meshtest-aws\n"
    );
    let garbled = Command::new(env!("CARGO_BIN_EXE_meshtest-aws"))
        .args([PARSED_COMMAND, "{}"])
        .output()
        .expect("meshtest-aws runs");
    assert_eq!(garbled.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&garbled.stderr)
            .starts_with("error: --parsed-command: not a command of this meshtest-aws"),
        "{}",
        String::from_utf8_lossy(&garbled.stderr)
    );
}
