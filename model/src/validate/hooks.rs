//! A deployment's lifecycle hooks: stages, Lambda target and the role ECS invokes it with,
//! PAUSE hooks, timeouts and the local runtime's command

use std::collections::BTreeSet;

use super::validator::Validator;
use crate::deployment::*;
use crate::rules;

impl Validator {
    pub(super) fn hook(&mut self, p: &str, h: &LifecycleHookSpec) {
        let pause = h.target_type == HookTargetType::Pause;
        if h.stages.is_empty() {
            self.err(format!("{p}.stages"), "a hook needs at least one stage");
        }
        let mut seen = BTreeSet::new();
        for (j, stage) in h.stages.iter().enumerate() {
            let sp = format!("{p}.stages[{j}]");
            if !seen.insert(stage) {
                self.err(sp, format!("duplicate stage {}", stage.as_str()));
                continue;
            }
            let instead = match stage {
                LifecycleStage::TestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
                LifecycleStage::ProductionTrafficShift => {
                    "PRE_PRODUCTION_TRAFFIC_SHIFT or POST_PRODUCTION_TRAFFIC_SHIFT"
                }
                _ => continue,
            };
            if pause {
                let stage = stage.as_str();
                self.err(
                    sp,
                    format!("a PAUSE hook cannot run at {stage}: pause at {instead}"),
                );
            }
        }
        match (h.target_type, &h.hook_target_arn) {
            (HookTargetType::AwsLambda, None) => self.err(
                format!("{p}.hookTargetArn"),
                "an AWS_LAMBDA hook needs hookTargetArn, the function's ARN",
            ),
            (HookTargetType::AwsLambda, Some(arn)) => {
                self.check(
                    format!("{p}.hookTargetArn"),
                    rules::lambda_function_arn(arn),
                );
            }
            (HookTargetType::Pause, Some(_)) => self.err(
                format!("{p}.hookTargetArn"),
                "a PAUSE hook has no target: remove hookTargetArn",
            ),
            (HookTargetType::Pause, None) => {}
        }
        self.hook_role(p, h);
        if let Some(t) = &h.timeout {
            self.check(
                format!("{p}.timeout.minutes"),
                rules::range(t.minutes, 1, 20160, "timeout"),
            );
        }
        match &h.local_command {
            Some(_) if pause => self.err(
                format!("{p}.localCommand"),
                "a PAUSE hook waits for `continue` and runs nothing: remove localCommand",
            ),
            Some(cmd) if cmd.first().is_none_or(String::is_empty) => self.err(
                format!("{p}.localCommand"),
                "localCommand needs a program to run: [program, args...]",
            ),
            _ => {}
        }
    }

    /// The role ECS assumes to invoke a Lambda hook: "the IAM role that grants Amazon ECS
    /// permission to call Lambda functions on your behalf" (ECS API reference,
    /// `DeploymentLifecycleHook.roleArn`,
    /// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentLifecycleHook.html>);
    /// terraform-provider-aws PR #48128 makes `role_arn` required for `AWS_LAMBDA` and unused for
    /// `PAUSE`. The stack can create it (`createRole`) instead of naming one.
    fn hook_role(&mut self, p: &str, h: &LifecycleHookSpec) {
        match (h.target_type, &h.role_arn, h.create_role) {
            (HookTargetType::AwsLambda, None, false) => self.err(
                format!("{p}.roleArn"),
                "an AWS_LAMBDA hook needs the role ECS assumes to invoke the function: give an existing role's ARN in roleArn, or set createRole: true",
            ),
            (HookTargetType::AwsLambda, Some(_), true) => self.err(
                format!("{p}.createRole"),
                "roleArn and createRole both give the hook's role: remove one",
            ),
            (HookTargetType::AwsLambda, Some(role), false) => {
                self.check(format!("{p}.roleArn"), rules::iam_role_arn(role));
            }
            (HookTargetType::AwsLambda, None, true) => {}
            (HookTargetType::Pause, role, create) => {
                if role.is_some() {
                    self.err(
                        format!("{p}.roleArn"),
                        "a PAUSE hook invokes nothing and needs no role: remove roleArn",
                    );
                }
                if create {
                    self.err(
                        format!("{p}.createRole"),
                        "a PAUSE hook invokes nothing and needs no role: remove createRole",
                    );
                }
            }
        }
    }
}
