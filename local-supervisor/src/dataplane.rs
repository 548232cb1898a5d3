//! `meshtest-local dataplane`: the data plane of one stack's local runtime, a process of its
//! own so that it survives its supervisor, as AWS separates its services' data planes from their
//! control planes so that what runs keeps running when a control plane fails (AWS Fault Isolation
//! Boundaries, "AWS infrastructure", control planes and data planes:
//! <https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/aws-infrastructure.html>).
//!
//! It owns every listener (the egress proxy, bound at start; the gateway and the service
//! listeners, bound when the supervisor asks) and the routing snapshot the proxies read
//! (`supervisor::proxy`, whose request path is unchanged), and answers the supervisor on the
//! state folder's unix socket ([`crate::wire`]). The supervisor starts it with the folder's
//! marker, so `destroy` finds and stops it like any task; a supervisor that dies leaves it
//! serving the last snapshot it pushed, to the tasks that snapshot lists.
//!
//! Tasks are known by id and address: a snapshot that no longer lists a task retires it (no new
//! request starts on it, as before) and keeps it until the supervisor's drain finds nothing in
//! flight on it.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use local_runtime::plan::LocalPlan;
use model::{Stack, StackSpec, TestTrafficRule};
use tokio::io::BufReader;
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::supervisor::proxy::{
    self, AlarmCounter, AnswerCounts, Instance, Listener, RolloutRoute, Router, Snapshot,
};
use crate::wire::{
    Endpoint, HeldListener, ListenerKind, PeriodCounts, Request, Response, WireAlarm, WireSnapshot,
    read_line, write_line,
};
use local_runtime::control::VersionTraffic;

/// How long a drain may be asked to wait at most.
const MAX_DRAIN: Duration = Duration::from_secs(30);

/// A listener: bound, then accepting once a snapshot lists it.
#[derive(Debug)]
struct Bound {
    kind: Listener,
    addr: SocketAddr,
    /// Until it accepts.
    listener: Option<TcpListener>,
    serving: Option<JoinHandle<()>>,
}

impl Drop for Bound {
    fn drop(&mut self) {
        if let Some(serving) = &self.serving {
            serving.abort();
        }
    }
}

/// What the data plane holds besides the router's snapshot.
#[derive(Debug, Default)]
struct State {
    generation: u64,
    next_listener: u64,
    listeners: HashMap<u64, Bound>,
    /// The tasks of the current snapshot, by id.
    live: HashMap<String, Arc<Instance>>,
    /// Tasks a snapshot dropped, kept until drained.
    retired: HashMap<String, Arc<Instance>>,
    /// The model of the current plan and the plan, derived once per model.
    plan: Option<(StackSpec, Arc<LocalPlan>)>,
    /// The watched alarms' counters, with what they were made from.
    alarms: HashMap<String, (WireAlarm, Arc<AlarmCounter>)>,
    /// Every version's answers since the start, by service and version (kept when its tasks
    /// go: a reader takes differences of cumulative counts).
    traffic: BTreeMap<(String, String), Arc<AnswerCounts>>,
}

#[derive(Debug)]
struct DataPlane {
    router: Arc<Router>,
    egress: SocketAddr,
    state: Mutex<State>,
    shutdown: Notify,
}

/// Serves the data plane until `Shutdown` on `socket` or `signal`.
pub(crate) async fn run(
    socket: PathBuf,
    signal: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let egress = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("cannot listen on 127.0.0.1 for the egress proxy")?;
    let egress_addr = egress
        .local_addr()
        .context("cannot listen on 127.0.0.1 for the egress proxy")?;
    // sun_path holds 108 bytes with its NUL: a longer path cannot be bound.
    if socket.as_os_str().len() > 107 {
        anyhow::bail!(
            "the socket path {} is longer than a unix socket allows (107 bytes): use a shorter CARGO_TARGET_DIR",
            socket.display()
        );
    }
    // A socket file left by a data plane that is gone (its supervisor stopped every process of
    // the stack before starting this one).
    let _ = std::fs::remove_file(&socket);
    let control = UnixListener::bind(&socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {} to its owner", socket.display()))?;
    }
    let router = Router::new();
    let plane = Arc::new(DataPlane {
        router: Arc::clone(&router),
        egress: egress_addr,
        state: Mutex::new(State::default()),
        shutdown: Notify::new(),
    });
    let serving_egress = proxy::serve(egress, Listener::Egress, router);
    tracing::info!(pid = std::process::id(), egress = %egress_addr, socket = %socket.display(), "data plane ready");
    tokio::pin!(signal);
    loop {
        tokio::select! {
            accepted = control.accept() => match accepted {
                Ok((stream, _)) => {
                    let plane = Arc::clone(&plane);
                    tokio::spawn(async move { plane.answer(stream).await });
                }
                Err(err) => {
                    tracing::warn!(error = %err, "control accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = plane.shutdown.notified() => break,
            () = &mut signal => break,
        }
    }
    serving_egress.abort();
    plane.lock().listeners.clear();
    let _ = std::fs::remove_file(&socket);
    tracing::info!("data plane stopped");
    Ok(())
}

impl DataPlane {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers the one request of a connection.
    async fn answer(self: Arc<Self>, stream: UnixStream) {
        let mut stream = BufReader::new(stream);
        let request = match read_line::<Request>(&mut stream).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(err) => {
                let refused = Response::Refused {
                    message: format!("not a request: {err}"),
                    in_use: false,
                };
                let _ = write_line(&mut stream, &refused).await;
                return;
            }
        };
        let response = self.handle(request).await;
        if let Err(err) = write_line(&mut stream, &response).await {
            tracing::debug!(error = %err, "cannot answer the supervisor");
        }
    }

    async fn handle(self: &Arc<Self>, request: Request) -> Response {
        match request {
            Request::Hello => {
                // One lock at a time: a guard in the struct expression would live until its end.
                let generation = self.lock().generation;
                Response::Hello {
                    pid: std::process::id(),
                    egress: self.egress,
                    generation,
                    listeners: self.held(),
                }
            }
            Request::Listen { listener, port } => self.listen(listener, port).await,
            Request::Close { id } => {
                self.lock().listeners.remove(&id);
                Response::Done
            }
            Request::Publish { snapshot } => match self.publish(*snapshot) {
                Ok(()) => Response::Done,
                Err(message) => Response::Refused {
                    message,
                    in_use: false,
                },
            },
            Request::Drain { tasks, timeout_ms } => {
                let left = self
                    .drain(&tasks, Duration::from_millis(timeout_ms).min(MAX_DRAIN))
                    .await;
                Response::Drained { left }
            }
            Request::AlarmCounts { service } => {
                let counter = self.lock().alarms.get(&service).map(|(_, c)| Arc::clone(c));
                let periods = counter.map(|c| c.take()).unwrap_or_default();
                Response::Counts {
                    periods: periods
                        .into_iter()
                        .map(|(period, answers, errors, new_answers)| PeriodCounts {
                            period,
                            answers,
                            errors,
                            new_answers,
                        })
                        .collect(),
                }
            }
            Request::Traffic => Response::Traffic {
                services: self
                    .lock()
                    .traffic
                    .iter()
                    .map(|((service, version), counts)| {
                        let (answers, errors) = counts.read();
                        VersionTraffic {
                            service: service.clone(),
                            version: version.clone(),
                            answers,
                            errors,
                        }
                    })
                    .collect(),
            },
            Request::Shutdown => {
                self.shutdown.notify_one();
                Response::Done
            }
        }
    }

    /// The listeners held, for a supervisor that adopts them.
    fn held(&self) -> Vec<HeldListener> {
        let mut held: Vec<HeldListener> = self
            .lock()
            .listeners
            .iter()
            .filter_map(|(id, bound)| {
                let listener = match &bound.kind {
                    Listener::Gateway => ListenerKind::Gateway,
                    Listener::Service(name) => ListenerKind::Service(name.to_string()),
                    Listener::Alias(authority) => ListenerKind::Alias {
                        authority: authority.to_string(),
                        addr: bound.addr,
                    },
                    // Not bound on request: the data plane's own, reported as `egress`.
                    Listener::Egress => return None,
                };
                Some(HeldListener {
                    id: *id,
                    listener,
                    addr: bound.addr,
                })
            })
            .collect();
        held.sort_by_key(|h| h.id);
        held
    }

    async fn listen(&self, kind: ListenerKind, port: u16) -> Response {
        // A client alias listens on its own address; everything else on 127.0.0.1.
        let at = match &kind {
            ListenerKind::Alias { addr, .. } => *addr,
            _ => SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        };
        let listener = match TcpListener::bind(at).await {
            Ok(listener) => listener,
            Err(err) => {
                return Response::Refused {
                    in_use: err.kind() == std::io::ErrorKind::AddrInUse,
                    message: err.to_string(),
                };
            }
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(err) => {
                return Response::Refused {
                    message: err.to_string(),
                    in_use: false,
                };
            }
        };
        let kind = match kind {
            ListenerKind::Gateway => Listener::Gateway,
            ListenerKind::Service(name) => Listener::Service(Arc::from(name.as_str())),
            ListenerKind::Alias { authority, .. } => Listener::Alias(Arc::from(authority.as_str())),
        };
        let mut state = self.lock();
        state.next_listener += 1;
        let id = state.next_listener;
        state.listeners.insert(
            id,
            Bound {
                kind,
                addr,
                listener: Some(listener),
                serving: None,
            },
        );
        Response::Listening { id, addr }
    }

    /// Swaps in `wire`'s snapshot, then retires the tasks it no longer lists (the order the
    /// drain relies on: a request either sees the new snapshot or counts itself in first).
    fn publish(&self, wire: WireSnapshot) -> Result<(), String> {
        let mut state = self.lock();
        if wire.generation <= state.generation {
            return Ok(()); // an older snapshot than the one applied
        }
        let plan = match wire.spec {
            None => None,
            Some(spec) => match &state.plan {
                Some((known, plan)) if *known == spec => Some(Arc::clone(plan)),
                _ => {
                    let stack = Stack::new(spec.clone())
                        .map_err(|e| format!("the routing model does not validate: {e}"))?;
                    let plan = Arc::new(LocalPlan::from_stack(&stack));
                    state.plan = Some((spec, Arc::clone(&plan)));
                    Some(plan)
                }
            },
        };
        let mut live = HashMap::new();
        let State {
            live: known_live,
            traffic,
            ..
        } = &mut *state;
        let mut instance = |service: &str, e: &Endpoint| {
            let known = known_live
                .get(&e.task_id)
                .filter(|i| i.addr == e.addr)
                .cloned();
            let instance = known.unwrap_or_else(|| {
                let counts = traffic
                    .entry((service.to_owned(), e.version.clone()))
                    .or_default();
                Instance::counted(e.task_id.clone(), e.addr, Arc::clone(counts))
            });
            live.insert(e.task_id.clone(), Arc::clone(&instance));
            instance
        };
        let instances: HashMap<String, Vec<Arc<Instance>>> = wire
            .instances
            .iter()
            .map(|(service, tasks)| {
                let tasks = tasks.iter().map(|e| instance(service, e)).collect();
                (service.clone(), tasks)
            })
            .collect();
        let rollouts: HashMap<String, RolloutRoute> = wire
            .rollouts
            .iter()
            .map(|(service, rollout)| {
                let route = RolloutRoute {
                    split: rollout.split,
                    test_rule: rollout.test_rule.as_ref().map(|r| TestTrafficRule {
                        header: r.header.clone(),
                        value: r.value.clone(),
                    }),
                    new: rollout.new.iter().map(|e| instance(service, e)).collect(),
                };
                (service.clone(), route)
            })
            .collect();
        let mut alarms = HashMap::new();
        for (service, wire_alarm) in &wire.alarms {
            let counter = match state.alarms.get(service) {
                Some((known, counter)) if known == wire_alarm => Arc::clone(counter),
                _ => Arc::new(AlarmCounter::new(
                    wire_alarm.counted,
                    since_unix_ms(wire_alarm.started_unix_ms),
                    Duration::from_millis(wire_alarm.period_ms),
                )),
            };
            alarms.insert(service.clone(), (*wire_alarm, counter));
        }
        self.router.publish(Snapshot {
            plan,
            instances,
            rollouts,
            alarms: alarms
                .iter()
                .map(|(s, (_, c))| (s.clone(), Arc::clone(c)))
                .collect(),
        });
        // A retired task nobody drains (one that exited) is forgotten once idle.
        state.retired.retain(|_, instance| instance.inflight() > 0);
        for (id, old) in std::mem::replace(&mut state.live, live) {
            if !state.live.contains_key(&id) {
                old.retire();
                state.retired.insert(id, old);
            }
        }
        state.alarms = alarms;
        state.generation = wire.generation;
        let router = &self.router;
        for id in &wire.serving {
            if let Some(bound) = state.listeners.get_mut(id)
                && let Some(listener) = bound.listener.take()
            {
                bound.serving = Some(proxy::serve(
                    listener,
                    bound.kind.clone(),
                    Arc::clone(router),
                ));
            }
        }
        Ok(())
    }

    /// Waits until none of `tasks` (retired) has a request in flight, up to `timeout`; returns
    /// how many requests are still in flight, and forgets the tasks.
    async fn drain(&self, tasks: &[String], timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let inflight: usize = {
                let state = self.lock();
                tasks
                    .iter()
                    .filter_map(|id| state.retired.get(id))
                    .map(|i| i.inflight())
                    .sum()
            };
            if inflight == 0 || Instant::now() >= deadline {
                let mut state = self.lock();
                for id in tasks {
                    state.retired.remove(id);
                }
                return inflight;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The instant `unix_ms` (milliseconds since the epoch) was, on this process's clock.
fn since_unix_ms(unix_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let ago = Duration::from_millis(now_ms.saturating_sub(unix_ms));
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::wire::{WireRollout, call};

    fn socket(test: &str) -> PathBuf {
        std::env::temp_dir().join(format!("meshtest-dp-{test}-{}.sock", std::process::id()))
    }

    /// A data plane on its socket, serving until the test ends.
    async fn started(test: &str) -> (PathBuf, SocketAddr) {
        let path = socket(test);
        tokio::spawn(run(path.clone(), std::future::pending()));
        for _ in 0..200 {
            if let Ok(Response::Hello { egress, .. }) = call(&path, &Request::Hello).await {
                return (path, egress);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the data plane did not start");
    }

    /// A listener serves only once a snapshot lists it; a task dropped from the snapshot is
    /// retired and drains; an older snapshot arriving late changes nothing.
    #[tokio::test]
    async fn snapshots_route_retire_and_open_listeners() {
        let (path, _) = started("route").await;
        let Response::Listening { id, addr } = call(
            &path,
            &Request::Listen {
                listener: ListenerKind::Gateway,
                port: 0,
            },
        )
        .await
        .unwrap() else {
            panic!("no listener");
        };
        let spec = model::examples::gateway("gateway");
        let task = Endpoint {
            task_id: "blue-task1".into(),
            addr: "127.0.0.1:9".parse().unwrap(),
            version: "1".into(),
        };
        let snapshot = |generation, tasks: Vec<Endpoint>| WireSnapshot {
            generation,
            spec: Some(spec.clone()),
            serving: vec![id],
            instances: BTreeMap::from([("blue".to_owned(), tasks)]),
            rollouts: BTreeMap::from([(
                "green".to_owned(),
                WireRollout {
                    split: local_runtime::rollout::Split::OLD,
                    test_rule: None,
                    new: Vec::new(),
                },
            )]),
            alarms: BTreeMap::from([(
                "blue".to_owned(),
                WireAlarm {
                    started_unix_ms: 0,
                    period_ms: 1000,
                    counted: Default::default(),
                },
            )]),
        };
        let publish = |s: WireSnapshot| {
            let path = path.clone();
            async move {
                call(
                    &path,
                    &Request::Publish {
                        snapshot: Box::new(s),
                    },
                )
                .await
                .unwrap()
            }
        };
        assert_eq!(
            publish(snapshot(2, vec![task.clone()])).await,
            Response::Done
        );
        // The gateway now accepts, and routes `/blue` to the task (nothing listens there: 502).
        let answer = tokio::task::spawn_blocking(move || {
            use std::io::{Read as _, Write as _};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream
                .write_all(b"GET /blue HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
        assert!(answer.contains("blue-task1"), "{answer}");
        // An older snapshot is ignored; a newer one without the task retires it.
        assert_eq!(publish(snapshot(1, Vec::new())).await, Response::Done);
        let Response::Hello {
            generation,
            listeners,
            ..
        } = call(&path, &Request::Hello).await.unwrap()
        else {
            panic!("no hello");
        };
        assert_eq!(generation, 2);
        // What a supervisor that takes over this data plane learns of its listeners.
        assert_eq!(
            listeners,
            vec![HeldListener {
                id,
                listener: ListenerKind::Gateway,
                addr,
            }]
        );
        assert_eq!(publish(snapshot(3, Vec::new())).await, Response::Done);
        let drained = call(
            &path,
            &Request::Drain {
                tasks: vec!["blue-task1".into()],
                timeout_ms: 1000,
            },
        )
        .await
        .unwrap();
        assert_eq!(drained, Response::Drained { left: 0 });
        assert_eq!(
            call(
                &path,
                &Request::AlarmCounts {
                    service: "blue".into()
                }
            )
            .await
            .unwrap(),
            Response::Counts { periods: vec![] }
        );
        // The gateway's 502 for the task counts as version 1's 5xx, and stays counted once
        // its task is gone (the counts are cumulative).
        assert_eq!(
            call(&path, &Request::Traffic).await.unwrap(),
            Response::Traffic {
                services: vec![VersionTraffic {
                    service: "blue".into(),
                    version: "1".into(),
                    answers: 1,
                    errors: 1,
                }]
            }
        );
        assert_eq!(
            call(&path, &Request::Shutdown).await.unwrap(),
            Response::Done
        );
    }

    /// A listener asked for on a port in use is refused as such, so the supervisor can say so.
    #[tokio::test]
    async fn a_port_in_use_is_refused_as_in_use() {
        let (path, egress) = started("in-use").await;
        let refused = call(
            &path,
            &Request::Listen {
                listener: ListenerKind::Service("blue".into()),
                port: egress.port(),
            },
        )
        .await
        .unwrap();
        assert!(
            matches!(refused, Response::Refused { in_use: true, .. }),
            "{refused:?}"
        );
        let _ = call(&path, &Request::Shutdown).await;
    }
}
