//! Taking over what a dead supervisor left running: its data plane, its listeners and its tasks,
//! and rolling back the rollout it interrupted, so that traffic neither stops nor jumps to the
//! target revision because the controller restarted.
//!
//! The launcher decides (`local_runtime::launcher::decide`): a new supervisor adopts when the
//! data plane still runs and `applied.json` holds the model it routes by. The listeners come
//! from the data plane (`Hello`), the tasks from `runtime.json` by pid and start time (they are
//! not this process's children, so they are watched by polling), and the routing state from the
//! model. Whatever carries the stack's marker and is in no record (the dead supervisor's hook
//! commands, a task it was starting) is stopped: nothing may run that nobody tracks. A rollout
//! in progress is rolled back rather than resumed, so a rollout is never completed by a
//! restart: its timers, its alarm's periods and its hook processes were the dead supervisor's.
//! A rollback goes back to the last revision that deployed successfully, as ECS's does
//! (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stop-service-deployment.html>,
//! <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-revision.html>).
//! Production goes back to the source revision in one snapshot, then the target's tasks are
//! drained and stopped; `status` keeps the rollout's history and says why it ended.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use local_runtime::plan::LocalPlan;
use local_runtime::process::{ProcessId, Stopped};
use local_runtime::rollout::{LocalRollout, Shift};
use local_runtime::state_dir::{AppliedRecord, RolloutRecord, RuntimeRecord, StateDir};
use model::{DeploymentStatus, Percent, Stack};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::plane::DataPlane;
use super::task::{self, TaskSpec};
use super::{Applied, Config, GatewayRun, Inner, ServiceRun, Supervisor, retire};
use crate::wire::{HeldListener, ListenerKind};

/// What the dead supervisor left, as read at start.
#[derive(Debug)]
pub(super) struct Leftover {
    pub record: RuntimeRecord,
    pub applied: AppliedRecord,
    pub listeners: Vec<HeldListener>,
}

/// How long a leftover process nobody tracks (a hook command, a task that was starting) gets
/// between SIGTERM and SIGKILL.
const UNTRACKED_GRACE: Duration = Duration::from_secs(2);

/// The data plane and what else a dead supervisor left, when `config` says to adopt them and
/// they can be: else None, once whatever the dead supervisor left is stopped (a data plane that
/// does not answer cannot be taken over, and nothing may run that nobody tracks).
pub(super) async fn leftover(config: &Config) -> Option<(Arc<DataPlane>, Leftover)> {
    if !config.adopt {
        return None;
    }
    let dir = config.state_dir.clone();
    let record = dir.read_runtime().ok().flatten()?;
    let clean = |dir: StateDir, record: RuntimeRecord| {
        tokio::task::spawn_blocking(move || {
            if let Err(err) = dir.stop_leftovers(&[record], UNTRACKED_GRACE) {
                tracing::error!(error = %err, "cannot stop what the previous supervisor left");
            }
        })
    };
    let (Some(plane), Ok(Some(applied))) = (record.dataplane.clone(), dir.read_applied()) else {
        let _ = clean(dir, record).await;
        return None;
    };
    match DataPlane::attach(&dir, plane.clone()).await {
        Ok((attached, listeners)) => {
            // What the record does not list was the dead supervisor's alone: its hook commands,
            // a task it was starting. Nobody would stop them; they go now.
            let tracked: BTreeSet<u32> = std::iter::once(plane.pid)
                .chain(record.tasks.iter().map(|t| t.process.pid))
                .collect();
            let hooks = applied
                .rollout
                .as_ref()
                .map(|r| r.hook_groups.clone())
                .unwrap_or_default();
            let stopped = tokio::task::spawn_blocking(move || {
                stop_untracked(&dir, &tracked, &hooks, UNTRACKED_GRACE)
            })
            .await
            .unwrap_or_default();
            if !stopped.is_empty() {
                tracing::info!(pids = ?stopped, "stopped what the previous supervisor left untracked");
            }
            Some((
                attached,
                Leftover {
                    record,
                    applied,
                    listeners,
                },
            ))
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot adopt the data plane: starting a new one");
            let _ = clean(dir, record).await;
            None
        }
    }
}

/// Stops the process groups of `hook_groups` (each by its leader, only while that very
/// process still runs) and every process that carries `dir`'s marker but is not in `tracked`;
/// returns the pids stopped. Blocking: up to about twice `grace`.
pub(super) fn stop_untracked(
    dir: &StateDir,
    tracked: &BTreeSet<u32>,
    hook_groups: &[ProcessId],
    grace: Duration,
) -> Vec<u32> {
    let untracked = || -> Vec<ProcessId> {
        dir.marked_processes()
            .into_iter()
            .filter(|p| !tracked.contains(&p.id.pid))
            .map(|p| p.id)
            .collect()
    };
    // Whole groups first, as the dead supervisor would have stopped them (`hook.rs`): SIGTERM,
    // then SIGKILL after `grace` to the groups that still hold a process of the stack (a group
    // id is not reused while a member lives, and its members are checked by their marker).
    let groups: BTreeSet<u32> = hook_groups
        .iter()
        .filter(|leader| leader.is_running())
        .map(|leader| leader.pid)
        .collect();
    let signal_groups = |members: &[ProcessId], signal: Signal| {
        for pgid in &groups {
            if members.iter().any(|p| group_of(p.pid) == Some(*pgid))
                && let Ok(pgid) = i32::try_from(*pgid)
            {
                let _ = killpg(Pid::from_raw(pgid), signal);
            }
        }
    };
    let mut stopped: Vec<u32> = Vec::new();
    let before = untracked();
    stopped.extend(before.iter().map(|p| p.pid));
    signal_groups(&before, Signal::SIGTERM);
    let deadline = std::time::Instant::now() + grace;
    while !groups.is_empty()
        && untracked()
            .iter()
            .any(|p| group_of(p.pid).is_some_and(|g| groups.contains(&g)))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_groups(&untracked(), Signal::SIGKILL);
    // What is left: anything of the stack no record lists (a task that was starting, a hook
    // command that left its group).
    for process in untracked() {
        if process.stop(grace) != Stopped::AlreadyGone {
            stopped.push(process.pid);
        }
    }
    stopped.sort_unstable();
    stopped.dedup();
    stopped
}

/// The process group of `pid` (field 5 of `/proc/<pid>/stat`), when procfs shows it.
fn group_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

impl Supervisor {
    /// Rebuilds the routing state from `left`, publishes it (every source task at 100%), then
    /// drains and stops the interrupted rollout's target tasks in the background.
    pub(super) async fn adopt(self: &Arc<Self>, left: Leftover) {
        let Leftover {
            record,
            applied,
            listeners,
        } = left;
        let mut inner = self.inner.lock().await;
        let spec = applied.spec.clone();
        let Some(stack) = spec.and_then(|spec| Stack::new(spec).ok()) else {
            tracing::error!("applied.json holds no valid model: adopting nothing");
            return;
        };
        let plan = Arc::new(LocalPlan::from_stack(&stack));
        inner.tasks.health_timeout = applied.health_timeout_ms.map(Duration::from_millis);
        for held in listeners {
            let serving = self.plane.held(held.id);
            match held.listener {
                ListenerKind::Gateway => {
                    if let Some(g) = plan.gateway() {
                        inner.routing.gateway = Some(GatewayRun {
                            name: g.name.clone(),
                            requested_port: applied.gateway_port.unwrap_or(g.listener_port),
                            addr: held.addr,
                            _serving: serving,
                        });
                    }
                }
                ListenerKind::Service(name) if plan.service(&name).is_some() => {
                    inner.tasks.services.insert(
                        name,
                        ServiceRun {
                            addr: held.addr,
                            _serving: serving,
                            tasks: Vec::new(),
                            restarts: 0,
                            recent_restarts: VecDeque::new(),
                        },
                    );
                }
                ListenerKind::Alias { authority, addr }
                    if plan.alias_listeners().contains(&(authority.clone(), addr)) =>
                {
                    inner.routing.aliases.insert(authority, (serving, addr));
                }
                // A listener the model no longer has: dropping the handle closes it.
                ListenerKind::Service(_) | ListenerKind::Alias { .. } => {}
            }
        }
        let target: BTreeSet<&str> = applied
            .rollout
            .iter()
            .flat_map(|r| r.target_tasks.iter().map(String::as_str))
            .collect();
        let mut retiring = Vec::new();
        for t in record.tasks {
            let Some(addr) = t
                .url
                .strip_prefix("http://")
                .and_then(|a| a.parse::<SocketAddr>().ok())
            else {
                continue;
            };
            let counter = inner.tasks.counters.entry(t.service.clone()).or_insert(0);
            if let Some(n) = task_number(&t.service, &t.id) {
                *counter = (*counter).max(n);
            }
            let source = plan.service(&t.service).map(|s| s.version.as_str());
            let keep = !target.contains(t.id.as_str()) && source == Some(t.version.as_str());
            let spec = TaskSpec {
                id: t.id,
                service: t.service,
                version: t.version,
                environment: BTreeMap::new(),
                // Stopped by its group when it leads one (`task::adopt`).
                program: None,
            };
            let service = spec.service.clone();
            let running = task::adopt(spec, t.process, addr, t.log, self.exits.clone());
            match inner.tasks.services.get_mut(&service).filter(|_| keep) {
                Some(run) => run.tasks.push(running),
                None => retiring.push(running),
            }
        }
        inner.interrupted = applied.rollout.map(rolled_back);
        inner.routing.spec = Some(stack.spec().clone());
        inner.routing.plan = Some(plan);
        self.publish(&inner);
        drop(inner);
        tracing::info!(
            retiring = retiring.len(),
            "adopted the data plane and the tasks"
        );
        if !retiring.is_empty() {
            let supervisor = Arc::clone(self);
            tokio::spawn(async move {
                let applied = Applied {
                    retiring,
                    ..Applied::default()
                };
                retire(&supervisor.plane, applied).await;
                let inner = supervisor.inner.lock().await;
                supervisor.publish(&inner);
            });
        }
    }

    /// What `applied.json` keeps of `inner`, the rollout as `status` shows it.
    pub(super) fn applied_record(
        inner: &Inner,
        rollout: Option<&LocalRollout>,
    ) -> Option<AppliedRecord> {
        let spec = inner.routing.spec.clone()?;
        let rollout = inner
            .rollout
            .as_ref()
            .filter(|r| r.in_progress())
            .zip(rollout)
            .map(|(run, status)| RolloutRecord {
                status: status.clone(),
                target_tasks: run.new_tasks.iter().map(|t| t.spec.id.clone()).collect(),
                hook_groups: run.hook_groups(),
            });
        Some(AppliedRecord {
            spec: Some(spec),
            gateway_port: inner.routing.gateway.as_ref().map(|g| g.requested_port),
            health_timeout_ms: inner
                .tasks
                .health_timeout
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            rollout,
        })
    }
}

/// `{service}-task{n}`'s n (`tasks::task_spec` names them so).
fn task_number(service: &str, id: &str) -> Option<u64> {
    id.strip_prefix(service)?
        .strip_prefix("-task")?
        .parse()
        .ok()
}

/// The interrupted rollout as `status` shows it once rolled back: its history kept, production
/// back on the source, and the reason.
pub(super) fn rolled_back(record: RolloutRecord) -> LocalRollout {
    let mut status = record.status;
    let p = &mut status.progress;
    let at = p.stage.map_or("its start", |s| s.as_str());
    p.rollback_reason = Some(format!(
        "the supervisor restarted during the rollout (at {at}, {}% of production on {}): rolled back",
        p.production_percent,
        p.target.as_deref().unwrap_or("the target"),
    ));
    p.status = DeploymentStatus::RollbackSuccessful;
    p.production_percent = Percent::from_tenths(0);
    p.test_traffic_on_target = false;
    p.bake_remaining_ms = None;
    p.paused_at = None;
    p.hook_running = None;
    status.shifts.push(Shift {
        percent: Percent::from_tenths(0),
        at_ms: status.elapsed_ms,
    });
    status.ended_ms = Some(status.elapsed_ms);
    status
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt as _;
    use std::process::{Child, Command};

    use super::*;

    /// `sh -c script` with `env`, in its own process group when `leader`.
    fn spawn(script: &str, env: &[(&str, std::ffi::OsString)], leader: bool) -> Child {
        let mut command = Command::new("sh");
        command
            .args(["-c", script])
            .envs(env.iter().map(|(k, v)| (*k, v)));
        if leader {
            command.process_group(0);
        }
        command.spawn().expect("sh starts")
    }

    fn reaped_or_running(child: &mut Child) -> bool {
        child.try_wait().expect("waits").is_none()
    }

    /// A dead supervisor's hook command (its own group, a child of its own, both deaf to
    /// SIGTERM) and a task it was starting carry its marker but are in no record: taking over
    /// stops them, and neither a recorded task nor a process without the marker is touched.
    #[test]
    fn what_the_dead_supervisor_left_untracked_is_stopped() {
        let root = std::env::temp_dir().join(format!("meshtest-adopt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = StateDir::at(root.clone());
        dir.create().unwrap();
        let marker = dir.new_marker().unwrap();
        let env = marker.env();
        // Deaf to SIGTERM, as is its child: only the group's SIGKILL ends them.
        let mut hook = spawn("trap '' TERM; sleep 600 & wait", &env, true);
        let mut starting = spawn("exec sleep 600", &env, false);
        let mut tracked = spawn("exec sleep 600", &env, false);
        let mut stranger = spawn("exec sleep 600", &[], false);
        let leader = ProcessId::of(hook.id()).unwrap();
        // The hook's child is up once the group has two members.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while dir.marked_processes().len() < 4 {
            assert!(
                std::time::Instant::now() < deadline,
                "the processes never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let hook_child: Vec<u32> = dir
            .marked_processes()
            .iter()
            .filter(|p| p.parent == Some(hook.id()))
            .map(|p| p.id.pid)
            .collect();
        assert_eq!(hook_child.len(), 1);

        let kept = BTreeSet::from([tracked.id()]);
        let stopped = stop_untracked(&dir, &kept, &[leader], Duration::from_secs(2));
        assert!(
            stopped.contains(&hook.id()) && stopped.contains(&starting.id()),
            "{stopped:?}"
        );
        assert!(!reaped_or_running(&mut hook));
        assert!(!reaped_or_running(&mut starting));
        // The hook's child, reparented when the shell died, went with its group.
        assert!(
            ProcessId::of(hook_child[0]).is_none(),
            "the hook's child still runs"
        );
        assert!(
            reaped_or_running(&mut tracked),
            "a recorded task was stopped"
        );
        assert!(
            reaped_or_running(&mut stranger),
            "a process not ours was stopped"
        );
        for child in [&mut tracked, &mut stranger] {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A LINEAR rollout of web from 1 to 2 that reached 40% before its supervisor died.
    fn interrupted() -> LocalRollout {
        use local_runtime::rollout::{Engine, Revisions, RolloutPlan};
        let inputs = model::examples::RolloutInputs {
            version: 2,
            strategy: model::StrategyKind::Linear,
        };
        let stack = Stack::new(model::examples::rollout("s", &inputs)).unwrap();
        let web = stack
            .spec()
            .services
            .iter()
            .find(|s| s.name == "web")
            .unwrap();
        let revisions = Revisions {
            service: "web",
            source: "1",
            target: "2",
        };
        let plan =
            RolloutPlan::new(revisions, &stack.deployment(web), Duration::from_secs(1)).unwrap();
        let (engine, _) = Engine::start(plan);
        let mut status = engine.local_status(Duration::from_millis(4000));
        status.progress.production_percent = Percent::from_tenths(400);
        status.shifts = [200, 400]
            .into_iter()
            .zip([1000, 3000])
            .map(|(tenths, at_ms)| Shift {
                percent: Percent::from_tenths(tenths),
                at_ms,
            })
            .collect();
        status
    }

    /// Rolled back on adoption: production back on the source, the history before the crash
    /// kept and closed by the return to 0%, the reason saying where it stopped.
    #[test]
    fn an_interrupted_rollout_is_shown_rolled_back_with_its_history() {
        let before = interrupted();
        let stage = before.progress.stage.map(|s| s.as_str()).unwrap();
        let record = RolloutRecord {
            status: before.clone(),
            target_tasks: vec!["web-task3".into()],
            hook_groups: Vec::new(),
        };
        let after = rolled_back(record);
        let p = &after.progress;
        assert_eq!(p.status, DeploymentStatus::RollbackSuccessful);
        assert_eq!(p.production_percent, Percent::from_tenths(0));
        assert_eq!(
            p.rollback_reason.as_deref(),
            Some(
                format!(
                    "the supervisor restarted during the rollout (at {stage}, 40% of production on 2): rolled back"
                )
                .as_str()
            )
        );
        assert_eq!(after.shifts[..2], before.shifts[..]);
        assert_eq!(
            after.shifts.last(),
            Some(&Shift {
                percent: Percent::from_tenths(0),
                at_ms: before.elapsed_ms
            })
        );
        assert_eq!(after.ended_ms, Some(before.elapsed_ms));
        assert!(!p.test_traffic_on_target && p.bake_remaining_ms.is_none());
    }

    #[test]
    fn task_numbers_continue_after_the_adopted_ones() {
        assert_eq!(task_number("web", "web-task12"), Some(12));
        assert_eq!(task_number("web", "webx-task1"), None);
        assert_eq!(task_number("web", "web-task"), None);
    }
}
