//! Mocked AWS clients for the flows' unit tests (`tests`, `rollout_tests`, `verify_tests`): one
//! builder, so each test names only the rules of the services it exercises. The clients are
//! aws-smithy-mocks' and contact no endpoint.

use std::time::Duration;

use aws_smithy_mocks::{Rule, RuleMode, mock_client};

use super::client::{ApiCalls, Aws, retry_config};

/// The rules each mocked service answers with; a service without rules answers nothing (a
/// call to it fails the test).
#[derive(Default, Clone, Copy)]
pub(super) struct Rules<'a> {
    /// CloudFormation, in any order.
    pub cfn: &'a [&'a Rule],
    /// SSM Parameter Store, in sequence (a state parameter read, then changed).
    pub ssm: &'a [&'a Rule],
    /// ECS, in any order.
    pub ecs: &'a [&'a Rule],
    /// CloudWatch, in any order.
    pub cloudwatch: &'a [&'a Rule],
    /// CloudFormation retries as in production (a throttled call is retried), with a 1 ms
    /// first backoff so no test sleeps; otherwise the mock's own policy.
    pub retrying: bool,
}

impl Rules<'_> {
    /// The engine's clients answering these rules, counting the calls as in production.
    pub fn aws(self) -> Aws {
        let calls = ApiCalls::default();
        let cfn = if self.retrying {
            mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, self.cfn, |c| c
                .retry_config(retry_config().with_initial_backoff(Duration::from_millis(1)))
                .interceptor(calls.clone()))
        } else {
            mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, self.cfn)
        };
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::Sequential, self.ssm);
        let discovery = mock_client!(aws_sdk_servicediscovery, RuleMode::MatchAny, &[]);
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, self.ecs);
        let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, self.cloudwatch);
        Aws::from_clients(cfn, ssm, discovery, ecs, calls).with_cloudwatch(cloudwatch)
    }
}

/// The template `app` renders with `strategy`, as `deploy` puts it in the stack.
pub(super) fn rendered(app: &str, strategy: Option<model::StrategyKind>) -> serde_json::Value {
    let target = crate::target::resolve(&crate::target::Choice {
        app,
        strategy,
        ..crate::target::Choice::default()
    })
    .unwrap_or_else(|e| panic!("{app} resolves: {e}"));
    let built = target.build(None).expect("renders");
    built.template.to_json_value()
}

/// `GetTemplate` answering `template` for any stack: what the stack runs.
pub(super) fn deployed(template: &serde_json::Value) -> Rule {
    let body = template.to_string();
    aws_smithy_mocks::mock!(aws_sdk_cloudformation::Client::get_template).then_output(move || {
        aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder()
            .template_body(body.clone())
            .build()
    })
}
