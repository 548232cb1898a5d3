//! `diff`: the deployed template against the one a deploy would send, like `cdk diff`
//!
//! When the stack exists, a change set is made (and deleted again) only to learn which
//! resources CloudFormation would replace: the template diff alone cannot know that.

use crate::error::Result;
use aws_sdk_cloudformation::types::{ChangeSetType, Parameter, Stack};
use cfn_render::Template;
use cfn_render::diff::TemplateDiff;

use super::AwsBackend;
use super::blue_green_state;
use super::client::Aws;
use super::stack::{self, ChangeSetRequest, ChangeSetResult};
use super::upload;
use crate::outcome::{Changes, Diffed, StackStatus};
use crate::report::Reporter;
use crate::request::DiffRequest;

/// What a deploy of `request.target` would change, with the resources CloudFormation would
/// replace marked.
pub async fn diff(
    backend: &AwsBackend,
    request: &DiffRequest,
    out: &dyn Reporter,
) -> Result<Diffed> {
    let aws = &backend.aws;
    let target = &request.target;
    let stack_name = target.named.name.as_str();
    let stored = blue_green_state(aws, target.state_parameter())
        .await?
        .map(|(_, stored)| stored);
    let synthesized = target.build(stored.as_ref().map(|s| &s.state))?;
    crate::detection::report(&synthesized.stack, out);
    let template = &synthesized.template;
    let new = template.to_json_value();

    let existing = stack::find(aws, stack_name).await?.filter(|s| {
        !matches!(
            stack::status_of(s),
            StackStatus::ReviewInProgress | StackStatus::RollbackComplete
        )
    });
    let mut notes = Vec::new();
    let diff = match &existing {
        None => {
            notes.push(format!(
                "stack {stack_name} does not exist yet: everything is new"
            ));
            TemplateDiff::between(&serde_json::Value::Null, &new)
        }
        Some(found) => {
            let old = stack::deployed_template(aws, stack_name).await?;
            let mut diff = TemplateDiff::between(&old, &new);
            if !diff.is_empty() {
                let marked = Marking {
                    found,
                    stack_name,
                    template,
                    template_bucket: backend.options.template_bucket.as_deref(),
                };
                notes.extend(mark_replacements(aws, out, marked, &mut diff).await?);
            }
            diff
        }
    };
    Ok(Diffed {
        stack_name: stack_name.to_owned(),
        exists: existing.is_some(),
        changes: Changes::Template(diff),
        notes,
    })
}

/// What [`mark_replacements`] asks a change set about.
#[derive(Debug, Clone, Copy)]
struct Marking<'a> {
    found: &'a Stack,
    stack_name: &'a str,
    template: &'a Template,
    /// `--template-bucket`: where a template over the inline limit goes.
    template_bucket: Option<&'a str>,
}

/// Marks the resources a deploy would replace, from a change set made and deleted right away;
/// when that cannot be done, the note that says why.
async fn mark_replacements(
    aws: &Aws,
    out: &dyn Reporter,
    marking: Marking<'_>,
    diff: &mut TemplateDiff,
) -> Result<Vec<String>> {
    let Marking {
        found,
        stack_name,
        template,
        template_bucket,
    } = marking;
    if stack::status_of(found).in_progress() {
        return Ok(vec![format!(
            "stack {stack_name} is {}: replacement marks need a change set, which must wait until it finishes",
            stack::status_of(found)
        )]);
    }
    // Every parameter keeps its deployed value: diff has no --image/--allow-cidr.
    let previous: Vec<&str> = found
        .parameters()
        .iter()
        .filter_map(|p| p.parameter_key())
        .collect();
    let missing: Vec<&str> = template
        .parameters
        .iter()
        .filter(|(name, p)| p.default.is_none() && !previous.contains(&name.as_str()))
        .map(|(name, _)| name.as_str())
        .collect();
    if !missing.is_empty() {
        return Ok(vec![format!(
            "no replacement marks: new parameter(s) {} need values that only deploy takes",
            missing.join(", ")
        )]);
    }
    let parameters = template
        .parameters
        .keys()
        .filter(|name| previous.contains(&name.as_str()))
        .map(|name| {
            Parameter::builder()
                .parameter_key(name)
                .use_previous_value(true)
                .build()
        })
        .collect();
    let source = upload::place(aws, out, stack_name, template_bucket, template).await?;
    let request = ChangeSetRequest {
        stack: stack_name,
        kind: ChangeSetType::Update,
        template: &source,
        parameters,
        description: "meshtest diff (deleted right after reading it)",
    };
    if let ChangeSetResult::Ready(ready) = stack::create_change_set(aws, &request).await? {
        stack::delete_change_set(aws, &ready.id, &ready.stack_id).await?;
        diff.apply_replacements(&stack::replacement_marks(&ready.changes));
    }
    Ok(vec![source.report()])
}
