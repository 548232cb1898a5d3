//! Driving a rollout: the supervisor's side of the pure engine in [`local_runtime::rollout`].
//!
//! An apply that gives a service with a BLUE_GREEN, LINEAR or CANARY strategy a new task
//! definition does not replace its tasks: it starts a rollout and returns. One driver task per
//! rollout feeds the engine its events (the new tasks' health, a hook command's exit, a bake's
//! end, an alarm, `continue`/`rollback` from the control API), performs the actions it answers
//! and publishes a new routing snapshot after each step, so traffic moves only by whole-snapshot
//! swaps. Success hands the service to the new revision (model, plan and tasks) and stops the
//! old tasks; rollback swaps all traffic back to the old revision, then stops the new tasks.
//! Either way a retired task is drained before it gets SIGTERM, as in an apply.
//!
//! A hook command ([`super::hook`]) runs only while the engine waits on it
//! ([`Engine::hook_run`]): after every step, a hook the engine no longer names (it ended, timed
//! out with either action, or the rollout rolled back) has its process group stopped.
//!
//! While it runs, the new revision's tasks are probed as at start-up (`GET /` answering 200), on
//! the service's health check scaled to the rollout's minute ([`HealthProbes`]): a task that
//! fails its probes [`HealthProbes::retries`] times in a row is taken out of routing and stopped,
//! and the engine hears about it exactly as about a task that exited ([`Event::TaskFailed`]).
//!
//! The stack's error-rate alarm of the service is watched from the rollout's start until it
//! ends (its bake included: ECS monitors a deployment's alarms until then,
//! <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html>):
//! the proxy counts the answers callers get through Service Connect ([`AlarmWatch`]), and a
//! watcher evaluates it at each period's end and tells the engine when it goes into ALARM.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use model::{Stack, StackSpec};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::hook::{HookProcess, HookStart};
use super::plane::AlarmWatch;
use super::routing::endpoint;
use super::task::{self, Exited, RunningTask};
use super::{ApplyError, Inner, STOP_GRACE, Supervisor, drain, stop_all};
use crate::wire::{WireRollout, WireRule};
use local_runtime::control::{ApplyAction, RolloutCommand};
use local_runtime::plan::{GatewayRoutePlan, GatewayTarget, LocalPlan, NameSource, NameTarget};
use local_runtime::rollout::alarm::{Counted, ErrorRateAlarm};
use local_runtime::rollout::{
    Action, DEFAULT_MINUTE, Engine, Event, HealthProbes, LocalRollout, ProbeTally, Refused,
    Revisions, RolloutPlan,
};

/// The least time between two evaluations of an alarm: a period shorter than this (a tiny
/// `--minute`) is evaluated in batches instead of waking the supervisor more often.
const MIN_ALARM_TICK: Duration = Duration::from_millis(20);

/// A message to a rollout's driver.
#[derive(Debug)]
enum Msg {
    Event(Event),
    Command(Event, oneshot::Sender<Result<(), Refused>>),
}

/// Which new tasks to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NewStart {
    /// The whole revision, at SCALE_UP.
    Revision,
    /// One task in place of one that failed.
    Replacement,
}

/// One rollout, in progress or ended (kept so `status` shows how it ended).
#[derive(Debug)]
pub(super) struct RolloutRun {
    engine: Engine,
    started: Instant,
    /// The wall clock when it began, in milliseconds since the Unix epoch: a wait for a
    /// rollout started since a given time compares it (as ECS's `createdAt` on AWS).
    started_at_ms: u64,
    service: String,
    /// The model and plan that run once the rollout succeeds.
    target_spec: StackSpec,
    target_plan: Arc<LocalPlan>,
    health_timeout: Duration,
    pub(super) new_tasks: Vec<RunningTask>,
    alarm: Option<Arc<AlarmWatch>>,
    messages: mpsc::UnboundedSender<Msg>,
    /// The hook commands started and not yet told to stop.
    hooks: Vec<HookProcess>,
    /// The last hook command's log.
    hook_log: Option<std::path::PathBuf>,
}

impl RolloutRun {
    pub(super) fn status(&self) -> LocalRollout {
        let mut status = self.engine.local_status(self.started.elapsed());
        status.progress.started_at_ms = Some(self.started_at_ms);
        if let Some(alarm) = &self.alarm {
            status.progress.alarms = vec![alarm.reading()];
            status.alarm_datapoints = alarm.history();
            status.progress.observed_percent = alarm.observed();
        }
        status.hook_log.clone_from(&self.hook_log);
        status
    }

    /// The hook commands the engine no longer waits on, to stop.
    fn hooks_done(&mut self) -> Vec<HookProcess> {
        let waited = self.engine.hook_run();
        let (keep, done) = std::mem::take(&mut self.hooks)
            .into_iter()
            .partition(|h| Some(h.run) == waited);
        self.hooks = keep;
        done
    }

    /// Every hook command, to stop (the supervisor is stopping).
    pub(super) fn take_hooks(&mut self) -> Vec<HookProcess> {
        std::mem::take(&mut self.hooks)
    }

    /// The hook commands running, as their process groups' leaders (`applied.json` keeps them).
    pub(super) fn hook_groups(&self) -> Vec<local_runtime::process::ProcessId> {
        self.hooks.iter().filter_map(|h| h.leader.clone()).collect()
    }

    pub(super) fn in_progress(&self) -> bool {
        !self.engine.status().is_terminal()
    }

    pub(super) fn service(&self) -> &str {
        &self.service
    }
}

/// The routes of the rollout in `inner`, for the snapshot: only while the new revision has
/// tasks and the rollout has not ended.
pub(super) fn routes(inner: &Inner) -> BTreeMap<String, WireRollout> {
    let Some(run) = inner.rollout.as_ref() else {
        return BTreeMap::new();
    };
    if !run.engine.in_progress() || run.new_tasks.is_empty() {
        return BTreeMap::new();
    }
    let route = WireRollout {
        split: run.engine.split(),
        test_rule: run.target_plan.test_rule(&run.service).map(|r| WireRule {
            header: r.header.clone(),
            value: r.value.clone(),
        }),
        new: run.new_tasks.iter().map(endpoint).collect(),
    };
    BTreeMap::from([(run.service.clone(), route)])
}

/// The alarm the rollout in `inner` watches, for the snapshot: from its start until it ends,
/// whether or not the new revision has tasks yet (the alarm counts both revisions).
pub(super) fn alarms(inner: &Inner) -> HashMap<String, Arc<AlarmWatch>> {
    let Some(run) = inner.rollout.as_ref().filter(|r| r.engine.in_progress()) else {
        return HashMap::new();
    };
    run.alarm
        .iter()
        .map(|alarm| (run.service.clone(), Arc::clone(alarm)))
        .collect()
}

/// The one service this apply rolls out instead of replacing its tasks, if any: a running
/// service with a traffic-shifting strategy whose task definition changes. Whatever else the
/// apply changes goes first ([`as_it_runs`]). Refused when it rolls out two services at once,
/// or takes away a name or gateway rule that reaches the service it rolls out
/// ([`ways_in`]).
pub(super) fn rollout_service(
    old: Option<&LocalPlan>,
    new: &LocalPlan,
    stack: &Stack,
) -> Result<Option<String>, ApplyError> {
    let Some(old) = old else {
        return Ok(None); // a first deploy starts everything
    };
    let shifting: Vec<&str> = stack
        .spec()
        .services
        .iter()
        .filter(|svc| stack.deployment(svc).strategy.kind().is_native_shift())
        .filter(
            |svc| match (old.service(&svc.name), new.service(&svc.name)) {
                (Some(before), Some(after)) => before.needs_new_tasks(after),
                _ => false,
            },
        )
        .map(|svc| svc.name.as_str())
        .collect();
    let service = match shifting.as_slice() {
        [] => return Ok(None),
        [one] => (*one).to_owned(),
        many => {
            // ECS deploys two services side by side; the local runtime follows one rollout
            // (one engine, one alarm, one set of new tasks) at a time.
            return Err(ApplyError::Conflict(format!(
                "this deploy rolls out {} at once: the local runtime rolls out one service at a time; deploy the new version of one of them first, then the other",
                many.join(" and ")
            )));
        }
    };
    let kept = ways_in(new, &service);
    let lost: Vec<String> = ways_in(old, &service)
        .into_iter()
        .filter(|way| !kept.contains(way))
        .collect();
    if !lost.is_empty() {
        return Err(ApplyError::Conflict(format!(
            "this deploy removes or renames {} of {service} while rolling {service} out: the local runtime routes both revisions of a rolling service by the same names and rules; deploy that change first, with {service} as it runs, then the new version",
            lost.join(", ")
        )));
    }
    Ok(Some(service))
}

/// How callers reach `service` in `plan`: the mesh names that lead to it (Service Connect
/// client aliases, App Mesh virtual services, Cloud Map records) and the gateway rules that
/// forward to it alone (an ALB rule with one target: the production rule of a service that
/// shifts at the ALB; an App Mesh gateway route to one of its virtual services). A weighted rule
/// across several services (the gateway app's `/split`) is not one of them: a strategy that
/// shifts at the ALB leaves it out (README "Rolling out a service behind the gateway").
fn ways_in(plan: &LocalPlan, service: &str) -> BTreeSet<String> {
    let target = NameTarget::Service(service.to_owned());
    let names = plan
        .names()
        .filter(|n| n.target == target)
        .map(|n| format!("mesh name {}:{}", n.name, n.port));
    let reaches = |route: &GatewayRoutePlan| match &route.target {
        GatewayTarget::Alb { targets, .. } => {
            matches!(targets.as_slice(), [(one, _)] if one == service)
        }
        GatewayTarget::VirtualService { name } => plan.names().any(|n| {
            &n.name == name && n.source == NameSource::VirtualService && n.target == target
        }),
    };
    let rules = plan
        .gateway()
        .into_iter()
        .flat_map(|g| &g.routes)
        .filter(|r| reaches(r))
        .map(|r| format!("gateway route {} ({})", r.name, r.prefix));
    names.chain(rules).collect()
}

/// What runs while `service` rolls out of what runs (`running_spec`, `running`) into `new`:
/// the new description with `service` as it runs. Its task definition (image, version,
/// environment, size, health check, local program) stays the running revision's, so its tasks
/// are left alone; everything else is `new`'s, its own deployment configuration included, so
/// the rollout goes by the new strategy and the new rules (the production rule's test rule).
/// The apply brings everything to this first, all or nothing, then starts the rollout; a
/// rollback comes back to it. On AWS the same change is one stack update: CloudFormation
/// updates a resource after the ones it references (the listener rules and target groups before
/// the service, <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html>),
/// and one `UpdateService` takes the new strategy, the load balancer's advanced configuration
/// and the new task definition together, ECS then deploying the new revision with the new
/// configuration (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/update-rolling-to-bluegreen.html>).
pub(super) fn as_it_runs(
    running_spec: &StackSpec,
    running: &LocalPlan,
    new: &Stack,
    service: &str,
) -> Result<(StackSpec, LocalPlan), ApplyError> {
    let mut spec = new.spec().clone();
    let revision = running_spec.services.iter().find(|s| s.name == service);
    if let (Some(svc), Some(old)) = (
        spec.services.iter_mut().find(|s| s.name == service),
        revision,
    ) {
        svc.image.clone_from(&old.image);
        svc.version.clone_from(&old.version);
        svc.environment.clone_from(&old.environment);
        svc.cpu = old.cpu;
        svc.memory_mib = old.memory_mib;
        svc.health_check.clone_from(&old.health_check);
        svc.local.clone_from(&old.local);
    }
    let stack = Stack::new(spec).map_err(|errors| {
        let problems: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        ApplyError::Conflict(format!(
            "the new description with {service} as it runs does not validate ({}): deploy the other changes first, with {service} as it runs, then the new version",
            problems.join("; ")
        ))
    })?;
    let plan = LocalPlan::from_stack(&stack).with_tasks_of(running, service);
    Ok((stack.into_spec(), plan))
}

/// What starting a rollout needs from the apply.
#[derive(Debug)]
pub(super) struct Start<'a> {
    pub service: String,
    pub stack: &'a Stack,
    pub plan: Arc<LocalPlan>,
    pub minute: Option<Duration>,
    pub health_timeout: Duration,
}

impl Supervisor {
    /// Starts rolling `start.service` out to `start.plan`; returns the apply's action lines.
    pub(super) fn start_rollout(
        self: &Arc<Self>,
        inner: &mut Inner,
        start: Start<'_>,
    ) -> Result<Vec<ApplyAction>, ApplyError> {
        let service = start.service;
        let spec = start
            .stack
            .spec()
            .services
            .iter()
            .find(|s| s.name == service)
            .ok_or_else(|| ApplyError::Invalid(format!("no service `{service}`")))?;
        let deployment = start.stack.deployment(spec);
        let source = inner
            .routing
            .plan
            .as_ref()
            .and_then(|p| p.service(&service))
            .map(|s| s.version.clone())
            .unwrap_or_default();
        // `apply` refused a minute outside `rollout::MINUTE` already.
        let minute = start.minute.unwrap_or(DEFAULT_MINUTE);
        let revisions = Revisions {
            service: &service,
            source: &source,
            target: &spec.version,
        };
        let plan = RolloutPlan::new(revisions, &deployment, minute)
            .map_err(|e| ApplyError::Conflict(e.to_string()))?;
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let summary = ApplyAction::RollingOut {
            service: service.clone(),
            version: spec.version.clone(),
            over_version: source.clone(),
            strategy: plan.strategy,
            production_steps: plan.steps.iter().map(|(p, _)| *p).collect(),
            minute_ms: millis(minute),
            bakes_ms: millis(plan.nominal_duration()),
        };
        let (messages, inbox) = mpsc::unbounded_channel();
        let started = Instant::now();
        let started_at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // What the stack's alarm reads: the callers' Service Connect counts, or the ALB's
        // target groups for a service that shifts traffic at the gateway (`Counted`).
        let counted = Counted::of(start.stack, spec);
        let alarm = deployment
            .alarms
            .as_ref()
            .and_then(|a| a.error_rate.as_ref())
            .zip(counted)
            .map(|(rate, counted)| {
                let name = format!("{}-{service}-error-rate", self.config.stack);
                Arc::new(AlarmWatch::new(
                    service.clone(),
                    counted,
                    ErrorRateAlarm::new(name, rate, minute),
                    started,
                ))
            });
        if let Some(alarm) = &alarm {
            tokio::spawn(Arc::clone(self).watch_alarm(Arc::clone(alarm), messages.clone()));
        }
        let probes = HealthProbes::new(spec.health_check.as_ref(), minute);
        tokio::spawn(Arc::clone(self).watch_health(probes, messages.clone()));
        let (engine, actions) = Engine::start(plan);
        inner.rollout = Some(RolloutRun {
            engine,
            started,
            started_at_ms,
            service,
            target_spec: start.stack.spec().clone(),
            target_plan: start.plan,
            health_timeout: start.health_timeout,
            new_tasks: Vec::new(),
            alarm,
            messages,
            hooks: Vec::new(),
            hook_log: None,
        });
        let retiring = self.perform(inner, actions);
        self.publish(inner);
        self.retire_then_report(retiring);
        tokio::spawn(Arc::clone(self).drive(inbox));
        Ok(vec![summary])
    }

    /// Applies one event to the rollout and does what the engine answers.
    async fn rollout_step(self: &Arc<Self>, event: Event) -> Result<(), Refused> {
        let mut inner = self.inner.lock().await;
        let Some(run) = inner.rollout.as_mut() else {
            return Ok(());
        };
        let before = run.engine.progress(Duration::ZERO);
        let actions = run.engine.handle(event, run.started.elapsed())?;
        let after = run.engine.progress(Duration::ZERO);
        if (before.stage, before.status, before.production_percent)
            != (after.stage, after.status, after.production_percent)
        {
            tracing::info!(
                service = %after.service,
                stage = after.stage.map_or("-", |s| s.as_str()),
                status = after.status.as_str(),
                production = %after.production_percent,
                test = after.test_traffic_on_target,
                reason = after.rollback_reason.as_deref().unwrap_or(""),
                "rollout"
            );
        }
        let retiring = self.perform(&mut inner, actions);
        stop_hooks_done(&mut inner);
        self.publish(&inner);
        self.retire_then_report(retiring);
        Ok(())
    }

    /// Runs the rollout's events until it ends.
    async fn drive(self: Arc<Self>, mut inbox: mpsc::UnboundedReceiver<Msg>) {
        loop {
            let deadline = {
                let inner = self.inner.lock().await;
                match inner.rollout.as_ref() {
                    Some(run) if run.in_progress() => {
                        run.engine.deadline().map(|d| run.started + d)
                    }
                    _ => return,
                }
            };
            let bake_end = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let msg = tokio::select! {
                msg = inbox.recv() => match msg {
                    Some(msg) => msg,
                    None => return,
                },
                () = bake_end => {
                    self.evaluate_alarm_first().await;
                    Msg::Event(Event::Tick)
                }
            };
            match msg {
                Msg::Event(event) => {
                    // Only commands can be refused.
                    let _ = self.rollout_step(event).await;
                }
                Msg::Command(event, reply) => {
                    let _ = reply.send(self.rollout_step(event).await);
                }
            }
        }
    }

    /// Evaluates the rollout's alarm for the periods that ended before the bake that ends now, so
    /// the engine hears of them first: events reach it in the order they happened, whichever of
    /// the two timers woke first. A step and a period of the same length end a few
    /// milliseconds apart (the steps start once the new tasks are healthy, the periods with the
    /// rollout).
    async fn evaluate_alarm_first(self: &Arc<Self>) {
        let alarm = {
            let inner = self.inner.lock().await;
            inner.rollout.as_ref().and_then(|run| run.alarm.clone())
        };
        let Some(alarm) = alarm else {
            return;
        };
        if let Some(detail) = alarm.evaluate(&self.plane).await {
            tracing::warn!(alarm = %alarm.name(), %detail, "alarm");
            let event = Event::Alarm {
                name: alarm.name(),
                detail,
            };
            let _ = self.rollout_step(event).await;
        }
    }

    /// `continue` or `rollback` from the control API.
    pub(crate) async fn rollout_command(
        self: &Arc<Self>,
        command: RolloutCommand,
    ) -> Result<(), ApplyError> {
        let event = match command {
            RolloutCommand::Continue => Event::Continue,
            RolloutCommand::Rollback => Event::Rollback {
                reason: "rolled back by the operator (cargo xtask rollback)".into(),
            },
        };
        let messages = {
            let inner = self.inner.lock().await;
            match inner.rollout.as_ref() {
                Some(run) => run.messages.clone(),
                None => {
                    return Err(ApplyError::Conflict(
                        "no rollout runs: deploy a new version of a service with a BLUE_GREEN, LINEAR or CANARY strategy first".into(),
                    ));
                }
            }
        };
        let (reply, answer) = oneshot::channel();
        let result = match messages.send(Msg::Command(event.clone(), reply)) {
            Ok(()) => answer.await.unwrap_or(Ok(())),
            // The driver is gone: the rollout ended, and the engine says how.
            Err(_) => self.rollout_step(event).await,
        };
        result.map_err(|refused| ApplyError::Conflict(refused.to_string()))
    }

    /// Does what the engine asked; returns the tasks to drain and stop once the new snapshot
    /// is published, when it asked to stop a revision.
    fn perform(
        self: &Arc<Self>,
        inner: &mut Inner,
        actions: Vec<Action>,
    ) -> Option<Vec<RunningTask>> {
        let mut retiring: Option<Vec<RunningTask>> = None;
        for action in actions {
            match action {
                Action::StartNewTasks => self.start_new_tasks(inner, NewStart::Revision),
                Action::ReplaceNewTask => self.start_new_tasks(inner, NewStart::Replacement),
                Action::RunHook {
                    run,
                    hook,
                    stage,
                    command,
                } => {
                    let hooks_dir = self.config.state_dir.hooks_dir();
                    let Some(rollout) = inner.rollout.as_mut() else {
                        continue;
                    };
                    tracing::info!(%hook, stage = stage.as_str(), command = ?command, "running a lifecycle hook");
                    let messages = rollout.messages.clone();
                    let start = HookStart {
                        run,
                        service: &rollout.service,
                        hook: &hook,
                        stage: stage.as_str(),
                        command: &command,
                        hooks_dir: &hooks_dir,
                    };
                    let process = HookProcess::start(&start, move |outcome| {
                        let _ = messages.send(Msg::Event(Event::HookFinished { run, outcome }));
                    });
                    rollout.hook_log = Some(process.log.clone());
                    rollout.hooks.push(process);
                }
                Action::StopOldTasks => retiring.get_or_insert_default().extend(hand_over(inner)),
                Action::StopNewTasks => {
                    let stopping = retiring.get_or_insert_default();
                    if let Some(run) = inner.rollout.as_mut() {
                        stopping.append(&mut run.new_tasks);
                    }
                }
            }
        }
        retiring
    }

    /// Starts new revision tasks in the background; their health comes back as an event.
    fn start_new_tasks(self: &Arc<Self>, inner: &mut Inner, what: NewStart) {
        let Some(run) = inner.rollout.as_ref() else {
            return;
        };
        let (plan, service, timeout) = (
            Arc::clone(&run.target_plan),
            run.service.clone(),
            run.health_timeout,
        );
        let count = match what {
            NewStart::Revision => plan.service(&service).map_or(0, |s| s.desired_count),
            NewStart::Replacement => 1,
        };
        let specs: Vec<_> = (0..count)
            .filter_map(|_| self.task_spec(inner, &plan, &service))
            .collect();
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let started = this.start_all(specs, timeout).await;
            this.attach_new_tasks(started).await;
        });
    }

    async fn attach_new_tasks(&self, started: Result<Vec<RunningTask>, super::task::TaskError>) {
        let mut inner = self.inner.lock().await;
        let Some(run) = inner.rollout.as_mut() else {
            if let Ok(tasks) = started {
                stop_all(tasks, STOP_GRACE).await;
            }
            return;
        };
        let event = match started {
            Ok(tasks) if run.engine.in_progress() => {
                for task in &tasks {
                    tracing::info!(task = %task.spec.id, version = %task.spec.version, addr = %task.addr, "new revision task healthy");
                }
                run.new_tasks.extend(tasks);
                Event::TasksHealthy
            }
            Ok(tasks) => {
                // Rolled back while they started: they never took traffic.
                drop(inner);
                stop_all(tasks, STOP_GRACE).await;
                return;
            }
            Err(err) => Event::TasksFailed {
                reason: err.to_string(),
            },
        };
        let _ = run.messages.send(Msg::Event(event));
        self.publish(&inner);
    }

    /// Marks `retiring` so no new request starts on it (the snapshot without it is already
    /// published), then drains, stops it and tells the engine.
    fn retire_then_report(self: &Arc<Self>, retiring: Option<Vec<RunningTask>>) {
        let Some(retiring) = retiring else {
            return;
        };
        let this = Arc::clone(self);
        tokio::spawn(async move {
            // The data plane retired them with the snapshot published before this.
            drain(&this.plane, &retiring).await;
            for task in &retiring {
                tracing::info!(task = %task.spec.id, version = %task.spec.version, "stopping");
            }
            stop_all(retiring, STOP_GRACE).await;
            let messages = this
                .inner
                .lock()
                .await
                .rollout
                .as_ref()
                .map(|r| r.messages.clone());
            if let Some(messages) = messages {
                let _ = messages.send(Msg::Event(Event::Stopped));
            }
        });
    }

    /// A task of the new revision exited on its own: the engine decides between rolling back
    /// and replacing it. Returns false when the task is not one of them.
    pub(super) fn new_task_exited(&self, inner: &mut Inner, exit: &Exited) -> bool {
        let reason = format!("{} exited ({})", exit.task_id, exit.status);
        self.new_task_failed(inner, &exit.task_id, reason)
    }

    /// Takes the new task `task_id` out of routing, stops it (an exited one is already gone)
    /// and tells the engine why; false when it is not a new task (any more).
    fn new_task_failed(&self, inner: &mut Inner, task_id: &str, reason: String) -> bool {
        let Some(run) = inner.rollout.as_mut() else {
            return false;
        };
        let Some(pos) = run.new_tasks.iter().position(|t| t.spec.id == task_id) else {
            return false;
        };
        let failed = run.new_tasks.remove(pos);
        tracing::warn!(task = %task_id, %reason, "new revision task failed");
        let _ = run.messages.send(Msg::Event(Event::TaskFailed { reason }));
        self.publish(inner);
        tokio::spawn(failed.stop(STOP_GRACE));
        true
    }

    /// Evaluates `alarm` at the end of each of its periods while the rollout whose driver
    /// `messages` reaches is in progress, and tells the engine when it goes into ALARM.
    async fn watch_alarm(
        self: Arc<Self>,
        alarm: Arc<AlarmWatch>,
        messages: mpsc::UnboundedSender<Msg>,
    ) {
        let name = alarm.name();
        let mut last = Instant::now();
        loop {
            tokio::time::sleep_until(alarm.next_evaluation().max(last + MIN_ALARM_TICK)).await;
            last = Instant::now();
            let watched = {
                let inner = self.inner.lock().await;
                inner.rollout.as_ref().is_some_and(|run| {
                    run.messages.same_channel(&messages) && run.engine.in_progress()
                })
            };
            if !watched {
                return;
            }
            if let Some(detail) = alarm.evaluate(&self.plane).await {
                tracing::warn!(alarm = %name, %detail, "alarm");
                let event = Event::Alarm {
                    name: name.clone(),
                    detail,
                };
                if messages.send(Msg::Event(event)).is_err() {
                    return;
                }
            }
        }
    }

    /// Probes the new tasks of the rollout whose driver `messages` reaches, every
    /// `probes.interval`, until that rollout stops being in progress.
    async fn watch_health(
        self: Arc<Self>,
        probes: HealthProbes,
        messages: mpsc::UnboundedSender<Msg>,
    ) {
        let client = task::health_client();
        let mut tally = ProbeTally::new(probes.retries);
        loop {
            tokio::time::sleep(probes.interval).await;
            let targets: Vec<(String, task::Checker)> = {
                let inner = self.inner.lock().await;
                match inner.rollout.as_ref() {
                    Some(run)
                        if run.messages.same_channel(&messages) && run.engine.in_progress() =>
                    {
                        run.new_tasks
                            .iter()
                            .map(|t| (t.spec.id.clone(), t.checker()))
                            .collect()
                    }
                    _ => return,
                }
            };
            tally.keep_only(targets.iter().map(|(id, _)| id.as_str()));
            let mut probing = JoinSet::new();
            for (id, checker) in targets {
                let client = client.clone();
                probing.spawn(async move { (id, checker.check(&client, probes.timeout).await) });
            }
            let mut unhealthy = Vec::new();
            while let Some(Ok((id, outcome))) = probing.join_next().await {
                unhealthy.extend(tally.record(&id, outcome).map(|reason| (id, reason)));
            }
            if !unhealthy.is_empty() {
                let mut inner = self.inner.lock().await;
                for (id, reason) in unhealthy {
                    self.new_task_failed(&mut inner, &id, reason);
                }
            }
        }
    }
}

/// CLEAN_UP: the new revision becomes the service's tasks and the target model the running
/// one; returns the old tasks.
fn hand_over(inner: &mut Inner) -> Vec<RunningTask> {
    let Some(run) = inner.rollout.as_mut() else {
        return Vec::new();
    };
    let new_tasks = std::mem::take(&mut run.new_tasks);
    let (service, plan, spec) = (
        run.service.clone(),
        Arc::clone(&run.target_plan),
        run.target_spec.clone(),
    );
    inner.routing.plan = Some(plan);
    inner.routing.spec = Some(spec);
    match inner.tasks.services.get_mut(&service) {
        Some(svc) => std::mem::replace(&mut svc.tasks, new_tasks),
        None => new_tasks,
    }
}

/// Stops, in the background, the hook commands the engine no longer waits on: a hook's stage
/// ended (its command ended, its timeout passed, the rollout rolled back).
fn stop_hooks_done(inner: &mut Inner) {
    let Some(run) = inner.rollout.as_mut() else {
        return;
    };
    for hook in run.hooks_done() {
        tokio::spawn(hook.stop());
    }
}

#[cfg(test)]
mod tests {
    use model::StrategyKind;
    use model::examples::{self, RolloutInputs};

    use super::*;

    fn rollout(version: u32) -> Stack {
        let inputs = RolloutInputs {
            version,
            strategy: StrategyKind::Linear,
        };
        Stack::new(examples::rollout("rollout", &inputs)).expect("the example validates")
    }

    /// Which service an apply from `old` to `new` rolls out, or the refusal.
    fn check(old: Option<&Stack>, new: &Stack) -> Result<Option<String>, String> {
        let old = old.map(LocalPlan::from_stack);
        let plan = LocalPlan::from_stack(new);
        rollout_service(old.as_ref(), &plan, new).map_err(|e| e.to_string())
    }

    #[test]
    fn a_new_version_of_a_shifting_service_rolls_out() {
        assert_eq!(
            check(Some(&rollout(1)), &rollout(2)),
            Ok(Some("web".into()))
        );
        assert_eq!(
            check(None, &rollout(2)),
            Ok(None),
            "a first deploy starts all"
        );
        assert_eq!(check(Some(&rollout(2)), &rollout(2)), Ok(None), "no change");
        // Nothing beside the rollout: what runs meanwhile is what runs, description and plan.
        let (_, spec, plan) = meanwhile(&rollout(1), &rollout(2)).unwrap();
        assert_eq!(spec, rollout(1).into_spec());
        assert_eq!(plan, LocalPlan::from_stack(&rollout(1)));
    }

    #[test]
    fn rolling_services_are_replaced_as_before() {
        let sc = |v: &str| {
            let mut spec = examples::serviceconnect("serviceconnect");
            spec.services[0].version = v.into();
            Stack::new(spec).unwrap()
        };
        assert_eq!(check(Some(&sc("1")), &sc("2")), Ok(None));
    }

    /// What runs while the rollout from `old` to `new` goes: (the service, the description, the
    /// plan), or the refusal.
    fn meanwhile(old: &Stack, new: &Stack) -> Result<(String, StackSpec, LocalPlan), String> {
        let running = LocalPlan::from_stack(old);
        let target = LocalPlan::from_stack(new);
        let service = rollout_service(Some(&running), &target, new)
            .map_err(|e| e.to_string())?
            .expect("a rollout");
        let (spec, plan) =
            as_it_runs(old.spec(), &running, new, &service).map_err(|e| e.to_string())?;
        Ok((service, spec, plan))
    }

    /// A new rule on web changes front's header list: front's tasks are replaced beside the
    /// rollout, with the list the rule needs, and web rolls out.
    #[test]
    fn a_new_rule_rolls_out_beside_its_callers_header_list() {
        let mut spec = rollout(2).into_spec();
        let web = spec.services.iter_mut().find(|s| s.name == "web").unwrap();
        web.service_connect.as_mut().unwrap().test_traffic = Some(model::TestTrafficSpec {
            header: "x-canary".into(),
            value: "yes".into(),
        });
        let canary = Stack::new(spec).unwrap();
        let (service, _, meanwhile) = meanwhile(&rollout(1), &canary).unwrap();
        assert_eq!(service, "web");
        let old = LocalPlan::from_stack(&rollout(1));
        let headers = |p: &LocalPlan, svc: &str| {
            p.service(svc)
                .and_then(|s| s.environment.get(model::PROPAGATE_HEADERS).cloned())
        };
        assert_eq!(
            headers(&meanwhile, "front").as_deref(),
            Some("x-amzn-ecs-blue-green-test,x-canary")
        );
        // web itself is the rollout's: its tasks stay the running ones meanwhile.
        let (was, now) = (
            old.service("web").unwrap(),
            meanwhile.service("web").unwrap(),
        );
        assert!(!was.needs_new_tasks(now));
        assert_eq!(now.version, "1");
    }

    /// What the old refusal stopped ("deploy those changes first") now goes first: front's new
    /// environment is applied (front's tasks replaced) while web keeps running version 1, and
    /// the description the rollout starts from says so.
    #[test]
    fn other_changes_go_first_with_the_rolling_service_as_it_runs() {
        let mut spec = rollout(2).into_spec();
        spec.services[0]
            .environment
            .insert("GREETING".into(), "hi".into());
        let both = Stack::new(spec).unwrap();
        assert_eq!(check(Some(&rollout(1)), &both), Ok(Some("web".into())));
        let (_, spec, plan) = meanwhile(&rollout(1), &both).unwrap();
        let old = LocalPlan::from_stack(&rollout(1));
        let front = plan.service("front").unwrap();
        assert_eq!(
            front.environment.get("GREETING").map(String::as_str),
            Some("hi")
        );
        assert!(old.service("front").unwrap().needs_new_tasks(front));
        assert!(
            !old.service("web")
                .unwrap()
                .needs_new_tasks(plan.service("web").unwrap())
        );
        let web = spec.services.iter().find(|s| s.name == "web").unwrap();
        assert_eq!(web.version, "1");
        assert_eq!(
            spec.services[0]
                .environment
                .get("GREETING")
                .map(String::as_str),
            Some("hi")
        );
        // The data plane routes by the description: it plans the same routes and names.
        let routed = LocalPlan::from_stack(&Stack::new(spec).unwrap());
        assert_eq!(routed.gateway(), plan.gateway());
        assert_eq!(
            routed.names().collect::<Vec<_>>(),
            plan.names().collect::<Vec<_>>()
        );
    }

    fn gateway(strategy: StrategyKind, blue: &str, green: &str) -> Stack {
        let mut spec = examples::gateway_with("gateway", strategy);
        for svc in &mut spec.services {
            svc.version = if svc.name == "blue" { blue } else { green }.into();
        }
        Stack::new(spec).unwrap()
    }

    /// Issue 21's acceptance: `deploy gateway --local`, then `--version 2 --strategy linear`.
    /// Switching the strategy on drops `/split` and gives green its new deployment
    /// configuration and test rule; those go first, then blue rolls out, its production rule
    /// `/blue` in place with its test rule so the rollout's weights and test traffic apply.
    #[test]
    fn switching_the_strategy_on_with_a_new_version_rolls_out_after_the_rest() {
        let plain = gateway(StrategyKind::Rolling, "unknown", "unknown");
        let linear = gateway(StrategyKind::Linear, "2", "unknown");
        let (service, spec, plan) = meanwhile(&plain, &linear).unwrap();
        assert_eq!(service, "blue");
        let running = LocalPlan::from_stack(&plain);
        let routes = |p: &LocalPlan| -> Vec<String> {
            p.gateway()
                .unwrap()
                .routes
                .iter()
                .map(|r| r.describe())
                .collect()
        };
        assert_eq!(
            routes(&running),
            [
                "/green -> green (rewrite to /)",
                "/split -> blue 50, green 50 (rewrite to /)",
                "/blue -> blue (rewrite to /)"
            ]
        );
        assert_eq!(
            routes(&plan),
            [
                "/green -> green (rewrite to /)",
                "/blue -> blue (rewrite to /)"
            ]
        );
        let blue_rule = plan
            .gateway()
            .unwrap()
            .routes
            .iter()
            .find(|r| r.name == "blue")
            .unwrap();
        assert!(
            blue_rule.test_rule.is_some(),
            "the production rule carries its test rule"
        );
        // green: its new deployment configuration, its tasks kept.
        let green = plan.service("green").unwrap();
        assert!(green.rollout.is_some());
        assert!(!running.service("green").unwrap().needs_new_tasks(green));
        // blue: as it runs, with the strategy it rolls out by.
        let blue = plan.service("blue").unwrap();
        assert_eq!(blue.version, "unknown");
        assert!(!running.service("blue").unwrap().needs_new_tasks(blue));
        assert_eq!(
            blue.rollout,
            LocalPlan::from_stack(&linear)
                .service("blue")
                .unwrap()
                .rollout
        );
        let described = Stack::new(spec).unwrap();
        let blue_spec = described.service("blue").unwrap();
        assert!(
            described.alb_shift(blue_spec).is_some(),
            "blue shifts at the ALB"
        );
        assert_eq!(blue_spec.version, "unknown");
    }

    /// Taking away a way in to the rolling service while it rolls out is still refused, with
    /// what goes named: the local runtime has one set of names and rules for both revisions.
    #[test]
    fn removing_or_renaming_the_rolling_services_rule_or_alias_is_refused() {
        let plain = gateway(StrategyKind::Rolling, "unknown", "unknown");
        let mut spec = gateway(StrategyKind::Linear, "2", "unknown").into_spec();
        let rules = &mut spec.alb_gateway.as_mut().unwrap().rules;
        rules.iter_mut().find(|r| r.name == "blue").unwrap().name = "blue-v2".into();
        let renamed = Stack::new(spec).unwrap();
        assert_eq!(
            check(Some(&plain), &renamed),
            Err("this deploy removes or renames gateway route blue (/blue) of blue while rolling blue out: the local runtime routes both revisions of a rolling service by the same names and rules; deploy that change first, with blue as it runs, then the new version".into())
        );

        let mut spec = rollout(2).into_spec();
        let web = spec.services.iter_mut().find(|s| s.name == "web").unwrap();
        web.service_connect.as_mut().unwrap().dns_name = Some("web2.rollout".into());
        let alias = Stack::new(spec).unwrap();
        let refused = check(Some(&rollout(1)), &alias).unwrap_err();
        assert!(
            refused.starts_with("this deploy removes or renames mesh name web.rollout:80 of web while rolling web out"),
            "{refused}"
        );
    }

    #[test]
    fn two_services_rolling_out_at_once_are_refused() {
        let linear = gateway(StrategyKind::Linear, "1", "1");
        let both = gateway(StrategyKind::Linear, "2", "2");
        assert_eq!(
            check(Some(&linear), &both),
            Err("this deploy rolls out blue and green at once: the local runtime rolls out one service at a time; deploy the new version of one of them first, then the other".into())
        );
    }
}
