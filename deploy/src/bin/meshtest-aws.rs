//! `meshtest-aws`: the AWS half of `cargo xtask` (diff, deploy, destroy, status, rollback,
//! continue), in its own binary so the local path never compiles the AWS SDK. xtask builds it
//! on first use and runs it with the arguments it was given.

use anyhow::Result;
use clap::{Parser, Subcommand};
use deploy::cli::{self, Outcome};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "diff, deploy, destroy and follow meshtest stacks on AWS CloudFormation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what a deploy would change, like `cdk diff`
    Diff(cli::DiffArgs),
    /// Deploy an app through a CloudFormation change set
    Deploy(cli::DeployArgs),
    /// Delete an app's stack
    Destroy(cli::DestroyArgs),
    /// Show a deployed app's status, outputs, blue-green state and rollouts
    Status(cli::StatusArgs),
    /// Roll back the app's blue-green, linear or canary deployment in progress
    Rollback(cli::RolloutArgs),
    /// Let the app's deployment waiting at a pause hook go on
    Continue(cli::RolloutArgs),
}

fn main() -> std::process::ExitCode {
    let result: Result<Outcome> = match Cli::parse().command {
        Command::Diff(args) => deploy::aws::diff(&args),
        Command::Deploy(args) => deploy::aws::deploy(&args),
        Command::Destroy(args) => deploy::aws::destroy(&args),
        Command::Status(args) => deploy::aws::status(&args),
        Command::Rollback(args) => deploy::aws::rollback(&args),
        Command::Continue(args) => deploy::aws::continue_paused(&args),
    };
    match result {
        Ok(Outcome::Success) => std::process::ExitCode::SUCCESS,
        Ok(Outcome::Failure) => std::process::ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
