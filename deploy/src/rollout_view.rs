//! How a rollout reads while it runs, on AWS and on the local runtime alike: the common
//! `model::RolloutProgress` as lines
//!
//! The formatting is pure ([`summary`], [`Changes`]) so tests snapshot exactly what a user reads
//! off a terminal; the flows hand the lines to their reporter as [`Progress::Rollout`], and a
//! terminal that draws (meshtest-cli) shows them above live bars.
//!
//! [`Progress::Rollout`]: crate::report::Progress::Rollout

use std::collections::BTreeMap;

use model::{DeploymentStatus, HookTimeoutAction, Percent, RolloutProgress, RunningHook};

use crate::events;
use crate::report::{Progress, Reporter, Verb};
pub use crate::stack_view::{Commands, Detail, LoadBalancerTraffic, StepOf, TargetGroupShare};
use crate::stack_view::{StackView, alarm, duration, group_of, heading, running_hook, state};

impl Commands {
    /// Continue and roll back `stack`, worded by `out`.
    pub fn of(stack: &str, out: &dyn Reporter) -> Commands {
        Commands {
            continue_paused: out.command(&Verb::Continue.on(stack)),
            rollback: out.command(&Verb::Rollback.on(stack)),
        }
    }
}

impl LoadBalancerTraffic {
    /// `production rule 9683b2d02a6cabee: target group gw-blue 60% (gateway-blue:1), target group
    /// gw-blue-alt 40% (gateway-blue:2); test rule 55aa: target group gw-blue-alt`.
    fn line(&self, service: &str) -> String {
        let share = |s: &TargetGroupShare| {
            format!(
                "target group {} {}% ({})",
                s.target_group, s.production_percent, s.revision
            )
        };
        let shares: Vec<String> = self.source.iter().chain(&self.target).map(share).collect();
        let mut text = format!(
            "{service}: production rule {}: {}",
            self.production_rule,
            shares.join(", ")
        );
        if let Some(test) = &self.test_rule {
            text.push_str(&format!("; test rule {test}"));
            if let Some(target) = &self.target {
                text.push_str(&format!(": target group {}", target.target_group));
            }
        }
        text
    }

    /// Which revisions serve from which target group: what a new line is due for (the shares
    /// are in the summary already).
    fn layout(&self) -> LoadBalancerTraffic {
        let bare = |s: &Option<TargetGroupShare>| {
            s.clone().map(|s| TargetGroupShare {
                production_percent: Percent::whole(0),
                ..s
            })
        };
        LoadBalancerTraffic {
            source: bare(&self.source),
            target: bare(&self.target),
            ..self.clone()
        }
    }
}

/// One line on where a service's deployment stands, e.g.
/// `web 1 -> 2: PRODUCTION_TRAFFIC_SHIFT, production 40% on 2, test traffic on 2, bake 45 s left`.
pub fn summary(p: &RolloutProgress) -> String {
    summary_with(p, &Detail::default())
}

/// [`summary`] with what `detail` adds: `step 2/5` (also when the progress has it) and the target group of the new revision
/// (`production 40% on gateway-blue:2 (target group gw-blue-alt)`).
pub fn summary_with(p: &RolloutProgress, detail: &Detail) -> String {
    let mut parts = vec![state(p)];
    let on = p.target.as_deref().unwrap_or("the new revision");
    if let Some(step) = detail.step.or(p.step) {
        parts.push(format!("step {}/{}", step.n, step.of));
    }
    let group = group_of(
        detail
            .load_balancer
            .as_ref()
            .and_then(|lb| lb.target.as_ref()),
    );
    parts.push(format!(
        "production {}% on {on}{group}",
        p.production_percent
    ));
    if p.test_traffic_on_target {
        parts.push(format!("test traffic on {on}"));
    }
    if let Some(ms) = p.bake_remaining_ms {
        parts.push(format!("bake {} left", duration(ms)));
    }
    parts.extend(p.alarms.iter().map(alarm));
    if !p.alarms_triggered.is_empty() {
        parts.push(format!(
            "alarms triggered: {}",
            p.alarms_triggered.join(", ")
        ));
    }
    if let Some(stage) = p.paused_at {
        parts.push(format!("paused at {}", stage.as_str()));
    }
    parts.extend(p.hook_running.as_ref().map(running_hook));
    // A ROLLBACK timeout is the rollback reason already.
    parts.extend(
        p.hook_timeouts
            .iter()
            .filter(|t| t.action == HookTimeoutAction::Continue)
            .map(ToString::to_string),
    );
    if let Some(reason) = &p.rollback_reason {
        parts.push(format!("reason: {reason}"));
    }
    format!("{}: {}", heading(p), parts.join(", "))
}

/// Whether the deployment ended in anything but success (rolled back, stopped, failed).
pub fn failed(p: &RolloutProgress) -> bool {
    p.status.is_terminal() && p.status != DeploymentStatus::Successful
}

/// The last line of a deployment that reached a terminal status; behind a load balancer it
/// names the target group production traffic is on.
fn ending(p: &RolloutProgress, detail: &Detail) -> Option<String> {
    let lb = detail.load_balancer.as_ref();
    let target = p.target.as_deref().unwrap_or("the new revision");
    let reason = p
        .rollback_reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    Some(match p.status {
        DeploymentStatus::Successful => format!(
            "{}: rollout to {target} finished, production traffic on {target}{}",
            p.service,
            group_of(lb.and_then(|lb| lb.target.as_ref()))
        ),
        DeploymentStatus::RollbackSuccessful => format!(
            "{}: rolled back{}{reason}",
            p.service,
            p.source
                .as_deref()
                .map(|s| format!(" to {s}{}", group_of(lb.and_then(|lb| lb.source.as_ref()))))
                .unwrap_or_default()
        ),
        DeploymentStatus::RollbackFailed => format!("{}: rollback FAILED{reason}", p.service),
        DeploymentStatus::Stopped => format!("{}: deployment stopped{reason}", p.service),
        _ => return None,
    })
}

/// Remembers what was last shown for each service, so plain output gets one line per change
/// rather than one per poll. A bake countdown alone is not a change: only its start is shown.
#[derive(Debug, Clone)]
pub struct Changes {
    commands: Commands,
    last: BTreeMap<String, (RolloutProgress, Detail)>,
}

impl Changes {
    pub fn new(commands: Commands) -> Changes {
        Changes {
            commands,
            last: BTreeMap::new(),
        }
    }

    /// The lines to print for `now`: none when nothing but the countdown moved.
    pub fn lines(&mut self, now: &RolloutProgress) -> Vec<String> {
        self.lines_with(now, &Detail::default())
    }

    /// [`Changes::lines`] with what `detail` adds; the target groups behind the load balancer
    /// get a line of their own when first known and whenever a revision changes group.
    pub fn lines_with(&mut self, now: &RolloutProgress, detail: &Detail) -> Vec<String> {
        let last = self.last.get(&now.service);
        if last.is_some_and(|(p, d)| key(p) == key(now) && d == detail) {
            return Vec::new();
        }
        let previous = last.map(|(p, _)| p);
        let layout = |d: &Detail| d.load_balancer.as_ref().map(LoadBalancerTraffic::layout);
        let new_layout = last.is_none_or(|(_, d)| layout(d) != layout(detail));
        let mut lines = Vec::new();
        if previous.is_none() && !now.status.is_terminal() {
            lines.push(format!(
                "{}: following its {} deployment",
                now.service,
                now.strategy.as_str()
            ));
        }
        if let Some(lb) = detail.load_balancer.as_ref().filter(|_| new_layout) {
            lines.push(lb.line(&now.service));
        }
        lines.push(summary_with(now, detail));
        if let Some(stage) = now.paused_at
            && previous.is_none_or(|p| p.paused_at != Some(stage))
        {
            lines.push(format!(
                "{} waits at {}: run `{}` to go on, or `{}` to roll back",
                now.service,
                stage.as_str(),
                self.commands.continue_paused,
                self.commands.rollback
            ));
        }
        if previous.is_none_or(|p| p.status != now.status)
            && let Some(line) = ending(now, detail)
        {
            lines.push(line);
        }
        self.last
            .insert(now.service.clone(), (now.clone(), detail.clone()));
        lines
    }
}

/// What decides whether a new line is due: everything but the seconds of a countdown or of a
/// running hook.
fn key(p: &RolloutProgress) -> RolloutProgress {
    RolloutProgress {
        bake_remaining_ms: p.bake_remaining_ms.map(|_| 0),
        hook_running: p.hook_running.clone().map(|h| RunningHook {
            elapsed_seconds: 0,
            ..h
        }),
        ..p.clone()
    }
}

/// Reports each reading of the rollouts a flow follows, with the lines it adds, to `out`, and
/// the typed events since the service's reading before ([`crate::events::events`]).
pub struct RolloutView<'a> {
    changes: Changes,
    out: &'a dyn Reporter,
    stack: String,
    /// Each service's last reading, for its events.
    previous: BTreeMap<String, RolloutProgress>,
}

impl std::fmt::Debug for RolloutView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutView")
            .field("changes", &self.changes)
            .finish_non_exhaustive()
    }
}

impl<'a> RolloutView<'a> {
    /// The view of `stack`'s rollouts (the stack names its events).
    pub fn new(stack: &str, commands: Commands, out: &'a dyn Reporter) -> RolloutView<'a> {
        RolloutView {
            changes: Changes::new(commands),
            out,
            stack: stack.to_owned(),
            previous: BTreeMap::new(),
        }
    }

    pub fn show(&mut self, progress: &RolloutProgress) {
        self.show_with(progress, &Detail::default());
    }

    /// [`RolloutView::show`] with what the AWS follower reads beside the progress.
    pub fn show_with(&mut self, progress: &RolloutProgress, detail: &Detail) {
        self.show_stepped(progress, detail, detail.step.or(progress.step));
    }

    /// [`RolloutView::show_with`], with the step the events name when the display does not
    /// show one (the local follower knows the engine's steps).
    pub fn show_stepped(
        &mut self,
        progress: &RolloutProgress,
        detail: &Detail,
        step: Option<StepOf>,
    ) {
        let lines = self.changes.lines_with(progress, detail);
        self.out.show(Progress::Rollout {
            progress,
            lines: &lines,
        });
        let reading = events::Reading {
            stack: self.stack.clone(),
            time: events::Time::now(),
            step,
        };
        for event in events::events(self.previous.get(&progress.service), progress, &reading) {
            self.out.event(&event);
        }
        self.previous
            .insert(progress.service.clone(), progress.clone());
    }

    /// Hands the whole stack, as read after a round of readings, to the reporter.
    pub fn show_tree(&self, tree: &StackView) {
        self.out.show(Progress::Tree(tree));
    }

    /// Tells the reporter the rollouts ended: a terminal clears its bars, the lines stay.
    pub fn finish(self) {
        self.out.show(Progress::RolloutsEnded);
    }
}

#[cfg(test)]
mod tests {
    use model::examples::error_rate_reading as reading;
    use model::{AlarmReading, AlarmState, DeploymentStage, Percent, StrategyKind};

    use super::*;

    fn progress(status: DeploymentStatus, stage: DeploymentStage, percent: u32) -> RolloutProgress {
        RolloutProgress {
            status,
            ..model::examples::rollout_progress(StrategyKind::Linear, stage, percent)
        }
    }

    /// The lines printed for `steps` in order, for `rollout` with its commands worded as the
    /// command line words them (with `--local` if asked).
    fn check(local: bool, steps: &[RolloutProgress], expected: &[&str]) {
        let local = if local { " --local" } else { "" };
        let mut changes = Changes::new(Commands {
            continue_paused: format!("cargo xtask continue rollout{local}"),
            rollback: format!("cargo xtask rollback rollout{local}"),
        });
        let lines: Vec<String> = steps.iter().flat_map(|p| changes.lines(p)).collect();
        assert_eq!(lines, expected);
    }

    /// `--minute 0.2s` makes a one-minute bake last 0.2 s: the countdown says so rather than
    /// `1 s` (it used to round every bake up to whole seconds).
    #[test]
    fn a_short_bake_counts_down_on_the_time_scale() {
        let mut p = progress(DeploymentStatus::InProgress, DeploymentStage::BakeTime, 100);
        let left = |p: &mut RolloutProgress, ms| {
            p.bake_remaining_ms = Some(ms);
            summary(p).rsplit(", ").next().unwrap().to_owned()
        };
        assert_eq!(left(&mut p, 200), "bake 0.2 s left");
        assert_eq!(left(&mut p, 1), "bake 0.1 s left");
        assert_eq!(left(&mut p, 0), "bake 0.0 s left");
        assert_eq!(left(&mut p, 1_450), "bake 1.5 s left");
        assert_eq!(left(&mut p, 9_901), "bake 10 s left");
        assert_eq!(left(&mut p, 10_000), "bake 10 s left");
        assert_eq!(left(&mut p, 59_001), "bake 1 min left");
    }

    #[test]
    fn a_summary_names_the_split_test_traffic_and_bake() {
        let mut p = progress(
            DeploymentStatus::InProgress,
            DeploymentStage::ProductionTrafficShift,
            40,
        );
        p.test_traffic_on_target = true;
        p.bake_remaining_ms = Some(45_000);
        assert_eq!(
            summary(&p),
            "web 1 -> 2: PRODUCTION_TRAFFIC_SHIFT, production 40% on 2, test traffic on 2, bake 45 s left"
        );
        p.bake_remaining_ms = Some(330_000);
        p.production_percent = Percent::from_tenths(333);
        p.source = None;
        assert_eq!(
            summary(&p),
            "web -> 2: PRODUCTION_TRAFFIC_SHIFT, production 33.3% on 2, test traffic on 2, bake 5 min 30 s left"
        );
    }

    #[test]
    fn a_countdown_alone_is_not_a_change() {
        let bake = |seconds: u64| RolloutProgress {
            bake_remaining_ms: Some(seconds * 1000),
            ..progress(DeploymentStatus::InProgress, DeploymentStage::BakeTime, 100)
        };
        check(
            false,
            &[bake(120), bake(119), bake(60)],
            &[
                "web: following its LINEAR deployment",
                "web 1 -> 2: BAKE_TIME, production 100% on 2, bake 2 min left",
            ],
        );
    }

    /// A running hook is named with its stage, time and timeout once; its seconds alone are no
    /// change. A CONTINUE timeout stays listed; a ROLLBACK one is the reason.
    #[test]
    fn a_running_hook_and_its_timeout_are_shown() {
        use model::{HookTimedOut, HookTimeoutSpec, LifecycleStage};
        let running = |elapsed_seconds, action| RolloutProgress {
            hook_running: Some(RunningHook {
                hook: "check".into(),
                stage: LifecycleStage::PostScaleUp,
                elapsed_seconds,
                timeout: HookTimeoutSpec {
                    minutes: 1440,
                    action,
                },
                timeout_seconds: 14,
            }),
            ..progress(
                DeploymentStatus::InProgress,
                DeploymentStage::PostScaleUp,
                0,
            )
        };
        let timed_out = |action| HookTimedOut {
            hook: "check".into(),
            stage: LifecycleStage::PostScaleUp,
            minutes: 1440,
            action,
        };
        let continued = RolloutProgress {
            hook_timeouts: vec![timed_out(HookTimeoutAction::Continue)],
            ..progress(
                DeploymentStatus::InProgress,
                DeploymentStage::TestTrafficShift,
                0,
            )
        };
        check(
            false,
            &[
                running(1, HookTimeoutAction::Continue),
                running(9, HookTimeoutAction::Continue),
                continued,
            ],
            &[
                "web: following its LINEAR deployment",
                "web 1 -> 2: POST_SCALE_UP, production 0% on 2, hook check at POST_SCALE_UP running 1.0 s, timeout 1440 min (14 s here) then CONTINUE",
                "web 1 -> 2: TEST_TRAFFIC_SHIFT, production 0% on 2, hook check timed out after 1440 min, action CONTINUE",
            ],
        );
        let rolled_back = RolloutProgress {
            hook_timeouts: vec![timed_out(HookTimeoutAction::Rollback)],
            rollback_reason: Some(timed_out(HookTimeoutAction::Rollback).to_string()),
            ..progress(
                DeploymentStatus::RollbackSuccessful,
                DeploymentStage::PostScaleUp,
                0,
            )
        };
        assert_eq!(
            summary(&rolled_back),
            "web 1 -> 2: ROLLBACK_SUCCESSFUL, production 0% on 2, reason: hook check timed out after 1440 min, action ROLLBACK"
        );
    }

    #[test]
    fn a_pause_names_both_commands_once() {
        let paused = RolloutProgress {
            paused_at: Some(DeploymentStage::PostTestTrafficShift),
            test_traffic_on_target: true,
            ..progress(
                DeploymentStatus::InProgress,
                DeploymentStage::PostTestTrafficShift,
                0,
            )
        };
        check(
            true,
            &[paused.clone(), paused],
            &[
                "web: following its LINEAR deployment",
                "web 1 -> 2: POST_TEST_TRAFFIC_SHIFT, production 0% on 2, test traffic on 2, paused at POST_TEST_TRAFFIC_SHIFT",
                "web waits at POST_TEST_TRAFFIC_SHIFT: run `cargo xtask continue rollout --local` to go on, or `cargo xtask rollback rollout --local` to roll back",
            ],
        );
    }

    #[test]
    fn a_finished_deployment_gets_its_ending_once() {
        let done = progress(DeploymentStatus::Successful, DeploymentStage::CleanUp, 100);
        check(
            false,
            &[done.clone(), done.clone()],
            &[
                "web 1 -> 2: SUCCESSFUL, production 100% on 2",
                "web: rollout to 2 finished, production traffic on 2",
            ],
        );
        assert!(!failed(&done));
        let stopped = RolloutProgress {
            rollback_reason: Some("stopped by a user".into()),
            ..progress(DeploymentStatus::Stopped, DeploymentStage::ScaleUp, 0)
        };
        assert!(failed(&stopped));
        check(
            false,
            &[stopped],
            &[
                "web 1 -> 2: STOPPED, production 0% on 2, reason: stopped by a user",
                "web: deployment stopped: stopped by a user",
            ],
        );
    }

    /// Behind the ALB: the groups get a line when first known and when a revision changes
    /// group, not when only the shares move; the step and the new revision's group are on
    /// every line, and the ending names the group production traffic is on.
    #[test]
    fn the_target_groups_behind_the_alb_are_said_once_and_named_at_the_end() {
        let detail = |step: Option<usize>, source: u32, target_group: &str| Detail {
            step: step.map(|n| StepOf { n, of: 5 }),
            load_balancer: Some(LoadBalancerTraffic {
                production_rule: "9683b2d0".into(),
                test_rule: None,
                source: Some(TargetGroupShare {
                    target_group: "tg-a".into(),
                    revision: "1".into(),
                    production_percent: Percent::whole(source),
                }),
                target: Some(TargetGroupShare {
                    target_group: target_group.into(),
                    revision: "2".into(),
                    production_percent: Percent::whole(100 - source),
                }),
            }),
        };
        let shift = |percent| {
            progress(
                DeploymentStatus::InProgress,
                DeploymentStage::ProductionTrafficShift,
                percent,
            )
        };
        let mut changes = Changes::new(Commands {
            continue_paused: "continue".into(),
            rollback: "rollback".into(),
        });
        let mut lines = changes.lines_with(&shift(20), &detail(Some(1), 80, "tg-b"));
        lines.extend(changes.lines_with(&shift(20), &detail(Some(1), 80, "tg-b")));
        lines.extend(changes.lines_with(&shift(40), &detail(Some(2), 60, "tg-b")));
        lines.extend(changes.lines_with(
            &progress(DeploymentStatus::Successful, DeploymentStage::CleanUp, 100),
            &detail(None, 0, "tg-b"),
        ));
        assert_eq!(
            lines,
            [
                "web: following its LINEAR deployment",
                "web: production rule 9683b2d0: target group tg-a 80% (1), target group tg-b 20% (2)",
                "web 1 -> 2: PRODUCTION_TRAFFIC_SHIFT, step 1/5, production 20% on 2 (target group tg-b)",
                "web 1 -> 2: PRODUCTION_TRAFFIC_SHIFT, step 2/5, production 40% on 2 (target group tg-b)",
                "web 1 -> 2: SUCCESSFUL, production 100% on 2 (target group tg-b)",
                "web: rollout to 2 finished, production traffic on 2 (target group tg-b)",
            ]
        );
        // Without a detail (the local runtime), the same lines as before.
        assert_eq!(
            summary(&shift(40)),
            "web 1 -> 2: PRODUCTION_TRAFFIC_SHIFT, production 40% on 2"
        );
    }

    #[test]
    fn a_summary_shows_each_alarm_against_its_threshold() {
        let mut p = progress(
            DeploymentStatus::InProgress,
            DeploymentStage::ProductionTrafficShift,
            20,
        );
        p.bake_remaining_ms = Some(45_000);
        p.alarms = vec![
            reading(AlarmState::Ok, Some(61)),
            AlarmReading {
                name: "checkout-latency".into(),
                state: AlarmState::InsufficientData,
                threshold_percent: None,
                value_percent: None,
                reason: None,
            },
        ];
        assert_eq!(
            summary(&p),
            "web 1 -> 2: PRODUCTION_TRAFFIC_SHIFT, production 20% on 2, bake 45 s left, alarm rollout-web-error-rate OK 6.1% (threshold 10%), alarm checkout-latency INSUFFICIENT_DATA"
        );
    }

    #[test]
    fn each_period_the_alarm_evaluates_is_a_change() {
        let step = |alarm: AlarmReading, seconds: u64| RolloutProgress {
            alarms: vec![alarm],
            bake_remaining_ms: Some(seconds * 1000),
            ..progress(
                DeploymentStatus::InProgress,
                DeploymentStage::ProductionTrafficShift,
                40,
            )
        };
        let rolled_back = RolloutProgress {
            alarms: vec![reading(AlarmState::Alarm, Some(118))],
            alarms_triggered: vec!["rollout-web-error-rate".into()],
            rollback_reason: Some("alarm rollout-web-error-rate: period 3 (60 s, 1.0 s here): 118 of 1000 answers were 5xx (11.8%), over the threshold of 10% in 1 of 1 periods".into()),
            ..progress(DeploymentStatus::RollbackSuccessful, DeploymentStage::ProductionTrafficShift, 0)
        };
        check(
            true,
            &[
                step(reading(AlarmState::InsufficientData, None), 50),
                step(reading(AlarmState::InsufficientData, None), 40),
                step(reading(AlarmState::Ok, Some(61)), 30),
                rolled_back,
            ],
            &[
                "web: following its LINEAR deployment",
                "web 1 -> 2: PRODUCTION_TRAFFIC_SHIFT, production 40% on 2, bake 50 s left, alarm rollout-web-error-rate INSUFFICIENT_DATA (threshold 10%)",
                "web 1 -> 2: PRODUCTION_TRAFFIC_SHIFT, production 40% on 2, bake 30 s left, alarm rollout-web-error-rate OK 6.1% (threshold 10%)",
                "web 1 -> 2: ROLLBACK_SUCCESSFUL, production 0% on 2, alarm rollout-web-error-rate ALARM 11.8% (threshold 10%), alarms triggered: rollout-web-error-rate, reason: alarm rollout-web-error-rate: period 3 (60 s, 1.0 s here): 118 of 1000 answers were 5xx (11.8%), over the threshold of 10% in 1 of 1 periods",
                "web: rolled back to 1: alarm rollout-web-error-rate: period 3 (60 s, 1.0 s here): 118 of 1000 answers were 5xx (11.8%), over the threshold of 10% in 1 of 1 periods",
            ],
        );
    }
}
