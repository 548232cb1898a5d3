//! The typed view of a service's deployment: ECS's defaults, the traffic schedule and its length.

use model::examples::{self, RolloutInputs};
use model::{
    DEFAULT_TEST_TRAFFIC_HEADER, Deployment, DeploymentSpec, Hook, HookRole, HookTarget,
    HookTargetType, HookTimeoutAction, HookTimeoutSpec, HookWait, LifecycleHookSpec,
    LifecycleStage, Percent, Stack, Strategy, StrategyKind, TestTrafficRule, TestTrafficSpec,
};

use crate::rollout;

fn pct(text: &str) -> Percent {
    Percent::parse(text).expect("a percentage")
}

/// `strategy`'s production traffic steps as `(percent, bake minutes)` text pairs.
fn steps(strategy: Strategy) -> Vec<(String, u32)> {
    strategy
        .traffic_steps()
        .iter()
        .map(|s| (s.percent.to_string(), s.bake_minutes))
        .collect()
}

#[track_caller]
fn check_steps(strategy: Strategy, expected: &[(&str, u32)]) {
    let expected: Vec<(String, u32)> = expected
        .iter()
        .map(|(p, m)| ((*p).to_owned(), *m))
        .collect();
    assert_eq!(steps(strategy), expected);
}

fn linear(step: &str, step_bake_minutes: u32) -> Strategy {
    Strategy::Linear {
        step: pct(step),
        step_bake_minutes,
    }
}

fn canary(percent: &str, bake_minutes: u32) -> Strategy {
    Strategy::Canary {
        percent: pct(percent),
        bake_minutes,
    }
}

#[test]
fn linear_steps_bake_after_each_shift_but_the_last() {
    check_steps(
        linear("20", 1),
        &[("20", 1), ("40", 1), ("60", 1), ("80", 1), ("100", 0)],
    );
    check_steps(
        linear("33.3", 5),
        &[("33.3", 5), ("66.6", 5), ("99.9", 5), ("100", 0)],
    );
    check_steps(linear("50", 3), &[("50", 3), ("100", 0)]);
    check_steps(linear("100", 3), &[("100", 0)]);
}

#[test]
fn canary_blue_green_and_rolling_steps() {
    check_steps(canary("10", 2), &[("10", 2), ("100", 0)]);
    check_steps(canary("0.1", 7), &[("0.1", 7), ("100", 0)]);
    check_steps(canary("100", 7), &[("100", 7)]);
    check_steps(Strategy::BlueGreen, &[("100", 0)]);
    check_steps(Strategy::Rolling, &[]);
}

/// SPEC §10, written out independently of the schedule: `BakeTime + StepBakeTime x steps`,
/// steps = `100/StepPercent - 1` when 100 divides evenly, else `floor(100/StepPercent)`.
fn spec_linear_minutes(step_tenths: u32, step_bake: u32, bake: u32) -> u32 {
    let steps = if 1000 % step_tenths == 0 {
        1000 / step_tenths - 1
    } else {
        1000 / step_tenths
    };
    bake + step_bake * steps
}

fn with_strategy(strategy: StrategyKind, edit: impl FnOnce(&mut DeploymentSpec)) -> Deployment {
    let mut spec = DeploymentSpec {
        strategy,
        ..DeploymentSpec::default()
    };
    edit(&mut spec);
    Deployment::new(&spec, None)
}

#[test]
fn total_minutes_follow_the_33_hour_formula() {
    for step_tenths in 30..=1000 {
        let d = with_strategy(StrategyKind::Linear, |d| {
            d.bake_time_minutes = Some(7);
            d.linear = Some(model::LinearSpec {
                step_percent: Percent::from_tenths(step_tenths),
                step_bake_time_minutes: 11,
            });
        });
        assert_eq!(
            d.total_minutes(),
            spec_linear_minutes(step_tenths, 11, 7),
            "step {}",
            Percent::from_tenths(step_tenths)
        );
    }
    // The SPEC's own example: 11% makes 9 steps, not 9.1.
    assert_eq!(spec_linear_minutes(110, 1, 0), 9);
    let d = with_strategy(StrategyKind::Canary, |d| {
        d.bake_time_minutes = Some(30);
        d.canary = Some(model::CanarySpec {
            canary_percent: pct("2.5"),
            canary_bake_time_minutes: 45,
        });
    });
    assert_eq!(d.total_minutes(), 75);
    assert_eq!(
        with_strategy(StrategyKind::BlueGreen, |_| {}).total_minutes(),
        15
    );
    assert_eq!(
        with_strategy(StrategyKind::Rolling, |_| {}).total_minutes(),
        0
    );
}

#[test]
fn ecs_defaults_fill_what_the_spec_leaves_out() {
    let d = with_strategy(StrategyKind::Linear, |_| {});
    assert_eq!(d.strategy, linear("10", 6));
    assert_eq!(d.bake_minutes, Some(15));
    // 10% steps: nine 6-minute step bakes, then the 15-minute final bake.
    assert_eq!(d.total_minutes(), 9 * 6 + 15);
    let d = with_strategy(StrategyKind::Canary, |_| {});
    assert_eq!((d.strategy, d.bake_minutes), (canary("5", 10), Some(15)));
    let d = with_strategy(StrategyKind::BlueGreen, |d| d.bake_time_minutes = Some(0));
    assert_eq!((d.strategy, d.bake_minutes), (Strategy::BlueGreen, Some(0)));
    let d = with_strategy(StrategyKind::Rolling, |_| {});
    assert_eq!((d.strategy, d.bake_minutes), (Strategy::Rolling, None));
    let d = with_strategy(StrategyKind::Rolling, |d| d.bake_time_minutes = Some(3));
    assert_eq!(d.bake_minutes, Some(3));
    for kind in [
        StrategyKind::Rolling,
        StrategyKind::BlueGreen,
        StrategyKind::Linear,
        StrategyKind::Canary,
    ] {
        assert_eq!(with_strategy(kind, |_| {}).strategy.kind(), kind);
    }
}

#[test]
fn stack_gives_each_service_its_deployment() {
    let stack = Stack::new(rollout()).expect("valid");
    let web = stack.deployment(stack.service("web").unwrap());
    assert_eq!(web.strategy, linear("20", 1));
    assert_eq!(web.bake_minutes, Some(2));
    assert_eq!(web.total_minutes(), 4 + 2);
    assert_eq!(
        web.test_traffic,
        Some(TestTrafficRule {
            header: DEFAULT_TEST_TRAFFIC_HEADER.into(),
            value: Some("true".into()),
        })
    );
    assert!(web.alarms.as_ref().is_some_and(|a| a.rollback));
    assert!(web.hooks.is_empty());

    let front = stack.deployment(stack.service("front").unwrap());
    assert_eq!(
        (front.strategy, front.bake_minutes),
        (Strategy::Rolling, None)
    );
    assert_eq!(front.test_traffic, Some(TestTrafficRule::of(None)));

    let inputs = RolloutInputs {
        version: 2,
        strategy: StrategyKind::Canary,
    };
    let stack = Stack::new(examples::rollout("rollout", &inputs)).expect("valid");
    let web = stack.deployment(stack.service("web").unwrap());
    assert_eq!(web.strategy, canary("10", 2));
    assert_eq!(steps(web.strategy), [("10".into(), 2), ("100".into(), 0)]);
}

#[test]
fn test_traffic_rules_match_headers() {
    let rule = TestTrafficRule::of(Some(&TestTrafficSpec {
        header: "x-canary".into(),
        value: "yes".into(),
    }));
    assert!(rule.matches([("accept", "*/*"), ("X-Canary", "yes")]));
    assert!(!rule.matches([("x-canary", "no")]));
    assert!(!rule.matches([("x-other", "yes")]));
    let default = TestTrafficRule::of(None);
    assert_eq!(default.header, DEFAULT_TEST_TRAFFIC_HEADER);
    assert!(default.matches([(DEFAULT_TEST_TRAFFIC_HEADER, "anything")]));
    assert!(!default.matches([]));
}

#[test]
fn hooks_are_typed_by_target() {
    let lambda = LifecycleHookSpec {
        target_type: HookTargetType::AwsLambda,
        stages: vec![LifecycleStage::PostTestTrafficShift],
        hook_target_arn: Some("arn:aws:lambda:eu-west-1:123456789012:function:check".into()),
        role_arn: Some("arn:aws:iam::123456789012:role/hooks".into()),
        create_role: false,
        timeout: Some(HookTimeoutSpec {
            minutes: 5,
            action: HookTimeoutAction::Rollback,
        }),
        local_command: Some(vec!["true".into()]),
    };
    let hook = Hook::of(&lambda);
    assert_eq!(
        hook.target,
        HookTarget::Lambda {
            function_arn: "arn:aws:lambda:eu-west-1:123456789012:function:check".into(),
            role: HookRole::Arn("arn:aws:iam::123456789012:role/hooks".into()),
        }
    );
    assert_eq!(hook.stages, [LifecycleStage::PostTestTrafficShift]);
    assert_eq!(hook.local_command, Some(vec!["true".to_owned()]));
    let pause = LifecycleHookSpec {
        target_type: HookTargetType::Pause,
        hook_target_arn: None,
        role_arn: None,
        create_role: false,
        ..lambda
    };
    assert_eq!(Hook::of(&pause).target, HookTarget::Pause);
}

/// ECS's default when a hook sets no timeout: 1,440 minutes, then ROLLBACK; messages name a
/// Lambda hook by its function, without a version or alias.
#[test]
fn a_hook_without_a_timeout_gets_ecs_default_and_a_name() {
    let lambda = |arn: &str, timeout: Option<HookTimeoutSpec>| {
        Hook::of(&LifecycleHookSpec {
            target_type: HookTargetType::AwsLambda,
            stages: vec![LifecycleStage::PostScaleUp],
            hook_target_arn: Some(arn.into()),
            role_arn: Some("arn:aws:iam::123456789012:role/hooks".into()),
            create_role: false,
            timeout,
            local_command: None,
        })
    };
    let arn = "arn:aws:lambda:eu-west-1:123456789012:function:check";
    assert_eq!(
        lambda(arn, None).effective_timeout(),
        HookTimeoutSpec {
            minutes: 1440,
            action: HookTimeoutAction::Rollback,
        }
    );
    let own = HookTimeoutSpec {
        minutes: 5,
        action: HookTimeoutAction::Continue,
    };
    assert_eq!(lambda(arn, Some(own.clone())).effective_timeout(), own);
    assert_eq!(lambda(arn, None).name(), "check");
    assert_eq!(lambda(&format!("{arn}:live"), None).name(), "check");
    let timed_out = model::HookTimedOut {
        hook: "check".into(),
        stage: LifecycleStage::PostScaleUp,
        minutes: 1440,
        action: HookTimeoutAction::Continue,
    };
    assert_eq!(
        timed_out.to_string(),
        "hook check timed out after 1440 min, action CONTINUE"
    );
}

#[test]
fn worst_case_adds_every_hook_run_at_its_timeout() {
    use LifecycleStage::*;
    let hook = |stages: &[LifecycleStage], minutes: Option<u32>| LifecycleHookSpec {
        target_type: HookTargetType::Pause,
        stages: stages.to_vec(),
        hook_target_arn: None,
        role_arn: None,
        create_role: false,
        timeout: minutes.map(|minutes| HookTimeoutSpec {
            minutes,
            action: HookTimeoutAction::Rollback,
        }),
        local_command: None,
    };
    // LINEAR 25%: 4 steps, so the two production stages run 4 times each.
    let d = with_strategy(StrategyKind::Linear, |d| {
        d.linear = Some(model::LinearSpec {
            step_percent: pct("25"),
            step_bake_time_minutes: 3,
        });
        d.bake_time_minutes = Some(10);
        d.lifecycle_hooks = vec![
            hook(&[PostScaleUp], None),
            hook(
                &[PreProductionTrafficShift, PostProductionTrafficShift],
                Some(7),
            ),
        ];
    });
    let worst = d.worst_case();
    assert_eq!(worst.bake_minutes, 3 * 3 + 10);
    assert_eq!(
        worst.hooks,
        [
            HookWait {
                hook: 0,
                runs: 1,
                timeout_minutes: 1440,
                default_timeout: true,
            },
            HookWait {
                hook: 1,
                runs: 5,
                timeout_minutes: 7,
                default_timeout: false,
            },
        ]
    );
    assert_eq!(worst.total_minutes(), 19 + 1440 + 35);
    let text: Vec<String> = worst.hooks.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "lifecycleHooks[0] 1 run x 1440 (default timeout)",
            "lifecycleHooks[1] 5 runs x 7"
        ]
    );
    // No hooks: the bakes alone.
    let d = with_strategy(StrategyKind::BlueGreen, |_| {});
    assert_eq!(d.worst_case().total_minutes(), d.total_minutes());
}

/// A status written before the progress carried the step, the observed share, the tasks per
/// revision, a waiting hook and its start time still reads (they default to none), and the new
/// fields round-trip under their camelCase names; `StepOf::of` counts the shifts reached.
#[test]
fn rollout_progress_reads_without_the_tree_fields_and_round_trips_them() {
    use model::{RevisionTasks, RolloutProgress, StepOf, WaitingHook};
    let old: RolloutProgress = serde_json::from_str(
        r#"{"service": "web", "status": "IN_PROGRESS", "strategy": "LINEAR",
            "productionPercent": 40, "testTrafficOnTarget": false}"#,
    )
    .unwrap();
    assert_eq!(
        (
            old.step,
            old.observed_percent,
            old.revisions.len(),
            old.hook_waiting.is_none(),
            old.started_at_ms
        ),
        (None, None, 0, true, None)
    );
    let new = RolloutProgress {
        step: StepOf::of(
            &[20, 40, 60, 80, 100].map(Percent::whole),
            Percent::whole(40),
        ),
        observed_percent: Some(Percent::from_tenths(392)),
        revisions: vec![RevisionTasks {
            revision: "2".into(),
            desired: 1,
            running: 1,
            healthy: None,
        }],
        hook_waiting: Some(WaitingHook {
            hook: "pause".into(),
            remaining_ms: Some(1500),
            timeout_action: Some(HookTimeoutAction::Rollback),
        }),
        started_at_ms: Some(1_796_475_600_000),
        ..old
    };
    let json = serde_json::to_value(&new).unwrap();
    assert_eq!(
        json["startedAtMs"],
        serde_json::json!(1_796_475_600_000_u64)
    );
    assert_eq!(json["step"], serde_json::json!({"n": 2, "of": 5}));
    assert_eq!(json["observedPercent"], serde_json::json!(39.2));
    assert_eq!(
        json["hookWaiting"],
        serde_json::json!({"hook": "pause", "remainingMs": 1500, "timeoutAction": "ROLLBACK"})
    );
    assert_eq!(
        serde_json::from_value::<RolloutProgress>(json).unwrap(),
        new
    );
    assert_eq!(
        StepOf::of(&[Percent::whole(100)], Percent::whole(100)),
        None,
        "BLUE_GREEN"
    );
    assert_eq!(
        StepOf::of(
            &[Percent::whole(10), Percent::whole(100)],
            Percent::whole(0)
        ),
        None,
        "before the canary"
    );
}
