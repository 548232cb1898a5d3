//! Deployment rules cfn-lint does not check (SPEC §10): the strategy and its controller, its
//! configuration, the 33-hour and 36-hour limits, alarms and CloudWatch's limits on them,
//! lifecycle hooks and their roles, the HTTP port a traffic shift needs, and test traffic rules.

use model::{
    AlarmsSpec, AppProtocol, CanarySpec, DeploymentController, DeploymentSpec, ErrorRateAlarmSpec,
    HookTargetType, HookTimeoutAction, HookTimeoutSpec, LifecycleHookSpec, LifecycleStage,
    LinearSpec, LoadError, Percent, ServiceSpec, Stack, StackSpec, StrategyKind, TestTrafficSpec,
};

use crate::{check, check_rollout, rollout};

/// `web`, the rollout example's LINEAR service.
fn web(s: &mut StackSpec) -> &mut DeploymentSpec {
    &mut s.services[1].deployment
}

fn pct(text: &str) -> Percent {
    Percent::parse(text).expect("a percentage")
}

fn linear(step: &str, step_bake: u32) -> Option<LinearSpec> {
    Some(LinearSpec {
        step_percent: pct(step),
        step_bake_time_minutes: step_bake,
    })
}

fn canary(percent: &str, bake: u32) -> Option<CanarySpec> {
    Some(CanarySpec {
        canary_percent: pct(percent),
        canary_bake_time_minutes: bake,
    })
}

fn pause(stages: &[LifecycleStage]) -> LifecycleHookSpec {
    LifecycleHookSpec {
        target_type: HookTargetType::Pause,
        stages: stages.to_vec(),
        hook_target_arn: None,
        role_arn: None,
        create_role: false,
        timeout: Some(HookTimeoutSpec {
            minutes: 30,
            action: HookTimeoutAction::Rollback,
        }),
        local_command: None,
    }
}

const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:smoke-test";

fn lambda(stages: &[LifecycleStage]) -> LifecycleHookSpec {
    LifecycleHookSpec {
        target_type: HookTargetType::AwsLambda,
        hook_target_arn: Some(FUNCTION_ARN.into()),
        role_arn: Some("arn:aws:iam::123456789012:role/ecs-hooks".into()),
        create_role: false,
        ..pause(stages)
    }
}

const P: &str = "services[1].deployment";

fn at(field: &str) -> String {
    if field.is_empty() {
        P.to_owned()
    } else {
        format!("{P}.{field}")
    }
}

#[test]
fn traffic_shifting_strategies_need_the_ecs_controller() {
    for (controller, name) in [
        (DeploymentController::CodeDeploy, "CODE_DEPLOY"),
        (DeploymentController::External, "EXTERNAL"),
    ] {
        let message = format!("strategy LINEAR needs controller ECS, not {name}");
        check_rollout(
            |s| web(s).controller = controller,
            &[(&at("controller"), &message)],
        );
    }
    // A rolling service may use another controller.
    check_rollout(
        |s| s.services[0].deployment.controller = DeploymentController::External,
        &[],
    );
}

#[test]
fn linear_and_canary_only_with_their_strategy() {
    check_rollout(
        |s| web(s).strategy = StrategyKind::Canary,
        &[(
            &at("linear"),
            "a linear configuration needs strategy LINEAR, not CANARY",
        )],
    );
    // Both at once: the one that does not match the strategy is refused.
    check_rollout(
        |s| web(s).canary = canary("10", 2),
        &[(
            &at("canary"),
            "a canary configuration needs strategy CANARY, not LINEAR",
        )],
    );
    check_rollout(
        |s| {
            web(s).strategy = StrategyKind::BlueGreen;
            web(s).canary = canary("10", 2);
        },
        &[
            (
                &at("linear"),
                "a linear configuration needs strategy LINEAR, not BLUE_GREEN",
            ),
            (
                &at("canary"),
                "a canary configuration needs strategy CANARY, not BLUE_GREEN",
            ),
        ],
    );
    check_rollout(
        |s| {
            web(s).strategy = StrategyKind::Canary;
            web(s).linear = None;
            web(s).canary = canary("10", 2);
        },
        &[],
    );
}

#[test]
fn percentages_in_range() {
    for step in ["2.9", "0", "100.1"] {
        let message = format!("stepPercent {step} is out of range 3-100");
        check_rollout(
            |s| web(s).linear = linear(step, 1),
            &[(&at("linear.stepPercent"), &message)],
        );
    }
    for step in ["3", "33.3", "100"] {
        check_rollout(|s| web(s).linear = linear(step, 1), &[]);
    }
    for percent in ["0", "100.1"] {
        let message = format!("canaryPercent {percent} is out of range 0.1-100");
        check_rollout(
            |s| {
                web(s).strategy = StrategyKind::Canary;
                web(s).linear = None;
                web(s).canary = canary(percent, 1);
            },
            &[(&at("canary.canaryPercent"), &message)],
        );
    }
    for percent in ["0.1", "100"] {
        check_rollout(
            |s| {
                web(s).strategy = StrategyKind::Canary;
                web(s).linear = None;
                web(s).canary = canary(percent, 1);
            },
            &[],
        );
    }
}

/// A JSON `stepPercent` as text, loaded into the rollout example.
fn load_step_percent(text: &str) -> Result<Stack, LoadError> {
    let json = serde_json::to_string(&rollout()).unwrap();
    let json = json.replace(r#""stepPercent":20"#, &format!(r#""stepPercent":{text}"#));
    assert!(json.contains(text), "the example has stepPercent 20");
    Stack::from_json(&json)
}

#[test]
fn json_percentages_stay_on_the_tenth_grid() {
    let stack = load_step_percent("33.3").expect("33.3 is on the grid");
    let step = stack.service("web").unwrap().deployment.linear.as_ref();
    assert_eq!(step.unwrap().step_percent, Percent::from_tenths(333));
    assert_eq!(
        load_step_percent("3.33e1").unwrap().spec(),
        stack.spec(),
        "an exponent is the same number"
    );
    for off_grid in ["33.33", "20.05"] {
        let Err(LoadError::Json(e)) = load_step_percent(off_grid) else {
            panic!("{off_grid} loaded");
        };
        let message = format!("{off_grid} is not a percentage on the 0.1 grid (e.g. 20 or 33.3)");
        assert!(e.to_string().contains(&message), "{e}");
    }
    assert!(matches!(load_step_percent("-5"), Err(LoadError::Json(_))));
}

#[test]
fn bake_and_timeout_minutes_in_range() {
    check_rollout(
        |s| web(s).bake_time_minutes = Some(1441),
        &[(
            &at("bakeTimeMinutes"),
            "bakeTimeMinutes 1441 is out of range 0-1440",
        )],
    );
    check_rollout(
        |s| web(s).linear = linear("20", 1441),
        &[(
            &at("linear.stepBakeTimeMinutes"),
            "stepBakeTimeMinutes 1441 is out of range 0-1440",
        )],
    );
    check_rollout(
        |s| {
            web(s).strategy = StrategyKind::Canary;
            web(s).linear = None;
            web(s).canary = canary("5", 1441);
        },
        &[(
            &at("canary.canaryBakeTimeMinutes"),
            "canaryBakeTimeMinutes 1441 is out of range 0-1440",
        )],
    );
    for minutes in [0, 20161] {
        let message = format!("timeout {minutes} is out of range 1-20160");
        check_rollout(
            |s| {
                let mut hook = pause(&[LifecycleStage::PostScaleUp]);
                hook.timeout.as_mut().unwrap().minutes = minutes;
                web(s).lifecycle_hooks = vec![hook];
            },
            &[(&at("lifecycleHooks[0].timeout.minutes"), &message)],
        );
    }
    check_rollout(|s| web(s).bake_time_minutes = Some(1440), &[]);
}

#[test]
fn strategy_duration_within_33_hours() {
    // 3%: floor(100/3) = 33 step bakes of 60 minutes, then the final bake.
    check_rollout(
        |s| {
            web(s).linear = linear("3", 60);
            web(s).bake_time_minutes = Some(0);
        },
        &[],
    );
    check_rollout(
        |s| web(s).linear = linear("3", 60),
        &[(
            P,
            "the strategy takes 1982 minutes (bake 2 + 33 steps x 60), over CloudFormation's 33-hour limit of 1980: shorten the bakes or take larger steps",
        )],
    );
    // 10% divides 100: 9 step bakes, not 10.
    check_rollout(
        |s| {
            web(s).linear = linear("10", 200);
            web(s).bake_time_minutes = Some(180);
        },
        &[],
    );
    check_rollout(
        |s| {
            web(s).linear = linear("10", 200);
            web(s).bake_time_minutes = Some(181);
        },
        &[(
            P,
            "the strategy takes 1981 minutes (bake 181 + 9 steps x 200), over CloudFormation's 33-hour limit of 1980: shorten the bakes or take larger steps",
        )],
    );
    // Left out, LINEAR takes ECS's 10% / 6 minutes and the 15-minute bake: well within.
    check_rollout(
        |s| {
            web(s).linear = None;
            web(s).bake_time_minutes = None;
        },
        &[],
    );
    let canary_for = |bake: u32| {
        move |s: &mut StackSpec| {
            web(s).strategy = StrategyKind::Canary;
            web(s).linear = None;
            web(s).canary = canary("10", bake);
            web(s).bake_time_minutes = Some(1440);
        }
    };
    check_rollout(canary_for(540), &[]);
    check_rollout(
        canary_for(541),
        &[(
            P,
            "the strategy takes 1981 minutes (bake 1440 + canary bake 541), over CloudFormation's 33-hour limit of 1980: shorten the bakes or take larger steps",
        )],
    );
}

#[test]
fn an_out_of_range_value_is_not_also_reported_as_too_long() {
    check_rollout(
        |s| {
            web(s).linear = linear("3", 1441);
            web(s).bake_time_minutes = Some(1441);
        },
        &[
            (
                &at("bakeTimeMinutes"),
                "bakeTimeMinutes 1441 is out of range 0-1440",
            ),
            (
                &at("linear.stepBakeTimeMinutes"),
                "stepBakeTimeMinutes 1441 is out of range 0-1440",
            ),
        ],
    );
}

#[test]
fn hook_stages() {
    use LifecycleStage::*;
    check_rollout(
        |s| {
            web(s).lifecycle_hooks = vec![
                pause(&[PostTestTrafficShift, PreProductionTrafficShift]),
                lambda(&[TestTrafficShift, ProductionTrafficShift]),
            ];
        },
        &[],
    );
    check_rollout(
        |s| web(s).lifecycle_hooks = vec![pause(&[])],
        &[(
            &at("lifecycleHooks[0].stages"),
            "a hook needs at least one stage",
        )],
    );
    check_rollout(
        |s| web(s).lifecycle_hooks = vec![lambda(&[PreScaleUp, PostScaleUp, PreScaleUp])],
        &[(
            &at("lifecycleHooks[0].stages[2]"),
            "duplicate stage PRE_SCALE_UP",
        )],
    );
    check_rollout(
        |s| web(s).lifecycle_hooks = vec![pause(&[TestTrafficShift, ProductionTrafficShift])],
        &[
            (
                &at("lifecycleHooks[0].stages[0]"),
                "a PAUSE hook cannot run at TEST_TRAFFIC_SHIFT: pause at POST_TEST_TRAFFIC_SHIFT",
            ),
            (
                &at("lifecycleHooks[0].stages[1]"),
                "a PAUSE hook cannot run at PRODUCTION_TRAFFIC_SHIFT: pause at PRE_PRODUCTION_TRAFFIC_SHIFT or POST_PRODUCTION_TRAFFIC_SHIFT",
            ),
        ],
    );
}

#[test]
fn hook_targets() {
    let stage = [LifecycleStage::PostScaleUp];
    check_rollout(
        |s| {
            let mut hook = lambda(&stage);
            hook.hook_target_arn = None;
            web(s).lifecycle_hooks = vec![hook];
        },
        &[(
            &at("lifecycleHooks[0].hookTargetArn"),
            "an AWS_LAMBDA hook needs hookTargetArn, the function's ARN",
        )],
    );
    for arn in [
        "arn:aws:lambda:eu-west-1:123456789012:layer:x",
        "arn:aws:sqs:eu-west-1:123456789012:function:x",
        "arn:aws:lambda:eu-west-1:1234:function:x",
        "smoke-test",
    ] {
        let message = format!(
            "`{arn}` is not a Lambda function ARN: expected arn:aws:lambda:<region>:<account>:function:<name>"
        );
        check_rollout(
            |s| {
                let mut hook = lambda(&stage);
                hook.hook_target_arn = Some(arn.into());
                web(s).lifecycle_hooks = vec![hook];
            },
            &[(&at("lifecycleHooks[0].hookTargetArn"), &message)],
        );
    }
    for arn in [
        "arn:aws-cn:lambda:cn-north-1:123456789012:function:x",
        "arn:aws:lambda:eu-west-1:123456789012:function:x:live",
        "arn:aws:lambda:eu-west-1:123456789012:function:x:$LATEST",
    ] {
        check_rollout(
            |s| {
                let mut hook = lambda(&stage);
                hook.hook_target_arn = Some(arn.into());
                web(s).lifecycle_hooks = vec![hook];
            },
            &[],
        );
    }
    check_rollout(
        |s| {
            let mut hook = lambda(&stage);
            hook.role_arn = Some("arn:aws:iam::123456789012:user/me".into());
            web(s).lifecycle_hooks = vec![hook];
        },
        &[(
            &at("lifecycleHooks[0].roleArn"),
            "`arn:aws:iam::123456789012:user/me` is not an IAM role ARN: expected arn:aws:iam::<account>:role/<name>",
        )],
    );
    check_rollout(
        |s| {
            let mut hook = pause(&stage);
            hook.hook_target_arn = Some(FUNCTION_ARN.into());
            hook.local_command = Some(vec!["true".into()]);
            web(s).lifecycle_hooks = vec![hook];
        },
        &[
            (
                &at("lifecycleHooks[0].hookTargetArn"),
                "a PAUSE hook has no target: remove hookTargetArn",
            ),
            (
                &at("lifecycleHooks[0].localCommand"),
                "a PAUSE hook waits for `continue` and runs nothing: remove localCommand",
            ),
        ],
    );
}

#[test]
fn hook_local_commands() {
    for command in [vec![], vec![String::new(), "x".into()]] {
        check_rollout(
            |s| {
                let mut hook = lambda(&[LifecycleStage::PostScaleUp]);
                hook.local_command = Some(command);
                web(s).lifecycle_hooks = vec![hook];
            },
            &[(
                &at("lifecycleHooks[0].localCommand"),
                "localCommand needs a program to run: [program, args...]",
            )],
        );
    }
    check_rollout(
        |s| {
            let mut hook = lambda(&[LifecycleStage::PostScaleUp]);
            hook.local_command = Some(vec!["sh".into(), "-c".into(), "exit 0".into()]);
            web(s).lifecycle_hooks = vec![hook];
        },
        &[],
    );
}

#[test]
fn hooks_only_with_a_traffic_shifting_strategy() {
    check_rollout(
        |s| s.services[0].deployment.lifecycle_hooks = vec![pause(&[LifecycleStage::PostScaleUp])],
        &[(
            "services[0].deployment.lifecycleHooks",
            "lifecycle hooks need a BLUE_GREEN, LINEAR or CANARY strategy, not ROLLING",
        )],
    );
}

#[test]
fn traffic_shifting_needs_service_connect() {
    check_rollout(
        |s| s.services[1].service_connect = None,
        &[
            (
                &at("strategy"),
                "strategy LINEAR shifts traffic through Service Connect or the ALB gateway: give the service serviceConnect, or forward an albGateway rule to it",
            ),
            (
                &at("alarms.errorRate"),
                "the errorRate alarm reads the service's Service Connect metrics, or its ALB target groups when it shifts traffic at the ALB gateway: give the service serviceConnect, or list existing alarms in names",
            ),
        ],
    );
    // The bluegreen example's colours run App Mesh sidecars.
    check(
        |s| s.services[0].deployment.strategy = StrategyKind::BlueGreen,
        &[(
            "services[0].deployment.strategy",
            "strategy BLUE_GREEN shifts traffic through Service Connect or the ALB gateway, not an App Mesh sidecar: move the service to serviceConnect",
        )],
    );
}

/// Issue 21: the ALB gateway shifts a service it forwards to (`validate/alb.rs` holds its rules).
#[test]
fn traffic_shifting_behind_the_alb_is_accepted() {
    for strategy in [
        StrategyKind::BlueGreen,
        StrategyKind::Linear,
        StrategyKind::Canary,
    ] {
        check_rollout(|s| s.services[0].deployment.strategy = strategy, &[]);
    }
}

fn alarms(s: &mut StackSpec) -> &mut AlarmsSpec {
    web(s).alarms.as_mut().expect("web has alarms")
}

fn error_rate(s: &mut StackSpec) -> &mut ErrorRateAlarmSpec {
    alarms(s)
        .error_rate
        .as_mut()
        .expect("web has an error-rate alarm")
}

#[test]
fn alarm_names() {
    check_rollout(
        |s| alarms(s).names = vec!["web-latency".into(), "a".repeat(255)],
        &[],
    );
    let long = "a".repeat(256);
    let message = format!(
        "`{}…` is not a valid alarm name: use 1-255 characters, no control characters",
        "a".repeat(80)
    );
    check_rollout(
        |s| alarms(s).names = vec![String::new(), long.clone(), "x\ny".into()],
        &[
            (
                &at("alarms.names[0]"),
                "`` is not a valid alarm name: use 1-255 characters, no control characters",
            ),
            (&at("alarms.names[1]"), &message),
            (
                &at("alarms.names[2]"),
                "`x\\ny` is not a valid alarm name: use 1-255 characters, no control characters",
            ),
        ],
    );
    check_rollout(
        |s| alarms(s).names = vec!["x".into(), "y".into(), "x".into()],
        &[(&at("alarms.names[2]"), "duplicate alarm name `x`")],
    );
    check_rollout(
        |s| alarms(s).error_rate = None,
        &[(
            &at("alarms"),
            "alarms need names or an errorRate alarm: add one or remove alarms",
        )],
    );
}

#[test]
fn error_rate_alarm_settings() {
    check_rollout(
        |s| {
            let e = error_rate(s);
            e.threshold_percent = Percent::from_tenths(0);
            e.period_seconds = 45;
            e.evaluation_periods = 2;
            e.datapoints_to_alarm = Some(3);
        },
        &[
            (
                &at("alarms.errorRate.thresholdPercent"),
                "thresholdPercent 0 is out of range 0.1-100",
            ),
            (
                &at("alarms.errorRate.periodSeconds"),
                "period 45 s is not one CloudWatch accepts: use a multiple of 60 up to 86400",
            ),
            (
                &at("alarms.errorRate.datapointsToAlarm"),
                "datapointsToAlarm 3 is out of range 1-2",
            ),
        ],
    );
    check_rollout(
        |s| error_rate(s).evaluation_periods = 0,
        &[(
            &at("alarms.errorRate.evaluationPeriods"),
            "evaluationPeriods must be at least 1",
        )],
    );
    for period in [60, 120, 86_400] {
        check_rollout(|s| error_rate(s).period_seconds = period, &[]);
    }
    // PutMetricAlarm takes 10, 20 and 30 s, but only high-resolution metrics fill them.
    for period in [10, 20, 30] {
        let message = format!(
            "a period of {period} s is for high-resolution metrics: the Service Connect metrics the alarm reads come once a minute, so CloudWatch would find no data in most periods (use a multiple of 60 up to 86400)"
        );
        check_rollout(
            |s| error_rate(s).period_seconds = period,
            &[(&at("alarms.errorRate.periodSeconds"), &message)],
        );
    }
    for period in [0, 45, 90, 86_460] {
        let message = format!(
            "period {period} s is not one CloudWatch accepts: use a multiple of 60 up to 86400"
        );
        check_rollout(
            |s| error_rate(s).period_seconds = period,
            &[(&at("alarms.errorRate.periodSeconds"), &message)],
        );
    }
}

fn test_traffic(s: &mut StackSpec) -> &mut TestTrafficSpec {
    let sc = s.services[1].service_connect.as_mut().unwrap();
    sc.test_traffic
        .as_mut()
        .expect("web has a test traffic rule")
}

#[test]
fn test_traffic_header_and_value() {
    const T: &str = "services[1].serviceConnect.testTraffic";
    let header_rule =
        "is not a valid header name: use 1-64 lowercase letters, digits and !#$%&'*+-.^_`|~";
    let long = "h".repeat(65);
    for header in ["X-Test", "", "x test", "x:y", long.as_str()] {
        let message = format!("`{header}` {header_rule}");
        check_rollout(
            |s| test_traffic(s).header = header.into(),
            &[(&format!("{T}.header"), &message)],
        );
    }
    check_rollout(|s| test_traffic(s).header = "x-canary_1.~".into(), &[]);
    let value_rule = "is not a valid header value: use 1-128 printable ASCII characters";
    for (value, shown) in [
        ("", "``".to_owned()),
        ("a\u{7}", "`a\\u{7}`".to_owned()),
        ("é", "`é`".to_owned()),
        (&"v".repeat(129), format!("`{}…`", "v".repeat(80))),
    ] {
        let message = format!("{shown} {value_rule}");
        check_rollout(
            |s| test_traffic(s).value = value.into(),
            &[(&format!("{T}.value"), &message)],
        );
    }
    check_rollout(|s| test_traffic(s).value = "v 1 ~".repeat(25), &[]);
}

#[test]
fn lambda_hooks_name_their_role() {
    let stage = [LifecycleStage::PostScaleUp];
    check_rollout(
        |s| {
            let mut hook = lambda(&stage);
            hook.role_arn = None;
            web(s).lifecycle_hooks = vec![hook];
        },
        &[(
            &at("lifecycleHooks[0].roleArn"),
            "an AWS_LAMBDA hook needs the role ECS assumes to invoke the function: give an existing role's ARN in roleArn, or set createRole: true",
        )],
    );
    check_rollout(
        |s| {
            let mut hook = lambda(&stage);
            hook.role_arn = None;
            hook.create_role = true;
            web(s).lifecycle_hooks = vec![hook];
        },
        &[],
    );
    check_rollout(
        |s| {
            let mut hook = lambda(&stage);
            hook.create_role = true;
            web(s).lifecycle_hooks = vec![hook];
        },
        &[(
            &at("lifecycleHooks[0].createRole"),
            "roleArn and createRole both give the hook's role: remove one",
        )],
    );
}

#[test]
fn pause_hooks_take_no_role() {
    let stage = [LifecycleStage::PostScaleUp];
    let role = "a PAUSE hook invokes nothing and needs no role: remove roleArn";
    let create = "a PAUSE hook invokes nothing and needs no role: remove createRole";
    check_rollout(
        |s| {
            let mut hook = pause(&stage);
            hook.role_arn = Some("arn:aws:iam::123456789012:role/ecs-hooks".into());
            web(s).lifecycle_hooks = vec![hook];
        },
        &[(&at("lifecycleHooks[0].roleArn"), role)],
    );
    check_rollout(
        |s| {
            let mut hook = pause(&stage);
            hook.create_role = true;
            web(s).lifecycle_hooks = vec![hook];
        },
        &[(&at("lifecycleHooks[0].createRole"), create)],
    );
    check_rollout(
        |s| {
            let mut hook = pause(&stage);
            hook.role_arn = Some("not an arn".into());
            hook.create_role = true;
            web(s).lifecycle_hooks = vec![hook];
        },
        &[
            (&at("lifecycleHooks[0].roleArn"), role),
            (&at("lifecycleHooks[0].createRole"), create),
        ],
    );
}

/// A hook at `stages` waiting up to `minutes` (ECS's default 1440 when `None`).
fn waiting(hook: LifecycleHookSpec, minutes: Option<u32>) -> LifecycleHookSpec {
    LifecycleHookSpec {
        timeout: minutes.map(|minutes| HookTimeoutSpec {
            minutes,
            action: HookTimeoutAction::Continue,
        }),
        ..hook
    }
}

fn over_36_hours(detail: &str) -> String {
    format!(
        "the deployment can take {detail}, over CloudFormation's 36-hour operation limit of 2160: set lifecycleHooks[k].timeout.minutes, use fewer hook stages, or shorten the bakes"
    )
}

#[test]
fn hook_timeouts_count_towards_36_hours() {
    use LifecycleStage::*;
    // The rollout example's web: LINEAR 20% (5 steps, 4 step bakes of 1 minute) and a 2-minute
    // bake: 6 minutes of bakes.
    check_rollout(
        |s| web(s).lifecycle_hooks = vec![waiting(pause(&[PostScaleUp]), Some(2154))],
        &[],
    );
    check_rollout(
        |s| web(s).lifecycle_hooks = vec![waiting(pause(&[PostScaleUp]), Some(2155))],
        &[(
            &at("lifecycleHooks"),
            &over_36_hours("2161 minutes (bakes 6 + lifecycleHooks[0] 1 run x 2155)"),
        )],
    );
    // One hook with ECS's default timeout fits; a second one does not.
    check_rollout(
        |s| web(s).lifecycle_hooks = vec![waiting(lambda(&[PostScaleUp]), None)],
        &[],
    );
    check_rollout(
        |s| {
            web(s).lifecycle_hooks = vec![
                waiting(pause(&[PostScaleUp]), Some(30)),
                waiting(lambda(&[PostScaleUp, PostTestTrafficShift]), None),
            ]
        },
        &[(
            &at("lifecycleHooks"),
            &over_36_hours(
                "2916 minutes (bakes 6 + lifecycleHooks[0] 1 run x 30 + lifecycleHooks[1] 2 runs x 1440 (default timeout))",
            ),
        )],
    );
    // The production shift stages run at each of the 5 steps: 10 runs of 216 minutes.
    check_rollout(
        |s| {
            web(s).lifecycle_hooks = vec![waiting(
                lambda(&[PreProductionTrafficShift, ProductionTrafficShift]),
                Some(215),
            )]
        },
        &[],
    );
    check_rollout(
        |s| {
            web(s).lifecycle_hooks = vec![waiting(
                lambda(&[PreProductionTrafficShift, ProductionTrafficShift]),
                Some(216),
            )]
        },
        &[(
            &at("lifecycleHooks"),
            &over_36_hours("2166 minutes (bakes 6 + lifecycleHooks[0] 10 runs x 216)"),
        )],
    );
    // BLUE_GREEN shifts once: its production stages run once.
    check_rollout(
        |s| {
            web(s).strategy = StrategyKind::BlueGreen;
            web(s).linear = None;
            web(s).lifecycle_hooks = vec![waiting(lambda(&[ProductionTrafficShift]), Some(2159))];
        },
        &[(
            &at("lifecycleHooks"),
            &over_36_hours("2161 minutes (bakes 2 + lifecycleHooks[0] 1 run x 2159)"),
        )],
    );
}

#[test]
fn bakes_over_33_hours_are_not_also_reported_with_the_hooks() {
    check_rollout(
        |s| {
            web(s).linear = linear("3", 60);
            web(s).lifecycle_hooks = vec![waiting(pause(&[LifecycleStage::PostScaleUp]), None)];
        },
        &[(
            P,
            "the strategy takes 1982 minutes (bake 2 + 33 steps x 60), over CloudFormation's 33-hour limit of 1980: shorten the bakes or take larger steps",
        )],
    );
}

#[test]
fn traffic_shifting_needs_an_http_port() {
    check_rollout(
        |s| s.services[1].port.app_protocol = None,
        &[(
            "services[1].port.appProtocol",
            "strategy LINEAR shifts a share of requests, but without an appProtocol Service Connect balances connections, not requests, so step percentages and test traffic headers would not hold: set appProtocol to http, http2 or grpc, or deploy ROLLING",
        )],
    );
    for protocol in [AppProtocol::Http2, AppProtocol::Grpc] {
        check_rollout(|s| s.services[1].port.app_protocol = Some(protocol), &[]);
    }
    // A rolling service may serve plain TCP, as long as no alarm reads its HTTP answers.
    check_rollout(|s| s.services[0].port.app_protocol = None, &[]);
    check_rollout(
        |s| {
            s.services[1].port.app_protocol = None;
            *web(s) = model::examples::rollout_deployment(StrategyKind::Rolling);
        },
        &[(
            &at("alarms.errorRate"),
            "the errorRate alarm reads HTTP response counts, which Service Connect publishes only for a port with an appProtocol: set port.appProtocol to http, http2 or grpc, or list existing alarms in names",
        )],
    );
}

#[test]
fn a_port_without_app_protocol_loads_from_json() {
    let json = serde_json::to_string(&rollout()).unwrap();
    let without = json.replacen(r#","appProtocol":"http""#, "", 2);
    assert_eq!(without.matches("appProtocol").count(), 0, "{without}");
    let Err(LoadError::Invalid(e)) = Stack::from_json(&without) else {
        panic!("a LINEAR service on a TCP port loaded");
    };
    let paths: Vec<&str> = e.0.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["services[1].port.appProtocol"]);
}

/// A service of the rollout example's cluster that calls `web`.
fn caller(name: &str) -> ServiceSpec {
    ServiceSpec {
        backends: vec!["web".into()],
        ..crate::plain_service(name)
    }
}

#[test]
fn error_rate_alarm_reads_at_most_10_metrics() {
    check_rollout(|s| s.services.push(caller("audit")), &[]);
    check_rollout(
        |s| {
            s.services.push(caller("audit"));
            s.services.push(caller("billing"));
        },
        &[(
            &at("alarms.errorRate"),
            "the errorRate alarm of `web` would read 12 metrics (4 response counts for each of its 3 callers `front`, `audit`, `billing`), over CloudWatch's limit of 10 per metric math alarm: let at most 2 services call it, or list an existing alarm in names instead",
        )],
    );
    // Existing alarms by name are not the stack's to count.
    check_rollout(
        |s| {
            s.services.push(caller("audit"));
            s.services.push(caller("billing"));
            alarms(s).error_rate = None;
            alarms(s).names = vec!["web-5xx".into()];
        },
        &[],
    );
}

#[test]
fn error_rate_metrics_list_the_callers_in_stack_order() {
    let mut spec = rollout();
    spec.services.insert(0, caller("audit"));
    let stack = Stack::new(spec).expect("two callers fit");
    let web = stack.service("web").unwrap();
    let metrics = stack.error_rate_metrics(web).unwrap();
    assert_eq!(metrics.callers, ["audit", "front"]);
    assert_eq!(
        (metrics.cluster, metrics.discovery_name),
        ("rollout", "web")
    );
    assert_eq!((metrics.dimension_sets(), metrics.metric_count()), (2, 8));
    // Nothing calls front: its four metrics on TargetDiscoveryName alone.
    let front = stack
        .error_rate_metrics(stack.service("front").unwrap())
        .unwrap();
    assert!(front.callers.is_empty());
    assert_eq!((front.dimension_sets(), front.metric_count()), (1, 4));
    assert_eq!(
        stack.error_rate_metrics(stack.service("audit").unwrap()),
        None
    );
}

#[test]
fn alarm_evaluation_range_within_cloudwatchs_limit() {
    let set = |period: u32, periods: u32| {
        move |s: &mut StackSpec| {
            let e = error_rate(s);
            e.period_seconds = period;
            e.evaluation_periods = periods;
        }
    };
    for (period, periods) in [(60, 1440), (120, 720), (3600, 168), (86_400, 7)] {
        check_rollout(set(period, periods), &[]);
    }
    for (period, periods, range) in [(60, 1441, 86_460), (120, 721, 86_520), (1800, 49, 88_200)] {
        let message = format!(
            "{periods} periods of {period} s evaluate {range} s, over CloudWatch's limit of 86400 s (one day, for periods under an hour): use fewer evaluation periods"
        );
        check_rollout(
            set(period, periods),
            &[(&at("alarms.errorRate.evaluationPeriods"), &message)],
        );
    }
    check_rollout(
        set(3600, 169),
        &[(
            &at("alarms.errorRate.evaluationPeriods"),
            "169 periods of 3600 s evaluate 608400 s, over CloudWatch's limit of 604800 s (7 days): use fewer evaluation periods",
        )],
    );
    // A period CloudWatch refuses is reported once, at the period.
    check_rollout(
        set(45, 100_000),
        &[(
            &at("alarms.errorRate.periodSeconds"),
            "period 45 s is not one CloudWatch accepts: use a multiple of 60 up to 86400",
        )],
    );
}
