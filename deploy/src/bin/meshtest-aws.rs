//! `meshtest-aws`: the AWS half of `cargo xtask` (diff, deploy, destroy, status, rollback,
//! continue), in its own binary so the local path never compiles the AWS SDK. xtask builds it
//! on first use and runs it with the arguments it was given.

use clap::Parser;
use deploy::aws;
use deploy::cli::{StackCommand, exit_code};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "diff, deploy, destroy and follow meshtest stacks on AWS CloudFormation"
)]
struct Cli {
    #[command(subcommand)]
    command: StackCommand,
}

fn main() -> std::process::ExitCode {
    let command = Cli::parse().command;
    if command.local() {
        return exit_code(Err(anyhow::anyhow!(
            "--local runs through `cargo xtask`, not meshtest-aws"
        )));
    }
    exit_code(aws::commands::run(command))
}
