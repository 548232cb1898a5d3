//! `cargo xtask`: the meshtest command line (list, synth, diff, deploy, destroy, status,
//! rollback, continue, test)

mod aws;
mod cli;
mod local;
mod local_rollout;
mod rollout_view;
mod synth;
mod test_cmd;
// after the others, so branches adding modules above merge cleanly
mod migrate;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    /// Show what a deploy would change, like `cdk diff`
    Diff(cli::DiffArgs),
    /// Deploy an app through a CloudFormation change set (or to the local runtime with --local)
    Deploy(cli::DeployArgs),
    /// Delete an app's stack (or stop its local runtime with --local)
    Destroy(cli::DestroyArgs),
    /// Show a deployed app's status, outputs, blue-green state and rollouts (--watch follows them)
    Status(cli::StatusArgs),
    /// Roll back the app's blue-green, linear or canary deployment in progress
    Rollback(cli::RolloutArgs),
    /// Let the app's deployment waiting at a pause hook go on
    Continue(cli::RolloutArgs),
    /// Run the whole test suite with pinned cfn-lint and moto installed under target/
    Test(test_cmd::TestArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result: Result<cli::Outcome> = match cli.command {
        Command::List => synth::list().map(|()| cli::Outcome::Success),
        Command::Synth(args) => synth::synth(&args).map(|()| cli::Outcome::Success),
        Command::Migrate(args) => migrate::migrate(&args).map(|()| cli::Outcome::Success),
        Command::Diff(args) if args.local => local::diff(&args),
        Command::Diff(args) => aws::diff(&args),
        Command::Deploy(args) if args.local => local::deploy(&args),
        Command::Deploy(args) => aws::deploy(&args),
        Command::Destroy(args) if args.local => local::destroy(&args),
        Command::Destroy(args) => aws::destroy(&args),
        Command::Status(args) if args.local && args.watch => local_rollout::watch(&args),
        Command::Status(args) if args.local => local::status(&args),
        Command::Status(args) => aws::status(&args),
        Command::Rollback(args) if args.local => local_rollout::rollback(&args),
        Command::Rollback(args) => aws::rollback(&args),
        Command::Continue(args) if args.local => local_rollout::continue_paused(&args),
        Command::Continue(args) => aws::continue_paused(&args),
        Command::Test(args) => test_cmd::run(&args).map(|()| cli::Outcome::Success),
    };
    match result {
        Ok(cli::Outcome::Success) => std::process::ExitCode::SUCCESS,
        Ok(cli::Outcome::Failure) => std::process::ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
