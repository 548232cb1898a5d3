//! The target of a command: an app name or a JSON stack description, built into a validated
//! [`Stack`] and its CloudFormation template

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cfn_render::{RenderOptions, Template};
use model::{Stack, StackSpec, examples};
use state_store::BlueGreenState;

use crate::cli::{StrategyArg, Target};

/// The stack name of `target`, checked against CloudFormation's rule before any AWS call:
/// `--stack-name`, else the `name` inside a JSON description, else the app name. The error names
/// where the bad name came from, so the user knows what to change.
pub fn stack_name(target: &Target) -> Result<String> {
    let (name, source) = match (&target.stack_name, target.app.ends_with(".json")) {
        (Some(name), _) => (name.clone(), "--stack-name".to_owned()),
        (None, true) => (
            read_spec(&target.app)?.name,
            format!("{}: field `name`", target.app),
        ),
        (None, false) if App::find(&target.app).is_some() => {
            return Ok(target.app.clone());
        }
        (None, false) => return Err(unknown_app(&target.app)),
    };
    // The name also becomes a folder name locally: only what CloudFormation accepts, never `..`.
    model::rules::stack_name(&name).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    Ok(name)
}

fn unknown_app(app: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "unknown app `{app}`: known apps are {} (or pass a .json stack description)",
        APPS.iter()
            .map(|app| app.name)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A JSON stack description, with the field path of what does not parse.
fn read_spec(path: &str) -> Result<StackSpec> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read stack description {path}"))?;
    StackSpec::from_json(&text).with_context(|| format!("{path} is not a valid stack description"))
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

/// One app this tool knows: its name, what it shows, and how its model is built.
#[derive(Debug, Clone, Copy)]
pub struct App {
    pub name: &'static str,
    pub description: &'static str,
    shape: Shape,
}

/// How an app's model is built from the command-line inputs.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Only the stack name (and `--version` for every service).
    Plain(fn(&str) -> StackSpec),
    /// `--version` and `--strategy` of its traffic-shifting service.
    Rollout,
    /// A blue-green state (SSM on AWS, state.json locally) picks the colour of `--version`.
    BlueGreen,
}

/// Every app, in the order `list` shows them.
pub const APPS: &[App] = &[
    App {
        name: "serviceconnect",
        description: "ECS cluster, blue and green discovering each other through Service Connect",
        shape: Shape::Plain(examples::serviceconnect),
    },
    App {
        name: "appmesh",
        description: "blue and green in App Mesh behind a virtual gateway: /blue, /green, /split (50/50)",
        shape: Shape::Plain(examples::appmesh),
    },
    App {
        name: "bluegreen",
        description: "blue-green versions through an App Mesh 50/50 router, state in SSM",
        shape: Shape::BlueGreen,
    },
    App {
        name: "gateway",
        description: "the appmesh successor: an ALB with /blue, /green, /split (50/50) to Service Connect services",
        shape: Shape::Plain(examples::gateway),
    },
    App {
        name: "rollout",
        description: "the bluegreen successor: web shifts traffic with ECS-native linear, canary or blue/green",
        shape: Shape::Rollout,
    },
];

impl App {
    /// The app called `name`, if there is one.
    pub fn find(name: &str) -> Option<&'static App> {
        APPS.iter().find(|app| app.name == name)
    }

    /// Whether a blue-green state decides which colour a new version goes to.
    pub fn keeps_blue_green_state(&self) -> bool {
        matches!(self.shape, Shape::BlueGreen)
    }
}

/// Whether `app` (an app name or a JSON file) keeps a blue-green state.
pub fn keeps_blue_green_state(app: &str) -> bool {
    App::find(app).is_some_and(App::keeps_blue_green_state)
}

fn app_spec(inputs: &AppInputs<'_>) -> Result<StackSpec> {
    let found = App::find(inputs.app);
    if inputs.strategy.is_some() && found.is_none_or(|app| !matches!(app.shape, Shape::Rollout)) {
        bail!("--strategy only applies to the rollout app");
    }
    let name = inputs.stack_name.unwrap_or(inputs.app);
    let mut spec = match found.map(|app| app.shape) {
        Some(Shape::Plain(build)) => build(name),
        Some(Shape::Rollout) => return Ok(rollout_spec(name, inputs)),
        Some(Shape::BlueGreen) => return blue_green_spec(name, inputs),
        None if inputs.app.ends_with(".json") => {
            let mut spec = read_spec(inputs.app)?;
            if let Some(name) = inputs.stack_name {
                spec.name = name.to_owned();
            }
            spec
        }
        None => return Err(unknown_app(inputs.app)),
    };
    if let Some(v) = inputs.version {
        for svc in &mut spec.services {
            svc.version = v.to_string();
        }
    }
    Ok(spec)
}

fn rollout_spec(name: &str, inputs: &AppInputs<'_>) -> StackSpec {
    let defaults = examples::RolloutInputs::default();
    let rollout = examples::RolloutInputs {
        version: inputs.version.unwrap_or(defaults.version),
        strategy: inputs.strategy.map_or(defaults.strategy, StrategyArg::kind),
    };
    examples::rollout(name, &rollout)
}

fn blue_green_spec(name: &str, inputs: &AppInputs<'_>) -> Result<StackSpec> {
    let current = inputs
        .state
        .cloned()
        .unwrap_or_else(BlueGreenState::bootstrap);
    let next = match inputs.version {
        Some(v) => current
            .deploy(v)
            .context("cannot apply --version to the blue-green state")?,
        None => current,
    };
    let versions = next.versions();
    let blue_green = examples::BlueGreenInputs {
        blue_version: versions.blue,
        green_version: versions.green,
        state_json: next.to_json(),
    };
    Ok(examples::bluegreen(name, &blue_green))
}

pub fn read_state(path: &Path) -> Result<BlueGreenState> {
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

/// Where cargo puts its output: `CARGO_TARGET_DIR`, or `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_relative() => workspace_root().join(dir),
        Some(dir) => dir,
        None => workspace_root().join("target"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_has_every_example_app_in_order() {
        let names: Vec<&str> = APPS.iter().map(|app| app.name).collect();
        assert_eq!(names, examples::APPS);
    }

    #[test]
    fn only_bluegreen_keeps_a_blue_green_state() {
        let keeping: Vec<&str> = APPS
            .iter()
            .filter(|app| app.keeps_blue_green_state())
            .map(|app| app.name)
            .collect();
        assert_eq!(keeping, ["bluegreen"]);
        assert!(!keeps_blue_green_state("stack.json"));
    }
}
