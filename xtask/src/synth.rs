//! `list` and `synth`: pick an app, build its model and render it to CloudFormation

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cfn_render::{BodyLimit, MAX_INLINE_BODY_BYTES, RenderOptions, Template};
use model::{Stack, StackSpec, examples};
use state_store::BlueGreenState;

use crate::cli::StrategyArg;

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
    for app in examples::APPS {
        let about = match *app {
            "serviceconnect" => {
                "ECS cluster, blue and green discovering each other through Service Connect"
            }
            "appmesh" => {
                "blue and green in App Mesh behind a virtual gateway: /blue, /green, /split (50/50)"
            }
            "bluegreen" => "blue-green versions through an App Mesh 50/50 router, state in SSM",
            "gateway" => {
                "the appmesh successor: an ALB with /blue, /green, /split (50/50) to Service Connect services"
            }
            "rollout" => {
                "the bluegreen successor: web shifts traffic with ECS-native linear, canary or blue/green"
            }
            _ => "",
        };
        println!("{app:<16} {about}");
    }
    Ok(())
}

/// What a synth produced: the validated stack and its template.
#[derive(Debug)]
pub struct Synthesized {
    pub stack: Stack,
    pub template: Template,
}

/// What picks and shapes an app's model: the command-line choices.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppInputs<'a> {
    /// An app name or a path to a JSON stack description.
    pub app: &'a str,
    pub stack_name: Option<&'a str>,
    pub version: Option<u32>,
    /// rollout only: the strategy of its traffic-shifting service.
    pub strategy: Option<StrategyArg>,
    /// bluegreen only: the state to start from.
    pub state: Option<&'a BlueGreenState>,
}

/// Builds the model for `app` (an app name or a JSON file) and renders it.
pub fn synthesize(
    app: &str,
    stack_name: Option<&str>,
    version: Option<u32>,
    state: Option<&BlueGreenState>,
) -> Result<Synthesized> {
    synthesize_app(&AppInputs {
        app,
        stack_name,
        version,
        strategy: None,
        state,
    })
}

/// [`synthesize`] with every input, `--strategy` included.
pub fn synthesize_app(inputs: &AppInputs<'_>) -> Result<Synthesized> {
    let app = inputs.app;
    let spec = app_spec(inputs)?;
    let stack = Stack::new(spec).with_context(|| format!("app `{app}` does not validate"))?;
    let template = cfn_render::render(&stack, &RenderOptions::default())
        .with_context(|| format!("cannot render app `{app}`"))?;
    Ok(Synthesized { stack, template })
}

fn app_spec(inputs: &AppInputs<'_>) -> Result<StackSpec> {
    let AppInputs {
        app,
        stack_name,
        version,
        strategy,
        state,
    } = *inputs;
    if strategy.is_some() && app != "rollout" {
        bail!("--strategy only applies to the rollout app");
    }
    let name = stack_name.unwrap_or(app);
    let mut spec = match app {
        "serviceconnect" => examples::serviceconnect(name),
        "appmesh" => examples::appmesh(name),
        "gateway" => examples::gateway(name),
        "rollout" => {
            let defaults = examples::RolloutInputs::default();
            let inputs = examples::RolloutInputs {
                version: version.unwrap_or(defaults.version),
                strategy: strategy.map_or(defaults.strategy, StrategyArg::kind),
            };
            return Ok(examples::rollout(name, &inputs));
        }
        "bluegreen" => {
            let current = state.cloned().unwrap_or_else(BlueGreenState::bootstrap);
            let next = match version {
                Some(v) => current
                    .deploy(v)
                    .context("cannot apply --version to the blue-green state")?,
                None => current,
            };
            let versions = next.versions();
            let inputs = examples::BlueGreenInputs {
                blue_version: versions.blue,
                green_version: versions.green,
                state_json: next.to_json(),
            };
            return Ok(examples::bluegreen(name, &inputs));
        }
        path if path.ends_with(".json") => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read stack description {path}"))?;
            let mut spec: StackSpec = serde_json::from_str(&text)
                .with_context(|| format!("{path} is not a valid stack description"))?;
            if let Some(name) = stack_name {
                spec.name = name.to_owned();
            }
            spec
        }
        other => bail!(
            "unknown app `{other}`: known apps are {} (or pass a .json stack description)",
            examples::APPS.join(", ")
        ),
    };
    if let Some(v) = version {
        for svc in &mut spec.services {
            svc.version = v.to_string();
        }
    }
    Ok(spec)
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

pub(crate) fn read_state(path: &Path) -> Result<BlueGreenState> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read state file {}", path.display()))?;
    BlueGreenState::from_json(&text).with_context(|| format!("state file {}", path.display()))
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub fn synth(args: &SynthArgs) -> Result<()> {
    if args.state_file.is_some() && args.app != "bluegreen" {
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

/// What a template opens to the `AllowedCidr` parameter: one `tcp 80 (description)` per
/// ingress rule, read from the rendered template so every listener and public port counts.
pub fn allowed_cidr_ingress(template: &Template) -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_str(&template.to_json_compact()).unwrap_or_default();
    let cidr_ref = serde_json::json!({ "Ref": cfn_render::ALLOWED_CIDR_PARAMETER });
    let mut found = Vec::new();
    for resource in json["Resources"]
        .as_object()
        .into_iter()
        .flat_map(|r| r.values())
    {
        let props = &resource["Properties"];
        let rules: Vec<&serde_json::Value> = match resource["Type"].as_str() {
            Some("AWS::EC2::SecurityGroupIngress") => vec![props],
            Some("AWS::EC2::SecurityGroup") => props["SecurityGroupIngress"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        for rule in rules.into_iter().filter(|r| r["CidrIp"] == cidr_ref) {
            let (from, to) = (&rule["FromPort"], &rule["ToPort"]);
            let ports = if from == to {
                from.to_string()
            } else {
                format!("{from}-{to}")
            };
            let protocol = rule["IpProtocol"].as_str().unwrap_or("tcp");
            found.push(match rule["Description"].as_str() {
                Some(d) => format!("{protocol} {ports} ({d})"),
                None => format!("{protocol} {ports}"),
            });
        }
    }
    found
}
