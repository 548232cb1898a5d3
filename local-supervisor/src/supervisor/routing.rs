//! The routing table: the service and gateway listeners, and what the proxies, `GET /status`
//! and `runtime.json` read (one snapshot, swapped whole by [`Supervisor::publish`]).

// One concern of `impl Supervisor`: the parent's state and helpers, whole.
use super::*;
use local_runtime::state_dir::AppliedRecord;

impl Supervisor {
    /// Puts each service's new tasks in place: a new service starts listening, a new task
    /// definition replaces every task, a count change adds or trims.
    pub(super) fn switch_services(
        &self,
        inner: &mut Inner,
        plan: &LocalPlan,
        old_plan: Option<&LocalPlan>,
        mut fresh: Fresh,
        applied: &mut Applied,
    ) {
        for svc in plan.services() {
            let tasks = fresh.tasks.remove(&svc.name).unwrap_or_default();
            let replace = old_plan
                .and_then(|p| p.service(&svc.name))
                .is_none_or(|old| old.needs_new_tasks(svc));
            match inner.tasks.services.get_mut(&svc.name) {
                None => {
                    // It accepts once the snapshot that lists it is published.
                    let Some((serving, addr)) = fresh.listeners.remove(&svc.name) else {
                        continue;
                    };
                    applied.actions.push(ApplyAction::ServiceListens {
                        service: svc.name.clone(),
                        url: url(addr),
                    });
                    inner.tasks.services.insert(
                        svc.name.clone(),
                        ServiceRun {
                            addr,
                            _serving: serving,
                            tasks,
                            restarts: 0,
                            recent_restarts: VecDeque::new(),
                        },
                    );
                }
                Some(run) if replace => {
                    applied.actions.push(ApplyAction::TrafficMoved {
                        service: svc.name.clone(),
                        tasks: tasks.iter().map(|t| t.spec.id.clone()).collect(),
                    });
                    applied
                        .retiring
                        .extend(std::mem::replace(&mut run.tasks, tasks));
                }
                Some(run) => {
                    run.tasks.extend(tasks);
                    let desired = svc.desired_count as usize;
                    if run.tasks.len() > desired {
                        applied.retiring.extend(run.tasks.split_off(desired));
                    }
                }
            }
        }
    }

    /// Closes the old gateway listener and serves the new one, if the plan has a gateway.
    pub(super) fn rebind_gateway(
        &self,
        inner: &mut Inner,
        want: Option<(String, u16)>,
        bound: Option<(Serving, SocketAddr)>,
        applied: &mut Applied,
    ) {
        if let Some(old) = inner.routing.gateway.take() {
            applied.closing.push(old._serving);
        }
        if let (Some((serving, addr)), Some((name, port))) = (bound, want) {
            applied.actions.push(ApplyAction::GatewayListens {
                gateway: name.clone(),
                url: url(addr),
            });
            inner.routing.gateway = Some(GatewayRun {
                name,
                requested_port: port,
                addr,
                _serving: serving,
            });
        }
    }

    /// Makes `inner` visible: routing snapshot (pushed to the data plane), status,
    /// `runtime.json`.
    pub(super) fn publish(&self, inner: &Inner) {
        let mut instances = BTreeMap::new();
        for (name, run) in &inner.tasks.services {
            instances.insert(name.clone(), run.tasks.iter().map(endpoint).collect());
        }
        let serving = inner
            .routing
            .gateway
            .iter()
            .map(|g| g._serving.id)
            .chain(inner.tasks.services.values().map(|run| run._serving.id))
            .chain(
                inner
                    .routing
                    .aliases
                    .values()
                    .map(|(serving, _)| serving.id),
            )
            .collect();
        let generation = self.plane.publish(WireSnapshot {
            generation: 0,
            // The running model routes as the running plan does (while a service rolls out,
            // the plan differs from it in that service's task environment only:
            // `LocalPlan::with_tasks_of`).
            spec: inner.routing.plan.as_ref().and(inner.routing.spec.clone()),
            serving,
            instances,
            rollouts: driver::routes(inner),
            alarms: plane::wire_alarms(&driver::alarms(inner)),
        });
        let status = self.build_status(inner);
        let record = RuntimeRecord {
            stack: self.config.stack.clone(),
            supervisor: self.me.clone(),
            dataplane: Some(self.plane.process.clone()),
            control_url: self.control_url.clone(),
            token: self.token.clone(),
            egress_url: url(self.egress),
            gateway_url: inner.routing.gateway.as_ref().map(|g| url(g.addr)),
            services: inner
                .tasks
                .services
                .iter()
                .map(|(name, run)| (name.clone(), url(run.addr)))
                .collect(),
            tasks: inner
                .tasks
                .services
                .values()
                .flat_map(|run| &run.tasks)
                .chain(inner.rollout.iter().flat_map(|r| &r.new_tasks))
                .map(|t| TaskRecord {
                    id: t.spec.id.clone(),
                    service: t.spec.service.clone(),
                    version: t.spec.version.clone(),
                    process: t.process.clone(),
                    url: url(t.addr),
                    log: t.log.clone(),
                })
                .collect(),
        };
        let applied = Supervisor::applied_record(inner, status.rollout.as_ref());
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .publish(generation, status, Instant::now());
        self.persist(applied);
        if let Err(err) = self.config.state_dir.write_runtime(&record) {
            tracing::error!(error = %err, "cannot record the runtime state");
        }
    }

    /// Rewrites `applied.json` when what it holds changed (a supervisor started after this one
    /// dies adopts from it); before the first apply there is nothing to keep.
    fn persist(&self, applied: Option<AppliedRecord>) {
        let Some(applied) = applied else { return };
        let mut last = self.persisted.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_ref() == Some(&applied) {
            return;
        }
        match self.config.state_dir.write_applied(&applied) {
            Ok(()) => *last = Some(applied),
            Err(err) => tracing::error!(error = %err, "cannot record the applied model"),
        }
    }

    pub(super) fn build_status(&self, inner: &Inner) -> Status {
        let plan = inner.routing.plan.as_deref();
        let services = plan
            .map(|p| p.services())
            .unwrap_or_default()
            .iter()
            .filter_map(|svc| {
                let run = inner.tasks.services.get(&svc.name)?;
                Some(ServiceStatus {
                    name: svc.name.clone(),
                    version: svc.version.clone(),
                    desired_count: svc.desired_count,
                    url: url(run.addr),
                    tasks: run
                        .tasks
                        .iter()
                        .chain(
                            inner
                                .rollout
                                .iter()
                                .filter(|r| r.service() == svc.name)
                                .flat_map(|r| &r.new_tasks),
                        )
                        .map(|t| TaskStatus {
                            id: t.spec.id.clone(),
                            version: t.spec.version.clone(),
                            pid: t.process.pid,
                            url: url(t.addr),
                            log: t.log.display().to_string(),
                        })
                        .collect(),
                    restarts: run.restarts,
                })
            })
            .collect();
        let gateway = inner.routing.gateway.as_ref().map(|g| GatewayStatus {
            name: g.name.clone(),
            url: url(g.addr),
            routes: plan
                .and_then(LocalPlan::gateway)
                .map(|p| p.routes.clone())
                .unwrap_or_default(),
        });
        Status {
            stack: self.config.stack.clone(),
            supervisor_pid: self.me.pid,
            egress_url: url(self.egress),
            services,
            gateway,
            names: plan
                .map(|p| p.names().cloned().collect())
                .unwrap_or_default(),
            blue_green_state: plan.and_then(blue_green_state),
            spec: inner.routing.spec.clone(),
            rollout: inner
                .rollout
                .as_ref()
                .map(driver::RolloutRun::status)
                .or_else(|| inner.interrupted.clone()),
        }
    }
}

/// A listener for each service the plan adds.
pub(super) async fn bind_service_listeners(
    supervisor: &Arc<Supervisor>,
    inner: &Inner,
    plan: &LocalPlan,
) -> Result<BTreeMap<String, (Serving, SocketAddr)>, ApplyError> {
    let mut listeners = BTreeMap::new();
    for svc in plan.services() {
        if !inner.tasks.services.contains_key(&svc.name) {
            let kind = ListenerKind::Service(svc.name.clone());
            let bound = supervisor
                .bind(kind, 0, &format!("service `{}`", svc.name))
                .await?;
            listeners.insert(svc.name.clone(), bound);
        }
    }
    Ok(listeners)
}

/// Takes the services `plan` no longer has out of `inner`, to retire.
pub(super) fn remove_services(inner: &mut Inner, plan: &LocalPlan, applied: &mut Applied) {
    let wanted: BTreeSet<&str> = plan.services().iter().map(|s| s.name.as_str()).collect();
    let removed: Vec<String> = inner
        .tasks
        .services
        .keys()
        .filter(|name| !wanted.contains(name.as_str()))
        .cloned()
        .collect();
    for name in removed {
        if let Some(run) = inner.tasks.services.remove(&name) {
            applied.retiring.extend(run.tasks);
            applied.closing.push(run._serving);
            applied.actions.push(ApplyAction::RemovedService {
                service: name.clone(),
            });
        }
    }
}

impl Supervisor {
    /// The client aliases `plan` needs listeners for and has none yet: each Service Connect
    /// name on its own 127.255.0.0/16 address and its port, when programs run with their own
    /// `/etc/hosts` (none otherwise: demo-app and the fallback use `HTTP_PROXY`).
    pub(super) async fn bind_alias_listeners(
        self: &Arc<Self>,
        inner: &Inner,
        plan: &LocalPlan,
    ) -> Result<BTreeMap<String, (Serving, SocketAddr)>, ApplyError> {
        let mut bound = BTreeMap::new();
        if self.namespaces.is_err() || !plan.runs_programs() {
            return Ok(bound);
        }
        for (authority, addr) in plan.alias_listeners() {
            if inner
                .routing
                .aliases
                .get(&authority)
                .is_some_and(|(_, held)| *held == addr)
            {
                continue;
            }
            let kind = ListenerKind::Alias {
                authority: authority.clone(),
                addr,
            };
            let listening = self.plane.listen(kind, addr.port()).await.map_err(|err| {
                ApplyError::AliasBind {
                    addr,
                    authority: authority.clone(),
                    message: err.message,
                }
            })?;
            bound.insert(authority, listening);
        }
        Ok(bound)
    }

    /// The alias listeners of `plan`: the new ones in, the ones it no longer has closed.
    pub(super) fn switch_aliases(
        inner: &mut Inner,
        plan: &LocalPlan,
        mut fresh: BTreeMap<String, (Serving, SocketAddr)>,
        applied: &mut Applied,
    ) {
        let wanted: BTreeMap<String, SocketAddr> = plan.alias_listeners().into_iter().collect();
        let old = std::mem::take(&mut inner.routing.aliases);
        for (authority, (serving, addr)) in old {
            let keep = wanted.get(&authority) == Some(&addr) && !fresh.contains_key(&authority);
            if keep {
                inner.routing.aliases.insert(authority, (serving, addr));
            } else {
                applied.closing.push(serving);
            }
        }
        inner.routing.aliases.append(&mut fresh);
    }

    /// A listener of the data plane on 127.0.0.1:`port` (0: any), not accepting yet.
    pub(super) async fn bind(
        self: &Arc<Self>,
        kind: ListenerKind,
        port: u16,
        what: &str,
    ) -> Result<(Serving, SocketAddr), ApplyError> {
        self.plane.listen(kind, port).await.map_err(|err| {
            if err.in_use {
                ApplyError::PortInUse {
                    port,
                    what: what.to_owned(),
                }
            } else {
                ApplyError::Bind {
                    port,
                    what: what.to_owned(),
                    source: std::io::Error::other(err.message),
                }
            }
        })
    }
}

/// A task as the data plane routes to it.
pub(super) fn endpoint(task: &RunningTask) -> Endpoint {
    Endpoint {
        task_id: task.spec.id.clone(),
        addr: task.addr,
        version: task.spec.version.clone(),
    }
}

pub(super) fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
