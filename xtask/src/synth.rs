//! `list` and `synth`: pick an app, build its model and render it to CloudFormation

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cfn_render::{BodyLimit, MAX_INLINE_BODY_BYTES, Template};
use deploy::report::Reporter;
use deploy::target::APPS;
pub use deploy::target::read_state;
use meshtest_cli::args::{BuildArgs, Target};
pub use meshtest_cli::workspace::workspace_root;

#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    #[command(flatten)]
    pub target: Target,
    /// Directory to write `<stack>.template.json` into [default: target/cfn in the workspace]
    #[arg(long, value_name = "DIR", conflicts_with = "stdout")]
    pub out: Option<PathBuf>,
    /// Print the template instead of writing a file
    #[arg(long)]
    pub stdout: bool,
    #[command(flatten)]
    pub build: BuildArgs,
    /// bluegreen: current state JSON file to start from [default: the bootstrap state]
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
}

pub fn list(out: &dyn Reporter) -> Result<()> {
    for app in APPS {
        out.line(format!("{:<16} {}", app.name, app.description));
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

pub fn synth(args: &SynthArgs, out: &dyn Reporter) -> Result<()> {
    let target = args
        .target
        .resolve(args.build.version, args.build.strategy)?;
    if args.state_file.is_some() && target.state_parameter().is_none() {
        bail!(
            "--state-file only applies to a stack with a blue-green pair, such as the bluegreen app"
        );
    }
    let state = args.state_file.as_deref().map(read_state).transpose()?;
    let built = target.build(state.as_ref())?;
    let json = built.template.to_json_pretty();
    if args.stdout {
        out.block(&json);
        // stderr, so the note never corrupts a template piped elsewhere; only when deploy would
        // take the S3 path, so a plain pipe stays quiet.
        if matches!(built.template.body_limit(), BodyLimit::NeedsS3Upload { .. }) {
            out.note(size_note(&built.template));
        }
        deploy::detection::report(&built.stack, out);
        return Ok(());
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| workspace_root().join("target").join("cfn"));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    let path = dir.join(format!("{}.template.json", built.stack.name()));
    std::fs::write(&path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    out.line(format!(
        "wrote {} ({} resources, {} parameters, {} outputs)",
        path.display(),
        built.template.resources.len(),
        built.template.parameters.len(),
        built.template.outputs.len()
    ));
    out.line(size_note(&built.template));
    deploy::detection::report(&built.stack, out);
    Ok(())
}
