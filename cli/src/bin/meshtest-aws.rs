//! `meshtest-aws`: the AWS half of `cargo xtask` (diff, deploy, destroy, status, verify,
//! rollback, continue), in its own binary so the local path never compiles the AWS SDK. xtask builds it
//! on first use and runs it with the arguments it was given.

use clap::Parser;
use meshtest_cli::args::{StackCommand, VerifyArgs, exit_code};
use meshtest_cli::{Terminal, aws};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "diff, deploy, destroy and follow meshtest stacks on AWS CloudFormation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    #[command(flatten)]
    Stack(StackCommand),
    /// Check that a deployed app's alarms see their metrics, and show their state
    Verify(VerifyArgs),
}

fn main() -> std::process::ExitCode {
    let terminal = Terminal::new();
    let command = match Cli::parse().command {
        Command::Stack(command) => command,
        Command::Verify(args) => return exit_code(aws::verify(&args, &terminal)),
    };
    if command.local() {
        return exit_code(Err(anyhow::anyhow!(
            "--local runs through `cargo xtask`, not meshtest-aws"
        )));
    }
    exit_code(aws::run(command, &terminal))
}
