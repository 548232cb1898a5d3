//! The deploy engine on AWS: diff, deploy, destroy, status, verify and the rollout controls
//! against CloudFormation, SSM, Cloud Map, ECS and CloudWatch
//!
//! Each flow is a plain async function of the backend value ([`AwsBackend`]: the clients and
//! the AWS-only [`Options`]), a request shared with the local runtime ([`crate::request`]) and a
//! [`Reporter`]; it returns an outcome shared with the local runtime ([`crate::outcome`]), and
//! [`AwsBackend`] implements [`crate::Backend`] with them. meshtest-cli's `aws` module is the
//! command line's use of them (`meshtest-aws`); a program calls the flows directly, as
//! `examples/library.rs` (the README's library example, run against moto by
//! `tests/it/library.rs`) does.

mod alarms;
pub mod client;
mod deploy;
mod destroy;
mod diff;
#[cfg(test)]
mod mocks;
mod rollout;
#[cfg(test)]
mod rollout_alb_tests;
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

use crate::error::{Error, Result, TargetError};
use cfn_render::Template;
use state_store::ssm::{SsmStore, StoredState};

use crate::backend::Backend;
use crate::outcome::{Deployed, Destroyed, Diffed, Rollouts, StatusReport};
use crate::report::{Confirm, Reporter};
use crate::request::{
    Connection, DeployRequest, DestroyRequest, DiffRequest, Parameters, RolloutRequest,
    StatusRequest,
};
use crate::target::{Resolved, Subject};

pub use crate::outcome::{Found, ServiceRollout, StackReport};
pub use alarms::{ReadSeries, TemplateAlarm, describe_alarms, reading_of};
pub use client::Aws;
pub use deploy::deploy;
pub use destroy::destroy;
pub use diff::diff;
pub use rollout::{Scope, continue_paused, rollback, watch};
pub use status::status;
pub use verify::{VerifyRequest, verify};

/// What only the AWS backend takes (the local runtime has no such thing): the template's
/// parameters, whether a change may go ahead unasked, where large templates go, and how much a
/// deploy and a status follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub parameters: Parameters,
    pub confirm: Confirm,
    /// Where a template over CloudFormation's inline limit goes (`None`: the account's own
    /// `meshtest-templates-<account>-<region>` bucket, created on first use); a diff's
    /// replacement marks need a change set, so a diff uses it too.
    pub template_bucket: Option<String>,
    /// A deploy follows the ECS deployments the stack update starts until they end.
    pub follow_rollouts: bool,
    /// Once the stack settled, a deploy checks the alarms it defines (`verify`) and shows them.
    pub verify_alarms: bool,
    /// A status reads each traffic-shifting service's newest deployment (off while a watch
    /// shows them live).
    pub status_rollouts: bool,
}

impl Default for Options {
    /// Ask before changing anything, follow rollouts, verify alarms, read rollouts.
    fn default() -> Options {
        Options {
            parameters: Parameters::default(),
            confirm: Confirm::Ask,
            template_bucket: None,
            follow_rollouts: true,
            verify_alarms: true,
            status_rollouts: true,
        }
    }
}

/// AWS as a backend: the clients and the AWS-only options.
#[derive(Debug, Clone)]
pub struct AwsBackend {
    pub aws: Aws,
    pub options: Options,
}

impl AwsBackend {
    /// Connects (see [`Aws::connect`]) with the default options.
    pub async fn connect(connection: &Connection) -> Result<AwsBackend> {
        Ok(AwsBackend::new(Aws::connect(connection).await?))
    }

    /// The clients `aws` with the default options.
    pub fn new(aws: Aws) -> AwsBackend {
        AwsBackend {
            aws,
            options: Options::default(),
        }
    }
}

impl Backend for AwsBackend {
    async fn deploy(&self, request: &DeployRequest, out: &dyn Reporter) -> Result<Deployed> {
        deploy(self, request, out).await
    }

    async fn diff(&self, request: &DiffRequest, out: &dyn Reporter) -> Result<Diffed> {
        diff(self, request, out).await
    }

    async fn destroy(&self, request: &DestroyRequest, out: &dyn Reporter) -> Result<Destroyed> {
        destroy(self, request, out).await
    }

    async fn status(&self, request: &StatusRequest, out: &dyn Reporter) -> Result<StatusReport> {
        status(self, request, out).await
    }

    async fn watch(&self, request: &RolloutRequest, out: &dyn Reporter) -> Result<Rollouts> {
        watch(self, request, out).await
    }

    async fn rollback(&self, request: &RolloutRequest, out: &dyn Reporter) -> Result<()> {
        rollback(self, request, out).await
    }

    async fn continue_paused(&self, request: &RolloutRequest, out: &dyn Reporter) -> Result<()> {
        continue_paused(self, request, out).await
    }
}

/// The resolved target a rollout command needs on AWS (which services shift traffic is the
/// model's): a name alone is refused.
fn resolved(subject: &Subject) -> Result<&Resolved> {
    subject.resolved().ok_or_else(|| {
        Error::Target(TargetError::NoDescription {
            stack: subject.named().name.clone(),
        })
    })
}

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
