//! Following a deployment of a service behind the ALB gateway (issue 21 item 5): ECS answers
//! as it does for an ALB-based LINEAR deployment (mocked: moto has none of the service
//! deployment APIs), and the display shows the step, the shares and which target group each
//! revision serves from
//!
//! The answers' shapes are ECS's: `DescribeServiceDeployments` gives the revisions' requested
//! production and test weights and the strategy's configuration
//! (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html>);
//! `DescribeServiceRevisions` gives each revision's load balancer with its
//! `advancedConfiguration` and, in `resolvedConfiguration.loadBalancers`, the target group the
//! revision serves from and the production listener rule forwarding to it
//! (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceRevision.html>). ECS
//! puts the new revision in whichever of the two target groups is not production, so the
//! groups swap roles from one deployment to the next.

use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use aws_sdk_ecs::Client as Ecs;
use aws_sdk_ecs::operation::describe_service_revisions::DescribeServiceRevisionsOutput;
use aws_sdk_ecs::types::{
    AdvancedConfiguration, DeploymentConfiguration, DeploymentStrategy, LinearConfiguration,
    LoadBalancer, ResolvedConfiguration, Rollback, ServiceDeployment, ServiceDeploymentAlarms,
    ServiceDeploymentLifecycleStage as Stage, ServiceDeploymentStatus as Status, ServiceRevision,
    ServiceRevisionLoadBalancer, ServiceRevisionSummary,
};
use aws_smithy_mocks::{Rule, mock};
use model::{DeploymentStage, DeploymentStatus, Percent, StrategyKind};

use super::client::Aws;
use super::rollout::{self, Scope};
use super::rollout_tests::{aws_with_alarms, described_as, listed_in, options};
use crate::outcome::Rollouts;
use crate::report::Recorder;
use crate::request::RolloutRequest;
use crate::rollout_view::{Detail, LoadBalancerTraffic, StepOf, TargetGroupShare};
use crate::target::Choice;

const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/gateway/blue/Qm3v";
const PRIMARY: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gatew-BlueT-1F2A3B4C5D6E/73e2d6bc24d8a067";
const ALTERNATE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gatew-BlueA-6E5D4C3B2A1F/a1b2c3d4e5f60718";
const PRODUCTION_RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/gatew-Gatew-X1Y2Z3/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
const TEST_RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/gatew-Gatew-X1Y2Z3/50dc6c495c0c9188/f2f7dc8efc522ab2/3c4d5e6f7a8b9c0d";
const ROLE: &str = "arn:aws:iam::123456789012:role/gateway-GatewayInfrastructureRole-7QX2";
const ALARM: &str = "gateway-blue-5xx";
const ALARM_REASON: &str = "Threshold Crossed: 1 out of the last 1 datapoints [14.0 (05/12/26 10:01:00)] was greater than the threshold (10.0) (minimum 1 datapoint for OK -> ALARM transition).";

fn revision(n: u32) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:service-revision/gateway/blue/{n}")
}

/// Revision `n` serves from the primary target group when `n` is odd, from the alternate when
/// even: the first deployment puts revision 1 in the primary, each next one in the other group.
fn group_of(n: u32) -> &'static str {
    if n % 2 == 1 { PRIMARY } else { ALTERNATE }
}

/// `DescribeServiceRevisions` for blue: revision n runs `gateway-blue:n`, behind the gateway
/// with `AdvancedConfiguration` (the service's, the same in every revision) and resolved to its
/// own target group.
fn revisions() -> Rule {
    mock!(Ecs::describe_service_revisions).then_compute_output(|input| {
        let revisions = input.service_revision_arns().iter().map(|arn| {
            let n: u32 = arn
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .parse()
                .unwrap_or(0);
            ServiceRevision::builder()
                .service_revision_arn(arn)
                .task_definition(format!(
                    "arn:aws:ecs:us-east-1:123456789012:task-definition/gateway-blue:{n}"
                ))
                .load_balancers(
                    LoadBalancer::builder()
                        .target_group_arn(PRIMARY)
                        .container_name("blue")
                        .container_port(8080)
                        .advanced_configuration(
                            AdvancedConfiguration::builder()
                                .alternate_target_group_arn(ALTERNATE)
                                .production_listener_rule(PRODUCTION_RULE)
                                .test_listener_rule(TEST_RULE)
                                .role_arn(ROLE)
                                .build(),
                        )
                        .build(),
                )
                .resolved_configuration(
                    ResolvedConfiguration::builder()
                        .load_balancers(
                            ServiceRevisionLoadBalancer::builder()
                                .target_group_arn(group_of(n))
                                .production_listener_rule(PRODUCTION_RULE)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
        DescribeServiceRevisionsOutput::builder()
            .set_service_revisions(Some(revisions.collect()))
            .build()
    })
}

/// Where blue's LINEAR 20% deployment from revision `from` to `from + 1` stands.
#[derive(Debug, Clone)]
struct Step {
    from: u32,
    status: Status,
    stage: Stage,
    production: f64,
    test: f64,
    rollback: Option<&'static str>,
}

fn step(status: Status, stage: Stage, production: f64) -> Step {
    Step {
        from: 1,
        status,
        stage,
        production,
        test: 0.0,
        rollback: None,
    }
}

impl Step {
    fn test(mut self) -> Step {
        self.test = 100.0;
        self
    }

    fn rollback(mut self, reason: &'static str) -> Step {
        self.rollback = Some(reason);
        self
    }

    fn build(&self) -> ServiceDeployment {
        let triggered: Vec<String> = self.rollback.iter().map(|_| ALARM.to_owned()).collect();
        let mut d = ServiceDeployment::builder()
            .service_deployment_arn(ARN)
            .status(self.status.clone())
            .lifecycle_stage(self.stage.clone())
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .strategy(DeploymentStrategy::Linear)
                    .linear_configuration(
                        LinearConfiguration::builder()
                            .step_percent(20.0)
                            .step_bake_time_in_minutes(1)
                            .build(),
                    )
                    .build(),
            )
            .source_service_revisions(
                ServiceRevisionSummary::builder()
                    .arn(revision(self.from))
                    .requested_production_traffic_weight(100.0 - self.production)
                    .requested_test_traffic_weight(100.0 - self.test)
                    .build(),
            )
            .target_service_revision(
                ServiceRevisionSummary::builder()
                    .arn(revision(self.from + 1))
                    .requested_production_traffic_weight(self.production)
                    .requested_test_traffic_weight(self.test)
                    .build(),
            )
            .alarms(
                ServiceDeploymentAlarms::builder()
                    .alarm_names(ALARM)
                    .set_triggered_alarm_names(Some(triggered))
                    .build(),
            );
        if let Some(reason) = self.rollback {
            d = d.rollback(
                Rollback::builder()
                    .reason(reason)
                    .service_revision_arn(revision(self.from))
                    .build(),
            );
        }
        d.build()
    }
}

/// The gateway app with `--strategy linear`, resolved as the command line does.
fn target() -> RolloutRequest {
    let choice = Choice {
        app: "gateway",
        strategy: Some(StrategyKind::Linear),
        ..Choice::default()
    };
    RolloutRequest::new(crate::target::resolve(&choice).expect("the gateway app resolves"))
}

/// The gateway app's scope, blue alone (green has no deployment in these answers).
fn scope() -> Scope {
    let request = target();
    let scope = Scope::of(&request.target.resolved().expect("resolved").stack);
    Scope {
        services: scope
            .services
            .into_iter()
            .filter(|(s, _)| s == "blue")
            .collect(),
        ..scope
    }
}

fn listed() -> Rule {
    listed_in("gateway", "blue", ARN)
}

/// `DescribeServiceDeployments` answering `steps` in order, the last one from then on.
fn described(steps: &[Step]) -> Rule {
    described_as(ARN, steps.iter().map(Step::build).collect())
}

/// `DescribeAlarms` for blue's alarm: `states` in order, the last one from then on.
fn alarms_in(states: Vec<(StateValue, &'static str, f64)>) -> Rule {
    use aws_sdk_cloudwatch::Client as CloudWatch;
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    let mut sequence = mock!(CloudWatch::describe_alarms)
        .match_requests(|r| r.alarm_names() == [ALARM])
        .sequence();
    for (state, reason, value) in states {
        let alarm = MetricAlarm::builder()
            .alarm_name(ALARM)
            .state_value(state)
            .state_reason(reason)
            .state_reason_data(format!(
                r#"{{"version":"1.0","queryDate":"2026-05-12T10:02:10.000+0000","period":60,"recentDatapoints":[{value}],"threshold":10.0}}"#
            ))
            .threshold(10.0)
            .build();
        sequence = sequence.output(move || {
            DescribeAlarmsOutput::builder()
                .metric_alarms(alarm.clone())
                .build()
        });
    }
    sequence.repeatedly().build()
}

fn aws(steps: &[Step], alarms: Vec<(StateValue, &'static str, f64)>) -> (Aws, Rule) {
    aws_and(steps, alarms, &[])
}

/// [`aws`] with ECS answering `more` too.
fn aws_and(
    steps: &[Step],
    alarms: Vec<(StateValue, &'static str, f64)>,
    more: &[&Rule],
) -> (Aws, Rule) {
    let (list, describe, revisions) = (listed(), described(steps), revisions());
    let alarm_rule = alarms_in(alarms);
    let template = super::mocks::deployed(&deployed_blue_linear());
    let mut ecs = vec![&list, &describe, &revisions];
    ecs.extend(more);
    let aws = aws_with_alarms(&[&template], &ecs, &[&alarm_rule]);
    (aws, describe)
}

/// The template the gateway's stack runs: deployed with `--strategy linear`, green then put
/// back to a rolling update (these answers have no deployment of green).
fn deployed_blue_linear() -> serde_json::Value {
    let mut template = super::mocks::rendered("gateway", Some(StrategyKind::Linear));
    template["Resources"]["GreenService"]["Properties"]["DeploymentConfiguration"]
        .as_object_mut()
        .expect("green's deployment configuration")
        .remove("Strategy");
    template
}

/// The gateway as `status gateway` resolves it: no `--strategy`, so no service the rendered
/// stack shifts traffic for.
fn without_strategy() -> RolloutRequest {
    let choice = Choice {
        app: "gateway",
        ..Choice::default()
    };
    RolloutRequest::new(crate::target::resolve(&choice).expect("the gateway app resolves"))
}

async fn follow(
    steps: &[Step],
    alarms: Vec<(StateValue, &'static str, f64)>,
) -> (Rollouts, String) {
    let (aws, _) = aws(steps, alarms);
    let out = Recorder::new();
    // The gateway's own alarms: blue's is not one of them, so no percentages.
    let outcome = rollout::follow(&aws, &out, &scope(), &options())
        .await
        .expect("follow");
    (outcome, out.text())
}

const OK: (StateValue, &str, f64) = (
    StateValue::Ok,
    "Threshold Crossed: 1 datapoint [0.5] was not greater than the threshold (10.0).",
    0.5,
);

fn share(group: &str, revision: &str, percent: u32) -> TargetGroupShare {
    TargetGroupShare {
        target_group: group.into(),
        revision: revision.into(),
        production_percent: Percent::whole(percent),
    }
}

/// The typed reading of blue's deployment at `s`, from the mocked APIs.
async fn reading(s: Step) -> (model::RolloutProgress, Detail) {
    let (aws, _) = aws(std::slice::from_ref(&s), vec![OK]);
    let d = s.build();
    let revisions = rollout::revisions(&aws, &d).await;
    let progress = rollout::progress_of("blue", StrategyKind::Linear, &d, &revisions.names)
        .expect("a known status");
    (progress, rollout::detail_of(&d, &revisions))
}

#[test]
fn the_gateway_app_with_a_strategy_watches_the_services_behind_its_alb() {
    let request = target();
    assert_eq!(
        Scope::of(&request.target.resolved().expect("resolved").stack),
        Scope {
            stack: "gateway".into(),
            cluster: "gateway".into(),
            services: vec![
                ("blue".into(), StrategyKind::Linear),
                ("green".into(), StrategyKind::Linear),
            ],
            steady: Vec::new(),
        }
    );
}

#[tokio::test]
async fn at_a_step_the_progress_names_the_step_the_shares_and_each_revisions_target_group() {
    let (progress, detail) =
        reading(step(Status::InProgress, Stage::ProductionTrafficShift, 40.0).test()).await;
    assert_eq!(progress.status, DeploymentStatus::InProgress);
    assert_eq!(
        progress.stage,
        Some(DeploymentStage::ProductionTrafficShift)
    );
    assert_eq!(progress.strategy, StrategyKind::Linear);
    assert_eq!(progress.production_percent, Percent::whole(40));
    assert!(progress.test_traffic_on_target);
    assert_eq!(
        (progress.source.as_deref(), progress.target.as_deref()),
        (Some("gateway-blue:1"), Some("gateway-blue:2"))
    );
    assert_eq!(
        detail,
        Detail {
            step: Some(StepOf { n: 2, of: 5 }),
            load_balancer: Some(LoadBalancerTraffic {
                production_rule: "9683b2d02a6cabee".into(),
                test_rule: Some("3c4d5e6f7a8b9c0d".into()),
                source: Some(share("gatew-BlueT-1F2A3B4C5D6E", "gateway-blue:1", 60)),
                target: Some(share("gatew-BlueA-6E5D4C3B2A1F", "gateway-blue:2", 40)),
            }),
        }
    );
}

#[tokio::test]
async fn the_next_deployment_moves_production_back_to_the_other_target_group() {
    // Revision 2 serves from the alternate group now; revision 3 goes to the primary.
    let (_, detail) = reading(Step {
        from: 2,
        ..step(Status::InProgress, Stage::ProductionTrafficShift, 20.0)
    })
    .await;
    let lb = detail.load_balancer.expect("behind the ALB");
    assert_eq!(
        (lb.source, lb.target),
        (
            Some(share("gatew-BlueA-6E5D4C3B2A1F", "gateway-blue:2", 80)),
            Some(share("gatew-BlueT-1F2A3B4C5D6E", "gateway-blue:3", 20)),
        )
    );
    assert_eq!(detail.step, Some(StepOf { n: 1, of: 5 }));
}

#[tokio::test]
async fn before_the_first_shift_and_once_it_ended_there_is_no_step() {
    for s in [
        step(Status::InProgress, Stage::TestTrafficShift, 0.0).test(),
        step(Status::Successful, Stage::CleanUp, 100.0),
        step(
            Status::RollbackInProgress,
            Stage::ProductionTrafficShift,
            40.0,
        ),
    ] {
        let (_, detail) = reading(s.clone()).await;
        assert_eq!(detail.step, None, "{s:?}");
        assert!(detail.load_balancer.is_some(), "{s:?}");
    }
}

#[tokio::test]
async fn a_successful_deployment_leaves_production_on_the_new_revisions_target_group() {
    let (progress, detail) = reading(step(Status::Successful, Stage::CleanUp, 100.0)).await;
    assert_eq!(progress.status, DeploymentStatus::Successful);
    let lb = detail.load_balancer.expect("behind the ALB");
    assert_eq!(
        lb.target,
        Some(share("gatew-BlueA-6E5D4C3B2A1F", "gateway-blue:2", 100))
    );
    assert_eq!(
        lb.source,
        Some(share("gatew-BlueT-1F2A3B4C5D6E", "gateway-blue:1", 0))
    );
}

#[tokio::test]
async fn an_alb_linear_rollout_is_followed_step_by_step_to_success() {
    use Stage::*;
    let running = |stage, production| step(Status::InProgress, stage, production);
    let steps = [
        step(Status::Pending, PreScaleUp, 0.0),
        running(ScaleUp, 0.0),
        running(TestTrafficShift, 0.0).test(),
        running(PostTestTrafficShift, 0.0).test(),
        running(ProductionTrafficShift, 20.0).test(),
        running(ProductionTrafficShift, 40.0).test(),
        running(ProductionTrafficShift, 60.0).test(),
        running(ProductionTrafficShift, 80.0).test(),
        running(ProductionTrafficShift, 100.0).test(),
        running(BakeTime, 100.0).test(),
        running(CleanUp, 100.0),
        step(Status::Successful, CleanUp, 100.0),
    ];
    let (outcome, text) = follow(&steps, vec![OK]).await;
    assert_eq!(outcome, Rollouts::Completed, "{text}");
    assert!(
        text.ends_with("blue: rollout to gateway-blue:2 finished, production traffic on gateway-blue:2 (target group gatew-BlueA-6E5D4C3B2A1F)\n"),
        "{text}"
    );
    // The target groups are said once: the shares move, the groups stay.
    assert_eq!(
        text.matches("production rule 9683b2d02a6cabee").count(),
        1,
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[tokio::test]
async fn an_alarm_rolls_the_alb_deployment_back_to_the_primary_target_group() {
    let ecs = "Service deployment rolled back because the CloudWatch alarm gateway-blue-5xx is in ALARM state.";
    let steps = [
        step(Status::InProgress, Stage::ProductionTrafficShift, 20.0).test(),
        step(Status::InProgress, Stage::ProductionTrafficShift, 40.0).test(),
        step(
            Status::RollbackInProgress,
            Stage::ProductionTrafficShift,
            0.0,
        )
        .rollback(ecs),
        step(Status::RollbackSuccessful, Stage::CleanUp, 0.0).rollback(ecs),
    ];
    let alarms = vec![
        OK,
        (StateValue::Alarm, ALARM_REASON, 14.0),
        (StateValue::Alarm, ALARM_REASON, 14.0),
        (StateValue::Ok, "Threshold Crossed: recovered", 0.0),
    ];
    let (outcome, text) = follow(&steps, alarms).await;
    assert_eq!(outcome, Rollouts::Failed, "{text}");
    assert!(
        text.ends_with(&format!(
            "blue: rolled back to gateway-blue:1 (target group gatew-BlueT-1F2A3B4C5D6E): {ecs}; alarm {ALARM}: {ALARM_REASON}\n"
        )),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[tokio::test]
async fn a_service_connect_deployment_shows_no_target_groups() {
    // `rollout`'s web: its revisions have no load balancer.
    let d = step(Status::InProgress, Stage::ProductionTrafficShift, 40.0).build();
    let revisions = rollout::Revisions {
        names: [(revision(2), "gateway-blue:2".to_owned())].into(),
        load_balancers: Default::default(),
    };
    assert_eq!(
        rollout::detail_of(&d, &revisions),
        Detail {
            step: Some(StepOf { n: 2, of: 5 }),
            load_balancer: None,
        }
    );
}

/// `status` (without `--watch`): the rollout line names the step and the new revision's target
/// group, and `--json` carries them as `step` and `loadBalancer`.
#[tokio::test]
async fn status_shows_the_step_and_target_groups_of_an_alb_deployment() {
    use aws_sdk_cloudformation::types::{Output, Stack, StackStatus};

    use crate::outcome::{Found, StackReport};

    let (aws, _) = aws(
        &[step(Status::InProgress, Stage::ProductionTrafficShift, 40.0).test()],
        vec![OK],
    );
    let stack = Stack::builder()
        .stack_name("gateway")
        .stack_id("arn:aws:cloudformation:us-east-1:123456789012:stack/gateway/1")
        .stack_status(StackStatus::UpdateComplete)
        .outputs(
            Output::builder()
                .output_key("BlueVersion")
                .output_value("2")
                .build(),
        )
        .build();
    let out = Recorder::new();
    // The rendered scope has no traffic-shifting service: blue is followed because the deployed
    // template deploys it LINEAR.
    let rendered = Scope::of(
        &without_strategy()
            .target
            .resolved()
            .expect("resolved")
            .stack,
    );
    assert!(rendered.services.is_empty(), "{rendered:?}");
    let rollouts = super::status::rollouts(&aws, &out, &stack, &rendered)
        .await
        .expect("rollouts");
    let report = StackReport {
        stack_name: "gateway".into(),
        found: Some(Found {
            status: super::stack::status_of(&stack),
            reason: None,
            last_changed: None,
            outputs: super::stack::outputs(&stack),
        }),
        blue_green: None,
        rollouts,
    };
    report.show(&out);
    assert!(
        out.text().ends_with(
            "blue: version 2 is rolling out (PRODUCTION_TRAFFIC_SHIFT, 40% of production traffic so far)\n  blue gateway-blue:1 -> gateway-blue:2: PRODUCTION_TRAFFIC_SHIFT, step 2/5, production 40% on gateway-blue:2 (target group gatew-BlueA-6E5D4C3B2A1F), test traffic on gateway-blue:2\n"
        ),
        "{}",
        out.text()
    );
    let json = report.to_json().expect("json");
    let rollout = &json["rollouts"][0];
    assert_eq!(rollout["step"], serde_json::json!({"n": 2, "of": 5}));
    assert_eq!(
        rollout["loadBalancer"],
        serde_json::json!({
            "productionRule": "9683b2d02a6cabee",
            "testRule": "3c4d5e6f7a8b9c0d",
            "source": {
                "targetGroup": "gatew-BlueT-1F2A3B4C5D6E",
                "revision": "gateway-blue:1",
                "productionPercent": 60
            },
            "target": {
                "targetGroup": "gatew-BlueA-6E5D4C3B2A1F",
                "revision": "gateway-blue:2",
                "productionPercent": 40
            }
        })
    );
}

/// `status gateway --wait-until` has no `--strategy`: the services it waits for are those the
/// deployed template deploys with a traffic-shifting strategy (blue, LINEAR), not the rendered
/// stack's (none, which would end the wait with "nothing to wait for").
#[tokio::test]
async fn a_wait_follows_the_strategy_the_stack_was_deployed_with() {
    // Green, steady beside it.
    let green = mock!(Ecs::describe_services)
        .match_requests(|r| r.services() == ["green"])
        .then_output(|| {
            aws_sdk_ecs::operation::describe_services::DescribeServicesOutput::builder()
                .services(
                    aws_sdk_ecs::types::Service::builder()
                        .service_name("green")
                        .desired_count(1)
                        .running_count(1)
                        .build(),
                )
                .build()
        });
    let (aws, _) = aws_and(
        &[step(Status::InProgress, Stage::ProductionTrafficShift, 40.0).test()],
        vec![OK],
        &[&green],
    );
    let request = without_strategy().waiting(crate::request::Wait {
        until: crate::request::Until::Stage(DeploymentStage::ProductionTrafficShift),
        timeout: None,
        since: None,
    });
    let out = Recorder::new();
    let outcome = rollout::watch(&super::AwsBackend::new(aws), &request, &out)
        .await
        .expect("watch");
    assert_eq!(outcome, Rollouts::Reached, "{}", out.text());
}
