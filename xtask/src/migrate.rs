//! `migrate`: turn an App Mesh app or JSON model into its Service Connect successor (SPEC §10)

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use model::migrate::{MigrateOptions, migrate_with};

use crate::synth::{read_state, workspace_root};
use deploy::report::Reporter;
use meshtest_cli::args::strategy_parser;
use model::StrategyKind;

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The App Mesh app (appmesh, bluegreen) or a path to a JSON stack description with a mesh
    pub app: String,
    /// File to write the successor model to [default: target/migrate/<stack>.json in the workspace]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How the merged blue-green service deploys new versions [default: linear]; when given,
    /// also how the services the virtual gateway routes to deploy at the ALB
    #[arg(long, value_parser = strategy_parser())]
    pub strategy: Option<StrategyKind>,
    /// bluegreen: state JSON file naming the live version [default: the bootstrap state]
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
    /// Stack name [default: the app name, or the name in the JSON file]
    #[arg(long)]
    pub stack_name: Option<String>,
}

pub fn migrate(args: &MigrateArgs, out: &dyn Reporter) -> Result<()> {
    if let Some(out) = &args.out
        && out.extension().is_none_or(|e| e != "json")
    {
        bail!(
            "--out {} must end in .json, so that synth reads it as a stack description",
            out.display()
        );
    }
    let state = args.state_file.as_deref().map(read_state).transpose()?;
    // Rendering too is wasted work, but it keeps to the one way apps and files are read.
    let target = deploy::target::resolve(&deploy::target::Choice {
        app: &args.app,
        stack_name: args.stack_name.as_deref(),
        ..Default::default()
    })?;
    let spec = target.build(state.as_ref())?.stack.into_spec();
    let options = MigrateOptions {
        strategy: args.strategy.unwrap_or(MigrateOptions::default().strategy),
        gateway_strategy: args.strategy,
    };
    let migration =
        migrate_with(&spec, &options).with_context(|| format!("cannot migrate `{}`", args.app))?;
    let path = args.out.clone().unwrap_or_else(|| {
        workspace_root()
            .join("target")
            .join("migrate")
            .join(format!("{}.json", migration.spec.name))
    });
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(&migration.spec).context("cannot serialize model")?;
    std::fs::write(&path, json + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    out.block(&migration.table().to_string());
    out.line("");
    out.line(format!("wrote the successor model to {}", path.display()));
    out.line(format!("next: cargo xtask synth {}", path.display()));
    Ok(())
}
