//! `cargo xtask`: the meshtest command line (list, synth, diff, deploy, destroy, status, verify,
//! rollback, continue, dashboard, test)

mod synth;
mod test_cmd;
// after the others, so branches adding modules above merge cleanly
mod migrate;

use anyhow::Result;
use clap::{Parser, Subcommand};
use deploy::report::Reporter;
use meshtest_cli::{Terminal, args as cli, aws_bin};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "describe, render, deploy and test ECS Service Connect and App Mesh stacks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the apps (stacks) this tool knows
    List,
    /// Render an app's CloudFormation template (offline, never touches AWS)
    Synth(synth::SynthArgs),
    /// Turn an App Mesh app or JSON model into its Service Connect successor model
    Migrate(migrate::MigrateArgs),
    #[command(flatten)]
    Stack(cli::StackCommand),
    /// Check that a deployed app's alarms see their metrics, and show their state (AWS)
    Verify(cli::VerifyArgs),
    /// Watch an app's rollouts in the browser: a page on 127.0.0.1 with a token in its URL
    Dashboard(cli::DashboardArgs),
    /// Run the whole test suite with pinned cfn-lint and moto installed under target/
    Test(test_cmd::TestArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let terminal = Terminal::new();
    let out: &dyn Reporter = &terminal;
    let result: Result<cli::Outcome> = match cli.command {
        Command::List => synth::list(out).map(|()| cli::Outcome::Success),
        Command::Synth(args) => synth::synth(&args, out).map(|()| cli::Outcome::Success),
        Command::Migrate(args) => migrate::migrate(&args, out).map(|()| cli::Outcome::Success),
        Command::Stack(command) if !command.local() => {
            aws_bin::run(&cli::AwsCommand::Stack(command), out)
        }
        Command::Stack(command) => meshtest_cli::local::run(command, out),
        Command::Verify(args) => aws_bin::run(&cli::AwsCommand::Verify(args), out),
        Command::Dashboard(args) if args.local => meshtest_cli::dashboard::run_local(&args, out),
        Command::Dashboard(args) => aws_bin::run(&cli::AwsCommand::Dashboard(args), out),
        Command::Test(args) => test_cmd::run(&args).map(|()| cli::Outcome::Success),
    };
    cli::exit_code(result)
}
