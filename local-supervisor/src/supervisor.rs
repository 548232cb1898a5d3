//! The supervisor: a long-running process that owns one stack's tasks, proxies and state folder.
//!
//! It starts with nothing but its control API and its data plane (`meshtest-local dataplane`, a
//! process of its own that holds the egress proxy and every other listener, so that traffic
//! keeps flowing when the supervisor dies; [`plane`]), writes `runtime.json`, and waits. Each apply (the first deploy and every later one) brings what runs to a new model:
//!
//! 1. bind the listeners it needs (a port in use fails here, before any process starts);
//! 2. start every new task (new services, new task definitions, scale-ups) and wait until each
//!    answers `GET /` with 200; if one does not, stop them all and change nothing else;
//! 3. publish the new routing snapshot in one step, then retire the tasks it replaces;
//! 4. wait for the retired tasks' in-flight requests, SIGTERM them (demo-app drains), close the
//!    listeners no longer needed;
//! 5. write the blue-green state (as the stack's SSM parameter does on AWS: only once the rest
//!    has succeeded).
//!
//! An apply that gives a service with a BLUE_GREEN, LINEAR or CANARY strategy a new task
//! definition goes in two phases, as one CloudFormation stack update does on AWS: the steps above
//! bring what runs to the new description with that service as it runs (every other service,
//! rule and name; `driver::as_it_runs`), then a rollout takes the service from its running
//! revision to the new one (`driver`), and a rollback comes back to that description.
//!
//! A task that exits on its own is removed from routing and replaced (as ECS keeps the desired
//! count), with a back-off when a service keeps crashing.

mod adopt;
mod api;
mod driver;
mod hook;
mod plane;
pub(crate) mod proxy;
mod routing;
mod shown;
mod task;
mod tasks;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use model::{Stack, StackSpec};
use state_store::BlueGreenState;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Notify, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::wire::{Endpoint, ListenerKind, WireSnapshot};
use local_runtime::changes;
use local_runtime::control::{
    ApplyAction, ApplyRequest, ApplyResponse, DEFAULT_HEALTH_TIMEOUT, GatewayStatus, ServiceStatus,
    Status, TaskStatus,
};
use local_runtime::plan::LocalPlan;
use local_runtime::process::{Marker, ProcessId};
use local_runtime::state_dir::{RuntimeRecord, StateDir, StateDirError, TaskRecord};
use plane::{DataPlane, Listening as Serving, PlaneError};
use routing::{bind_service_listeners, remove_services, url};
use task::{Exited, RunningTask, TaskSpec};
use tasks::{drain, retire, stop_all};

/// How long a retired task may keep answering requests it already accepted before SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a task may take to stop after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What the supervisor runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub stack: String,
    pub state_dir: StateDir,
    /// The `demo-app` binary every task runs.
    pub demo_app: PathBuf,
    /// What every task carries in its environment (the supervisor carries it too).
    pub marker: Marker,
    /// Take over what a dead predecessor left running (`adopt.rs`) instead of starting empty.
    pub adopt: bool,
}

/// Why the supervisor could not start.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(transparent)]
    StateDir(#[from] StateDirError),
    #[error("cannot listen on 127.0.0.1 for the {what}")]
    Bind {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read random bytes for the control token")]
    Token(#[source] std::io::Error),
    #[error("cannot find this process in the process table")]
    Identity,
    #[error(transparent)]
    Plane(#[from] PlaneError),
}

/// Why an apply failed; the message is the one line `cargo xtask` prints.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    #[error("{0}")]
    Invalid(String),
    #[error("this runtime runs stack `{running}`, not `{asked}`")]
    WrongStack { running: String, asked: String },
    #[error(
        "cannot listen on 127.0.0.1:{port} for {what}: the port is in use; stop what listens there, \
         or deploy with MESHTEST_LOCAL_GATEWAY_PORT=0 to take any free port"
    )]
    PortInUse { port: u16, what: String },
    #[error("cannot listen on 127.0.0.1:{port} for {what}: {source}")]
    Bind {
        port: u16,
        what: String,
        source: std::io::Error,
    },
    #[error(
        "cannot listen on {addr} for the service connect name `{authority}`: {message}; a port below 1024 needs root or a lower net.ipv4.ip_unprivileged_port_start, or deploy with MESHTEST_LOCAL_NAMESPACES=off to reach the names through HTTP_PROXY instead"
    )]
    AliasBind {
        addr: SocketAddr,
        authority: String,
        message: String,
    },
    /// Boxed: a task's error names its service, version and log, which would make every
    /// `Result` of the supervisor as large.
    #[error("{0}")]
    Task(Box<task::TaskError>),
    #[error("the local runtime is shutting down")]
    ShuttingDown,
    #[error("cannot write the blue-green state: {0}")]
    State(StateDirError),
    /// Refused because of a rollout (one in progress, or one this apply cannot start).
    #[error("{0}")]
    Conflict(String),
    /// The changes beside a rollout failed before any of them was made: the rollout did not
    /// start either.
    #[error(
        "{cause}; nothing changed and {service} was not rolled out: fix that, then deploy again"
    )]
    BesideRollout {
        service: String,
        cause: Box<ApplyError>,
    },
}

impl From<task::TaskError> for ApplyError {
    fn from(err: task::TaskError) -> ApplyError {
        ApplyError::Task(Box::new(err))
    }
}

impl ApplyError {
    pub(crate) fn status(&self) -> u16 {
        match self {
            ApplyError::BesideRollout { cause, .. } => cause.status(),
            ApplyError::Invalid(_) => 400,
            ApplyError::WrongStack { .. }
            | ApplyError::PortInUse { .. }
            | ApplyError::Conflict(_) => 409,
            ApplyError::ShuttingDown => 503,
            ApplyError::Bind { .. }
            | ApplyError::AliasBind { .. }
            | ApplyError::Task(_)
            | ApplyError::State(_) => 500,
        }
    }
}

/// One service: its listener (which spreads requests over its tasks and outlives them) and its
/// healthy tasks.
#[derive(Debug)]
struct ServiceRun {
    addr: SocketAddr,
    _serving: Serving,
    tasks: Vec<RunningTask>,
    restarts: u32,
    recent_restarts: VecDeque<Instant>,
}

#[derive(Debug)]
struct GatewayRun {
    name: String,
    /// The port asked for (0: any); a new apply rebinds only when this changes.
    requested_port: u16,
    addr: SocketAddr,
    _serving: Serving,
}

/// The supervisor's state, by concern: what routes (the model and the gateway), what runs (the
/// services' tasks) and the rollout (its driver's). One lock over the three on purpose: an
/// apply changes all of them at once, and every publish reads them as one snapshot.
#[derive(Debug, Default)]
struct Inner {
    routing: Routing,
    tasks: Tasks,
    rollout: Option<driver::RolloutRun>,
    /// The rollout a dead predecessor was running, as rolled back on adoption (`adopt.rs`);
    /// shown while no rollout has started since.
    interrupted: Option<local_runtime::rollout::LocalRollout>,
}

/// The routing table's inputs: the running model and its plan, and the gateway's listener
/// (`routing.rs` turns them into the proxies' snapshot).
#[derive(Debug, Default)]
struct Routing {
    spec: Option<StackSpec>,
    plan: Option<Arc<LocalPlan>>,
    gateway: Option<GatewayRun>,
    /// The Service Connect client aliases' own listeners (`name:port`), while programs run
    /// with their own `/etc/hosts`.
    aliases: BTreeMap<String, (Serving, SocketAddr)>,
}

/// The tasks (`tasks.rs`): each service's, the task ids handed out so far, and how long a new
/// task may take to become healthy (the last apply's, for replacements).
#[derive(Debug, Default)]
struct Tasks {
    services: BTreeMap<String, ServiceRun>,
    counters: BTreeMap<String, u64>,
    health_timeout: Option<Duration>,
    /// The last apply's model minute: a program's health check and stop timeout scale by it.
    minute: Option<Duration>,
}

#[derive(Debug)]
pub(crate) struct Supervisor {
    config: Config,
    plane: Arc<DataPlane>,
    /// The data plane's egress proxy: every task's `HTTP_PROXY`.
    egress: SocketAddr,
    /// This binary: its `task-exec` starts services' own programs.
    exe: PathBuf,
    /// Whether each program gets its own `/etc/hosts` (`Err`: why not; `HTTP_PROXY` then).
    namespaces: Result<(), String>,
    control_url: String,
    token: String,
    me: ProcessId,
    inner: Mutex<Inner>,
    /// What `GET /status` shows: a status once the data plane applied what it describes.
    status: StdMutex<shown::Shown<Status>>,
    exits: mpsc::UnboundedSender<Exited>,
    shutdown: Notify,
    stopping: AtomicBool,
    /// What `applied.json` holds, so it is rewritten only when that changes.
    persisted: StdMutex<Option<local_runtime::state_dir::AppliedRecord>>,
}

/// What an apply did, and the tasks and listeners it replaced, gathered across its steps.
#[derive(Debug, Default)]
struct Applied {
    actions: Vec<ApplyAction>,
    retiring: Vec<RunningTask>,
    closing: Vec<Serving>,
}

/// The listeners bound and the tasks started for an apply, before the switch.
#[derive(Debug)]
struct Fresh {
    listeners: BTreeMap<String, (Serving, SocketAddr)>,
    tasks: BTreeMap<String, Vec<RunningTask>>,
}

/// Runs the supervisor for `config` until `POST /shutdown` or `signal`, then stops every task.
pub async fn run(config: Config, signal: impl Future<Output = ()>) -> Result<(), SupervisorError> {
    config.state_dir.create()?;
    let me = ProcessId::current().ok_or(SupervisorError::Identity)?;
    let localhost = (Ipv4Addr::LOCALHOST, 0);
    let control = TcpListener::bind(localhost)
        .await
        .map_err(|source| SupervisorError::Bind {
            what: "control API",
            source,
        })?;
    let control_addr = control
        .local_addr()
        .map_err(|source| SupervisorError::Bind {
            what: "control API",
            source,
        })?;
    let (plane, leftover) = match adopt::leftover(&config).await {
        Some((plane, leftover)) => (plane, Some(leftover)),
        None => (DataPlane::start(&config.state_dir).await?, None),
    };
    let (exits_tx, mut exits) = mpsc::unbounded_channel();
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("meshtest-local"));
    let namespaces = crate::task_exec::available(&exe, &config.state_dir.logs_dir());
    match &namespaces {
        Ok(()) => tracing::info!("services' own programs get their own /etc/hosts"),
        Err(why) => tracing::warn!(
            why,
            "no per-task /etc/hosts: services' own programs reach the mesh names through HTTP_PROXY only"
        ),
    }
    let supervisor = Arc::new(Supervisor {
        exe,
        namespaces,
        token: local_runtime::process::random_token().map_err(SupervisorError::Token)?,
        config,
        egress: plane.egress,
        plane,
        control_url: url(control_addr),
        me,
        inner: Mutex::new(Inner::default()),
        status: StdMutex::new(shown::Shown::new(Status {
            stack: String::new(),
            supervisor_pid: 0,
            egress_url: String::new(),
            services: Vec::new(),
            gateway: None,
            names: Vec::new(),
            blue_green_state: None,
            spec: None,
            rollout: None,
        })),
        exits: exits_tx,
        shutdown: Notify::new(),
        stopping: AtomicBool::new(false),
        persisted: StdMutex::new(None),
    });
    if let Some(leftover) = leftover {
        supervisor.adopt(leftover).await;
    }
    let control_serving = api::serve(control, Arc::clone(&supervisor));
    supervisor.publish(&*supervisor.inner.lock().await);
    tracing::info!(
        pid = supervisor.me.pid,
        stack = %supervisor.config.stack,
        control = %supervisor.control_url,
        egress = %url(supervisor.egress),
        "ready"
    );

    tokio::pin!(signal);
    loop {
        tokio::select! {
            Some(exit) = exits.recv() => {
                let supervisor = Arc::clone(&supervisor);
                tokio::spawn(async move { supervisor.replace_exited(exit).await });
            }
            () = supervisor.shutdown.notified() => break,
            () = &mut signal => break,
        }
    }
    supervisor.stop_everything().await;
    control_serving.abort();
    tracing::info!("stopped");
    Ok(())
}

impl Supervisor {
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The status as the data plane routes: see [`shown`].
    pub(crate) fn status(&self) -> Arc<Status> {
        let applied = self.plane.applied();
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .current(applied, Instant::now())
    }

    /// The newest status published, applied or not: what an apply answers with.
    fn published_status(&self) -> Arc<Status> {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .latest()
    }

    /// The status once the data plane applied everything published so far (waiting at most
    /// [`shown::APPLY_WAIT`]): what a command that changed it answers, so that its caller's next
    /// `GET /status` shows the change too.
    pub(crate) async fn applied_status(&self) -> Arc<Status> {
        self.plane
            .caught_up(Instant::now() + shown::APPLY_WAIT)
            .await;
        self.status()
    }

    pub(crate) fn request_shutdown(&self) {
        self.shutdown.notify_one();
    }

    /// Brings what runs to `request.spec`; see the module docs for the order of steps.
    pub(crate) async fn apply(
        self: &Arc<Self>,
        request: ApplyRequest,
    ) -> Result<ApplyResponse, ApplyError> {
        let started = Instant::now();
        if self.stopping.load(Ordering::SeqCst) {
            return Err(ApplyError::ShuttingDown);
        }
        let stack = self.validate(&request.spec)?;
        if let Some(ms) = request.minute_ms {
            local_runtime::rollout::minute(Duration::from_millis(ms))
                .map_err(|e| ApplyError::Invalid(e.to_string()))?;
        }
        let plan = Arc::new(LocalPlan::from_stack(&stack));
        let timeout = Duration::from_millis(request.health_timeout_ms.clamp(100, 600_000));

        let mut inner = self.inner.lock().await;
        if self.stopping.load(Ordering::SeqCst) {
            return Err(ApplyError::ShuttingDown);
        }
        if let Some(run) = inner.rollout.as_ref().filter(|r| r.in_progress()) {
            return Err(ApplyError::Conflict(format!(
                "the rollout of {} is still in progress: wait for it (`status --local --watch`), or roll it back (`rollback --local`)",
                run.service()
            )));
        }
        inner.tasks.health_timeout = Some(timeout);
        inner.tasks.minute = Some(request.minute_ms.map_or(
            local_runtime::rollout::DEFAULT_MINUTE,
            Duration::from_millis,
        ));
        let old_plan = inner.routing.plan.clone();
        let changes = changes::diff(old_plan.as_deref(), &plan);
        // A rollout goes in two phases: first the new description with the rolling service as
        // it runs (`driver::as_it_runs`: every other change, all or nothing), then the rollout
        // from the running revision to `plan`.
        let (plan, spec, rolling) = match (
            driver::rollout_service(old_plan.as_deref(), &plan, &stack)?,
            old_plan.as_deref(),
            inner.routing.spec.as_ref(),
        ) {
            (Some(service), Some(old), Some(old_spec)) => {
                let (spec, meanwhile) = driver::as_it_runs(old_spec, old, &stack, &service)?;
                (Arc::new(meanwhile), spec, Some((service, plan)))
            }
            _ => (plan, request.spec, None),
        };
        if let Some((service, target)) = &rolling
            && old_plan.as_deref() == Some(&*plan)
        {
            // Nothing beside the rollout changes what runs.
            inner.routing.spec = Some(spec);
            let start = driver::Start {
                service: service.clone(),
                stack: &stack,
                plan: Arc::clone(target),
                minute: request.minute_ms.map(Duration::from_millis),
                health_timeout: timeout,
            };
            let actions = self.start_rollout(&mut inner, start)?;
            return Ok(self.response(changes, actions, started));
        }
        let want_gateway = plan.gateway().map(|g| {
            (
                g.name.clone(),
                request.gateway_port.unwrap_or(g.listener_port),
            )
        });
        let rebind_gateway = want_gateway.as_ref().map(|(_, port)| *port)
            != inner.routing.gateway.as_ref().map(|g| g.requested_port);
        if changes.is_empty() && !rebind_gateway {
            // What runs is the state; a copy on disk that drifted (edited, stale) is put right.
            self.write_blue_green_state(&plan)?;
            return Ok(self.response(changes, Vec::new(), started));
        }
        let mut applied = Applied::default();

        // Steps 1 and 2 fail before anything changes: with a rollout, it did not start either.
        let beside = |err: ApplyError| match &rolling {
            Some((service, _)) => ApplyError::BesideRollout {
                service: service.clone(),
                cause: Box::new(err),
            },
            None => err,
        };

        // 1. Listeners: a port in use fails before any process starts.
        let new_gateway = match (&want_gateway, rebind_gateway) {
            (Some((name, port)), true) => Some(
                self.bind(ListenerKind::Gateway, *port, &format!("gateway `{name}`"))
                    .await
                    .map_err(beside)?,
            ),
            _ => None,
        };
        let listeners = bind_service_listeners(self, &inner, &plan)
            .await
            .map_err(beside)?;
        let aliases = self
            .bind_alias_listeners(&inner, &plan)
            .await
            .map_err(beside)?;

        // 2. New tasks, all healthy or none.
        let tasks = self
            .start_added_tasks(
                &mut inner,
                &plan,
                old_plan.as_deref(),
                timeout,
                &mut applied,
            )
            .await
            .map_err(beside)?;

        // 3. Commit: one routing switch, then retire what it replaced.
        remove_services(&mut inner, &plan, &mut applied);
        Supervisor::switch_aliases(&mut inner, &plan, aliases, &mut applied);
        let fresh = Fresh { listeners, tasks };
        self.switch_services(&mut inner, &plan, old_plan.as_deref(), fresh, &mut applied);
        if rebind_gateway {
            self.rebind_gateway(&mut inner, want_gateway, new_gateway, &mut applied);
        } else if let (Some(gateway), Some((name, _))) =
            (inner.routing.gateway.as_mut(), want_gateway)
        {
            gateway.name = name;
        }
        inner.routing.plan = Some(Arc::clone(&plan));
        // With a rollout, the description it starts from (and a rollback comes back to).
        inner.routing.spec = Some(spec);
        self.publish(&inner);

        // 4. Drain, then stop, what was replaced (the data plane retired it with the snapshot).
        let mut actions = retire(&self.plane, applied).await;

        // 5. The rollout the callers' tasks were replaced for, or the blue-green state, once
        // everything else succeeded.
        if let Some((service, target)) = rolling {
            let start = driver::Start {
                service,
                stack: &stack,
                plan: target,
                minute: request.minute_ms.map(Duration::from_millis),
                health_timeout: timeout,
            };
            actions.extend(self.start_rollout(&mut inner, start)?);
            return Ok(self.response(changes, actions, started));
        }
        if let Some(state) = self.write_blue_green_state(&plan)? {
            actions.push(ApplyAction::WroteBlueGreenState { state });
        }
        self.publish(&inner);
        Ok(self.response(changes, actions, started))
    }

    /// `spec` as a validated stack of the stack this supervisor runs.
    fn validate(&self, spec: &StackSpec) -> Result<Stack, ApplyError> {
        let stack = Stack::new(spec.clone()).map_err(|errors| {
            let problems: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
            ApplyError::Invalid(format!(
                "the stack does not validate: {}",
                problems.join("; ")
            ))
        })?;
        if stack.name() != self.config.stack {
            return Err(ApplyError::WrongStack {
                running: self.config.stack.clone(),
                asked: stack.name().to_owned(),
            });
        }
        // The model only checks that the state is JSON; the status reports it as a state.
        if let Some(bg) = &stack.spec().blue_green
            && let Err(err) = BlueGreenState::from_json(&bg.state_json)
        {
            return Err(ApplyError::Invalid(format!(
                "the stack's blue-green state is not a state: {err}"
            )));
        }
        Ok(stack)
    }

    fn response(
        &self,
        changes: Vec<changes::Change>,
        actions: Vec<ApplyAction>,
        started: Instant,
    ) -> ApplyResponse {
        let status = (*self.published_status()).clone();
        let port = status.gateway.as_ref().and_then(|g| {
            let (_, port) = g.url.rsplit_once(':')?;
            port.parse().ok()
        });
        let changes = match port {
            Some(port) => changes::gateway_listens_on(changes, port),
            None => changes,
        };
        ApplyResponse {
            changes,
            actions,
            status,
            elapsed_ms: elapsed_ms(started),
        }
    }

    /// Writes `plan`'s blue-green state to `state.json`, if it has one; returns it.
    fn write_blue_green_state(
        &self,
        plan: &LocalPlan,
    ) -> Result<Option<BlueGreenState>, ApplyError> {
        let Some(text) = plan.blue_green_state() else {
            return Ok(None);
        };
        self.config
            .state_dir
            .write_blue_green_state(text)
            .map_err(ApplyError::State)?;
        Ok(blue_green_state(plan))
    }

    /// Stops every task and closes every listener but the control API.
    async fn stop_everything(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let mut inner = self.inner.lock().await;
        let mut tasks = Vec::new();
        for run in inner.tasks.services.values_mut() {
            tasks.append(&mut run.tasks);
        }
        let mut hooks = Vec::new();
        if let Some(run) = inner.rollout.as_mut() {
            tasks.append(&mut run.new_tasks);
            hooks = run.take_hooks();
        }
        for hook in hooks {
            hook.stop().await;
        }
        let services = std::mem::take(&mut inner.tasks.services);
        let gateway = inner.routing.gateway.take();
        inner.routing.plan = None;
        // Keep the stopping tasks in runtime.json until they are gone.
        self.plane.publish(WireSnapshot::default());
        stop_all(tasks, STOP_GRACE).await;
        drop(services);
        drop(gateway);
        self.publish(&inner);
        self.plane.shutdown().await;
    }
}

/// `plan`'s blue-green state as a state: it parses, [`Supervisor::validate`] refused it otherwise.
fn blue_green_state(plan: &LocalPlan) -> Option<BlueGreenState> {
    plan.blue_green_state()
        .and_then(|text| BlueGreenState::from_json(text).ok())
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
