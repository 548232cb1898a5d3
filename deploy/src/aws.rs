//! diff, deploy, destroy and status against AWS CloudFormation, SSM and Cloud Map
//!
//! Each entry point builds a small tokio runtime, connects (credentials are checked first, so a
//! missing one is a one-line error before any work), and runs its flow with a [`Ui`]. The flows
//! take the clients as a value, so tests run them against moto or mocked clients.

pub mod client;
mod deploy;
mod destroy;
mod diff;
mod rollout;
#[cfg(test)]
mod rollout_tests;
mod stack;
mod status;
#[cfg(test)]
mod tests;
mod ui;
mod upload;

use std::future::Future;

use anyhow::{Context, Result};
use cfn_render::Template;
use state_store::BlueGreenState;
use state_store::ssm::{SsmStore, StoredState};

use crate::cli::{
    AwsArgs, DeployArgs, DestroyArgs, DiffArgs, Outcome, RolloutArgs, StatusArgs, StrategyArg,
    Target,
};
use crate::target::{AppInputs, Synthesized};
use client::Aws;
use ui::Ui;

pub fn diff(args: &DiffArgs) -> Result<Outcome> {
    run(&args.aws, |aws, ui| async move {
        diff::run(&aws, &ui, args).await
    })
}

pub fn deploy(args: &DeployArgs) -> Result<Outcome> {
    run(&args.aws, |aws, ui| async move {
        deploy::run(&aws, &ui, args).await
    })
}

pub fn destroy(args: &DestroyArgs) -> Result<Outcome> {
    run(&args.aws, |aws, ui| async move {
        destroy::run(&aws, &ui, args).await
    })
}

pub fn status(args: &StatusArgs) -> Result<Outcome> {
    run(&args.aws, |aws, ui| async move {
        status::run(&aws, &ui, args).await
    })
}

/// `rollback`: rolls back the app's deployments in progress.
pub fn rollback(args: &RolloutArgs) -> Result<Outcome> {
    let scope = rollout_scope(args)?;
    run(&args.aws, |aws, ui| async move {
        rollout::rollback(&aws, &ui, &scope, &args.target.app).await
    })
}

/// `continue`: releases the app's deployments waiting at a pause hook.
pub fn continue_paused(args: &RolloutArgs) -> Result<Outcome> {
    let scope = rollout_scope(args)?;
    run(&args.aws, |aws, ui| async move {
        rollout::continue_paused(&aws, &ui, &scope, &args.target.app).await
    })
}

fn rollout_scope(args: &RolloutArgs) -> Result<rollout::Scope> {
    let synthesized = crate::target::synthesize(
        &args.target.app,
        args.target.stack_name.as_deref(),
        None,
        None,
    )?;
    Ok(rollout::Scope::of(&synthesized.stack))
}

fn run<F, Fut>(args: &AwsArgs, flow: F) -> Result<Outcome>
where
    F: FnOnce(Aws, Ui) -> Fut,
    Fut: Future<Output = Result<Outcome>>,
{
    // One thread is plenty: the work is waiting on AWS, one request at a time.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let aws = Aws::connect(args).await?;
        let calls = aws.calls.clone();
        let result = flow(aws, Ui::terminal()).await;
        calls.report_if_asked();
        result
    })
}

/// The blue-green state of `target`'s stack, read strictly from SSM, when its app keeps one:
/// the state decides which colour a new version goes to.
async fn blue_green_state(
    aws: &Aws,
    target: &Target,
    stack_name: &str,
) -> Result<Option<(SsmStore, StoredState)>> {
    if !crate::target::keeps_blue_green_state(&target.app) {
        return Ok(None);
    }
    let store = SsmStore::new(
        aws.ssm.clone(),
        model::examples::state_parameter_name(stack_name),
    );
    let stored = store.load().await?;
    Ok(Some((store, stored)))
}

/// `target` built at `version` (and `strategy`), from the blue-green `state` when it keeps one.
fn synthesize(
    target: &Target,
    version: Option<u32>,
    strategy: Option<StrategyArg>,
    state: Option<&BlueGreenState>,
) -> Result<Synthesized> {
    crate::target::synthesize_app(&AppInputs {
        app: &target.app,
        stack_name: target.stack_name.as_deref(),
        version,
        strategy,
        state,
    })
}

/// The App Mesh resource types in a template, sorted and without repeats.
pub fn appmesh_kinds(template: &Template) -> Vec<String> {
    let mut kinds: Vec<String> = template
        .resources
        .values()
        .filter(|r| r.kind.starts_with("AWS::AppMesh::"))
        .map(|r| r.kind.trim_start_matches("AWS::AppMesh::").to_string())
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// One line on the blue-green state and which version each colour runs.
pub fn print_state(ui: &Ui, parameter: &str, stored: &StoredState) {
    let v = stored.state.versions();
    ui.line(format!(
        "blue-green state ({parameter}{}): blue runs {}, green runs {}; a new version goes to {}",
        match stored.version {
            Some(version) => format!(", version {version}"),
            None => ", not stored: bootstrap".to_string(),
        },
        v.blue,
        v.green,
        stored.state.next_update.other()
    ));
    ui.line(format!("  {}", stored.state.to_json()));
}

/// Whether to print timing lines (with the API call counts).
pub fn debug_timing() -> bool {
    // A debugging aid: a value outside the truth table is reported, not fatal.
    crate::settings::env_flag(client::DEBUG_API_CALLS_ENV).unwrap_or_else(|err| {
        eprintln!("warning: {err:#}");
        false
    })
}
