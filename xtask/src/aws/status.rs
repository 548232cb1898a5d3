//! `status`: where a deployed stack stands, its outputs, and for bluegreen which version each
//! colour runs

use anyhow::Result;
use state_store::ssm::SsmStore;

use super::client::Aws;
use super::stack;
use super::ui::Ui;
use super::{app_is_bluegreen, print_state};
use crate::cli::{Outcome, StatusArgs};

pub async fn run(aws: &Aws, ui: &Ui, args: &StatusArgs) -> Result<Outcome> {
    let stack_name = args.target.stack_name().to_string();
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
