//! The data plane: the egress proxy, the gateway and the service listeners, on hyper.
//!
//! All three share one [`Router`]: the current routing [`Snapshot`] (plan plus healthy instances
//! per service); each proxy thread has one pooled keep-alive client to the tasks. A request takes
//! the snapshot once, asks [`local_runtime::plan::route`] where it goes, picks a task of that service
//! round-robin and streams the request and the answer through without buffering them.
//!
//! Rollouts: a service that is rolling out has a second revision ([`RolloutRoute`]) with the
//! engine's split. A request to it that came through a Service Connect alias and matches the
//! alias's test traffic rule goes to the new revision once test traffic moved; any other follows
//! the production share.
//!
//! Alarms: a service whose error-rate alarm is watched (from a rollout's start to its end) has an
//! [`AlarmWatch`] in the snapshot. Every answer of that service that comes back through the
//! egress listener, whichever revision gave it, is counted there: the egress proxy is Service
//! Connect, and the alarm reads Service Connect's outbound metrics, what the service's callers
//! see. Requests that reach a service through the gateway (the ALB, counted in
//! `AWS/ApplicationELB` on AWS) or its own local listener are not. An answer the proxy makes
//! because the task did not answer (502, 504) counts as the task's 5xx; a request that found no
//! task (503) or no route reached no target and does not count.
//!
//! Threads: every accepted connection is handed to one of a few proxy threads, round-robin, and
//! stays there; each thread runs its own current-thread runtime and its own keep-alive pool to
//! the tasks (HAProxy's and nginx's model). A connection's request, its upstream exchange and the
//! streamed answer never cross threads, so the proxy uses more than one core without the
//! cross-thread wake-ups that made a work-stealing runtime slower than one thread.
//!
//! Draining: an [`Instance`] counts the requests it is serving until their answer bodies are
//! done. The supervisor retires an instance (publishes a snapshot without it, then marks it
//! retired) and waits for its count to reach zero before it sends SIGTERM. A request that picked
//! the instance just before the switch sees the retired mark after counting itself and picks again
//! from the new snapshot; both sides use sequentially consistent operations, so either the
//! request sees the mark or the supervisor sees the count.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use local_runtime::plan::{self, Decision, Entry, LocalPlan, Revision};
use local_runtime::rollout::Split;
use local_runtime::rollout::alarm::{Datapoint, ErrorRateAlarm};
use model::TestTrafficRule;

/// App Mesh's default per-request timeout for HTTP routes.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Below demo-app's keep-alive, so the pool rarely picks a connection the task is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// hyper starts this timer as soon as a response is sent, so it is also the idle timeout of a
/// keep-alive connection. Well above the 30 s after which demo-app's client drops idle
/// connections: the proxy is then never the side that closes a connection a client is about to
/// reuse (nginx's keep-alive default, 75 s).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(75);

/// The body of every proxied answer: the task's streamed body, or a short error text.
pub(crate) type ProxyBody = Either<TrackedBody, Full<Bytes>>;

/// One healthy task as the data plane sees it.
#[derive(Debug)]
pub(crate) struct Instance {
    pub task_id: String,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`, prefixed to the forwarded path.
    base: String,
    inflight: AtomicUsize,
    retired: AtomicBool,
}

impl Instance {
    pub(crate) fn new(task_id: String, addr: SocketAddr) -> Arc<Instance> {
        Arc::new(Instance {
            task_id,
            addr,
            base: format!("http://{addr}"),
            inflight: AtomicUsize::new(0),
            retired: AtomicBool::new(false),
        })
    }

    /// No new request may start on this instance (call after publishing a snapshot without it).
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
    }

    /// Requests whose answer has not been fully sent yet.
    pub(crate) fn inflight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    /// Counts a request on this instance unless it is retired.
    fn enter(self: &Arc<Self>) -> Option<InflightGuard> {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        let guard = InflightGuard(Arc::clone(self));
        if self.retired.load(Ordering::SeqCst) {
            return None; // the guard's drop undoes the count
        }
        Some(guard)
    }
}

/// Holds one count of [`Instance::inflight`] until dropped.
#[derive(Debug)]
pub(crate) struct InflightGuard(Arc<Instance>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A task's answer body, holding its instance's in-flight count until it is done or dropped.
#[derive(Debug)]
pub(crate) struct TrackedBody {
    inner: Incoming,
    _guard: InflightGuard,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What the data plane routes by: one consistent view, swapped whole.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// None until the first apply.
    pub plan: Option<Arc<LocalPlan>>,
    /// Healthy, routable tasks per service (of the revision serving before any rollout).
    pub instances: HashMap<String, Vec<Arc<Instance>>>,
    /// Services rolling out: their new revision and how traffic splits.
    pub rollouts: HashMap<String, RolloutRoute>,
    /// Services whose error-rate alarm is being watched.
    pub alarms: HashMap<String, Arc<AlarmWatch>>,
}

impl Snapshot {
    /// The tasks of `revision` of `service`. A service that no longer rolls out (the snapshot
    /// changed under a request) has only the revision that won.
    fn instances(&self, service: &str, revision: Revision) -> Option<&[Arc<Instance>]> {
        match (revision, self.rollouts.get(service)) {
            (Revision::New, Some(rollout)) => Some(&rollout.new),
            _ => self.instances.get(service).map(Vec::as_slice),
        }
    }
}

/// The new revision of a service that is rolling out.
#[derive(Debug)]
pub(crate) struct RolloutRoute {
    pub split: Split,
    /// The target revision's test traffic rule: ECS applies the new service revision's Service
    /// Connect configuration, so a rule the rollout introduces routes during that rollout.
    pub test_rule: Option<TestTrafficRule>,
    pub new: Vec<Arc<Instance>>,
}

/// A service's error-rate alarm while it is watched: the answers are counted as they come, on
/// the rollout's clock, and the supervisor evaluates it at each period's end.
#[derive(Debug)]
pub(crate) struct AlarmWatch {
    /// When the rollout began: time 0 of the alarm's periods.
    started: Instant,
    alarm: Mutex<ErrorRateAlarm>,
}

impl AlarmWatch {
    pub(crate) fn new(alarm: ErrorRateAlarm, started: Instant) -> AlarmWatch {
        AlarmWatch {
            started,
            alarm: Mutex::new(alarm),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ErrorRateAlarm> {
        self.alarm.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one answer. The clock is read under the lock, so answers reach the alarm in time
    /// order and none lands in a period already evaluated.
    pub(crate) fn record(&self, status: StatusCode) {
        let mut alarm = self.lock();
        alarm.record(self.started.elapsed(), status.is_server_error());
    }

    /// Evaluates the periods that ended; the state reason when the alarm went into ALARM.
    pub(crate) fn evaluate(&self) -> Option<String> {
        let mut alarm = self.lock();
        alarm.evaluate(self.started.elapsed())
    }

    /// When the period being counted ends.
    pub(crate) fn next_evaluation(&self) -> Instant {
        self.started + self.lock().next_evaluation()
    }

    pub(crate) fn name(&self) -> String {
        self.lock().name().to_owned()
    }

    pub(crate) fn reading(&self) -> model::AlarmReading {
        self.lock().reading()
    }

    pub(crate) fn history(&self) -> Vec<Datapoint> {
        self.lock().history()
    }
}

/// Which listener a connection came in on.
#[derive(Debug, Clone)]
pub(crate) enum Listener {
    Egress,
    Gateway,
    Service(Arc<str>),
}

/// Shared by every listener.
#[derive(Debug)]
pub(crate) struct Router {
    snapshot: RwLock<Arc<Snapshot>>,
    next: AtomicUsize,
}

thread_local! {
    /// One pool per proxy thread: a request reuses a connection its own thread drives.
    static CLIENT: Client<HttpConnector, Incoming> = upstream_client();
}

fn upstream_client() -> Client<HttpConnector, Incoming> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .build(connector)
}

impl Router {
    pub(crate) fn new() -> Arc<Router> {
        Arc::new(Router {
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            next: AtomicUsize::new(0),
        })
    }

    pub(crate) fn publish(&self, snapshot: Snapshot) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A task of `revision` of `service` that accepted the request, round-robin; None when it
    /// has none.
    fn pick(
        &self,
        mut snapshot: Arc<Snapshot>,
        service: &str,
        revision: Revision,
    ) -> Option<(Arc<Instance>, InflightGuard)> {
        // A retired pick means a newer snapshot exists: a few retries always find it.
        for _ in 0..4 {
            let instances = snapshot
                .instances(service, revision)
                .filter(|v| !v.is_empty())?;
            let i = self.next.fetch_add(1, Ordering::Relaxed) % instances.len();
            let instance = &instances[i];
            if let Some(guard) = instance.enter() {
                return Some((Arc::clone(instance), guard));
            }
            snapshot = self.snapshot();
        }
        None
    }

    async fn handle(
        self: Arc<Self>,
        listener: Listener,
        mut request: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        if request.method() == Method::CONNECT {
            return Ok(text(
                StatusCode::METHOD_NOT_ALLOWED,
                "CONNECT is not supported: the mesh speaks plain http",
            ));
        }
        let snapshot = self.snapshot();
        let Some(plan) = snapshot.plan.clone() else {
            return Ok(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "nothing is deployed yet",
            ));
        };
        // The upstream URI and the chosen task, computed while the request is borrowed.
        let (uri, instance, guard, alarm) = {
            let authority = match &listener {
                Listener::Egress => request.uri().authority().map(|a| a.as_str()).or_else(|| {
                    request
                        .headers()
                        .get(header::HOST)
                        .and_then(|h| h.to_str().ok())
                }),
                _ => None,
            };
            let entry = match (&listener, authority) {
                (Listener::Egress, Some(authority)) => Entry::Egress { authority },
                (Listener::Egress, None) => {
                    return Ok(text(StatusCode::BAD_REQUEST, "no host in the request"));
                }
                (Listener::Gateway, _) => Entry::Gateway,
                (Listener::Service(name), _) => Entry::Service(name),
            };
            let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let forward = match plan::route(&plan, entry, path, fastrand::u64(..)) {
                Decision::Forward(f) => f,
                Decision::Reject(reject) => {
                    let status =
                        StatusCode::from_u16(reject.status()).unwrap_or(StatusCode::BAD_GATEWAY);
                    return Ok(text(status, &reject.to_string()));
                }
            };
            let revision = match snapshot.rollouts.get(forward.service) {
                None => Revision::Old,
                Some(rollout) => {
                    // Through a client alias (which has a rule), the target revision's rule
                    // decides which requests are test traffic.
                    let rule = forward.test_rule.and(rollout.test_rule.as_ref());
                    let test = rule.is_some_and(|rule| {
                        rule.matches(request.headers().iter().filter_map(|(name, value)| {
                            Some((name.as_str(), value.to_str().ok()?))
                        }))
                    });
                    plan::pick_revision(rollout.split, test, fastrand::u64(..))
                }
            };
            let alarm = match listener {
                Listener::Egress => snapshot.alarms.get(forward.service).cloned(),
                Listener::Gateway | Listener::Service(_) => None,
            };
            let Some((instance, guard)) =
                self.pick(Arc::clone(&snapshot), forward.service, revision)
            else {
                return Ok(text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("service `{}` has no healthy task", forward.service),
                ));
            };
            let uri = format!("{}{}", instance.base, forward.path);
            (uri, instance, guard, alarm)
        };
        drop(snapshot);
        let Ok(uri) = uri.parse::<Uri>() else {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                "the request path is not valid",
            ));
        };
        *request.uri_mut() = uri;
        strip_hop_by_hop(request.headers_mut());

        let answer = forward_upstream(&CLIENT.with(Client::clone), request, &instance, guard).await;
        if let (Some(alarm), Ok(response)) = (alarm, &answer) {
            alarm.record(response.status());
        }
        answer
    }
}

/// Sends `request` to `instance` and streams its answer back, or answers for it when it fails.
async fn forward_upstream(
    client: &Client<HttpConnector, Incoming>,
    request: Request<Incoming>,
    instance: &Instance,
    guard: InflightGuard,
) -> Result<Response<ProxyBody>, Infallible> {
    match tokio::time::timeout(UPSTREAM_TIMEOUT, client.request(request)).await {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Ok(Response::from_parts(
                parts,
                Either::Left(TrackedBody {
                    inner: body,
                    _guard: guard,
                }),
            ))
        }
        Ok(Err(err)) => {
            tracing::warn!(task = %instance.task_id, error = %model::error_chain(&err), "upstream request failed");
            Ok(text(
                StatusCode::BAD_GATEWAY,
                &format!("task {} did not answer", instance.task_id),
            ))
        }
        Err(_) => Ok(text(
            StatusCode::GATEWAY_TIMEOUT,
            &format!(
                "task {} did not answer within {} s",
                instance.task_id,
                UPSTREAM_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// A short plain-text answer from the proxy itself.
fn text(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(format!(
        "{message}\n"
    )))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1): a proxy must not
/// forward them. hyper frames the forwarded body itself.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// How many proxy threads: all of a 2-core machine (as HAProxy's `nbthread 2`), half of a bigger
/// one, at most 4 (the tasks and the client under test need the rest).
fn proxy_threads(cores: usize) -> usize {
    (cores / 2).clamp(cores.clamp(1, 2), 4)
}

/// An accepted connection on its way to a proxy thread.
type Handoff = (std::net::TcpStream, Listener, Arc<Router>);

/// The proxy threads' inboxes, started on first use; they live as long as the process.
fn proxy_threads_inboxes() -> &'static [mpsc::UnboundedSender<Handoff>] {
    static INBOXES: OnceLock<Vec<mpsc::UnboundedSender<Handoff>>> = OnceLock::new();
    INBOXES.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (0..proxy_threads(cores))
            .filter_map(|i| {
                let (tx, rx) = mpsc::unbounded_channel();
                let spawned = std::thread::Builder::new()
                    .name(format!("meshtest-proxy-{i}"))
                    .spawn(move || proxy_thread(rx));
                match spawned {
                    Ok(_) => Some(tx),
                    Err(err) => {
                        tracing::error!(error = %err, "cannot start a proxy thread");
                        None
                    }
                }
            })
            .collect()
    })
}

/// Serves every connection handed to this thread, on this thread.
fn proxy_thread(mut inbox: mpsc::UnboundedReceiver<Handoff>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return tracing::error!(error = %err, "cannot start a proxy thread's runtime"),
    };
    runtime.block_on(async move {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(true);
        let builder = Arc::new(builder);
        while let Some((stream, kind, router)) = inbox.recv().await {
            let Ok(stream) = TcpStream::from_std(stream) else {
                continue;
            };
            let builder = Arc::clone(&builder);
            tokio::spawn(async move {
                let service =
                    service_fn(move |request| Arc::clone(&router).handle(kind.clone(), request));
                if let Err(err) = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
            });
        }
    });
}

/// Accepts connections on `listener` until the returned task is aborted and hands each to a
/// proxy thread. Connections already accepted finish their current exchange on their own.
pub(crate) fn serve(listener: TcpListener, kind: Listener, router: Arc<Router>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let inboxes = proxy_threads_inboxes();
        let mut next = 0;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let Ok(stream) = stream.into_std() else {
                continue;
            };
            let Some(inbox) = inboxes.get(next % inboxes.len().max(1)) else {
                tracing::error!("no proxy thread is running: refusing the connection");
                continue;
            };
            next = next.wrapping_add(1);
            let _ = inbox.send((stream, kind.clone(), Arc::clone(&router)));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_threads_use_a_small_machine_whole_and_half_a_big_one() {
        let threads: Vec<usize> = [1, 2, 3, 4, 6, 8, 16].map(proxy_threads).into();
        assert_eq!(threads, [1, 2, 2, 2, 3, 4, 4]);
    }

    /// The connection's answer comes while the thread that accepted it is blocked: it was served
    /// on a proxy thread.
    #[tokio::test]
    async fn connections_are_served_on_a_proxy_thread() {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = serve(listener, Listener::Gateway, Router::new());
        let stream = TcpStream::connect(addr).await.unwrap();
        // Lets the accept loop, on this test's only thread, hand the connection off.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(b"GET /blue HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.ends_with("nothing is deployed yet\n"), "{answer}");
        serving.abort();
    }

    #[test]
    fn hop_by_hop_headers_are_not_forwarded() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        headers.insert(header::HOST, HeaderValue::from_static("blue.appmesh"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "host"]);
    }

    /// A task that answers every request with a 500.
    async fn failing_task() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = service_fn(|_request: Request<Incoming>| async {
                        let mut response = Response::new(Full::new(Bytes::from_static(b"fault")));
                        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                        Ok::<_, Infallible>(response)
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    }

    /// The status line of `request` sent to `addr` on a connection of its own.
    async fn send(addr: SocketAddr, request: &'static str) -> String {
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer.lines().next().unwrap_or_default().to_owned()
        })
        .await
        .unwrap()
    }

    /// Only answers that came through Service Connect (the egress listener) reach the alarm:
    /// the gateway's requests straight to the service and its own listener's are not counted.
    #[tokio::test]
    async fn the_alarm_counts_what_callers_get_through_service_connect() {
        let stack = model::Stack::new(model::examples::gateway("gateway")).unwrap();
        let plan = Arc::new(LocalPlan::from_stack(&stack));
        let task = Instance::new("blue-task1".into(), failing_task().await);
        let spec = model::ErrorRateAlarmSpec::default();
        let watch = Arc::new(AlarmWatch::new(
            ErrorRateAlarm::new(
                "gateway-blue-error-rate".into(),
                &spec,
                Duration::from_secs(1),
            ),
            Instant::now(),
        ));
        let router = Router::new();
        router.publish(Snapshot {
            plan: Some(plan),
            instances: HashMap::from([("blue".to_owned(), vec![task])]),
            rollouts: HashMap::new(),
            alarms: HashMap::from([("blue".to_owned(), Arc::clone(&watch))]),
        });
        let mut addrs = Vec::new();
        let mut serving = Vec::new();
        for kind in [
            Listener::Egress,
            Listener::Gateway,
            Listener::Service("blue".into()),
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.push(listener.local_addr().unwrap());
            serving.push(serve(listener, kind, Arc::clone(&router)));
        }
        let egress =
            "GET http://blue.gateway/ HTTP/1.1\r\nhost: blue.gateway\r\nconnection: close\r\n\r\n";
        let gateway = "GET /blue HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
        let own = "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
        for (addr, request) in [(addrs[0], egress), (addrs[1], gateway), (addrs[2], own)] {
            for _ in 0..3 {
                assert_eq!(
                    send(addr, request).await,
                    "HTTP/1.1 500 Internal Server Error"
                );
            }
        }
        // No route reached no target: not counted either.
        let nowhere =
            "GET http://red.gateway/ HTTP/1.1\r\nhost: red.gateway\r\nconnection: close\r\n\r\n";
        assert_eq!(send(addrs[0], nowhere).await, "HTTP/1.1 502 Bad Gateway");
        watch.lock().evaluate(Duration::from_secs(3600));
        let first = watch.history()[0];
        assert_eq!((first.answers, first.errors), (3, 3), "{first:?}");
        for serving in serving {
            serving.abort();
        }
    }

    #[test]
    fn retired_instances_take_no_new_requests() {
        let instance = Instance::new("blue-task1".into(), "127.0.0.1:1".parse().unwrap());
        let guard = instance.enter().expect("active instance accepts");
        assert_eq!(instance.inflight(), 1);
        instance.retire();
        assert!(instance.enter().is_none());
        assert_eq!(
            instance.inflight(),
            1,
            "a refused request leaves no count behind"
        );
        drop(guard);
        assert_eq!(instance.inflight(), 0);
    }
}
