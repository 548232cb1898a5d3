//! `meshtest-aws`: the AWS half of `cargo xtask` (diff, deploy, destroy, status, verify,
//! rollback, continue), in its own binary so the local path never compiles the AWS SDK. xtask
//! builds it on first use and runs it with the command it parsed (`--parsed-command JSON`);
//! run by hand, it parses its own arguments.

use clap::Parser;
use meshtest_cli::args::{AwsCommand, exit_code};
use meshtest_cli::aws_bin::parsed_command;
use meshtest_cli::{Terminal, aws};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "diff, deploy, destroy and follow meshtest stacks on AWS CloudFormation"
)]
struct Cli {
    #[command(subcommand)]
    command: AwsCommand,
}

fn main() -> std::process::ExitCode {
    let terminal = Terminal::new();
    let command = match parsed_command(std::env::args_os()) {
        Ok(Some(command)) => command,
        Ok(None) => Cli::parse().command,
        Err(err) => return exit_code(Err(err)),
    };
    let command = match command {
        AwsCommand::Stack(command) => command,
        AwsCommand::Verify(args) => return exit_code(aws::verify(&args, &terminal)),
        AwsCommand::Dashboard(args) => {
            return exit_code(meshtest_cli::dashboard::run_aws(&args, &terminal));
        }
    };
    if command.local() {
        return exit_code(Err(anyhow::anyhow!(
            "--local runs through `cargo xtask`, not meshtest-aws"
        )));
    }
    exit_code(aws::run(command, &terminal))
}
