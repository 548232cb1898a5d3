//! `list` and `synth`: pick an app, build its model and render it to CloudFormation

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cfn_render::{BodyLimit, MAX_INLINE_BODY_BYTES, Template};
use deploy::cli::StrategyArg;
use deploy::target::APPS;
pub use deploy::target::{
    AppInputs, keeps_blue_green_state, read_state, stack_name, synthesize, synthesize_app,
    target_dir, workspace_root,
};

#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// The app to render (see `cargo xtask list`), or a path to a JSON stack description
    pub app: String,
    /// Directory to write `<stack>.template.json` into [default: target/cfn in the workspace]
    #[arg(long, value_name = "DIR", conflicts_with = "stdout")]
    pub out: Option<PathBuf>,
    /// Print the template instead of writing a file
    #[arg(long)]
    pub stdout: bool,
    /// Service version to render (bluegreen: the version to deploy next)
    #[arg(long, value_name = "N")]
    pub version: Option<u32>,
    /// Deployment strategy of the rollout app's traffic-shifting service [default: linear]
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// bluegreen: current state JSON file to start from [default: the bootstrap state]
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
    /// Stack name [default: the app name]
    #[arg(long)]
    pub stack_name: Option<String>,
}

pub fn list() -> Result<()> {
    for app in APPS {
        println!("{:<16} {}", app.name, app.description);
    }
    Ok(())
}

/// The template's size and how `deploy` sends it: inline, or through S3 over the limit.
pub fn size_note(template: &Template) -> String {
    match template.body_limit() {
        limit @ BodyLimit::Inline { .. } => format!("template: {limit}, deploy sends it inline"),
        limit @ BodyLimit::NeedsS3Upload { .. } => format!(
            "template: {limit}, over CloudFormation's inline limit of {}: deploy uploads it to S3",
            BodyLimit::of(MAX_INLINE_BODY_BYTES)
        ),
    }
}

pub fn synth(args: &SynthArgs) -> Result<()> {
    if args.state_file.is_some() && !keeps_blue_green_state(&args.app) {
        bail!("--state-file only applies to the bluegreen app");
    }
    let state = args.state_file.as_deref().map(read_state).transpose()?;
    let out = synthesize_app(&AppInputs {
        app: &args.app,
        stack_name: args.stack_name.as_deref(),
        version: args.version,
        strategy: args.strategy,
        state: state.as_ref(),
    })?;
    let json = out.template.to_json_pretty();
    if args.stdout {
        print!("{json}");
        // stderr, so the note never corrupts a template piped elsewhere; only when deploy would
        // take the S3 path, so a plain pipe stays quiet.
        if matches!(out.template.body_limit(), BodyLimit::NeedsS3Upload { .. }) {
            eprintln!("{}", size_note(&out.template));
        }
        return Ok(());
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| workspace_root().join("target").join("cfn"));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    let path = dir.join(format!("{}.template.json", out.stack.name()));
    std::fs::write(&path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "wrote {} ({} resources, {} parameters, {} outputs)",
        path.display(),
        out.template.resources.len(),
        out.template.parameters.len(),
        out.template.outputs.len()
    );
    println!("{}", size_note(&out.template));
    Ok(())
}
