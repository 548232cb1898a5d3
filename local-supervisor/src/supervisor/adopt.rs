//! Taking over what a dead supervisor left running: its data plane, its listeners and its tasks,
//! and rolling back the rollout it interrupted, so that traffic neither stops nor jumps to the
//! target revision because the controller restarted.
//!
//! The launcher decides (`local_runtime::launcher::decide`): a new supervisor adopts when the
//! data plane still runs and `applied.json` holds the model it routes by. The listeners come
//! from the data plane (`Hello`), the tasks from `runtime.json` by pid and start time (they are
//! not this process's children, so they are watched by polling), and the routing state from the
//! model. A rollout in progress is rolled back rather than resumed: its timers, its alarm's
//! periods and a hook's process were the dead supervisor's, and a rollback is what ECS does when
//! it cannot complete a deployment
//! (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html>).
//! Production goes back to the source revision in one snapshot, then the target's tasks are
//! drained and stopped; `status` keeps the rollout's history and says why it ended.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use model::{DeploymentStatus, Percent, Stack};
use local_runtime::plan::LocalPlan;
use local_runtime::rollout::{LocalRollout, Shift};
use local_runtime::state_dir::{AppliedRecord, RolloutRecord, RuntimeRecord};

use super::task::{self, TaskSpec};
use super::plane::DataPlane;
use super::{Applied, Config, GatewayRun, Inner, ServiceRun, Supervisor, retire};
use crate::wire::{HeldListener, ListenerKind};

/// What the dead supervisor left, as read at start.
#[derive(Debug)]
pub(super) struct Leftover {
    pub record: RuntimeRecord,
    pub applied: AppliedRecord,
    pub listeners: Vec<HeldListener>,
}

/// The data plane and what else a dead supervisor left, when `config` says to adopt them and
/// they can be: else None, once whatever the record names is stopped (a data plane that does
/// not answer cannot be taken over, and nothing may run that nobody tracks).
pub(super) async fn leftover(config: &Config) -> Option<(Arc<DataPlane>, Leftover)> {
    if !config.adopt {
        return None;
    }
    let dir = &config.state_dir;
    let record = dir.read_runtime().ok().flatten()?;
    let stop = |record: RuntimeRecord| {
        tokio::task::spawn_blocking(move || {
            for p in record.dataplane.iter().chain(record.tasks.iter().map(|t| &t.process)) {
                p.stop(Duration::from_secs(3));
            }
        })
    };
    let (Some(plane), Ok(Some(applied))) = (record.dataplane.clone(), dir.read_applied()) else {
        let _ = stop(record).await;
        return None;
    };
    match DataPlane::attach(dir, plane).await {
        Ok((plane, listeners)) => Some((
            plane,
            Leftover {
                record,
                applied,
                listeners,
            },
        )),
        Err(err) => {
            tracing::warn!(error = %err, "cannot adopt the data plane: starting a new one");
            let _ = stop(record).await;
            None
        }
    }
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
                // A listener the model no longer has: dropping the handle closes it.
                ListenerKind::Service(_) => {}
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
        tracing::info!(retiring = retiring.len(), "adopted the data plane and the tasks");
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
    id.strip_prefix(service)?.strip_prefix("-task")?.parse().ok()
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
    use super::*;

    #[test]
    fn task_numbers_continue_after_the_adopted_ones() {
        assert_eq!(task_number("web", "web-task12"), Some(12));
        assert_eq!(task_number("web", "webx-task1"), None);
        assert_eq!(task_number("web", "web-task"), None);
    }
}
