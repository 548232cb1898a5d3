//! In-process tests of the AWS flows with mocked clients: the failure paths moto cannot
//! produce (a create that rolls back with resource events, throttling, a state parameter that
//! changes between the diff and the execute)

use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::error::ErrorMetadata;
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::{
    DescribeStacksError, DescribeStacksOutput,
};
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
use aws_sdk_cloudformation::primitives::DateTime;
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, Parameter, ResourceChange, ResourceStatus, Stack,
    StackEvent, StackStatus,
};
use aws_sdk_ssm::Client as Ssm;
use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
use aws_smithy_mocks::{Rule, mock};

use super::client::Aws;
use super::mocks::Rules;
use super::{AwsBackend, Options, deploy, stack};
use crate::report::Confirm;
use crate::report::Recorder;
use crate::request::{DeployRequest, Parameters};
use crate::target::{Choice, resolve};

const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1";

/// CloudFormation and SSM answering these rules, with the production retry policy.
fn aws(cfn_rules: &[&Rule], ssm_rules: &[&Rule]) -> Aws {
    Rules {
        cfn: cfn_rules,
        ssm: ssm_rules,
        retrying: true,
        ..Rules::default()
    }
    .aws()
}

/// A deploy of `app` at version 2, as `deploy APP --version 2` asks for it.
pub(super) fn deploy_request(app: &str) -> DeployRequest {
    let choice = Choice {
        app,
        version: Some(2),
        ..Choice::default()
    };
    DeployRequest::new(resolve(&choice).expect("the app resolves"))
}

/// `aws` confirmed as `--yes --image nginx --allow-cidr 203.0.113.7/32` configures it.
pub(super) fn confirmed(aws: &Aws) -> AwsBackend {
    AwsBackend {
        aws: aws.clone(),
        options: Options {
            parameters: Parameters {
                image: Some("nginx".into()),
                allowed_cidr: Some(model::Ipv4Cidr::parse("203.0.113.7/32").expect("a CIDR")),
            },
            confirm: Confirm::Yes,
            ..Options::default()
        },
    }
}

fn missing_stack() -> DescribeStacksError {
    DescribeStacksError::generic(
        ErrorMetadata::builder()
            .code("ValidationError")
            .message("Stack with id app does not exist")
            .build(),
    )
}

pub(super) fn stack_in(status: StackStatus, reason: Option<&str>) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_name("app")
                .stack_id(STACK_ID)
                .stack_status(status)
                .set_stack_status_reason(reason.map(str::to_string))
                .creation_time(DateTime::from_secs(0))
                .parameters(
                    Parameter::builder()
                        .parameter_key("ServiceImage")
                        .parameter_value("nginx")
                        .build(),
                )
                .parameters(
                    Parameter::builder()
                        .parameter_key("AllowedCidr")
                        .parameter_value("203.0.113.7/32")
                        .build(),
                )
                .build(),
        )
        .build()
}

pub(super) fn event(
    id: &str,
    logical: &str,
    kind: &str,
    status: ResourceStatus,
    reason: &str,
) -> StackEvent {
    StackEvent::builder()
        .event_id(id)
        .stack_id(STACK_ID)
        .stack_name("app")
        .logical_resource_id(logical)
        .resource_type(kind)
        .resource_status(status)
        .resource_status_reason(reason)
        .timestamp(DateTime::from_secs(0))
        .build()
}

pub(super) fn change_set_rules() -> (Rule, Rule, Rule) {
    let create = mock!(Cfn::create_change_set).then_output(|| {
        CreateChangeSetOutput::builder()
            .id("arn:aws:cloudformation:us-east-1:123456789012:changeSet/meshtest/1")
            .stack_id(STACK_ID)
            .build()
    });
    let describe = mock!(Cfn::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .changes(
                Change::builder()
                    .resource_change(
                        ResourceChange::builder()
                            .action(ChangeAction::Modify)
                            .logical_resource_id("GreenTaskDefinition")
                            .resource_type("AWS::ECS::TaskDefinition")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let delete =
        mock!(Cfn::delete_change_set).then_output(|| DeleteChangeSetOutput::builder().build());
    (create, describe, delete)
}

#[tokio::test]
async fn a_create_that_rolls_back_reports_each_failed_resource() {
    let stacks = mock!(Cfn::describe_stacks)
        .sequence()
        .error(missing_stack)
        .output(|| {
            stack_in(
                StackStatus::RollbackComplete,
                Some("The following resource(s) failed to create: [BlueService]"),
            )
        })
        .repeatedly()
        .build();
    let before = event(
        "e0",
        "app",
        "AWS::CloudFormation::Stack",
        ResourceStatus::from("REVIEW_IN_PROGRESS"),
        "User Initiated",
    );
    let events = mock!(Cfn::describe_stack_events)
        .sequence()
        .output({
            let before = before.clone();
            move || {
                DescribeStackEventsOutput::builder()
                    .stack_events(before.clone())
                    .build()
            }
        })
        .output(move || {
            DescribeStackEventsOutput::builder()
                .stack_events(event(
                    "e5",
                    "app",
                    "AWS::CloudFormation::Stack",
                    ResourceStatus::RollbackComplete,
                    "",
                ))
                .stack_events(event(
                    "e4",
                    "BlueService",
                    "AWS::ECS::Service",
                    ResourceStatus::DeleteComplete,
                    "",
                ))
                .stack_events(event(
                    "e3",
                    "BlueService",
                    "AWS::ECS::Service",
                    ResourceStatus::CreateFailed,
                    "Resource handler returned message: \"image nginx not found\"",
                ))
                .stack_events(event(
                    "e2",
                    "BlueService",
                    "AWS::ECS::Service",
                    ResourceStatus::CreateInProgress,
                    "",
                ))
                .stack_events(event(
                    "e1",
                    "app",
                    "AWS::CloudFormation::Stack",
                    ResourceStatus::CreateInProgress,
                    "User Initiated",
                ))
                .stack_events(before.clone())
                .build()
        })
        .repeatedly()
        .build();
    let (create, describe, delete) = change_set_rules();
    let execute =
        mock!(Cfn::execute_change_set).then_output(|| ExecuteChangeSetOutput::builder().build());
    let aws = aws(
        &[&stacks, &events, &create, &describe, &delete, &execute],
        &[],
    );
    let out = Recorder::new();
    let choice = Choice {
        app: "serviceconnect",
        stack_name: Some("app"),
        version: Some(2),
        ..Choice::default()
    };
    let request = DeployRequest::new(resolve(&choice).expect("resolves"));
    let outcome = deploy::deploy(&confirmed(&aws), &request, &out)
        .await
        .expect("deploy runs");
    let out = out.text();
    assert!(!outcome.succeeded(), "{out}");
    assert!(out.contains("failed resources:\n  BlueService (AWS::ECS::Service) CREATE_FAILED: Resource handler returned message: \"image nginx not found\"\n"), "{out}");
    assert!(
        out.contains("stack app: ROLLBACK_COMPLETE (The following resource(s) failed to create: [BlueService])"),
        "{out}"
    );
    assert!(out.contains("the next deploy deletes it first"), "{out}");
    assert_eq!(execute.num_calls(), 1);
    assert_eq!(
        delete.num_calls(),
        0,
        "an executed change set is not deleted"
    );
}

#[tokio::test]
async fn throttling_is_retried() {
    let throttled = r#"<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"#;
    let stacks = mock!(Cfn::describe_stacks)
        .sequence()
        .http_status(400, Some(throttled.to_string()))
        .times(3)
        .output(|| stack_in(StackStatus::UpdateComplete, None))
        .build();
    let aws = aws(&[&stacks], &[]);
    let found = stack::find(&aws, "app").await.expect("found after retries");
    assert_eq!(
        found.map(|s| stack::status_of(&s).to_string()).as_deref(),
        Some("UPDATE_COMPLETE")
    );
    assert_eq!(stacks.num_calls(), 4);
    assert_eq!(
        aws.calls.total(),
        4,
        "every attempt is counted: {}",
        aws.calls.summary()
    );
}

/// A CloudFormation query-protocol error answer with `code`.
fn cfn_error(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>"#
    )
}

/// The engine's error for `DescribeStacks` answering `status` with `body` every time.
async fn describe_stacks_failing(status: u16, body: String) -> crate::error::AwsError {
    let stacks = mock!(Cfn::describe_stacks)
        .sequence()
        .http_status(status, Some(body))
        .times(10)
        .build();
    let aws = aws(&[&stacks], &[]);
    match stack::find(&aws, "app").await {
        Err(crate::Error::Aws(err)) => err,
        other => panic!("expected an AWS error, got {other:?}"),
    }
}

#[tokio::test]
async fn throttling_and_access_denied_are_told_apart() {
    use crate::error::AwsErrorKind;
    let throttled = describe_stacks_failing(400, cfn_error("Throttling", "Rate exceeded")).await;
    assert_eq!(throttled.kind, AwsErrorKind::Throttled, "{throttled:?}");
    assert_eq!(throttled.operation, "DescribeStacks");
    assert_eq!(
        throttled.message,
        "cannot describe stack app: Throttling: Rate exceeded"
    );
    let denied = describe_stacks_failing(
        403,
        cfn_error(
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/x is not authorized to perform: cloudformation:DescribeStacks",
        ),
    )
    .await;
    assert_eq!(denied.kind, AwsErrorKind::AccessDenied, "{denied:?}");
    assert_eq!(denied.operation, "DescribeStacks");
    let invalid = describe_stacks_failing(400, cfn_error("ValidationError", "bad name")).await;
    assert_eq!(invalid.kind, AwsErrorKind::Validation, "{invalid:?}");
}

#[test]
fn aws_error_codes_have_kinds() {
    use crate::error::AwsErrorKind::{self, *};
    let check = |code: Option<&str>, message: Option<&str>, kind: AwsErrorKind| {
        assert_eq!(AwsErrorKind::classify(code, message), kind, "{code:?}");
    };
    check(Some("Throttling"), None, Throttled);
    check(Some("ThrottlingException"), None, Throttled);
    check(Some("AccessDenied"), None, AccessDenied);
    check(Some("AccessDeniedException"), None, AccessDenied);
    check(
        Some("ValidationError"),
        Some("Stack with id x does not exist"),
        NotFound,
    );
    check(Some("ValidationError"), Some("bad template"), Validation);
    check(Some("ServiceNotFoundException"), None, NotFound);
    check(Some("NoSuchBucket"), None, NotFound);
    check(Some("AlreadyExistsException"), None, Conflict);
    check(Some("OperationInProgressException"), None, Conflict);
    check(Some("InternalFailure"), None, Other);
    check(None, None, Other);
}

/// The CloudFormation side of an update of an existing stack whose change set is ready.
struct UpdateRules {
    stacks: Rule,
    template: Rule,
    create: Rule,
    describe: Rule,
    delete: Rule,
    execute: Rule,
}

impl UpdateRules {
    fn new() -> UpdateRules {
        let (create, describe, delete) = change_set_rules();
        UpdateRules {
            stacks: mock!(Cfn::describe_stacks)
                .then_output(|| stack_in(StackStatus::UpdateComplete, None)),
            template: mock!(Cfn::get_template)
                .then_output(|| GetTemplateOutput::builder().template_body("{}").build()),
            create,
            describe,
            delete,
            execute: mock!(Cfn::execute_change_set)
                .then_output(|| ExecuteChangeSetOutput::builder().build()),
        }
    }

    fn all(&self) -> [&Rule; 6] {
        [
            &self.stacks,
            &self.template,
            &self.create,
            &self.describe,
            &self.delete,
            &self.execute,
        ]
    }
}

#[tokio::test]
async fn state_changed_between_diff_and_execute_aborts() {
    let update = UpdateRules::new();
    let state = r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#;
    let found = |version: i64| {
        move || {
            GetParameterOutput::builder()
                .parameter(
                    aws_sdk_ssm::types::Parameter::builder()
                        .name("/bluegreen/blue-green-state")
                        .value(state)
                        .version(version)
                        .build(),
                )
                .build()
        }
    };
    let read_for_diff = mock!(Ssm::get_parameter).then_output(found(4));
    let read_before_execute = mock!(Ssm::get_parameter).then_output(found(5));
    let aws = aws(&update.all(), &[&read_for_diff, &read_before_execute]);
    let out = Recorder::new();
    let err = deploy::deploy(&confirmed(&aws), &deploy_request("bluegreen"), &out)
        .await
        .unwrap_err();
    let out = out.text();
    assert!(
        matches!(
            err,
            crate::Error::StoredState(state_store::ssm::SsmError::Changed { .. })
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("state changed since the diff was made: parameter /bluegreen/blue-green-state was at version 4 and is now at version 5"),
        "{err}"
    );
    assert!(
        out.contains("GreenTaskDefinition"),
        "the diff was shown first: {out}"
    );
    assert_eq!(update.execute.num_calls(), 0, "nothing executed");
    assert_eq!(update.delete.num_calls(), 1, "the change set is deleted");
}

/// A deploy of the serviceconnect app whose change set is ready to execute, asked through `out`.
async fn unconfirmed_deploy(out: &Recorder) -> (crate::Error, UpdateRules) {
    let update = UpdateRules::new();
    let aws = aws(&update.all(), &[]);
    let mut backend = confirmed(&aws);
    backend.options.confirm = Confirm::Ask;
    let err = deploy::deploy(&backend, &deploy_request("serviceconnect"), out)
        .await
        .unwrap_err();
    (err, update)
}

#[tokio::test]
async fn a_deploy_nobody_confirms_is_cancelled_and_leaves_nothing() {
    // Answered no, and nobody to ask: both cancel before ExecuteChangeSet and delete the
    // change set; a program tells them from AWS failures by the variant.
    for (out, expected) in [
        (
            Recorder::answering(false),
            "deploy cancelled: nothing was changed",
        ),
        (
            Recorder::new(),
            "refusing to deploy without confirmation: this reporter cannot ask",
        ),
    ] {
        let (err, update) = unconfirmed_deploy(&out).await;
        assert!(matches!(err, crate::Error::Cancelled(_)), "{err:?}");
        assert!(err.to_string().starts_with(expected), "{err}");
        assert!(
            out.text()
                .contains("deploy these changes to stack serviceconnect? [y/N]"),
            "{}",
            out.text()
        );
        assert_eq!(update.execute.num_calls(), 0);
        assert_eq!(update.delete.num_calls(), 1);
    }
}

#[tokio::test]
async fn a_world_open_cidr_is_refused_before_any_aws_call() {
    let aws = aws(&[], &[]);
    let mut backend = confirmed(&aws);
    backend.options.parameters.allowed_cidr = Some("0.0.0.0/0".parse().expect("a CIDR"));
    backend.options.confirm = Confirm::Ask;
    let err = deploy::deploy(&backend, &deploy_request("gateway"), &Recorder::new())
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::Refused(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("tcp 80 (operator CIDR to the gateway listener)"),
        "{err}"
    );
    assert_eq!(aws.calls.total(), 0, "{}", aws.calls.summary());
}
