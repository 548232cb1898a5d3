//! `status`: where a deployed stack stands, its outputs, and for bluegreen which version each
//! colour runs

use crate::error::{Error, Result};

use super::AwsBackend;
use super::client::Aws;
use super::rollout::{self, Newest, Scope};
use super::stack;
use super::{blue_green_state, print_state};
use crate::outcome::{Found, ServiceRollout, StackReport, StatusReport};
use crate::report::{Reporter, Verb};
use crate::request::StatusRequest;
use crate::rollout_view::{self, Detail};
use crate::target::Resolved;

/// Reads where a stack stands: its status and outputs, its blue-green state, and the newest
/// ECS deployment of each traffic-shifting service (with the model, and unless the backend's
/// options leave them out).
pub async fn status(
    backend: &AwsBackend,
    request: &StatusRequest,
    out: &dyn Reporter,
) -> Result<StatusReport> {
    let aws = &backend.aws;
    let target = request.target.named();
    let resolved = request.target.resolved();
    let state_parameter = resolved.and_then(Resolved::state_parameter);
    let scope = resolved
        .filter(|_| backend.options.status_rollouts)
        .map(|r| Scope::of(&r.stack));
    let mut report = StackReport {
        stack_name: target.name.clone(),
        found: None,
        blue_green: None,
        rollouts: Vec::new(),
    };
    let Some(found) = stack::find(aws, &target.name).await? else {
        return Ok(StatusReport::Stack(Box::new(report)));
    };
    report.blue_green = blue_green_state(aws, state_parameter)
        .await?
        .map(|(store, stored)| (store.parameter().to_string(), stored));
    if let Some(scope) = &scope {
        report.rollouts = rollouts(aws, out, &found, scope).await?;
    }
    report.found = Some(Found {
        status: stack::status_of(&found),
        reason: found
            .stack_status_reason()
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        last_changed: found
            .last_updated_time()
            .or(found.creation_time())
            .map(ToString::to_string),
        outputs: stack::outputs(&found),
    });
    Ok(StatusReport::Stack(Box::new(report)))
}

impl StackReport {
    /// Whether the stack exists and is busy or settled well (not rolled back, not failed).
    pub fn healthy(&self) -> bool {
        self.found
            .as_ref()
            .is_some_and(|f| f.status.in_progress() || f.status.is_success())
    }

    /// The report as lines, the hint for a missing stack worded by `out`.
    pub fn show(&self, out: &dyn Reporter) {
        let stack_name = &self.stack_name;
        let Some(found) = &self.found else {
            out.line(format!(
                "stack {stack_name} does not exist: deploy it with `{}`",
                out.command(&Verb::Deploy.on(stack_name))
            ));
            return;
        };
        let status = &found.status;
        match &found.reason {
            Some(reason) => out.line(format!("stack {stack_name}: {status} ({reason})")),
            None => out.line(format!("stack {stack_name}: {status}")),
        }
        if let Some(updated) = &found.last_changed {
            out.line(format!("last changed: {updated}"));
        }
        stack::print_outputs(out, &found.outputs);
        if let Some((parameter, stored)) = &self.blue_green {
            print_state(out, parameter, stored);
        }
        for rollout in &self.rollouts {
            out.line(version_line(rollout));
            if let Some(progress) = &rollout.deployment {
                out.line(format!(
                    "  {}",
                    rollout_view::summary_with(progress, &rollout.detail)
                ));
            }
        }
    }

    /// The report as the JSON `status --json` prints.
    pub fn to_json(&self) -> Result<serde_json::Value> {
        let Some(found) = &self.found else {
            return Ok(serde_json::json!({"stack": self.stack_name, "exists": false}));
        };
        let mut json = serde_json::json!({
            "stack": self.stack_name,
            "exists": true,
            "status": found.status.as_str(),
            "reason": found.reason,
            "outputs": found.outputs,
        });
        if let Some((parameter, stored)) = &self.blue_green {
            let v = stored.state.versions();
            json["blueGreen"] = serde_json::json!({
                "parameter": parameter,
                "parameterVersion": stored.version,
                "state": serde_json::from_str::<serde_json::Value>(&stored.state.to_json())
                    .map_err(|source| Error::Json { what: "cannot read the blue-green state back".to_owned(), source })?,
                "blueVersion": v.blue,
                "greenVersion": v.green,
            });
        }
        if !self.rollouts.is_empty() {
            json["rollouts"] =
                serde_json::to_value(&self.rollouts).map_err(|source| Error::Json {
                    what: "cannot write the rollouts as JSON".to_owned(),
                    source,
                })?;
        }
        Ok(json)
    }
}

/// For each traffic-shifting service: the version the stack sets (its `<Service>Version`
/// output) and where its newest ECS deployment stands, so a user sees what is live and what
/// is rolling out.
pub(super) async fn rollouts(
    aws: &Aws,
    ui: &dyn Reporter,
    found: &aws_sdk_cloudformation::types::Stack,
    scope: &Scope,
) -> Result<Vec<ServiceRollout>> {
    // The services' strategies as the stack was deployed (the rendered scope is what this
    // checkout renders without the deploy's flags), and the outputs as CloudFormation resolved
    // them, or the deployed template's literal value when the endpoint reports none (moto).
    let template = match found.stack_id() {
        Some(id) => stack::deployed_template(aws, id).await?,
        None => serde_json::Value::Null,
    };
    let scope = &scope.as_deployed(&template);
    let mut out = Vec::new();
    for (service, strategy) in &scope.services {
        let key = cfn_render::deployment::version_output_key(service);
        let version = found
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(key.as_str()))
            .and_then(|o| o.output_value())
            .or_else(|| template["Outputs"][&key]["Value"].as_str());
        let (deployment, detail, deployment_readable) =
            match rollout::newest(aws, &scope.cluster, service, None).await? {
                Newest::Found(d) => {
                    let revisions = rollout::revisions(aws, &d).await;
                    (
                        Some(rollout::progress_of(
                            service,
                            *strategy,
                            &d,
                            &revisions.names,
                        )?),
                        rollout::detail_of(&d, &revisions),
                        true,
                    )
                }
                Newest::None => (None, Detail::default(), true),
                Newest::Unsupported(why) => {
                    ui.note(format!("note: {why}"));
                    (None, Detail::default(), false)
                }
            };
        out.push(ServiceRollout {
            service: service.clone(),
            version: version.map(str::to_owned),
            deployment,
            detail,
            deployment_readable,
        });
    }
    Ok(out)
}

/// `web: version 2 is live`, `... is rolling out (PRODUCTION_TRAFFIC_SHIFT, ...)`, `... did
/// not go live`, or only what the stack sets when the deployments cannot be read.
fn version_line(rollout: &ServiceRollout) -> String {
    use model::DeploymentStatus as S;
    let service = &rollout.service;
    let version = rollout.version.as_deref().unwrap_or("unknown");
    if !rollout.deployment_readable {
        return format!("{service}: the stack sets version {version}");
    }
    match rollout.deployment.as_ref().map(|p| (p.status, p)) {
        None | Some((S::Successful, _)) => format!("{service}: version {version} is live"),
        Some((S::RollbackSuccessful | S::RollbackFailed | S::Stopped, p)) => format!(
            "{service}: version {version} did not go live ({}); the previous revision serves",
            p.status.as_str()
        ),
        Some((_, p)) => format!(
            "{service}: version {version} is rolling out ({}, {}% of production traffic so far)",
            p.stage.map(|s| s.as_str()).unwrap_or(p.status.as_str()),
            p.production_percent
        ),
    }
}

#[cfg(test)]
mod tests {
    use model::{DeploymentStage, DeploymentStatus, RolloutProgress, StrategyKind};

    use super::{ServiceRollout, version_line};

    fn check(status: Option<DeploymentStatus>, expected: &str) {
        let deployment = status.map(|status| RolloutProgress {
            status,
            source: None,
            target: None,
            ..model::examples::rollout_progress(
                StrategyKind::Linear,
                DeploymentStage::ProductionTrafficShift,
                40,
            )
        });
        let mut rollout = ServiceRollout {
            service: "web".into(),
            version: Some("2".into()),
            deployment,
            detail: Default::default(),
            deployment_readable: true,
        };
        assert_eq!(version_line(&rollout), expected);
        rollout.deployment_readable = false;
        assert_eq!(version_line(&rollout), "web: the stack sets version 2");
    }

    #[test]
    fn the_version_line_says_what_is_live_and_what_rolls_out() {
        check(None, "web: version 2 is live");
        check(Some(DeploymentStatus::Successful), "web: version 2 is live");
        check(
            Some(DeploymentStatus::InProgress),
            "web: version 2 is rolling out (PRODUCTION_TRAFFIC_SHIFT, 40% of production traffic so far)",
        );
        check(
            Some(DeploymentStatus::RollbackSuccessful),
            "web: version 2 did not go live (ROLLBACK_SUCCESSFUL); the previous revision serves",
        );
    }
}
