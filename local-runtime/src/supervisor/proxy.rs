//! The data plane: the egress proxy, the gateway and the service listeners, on hyper.
//!
//! All three share one [`Router`]: the current routing [`Snapshot`] (plan plus healthy instances
//! per service) and one pooled keep-alive client to the tasks. A request takes the snapshot once,
//! asks [`crate::plan::route`] where it goes, picks a task of that service round-robin and streams
//! the request and the answer through without buffering them.
//!
//! Rollouts: a service that is rolling out has a second revision ([`RolloutRoute`]) with the
//! engine's split. A request to it that came through a Service Connect alias and matches the
//! alias's test traffic rule goes to the new revision once test traffic moved; any other follows
//! the production share. Every answer of the new revision is counted in its [`AlarmWatch`].
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
use std::sync::{Arc, Mutex, RwLock};
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
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::plan::{self, Decision, Entry, LocalPlan, Revision};
use crate::rollout::{ErrorWindow, Split};

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
    pub new: Vec<Arc<Instance>>,
    /// None when the model has no error-rate alarm for the service.
    pub alarm: Option<Arc<AlarmWatch>>,
}

/// Counts the new revision's answers and reports, once, when its 5xx share passes the alarm's
/// threshold.
#[derive(Debug)]
pub(crate) struct AlarmWatch {
    window: Mutex<ErrorWindow>,
    fired: AtomicBool,
    report: mpsc::UnboundedSender<String>,
}

impl AlarmWatch {
    /// `report` receives the breach's description.
    pub(crate) fn new(window: ErrorWindow, report: mpsc::UnboundedSender<String>) -> AlarmWatch {
        AlarmWatch {
            window: Mutex::new(window),
            fired: AtomicBool::new(false),
            report,
        }
    }

    fn record(&self, status: StatusCode) {
        if self.fired.load(Ordering::Relaxed) {
            return;
        }
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if window.record(status.is_server_error()) && !self.fired.swap(true, Ordering::SeqCst) {
            let _ = self.report.send(window.describe());
        }
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
    client: Client<HttpConnector, Incoming>,
    next: AtomicUsize,
}

impl Router {
    pub(crate) fn new() -> Arc<Router> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Arc::new(Router {
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            client,
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
            let (revision, alarm) = match snapshot.rollouts.get(forward.service) {
                None => (Revision::Old, None),
                Some(rollout) => {
                    let test = forward.test_rule.is_some_and(|rule| {
                        rule.matches(request.headers().iter().filter_map(|(name, value)| {
                            Some((name.as_str(), value.to_str().ok()?))
                        }))
                    });
                    match plan::pick_revision(rollout.split, test, fastrand::u64(..)) {
                        Revision::New => (Revision::New, rollout.alarm.clone()),
                        Revision::Old => (Revision::Old, None),
                    }
                }
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

        let answer = forward_upstream(&self.client, request, &instance, guard).await;
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
            tracing::warn!(task = %instance.task_id, error = %error_chain(&err), "upstream request failed");
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

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
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

/// Accepts connections on `listener` until the returned task is aborted. Connections already
/// accepted finish their current exchange on their own.
pub(crate) fn serve(listener: TcpListener, kind: Listener, router: Arc<Router>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(true);
        let builder = Arc::new(builder);
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
            let router = Arc::clone(&router);
            let kind = kind.clone();
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_alarm_reports_a_breach_once() {
        let (report, mut breaches) = mpsc::unbounded_channel();
        let alarm = AlarmWatch::new(ErrorWindow::new(4, model::Percent::whole(10)), report);
        for status in [200, 500, 200, 200] {
            alarm.record(StatusCode::from_u16(status).unwrap());
        }
        assert_eq!(
            breaches.try_recv().as_deref(),
            Ok("1 of the last 4 answers were 5xx (threshold 10%)")
        );
        for _ in 0..10 {
            alarm.record(StatusCode::BAD_GATEWAY);
        }
        assert!(breaches.try_recv().is_err(), "reported once");
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
