//! `status`: where a deployed stack stands, its outputs, and for bluegreen which version each
//! colour runs

use anyhow::{Result, bail};
use state_store::ssm::StoredState;

use model::RolloutProgress;

use super::client::Aws;
use super::rollout::{self, FollowOptions, Newest, Poll, Scope};
use super::stack;
use super::ui::Ui;
use super::{blue_green_state, print_state};
use crate::cli::{Outcome, StatusArgs};
use crate::rollout_view::{self, Commands};
use crate::target as synth;

pub async fn run(aws: &Aws, ui: &Ui, args: &StatusArgs) -> Result<Outcome> {
    let stack_name = synth::stack_name(&args.target)?;
    let scope = scope_for(args)?;
    let Some(found) = stack::find(aws, &stack_name).await? else {
        if args.json {
            ui.line(serde_json::json!({"stack": stack_name, "exists": false}).to_string());
        } else {
            ui.line(format!(
                "stack {stack_name} does not exist: deploy it with `cargo xtask deploy {}`",
                args.target.app
            ));
        }
        return Ok(Outcome::Failure);
    };
    let stored = blue_green_state(aws, &args.target, &stack_name)
        .await?
        .map(|(store, stored)| (store.parameter().to_string(), stored));
    // `--watch` shows the deployments live instead of once.
    let rollouts = if args.watch {
        Vec::new()
    } else {
        rollouts(aws, ui, &found, &scope).await?
    };
    let status = stack::status_of(&found);
    if args.json {
        print_json(ui, &stack_name, &found, stored.as_ref(), &rollouts)?;
    } else {
        match found.stack_status_reason() {
            Some(reason) if !reason.is_empty() => {
                ui.line(format!("stack {stack_name}: {status} ({reason})"))
            }
            _ => ui.line(format!("stack {stack_name}: {status}")),
        }
        if let Some(updated) = found.last_updated_time().or(found.creation_time()) {
            ui.line(format!("last changed: {updated}"));
        }
        stack::print_outputs(ui, &found);
        if let Some((parameter, stored)) = &stored {
            print_state(ui, parameter, stored);
        }
        for rollout in &rollouts {
            ui.line(version_line(rollout));
            if let Some(progress) = &rollout.deployment {
                ui.line(format!("  {}", rollout_view::summary(progress)));
            }
        }
    }
    if args.watch {
        let opts = FollowOptions {
            commands: Commands {
                app: args.target.app.clone(),
                local: false,
            },
            poll: Poll::STANDARD,
        };
        return rollout::follow(aws, ui, &scope, &opts).await;
    }
    Ok(
        if stack::in_progress(status)
            || status.ends_with("_COMPLETE") && !status.contains("ROLLBACK")
        {
            Outcome::Success
        } else {
            Outcome::Failure
        },
    )
}

/// The services whose deployments shift traffic, from the model. An app meshtest cannot build
/// (a stack made from a file since moved) still gets its stack status, only not its rollouts;
/// `--watch` needs them.
fn scope_for(args: &StatusArgs) -> Result<Scope> {
    let scope = synth::synthesize(
        &args.target.app,
        args.target.stack_name.as_deref(),
        None,
        None,
    )
    .map(|s| Scope::of(&s.stack));
    match scope {
        Ok(scope) if args.watch && scope.services.is_empty() => bail!(
            "{} has no service with a blue-green, linear or canary deployment: nothing to watch",
            args.target.app
        ),
        Ok(scope) => Ok(scope),
        Err(err) if args.watch => Err(err),
        Err(_) => Ok(Scope {
            cluster: String::new(),
            services: Vec::new(),
        }),
    }
}

fn print_json(
    ui: &Ui,
    stack_name: &str,
    found: &aws_sdk_cloudformation::types::Stack,
    stored: Option<&(String, StoredState)>,
    rollouts: &[ServiceRollout],
) -> Result<()> {
    let outputs: serde_json::Map<String, serde_json::Value> = found
        .outputs()
        .iter()
        .map(|o| {
            (
                o.output_key().unwrap_or_default().to_string(),
                o.output_value().unwrap_or_default().into(),
            )
        })
        .collect();
    let mut json = serde_json::json!({
        "stack": stack_name,
        "exists": true,
        "status": stack::status_of(found),
        "reason": found.stack_status_reason(),
        "outputs": outputs,
    });
    if let Some((parameter, stored)) = stored {
        let v = stored.state.versions();
        json["blueGreen"] = serde_json::json!({
            "parameter": parameter,
            "parameterVersion": stored.version,
            "state": serde_json::from_str::<serde_json::Value>(&stored.state.to_json())?,
            "blueVersion": v.blue,
            "greenVersion": v.green,
        });
    }
    if !rollouts.is_empty() {
        json["rollouts"] = serde_json::to_value(rollouts)?;
    }
    ui.line(serde_json::to_string_pretty(&json)?);
    Ok(())
}

/// A traffic-shifting service: the version the stack sets and its newest ECS deployment.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceRollout {
    service: String,
    version: Option<String>,
    /// `None` when the service has no deployment yet, or the endpoint cannot say.
    deployment: Option<RolloutProgress>,
    /// Whether the endpoint answers `ListServiceDeployments` (moto does not).
    deployment_readable: bool,
}

/// For each traffic-shifting service: the version the stack sets (its `<Service>Version`
/// output) and where its newest ECS deployment stands, so a user sees what is live and what
/// is rolling out.
async fn rollouts(
    aws: &Aws,
    ui: &Ui,
    found: &aws_sdk_cloudformation::types::Stack,
    scope: &Scope,
) -> Result<Vec<ServiceRollout>> {
    if scope.services.is_empty() {
        return Ok(Vec::new());
    }
    // The outputs as CloudFormation resolved them; the deployed template's literal value when
    // the endpoint reports none (moto).
    let template = match found.stack_id() {
        Some(id) if found.outputs().is_empty() => stack::deployed_template(aws, id).await?,
        _ => serde_json::Value::Null,
    };
    let mut out = Vec::new();
    for (service, strategy) in &scope.services {
        let key = cfn_render::deployment::version_output_key(service);
        let version = found
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(key.as_str()))
            .and_then(|o| o.output_value())
            .or_else(|| template["Outputs"][&key]["Value"].as_str());
        let (deployment, deployment_readable) =
            match rollout::newest(aws, &scope.cluster, service).await? {
                Newest::Found(d) => {
                    let names = rollout::revision_names(aws, &d).await;
                    (
                        Some(rollout::progress_of(service, *strategy, &d, &names)?),
                        true,
                    )
                }
                Newest::None => (None, true),
                Newest::Unsupported(why) => {
                    ui.note(format!("note: {why}"));
                    (None, false)
                }
            };
        out.push(ServiceRollout {
            service: service.clone(),
            version: version.map(str::to_owned),
            deployment,
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
    use model::{DeploymentStage, DeploymentStatus, Percent, RolloutProgress, StrategyKind};

    use super::{ServiceRollout, version_line};

    fn check(status: Option<DeploymentStatus>, expected: &str) {
        let deployment = status.map(|status| RolloutProgress {
            service: "web".into(),
            status,
            strategy: StrategyKind::Linear,
            stage: Some(DeploymentStage::ProductionTrafficShift),
            source: None,
            target: None,
            production_percent: Percent::whole(40),
            test_traffic_on_target: false,
            bake_remaining_seconds: None,
            alarms_triggered: Vec::new(),
            rollback_reason: None,
            paused_at: None,
        });
        let mut rollout = ServiceRollout {
            service: "web".into(),
            version: Some("2".into()),
            deployment,
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
