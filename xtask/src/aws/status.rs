//! `status`: where a deployed stack stands, its outputs, and for bluegreen which version each
//! colour runs

use anyhow::{Result, bail};
use state_store::ssm::SsmStore;

use super::client::Aws;
use super::rollout::{self, FollowOptions, Newest, Poll, Scope};
use super::stack;
use super::ui::Ui;
use super::{app_is_bluegreen, print_state};
use crate::cli::{Outcome, StatusArgs};
use crate::rollout_view::{self, Commands};
use crate::synth;

pub async fn run(aws: &Aws, ui: &Ui, args: &StatusArgs) -> Result<Outcome> {
    let stack_name = args.target.stack_name().to_string();
    // The model says which services shift traffic; an app meshtest cannot build (a stack made
    // from a file since moved) still gets its stack status, only not its rollouts.
    let scope = synth::synthesize(
        &args.target.app,
        args.target.stack_name.as_deref(),
        None,
        None,
    )
    .map(|s| Scope::of(&s.stack));
    if args.watch && scope.as_ref().is_ok_and(|s| s.services.is_empty()) {
        bail!(
            "{} has no service with a blue-green, linear or canary deployment: nothing to watch",
            args.target.app
        );
    }
    let scope = match scope {
        Ok(scope) => scope,
        Err(err) if args.watch => return Err(err),
        Err(_) => Scope {
            cluster: String::new(),
            services: Vec::new(),
        },
    };
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
    let stored = if app_is_bluegreen(&args.target.app) {
        let store = SsmStore::new(
            aws.ssm.clone(),
            model::examples::state_parameter_name(&stack_name),
        );
        Some((store.parameter().to_string(), store.load().await?))
    } else {
        None
    };
    let status = stack::status_of(&found);
    if args.json {
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
            "status": status,
            "reason": found.stack_status_reason(),
            "outputs": outputs,
        });
        if let Some((parameter, stored)) = &stored {
            let v = stored.state.versions();
            json["blueGreen"] = serde_json::json!({
                "parameter": parameter,
                "parameterVersion": stored.version,
                "state": serde_json::from_str::<serde_json::Value>(&stored.state.to_json())?,
                "blueVersion": v.blue,
                "greenVersion": v.green,
            });
        }
        ui.line(serde_json::to_string_pretty(&json)?);
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
        if !args.watch {
            print_rollouts(aws, ui, &found, &scope).await?;
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

/// For each traffic-shifting service: the version the stack sets (its `<Service>Version`
/// output) and where its newest ECS deployment stands, so a user sees what is live and what
/// is rolling out.
async fn print_rollouts(
    aws: &Aws,
    ui: &Ui,
    found: &aws_sdk_cloudformation::types::Stack,
    scope: &Scope,
) -> Result<()> {
    for (service, _) in &scope.services {
        let key = cfn_render::logical_id(&[service, "Version"]);
        let version = found
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(key.as_str()))
            .and_then(|o| o.output_value());
        let newest = rollout::newest(aws, &scope.cluster, service).await?;
        let progress = match &newest {
            Newest::Found(d) => Some(rollout::progress_of(
                service,
                scope_strategy(scope, service),
                d,
            )?),
            Newest::None => None,
            Newest::Unsupported(why) => {
                ui.note(format!("note: {why}"));
                None
            }
        };
        ui.line(version_line(service, version, progress.as_ref()));
        if let Some(progress) = &progress {
            ui.line(format!("  {}", rollout_view::summary(progress)));
        }
    }
    Ok(())
}

fn scope_strategy(scope: &Scope, service: &str) -> model::StrategyKind {
    scope
        .services
        .iter()
        .find(|(s, _)| s == service)
        .map(|(_, k)| *k)
        .unwrap_or_default()
}

/// `web: version 2 is live`, `... is rolling out (PRODUCTION_TRAFFIC_SHIFT)`, `... was rolled back`.
fn version_line(
    service: &str,
    version: Option<&str>,
    progress: Option<&model::RolloutProgress>,
) -> String {
    let Some(version) = version else {
        return format!("{service}: the stack has no {service} version output");
    };
    use model::DeploymentStatus as S;
    match progress.map(|p| (p.status, p)) {
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
