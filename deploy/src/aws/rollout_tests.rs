//! The rollout flows against mocked ECS clients (moto implements none of the service
//! deployment APIs): a linear rollout followed to success, an alarm rollback, a pause hook
//! continued or timing out, rollback with nothing in progress, an endpoint without the API

use std::time::Duration;

use aws_sdk_cloudwatch::Client as CloudWatch;
use aws_sdk_cloudwatch::operation::describe_alarm_history::DescribeAlarmHistoryOutput;
use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::operation::list_metrics::ListMetricsOutput;
use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use aws_sdk_ecs::Client as Ecs;
use aws_sdk_ecs::operation::continue_service_deployment::ContinueServiceDeploymentOutput;
use aws_sdk_ecs::operation::describe_service_deployments::DescribeServiceDeploymentsOutput;
use aws_sdk_ecs::operation::describe_service_revisions::DescribeServiceRevisionsOutput;
use aws_sdk_ecs::operation::list_service_deployments::ListServiceDeploymentsOutput;
use aws_sdk_ecs::operation::stop_service_deployment::StopServiceDeploymentOutput;
use aws_sdk_ecs::primitives::DateTime;
use aws_sdk_ecs::types::{
    DeploymentConfiguration, DeploymentLifecycleHookAction, DeploymentLifecycleHookDetail,
    DeploymentLifecycleHookStatus, DeploymentLifecycleHookTargetType, DeploymentStrategy, Rollback,
    ServiceDeployment, ServiceDeploymentAlarms, ServiceDeploymentBrief,
    ServiceDeploymentLifecycleStage as Stage, ServiceDeploymentStatus as Status, ServiceRevision,
    ServiceRevisionSummary, StopServiceDeploymentStopType,
};
use aws_smithy_mocks::{Rule, mock};
use model::{AlarmReading, AlarmState, DeploymentStage, Percent};

use super::AwsBackend;
use super::client::Aws;
use super::mocks::Rules;
use super::rollout::{self, FollowOptions, Poll, Scope};
use crate::outcome::{Deployed, Rollouts};
use crate::report::Recorder;
use crate::request::{RolloutRequest, Until, Wait};
use crate::rollout_view::Commands;
use crate::target::Choice;

const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/rollout/web/Kd9x";
const HOOK: &str = "hook-7f3a";

fn revision(n: u32) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:service-revision/rollout/web/{n}")
}

fn aws(ecs_rules: &[&Rule]) -> Aws {
    aws_with(&[], ecs_rules)
}

const ALARM: &str = "rollout-web-5xx";
const ALARM_REASON: &str = "Threshold Crossed: 1 out of the last 1 datapoints [12.5 (01/06/26 10:01:00)] was greater than the threshold (10.0) (minimum 1 datapoint for OK -> ALARM transition).";

/// `ALARM` as `DescribeAlarms` returns it: the stack's 10% error-rate alarm in `state`, its
/// newest datapoint `value` in `StateReasonData`.
fn metric_alarm(state: StateValue, reason: &str, value: f64) -> MetricAlarm {
    MetricAlarm::builder()
        .alarm_name(ALARM)
        .state_value(state)
        .state_reason(reason)
        .state_reason_data(format!(
            r#"{{"version":"1.0","queryDate":"2026-01-06T10:02:10.000+0000","period":60,"recentDatapoints":[3.0,{value}],"threshold":10.0}}"#
        ))
        .threshold(10.0)
        .build()
}

/// `DescribeAlarms` for `ALARM`, answering `alarms` in order, the last one from then on.
fn alarms_in(alarms: Vec<MetricAlarm>) -> Rule {
    let mut sequence = mock!(CloudWatch::describe_alarms)
        .match_requests(|r| r.alarm_names() == [ALARM])
        .sequence();
    for alarm in alarms {
        sequence = sequence.output(move || {
            DescribeAlarmsOutput::builder()
                .metric_alarms(alarm.clone())
                .build()
        });
    }
    sequence.repeatedly().build()
}

fn aws_with(cfn_rules: &[&Rule], ecs_rules: &[&Rule]) -> Aws {
    let ok = alarms_in(vec![metric_alarm(
        StateValue::Ok,
        "Threshold Crossed: no datapoints were received",
        0.0,
    )]);
    aws_with_alarms(cfn_rules, ecs_rules, &[&ok])
}

/// Clients with `cloudwatch_rules` (and no published metric, no alarm history) for CloudWatch.
pub(super) fn aws_with_alarms(
    cfn_rules: &[&Rule],
    ecs_rules: &[&Rule],
    cloudwatch_rules: &[&Rule],
) -> Aws {
    let no_metrics =
        mock!(CloudWatch::list_metrics).then_output(|| ListMetricsOutput::builder().build());
    let no_history = mock!(CloudWatch::describe_alarm_history)
        .then_output(|| DescribeAlarmHistoryOutput::builder().build());
    // Any other name: CloudWatch has no such alarm.
    let no_alarm =
        mock!(CloudWatch::describe_alarms).then_output(|| DescribeAlarmsOutput::builder().build());
    let mut cloudwatch = cloudwatch_rules.to_vec();
    cloudwatch.extend([&no_metrics, &no_history, &no_alarm]);
    let names = revisions();
    let front = steady_front();
    let mut ecs = ecs_rules.to_vec();
    ecs.extend([&names, &front]);
    // After the test's own: the stack runs what the rollout app renders.
    let template = super::mocks::deployed(&super::mocks::rendered("rollout", None));
    let mut cfn = cfn_rules.to_vec();
    cfn.push(&template);
    Rules {
        cfn: &cfn,
        ecs: &ecs,
        cloudwatch: &cloudwatch,
        ..Rules::default()
    }
    .aws()
}

/// `DescribeServices` of the rollout app's steady service: `front` runs `rollout-front:3`, two
/// tasks wanted, one running.
fn steady_front() -> Rule {
    mock!(Ecs::describe_services)
        .match_requests(|r| r.services() == ["front"])
        .then_output(|| {
            aws_sdk_ecs::operation::describe_services::DescribeServicesOutput::builder()
                .services(
                    aws_sdk_ecs::types::Service::builder()
                        .service_name("front")
                        .task_definition(
                            "arn:aws:ecs:us-east-1:123456789012:task-definition/rollout-front:3",
                        )
                        .desired_count(2)
                        .running_count(1)
                        .build(),
                )
                .build()
        })
}

/// `DescribeServiceRevisions`: revision n runs task definition `rollout-web:n`.
fn revisions() -> Rule {
    mock!(Ecs::describe_service_revisions).then_compute_output(|input| {
        let revisions = input.service_revision_arns().iter().map(|arn| {
            let n = arn.rsplit('/').next().unwrap_or_default();
            ServiceRevision::builder()
                .service_revision_arn(arn)
                .task_definition(format!(
                    "arn:aws:ecs:us-east-1:123456789012:task-definition/rollout-web:{n}"
                ))
                .build()
        });
        DescribeServiceRevisionsOutput::builder()
            .set_service_revisions(Some(revisions.collect()))
            .build()
    })
}

/// A rollout command on the rollout app, resolved as the command line does.
fn target() -> RolloutRequest {
    let choice = Choice {
        app: "rollout",
        ..Choice::default()
    };
    RolloutRequest::new(crate::target::resolve(&choice).expect("the rollout app resolves"))
}

/// The rollout app's scope, from its model: `web` in the stack's cluster, LINEAR.
fn scope() -> Scope {
    let request = target();
    Scope::of(&request.target.resolved().expect("resolved").stack)
}

pub(super) fn options() -> FollowOptions {
    FollowOptions {
        stack: "rollout".into(),
        // Worded as the command line words them, as the snapshots show.
        commands: Commands {
            continue_paused: "cargo xtask continue rollout".into(),
            rollback: "cargo xtask rollback rollout".into(),
        },
        poll: Poll {
            first: Duration::from_millis(1),
            max: Duration::from_millis(4),
        },
        own_alarms: ["rollout-web-5xx".to_owned()].into(),
        wait: None,
        since: None,
    }
}

/// One answer of `DescribeServiceDeployments`: where the deployment of `web` from revision 1
/// to revision 2 stands.
#[derive(Debug, Clone)]
struct Step {
    status: Status,
    stage: Stage,
    production: f64,
    test: f64,
    alarms: Vec<&'static str>,
    rollback: Option<&'static str>,
    hook: Option<DeploymentLifecycleHookStatus>,
}

fn step(status: Status, stage: Stage, production: f64) -> Step {
    Step {
        status,
        stage,
        production,
        test: 0.0,
        alarms: Vec::new(),
        rollback: None,
        hook: None,
    }
}

impl Step {
    fn test(mut self) -> Step {
        self.test = 100.0;
        self
    }

    fn alarm(mut self, name: &'static str) -> Step {
        self.alarms.push(name);
        self
    }

    fn rollback(mut self, reason: &'static str) -> Step {
        self.rollback = Some(reason);
        self
    }

    fn hook(mut self, status: DeploymentLifecycleHookStatus) -> Step {
        self.hook = Some(status);
        self
    }

    fn build(&self) -> ServiceDeployment {
        let mut d = ServiceDeployment::builder()
            .service_deployment_arn(ARN)
            .status(self.status.clone())
            .lifecycle_stage(self.stage.clone())
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .strategy(DeploymentStrategy::Linear)
                    .build(),
            )
            .source_service_revisions(
                ServiceRevisionSummary::builder()
                    .arn(revision(1))
                    .requested_production_traffic_weight(100.0 - self.production)
                    .build(),
            )
            .target_service_revision(
                ServiceRevisionSummary::builder()
                    .arn(revision(2))
                    .requested_production_traffic_weight(self.production)
                    .requested_test_traffic_weight(self.test)
                    .build(),
            )
            .alarms(
                ServiceDeploymentAlarms::builder()
                    .alarm_names(ALARM)
                    .set_triggered_alarm_names(Some(
                        self.alarms.iter().map(|a| a.to_string()).collect(),
                    ))
                    .build(),
            );
        if let Some(reason) = self.rollback {
            d = d.rollback(
                Rollback::builder()
                    .reason(reason)
                    .service_revision_arn(revision(1))
                    .build(),
            );
        }
        if let Some(status) = &self.hook {
            d = d.lifecycle_hook_details(
                DeploymentLifecycleHookDetail::builder()
                    .hook_id(HOOK)
                    .target_type(DeploymentLifecycleHookTargetType::Pause)
                    .status(status.clone())
                    .build(),
            );
        }
        d.build()
    }
}

/// `ListServiceDeployments` for web in the rollout cluster: one deployment, `ARN`.
fn listed() -> Rule {
    listed_in("rollout", "web", ARN)
}

/// `ListServiceDeployments` for `service` in `cluster`: one deployment, `arn`.
pub(super) fn listed_in(cluster: &'static str, service: &'static str, arn: &'static str) -> Rule {
    mock!(Ecs::list_service_deployments)
        .match_requests(move |r| r.cluster() == Some(cluster) && r.service() == Some(service))
        .then_output(move || {
            ListServiceDeploymentsOutput::builder()
                .service_deployments(
                    ServiceDeploymentBrief::builder()
                        .service_deployment_arn(arn)
                        .created_at(DateTime::from_secs(1_700_000_000))
                        .build(),
                )
                .build()
        })
}

/// `DescribeServiceDeployments` answering `steps` in order, the last one from then on.
fn described(steps: &[Step]) -> Rule {
    described_as(ARN, steps.iter().map(Step::build).collect())
}

/// `DescribeServiceDeployments` of `arn` answering `deployments` in order, the last one from
/// then on.
pub(super) fn described_as(arn: &'static str, deployments: Vec<ServiceDeployment>) -> Rule {
    let mut sequence = mock!(Ecs::describe_service_deployments)
        .match_requests(move |r| r.service_deployment_arns() == [arn])
        .sequence();
    for d in deployments {
        sequence = sequence.output(move || {
            DescribeServiceDeploymentsOutput::builder()
                .service_deployments(d.clone())
                .build()
        });
    }
    sequence.repeatedly().build()
}

async fn follow(steps: &[Step]) -> (Rollouts, String, usize) {
    let (outcome, out, described) = followed(steps, None).await;
    (outcome, out.text(), described)
}

/// Follows `steps` with `ALARM` read as `alarms` in turn (OK throughout when `None`): the
/// outcome, what the reporter got, and how many times the deployment was described.
async fn followed(steps: &[Step], alarms: Option<Vec<MetricAlarm>>) -> (Rollouts, Recorder, usize) {
    let list = listed();
    let describe = described(steps);
    let aws = match alarms {
        None => aws(&[&list, &describe]),
        Some(alarms) => {
            let alarm_rule = alarms_in(alarms);
            aws_with_alarms(&[], &[&list, &describe], &[&alarm_rule])
        }
    };
    let out = Recorder::new();
    let outcome = rollout::follow(&aws, &out, &scope(), &options())
        .await
        .expect("follow");
    (outcome, out, describe.num_calls())
}

/// ECS's reason for rolling back on `ALARM`.
const ALARM_ROLLBACK: &str = "Service deployment rolled back because the CloudWatch alarm rollout-web-5xx is in ALARM state.";

/// A deployment rolled back by `ALARM` at its first step, and the alarm as it is read at each
/// poll: OK, in ALARM when the rollback starts, back to OK once the old revision serves again.
fn alarm_rollback() -> ([Step; 3], Vec<MetricAlarm>) {
    let steps = [
        step(Status::InProgress, Stage::ProductionTrafficShift, 20.0),
        step(
            Status::RollbackInProgress,
            Stage::ProductionTrafficShift,
            0.0,
        )
        .alarm(ALARM)
        .rollback(ALARM_ROLLBACK),
        step(Status::RollbackSuccessful, Stage::CleanUp, 0.0)
            .alarm(ALARM)
            .rollback(ALARM_ROLLBACK),
    ];
    let alarms = vec![
        metric_alarm(StateValue::Ok, "fine", 4.0),
        metric_alarm(StateValue::Alarm, ALARM_REASON, 12.5),
        metric_alarm(StateValue::Ok, "Threshold Crossed: recovered", 0.0),
    ];
    (steps, alarms)
}

#[test]
fn the_rollout_app_watches_web_in_its_cluster() {
    assert_eq!(
        scope(),
        Scope {
            stack: "rollout".into(),
            cluster: "rollout".into(),
            services: vec![("web".into(), model::StrategyKind::Linear)],
            steady: vec!["front".into()],
        }
    );
}

#[tokio::test]
async fn a_linear_rollout_is_followed_step_by_step_to_success() {
    use Stage::*;
    let running = |stage, production| step(Status::InProgress, stage, production);
    let steps = [
        step(Status::Pending, PreScaleUp, 0.0),
        running(ScaleUp, 0.0),
        running(TestTrafficShift, 0.0).test(),
        running(ProductionTrafficShift, 20.0).test(),
        // The same answer twice: no second line.
        running(ProductionTrafficShift, 20.0).test(),
        running(ProductionTrafficShift, 40.0).test(),
        running(ProductionTrafficShift, 60.0).test(),
        running(ProductionTrafficShift, 80.0).test(),
        running(ProductionTrafficShift, 100.0).test(),
        running(BakeTime, 100.0).test(),
        running(CleanUp, 100.0),
        step(Status::Successful, CleanUp, 100.0),
    ];
    let (outcome, text, calls) = follow(&steps).await;
    assert_eq!(outcome, Rollouts::Completed, "{text}");
    assert_eq!(calls, steps.len(), "polling stops at SUCCESSFUL");
    insta::assert_snapshot!(text);
}

#[tokio::test]
async fn an_alarm_rolls_the_deployment_back_with_its_reason() {
    let reason = "CloudWatch alarm rollout-web-5xx went into ALARM";
    let steps = [
        step(Status::InProgress, Stage::ProductionTrafficShift, 20.0),
        step(
            Status::RollbackInProgress,
            Stage::ProductionTrafficShift,
            0.0,
        )
        .alarm("rollout-web-5xx")
        .rollback(reason),
        step(Status::RollbackSuccessful, Stage::CleanUp, 0.0)
            .alarm("rollout-web-5xx")
            .rollback(reason),
    ];
    let (outcome, text, _) = follow(&steps).await;
    assert_eq!(outcome, Rollouts::Failed, "{text}");
    assert!(
        text.contains(&format!(
            "web rollout-web:1 -> rollout-web:2: ROLLBACK_IN_PROGRESS at PRODUCTION_TRAFFIC_SHIFT, production 0% on rollout-web:2, alarm rollout-web-5xx OK 0% (threshold 10%), alarms triggered: rollout-web-5xx, reason: {reason}"
        )),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("web: rolled back to rollout-web:1: {reason}\n")),
        "{text}"
    );
}

/// A pause hook awaiting action for two polls, then timing out into a rollback; ECS's reason.
fn pause_timed_out() -> ([Step; 4], &'static str) {
    use DeploymentLifecycleHookStatus::{AwaitingAction, TimedOut};
    let paused = step(Status::InProgress, Stage::PostTestTrafficShift, 0.0)
        .test()
        .hook(AwaitingAction);
    let reason = "lifecycle hook hook-7f3a timed out";
    let steps = [
        paused.clone(),
        paused,
        step(Status::RollbackInProgress, Stage::PostTestTrafficShift, 0.0)
            .hook(TimedOut)
            .rollback(reason),
        step(Status::RollbackSuccessful, Stage::CleanUp, 0.0)
            .hook(TimedOut)
            .rollback(reason),
    ];
    (steps, reason)
}

#[tokio::test]
async fn a_pause_that_times_out_rolls_back() {
    let (steps, _) = pause_timed_out();
    let (outcome, text, _) = follow(&steps).await;
    assert_eq!(outcome, Rollouts::Failed, "{text}");
    insta::assert_snapshot!(text);
}

#[tokio::test]
async fn continue_releases_the_pause_hook_of_the_deployment_in_progress() {
    let paused = step(Status::InProgress, Stage::PostTestTrafficShift, 0.0)
        .test()
        .hook(DeploymentLifecycleHookStatus::AwaitingAction);
    let list = listed();
    let describe = described(&[paused]);
    let proceed = mock!(Ecs::continue_service_deployment)
        .match_requests(|r| {
            r.service_deployment_arn() == Some(ARN)
                && r.hook_id() == Some(HOOK)
                && r.action() == Some(&DeploymentLifecycleHookAction::Continue)
        })
        .then_output(|| ContinueServiceDeploymentOutput::builder().build());
    let aws = aws(&[&list, &describe, &proceed]);
    let out = Recorder::new();
    rollout::continue_paused(&AwsBackend::new(aws.clone()), &target(), &out)
        .await
        .expect("continue");
    assert_eq!(proceed.num_calls(), 1);
    assert_eq!(
        out.text().as_str(),
        "web: continued past the pause at POST_TEST_TRAFFIC_SHIFT\n"
    );
}

#[tokio::test]
async fn continue_without_a_pause_is_a_clear_error() {
    let list = listed();
    let describe = described(&[step(
        Status::InProgress,
        Stage::ProductionTrafficShift,
        40.0,
    )]);
    let proceed = mock!(Ecs::continue_service_deployment)
        .then_output(|| ContinueServiceDeploymentOutput::builder().build());
    let aws = aws(&[&list, &describe, &proceed]);
    let out = Recorder::new();
    let err = rollout::continue_paused(&AwsBackend::new(aws.clone()), &target(), &out)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no deployment of rollout waits at a pause hook: nothing to continue"
    );
    assert_eq!(proceed.num_calls(), 0);
}

#[tokio::test]
async fn rollback_stops_the_deployment_in_progress() {
    let list = listed();
    let describe = described(&[step(
        Status::InProgress,
        Stage::ProductionTrafficShift,
        40.0,
    )]);
    let stop = mock!(Ecs::stop_service_deployment)
        .match_requests(|r| {
            r.service_deployment_arn() == Some(ARN)
                && r.stop_type() == Some(&StopServiceDeploymentStopType::Rollback)
        })
        .then_output(|| {
            StopServiceDeploymentOutput::builder()
                .service_deployment_arn(ARN)
                .build()
        });
    let aws = aws(&[&list, &describe, &stop]);
    // The hint names the command as data; the reporter words it.
    let out = Recorder::new().wording(|next| format!("<{:?} {}>", next.verb, next.stack));
    rollout::rollback(&AwsBackend::new(aws.clone()), &target(), &out)
        .await
        .expect("rollback");
    assert_eq!(stop.num_calls(), 1);
    assert_eq!(
        out.text().as_str(),
        format!("web: rollback requested ({ARN}); follow it with `<Watch rollout>`\n")
    );
}

#[tokio::test]
async fn rollback_of_a_paused_deployment_goes_through_its_hook() {
    let paused = step(Status::InProgress, Stage::PostTestTrafficShift, 0.0)
        .test()
        .hook(DeploymentLifecycleHookStatus::AwaitingAction);
    let list = listed();
    let describe = described(&[paused]);
    let back = mock!(Ecs::continue_service_deployment)
        .match_requests(|r| {
            r.service_deployment_arn() == Some(ARN)
                && r.hook_id() == Some(HOOK)
                && r.action() == Some(&DeploymentLifecycleHookAction::Rollback)
        })
        .then_output(|| ContinueServiceDeploymentOutput::builder().build());
    let stop = mock!(Ecs::stop_service_deployment)
        .then_output(|| StopServiceDeploymentOutput::builder().build());
    let aws = aws(&[&list, &describe, &back, &stop]);
    let out = Recorder::new();
    rollout::rollback(&AwsBackend::new(aws.clone()), &target(), &out)
        .await
        .expect("rollback");
    assert_eq!((back.num_calls(), stop.num_calls()), (1, 0));
}

#[tokio::test]
async fn rollback_with_nothing_in_progress_is_a_clear_error() {
    let list = listed();
    let describe = described(&[step(Status::Successful, Stage::CleanUp, 100.0)]);
    let stop = mock!(Ecs::stop_service_deployment)
        .then_output(|| StopServiceDeploymentOutput::builder().build());
    let aws = aws(&[&list, &describe, &stop]);
    let out = Recorder::new();
    let err = rollout::rollback(&AwsBackend::new(aws.clone()), &target(), &out)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no deployment of rollout is in progress (web's newest is SUCCESSFUL): nothing to roll back"
    );
    assert_eq!(stop.num_calls(), 0);
}

#[tokio::test]
async fn a_service_without_deployments_says_so() {
    let list = mock!(Ecs::list_service_deployments)
        .then_output(|| ListServiceDeploymentsOutput::builder().build());
    let aws = aws(&[&list]);
    let out = Recorder::new();
    let outcome = rollout::follow(&aws, &out, &scope(), &options())
        .await
        .expect("follow");
    assert_eq!(outcome, Rollouts::Completed);
    assert_eq!(out.text().as_str(), "web: no ECS deployment yet\n");
}

#[tokio::test]
async fn an_endpoint_without_the_api_gets_one_note() {
    // What moto answers for an action it does not implement.
    let list = mock!(Ecs::list_service_deployments)
        .sequence()
        .http_status(
            500,
            Some("<!doctype html><title>500 Internal Server Error</title>".into()),
        )
        .repeatedly()
        .build();
    let aws = aws(&[&list]);
    let out = Recorder::new();
    let outcome = rollout::follow(&aws, &out, &scope(), &options())
        .await
        .expect("follow");
    assert_eq!(outcome, Rollouts::Completed);
    assert_eq!(
        out.text().as_str(),
        "note: cannot follow the ECS deployment of web: the endpoint does not implement ListServiceDeployments\n"
    );
}

#[tokio::test]
async fn other_errors_are_one_line_with_the_service_code() {
    let list = mock!(Ecs::list_service_deployments).then_error(|| {
        aws_sdk_ecs::operation::list_service_deployments::ListServiceDeploymentsError::generic(
            aws_sdk_ecs::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("User is not authorized to perform ecs:ListServiceDeployments")
                .build(),
        )
    });
    let aws = aws(&[&list]);
    let out = Recorder::new();
    let err = rollout::follow(&aws, &out, &scope(), &options())
        .await
        .unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "cannot list the deployments of service web in cluster rollout: AccessDeniedException: User is not authorized to perform ecs:ListServiceDeployments"
    );
}

#[test]
fn progress_falls_back_to_the_model_strategy_and_revision_ids() {
    let d = ServiceDeployment::builder()
        .service_deployment_arn(ARN)
        .status(Status::InProgress)
        .lifecycle_stage(Stage::ProductionTrafficShift)
        .target_service_revision(
            ServiceRevisionSummary::builder()
                .arn(revision(2))
                .requested_production_traffic_weight(33.3)
                .build(),
        )
        .build();
    let p = rollout::progress_of("web", model::StrategyKind::Canary, &d, &Default::default())
        .expect("known status");
    assert_eq!(p.strategy, model::StrategyKind::Canary);
    assert_eq!(p.production_percent, model::Percent::from_tenths(333));
    assert_eq!(p.source, None);
    assert_eq!(p.target.as_deref(), Some("revision 2"));
    assert!(!p.test_traffic_on_target);
    assert_eq!(p.paused_at, None);
}

/// `deploy rollout` as an update of a stack whose newest event before the change set executes
/// is `done`, CloudFormation answering as for any update and ECS with `ecs`: the outcome, what
/// was reported, and how many times the change set was executed.
async fn deployed_update(
    done: aws_sdk_cloudformation::types::StackEvent,
    ecs: &[&Rule],
) -> (Deployed, String, usize) {
    use aws_sdk_cloudformation::Client as Cfn;
    use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
    use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
    use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
    use aws_sdk_cloudformation::types::StackStatus;

    use super::tests::{change_set_rules, confirmed, deploy_request, stack_in};

    let stacks =
        mock!(Cfn::describe_stacks).then_output(|| stack_in(StackStatus::UpdateComplete, None));
    let events = mock!(Cfn::describe_stack_events).then_output(move || {
        DescribeStackEventsOutput::builder()
            .stack_events(done.clone())
            .build()
    });
    let template = mock!(Cfn::get_template)
        .then_output(|| GetTemplateOutput::builder().template_body("{}").build());
    let (create, describe_change_set, delete) = change_set_rules();
    let execute =
        mock!(Cfn::execute_change_set).then_output(|| ExecuteChangeSetOutput::builder().build());
    let aws = aws_with(
        &[
            &stacks,
            &events,
            &template,
            &create,
            &describe_change_set,
            &delete,
            &execute,
        ],
        ecs,
    );
    let out = Recorder::new();
    let outcome = super::deploy(&confirmed(&aws), &deploy_request("rollout"), &out)
        .await
        .expect("deploy runs");
    (outcome, out.text(), execute.num_calls())
}

#[tokio::test]
async fn deploy_follows_the_deployment_it_started_and_fails_on_a_rollback() {
    use aws_sdk_cloudformation::types::ResourceStatus;

    let reason = "CloudWatch alarm rollout-web-5xx went into ALARM";
    let list = listed();
    let describe = described(&[
        step(Status::InProgress, Stage::ProductionTrafficShift, 20.0),
        step(Status::RollbackSuccessful, Stage::CleanUp, 0.0)
            .alarm("rollout-web-5xx")
            .rollback(reason),
    ]);
    let done = super::tests::event(
        "e0",
        "app",
        "AWS::CloudFormation::Stack",
        ResourceStatus::UpdateComplete,
        "",
    );
    let (outcome, out, executed) = deployed_update(done, &[&list, &describe]).await;
    assert_eq!(executed, 1);
    assert!(out.contains("stack rollout: UPDATE_COMPLETE"), "{out}");
    assert!(!outcome.succeeded(), "{out}");
    // Before the change set: what web's alarm can catch at each step (issue 16).
    let floor = out
        .find("  at 20%: catches a new version failing more than 50% of its requests\n")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        floor < out.find("UPDATE_COMPLETE").unwrap(),
        "the figures come before the deploy: {out}"
    );
    // The rollback, then what verify found of the stack's own alarm (no metric published).
    let (rollout, verified) = out
        .split_once(&format!("web: rolled back to rollout-web:1: {reason}\n"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(rollout.contains("UPDATE_COMPLETE"), "{out}");
    assert!(
        verified.starts_with(
            "alarm rollout-web-error-rate (WebErrorRateAlarm): warning: CloudWatch has no alarm of this name"
        ),
        "{out}"
    );
    assert!(
        verified.contains("  note: missing AWS/ECS "),
        "before any traffic a missing series is a note: {out}"
    );
    let Deployed::Executed {
        verified: Some(verified),
        ..
    } = outcome
    else {
        panic!("deploy verifies the alarms once the stack settled: {outcome:?}");
    };
    assert_eq!(verified.alarms.len(), 1);
    assert_eq!(verified.alarms[0].state, None);
}

/// A deploy whose stack update did not change web (no ECS deployment created since the
/// update began) does not follow web's previous deployment, which rolled back an hour before:
/// it says so and succeeds. It used to follow the old deployment and fail on its rollback.
#[tokio::test]
async fn deploy_does_not_follow_a_deployment_older_than_its_update() {
    use aws_sdk_cloudformation::primitives::DateTime as CfnTime;
    use aws_sdk_cloudformation::types::ResourceStatus;

    // The stack's newest event before the change set executes, on AWS's clock: SINCE.
    let mut done = super::tests::event(
        "e0",
        "app",
        "AWS::CloudFormation::Stack",
        ResourceStatus::UpdateComplete,
        "",
    );
    done.timestamp = Some(CfnTime::from_secs(SINCE));
    let list = listed_since(None);
    // A listing without the filter (as before) gets the old deployment too.
    let unfiltered = mock!(Ecs::list_service_deployments).then_output(|| {
        ListServiceDeploymentsOutput::builder()
            .service_deployments(brief(OLD_ARN, SINCE - 3600))
            .build()
    });
    let old = described_as(
        OLD_ARN,
        vec![deployment(
            OLD_ARN,
            SINCE - 3600,
            &step(Status::RollbackSuccessful, Stage::CleanUp, 0.0).rollback("an old rollback"),
        )],
    );
    let (outcome, text, _) = deployed_update(done, &[&list, &unfiltered, &old]).await;
    assert!(outcome.succeeded(), "{text}");
    assert_eq!((list.num_calls(), old.num_calls()), (1, 0), "{text}");
    assert!(
        text.contains(
            "web: no ECS deployment since 2026-12-05T13:00:00Z (the update did not change it)\n"
        ),
        "{text}"
    );
    assert!(!text.contains("an old rollback"), "{text}");
}

/// `web` at `steps`, its alarm read as `alarms`, one `observe` per step as the follower polls.
async fn observed(
    steps: &[Step],
    alarms: Vec<MetricAlarm>,
) -> (Vec<model::RolloutProgress>, String) {
    // The first observe uses the deployment `follow` found; each next one describes it again.
    let describe = described(&steps[1.min(steps.len() - 1)..]);
    let alarm_rule = alarms_in(alarms);
    let aws = aws_with_alarms(&[], &[&describe], &[&alarm_rule]);
    let out = Recorder::new();
    let mut watched = rollout::Watched {
        service: "web",
        strategy: model::StrategyKind::Linear,
        deployment: steps[0].build(),
        revisions: Default::default(),
        alarm_names: vec![ALARM.to_owned()],
    };
    let mut alarm_watch = rollout::AlarmWatch::default();
    let mut seen = Vec::new();
    for i in 0..steps.len() {
        let progress = rollout::observe(
            &aws,
            &out,
            &mut watched,
            i == 0,
            &options(),
            &mut alarm_watch,
        )
        .await
        .expect("observe");
        seen.push(progress);
    }
    (seen, out.text())
}

#[tokio::test]
async fn the_alarm_state_is_read_beside_the_stage() {
    let steps = [
        step(Status::InProgress, Stage::ProductionTrafficShift, 20.0),
        step(Status::InProgress, Stage::ProductionTrafficShift, 40.0),
    ];
    let (seen, out) = observed(
        &steps,
        vec![
            metric_alarm(
                StateValue::Ok,
                "Threshold Crossed: 1 datapoint [6.2] was not greater than the threshold (10.0).",
                6.2,
            ),
            metric_alarm(StateValue::Alarm, ALARM_REASON, 12.5),
        ],
    )
    .await;
    assert_eq!(out, "", "nothing to say while the alarms read fine");
    assert_eq!(
        seen[0].alarms,
        [AlarmReading {
            name: ALARM.into(),
            state: AlarmState::Ok,
            threshold_percent: Some(Percent::whole(10)),
            value_percent: Some(Percent::from_tenths(62)),
            reason: Some(
                "Threshold Crossed: 1 datapoint [6.2] was not greater than the threshold (10.0)."
                    .into()
            ),
        }]
    );
    assert_eq!(
        seen[1].stage,
        Some(model::DeploymentStage::ProductionTrafficShift)
    );
    assert_eq!(seen[1].production_percent, Percent::whole(40));
    assert_eq!(seen[1].alarms[0].state, AlarmState::Alarm);
    assert_eq!(
        seen[1].alarms[0].value_percent,
        Some(Percent::from_tenths(125))
    );
    assert_eq!(seen[1].alarms[0].reason.as_deref(), Some(ALARM_REASON));
    assert_eq!(seen[1].rollback_reason, None, "no rollback yet");
}

#[tokio::test]
async fn an_alarm_of_another_stack_shows_its_state_without_percentages() {
    let steps = [step(
        Status::InProgress,
        Stage::ProductionTrafficShift,
        20.0,
    )];
    let describe = described(&steps);
    let alarm_rule = alarms_in(vec![metric_alarm(StateValue::Ok, "fine", 3.0)]);
    let aws = aws_with_alarms(&[], &[&describe], &[&alarm_rule]);
    let mut watched = rollout::Watched {
        service: "web",
        strategy: model::StrategyKind::Linear,
        deployment: steps[0].build(),
        revisions: Default::default(),
        alarm_names: vec![ALARM.to_owned()],
    };
    let opts = FollowOptions {
        own_alarms: Default::default(),
        ..options()
    };
    let p = rollout::observe(
        &aws,
        &Recorder::new(),
        &mut watched,
        true,
        &opts,
        &mut Default::default(),
    )
    .await
    .expect("observe");
    assert_eq!(
        (
            p.alarms[0].state,
            p.alarms[0].threshold_percent,
            p.alarms[0].value_percent
        ),
        (AlarmState::Ok, None, None)
    );
}

#[tokio::test]
async fn a_rollback_names_the_alarm_and_why_it_fired() {
    let (steps, alarms) = alarm_rollback();
    let (seen, _) = observed(&steps, alarms.clone()).await;
    let expected = format!("{ALARM_ROLLBACK}; alarm {ALARM}: {ALARM_REASON}");
    assert_eq!(seen[1].rollback_reason.as_deref(), Some(expected.as_str()));
    assert_eq!(seen[2].rollback_reason.as_deref(), Some(expected.as_str()));
    assert_eq!(seen[2].alarms[0].state, AlarmState::Ok);

    // The same through the whole follow: its last line says which alarm and why.
    let (outcome, out, _) = followed(&steps, Some(alarms)).await;
    let text = out.text();
    assert_eq!(outcome, Rollouts::Failed, "{text}");
    assert!(
        text.ends_with(&format!("web: rolled back to rollout-web:1: {expected}\n")),
        "{text}"
    );
}

#[tokio::test]
async fn unreadable_alarms_are_said_once_and_the_rollout_is_still_followed() {
    let denied = mock!(CloudWatch::describe_alarms).then_error(|| {
        aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsError::generic(
            aws_sdk_cloudwatch::error::ErrorMetadata::builder()
                .code("AccessDenied")
                .message("User is not authorized to perform cloudwatch:DescribeAlarms")
                .build(),
        )
    });
    let steps = [
        step(Status::InProgress, Stage::ProductionTrafficShift, 20.0),
        step(Status::InProgress, Stage::ProductionTrafficShift, 40.0),
        step(Status::Successful, Stage::CleanUp, 100.0),
    ];
    let list = listed();
    let describe = described(&steps);
    let aws = aws_with_alarms(&[], &[&list, &describe], &[&denied]);
    let out = Recorder::new();
    let outcome = rollout::follow(&aws, &out, &scope(), &options())
        .await
        .expect("follow");
    let text = out.text();
    assert_eq!(outcome, Rollouts::Completed, "{text}");
    assert_eq!(denied.num_calls(), 1, "{text}");
    assert_eq!(
        text.matches("note: cannot read the state of alarms rollout-web-5xx: AccessDenied: User is not authorized to perform cloudwatch:DescribeAlarms; following the rollout without it").count(),
        1,
        "{text}"
    );
}

#[tokio::test]
async fn without_alarms_on_the_deployment_the_service_configuration_names_them() {
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::types::{DeploymentAlarms, Service};
    let mut bare = step(Status::Successful, Stage::CleanUp, 100.0).build();
    bare.alarms = None;
    let list = listed();
    let describe = mock!(Ecs::describe_service_deployments).then_output(move || {
        DescribeServiceDeploymentsOutput::builder()
            .service_deployments(bare.clone())
            .build()
    });
    let services = mock!(Ecs::describe_services)
        .match_requests(|r| r.cluster() == Some("rollout") && r.services() == ["web"])
        .then_output(|| {
            DescribeServicesOutput::builder()
                .services(
                    Service::builder()
                        .deployment_configuration(
                            DeploymentConfiguration::builder()
                                .alarms(
                                    DeploymentAlarms::builder()
                                        .alarm_names(ALARM)
                                        .enable(true)
                                        .rollback(true)
                                        .build()
                                        .expect("alarms"),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let alarm_rule = alarms_in(vec![metric_alarm(StateValue::Ok, "fine", 1.0)]);
    let aws = aws_with_alarms(&[], &[&list, &describe, &services], &[&alarm_rule]);
    let outcome = rollout::follow(&aws, &Recorder::new(), &scope(), &options())
        .await
        .expect("follow");
    assert_eq!(outcome, Rollouts::Completed);
    assert_eq!((services.num_calls(), alarm_rule.num_calls()), (1, 1));
}

/// `follow` with `wait`, over `steps` (the last one repeated from then on).
async fn follow_until(steps: &[Step], wait: Wait) -> (Rollouts, String, usize) {
    let list = listed();
    let describe = described(steps);
    let aws = aws(&[&list, &describe]);
    let out = Recorder::new();
    let opts = FollowOptions {
        wait: Some(wait),
        ..options()
    };
    let outcome = rollout::follow(&aws, &out, &scope(), &opts)
        .await
        .expect("follow");
    (outcome, out.text(), describe.num_calls())
}

fn until(until: Until) -> Wait {
    Wait {
        until,
        timeout: None,
        since: None,
    }
}

/// `status --wait-until BAKE_TIME` returns as the deployment enters its bake, without
/// following it to the end (the rest of the answers are never asked for).
#[tokio::test]
async fn a_wait_for_a_stage_stops_polling_once_the_deployment_reaches_it() {
    use Stage::*;
    let running = |stage, production| step(Status::InProgress, stage, production);
    let steps = [
        running(ScaleUp, 0.0),
        running(ProductionTrafficShift, 20.0).test(),
        running(ProductionTrafficShift, 100.0).test(),
        running(BakeTime, 100.0).test(),
        running(CleanUp, 100.0),
        step(Status::Successful, CleanUp, 100.0),
    ];
    let (outcome, text, calls) =
        follow_until(&steps, until(Until::Stage(DeploymentStage::BakeTime))).await;
    assert_eq!(outcome, Rollouts::Reached, "{text}");
    assert_eq!(calls, 4, "polling stops at BAKE_TIME: {text}");
    assert!(text.trim_end().ends_with("rollout-web:2: BAKE_TIME, production 100% on rollout-web:2, test traffic on rollout-web:2, alarm rollout-web-5xx OK 0% (threshold 10%)"), "{text}");
    assert!(!text.contains("finished"), "{text}");
    // A stage already passed is reached at once: the deployment went through it.
    let (outcome, _, calls) = follow_until(
        &steps[3..],
        until(Until::Stage(DeploymentStage::ProductionTrafficShift)),
    )
    .await;
    assert_eq!((outcome, calls), (Rollouts::Reached, 1));
}

/// Waiting for SUCCESSFUL through an alarm rollback: missed as soon as ECS rolls back (exit 1
/// on the command line), not at the rollback's end; waiting for ROLLED_BACK, reached at its end.
#[tokio::test]
async fn a_rollback_misses_a_wait_for_success_and_meets_one_for_rolled_back() {
    let reason = "CloudWatch alarm rollout-web-5xx went into ALARM";
    let steps = [
        step(Status::InProgress, Stage::ProductionTrafficShift, 20.0),
        step(
            Status::RollbackInProgress,
            Stage::ProductionTrafficShift,
            0.0,
        )
        .alarm(ALARM)
        .rollback(reason),
        step(Status::RollbackSuccessful, Stage::CleanUp, 0.0)
            .alarm(ALARM)
            .rollback(reason),
    ];
    let (outcome, text, calls) = follow_until(&steps, until(Until::Successful)).await;
    assert_eq!((outcome, calls), (Rollouts::Failed, 2), "{text}");
    let (outcome, text, calls) = follow_until(&steps, until(Until::RolledBack)).await;
    assert_eq!((outcome, calls), (Rollouts::Reached, 3), "{text}");
    assert!(text.ends_with(&format!("web: rolled back to rollout-web:1: {reason}\n")));
    // A success can never become a rollback.
    let done = [step(Status::Successful, Stage::CleanUp, 100.0)];
    let (outcome, _, _) = follow_until(&done, until(Until::RolledBack)).await;
    assert_eq!(outcome, Rollouts::Failed);
}

#[tokio::test]
async fn a_wait_for_a_pause_is_met_by_a_hook_awaiting_action() {
    let steps = [
        step(Status::InProgress, Stage::TestTrafficShift, 0.0).test(),
        step(Status::InProgress, Stage::PostTestTrafficShift, 0.0)
            .test()
            .hook(DeploymentLifecycleHookStatus::AwaitingAction),
    ];
    let (outcome, text, calls) = follow_until(&steps, until(Until::Paused)).await;
    assert_eq!((outcome, calls), (Rollouts::Reached, 2), "{text}");
}

/// A deployment that stays in progress: the wait gives up at its timeout and says so with its
/// own outcome (exit 3), and polls no more than the timeout allows.
#[tokio::test]
async fn a_wait_gives_up_at_its_timeout() {
    let steps = [step(
        Status::InProgress,
        Stage::ProductionTrafficShift,
        20.0,
    )];
    let wait = Wait {
        until: Until::Successful,
        timeout: Some(Duration::from_millis(30)),
        since: None,
    };
    let started = std::time::Instant::now();
    let (outcome, text, calls) = follow_until(&steps, wait).await;
    assert_eq!(outcome, Rollouts::TimedOut, "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Polls every 1 to 4 ms (the test's pace) until the 30 ms are up; on a slow machine the
    // first poll may take them all.
    assert!((1..=40).contains(&calls), "{calls} polls");
}

/// No deployment at all: nothing to wait for (exit 4), where `--watch` alone has nothing to
/// show and ends.
#[tokio::test]
async fn a_wait_without_any_deployment_has_nothing_to_wait_for() {
    let list = mock!(Ecs::list_service_deployments)
        .then_output(|| ListServiceDeploymentsOutput::builder().build());
    let aws = aws(&[&list]);
    let out = Recorder::new();
    let opts = FollowOptions {
        wait: Some(until(Until::Successful)),
        ..options()
    };
    let outcome = rollout::follow(&aws, &out, &scope(), &opts)
        .await
        .expect("follow");
    assert_eq!(outcome, Rollouts::NotFollowed);
    assert_eq!(out.text().as_str(), "web: no ECS deployment yet\n");
}

/// 2026-12-05T13:00:00Z: the `--since` of the tests below, in seconds since the Unix epoch.
const SINCE: i64 = 1_796_475_600;
const OLD_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/rollout/web/Old1";

/// `step`'s deployment under `arn`, created at `created` (seconds since the Unix epoch).
fn deployment(arn: &str, created: i64, step: &Step) -> ServiceDeployment {
    let mut d = step.build();
    d.service_deployment_arn = Some(arn.to_owned());
    d.created_at = Some(DateTime::from_secs(created));
    d
}

/// A brief of `arn` created at `created`, as `ListServiceDeployments` lists it.
fn brief(arn: &'static str, created: i64) -> ServiceDeploymentBrief {
    ServiceDeploymentBrief::builder()
        .service_deployment_arn(arn)
        .created_at(DateTime::from_secs(created))
        .build()
}

/// `ListServiceDeployments` of web answering the previous deployment alone for `before` calls,
/// then the new one too (`None`: never), as an endpoint that ignores the `createdAt` filter
/// would; only a request that carries the filter (a second before `SINCE`) is answered.
fn listed_since(before: Option<usize>) -> Rule {
    let old = || {
        ListServiceDeploymentsOutput::builder()
            .service_deployments(brief(OLD_ARN, SINCE - 3600))
            .build()
    };
    let filtered = mock!(Ecs::list_service_deployments).match_requests(|r| {
        r.service() == Some("web")
            && r.created_at().and_then(|c| c.after()) == Some(&DateTime::from_secs(SINCE - 1))
            && r.created_at().and_then(|c| c.before()).is_none()
    });
    match before {
        None => filtered.then_output(old),
        Some(before) => filtered
            .sequence()
            .output(old)
            .times(before)
            .output(|| {
                ListServiceDeploymentsOutput::builder()
                    .service_deployments(brief(ARN, SINCE + 30))
                    .service_deployments(brief(OLD_ARN, SINCE - 3600))
                    .build()
            })
            .repeatedly()
            .build(),
    }
}

/// `status --wait-until SUCCESSFUL --since T` started before ECS created the deploy's
/// deployment: the previous deployment's success (created before T) is not judged: the wait
/// keeps waiting, says once what for, and judges the new deployment once ECS lists it. It
/// used to exit 0 at once on the previous success.
#[tokio::test]
async fn a_wait_since_a_time_judges_the_deployment_created_after_it_not_the_previous_one() {
    let list = listed_since(Some(3));
    let done = step(Status::Successful, Stage::CleanUp, 100.0);
    let old = described_as(OLD_ARN, vec![deployment(OLD_ARN, SINCE - 3600, &done)]);
    let new = described_as(
        ARN,
        vec![
            deployment(
                ARN,
                SINCE + 30,
                &step(Status::InProgress, Stage::ProductionTrafficShift, 20.0),
            ),
            deployment(ARN, SINCE + 30, &done),
        ],
    );
    let aws = aws(&[&list, &old, &new]);
    let out = Recorder::new();
    let opts = FollowOptions {
        wait: Some(Wait {
            since: Some(std::time::UNIX_EPOCH + Duration::from_secs(SINCE as u64)),
            ..until(Until::Successful)
        }),
        since: Some(std::time::UNIX_EPOCH + Duration::from_secs(SINCE as u64)),
        ..options()
    };
    let outcome = rollout::follow(&aws, &out, &scope(), &opts)
        .await
        .expect("follow");
    let text = out.text();
    assert_eq!(outcome, Rollouts::Reached, "{text}");
    assert_eq!(
        old.num_calls(),
        0,
        "the previous deployment is never judged: {text}"
    );
    assert_eq!(new.num_calls(), 2, "{text}");
    assert_eq!(list.num_calls(), 4, "listed until the new one came: {text}");
    assert_eq!(
        text.matches(
            "waiting for ECS deployments created since 2026-12-05T13:00:00Z (none yet: web)"
        )
        .count(),
        1,
        "{text}"
    );
    // The progress carries ECS's createdAt, as the local supervisor's carries its start.
    let p = rollout::progress_of(
        "web",
        model::StrategyKind::Linear,
        &deployment(ARN, SINCE + 30, &done),
        &Default::default(),
    )
    .expect("progress");
    assert_eq!(p.started_at_ms, Some(SINCE as u64 * 1000 + 30_000));
}

/// With `--since` and no deployment created since then, the wait is not "nothing to wait for"
/// (exit 4) but a deploy not started yet: it waits until its timeout (exit 3), never judging
/// the previous one.
#[tokio::test]
async fn a_wait_since_a_time_with_no_new_deployment_times_out() {
    let list = listed_since(None);
    let old = described_as(
        OLD_ARN,
        vec![deployment(
            OLD_ARN,
            SINCE - 3600,
            &step(Status::Successful, Stage::CleanUp, 100.0),
        )],
    );
    let aws = aws(&[&list, &old]);
    let out = Recorder::new();
    let since = std::time::UNIX_EPOCH + Duration::from_secs(SINCE as u64);
    let opts = FollowOptions {
        wait: Some(Wait {
            since: Some(since),
            timeout: Some(Duration::from_millis(40)),
            ..until(Until::Successful)
        }),
        since: Some(since),
        ..options()
    };
    let outcome = rollout::follow(&aws, &out, &scope(), &opts)
        .await
        .expect("follow");
    let text = out.text();
    assert_eq!(outcome, Rollouts::TimedOut, "{text}");
    assert_eq!(old.num_calls(), 0, "{text}");
    assert!(list.num_calls() >= 1, "{text}");
}

/// `status --wait-until` goes through `watch` with the request's wait.
#[tokio::test]
async fn watch_waits_as_its_request_asks() {
    let steps = [step(Status::InProgress, Stage::BakeTime, 100.0).test()];
    let list = listed();
    let describe = described(&steps);
    let aws = aws(&[&list, &describe]);
    let request = target().waiting(until(Until::Stage(DeploymentStage::BakeTime)));
    let outcome = rollout::watch(&AwsBackend::new(aws), &request, &Recorder::new())
        .await
        .expect("watch");
    assert_eq!(outcome, Rollouts::Reached);
}

/// What the whole-stack tree reads from ECS: the step from the deployment's LINEAR
/// configuration, the tasks of each revision from its `ServiceRevisionSummary` (no health:
/// ECS does not report it), a pause hook's id and the time left before its timeout action
/// from its `expiresAt`, the alarm from CloudWatch, and the steady `front` from
/// `DescribeServices`.
#[tokio::test]
async fn the_follower_shows_the_whole_stack_as_a_tree() {
    use aws_sdk_ecs::types::LinearConfiguration;
    let at = |status: Status, stage: Stage, production: f64, hook_expires: Option<DateTime>| {
        // After a success ECS wants no task of the old revision any more.
        let old_tasks = if status == Status::Successful { 0 } else { 2 };
        let mut d = ServiceDeployment::builder()
            .service_deployment_arn(ARN)
            .status(status)
            .lifecycle_stage(stage)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .strategy(DeploymentStrategy::Linear)
                    .linear_configuration(LinearConfiguration::builder().step_percent(20.0).build())
                    .build(),
            )
            .source_service_revisions(
                ServiceRevisionSummary::builder()
                    .arn(revision(1))
                    .requested_production_traffic_weight(100.0 - production)
                    .requested_task_count(old_tasks)
                    .running_task_count(old_tasks)
                    .build(),
            )
            .target_service_revision(
                ServiceRevisionSummary::builder()
                    .arn(revision(2))
                    .requested_production_traffic_weight(production)
                    .requested_test_traffic_weight(100.0)
                    .requested_task_count(2)
                    .running_task_count(1)
                    .pending_task_count(1)
                    .build(),
            )
            .alarms(
                ServiceDeploymentAlarms::builder()
                    .alarm_names(ALARM)
                    .build(),
            );
        if let Some(expires) = hook_expires {
            d = d.lifecycle_hook_details(
                DeploymentLifecycleHookDetail::builder()
                    .hook_id(HOOK)
                    .target_type(DeploymentLifecycleHookTargetType::Pause)
                    .status(DeploymentLifecycleHookStatus::AwaitingAction)
                    .expires_at(expires)
                    .timeout_action(DeploymentLifecycleHookAction::Rollback)
                    .build(),
            );
        }
        d.build()
    };
    // 30 minutes from now, to the second: the tree reads "30 min left" (rounded up), or a second
    // less when the clock ticks over before the follower reads it (`about_thirty_minutes`).
    let expires = DateTime::from_secs(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_secs(),
        )
        .expect("a 64-bit time")
            + 1800,
    );
    let list = listed();
    let describe = described_as(
        ARN,
        vec![
            at(
                Status::InProgress,
                Stage::ProductionTrafficShift,
                40.0,
                None,
            ),
            at(
                Status::InProgress,
                Stage::PostProductionTrafficShift,
                100.0,
                Some(expires),
            ),
            at(Status::Successful, Stage::CleanUp, 100.0, None),
        ],
    );
    let aws = aws(&[&list, &describe]);
    let out = Recorder::new();
    let outcome = rollout::follow(&aws, &out, &scope(), &options())
        .await
        .expect("follow");
    assert_eq!(outcome, Rollouts::Completed);
    let trees: Vec<String> = out.trees().iter().map(|t| t.join("\n")).collect();
    assert_eq!(trees.len(), 3, "one tree per round: {trees:#?}");
    insta::assert_snapshot!("tree_mid_step", trees[0]);
    insta::assert_snapshot!("tree_paused", about_thirty_minutes(&trees[1]));
    insta::assert_snapshot!("tree_finished", trees[2]);
    // Plain output is unchanged: the lines, no tree.
    assert!(!out.text().contains("└──"), "{}", out.text());
}

/// The paused tree with the hook's time left read as "30 min": the follower reads the clock
/// after the test set the expiry 30 minutes ahead, so on a slow machine a second or two has gone
/// ("29 min 59 s"). Anything further off is a wrong reading and fails here.
fn about_thirty_minutes(tree: &str) -> String {
    let (head, rest) = tree.split_at(
        tree.find("POST_PRODUCTION_TRAFFIC_SHIFT: ")
            .map(|i| i + "POST_PRODUCTION_TRAFFIC_SHIFT: ".len())
            .unwrap_or_else(|| panic!("no hook line in {tree}")),
    );
    let end = rest
        .find(" left")
        .unwrap_or_else(|| panic!("no time left in {tree}"));
    let left = &rest[..end];
    let close = left == "30 min"
        || left
            .strip_prefix("29 min ")
            .and_then(|s| s.strip_suffix(" s"))
            .and_then(|s| s.parse::<u32>().ok())
            .is_some_and(|s| s >= 50);
    assert!(
        close,
        "the hook's time left should be about 30 min, got {left:?}"
    );
    format!("{head}30 min{}", &rest[end..])
}

/// Follows `steps` and returns the events the reporter got, with their JSON checked against
/// `deploy/events.schema.json`.
async fn followed_events(steps: &[Step]) -> Vec<crate::events::Event> {
    let (_, out, _) = followed(steps, None).await;
    let events = out.events();
    crate::events::schema::check(&events);
    events
}

fn names(events: &[crate::events::Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}

/// The AWS follower reports one typed event per change, each naming the stack, the service
/// and its revisions, in the order they happened; the JSON form passes the schema.
#[tokio::test]
async fn the_aws_follower_reports_typed_events_in_order() {
    use crate::events::EventKind;
    use Stage::*;
    let running = |stage, production| step(Status::InProgress, stage, production);
    let steps = [
        running(ScaleUp, 0.0),
        running(TestTrafficShift, 0.0).test(),
        running(ProductionTrafficShift, 20.0).test(),
        running(ProductionTrafficShift, 20.0).test(),
        running(ProductionTrafficShift, 60.0).test(),
        running(BakeTime, 100.0).test(),
        step(Status::Successful, CleanUp, 100.0),
    ];
    let events = followed_events(&steps).await;
    assert_eq!(
        names(&events),
        [
            "deploymentStarted",
            // The deployment's alarm, first read.
            "alarmStateChanged",
            "stageEntered",
            "stageEntered",
            "stageEntered",
            "stepReached",
            "stepReached",
            "stageEntered",
            "stepReached",
            "finished",
        ]
    );
    for e in &events {
        assert_eq!((e.stack.as_str(), e.service.as_str()), ("rollout", "web"));
        assert_eq!(e.source.as_deref(), Some("rollout-web:1"), "{e:?}");
        assert_eq!(e.target.as_deref(), Some("rollout-web:2"), "{e:?}");
    }
    // The step comes from the LINEAR configuration ECS reports on the deployment, when it does.
    assert!(matches!(
        events[5].kind,
        EventKind::StepReached { production_percent, .. } if production_percent == Percent::whole(20)
    ));
    assert!(
        events.windows(2).all(|w| w[0].time <= w[1].time),
        "in time order"
    );
}

/// A pause awaiting action, then its hook timing out into a rollback: the pause, its release
/// into the rollback with ECS's reason, and the end.
#[tokio::test]
async fn a_pause_that_times_out_is_awaiting_action_then_released_into_a_rollback() {
    use crate::events::{EventKind, Released};
    let (steps, reason) = pause_timed_out();
    let events = followed_events(&steps).await;
    assert_eq!(
        names(&events),
        [
            "deploymentStarted",
            "alarmStateChanged",
            "stageEntered",
            "hookAwaitingAction",
            "hookReleased",
            "rolledBack",
            "finished"
        ]
    );
    // The hook ECS says awaits action, by the id `continue` takes (ECS gave no expiry here).
    assert_eq!(
        events[3].kind,
        EventKind::HookAwaitingAction {
            stage: DeploymentStage::PostTestTrafficShift,
            hook: Some(crate::events::HookWait {
                id: HOOK.into(),
                remaining_ms: None,
                timeout_at: None,
                timeout_action: None,
            }),
        }
    );
    assert_eq!(
        events[4].kind,
        EventKind::HookReleased {
            stage: DeploymentStage::PostTestTrafficShift,
            then: Released::RolledBack
        }
    );
    assert_eq!(
        events[5].kind,
        EventKind::RolledBack {
            status: model::DeploymentStatus::RollbackInProgress,
            reason: Some(reason.into())
        }
    );
}

/// The alarm's state changes are events, and the rollback names the alarm and why it fired.
#[tokio::test]
async fn an_alarm_rollback_reports_the_alarm_then_the_rollback_with_its_reason() {
    use crate::events::EventKind;
    let (steps, alarms) = alarm_rollback();
    let (_, out, _) = followed(&steps, Some(alarms)).await;
    let events = out.events();
    crate::events::schema::check(&events);
    assert_eq!(
        names(&events),
        [
            "deploymentStarted",
            "alarmStateChanged",
            "stageEntered",
            "stepReached",
            "alarmStateChanged",
            "rolledBack",
            "alarmStateChanged",
            "finished"
        ]
    );
    let expected = format!("{ALARM_ROLLBACK}; alarm {ALARM}: {ALARM_REASON}");
    assert_eq!(
        events[5].kind,
        EventKind::RolledBack {
            status: model::DeploymentStatus::RollbackInProgress,
            reason: Some(expected.clone())
        }
    );
    assert!(
        matches!(
            &events[4].kind,
            EventKind::AlarmStateChanged {
                from: Some(AlarmState::Ok),
                to: AlarmState::Alarm,
                ..
            }
        ),
        "{:?}",
        events[4]
    );
}
