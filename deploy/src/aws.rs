//! The deploy engine on AWS: diff, deploy, destroy, status, verify and the rollout controls
//! against CloudFormation, SSM, Cloud Map, ECS and CloudWatch
//!
//! Each flow is a plain async function of the clients ([`Aws`]), a typed request and a
//! [`Reporter`]; it returns a typed outcome. meshtest-cli's `aws` module is the command line's use
//! of them (`meshtest-aws`); a program calls the flows directly, as `examples/library.rs` (the
//! README's library example, run against moto by `tests/it/library.rs`) does.

mod alarms;
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
mod upload;
mod verify;
#[cfg(test)]
mod verify_tests;

use crate::error::Result;
use cfn_render::Template;
use state_store::ssm::{SsmStore, StoredState};

use crate::report::Reporter;

pub use alarms::{ReadSeries, TemplateAlarm};
pub use client::Aws;
pub use deploy::deploy;
pub use destroy::destroy;
pub use diff::diff;
pub use rollout::{Scope, continue_paused, rollback, watch};
pub use status::{ServiceRollout, StatusReport, StatusRequest, status};
pub use verify::{VerifyRequest, verify};

/// The blue-green state in SSM `parameter`, read strictly, for a stack that keeps one: the state
/// decides which colour a new version goes to.
async fn blue_green_state(
    aws: &Aws,
    parameter: Option<&str>,
) -> Result<Option<(SsmStore, StoredState)>> {
    let Some(parameter) = parameter else {
        return Ok(None);
    };
    let store = SsmStore::new(aws.ssm.clone(), parameter.to_owned());
    let stored = store.load().await?;
    Ok(Some((store, stored)))
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
pub fn print_state(out: &dyn Reporter, parameter: &str, stored: &StoredState) {
    let v = stored.state.versions();
    out.line(format!(
        "blue-green state ({parameter}{}): blue runs {}, green runs {}; a new version goes to {}",
        match stored.version {
            Some(version) => format!(", version {version}"),
            None => ", not stored: bootstrap".to_string(),
        },
        v.blue,
        v.green,
        stored.state.next_update.other()
    ));
    out.line(format!("  {}", stored.state.to_json()));
}

/// Whether to report timing lines (with the API call counts) to `out`.
pub fn debug_timing(out: &dyn Reporter) -> bool {
    // A debugging aid: a value outside the truth table is reported, not fatal.
    crate::settings::env_flag(client::DEBUG_API_CALLS_ENV).unwrap_or_else(|err| {
        out.note(format!("warning: {err:#}"));
        false
    })
}

/// ` in us-east-1`, or nothing when the region is unknown (mocked clients).
fn region_suffix(aws: &Aws) -> String {
    if aws.region.is_empty() {
        String::new()
    } else {
        format!(" in {}", aws.region)
    }
}
