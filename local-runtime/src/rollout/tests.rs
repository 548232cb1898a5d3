//! Unit tests of the deployment engine: whole rollouts driven by scripted events and times

use std::time::Duration;

use model::{
    CanarySpec, DeploymentSpec, HookTargetType, HookTimeoutAction, HookTimeoutSpec,
    LifecycleHookSpec, LifecycleStage, LinearSpec, Percent, StrategyKind,
};

use super::*;

const S: Duration = Duration::from_secs(1);

fn linear(step: u32, bake: u32, final_bake: u32) -> DeploymentSpec {
    DeploymentSpec {
        strategy: StrategyKind::Linear,
        bake_time_minutes: Some(final_bake),
        linear: Some(LinearSpec {
            step_percent: Percent::whole(step),
            step_bake_time_minutes: bake,
        }),
        ..DeploymentSpec::default()
    }
}

fn canary(first: u32, bake: u32, final_bake: u32) -> DeploymentSpec {
    DeploymentSpec {
        strategy: StrategyKind::Canary,
        bake_time_minutes: Some(final_bake),
        canary: Some(CanarySpec {
            canary_percent: Percent::whole(first),
            canary_bake_time_minutes: bake,
        }),
        ..DeploymentSpec::default()
    }
}

fn hook(target_type: HookTargetType, stage: LifecycleStage) -> LifecycleHookSpec {
    LifecycleHookSpec {
        target_type,
        stages: vec![stage],
        hook_target_arn: None,
        role_arn: None,
        create_role: false,
        timeout: None,
        local_command: None,
    }
}

const REVISIONS: Revisions<'static> = Revisions {
    service: "web",
    source: "1",
    target: "2",
};

fn plan_with(deployment: &DeploymentSpec, minute: Duration) -> Result<RolloutPlan, PlanError> {
    RolloutPlan::new(REVISIONS, &model::Deployment::new(deployment, None), minute)
}

fn plan(deployment: &DeploymentSpec) -> RolloutPlan {
    plan_with(deployment, S).expect("a native strategy")
}

/// One line per visible change: `t STAGE STATUS new% [test] [paused] [bake Ns] actions`.
fn line(engine: &Engine, now: Duration, actions: &[Action]) -> String {
    let p = engine.progress(now);
    let mut text = format!(
        "{}s {} {} {}%",
        now.as_secs(),
        p.stage.map_or("-", |s| s.as_str()),
        p.status.as_str(),
        p.production_percent
    );
    if p.test_traffic_on_target {
        text.push_str(" test");
    }
    if p.paused_at.is_some() {
        text.push_str(" paused");
    }
    for action in actions {
        text.push_str(match action {
            Action::StartNewTasks => " +start",
            Action::RunHook { .. } => " +hook",
            Action::StopOldTasks => " +stop-old",
            Action::StopNewTasks => " +stop-new",
            Action::ReplaceNewTask => " +replace",
        });
    }
    text
}

/// Runs `plan` with `events` at their times (seconds), ticking at every deadline in between,
/// and returns the trace of visible changes.
fn run(plan: RolloutPlan, events: Vec<(u64, Event)>) -> (Engine, Vec<String>) {
    let (mut engine, actions) = Engine::start(plan);
    let mut trace = vec![line(&engine, Duration::ZERO, &actions)];
    let record = |engine: &Engine, now: Duration, actions: &[Action], trace: &mut Vec<String>| {
        let next = line(engine, now, actions);
        let same = trace.last().map(|l| l.split_once(' ').map(|x| x.1))
            == Some(next.split_once(' ').map(|x| x.1));
        if !same {
            trace.push(next);
        }
    };
    for (at, event) in events {
        let at = Duration::from_secs(at);
        while let Some(deadline) = engine.deadline().filter(|d| *d <= at) {
            let actions = engine.handle(Event::Tick, deadline).unwrap();
            record(&engine, deadline, &actions, &mut trace);
        }
        let actions = engine.handle(event, at).unwrap_or_else(|refused| {
            vec![Action::RunHook {
                run: 0,
                hook: String::new(),
                stage: LifecycleStage::PreScaleUp,
                command: vec![refused.to_string()],
            }]
        });
        record(&engine, at, &actions, &mut trace);
    }
    (engine, trace)
}

fn check(trace: &[String], expected: &[&str]) {
    assert_eq!(trace, expected, "\nactual:\n{}", trace.join("\n"));
}

#[test]
fn nominal_duration_is_the_step_bakes_plus_the_final_bake() {
    assert_eq!(plan(&linear(20, 2, 3)).nominal_duration(), 11 * S);
    assert_eq!(plan(&canary(10, 4, 1)).nominal_duration(), 5 * S);
    let minute = Duration::from_millis(200);
    let p = plan_with(&linear(20, 1, 1), minute).unwrap();
    assert_eq!(p.nominal_duration(), Duration::from_millis(1000));
}

#[test]
fn rolling_cannot_roll_out() {
    let err = plan_with(&DeploymentSpec::default(), S).unwrap_err();
    assert_eq!(
        err.to_string(),
        "service `web` deploys ROLLING: only BLUE_GREEN, LINEAR and CANARY shift traffic between revisions"
    );
}

#[test]
fn linear_rollout_walks_every_stage() {
    let (engine, trace) = run(
        plan(&linear(20, 2, 3)),
        vec![
            (1, Event::TasksHealthy),
            (10, Event::Tick),
            (14, Event::Stopped),
        ],
    );
    check(
        &trace,
        &[
            "0s SCALE_UP IN_PROGRESS 0% +start",
            "1s PRODUCTION_TRAFFIC_SHIFT IN_PROGRESS 20% test",
            "3s PRODUCTION_TRAFFIC_SHIFT IN_PROGRESS 40% test",
            "5s PRODUCTION_TRAFFIC_SHIFT IN_PROGRESS 60% test",
            "7s PRODUCTION_TRAFFIC_SHIFT IN_PROGRESS 80% test",
            "9s BAKE_TIME IN_PROGRESS 100% test",
            "12s CLEAN_UP IN_PROGRESS 100% test +stop-old",
            "14s CLEAN_UP SUCCESSFUL 100% test",
        ],
    );
    // The status keeps every shift with its time, so a poller that missed one still sees it.
    let shifts: Vec<(u32, u64)> = engine
        .local_status(14 * S)
        .shifts
        .iter()
        .map(|s| (s.percent.tenths(), s.at_ms))
        .collect();
    assert_eq!(
        shifts,
        [
            (200, 1000),
            (400, 3000),
            (600, 5000),
            (800, 7000),
            (1000, 9000)
        ]
    );
    let p = engine.progress(14 * S);
    assert_eq!(p.rollback_reason, None);
    assert_eq!(
        (p.source.as_deref(), p.target.as_deref()),
        (Some("1"), Some("2"))
    );
}

#[test]
fn a_lambda_hook_without_a_local_command_is_left_out_locally() {
    let events = || {
        vec![
            (1, Event::TasksHealthy),
            (10, Event::Tick),
            (14, Event::Stopped),
        ]
    };
    let mut with_hook = linear(20, 2, 3);
    with_hook.lifecycle_hooks = vec![hook(
        HookTargetType::AwsLambda,
        LifecycleStage::PostTestTrafficShift,
    )];
    let (_, without) = run(plan(&linear(20, 2, 3)), events());
    let (_, with) = run(plan(&with_hook), events());
    assert_eq!(with, without);
}

#[test]
fn bake_remaining_counts_down_in_real_milliseconds() {
    let (engine, _) = run(plan(&linear(50, 4, 10)), vec![(0, Event::TasksHealthy)]);
    assert_eq!(
        engine
            .progress(Duration::from_millis(1500))
            .bake_remaining_ms,
        Some(2500)
    );
    assert_eq!(
        engine
            .progress(Duration::from_nanos(3_999_999_001))
            .bake_remaining_ms,
        Some(1),
        "rounded up"
    );
    assert_eq!(engine.deadline(), Some(4 * S));
}

#[test]
fn canary_moves_its_share_then_the_rest() {
    let (_, trace) = run(
        plan(&canary(10, 5, 1)),
        vec![(0, Event::TasksHealthy), (7, Event::Stopped)],
    );
    check(
        &trace,
        &[
            "0s SCALE_UP IN_PROGRESS 0% +start",
            "0s PRODUCTION_TRAFFIC_SHIFT IN_PROGRESS 10% test",
            "5s BAKE_TIME IN_PROGRESS 100% test",
            "6s CLEAN_UP IN_PROGRESS 100% test +stop-old",
            "7s CLEAN_UP SUCCESSFUL 100% test",
        ],
    );
}

#[test]
fn test_traffic_moves_before_production_and_hooks_see_it() {
    let mut d = linear(50, 1, 1);
    d.lifecycle_hooks = vec![LifecycleHookSpec {
        local_command: Some(vec!["check".into()]),
        ..hook(HookTargetType::AwsLambda, LifecycleStage::TestTrafficShift)
    }];
    let (mut engine, actions) = Engine::start(plan(&d));
    assert_eq!(actions, [Action::StartNewTasks]);
    let actions = engine.handle(Event::TasksHealthy, S).unwrap();
    assert_eq!(
        actions,
        [Action::RunHook {
            run: 1,
            hook: "lambda".into(),
            stage: LifecycleStage::TestTrafficShift,
            command: vec!["check".into()]
        }]
    );
    assert_eq!(
        engine.split(),
        Split {
            new: Percent::whole(0),
            test_to_new: true
        }
    );
    assert_eq!(engine.progress(S).stage, Some(Stage::TestTrafficShift));
    engine
        .handle(
            Event::HookFinished {
                run: 1,
                outcome: Ok(()),
            },
            2 * S,
        )
        .unwrap();
    assert_eq!(
        engine.split(),
        Split {
            new: Percent::whole(50),
            test_to_new: true
        }
    );
}

#[test]
fn a_failing_hook_command_rolls_back_with_its_reason() {
    let mut d = linear(50, 1, 1);
    d.lifecycle_hooks = vec![LifecycleHookSpec {
        local_command: Some(vec!["false".into()]),
        ..hook(HookTargetType::AwsLambda, LifecycleStage::PostScaleUp)
    }];
    let (mut engine, _) = Engine::start(plan(&d));
    engine.handle(Event::TasksHealthy, S).unwrap();
    let actions = engine
        .handle(
            Event::HookFinished {
                run: 1,
                outcome: Err("exit status 1".into()),
            },
            S,
        )
        .unwrap();
    assert_eq!(actions, [Action::StopNewTasks]);
    assert_eq!(engine.split(), Split::OLD);
    engine.handle(Event::Stopped, 2 * S).unwrap();
    let p = engine.progress(2 * S);
    assert_eq!(p.status, DeploymentStatus::RollbackSuccessful);
    assert_eq!(
        p.rollback_reason.as_deref(),
        Some("the lifecycle hook at POST_SCALE_UP failed: exit status 1")
    );
}

#[test]
fn a_pause_hook_waits_for_continue() {
    let mut d = linear(50, 1, 1);
    d.lifecycle_hooks = vec![hook(
        HookTargetType::Pause,
        LifecycleStage::PostTestTrafficShift,
    )];
    let (engine, trace) = run(
        plan(&d),
        vec![
            (0, Event::TasksHealthy),
            (30, Event::Tick),
            (31, Event::Continue),
        ],
    );
    check(
        &trace,
        &[
            "0s SCALE_UP IN_PROGRESS 0% +start",
            "0s POST_TEST_TRAFFIC_SHIFT IN_PROGRESS 0% test paused",
            "31s PRODUCTION_TRAFFIC_SHIFT IN_PROGRESS 50% test",
        ],
    );
    assert_eq!(engine.progress(31 * S).paused_at, None);
}

#[test]
fn a_pause_hook_rolled_back_keeps_the_old_revision() {
    let mut d = linear(50, 1, 1);
    d.lifecycle_hooks = vec![hook(
        HookTargetType::Pause,
        LifecycleStage::PostTestTrafficShift,
    )];
    let (engine, trace) = run(
        plan(&d),
        vec![
            (0, Event::TasksHealthy),
            (
                2,
                Event::Rollback {
                    reason: "rolled back by the operator".into(),
                },
            ),
            (3, Event::Stopped),
        ],
    );
    check(
        &trace,
        &[
            "0s SCALE_UP IN_PROGRESS 0% +start",
            "0s POST_TEST_TRAFFIC_SHIFT IN_PROGRESS 0% test paused",
            "2s POST_TEST_TRAFFIC_SHIFT ROLLBACK_IN_PROGRESS 0% +stop-new",
            "3s POST_TEST_TRAFFIC_SHIFT ROLLBACK_SUCCESSFUL 0%",
        ],
    );
    assert_eq!(
        engine.progress(3 * S).rollback_reason.as_deref(),
        Some("rolled back by the operator")
    );
}

#[test]
fn a_pause_hook_times_out_with_its_action() {
    let paused = |action| {
        let mut d = linear(100, 0, 0);
        d.lifecycle_hooks = vec![LifecycleHookSpec {
            timeout: Some(HookTimeoutSpec { minutes: 5, action }),
            ..hook(HookTargetType::Pause, LifecycleStage::PreScaleUp)
        }];
        let (engine, _) = run(plan(&d), vec![(4, Event::Tick), (6, Event::TasksHealthy)]);
        engine.progress(6 * S)
    };
    let continued = paused(HookTimeoutAction::Continue);
    assert_eq!(continued.stage, Some(Stage::CleanUp));
    let rolled_back = paused(HookTimeoutAction::Rollback);
    assert_eq!(rolled_back.status, DeploymentStatus::RollbackInProgress);
    assert_eq!(
        rolled_back.rollback_reason.as_deref(),
        Some("hook pause timed out after 5 min, action ROLLBACK")
    );
}

/// A Lambda hook whose command runs, with `timeout` or none.
fn lambda_hook(timeout: Option<HookTimeoutSpec>) -> LifecycleHookSpec {
    LifecycleHookSpec {
        hook_target_arn: Some("arn:aws:lambda:eu-west-1:123456789012:function:check".into()),
        role_arn: Some("arn:aws:iam::123456789012:role/hooks".into()),
        timeout,
        local_command: Some(vec!["sleep".into(), "infinity".into()]),
        ..hook(HookTargetType::AwsLambda, LifecycleStage::PostScaleUp)
    }
}

/// Without a timeout of its own, a hook gets ECS's: 1,440 model minutes (14.4 s at a 10 ms
/// minute), then ROLLBACK, and `status` shows it running with that timeout until then.
#[test]
fn a_hook_without_a_timeout_rolls_back_after_ecs_default_on_the_time_scale() {
    let mut d = linear(50, 1, 1);
    d.lifecycle_hooks = vec![lambda_hook(None)];
    let minute = Duration::from_millis(10);
    let (mut engine, _) = Engine::start(plan_with(&d, minute).unwrap());
    let actions = engine.handle(Event::TasksHealthy, S).unwrap();
    assert!(matches!(&actions[..], [Action::RunHook { run: 1, hook, .. }] if hook == "check"));
    assert_eq!(engine.hook_run(), Some(1));
    assert_eq!(engine.deadline(), Some(S + minute * 1440));
    let running = engine.progress(9 * S).hook_running.expect("the hook runs");
    assert_eq!(
        running,
        RunningHook {
            hook: "check".into(),
            stage: LifecycleStage::PostScaleUp,
            elapsed_seconds: 8,
            timeout: HookTimeoutSpec {
                minutes: 1440,
                action: HookTimeoutAction::Rollback,
            },
            timeout_seconds: 15,
        }
    );
    // Just before the deadline nothing happens.
    let early = S + minute * 1440 - Duration::from_millis(1);
    assert_eq!(engine.handle(Event::Tick, early).unwrap(), []);
    assert_eq!(engine.hook_run(), Some(1));
    let actions = engine.handle(Event::Tick, S + minute * 1440).unwrap();
    assert_eq!(actions, [Action::StopNewTasks]);
    assert_eq!(engine.hook_run(), None, "the hook's process must stop");
    let p = engine.progress(16 * S);
    assert_eq!(p.status, DeploymentStatus::RollbackInProgress);
    assert_eq!(p.hook_running, None);
    assert_eq!(
        p.rollback_reason.as_deref(),
        Some("hook check timed out after 1440 min, action ROLLBACK")
    );
    assert_eq!(p.hook_timeouts.len(), 1);
}

/// CONTINUE goes on to the next stage and stays reported; ROLLBACK rolls back with the
/// timeout as its reason. Either way the command is no longer waited on, and a late end of it
/// changes nothing.
#[test]
fn a_hook_command_times_out_with_its_action() {
    let timed_out = |action| {
        let mut d = linear(50, 1, 1);
        d.lifecycle_hooks = vec![lambda_hook(Some(HookTimeoutSpec { minutes: 3, action }))];
        let (mut engine, _) = Engine::start(plan(&d));
        engine.handle(Event::TasksHealthy, S).unwrap();
        assert_eq!(engine.hook_run(), Some(1));
        let actions = engine.handle(Event::Tick, 4 * S).unwrap();
        assert_eq!(engine.hook_run(), None);
        let stage = engine.progress(4 * S).stage;
        let late = Event::HookFinished {
            run: 1,
            outcome: Err("killed".into()),
        };
        assert_eq!(engine.handle(late, 4 * S).unwrap(), []);
        (engine.progress(4 * S), actions, stage)
    };
    let (continued, actions, stage) = timed_out(HookTimeoutAction::Continue);
    assert_eq!(actions, []);
    assert_eq!(continued.status, DeploymentStatus::InProgress);
    assert_eq!(stage, Some(Stage::ProductionTrafficShift));
    assert_eq!(continued.rollback_reason, None);
    assert_eq!(
        continued
            .hook_timeouts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["hook check timed out after 3 min, action CONTINUE"]
    );
    let (rolled_back, actions, _) = timed_out(HookTimeoutAction::Rollback);
    assert_eq!(actions, [Action::StopNewTasks]);
    assert_eq!(rolled_back.status, DeploymentStatus::RollbackInProgress);
    assert_eq!(
        rolled_back.rollback_reason.as_deref(),
        Some("hook check timed out after 3 min, action ROLLBACK")
    );
}

/// The command is waited on only while its stage waits for it: a rollback meanwhile (here by
/// the operator) ends it too.
#[test]
fn a_rollback_while_a_hook_runs_ends_the_hook() {
    let mut d = linear(50, 1, 1);
    d.lifecycle_hooks = vec![lambda_hook(None)];
    let (mut engine, _) = Engine::start(plan(&d));
    engine.handle(Event::TasksHealthy, S).unwrap();
    assert_eq!(engine.hook_run(), Some(1));
    engine
        .handle(
            Event::Rollback {
                reason: "rolled back by the operator".into(),
            },
            2 * S,
        )
        .unwrap();
    assert_eq!(engine.hook_run(), None);
    assert_eq!(engine.progress(2 * S).hook_running, None);
}

#[test]
fn continue_without_a_pause_is_refused() {
    let (mut engine, _) = Engine::start(plan(&linear(50, 1, 1)));
    assert_eq!(
        engine.handle(Event::Continue, S).unwrap_err().to_string(),
        "nothing to continue: the rollout of web is not paused at a hook"
    );
}

#[test]
fn an_alarm_rolls_back_and_is_listed() {
    let (mut engine, _) = run(
        plan(&linear(20, 2, 3)),
        vec![(0, Event::TasksHealthy), (3, Event::Tick)],
    );
    assert_eq!(engine.split().new, Percent::whole(40));
    let actions = engine
        .handle(
            Event::Alarm {
                name: "web-5xx".into(),
                detail: "period 3 (60 s, 1.0 s here): 118 of 1000 answers were 5xx (11.8%), over the threshold of 10% in 1 of 1 periods".into(),
            },
            3 * S,
        )
        .unwrap();
    assert_eq!(actions, [Action::StopNewTasks]);
    assert_eq!(
        engine.split(),
        Split::OLD,
        "one swap back to the old revision"
    );
    // While it rolls back, a rollback is refused as what it is, not as a rollout that ended.
    assert_eq!(
        engine.progress(3 * S).status,
        DeploymentStatus::RollbackInProgress
    );
    assert_eq!(
        engine
            .handle(
                Event::Rollback {
                    reason: "me too".into()
                },
                3 * S
            )
            .unwrap_err()
            .to_string(),
        "the rollout of web is already rolling back (alarm web-5xx: period 3 (60 s, 1.0 s here): 118 of 1000 answers were 5xx (11.8%), over the threshold of 10% in 1 of 1 periods): nothing more to do, it ends at ROLLBACK_SUCCESSFUL"
    );
    engine.handle(Event::Stopped, 4 * S).unwrap();
    let back: Vec<(u32, u64)> = engine
        .local_status(4 * S)
        .shifts
        .iter()
        .map(|s| (s.percent.tenths(), s.at_ms))
        .collect();
    assert_eq!(
        back,
        [(200, 0), (400, 2000), (0, 3000)],
        "the rollback is a shift too"
    );
    let p = engine.progress(4 * S);
    assert_eq!(p.status, DeploymentStatus::RollbackSuccessful);
    assert_eq!(p.alarms_triggered, ["web-5xx"]);
    assert_eq!(
        p.rollback_reason.as_deref(),
        Some(
            "alarm web-5xx: period 3 (60 s, 1.0 s here): 118 of 1000 answers were 5xx (11.8%), over the threshold of 10% in 1 of 1 periods"
        )
    );
    assert_eq!(
        engine
            .handle(
                Event::Rollback {
                    reason: "again".into()
                },
                5 * S
            )
            .unwrap_err()
            .to_string(),
        "the rollout of web already ended (ROLLBACK_SUCCESSFUL)"
    );
}

#[test]
fn an_alarm_without_rollback_is_only_listed() {
    let mut d = linear(50, 1, 1);
    d.alarms = Some(model::AlarmsSpec {
        names: vec![],
        error_rate: None,
        rollback: false,
    });
    let (mut engine, _) = run(plan(&d), vec![(0, Event::TasksHealthy)]);
    engine
        .handle(
            Event::Alarm {
                name: "web-5xx".into(),
                detail: "x".into(),
            },
            S,
        )
        .unwrap();
    let p = engine.progress(S);
    assert_eq!(p.status, DeploymentStatus::InProgress);
    assert_eq!(p.alarms_triggered, ["web-5xx"]);
}

#[test]
fn tasks_that_fail_roll_back_and_clean_up_cannot() {
    let (mut engine, _) = Engine::start(plan(&linear(50, 0, 0)));
    engine
        .handle(
            Event::TaskFailed {
                reason: "web-task3 exited (exit status 1)".into(),
            },
            S,
        )
        .unwrap();
    assert_eq!(
        engine.progress(S).rollback_reason.as_deref(),
        Some("the new tasks are not healthy: web-task3 exited (exit status 1)")
    );

    let (mut engine, _) = run(plan(&linear(50, 0, 0)), vec![(0, Event::TasksHealthy)]);
    assert_eq!(engine.progress(S).stage, Some(Stage::CleanUp));
    assert_eq!(
        engine
            .handle(Event::Rollback { reason: "x".into() }, S)
            .unwrap_err()
            .to_string(),
        "too late to roll back web: the old revision is already being stopped"
    );
}

/// The trace of a linear rollout (50%, 10 s bakes) whose only new task fails its health
/// checks at 5 s, with the circuit breaker as `breaker` says.
fn failing_task(breaker: model::CircuitBreakerSpec) -> (Engine, Vec<String>) {
    let spec = DeploymentSpec {
        circuit_breaker: breaker,
        ..linear(50, 10, 10)
    };
    let failed = Event::TaskFailed {
        reason: "web-task3 stopped answering its health check (3 in a row, the last: GET / did not answer within 1 s)".into(),
    };
    run(
        plan(&spec),
        vec![(0, Event::TasksHealthy), (5, failed), (40, Event::Tick)],
    )
}

#[test]
fn a_failed_task_rolls_back_with_the_circuit_breaker_on() {
    let (engine, trace) = failing_task(model::CircuitBreakerSpec::default());
    check(
        &trace,
        &[
            "0s SCALE_UP IN_PROGRESS 0% +start",
            "0s PRODUCTION_TRAFFIC_SHIFT IN_PROGRESS 50% test",
            "5s PRODUCTION_TRAFFIC_SHIFT ROLLBACK_IN_PROGRESS 0% +stop-new",
            "40s PRODUCTION_TRAFFIC_SHIFT ROLLBACK_IN_PROGRESS 0%",
        ],
    );
    assert_eq!(
        engine.progress(S).rollback_reason.as_deref(),
        Some(
            "the new tasks are not healthy: web-task3 stopped answering its health check (3 in a row, the last: GET / did not answer within 1 s)"
        )
    );
}

#[test]
fn a_failed_task_is_replaced_without_the_circuit_breaker_rolling_back() {
    for (enable, rollback) in [(false, false), (false, true), (true, false)] {
        let (engine, trace) = failing_task(model::CircuitBreakerSpec { enable, rollback });
        check(
            &trace,
            &[
                "0s SCALE_UP IN_PROGRESS 0% +start",
                "0s PRODUCTION_TRAFFIC_SHIFT IN_PROGRESS 50% test",
                "5s PRODUCTION_TRAFFIC_SHIFT IN_PROGRESS 50% test +replace",
                "10s BAKE_TIME IN_PROGRESS 100% test",
                "20s CLEAN_UP IN_PROGRESS 100% test +stop-old",
                "40s CLEAN_UP IN_PROGRESS 100% test",
            ],
        );
        assert_eq!(engine.progress(S).rollback_reason, None);
    }
    // A revision that cannot start rolls back whatever the breaker says.
    let breaker = model::CircuitBreakerSpec {
        enable: false,
        rollback: false,
    };
    let spec = DeploymentSpec {
        circuit_breaker: breaker,
        ..linear(50, 10, 10)
    };
    let (mut engine, _) = Engine::start(plan(&spec));
    let actions = engine
        .handle(
            Event::TasksFailed {
                reason: "task web-task2 exited during start-up".into(),
            },
            S,
        )
        .unwrap();
    assert_eq!(actions, [Action::StopNewTasks]);
}

#[test]
fn health_probes_follow_the_health_check_on_the_local_time_scale() {
    let demo = model::HealthCheckSpec {
        command: vec!["CMD".into()],
        interval_seconds: 10,
        timeout_seconds: 5,
        retries: 3,
        start_period_seconds: 10,
    };
    let check =
        |minute: Duration, hc: Option<&model::HealthCheckSpec>, expected: (u64, u64, u32)| {
            let p = HealthProbes::new(hc, minute);
            assert_eq!(
                (
                    p.interval.as_millis() as u64,
                    p.timeout.as_millis() as u64,
                    p.retries
                ),
                expected,
                "{minute:?} {hc:?}"
            );
        };
    // Real time: the model's own figures.
    check(60 * S, Some(&demo), (10_000, 5_000, 3));
    // One model minute a second: 10 s is 167 ms; the timeout stays the start-up check's 1 s.
    check(S, Some(&demo), (166, 1_000, 3));
    // A very short minute: the interval stays at 100 ms.
    check(Duration::from_millis(100), Some(&demo), (100, 1_000, 3));
    // No health check in the model: ECS's defaults (30 s, 5 s, 3 retries).
    check(60 * S, None, (30_000, 5_000, 3));
    let zero = model::HealthCheckSpec { retries: 0, ..demo };
    check(60 * S, Some(&zero), (10_000, 5_000, 1));
}

#[test]
fn a_task_is_unhealthy_after_its_retries_in_a_row() {
    let mut tally = ProbeTally::new(3);
    let timeout = || Err("GET / did not answer within 1 s".to_owned());
    // Two failures, then a success: the count starts again.
    assert_eq!(tally.record("web-task3", timeout()), None);
    assert_eq!(tally.record("web-task3", timeout()), None);
    assert_eq!(tally.record("web-task3", Ok(())), None);
    assert_eq!(tally.record("web-task3", timeout()), None);
    assert_eq!(tally.record("web-task3", timeout()), None);
    // Another task's failures count apart.
    assert_eq!(
        tally.record("web-task4", Err("GET / answered 503".into())),
        None
    );
    assert_eq!(
        tally.record("web-task3", Err("GET / failed: connection refused".into())),
        Some("web-task3 stopped answering its health check (3 in a row, the last: GET / failed: connection refused)".into())
    );
    // Reported once: a further failure starts a new count.
    assert_eq!(tally.record("web-task3", timeout()), None);
    // A task that is gone is forgotten.
    tally.keep_only(["web-task3"]);
    assert_eq!(tally.record("web-task4", timeout()), None);
    assert_eq!(tally.record("web-task4", timeout()), None);
    assert!(tally.record("web-task4", timeout()).is_some());
}

#[test]
fn reconcile_comes_first_when_two_revisions_are_active() {
    let d = DeploymentSpec {
        strategy: StrategyKind::BlueGreen,
        lifecycle_hooks: vec![hook(
            HookTargetType::Pause,
            LifecycleStage::ReconcileService,
        )],
        ..DeploymentSpec::default()
    };
    let (engine, _) = Engine::start(plan(&d));
    assert_eq!(
        engine.progress(Duration::ZERO).stage,
        Some(Stage::ScaleUp),
        "skipped with one revision"
    );
    let mut p = plan(&d);
    p.reconcile = true;
    let (engine, _) = Engine::start(p);
    assert_eq!(
        engine.progress(Duration::ZERO).paused_at,
        Some(Stage::ReconcileService)
    );
}

#[test]
fn the_summary_says_how_traffic_moves_in_model_minutes() {
    let check = |spec: &DeploymentSpec, expected: Option<&str>| {
        let deployment = model::Deployment::new(spec, None);
        assert_eq!(summary(&deployment).as_deref(), expected, "{spec:?}");
    };
    check(
        &linear(20, 1, 5),
        Some("LINEAR 20% every 1 min, bake 5 min"),
    );
    check(
        &canary(10, 3, 0),
        Some("CANARY 10%, the rest 3 min later, bake 0 min"),
    );
    check(
        &canary(100, 3, 4),
        Some("CANARY 100% at once, then 3 min, bake 4 min"),
    );
    // ECS's defaults fill what the model leaves out.
    let defaults = |strategy| DeploymentSpec {
        strategy,
        ..DeploymentSpec::default()
    };
    check(
        &defaults(StrategyKind::Linear),
        Some("LINEAR 10% every 6 min, bake 15 min"),
    );
    check(
        &defaults(StrategyKind::BlueGreen),
        Some("BLUE_GREEN 100% at once, bake 15 min"),
    );
    check(&defaults(StrategyKind::Rolling), None);
}

/// The supervisor refuses a model minute outside the table rather than running a 0 ms minute
/// as 1 ms or a year-long one.
#[test]
fn a_model_minute_outside_the_table_is_refused() {
    let ms = Duration::from_millis;
    assert_eq!(minute(ms(1)), Ok(ms(1)));
    assert_eq!(minute(ms(60_000)), Ok(ms(60_000)));
    for bad in [
        Duration::ZERO,
        Duration::from_micros(999),
        ms(60_001),
        365 * 24 * 3600 * S,
    ] {
        assert_eq!(minute(bad), Err(MinuteOutOfRange { got: bad }));
    }
    assert_eq!(
        minute(Duration::ZERO).unwrap_err().to_string(),
        "one model minute must last from 1ms to 60s (as long as a real one), got 0ns: use e.g. 200ms"
    );
}

/// The step a LINEAR rollout is at counts its shifts (1/5 at 20% .. 5/5 at 100%), none before
/// the first shift or once it ended; a CANARY has two, BLUE_GREEN none to count.
#[test]
fn the_progress_counts_the_steps_reached() {
    let step = |engine: &Engine, at: u32| engine.progress(at * S).step.map(|s| (s.n, s.of));
    let (engine, _) = run(plan(&linear(20, 2, 3)), vec![(1, Event::TasksHealthy)]);
    assert_eq!(step(&engine, 1), Some((1, 5)));
    let (engine, _) = run(
        plan(&linear(20, 2, 3)),
        vec![(1, Event::TasksHealthy), (6, Event::Tick)],
    );
    assert_eq!(step(&engine, 6), Some((3, 5)));
    let (engine, _) = run(
        plan(&linear(20, 2, 3)),
        vec![
            (1, Event::TasksHealthy),
            (10, Event::Tick),
            (14, Event::Stopped),
        ],
    );
    assert_eq!(step(&engine, 14), None, "ended");
    let (engine, _) = run(plan(&linear(20, 2, 3)), vec![]);
    assert_eq!(step(&engine, 0), None, "before the first shift");
    let (engine, _) = run(plan(&canary(10, 5, 1)), vec![(1, Event::TasksHealthy)]);
    assert_eq!(step(&engine, 2), Some((1, 2)));
}

/// A pause hook awaiting action is named with the time left before its timeout action, which
/// counts down on the time scale; a running hook command is not awaiting action.
#[test]
fn a_waiting_pause_hook_says_its_time_left_and_action() {
    let mut d = linear(50, 1, 1);
    let mut pause = hook(HookTargetType::Pause, LifecycleStage::PostTestTrafficShift);
    pause.timeout = Some(HookTimeoutSpec {
        minutes: 30,
        action: HookTimeoutAction::Continue,
    });
    d.lifecycle_hooks = vec![pause];
    let (engine, _) = run(plan(&d), vec![(2, Event::TasksHealthy)]);
    let waiting = |at: u32| engine.progress(at * S).hook_waiting;
    let hook_name = engine.plan.hooks[0].name.clone();
    assert_eq!(
        waiting(2),
        Some(model::WaitingHook {
            hook: hook_name,
            remaining_ms: Some(30_000),
            timeout_action: Some(HookTimeoutAction::Continue),
        })
    );
    assert_eq!(waiting(12).and_then(|w| w.remaining_ms), Some(20_000));
    let (engine, _) = run(
        plan(&d),
        vec![(2, Event::TasksHealthy), (3, Event::Continue)],
    );
    assert_eq!(engine.progress(3 * S).hook_waiting, None);
}
