//! The local runtime's ECS deployment engine: one service's LINEAR, CANARY or BLUE_GREEN rollout
//! as a pure state machine over ECS's lifecycle stages (SPEC §10).
//!
//! The supervisor feeds it [`Event`]s (tasks healthy, time passed, a hook's result, `continue`,
//! `rollback`, an alarm) with the time elapsed since the rollout began, performs the [`Action`]s it
//! answers (start the new tasks, run a hook's command, stop a revision), and routes by
//! [`Engine::split`]. [`Engine::progress`] is what `status` shows, in the same
//! [`RolloutProgress`] the AWS watch builds from `DescribeServiceDeployments`. No clock, no I/O:
//! the tests below drive it with made-up times.
//!
//! Decisions (ECS documents the stages, not every corner):
//! - A stage's effect comes first, then its hooks: hooks at `TEST_TRAFFIC_SHIFT` see test traffic
//!   already on the new revision, hooks at `PRODUCTION_TRAFFIC_SHIFT` see the step's share.
//! - Between linear or canary steps the stage stays `PRODUCTION_TRAFFIC_SHIFT` while the step bake
//!   runs (`bake_remaining_ms` counts it down). The steps and bakes are the model's
//!   (`model::Deployment::traffic_steps`): no step bake follows the last step.
//! - Time is scaled: one model minute lasts [`RolloutPlan::minute`] (`--minute`, default 1 s), so
//!   a 6-minute step bake takes 6 s locally. Remaining times are reported in real seconds.
//! - A hook without a timeout gets ECS's default: 1,440 minutes, then ROLLBACK
//!   ([`model::DEFAULT_HOOK_TIMEOUT_MINUTES`], [`model::DEFAULT_HOOK_TIMEOUT_ACTION`]), on the
//!   time scale like every other minute (1,440 s at `--minute 1s`). A timeout is recorded in
//!   [`RolloutProgress::hook_timeouts`]; one whose action is ROLLBACK is also the rollback
//!   reason. A Lambda hook without `localCommand` is left out locally (nothing to run).
//! - A hook command runs while the engine waits on it ([`Engine::hook_run`]): when that stops
//!   for any reason (the command ended, its timeout, a rollback, an alarm), the supervisor stops
//!   the command's whole process group.
//! - Rollback is possible until `CLEAN_UP` starts stopping the old revision.
//! - A new task that exits or fails its health check [`HealthProbes::retries`] times in a row
//!   ([`Event::TaskFailed`]) is what ECS's deployment circuit breaker counts. With the breaker on
//!   and set to roll back (the model's default) the first such task rolls the rollout back: ECS
//!   trips after a threshold of failed tasks (at least 3), but a rehearsal runs one or two tasks
//!   and waiting for three replacements to fail only makes it slower to show the same outcome.
//!   With the breaker off, ECS's scheduler replaces the task and the deployment goes on (alarms,
//!   hooks and the operator can still roll it back): so does the engine
//!   ([`Action::ReplaceNewTask`]). On without rollback, ECS marks the deployment failed and leaves
//!   it; what that means for a deployment that shifts traffic is not documented (SPEC §10), so
//!   locally it is treated as off. A new revision that cannot start at all rolls back either way.
//! - The stack's error-rate alarm is [`alarm::ErrorRateAlarm`], CloudWatch's evaluation of both
//!   revisions' answers per period; the supervisor watches it from the rollout's start until it
//!   ends, during the bake too, as ECS monitors a deployment's alarms, and an alarm that goes into
//!   ALARM arrives here as [`Event::Alarm`].

use std::ops::RangeInclusive;
use std::time::Duration;

use model::{
    Deployment, DeploymentStage as Stage, DeploymentStatus, HookTarget, HookTimedOut,
    HookTimeoutAction, HookTimeoutSpec, LifecycleStage, Percent, RolloutProgress, RunningHook,
    Strategy, StrategyKind,
};
use serde::{Deserialize, Serialize};

/// One model minute locally unless `--minute` says otherwise.
pub const DEFAULT_MINUTE: Duration = Duration::from_secs(1);

/// How long one model minute may last: the one table `--minute`'s parser and the supervisor's
/// apply both check against. Below 1 ms every bake and hook timeout would be zero (the rehearsal
/// is tested down to 1 ms); above one real minute the rehearsal would be slower than ECS itself.
pub const MINUTE: RangeInclusive<Duration> = Duration::from_millis(1)..=Duration::from_secs(60);

/// A model minute outside [`MINUTE`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "one model minute must last from {:?} to {:?} (as long as a real one), got {got:?}: use e.g. 200ms",
    MINUTE.start(),
    MINUTE.end()
)]
pub struct MinuteOutOfRange {
    pub got: Duration,
}

/// `minute` if it lies in [`MINUTE`].
pub fn minute(minute: Duration) -> Result<Duration, MinuteOutOfRange> {
    if MINUTE.contains(&minute) {
        Ok(minute)
    } else {
        Err(MinuteOutOfRange { got: minute })
    }
}

/// What a hook does locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookAction {
    /// Wait for `continue` or `rollback`.
    Pause,
    /// Run this command (the Lambda's stand-in); exit 0 = SUCCEEDED. Empty: nothing to run.
    Command(Vec<String>),
}

impl HookAction {
    /// What `hook` does locally. A Lambda hook runs locally only as its `localCommand`;
    /// without one there is nothing to run here, so it is left out of the plan (`None`; it
    /// still runs on AWS).
    pub fn of(hook: &model::Hook) -> Option<HookAction> {
        match hook.target {
            HookTarget::Pause => Some(HookAction::Pause),
            HookTarget::Lambda { .. } => hook.local_command.clone().map(HookAction::Command),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// What messages call it ([`model::Hook::name`]).
    pub name: String,
    pub stages: Vec<LifecycleStage>,
    pub action: HookAction,
    /// The timeout in force: the hook's own or ECS's default.
    pub timeout: HookTimeoutSpec,
    /// `timeout.minutes` in real time.
    pub timeout_after: Duration,
}

/// Everything the engine needs to know about one rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutPlan {
    pub service: String,
    pub strategy: StrategyKind,
    /// The version serving before, and the one rolling out.
    pub source: String,
    pub target: String,
    /// Each production shift: the share on the new revision after it, then the real time
    /// before the next one (none after the last, except a canary of 100%).
    pub steps: Vec<(Percent, Duration)>,
    pub final_bake: Duration,
    pub hooks: Vec<Hook>,
    /// An alarm breach rolls back (the model's `alarms.rollback`).
    pub alarm_rollback: bool,
    /// More than one revision is active, so ECS runs `RECONCILE_SERVICE` first.
    pub reconcile: bool,
    /// What a new task that exits or stops answering does (the model's circuit breaker).
    pub on_task_failure: TaskFailure,
    pub minute: Duration,
}

/// What a failed new task does to the rollout: ECS's deployment circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskFailure {
    /// The breaker is on with rollback: the rollout rolls back.
    RollBack,
    /// The breaker is off (or on without rollback): a new task takes its place.
    Replace,
}

impl TaskFailure {
    pub fn of(breaker: &model::CircuitBreakerSpec) -> TaskFailure {
        if breaker.enable && breaker.rollback {
            TaskFailure::RollBack
        } else {
            TaskFailure::Replace
        }
    }
}

/// Why a service cannot roll out locally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "service `{0}` deploys ROLLING: only BLUE_GREEN, LINEAR and CANARY shift traffic between revisions"
    )]
    Rolling(String),
}

/// Which revision a rollout starts from and goes to.
#[derive(Debug, Clone, Copy)]
pub struct Revisions<'a> {
    pub service: &'a str,
    pub source: &'a str,
    pub target: &'a str,
}

/// How a new revision of a service reaches production: its traffic shift and the bake after it,
/// in the model's minutes. Shown as `LINEAR 20% every 1 min, bake 2 min` (`diff --local`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollsOut {
    pub shift: TrafficShift,
    pub bake_minutes: u32,
}

/// The traffic-shifting strategies (a rolling update replaces tasks instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "strategy",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum TrafficShift {
    BlueGreen,
    Linear {
        step: Percent,
        step_bake_minutes: u32,
    },
    Canary {
        percent: Percent,
        bake_minutes: u32,
    },
}

impl RollsOut {
    /// How a service deploying as `deployment` rolls out; None for a rolling update.
    pub fn of(deployment: &Deployment) -> Option<RollsOut> {
        let shift = match deployment.strategy {
            Strategy::Rolling => return None,
            Strategy::BlueGreen => TrafficShift::BlueGreen,
            Strategy::Linear {
                step,
                step_bake_minutes,
            } => TrafficShift::Linear {
                step,
                step_bake_minutes,
            },
            Strategy::Canary {
                percent,
                bake_minutes,
            } => TrafficShift::Canary {
                percent,
                bake_minutes,
            },
        };
        Some(RollsOut {
            shift,
            bake_minutes: deployment.bake_minutes.unwrap_or(0),
        })
    }
}

impl std::fmt::Display for RollsOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.shift {
            TrafficShift::BlueGreen => write!(f, "BLUE_GREEN 100% at once")?,
            TrafficShift::Linear {
                step,
                step_bake_minutes,
            } => write!(f, "LINEAR {step}% every {step_bake_minutes} min")?,
            TrafficShift::Canary {
                percent,
                bake_minutes,
            } if percent < Percent::HUNDRED => {
                write!(f, "CANARY {percent}%, the rest {bake_minutes} min later")?;
            }
            TrafficShift::Canary { bake_minutes, .. } => {
                write!(f, "CANARY 100% at once, then {bake_minutes} min")?;
            }
        }
        write!(f, ", bake {} min", self.bake_minutes)
    }
}

/// How a new revision of a service deploying as `deployment` reaches production, in the model's
/// minutes (`LINEAR 20% every 1 min, bake 2 min`); None for a rolling update, which replaces
/// tasks instead of shifting traffic. `diff --local` shows it.
pub fn summary(deployment: &Deployment) -> Option<String> {
    RollsOut::of(deployment).map(|r| r.to_string())
}

impl RolloutPlan {
    /// The plan for rolling `revisions.service` out as `deployment` says, one model minute
    /// lasting `minute`.
    pub fn new(
        revisions: Revisions<'_>,
        deployment: &Deployment,
        minute: Duration,
    ) -> Result<RolloutPlan, PlanError> {
        let strategy = deployment.strategy.kind();
        if !strategy.is_native_shift() {
            return Err(PlanError::Rolling(revisions.service.to_owned()));
        }
        let minutes = |m: u32| minute * m;
        let hooks = deployment
            .hooks
            .iter()
            .filter_map(|h| {
                let action = HookAction::of(h)?;
                let timeout = h.effective_timeout();
                Some(Hook {
                    name: h.name(),
                    stages: h.stages.clone(),
                    action,
                    timeout_after: minutes(timeout.minutes),
                    timeout,
                })
            })
            .collect();
        Ok(RolloutPlan {
            service: revisions.service.to_owned(),
            strategy,
            source: revisions.source.to_owned(),
            target: revisions.target.to_owned(),
            steps: deployment
                .traffic_steps()
                .iter()
                .map(|s| (s.percent, minutes(s.bake_minutes)))
                .collect(),
            final_bake: minutes(deployment.bake_minutes.unwrap_or(0)),
            hooks,
            alarm_rollback: deployment.alarms.as_ref().is_none_or(|a| a.rollback),
            reconcile: false,
            on_task_failure: TaskFailure::of(&deployment.circuit_breaker),
            minute,
        })
    }

    /// The real time the rollout takes when nothing waits on a hook or on task start-up:
    /// the step bakes plus the final bake (`Deployment::total_minutes` in real time).
    pub fn nominal_duration(&self) -> Duration {
        self.steps.iter().map(|(_, bake)| *bake).sum::<Duration>() + self.final_bake
    }
}

/// What happened, as the supervisor tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Time passed (the supervisor sends one at [`Engine::deadline`]).
    Tick,
    /// Every new task answers its health check.
    TasksHealthy,
    /// The new tasks did not start (or a replacement did not).
    TasksFailed { reason: String },
    /// A running new task exited or stopped answering its health check; it is out of routing.
    /// `reason` names the task.
    TaskFailed { reason: String },
    /// A hook command ended; `run` is the id from [`Action::RunHook`].
    HookFinished {
        run: u64,
        outcome: Result<(), String>,
    },
    /// `cargo xtask continue`.
    Continue,
    /// `cargo xtask rollback`.
    Rollback { reason: String },
    /// An alarm the deployment watches went into ALARM; `detail` is its state reason.
    Alarm { name: String, detail: String },
    /// The revision an [`Action::StopOldTasks`] or [`Action::StopNewTasks`] named is gone.
    Stopped,
}

/// What the supervisor must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    StartNewTasks,
    RunHook {
        run: u64,
        /// [`Hook::name`].
        hook: String,
        stage: LifecycleStage,
        command: Vec<String>,
    },
    /// The new revision takes all traffic; stop the old one.
    StopOldTasks,
    /// The old revision takes all traffic; stop the new one.
    StopNewTasks,
    /// Start one more task of the new revision in place of one that failed.
    ReplaceNewTask,
}

/// How production and test traffic split between the revisions right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Split {
    /// Share of production requests the new revision gets.
    pub new: Percent,
    /// Requests marked as test traffic go to the new revision.
    pub test_to_new: bool,
}

impl Split {
    /// Everything on the old revision.
    pub const OLD: Split = Split {
        new: Percent::whole(0),
        test_to_new: false,
    };
}

/// A command the engine cannot follow now; the message is what `cargo xtask` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("nothing to continue: the rollout of {0} is not paused at a hook")]
    NotPaused(String),
    #[error("the rollout of {service} already ended ({status})")]
    Ended {
        service: String,
        status: &'static str,
    },
    #[error(
        "the rollout of {service} is already rolling back{}: nothing more to do, it ends at ROLLBACK_SUCCESSFUL",
        reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
    )]
    RollingBack {
        service: String,
        reason: Option<String>,
    },
    #[error("too late to roll back {0}: the old revision is already being stopped")]
    CleaningUp(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Wait {
    /// Nothing to wait for: run the stage's next hook or move on.
    Ready,
    Healthy,
    /// The hook at the cursor; `run` is 0 for a pause.
    Hook {
        run: u64,
        pause: bool,
        started: Duration,
        deadline: Duration,
    },
    /// Then enter `then` (with the production step it names).
    Bake {
        until: Duration,
        then: (Stage, usize),
    },
    Stopping,
    Done,
}

/// One rollout in progress (or ended).
#[derive(Debug, Clone)]
pub struct Engine {
    plan: RolloutPlan,
    status: DeploymentStatus,
    stage: Stage,
    step: usize,
    split: Split,
    wait: Wait,
    /// The next hook (index into the plan's hooks) to consider at this stage.
    hook_cursor: usize,
    next_run: u64,
    now: Duration,
    rollback_reason: Option<String>,
    alarms_triggered: Vec<String>,
    hook_timeouts: Vec<HookTimedOut>,
    ended_at: Option<Duration>,
    /// Every change of the production share, with when it happened.
    shifts: Vec<Shift>,
}

/// A change of the production share on the new revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shift {
    pub percent: Percent,
    /// Since the rollout began.
    pub at_ms: u64,
}

impl Engine {
    /// A rollout of `plan` starting at time 0, and its first actions.
    pub fn start(plan: RolloutPlan) -> (Engine, Vec<Action>) {
        let first = if plan.reconcile {
            Stage::ReconcileService
        } else {
            Stage::PreScaleUp
        };
        let mut engine = Engine {
            plan,
            status: DeploymentStatus::InProgress,
            stage: first,
            step: 0,
            split: Split::OLD,
            wait: Wait::Ready,
            hook_cursor: 0,
            next_run: 0,
            now: Duration::ZERO,
            rollback_reason: None,
            alarms_triggered: Vec::new(),
            hook_timeouts: Vec::new(),
            ended_at: None,
            shifts: Vec::new(),
        };
        let mut actions = Vec::new();
        engine.enter(first, 0, &mut actions);
        engine.advance(&mut actions);
        (engine, actions)
    }

    pub fn plan(&self) -> &RolloutPlan {
        &self.plan
    }

    pub fn status(&self) -> DeploymentStatus {
        self.status
    }

    pub fn split(&self) -> Split {
        self.split
    }

    /// When the rollout reached its final status.
    pub fn ended_at(&self) -> Option<Duration> {
        self.ended_at
    }

    /// Whether the new revision's tasks may still be asked to start or serve.
    pub fn in_progress(&self) -> bool {
        self.status == DeploymentStatus::InProgress
    }

    /// When the engine wants a [`Event::Tick`] (a bake or a hook timeout ends), if ever.
    pub fn deadline(&self) -> Option<Duration> {
        match &self.wait {
            Wait::Bake { until, .. } => Some(*until),
            Wait::Hook { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }

    /// The hook command run the engine waits on now, if any: its process may run only while
    /// this names it.
    pub fn hook_run(&self) -> Option<u64> {
        match self.wait {
            Wait::Hook {
                run, pause: false, ..
            } if self.status == DeploymentStatus::InProgress => Some(run),
            _ => None,
        }
    }

    /// Applies `event` at `now` (time since the start; never goes back).
    pub fn handle(&mut self, event: Event, now: Duration) -> Result<Vec<Action>, Refused> {
        self.now = self.now.max(now);
        let mut actions = Vec::new();
        match event {
            Event::Tick => self.tick(&mut actions),
            Event::TasksHealthy => {
                if self.wait == Wait::Healthy {
                    self.wait = Wait::Ready;
                }
            }
            Event::TasksFailed { reason } => self.tasks_failed(reason, &mut actions),
            Event::TaskFailed { reason } => match self.plan.on_task_failure {
                TaskFailure::RollBack => self.tasks_failed(reason, &mut actions),
                TaskFailure::Replace if self.new_tasks_wanted() => {
                    actions.push(Action::ReplaceNewTask);
                }
                TaskFailure::Replace => {}
            },
            Event::HookFinished { run, outcome } => self.hook_finished(run, outcome, &mut actions),
            Event::Continue => match self.wait {
                Wait::Hook { pause: true, .. } => self.hook_done(),
                _ => return Err(Refused::NotPaused(self.plan.service.clone())),
            },
            Event::Rollback { reason } => {
                self.check_can_roll_back()?;
                self.roll_back(reason, &mut actions);
            }
            Event::Alarm { name, detail } => self.alarm(name, detail, &mut actions),
            Event::Stopped => {
                if self.wait == Wait::Stopping {
                    self.wait = Wait::Done;
                    self.ended_at = Some(self.now);
                    self.status = match self.status {
                        DeploymentStatus::RollbackInProgress => {
                            DeploymentStatus::RollbackSuccessful
                        }
                        _ => DeploymentStatus::Successful,
                    };
                }
            }
        }
        self.advance(&mut actions);
        Ok(actions)
    }

    /// Whether the new revision still takes part: in progress and not cleaning up.
    fn new_tasks_wanted(&self) -> bool {
        self.status == DeploymentStatus::InProgress && self.wait != Wait::Stopping
    }

    fn tasks_failed(&mut self, reason: String, actions: &mut Vec<Action>) {
        if self.new_tasks_wanted() {
            self.roll_back(format!("the new tasks are not healthy: {reason}"), actions);
        }
    }

    fn check_can_roll_back(&self) -> Result<(), Refused> {
        if self.status == DeploymentStatus::RollbackInProgress {
            return Err(Refused::RollingBack {
                service: self.plan.service.clone(),
                reason: self.rollback_reason.clone(),
            });
        }
        if self.status.is_terminal() {
            return Err(Refused::Ended {
                service: self.plan.service.clone(),
                status: self.status.as_str(),
            });
        }
        if self.stage == Stage::CleanUp {
            return Err(Refused::CleaningUp(self.plan.service.clone()));
        }
        Ok(())
    }

    fn tick(&mut self, actions: &mut Vec<Action>) {
        let Wait::Hook { deadline, .. } = self.wait else {
            return;
        };
        let (Some(hook), Some(stage)) = (
            self.plan.hooks.get(self.hook_cursor),
            hook_stage(self.stage),
        ) else {
            return;
        };
        if self.now < deadline {
            return;
        }
        let timed_out = HookTimedOut {
            hook: hook.name.clone(),
            stage,
            minutes: hook.timeout.minutes,
            action: hook.timeout.action,
        };
        let reason = timed_out.to_string();
        self.hook_timeouts.push(timed_out);
        match hook.timeout.action {
            HookTimeoutAction::Continue => self.hook_done(),
            HookTimeoutAction::Rollback => self.roll_back(reason, actions),
        }
    }

    fn hook_finished(&mut self, run: u64, outcome: Result<(), String>, actions: &mut Vec<Action>) {
        let Wait::Hook {
            run: waiting,
            pause: false,
            ..
        } = self.wait
        else {
            return;
        };
        if waiting != run {
            return; // a hook whose timeout already decided
        }
        match outcome {
            Ok(()) => self.hook_done(),
            Err(detail) => {
                let reason = format!(
                    "the lifecycle hook at {} failed: {detail}",
                    self.stage.as_str()
                );
                self.roll_back(reason, actions);
            }
        }
    }

    fn hook_done(&mut self) {
        self.wait = Wait::Ready;
        self.hook_cursor += 1;
    }

    fn alarm(&mut self, name: String, detail: String, actions: &mut Vec<Action>) {
        if self.status != DeploymentStatus::InProgress || self.stage == Stage::CleanUp {
            return;
        }
        if !self.alarms_triggered.contains(&name) {
            self.alarms_triggered.push(name.clone());
        }
        if self.plan.alarm_rollback {
            self.roll_back(format!("alarm {name}: {detail}"), actions);
        }
    }

    /// Records the production share now, when it changed.
    fn record_shift(&mut self) {
        let last = self.shifts.last().map_or(Percent::whole(0), |s| s.percent);
        if last != self.split.new {
            self.shifts.push(Shift {
                percent: self.split.new,
                at_ms: millis(self.now),
            });
        }
    }

    /// One swap back to the old revision, then stop the new one.
    fn roll_back(&mut self, reason: String, actions: &mut Vec<Action>) {
        self.status = DeploymentStatus::RollbackInProgress;
        self.rollback_reason = Some(reason);
        self.split = Split::OLD;
        self.record_shift();
        self.wait = Wait::Stopping;
        actions.push(Action::StopNewTasks);
    }

    /// Sets `stage` and performs its effect.
    fn enter(&mut self, stage: Stage, step: usize, actions: &mut Vec<Action>) {
        self.stage = stage;
        self.step = step;
        self.hook_cursor = 0;
        self.wait = Wait::Ready;
        match stage {
            Stage::ScaleUp => {
                actions.push(Action::StartNewTasks);
                self.wait = Wait::Healthy;
            }
            Stage::TestTrafficShift => self.split.test_to_new = true,
            Stage::ProductionTrafficShift => {
                self.split.new = self
                    .plan
                    .steps
                    .get(step)
                    .map_or(Percent::HUNDRED, |(percent, _)| *percent);
                self.record_shift();
            }
            Stage::BakeTime => {
                self.wait = Wait::Bake {
                    until: self.now + self.plan.final_bake,
                    then: (Stage::CleanUp, step),
                };
            }
            Stage::CleanUp => {
                actions.push(Action::StopOldTasks);
                self.wait = Wait::Stopping;
            }
            _ => {}
        }
    }

    /// Moves on until something must be waited for.
    fn advance(&mut self, actions: &mut Vec<Action>) {
        loop {
            match self.wait.clone() {
                Wait::Healthy | Wait::Hook { .. } | Wait::Stopping | Wait::Done => return,
                Wait::Bake { until, then } => {
                    if self.now < until {
                        return;
                    }
                    self.enter(then.0, then.1, actions);
                }
                Wait::Ready => {
                    if !self.start_next_hook(actions) {
                        self.next_stage(actions);
                    }
                }
            }
        }
    }

    /// Starts the stage's next hook, if any is left; false when the stage has none left.
    fn start_next_hook(&mut self, actions: &mut Vec<Action>) -> bool {
        let Some(stage) = hook_stage(self.stage) else {
            return false;
        };
        while let Some(hook) = self.plan.hooks.get(self.hook_cursor) {
            if !hook.stages.contains(&stage) {
                self.hook_cursor += 1;
                continue;
            }
            let deadline = self.now + hook.timeout_after;
            match &hook.action {
                HookAction::Command(command) => {
                    self.next_run += 1;
                    actions.push(Action::RunHook {
                        run: self.next_run,
                        hook: hook.name.clone(),
                        stage,
                        command: command.clone(),
                    });
                    self.wait = Wait::Hook {
                        run: self.next_run,
                        pause: false,
                        started: self.now,
                        deadline,
                    };
                }
                HookAction::Pause => {
                    self.wait = Wait::Hook {
                        run: 0,
                        pause: true,
                        started: self.now,
                        deadline,
                    };
                }
            }
            return true;
        }
        false
    }

    fn next_stage(&mut self, actions: &mut Vec<Action>) {
        let (next, step) = match self.stage {
            Stage::ReconcileService => (Stage::PreScaleUp, 0),
            Stage::PreScaleUp => (Stage::ScaleUp, 0),
            Stage::ScaleUp => (Stage::PostScaleUp, 0),
            Stage::PostScaleUp => (Stage::TestTrafficShift, 0),
            Stage::TestTrafficShift => (Stage::PostTestTrafficShift, 0),
            Stage::PostTestTrafficShift => (Stage::PreProductionTrafficShift, 0),
            Stage::PreProductionTrafficShift => (Stage::ProductionTrafficShift, self.step),
            Stage::ProductionTrafficShift => {
                let bake = self
                    .plan
                    .steps
                    .get(self.step)
                    .map_or(Duration::ZERO, |s| s.1);
                let then = if self.step + 1 < self.plan.steps.len() {
                    (Stage::PreProductionTrafficShift, self.step + 1)
                } else {
                    (Stage::PostProductionTrafficShift, self.step)
                };
                self.wait = Wait::Bake {
                    until: self.now + bake,
                    then,
                };
                return;
            }
            Stage::PostProductionTrafficShift => (Stage::BakeTime, self.step),
            // Both wait for something else; `advance` never gets here with them.
            Stage::BakeTime | Stage::CleanUp => return,
        };
        self.enter(next, step, actions);
    }

    /// What `status` shows at `now`.
    pub fn progress(&self, now: Duration) -> RolloutProgress {
        let now = self.now.max(now);
        let bake_remaining_ms = match self.wait {
            // Rounded up: a bake that has not ended never reads 0.
            Wait::Bake { until, .. } => Some(
                u64::try_from(until.saturating_sub(now).as_nanos().div_ceil(1_000_000))
                    .unwrap_or(u64::MAX),
            ),
            _ => None,
        };
        RolloutProgress {
            service: self.plan.service.clone(),
            status: self.status,
            strategy: self.plan.strategy,
            stage: Some(self.stage),
            source: Some(self.plan.source.clone()),
            target: Some(self.plan.target.clone()),
            production_percent: self.split.new,
            test_traffic_on_target: self.split.test_to_new,
            bake_remaining_ms,
            alarms_triggered: self.alarms_triggered.clone(),
            rollback_reason: self.rollback_reason.clone(),
            paused_at: match self.wait {
                Wait::Hook { pause: true, .. } => Some(self.stage),
                _ => None,
            },
            alarms: Vec::new(),
            hook_running: self.running_hook(now),
            hook_timeouts: self.hook_timeouts.clone(),
            step: match self.status {
                DeploymentStatus::InProgress => model::StepOf::of(
                    &self.plan.steps.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
                    self.split.new,
                ),
                _ => None,
            },
            // The supervisor counts the answers; the engine only routes them.
            observed_percent: None,
            // The supervisor knows the tasks.
            revisions: Vec::new(),
            hook_waiting: self.waiting_hook(now),
            // The engine keeps model time only; the supervisor adds its wall clock's start.
            started_at_ms: None,
        }
    }

    /// The pause hook the engine waits on at `now`, with the time left before its timeout.
    fn waiting_hook(&self, now: Duration) -> Option<model::WaitingHook> {
        let Wait::Hook {
            pause: true,
            deadline,
            ..
        } = self.wait
        else {
            return None;
        };
        let hook = self.plan.hooks.get(self.hook_cursor)?;
        Some(model::WaitingHook {
            hook: hook.name.clone(),
            remaining_ms: Some(
                u64::try_from(deadline.saturating_sub(now).as_nanos().div_ceil(1_000_000))
                    .unwrap_or(u64::MAX),
            ),
            timeout_action: Some(hook.timeout.action),
        })
    }

    /// The hook command the engine waits on at `now`, for `status`.
    fn running_hook(&self, now: Duration) -> Option<RunningHook> {
        let Wait::Hook { started, .. } = self.wait else {
            return None;
        };
        self.hook_run()?;
        let hook = self.plan.hooks.get(self.hook_cursor)?;
        Some(RunningHook {
            hook: hook.name.clone(),
            stage: hook_stage(self.stage)?,
            elapsed_seconds: now.saturating_sub(started).as_secs(),
            timeout: hook.timeout.clone(),
            timeout_seconds: hook.timeout_after.as_secs_f64().ceil() as u64,
        })
    }
}

/// What `status` shows about the local runtime's rollout: the shared progress plus the local
/// time scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalRollout {
    pub progress: RolloutProgress,
    /// How long one model minute lasts (`--minute`), in milliseconds.
    pub minute_ms: u64,
    /// The production share on the new revision after each shift.
    pub steps: Vec<Percent>,
    /// Since the rollout began.
    pub elapsed_ms: u64,
    /// What its bakes add up to ([`RolloutPlan::nominal_duration`]).
    pub nominal_ms: u64,
    /// When it reached its final status, since it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<u64>,
    /// Every change of the production share so far, in order: what a display or a test that
    /// polls the status may have missed between two polls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shifts: Vec<Shift>,
    /// The error-rate alarm's evaluated periods, oldest first (the last [`alarm::HISTORY`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarm_datapoints: Vec<alarm::Datapoint>,
    /// The log file of the last hook command this rollout ran (the supervisor's to fill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_log: Option<std::path::PathBuf>,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Engine {
    /// The status view at `now`.
    pub fn local_status(&self, now: Duration) -> LocalRollout {
        LocalRollout {
            progress: self.progress(now),
            minute_ms: millis(self.plan.minute),
            steps: self.plan.steps.iter().map(|(p, _)| *p).collect(),
            elapsed_ms: millis(self.ended_at.unwrap_or(now)),
            nominal_ms: millis(self.plan.nominal_duration()),
            ended_ms: self.ended_at.map(millis),
            shifts: self.shifts.clone(),
            alarm_datapoints: Vec::new(),
            hook_log: None,
        }
    }
}

/// The hook stage of a deployment stage (SCALE_UP, BAKE_TIME and CLEAN_UP take no hooks).
fn hook_stage(stage: Stage) -> Option<LifecycleStage> {
    Some(match stage {
        Stage::ReconcileService => LifecycleStage::ReconcileService,
        Stage::PreScaleUp => LifecycleStage::PreScaleUp,
        Stage::PostScaleUp => LifecycleStage::PostScaleUp,
        Stage::TestTrafficShift => LifecycleStage::TestTrafficShift,
        Stage::PostTestTrafficShift => LifecycleStage::PostTestTrafficShift,
        Stage::PreProductionTrafficShift => LifecycleStage::PreProductionTrafficShift,
        Stage::ProductionTrafficShift => LifecycleStage::ProductionTrafficShift,
        Stage::PostProductionTrafficShift => LifecycleStage::PostProductionTrafficShift,
        Stage::ScaleUp | Stage::BakeTime | Stage::CleanUp => return None,
    })
}

/// How the supervisor checks the new revision's tasks while a rollout runs: the service's
/// container health check (`healthCheck` in the model, ECS's defaults of 30 s, 5 s and 3
/// retries without one) on the rollout's time scale.
///
/// The interval is scaled like the bakes (ECS's 10 s is a sixth of a model minute: 167 ms at
/// `--minute 1s`), but never below [`HealthProbes::MIN_INTERVAL`], so a short minute does not
/// turn the probes into load. The timeout is scaled too but never below
/// [`HealthProbes::MIN_TIMEOUT`], the start-up check's: how fast a process answers on loopback
/// does not shrink with the time scale, and a debug demo-app on a busy two-core machine can take
/// hundreds of milliseconds. A hung task is found after `retries` probes, about
/// `retries x (timeout + interval)`: 3.5 s with the demo health check at `--minute 1s`, inside
/// the rollout app's 6 s rollout (a 2 s floor made it 6.5 s, after the rollout had already
/// succeeded on the hung task).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthProbes {
    pub interval: Duration,
    pub timeout: Duration,
    /// Failures in a row that make a task unhealthy.
    pub retries: u32,
}

impl HealthProbes {
    pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
    /// The least a probe waits for an answer (the start-up check's timeout per probe).
    pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);

    /// The probes for a service with `check`, one model minute lasting `minute`.
    pub fn new(check: Option<&model::HealthCheckSpec>, minute: Duration) -> HealthProbes {
        let (interval, timeout, retries) = check.map_or((30, 5, 3), |c| {
            (c.interval_seconds, c.timeout_seconds, c.retries)
        });
        let scaled = |seconds: u32| minute * seconds / 60;
        HealthProbes {
            interval: scaled(interval).max(HealthProbes::MIN_INTERVAL),
            timeout: scaled(timeout).max(HealthProbes::MIN_TIMEOUT),
            retries: retries.max(1),
        }
    }
}

/// Each new task's failed health probes in a row.
#[derive(Debug, Clone)]
pub struct ProbeTally {
    retries: u32,
    failures: std::collections::BTreeMap<String, u32>,
}

impl ProbeTally {
    pub fn new(retries: u32) -> ProbeTally {
        ProbeTally {
            retries: retries.max(1),
            failures: std::collections::BTreeMap::new(),
        }
    }

    /// Records one probe of `task` (`Err`: what went wrong); returns why the task is unhealthy
    /// when this was its `retries`-th failure in a row. A success starts the count again.
    pub fn record(&mut self, task: &str, outcome: Result<(), String>) -> Option<String> {
        let detail = match outcome {
            Ok(()) => {
                self.failures.remove(task);
                return None;
            }
            Err(detail) => detail,
        };
        let count = self.failures.entry(task.to_owned()).or_insert(0);
        *count += 1;
        if *count < self.retries {
            return None;
        }
        self.failures.remove(task);
        Some(format!(
            "{task} stopped answering its health check ({} in a row, the last: {detail})",
            self.retries
        ))
    }

    /// Forgets the tasks not in `tasks` (stopped or handed over).
    pub fn keep_only<'a>(&mut self, tasks: impl IntoIterator<Item = &'a str>) {
        let keep: std::collections::BTreeSet<&str> = tasks.into_iter().collect();
        self.failures.retain(|task, _| keep.contains(task.as_str()));
    }
}

pub mod alarm;

#[cfg(test)]
mod tests;
