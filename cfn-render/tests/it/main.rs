//! cfn-render integration tests: reviewed template snapshots, seed parity, blue-green flips

mod bluegreen;
mod checkov_options;
mod diff;
mod metric_catalog;
mod network;
mod seed_parity;
mod snapshots;
mod successors;

use cfn_render::{RenderOptions, Template};
use model::{Stack, StackSpec, examples};
use serde_json::Value;
use state_store::BlueGreenState;

/// Validates and renders a spec with default options.
pub fn render(spec: StackSpec) -> Template {
    let stack = Stack::new(spec).expect("example validates");
    cfn_render::render(&stack, &RenderOptions::default()).expect("example renders")
}

/// The bluegreen template for a state (as synth builds it).
pub fn bluegreen(state: &BlueGreenState) -> Template {
    let v = state.versions();
    render(examples::bluegreen(
        "bluegreen",
        &model::BlueGreenVersions {
            blue: v.blue,
            green: v.green,
            state_json: state.to_json(),
        },
    ))
}

/// The rollout template with `web` at `version`, deployed with `strategy`.
pub fn rollout(version: u32, strategy: model::StrategyKind) -> Template {
    render(examples::rollout(
        "rollout",
        &examples::RolloutInputs { version, strategy },
    ))
}

/// The template as JSON values, to query like CloudFormation would read it.
pub fn json(t: &Template) -> Value {
    serde_json::from_str(&t.to_json_pretty()).expect("template is JSON")
}

/// Logical ids of the resources of one type, sorted.
pub fn ids_of_type(t: &Template, kind: &str) -> Vec<String> {
    t.resources
        .iter()
        .filter(|(_, r)| r.kind == kind)
        .map(|(id, _)| id.clone())
        .collect()
}
