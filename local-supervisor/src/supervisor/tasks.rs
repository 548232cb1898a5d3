//! The tasks: starting demo-app processes for a plan (all healthy or none), replacing one that
//! exits on its own (with a back-off while it keeps crashing), and retiring replaced ones (drain,
//! then SIGTERM).

// One concern of `impl Supervisor`: the parent's state and helpers, whole.
use super::*;

impl Supervisor {
    pub(super) fn task_spec(
        &self,
        inner: &mut Inner,
        plan: &LocalPlan,
        service: &str,
    ) -> Option<TaskSpec> {
        let svc = plan.service(service)?;
        let n = inner.tasks.counters.entry(service.to_owned()).or_insert(0);
        *n += 1;
        let id = format!("{service}-task{n}");
        let (environment, program) = match &svc.program {
            None => (svc.task_environment(self.egress), None),
            Some(own) => {
                let minute = inner
                    .tasks
                    .minute
                    .unwrap_or(local_runtime::rollout::DEFAULT_MINUTE);
                let program = self.program(&id, plan, own, minute);
                let egress = self.namespaces.is_err().then_some(self.egress);
                let env = local_runtime::plan::program::program_environment(
                    &svc.environment,
                    own,
                    (&svc.name, &svc.version),
                    program.port,
                    egress,
                );
                (env, Some(program))
            }
        };
        Some(TaskSpec {
            id,
            service: service.to_owned(),
            version: svc.version.clone(),
            environment,
            program,
        })
    }

    /// How task `id` runs `own`: a free port, the health check and stop timeout on the time
    /// scale, and (with namespaces) its `/etc/hosts` with the plan's Service Connect names.
    fn program(
        &self,
        id: &str,
        plan: &LocalPlan,
        own: &local_runtime::plan::ProgramPlan,
        minute: Duration,
    ) -> task::Program {
        // The OS's free port, released for the program to take (as demo-app's `SERVICE_PORT=0`
        // would, but a program is told its port rather than asked).
        let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_or(0, |a| a.port());
        let check = match &own.health {
            local_runtime::plan::HealthPlan::Command { check, .. } => Some(check),
            local_runtime::plan::HealthPlan::Http { .. } => None,
        };
        let hosts = self.namespaces.is_ok().then(|| {
            let path = self.config.state_dir.logs_dir().join(format!("{id}.hosts"));
            let base = std::fs::read_to_string("/etc/hosts")
                .unwrap_or_else(|_| "127.0.0.1\tlocalhost\n".to_owned());
            let text = local_runtime::plan::program::hosts_file(&base, &plan.alias_addresses());
            if let Err(err) = std::fs::write(&path, text) {
                tracing::error!(error = %err, path = %path.display(), "cannot write the task's hosts file");
            }
            path
        });
        task::Program {
            argv: own.command.clone(),
            dir: own.working_directory.as_ref().map(PathBuf::from),
            port,
            health: own.health.clone(),
            probes: task::Probes::new(check, minute),
            hosts,
            stop_timeout: minute * own.stop_timeout_seconds / 60,
        }
    }

    /// Starts `specs` in parallel; all healthy, or none left running.
    pub(super) async fn start_all(
        &self,
        specs: Vec<TaskSpec>,
        timeout: Duration,
    ) -> Result<Vec<RunningTask>, task::TaskError> {
        let deadline = Instant::now() + timeout;
        let mut set = JoinSet::new();
        let launch = task::Launch {
            program: self.config.demo_app.clone(),
            exe: self.exe.clone(),
            logs: self.config.state_dir.logs_dir(),
            marker: self.config.marker.clone(),
        };
        for spec in specs {
            let launch = launch.clone();
            let exits = self.exits.clone();
            set.spawn(async move { task::start(&launch, spec, deadline, timeout, exits).await });
        }
        let mut started = Vec::new();
        let mut first_error = None;
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(task)) => started.push(task),
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "task failed to start");
                    first_error.get_or_insert(err);
                }
                Err(join) => tracing::error!(error = %join, "task start panicked"),
            }
        }
        match first_error {
            None => Ok(started),
            Some(err) => {
                stop_all(started, Duration::from_secs(2)).await;
                Err(err)
            }
        }
    }

    /// Starts the tasks `plan` adds (new services, new task definitions, higher counts) and
    /// waits until all are healthy, or stops them all; returns them by service.
    pub(super) async fn start_added_tasks(
        &self,
        inner: &mut Inner,
        plan: &LocalPlan,
        old_plan: Option<&LocalPlan>,
        timeout: Duration,
        applied: &mut Applied,
    ) -> Result<BTreeMap<String, Vec<RunningTask>>, ApplyError> {
        let mut specs = Vec::new();
        for svc in plan.services() {
            let count = match (
                inner.tasks.services.get(&svc.name),
                old_plan.and_then(|p| p.service(&svc.name)),
            ) {
                (Some(run), Some(old)) if !old.needs_new_tasks(svc) => {
                    svc.desired_count.saturating_sub(run.tasks.len() as u32)
                }
                _ => svc.desired_count,
            };
            for _ in 0..count {
                specs.extend(self.task_spec(inner, plan, &svc.name));
            }
        }
        let mut new_tasks: BTreeMap<String, Vec<RunningTask>> = BTreeMap::new();
        if specs.iter().any(|s| s.program.is_some()) {
            // Said once per deploy that starts a program: whether any client reaches the names.
            applied.actions.push(ApplyAction::ProgramNames {
                hosts_file: self.namespaces.is_ok(),
                detail: self.namespaces.clone().err().unwrap_or_default(),
            });
        }
        for task in self.start_all(specs, timeout).await? {
            applied.actions.push(ApplyAction::Started {
                task: task.spec.id.clone(),
                version: task.spec.version.clone(),
                url: url(task.addr),
            });
            new_tasks
                .entry(task.spec.service.clone())
                .or_default()
                .push(task);
        }
        Ok(new_tasks)
    }

    /// Removes a task that exited on its own from routing and starts a replacement.
    pub(super) async fn replace_exited(self: Arc<Self>, exit: Exited) {
        let delay = {
            let mut inner = self.inner.lock().await;
            if self.new_task_exited(&mut inner, &exit) {
                return;
            }
            let Some(run) = inner.tasks.services.get_mut(&exit.service) else {
                return;
            };
            let Some(pos) = run.tasks.iter().position(|t| t.spec.id == exit.task_id) else {
                return; // already replaced or being stopped
            };
            // The next snapshot retires it in the data plane.
            run.tasks.remove(pos);
            run.restarts += 1;
            let now = Instant::now();
            while run
                .recent_restarts
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
            {
                run.recent_restarts.pop_front();
            }
            run.recent_restarts.push_back(now);
            let recent = run.recent_restarts.len() as u32;
            tracing::warn!(
                task = %exit.task_id,
                status = %exit.status,
                "task exited on its own; starting a replacement"
            );
            self.publish(&inner);
            // Immediately the first time; then back off, up to 10 s, while it keeps crashing.
            match recent {
                0 | 1 => Duration::ZERO,
                n => Duration::from_millis(250 << (n - 2).min(5)).min(Duration::from_secs(10)),
            }
        };
        tokio::time::sleep(delay).await;
        self.reconcile(&exit.service).await;
    }

    /// Starts tasks until `service` has its desired count again, retrying while it cannot.
    pub(super) async fn reconcile(&self, service: &str) {
        let mut retry = Duration::from_millis(500);
        while !self.stopping.load(Ordering::SeqCst) {
            let mut inner = self.inner.lock().await;
            let Some(plan) = inner.routing.plan.clone() else {
                return;
            };
            let (Some(svc), Some(run)) = (plan.service(service), inner.tasks.services.get(service))
            else {
                return;
            };
            let missing = (svc.desired_count as usize).saturating_sub(run.tasks.len());
            if missing == 0 {
                return;
            }
            let specs: Vec<TaskSpec> = (0..missing)
                .filter_map(|_| self.task_spec(&mut inner, &plan, service))
                .collect();
            let timeout = inner.tasks.health_timeout.unwrap_or(DEFAULT_HEALTH_TIMEOUT);
            match self.start_all(specs, timeout).await {
                Ok(tasks) => {
                    if let Some(run) = inner.tasks.services.get_mut(service) {
                        for task in &tasks {
                            tracing::info!(task = %task.spec.id, addr = %task.addr, "replacement healthy");
                        }
                        run.tasks.extend(tasks);
                    }
                    self.publish(&inner);
                    return;
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot replace a task of {service}; retrying in {} s", retry.as_secs_f64());
                }
            }
            drop(inner);
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(Duration::from_secs(10));
        }
    }
}

/// Drains and stops the replaced tasks, then closes the replaced listeners; returns every
/// action of the apply.
pub(super) async fn retire(plane: &DataPlane, applied: Applied) -> Vec<ApplyAction> {
    let Applied {
        mut actions,
        retiring,
        closing,
    } = applied;
    drain(plane, &retiring).await;
    for task in &retiring {
        actions.push(ApplyAction::Stopped {
            task: task.spec.id.clone(),
            version: task.spec.version.clone(),
        });
    }
    stop_all(retiring, STOP_GRACE).await;
    drop(closing);
    actions
}

/// Waits until no retired task has a request in flight in the data plane (bounded by
/// [`DRAIN_TIMEOUT`]); call once the snapshot without them is published.
pub(super) async fn drain(plane: &DataPlane, tasks: &[RunningTask]) {
    let ids = tasks.iter().map(|t| t.spec.id.clone()).collect();
    plane.drain(ids, DRAIN_TIMEOUT).await;
}

pub(super) async fn stop_all(tasks: Vec<RunningTask>, grace: Duration) {
    let mut set = JoinSet::new();
    for task in tasks {
        set.spawn(task.stop(grace));
    }
    while set.join_next().await.is_some() {}
}
