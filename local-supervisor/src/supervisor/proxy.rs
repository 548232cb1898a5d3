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
//! [`AlarmCounter`] in the snapshot. Every answer of that service that comes back through the
//! egress listener, whichever revision gave it, is counted there: the egress proxy is Service
//! Connect, and the alarm reads Service Connect's outbound metrics, what the service's callers
//! see. Requests that reach a service through the gateway (the ALB, counted in
//! `AWS/ApplicationELB` on AWS) or its own local listener are not. An answer the proxy makes
//! because the task did not answer (502, 504) counts as the task's 5xx; a request that found no
//! task (503) or no route reached no target and does not count. A service that shifts traffic at
//! the ALB gateway is watched on its target groups instead ([`Counted::TargetGroups`]): the
//! answers its tasks give the gateway, either revision, test traffic included, and not the
//! gateway's own 502 or 504 (the load balancer's, not the target's), nor Service Connect's.
//!
//! At the gateway, a request to a service rolling out at the ALB that matches the production
//! rule's test listener rule ([`plan::alb_test_match`]) goes to the new revision once test
//! traffic moved; any other follows the production share, the rule's weights.
//!
//! Traffic: every answer a task gives through any listener (or that the proxy gives for it,
//! 502 and 504) is also counted for its service and version ([`AnswerCounts`], shared by the
//! tasks of one version), cumulative, for the control API's read-only `GET /traffic`, which the
//! dashboard reads as answers and 5xx per second of each version.
//!
//! Threads: every accepted connection is handed to one of a few proxy threads, round-robin, and
//! stays there; each thread runs its own current-thread runtime and its own keep-alive pool to
//! the tasks (HAProxy's and nginx's model). A connection's request, its upstream exchange and the
//! streamed answer never cross threads, so the proxy uses more than one core without the
//! cross-thread wake-ups that made a work-stealing runtime slower than one thread.
//!
//! Failing tasks (Service Connect's proxy is Envoy, which retries and ejects): a request whose
//! connection to a task is refused, or reset before the answer's head, goes once to another
//! task of the same revision (never to the other revision: that would change the shares and
//! what the alarm reads) when the task never got it, or when its method is idempotent and no
//! byte of its body was sent ([`upstream::Failure::retryable`]). A task that does not start its
//! answer within [`upstream::FIRST_BYTE_TIMEOUT`] while others answer fails the request with
//! 504. Every such failure counts towards the task's ejection from the routing choice
//! ([`outlier`]'s rule), which happens before its health check decides; an answer after a
//! retry is the only one a caller sees and the alarm counts.
//!
//! Draining: an [`Instance`] counts the requests it is serving until their answer bodies are
//! done. The supervisor retires an instance (publishes a snapshot without it, then marks it
//! retired) and waits for its count to reach zero before it sends SIGTERM. A request that picked
//! the instance just before the switch sees the retired mark after counting itself and picks again
//! from the new snapshot; both sides use sequentially consistent operations, so either the
//! request sees the mark or the supervisor sees the count.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
use local_runtime::rollout::alarm::Counted;
use model::TestTrafficRule;
use outlier::{Ejections, Outlier, OutlierRule, Verdict};
use upstream::{Failure, UpstreamBody, exchange};

mod outlier;
mod upstream;

/// App Mesh's default per-request timeout for HTTP routes: how long a request waits for a task
/// that stopped answering while no other task answers either.
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
    /// Its failures and ejection, as every proxy thread sees them.
    outlier: Outlier,
    /// The answers of its service's version, which every task of that version shares.
    pub answered: Arc<AnswerCounts>,
}

impl Instance {
    #[cfg(test)]
    pub(crate) fn new(task_id: String, addr: SocketAddr) -> Arc<Instance> {
        Instance::counted(task_id, addr, Arc::default())
    }

    /// An instance whose answers count in `answered`.
    pub(crate) fn counted(
        task_id: String,
        addr: SocketAddr,
        answered: Arc<AnswerCounts>,
    ) -> Arc<Instance> {
        Arc::new(Instance {
            task_id,
            addr,
            base: format!("http://{addr}"),
            inflight: AtomicUsize::new(0),
            retired: AtomicBool::new(false),
            outlier: Outlier::default(),
            answered,
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
    pub alarms: HashMap<String, Arc<AlarmCounter>>,
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

/// A service's error-rate alarm while it is watched: the answers are counted as they come, by
/// period of the alarm (time 0: the rollout's start), and the supervisor takes the counts at
/// each period's end to evaluate the alarm (`supervisor::plane`).
#[derive(Debug)]
pub(crate) struct AlarmCounter {
    /// Which answers count: at the egress proxy or at the gateway.
    counted: Counted,
    /// When the rollout began: time 0 of the alarm's periods.
    started: Instant,
    period: Duration,
    /// (answers, 5xx, answers of the new revision) by period, until the supervisor takes
    /// them: the last is the share the rollout's tree shows as observed.
    counts: Mutex<BTreeMap<u64, (u64, u64, u64)>>,
}

impl AlarmCounter {
    pub(crate) fn new(counted: Counted, started: Instant, period: Duration) -> AlarmCounter {
        AlarmCounter {
            counted,
            started,
            period: period.max(Duration::from_millis(1)),
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (u64, u64, u64)>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one answer, which `revision` gave, in the period it came in.
    pub(crate) fn record(&self, status: StatusCode, revision: Revision) {
        let period = self.started.elapsed().as_nanos() / self.period.as_nanos().max(1);
        let mut counts = self.lock();
        let entry = counts
            .entry(u64::try_from(period).unwrap_or(u64::MAX))
            .or_default();
        entry.0 += 1;
        entry.1 += u64::from(status.is_server_error());
        entry.2 += u64::from(revision == Revision::New);
    }

    /// The counts so far, by period, oldest first; they are counted anew from here.
    pub(crate) fn take(&self) -> Vec<(u64, u64, u64, u64)> {
        std::mem::take(&mut *self.lock())
            .into_iter()
            .map(|(period, (answers, errors, new))| (period, answers, errors, new))
            .collect()
    }
}

/// The answers of one version of a service, cumulative: two atomic additions per answer on the
/// request path, no lock.
#[derive(Debug, Default)]
pub(crate) struct AnswerCounts {
    answers: AtomicU64,
    errors: AtomicU64,
}

impl AnswerCounts {
    pub(crate) fn record(&self, status: StatusCode) {
        self.answers.fetch_add(1, Ordering::Relaxed);
        if status.is_server_error() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (answers, of which 5xx) so far.
    pub(crate) fn read(&self) -> (u64, u64) {
        (
            self.answers.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

/// Which listener a connection came in on.
#[derive(Debug, Clone)]
pub(crate) enum Listener {
    Egress,
    Gateway,
    Service(Arc<str>),
    /// A Service Connect client alias's own address (`name:port`): a program connected to the
    /// name it resolved in its `/etc/hosts`, so the listener, not the request, names it.
    Alias(Arc<str>),
}

/// Shared by every listener.
#[derive(Debug)]
pub(crate) struct Router {
    snapshot: RwLock<Arc<Snapshot>>,
    next: AtomicUsize,
    ejections: Ejections,
    /// Answer heads got from any task: a task is late only while others answer.
    answers: AtomicU64,
}

thread_local! {
    /// One pool per proxy thread: a request reuses a connection its own thread drives.
    static CLIENT: Client<HttpConnector, UpstreamBody> = upstream_client();
}

fn upstream_client() -> Client<HttpConnector, UpstreamBody> {
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
        Router::with_rule(OutlierRule::ENVOY)
    }

    /// A router that ejects failing tasks by `rule`.
    fn with_rule(rule: OutlierRule) -> Arc<Router> {
        Arc::new(Router {
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            next: AtomicUsize::new(0),
            ejections: Ejections::new(rule),
            answers: AtomicU64::new(0),
        })
    }

    pub(crate) fn publish(&self, snapshot: Snapshot) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A task of `revision` of `service` other than `not` that accepted the request,
    /// round-robin over those not ejected (over all of them when every one is: Envoy's panic
    /// threshold); None when it has none.
    fn pick(
        &self,
        mut snapshot: Arc<Snapshot>,
        service: &str,
        revision: Revision,
        not: Option<&Arc<Instance>>,
    ) -> Option<(Arc<Instance>, InflightGuard)> {
        // A retired pick means a newer snapshot exists: a few retries always find it.
        for _ in 0..4 {
            let instances = snapshot
                .instances(service, revision)
                .filter(|v| !v.is_empty())?;
            let now = Instant::now();
            let start = self.next.fetch_add(1, Ordering::Relaxed);
            let mut candidates = (0..instances.len())
                .map(|k| &instances[start.wrapping_add(k) % instances.len()])
                .filter(|i| not.is_none_or(|not| !Arc::ptr_eq(not, i)));
            let first = candidates.next()?;
            let instance = if first.outlier.is_ejected(now) {
                candidates
                    .find(|i| !i.outlier.is_ejected(now))
                    .unwrap_or(first)
            } else {
                first
            };
            if let Some(guard) = instance.enter() {
                return Some((Arc::clone(instance), guard));
            }
            snapshot = self.snapshot();
        }
        None
    }

    /// Counts a failed exchange with `instance` (of `revision` of `service`) towards its
    /// ejection.
    fn failed(
        &self,
        snapshot: &Snapshot,
        service: &str,
        revision: Revision,
        instance: &Instance,
        failure: &Failure,
    ) {
        let tasks = snapshot.instances(service, revision).unwrap_or_default();
        let verdict = self.ejections.failed(
            &instance.outlier,
            tasks.iter().map(|t| &t.outlier),
            Instant::now(),
        );
        match failure {
            Failure::Refused(err) | Failure::Reset(err) => {
                tracing::warn!(task = %instance.task_id, error = %model::error_chain(err), "upstream request failed");
            }
            Failure::Timeout(waited) => {
                tracing::warn!(task = %instance.task_id, waited_ms = waited.as_millis(), "upstream request timed out");
            }
        }
        match verdict {
            Verdict::Ejected(length) => tracing::warn!(
                task = %instance.task_id,
                seconds = length.as_secs(),
                "task ejected from routing after failing requests in a row"
            ),
            Verdict::Capped => tracing::warn!(
                task = %instance.task_id,
                "task keeps failing but its revision has as many tasks ejected as it may"
            ),
            Verdict::Counted(_) => {}
        }
    }

    async fn handle(
        self: Arc<Self>,
        listener: Listener,
        request: Request<Incoming>,
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
        // Where the request goes, computed while it is borrowed.
        let (target, first, alarm) = {
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
                // Routed exactly as the egress proxy routes a request for that name.
                (Listener::Alias(authority), _) => Entry::Egress { authority },
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
                    let headers = request
                        .headers()
                        .iter()
                        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
                    let test = match listener {
                        // The production rule's test listener rule, as the ALB matches it.
                        Listener::Gateway => forward
                            .test_rule
                            .is_some_and(|rule| plan::alb_test_match(rule, headers)),
                        // Through a client alias (which has a rule), the target revision's rule
                        // decides which requests are test traffic.
                        Listener::Egress | Listener::Alias(_) | Listener::Service(_) => forward
                            .test_rule
                            .and(rollout.test_rule.as_ref())
                            .is_some_and(|rule| rule.matches(headers)),
                    };
                    plan::pick_revision(rollout.split, test, fastrand::u64(..))
                }
            };
            // The alarm's answers: what callers get over Service Connect (through the egress
            // proxy or a name's alias listener) or at the gateway (the ALB's target groups), as
            // the rendered alarm reads them.
            let alarm = snapshot
                .alarms
                .get(forward.service)
                .filter(|alarm| match (&listener, alarm.counted) {
                    (Listener::Egress | Listener::Alias(_), Counted::ServiceConnect)
                    | (Listener::Gateway, Counted::TargetGroups) => true,
                    (
                        Listener::Egress
                        | Listener::Alias(_)
                        | Listener::Gateway
                        | Listener::Service(_),
                        _,
                    ) => false,
                })
                .cloned();
            let Some(first) = self.pick(Arc::clone(&snapshot), forward.service, revision, None)
            else {
                return Ok(text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("service `{}` has no healthy task", forward.service),
                ));
            };
            let target = Target {
                service: forward.service.to_owned(),
                revision,
                path: forward.path.into_owned(),
            };
            (target, first, alarm)
        };
        // A retry stays on the revision, so the first pick's version is the one that answered.
        let answered = Arc::clone(&first.0.answered);
        let answer = self.forward(snapshot, &target, request, first).await;
        answered.record(answer.status());
        if let Some(alarm) = alarm {
            // A task's own answer streams its body (`Left`); the proxy's own (a task that did
            // not answer) is text (`Right`): Service Connect counts it as the target's 5xx,
            // the ALB as its own (`HTTPCode_ELB_5XX_Count`), in none of the target's counts.
            let from_task = matches!(answer.body(), Either::Left(_));
            if from_task || alarm.counted == Counted::ServiceConnect {
                alarm.record(answer.status(), target.revision);
            }
        }
        Ok(answer)
    }

    /// Sends `request` to the picked task (`first`) and streams its answer back; after a
    /// retryable failure, once more to another task of the same revision; answers for the task
    /// when that fails too.
    async fn forward(
        &self,
        snapshot: Arc<Snapshot>,
        target: &Target,
        request: Request<Incoming>,
        first: (Arc<Instance>, InflightGuard),
    ) -> Response<ProxyBody> {
        let (mut parts, body) = request.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let body = UpstreamBody::new(body);
        let method = parts.method.clone();
        // What a second attempt needs, kept only when the revision has another task to try.
        let siblings = snapshot
            .instances(&target.service, target.revision)
            .map_or(0, <[_]>::len);
        let mut spare = (siblings > 1).then(|| (parts.version, parts.headers.clone()));
        let mut request = Request::from_parts(parts, body.clone());
        let client = CLIENT.with(Client::clone);
        let (mut instance, mut guard) = first;
        loop {
            let Some(aimed) = aimed(request, &instance, &target.path) else {
                return text(StatusCode::BAD_REQUEST, "the request path is not valid");
            };
            let failure = match exchange(&client, aimed, &self.answers, UPSTREAM_TIMEOUT).await {
                Ok(response) => {
                    instance.outlier.answered();
                    let (mut parts, body) = response.into_parts();
                    strip_hop_by_hop(&mut parts.headers);
                    return Response::from_parts(
                        parts,
                        Either::Left(TrackedBody {
                            inner: body,
                            _guard: guard,
                        }),
                    );
                }
                Err(failure) => failure,
            };
            drop(guard);
            self.failed(
                &snapshot,
                &target.service,
                target.revision,
                &instance,
                &failure,
            );
            let head = spare.take().filter(|_| failure.retryable(&method, &body));
            let next = head.as_ref().and_then(|_| {
                self.pick(
                    Arc::clone(&snapshot),
                    &target.service,
                    target.revision,
                    Some(&instance),
                )
            });
            let (Some((version, headers)), Some((next, next_guard))) = (head, next) else {
                return failed_answer(&instance, &failure);
            };
            tracing::info!(from = %instance.task_id, to = %next.task_id, "request sent again to another task of the revision");
            request = Request::new(body.clone());
            *request.method_mut() = method.clone();
            *request.version_mut() = version;
            *request.headers_mut() = headers;
            (instance, guard) = (next, next_guard);
        }
    }
}

/// Where a request goes once routed: a revision of a service, and the path the task gets.
#[derive(Debug)]
struct Target {
    service: String,
    revision: Revision,
    path: String,
}

/// `request` aimed at `instance` with `path`; None when they make no valid URI.
fn aimed(
    mut request: Request<UpstreamBody>,
    instance: &Instance,
    path: &str,
) -> Option<Request<UpstreamBody>> {
    *request.uri_mut() = format!("{}{}", instance.base, path).parse::<Uri>().ok()?;
    Some(request)
}

/// The proxy's own answer for a task that gave none.
fn failed_answer(instance: &Instance, failure: &Failure) -> Response<ProxyBody> {
    match failure {
        Failure::Refused(_) | Failure::Reset(_) => text(
            StatusCode::BAD_GATEWAY,
            &format!("task {} did not answer", instance.task_id),
        ),
        Failure::Timeout(waited) => text(
            StatusCode::GATEWAY_TIMEOUT,
            &format!(
                "task {} did not answer within {} ms",
                instance.task_id,
                waited.as_millis()
            ),
        ),
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
    /// A router for the gateway app whose one blue task fails, with blue's Service Connect
    /// alarm counter: the router, the counter, and how many requests the task answered.
    async fn failing_blue_watched() -> (Arc<Router>, Arc<AlarmCounter>, Arc<AnswerCounts>) {
        let stack = model::Stack::new(model::examples::gateway("gateway")).unwrap();
        let plan = Arc::new(LocalPlan::from_stack(&stack));
        let task = Instance::new("blue-task1".into(), failing_task().await);
        let answered = Arc::clone(&task.answered);
        let watch = Arc::new(AlarmCounter::new(
            Counted::ServiceConnect,
            Instant::now(),
            Duration::from_secs(3600),
        ));
        let router = Router::new();
        router.publish(Snapshot {
            plan: Some(plan),
            instances: HashMap::from([("blue".to_owned(), vec![task])]),
            rollouts: HashMap::new(),
            alarms: HashMap::from([("blue".to_owned(), Arc::clone(&watch))]),
        });
        (router, watch, answered)
    }

    #[tokio::test]
    async fn the_alarm_counts_what_callers_get_through_service_connect() {
        let (router, watch, answered) = failing_blue_watched().await;
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
        // No rollout: every answer is the serving revision's.
        assert_eq!(watch.take(), [(0, 3, 3, 0)]);
        assert_eq!(watch.take(), [], "taken counts are counted anew");
        // The version's own count (`GET /traffic`) takes every listener's answers, and only
        // answers: the request no route took is not the task's.
        assert_eq!(answered.read(), (9, 9));
        for serving in serving {
            serving.abort();
        }
    }

    /// The counter tells the new revision's answers apart, for the share the tree shows as
    /// observed; the alarm still counts both.
    #[test]
    fn the_alarm_counter_counts_the_new_revisions_answers_apart() {
        let watch = AlarmCounter::new(
            Counted::ServiceConnect,
            Instant::now(),
            Duration::from_secs(3600),
        );
        watch.record(StatusCode::OK, Revision::New);
        watch.record(StatusCode::INTERNAL_SERVER_ERROR, Revision::Old);
        watch.record(StatusCode::OK, Revision::Old);
        assert_eq!(watch.take(), [(0, 3, 1, 1)]);
    }

    /// A service that shifts traffic at the ALB: at the gateway, a request matching the
    /// production rule's test listener rule reaches the new revision once test traffic moved
    /// while plain ones follow the weights, and the alarm counts every answer a task gave the
    /// gateway (both revisions: both target groups), not the gateway's own 502 (the load
    /// balancer's, not the target's) nor what callers get over Service Connect.
    #[tokio::test]
    async fn a_shift_at_the_alb_routes_test_traffic_and_is_counted_at_the_gateway() {
        let stack = model::Stack::new(model::examples::gateway_with(
            "gateway",
            model::StrategyKind::Linear,
        ))
        .unwrap();
        let plan = Arc::new(LocalPlan::from_stack(&stack));
        let (old, _) = fake_task(Fake::Answers("old")).await;
        let old = Instance::new("blue-task1".into(), old);
        let new = Instance::new("blue-task2".into(), failing_task().await);
        let watch = Arc::new(AlarmCounter::new(
            Counted::TargetGroups,
            Instant::now(),
            Duration::from_secs(3600),
        ));
        let snapshot = |old: Arc<Instance>| Snapshot {
            plan: Some(Arc::clone(&plan)),
            instances: HashMap::from([("blue".to_owned(), vec![old])]),
            rollouts: HashMap::from([(
                "blue".to_owned(),
                RolloutRoute {
                    // TEST_TRAFFIC_SHIFT: no production share yet, test traffic moved.
                    split: Split {
                        new: model::Percent::whole(0),
                        test_to_new: true,
                    },
                    test_rule: plan.test_rule("blue").cloned(),
                    new: vec![Arc::clone(&new)],
                },
            )]),
            alarms: HashMap::from([("blue".to_owned(), Arc::clone(&watch))]),
        };
        let router = Router::new();
        router.publish(snapshot(old));
        let mut addrs = Vec::new();
        let mut serving = Vec::new();
        for kind in [Listener::Egress, Listener::Gateway] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.push(listener.local_addr().unwrap());
            serving.push(serve(listener, kind, Arc::clone(&router)));
        }
        let plain = "GET /blue HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
        let test = "GET /blue/x HTTP/1.1\r\nhost: x\r\nX-Amzn-Ecs-Blue-Green-Test: TRUE\r\nconnection: close\r\n\r\n";
        let other = "GET /blue HTTP/1.1\r\nhost: x\r\nx-amzn-ecs-blue-green-test: no\r\nconnection: close\r\n\r\n";
        for _ in 0..3 {
            assert_eq!(send(addrs[1], plain).await, "HTTP/1.1 200 OK");
            assert_eq!(send(addrs[1], other).await, "HTTP/1.1 200 OK");
            assert_eq!(
                send(addrs[1], test).await,
                "HTTP/1.1 500 Internal Server Error"
            );
        }
        // Over Service Connect the test header reaches the new revision too, uncounted here.
        let egress = "GET http://blue.gateway/ HTTP/1.1\r\nhost: blue.gateway\r\nx-amzn-ecs-blue-green-test: true\r\nconnection: close\r\n\r\n";
        assert_eq!(
            send(addrs[0], egress).await,
            "HTTP/1.1 500 Internal Server Error"
        );
        // The gateway's own answer for a task that did not answer is not the target's.
        router.publish(snapshot(Instance::new(
            "blue-task3".into(),
            dead_task().await,
        )));
        assert_eq!(send(addrs[1], plain).await, "HTTP/1.1 502 Bad Gateway");
        assert_eq!(watch.take(), [(0, 9, 3, 3)]);
        for serving in serving {
            serving.abort();
        }
    }

    /// A program connects to a client alias's own address with a plain request (no absolute
    /// URI, any `Host`): the listener names the alias, routed and counted as the egress proxy
    /// routes and counts that name; its test traffic rule applies.
    #[tokio::test]
    async fn an_alias_listener_routes_and_counts_as_the_egress_proxy_does_for_its_name() {
        let (router, watch, _) = failing_blue_watched().await;
        let mut serving = Vec::new();
        let mut addrs = Vec::new();
        for authority in ["blue.gateway:80", "red.gateway:80"] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.push(listener.local_addr().unwrap());
            serving.push(serve(
                listener,
                Listener::Alias(authority.into()),
                Arc::clone(&router),
            ));
        }
        // The Host header says something else: the listener decides.
        let plain = "GET / HTTP/1.1\r\nhost: whatever\r\nconnection: close\r\n\r\n";
        for _ in 0..2 {
            assert_eq!(
                send(addrs[0], plain).await,
                "HTTP/1.1 500 Internal Server Error"
            );
        }
        // A name the mesh does not have is refused as at egress (502), and not counted.
        assert_eq!(send(addrs[1], plain).await, "HTTP/1.1 502 Bad Gateway");
        assert_eq!(watch.take(), [(0, 2, 2, 0)]);
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

    /// How a fake task behaves.
    #[derive(Debug, Clone, Copy)]
    enum Fake {
        /// Answers 200 with its name.
        Answers(&'static str),
        /// Reads the request and closes the connection without an answer.
        Resets,
        /// Sends an answer's head and part of its body, then closes the connection.
        Breaks,
        /// Accepts and reads, never answers (a SIGSTOPped task).
        Hangs,
        /// Answers 200 with its name after a while.
        Late(&'static str, Duration),
    }

    /// A fake task on 127.0.0.1 and the count of requests that reached it.
    async fn fake_task(fake: Fake) -> (SocketAddr, Arc<AtomicUsize>) {
        use http_body_util::BodyExt;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let hits = Arc::clone(&counted);
                tokio::spawn(async move {
                    if let Fake::Breaks = fake {
                        let mut head = [0u8; 1024];
                        let _ = stream.read(&mut head).await;
                        hits.fetch_add(1, Ordering::SeqCst);
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                            .await;
                        return; // dropped: closed 93 bytes short
                    }
                    let service = service_fn(move |request: Request<Incoming>| {
                        let hits = Arc::clone(&hits);
                        async move {
                            hits.fetch_add(1, Ordering::SeqCst);
                            let _ = request.into_body().collect().await;
                            let name = match fake {
                                Fake::Answers(name) => name,
                                Fake::Late(name, after) => {
                                    tokio::time::sleep(after).await;
                                    name
                                }
                                Fake::Hangs => std::future::pending().await,
                                Fake::Resets | Fake::Breaks => return Err("no answer"),
                            };
                            Ok(Response::new(Full::new(Bytes::from_static(
                                name.as_bytes(),
                            ))))
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, hits)
    }

    /// An address nothing listens on: connections to it are refused.
    async fn dead_task() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    }

    /// Serves blue's own listener with `old` as blue's tasks and `new` as the revision that
    /// takes all its production traffic, ejecting by `rule`.
    async fn blue(
        rule: OutlierRule,
        old: Vec<Arc<Instance>>,
        new: Option<Vec<Arc<Instance>>>,
    ) -> (Arc<Router>, SocketAddr, JoinHandle<()>) {
        let stack = model::Stack::new(model::examples::gateway("gateway")).unwrap();
        let router = Router::with_rule(rule);
        let rollouts = new.map(|new| {
            let split = Split {
                new: model::Percent::whole(100),
                test_to_new: false,
            };
            let rollout = RolloutRoute {
                split,
                test_rule: None,
                new,
            };
            ("blue".to_owned(), rollout)
        });
        router.publish(Snapshot {
            plan: Some(Arc::new(LocalPlan::from_stack(&stack))),
            instances: HashMap::from([("blue".to_owned(), old)]),
            rollouts: rollouts.into_iter().collect(),
            alarms: HashMap::new(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = serve(
            listener,
            Listener::Service("blue".into()),
            Arc::clone(&router),
        );
        (router, addr, serving)
    }

    /// A rule that never ejects, for tests of what a single request does.
    const NEVER: OutlierRule = OutlierRule {
        consecutive_failures: u32::MAX,
        ..OutlierRule::ENVOY
    };

    const GET: &str = "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    const POST_EMPTY: &str =
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    const POST: &str =
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";
    const PUT: &str =
        "PUT / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";

    /// The status code and body of `request` sent to `addr` on a connection of its own (what
    /// arrived before the connection ended, however it ended).
    async fn ask(addr: SocketAddr, request: &'static str) -> (u16, String) {
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stream.read(&mut chunk) {
                answer.extend_from_slice(&chunk[..n]);
            }
            let answer = String::from_utf8_lossy(&answer).into_owned();
            let status = answer
                .split(' ')
                .nth(1)
                .and_then(|code| code.parse().ok())
                .unwrap_or(0);
            let body = answer
                .split_once("\r\n\r\n")
                .map_or("", |(_, body)| body)
                .to_owned();
            (status, body)
        })
        .await
        .unwrap()
    }

    fn hits(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried_on_a_sibling_even_for_a_post() {
        let (b, b_hits) = fake_task(Fake::Answers("b")).await;
        let tasks = vec![
            Instance::new("blue-task1".into(), dead_task().await),
            Instance::new("blue-task2".into(), b),
        ];
        let (_, addr, serving) = blue(NEVER, tasks, None).await;
        for request in [GET, POST, GET, POST, GET, POST] {
            assert_eq!(ask(addr, request).await, (200, "b".to_owned()));
        }
        // Every request reached the live task exactly once.
        assert_eq!(hits(&b_hits), 6);
        serving.abort();
    }

    /// A reset before the answer is retried for a GET; a POST (not idempotent) or a PUT whose
    /// body already went to the task is not: the failing task answered for with 502, and no
    /// request reaches the sibling twice.
    #[tokio::test]
    async fn a_reset_before_the_answer_is_retried_only_when_sending_again_is_safe() {
        for (request, retried) in [(GET, true), (POST_EMPTY, false), (PUT, false)] {
            let (a, a_hits) = fake_task(Fake::Resets).await;
            let (b, b_hits) = fake_task(Fake::Answers("b")).await;
            let tasks = vec![
                Instance::new("blue-task1".into(), a),
                Instance::new("blue-task2".into(), b),
            ];
            let (_, addr, serving) = blue(NEVER, tasks, None).await;
            let mut answers = Vec::new();
            for _ in 0..4 {
                answers.push(ask(addr, request).await.0);
            }
            let ok = answers.iter().filter(|s| **s == 200).count();
            let failed = answers.iter().filter(|s| **s == 502).count();
            assert_eq!(ok + failed, 4, "{request}: {answers:?}");
            assert!(hits(&a_hits) >= 1, "{request}: the resetting task got none");
            assert_eq!(hits(&b_hits), ok, "{request}: {answers:?}");
            if retried {
                assert_eq!(failed, 0, "{request}: {answers:?}");
            } else {
                assert_eq!(failed, hits(&a_hits), "{request}: {answers:?}");
            }
            serving.abort();
        }
    }

    #[tokio::test]
    async fn a_reset_after_the_answer_started_is_not_retried() {
        let (a, a_hits) = fake_task(Fake::Breaks).await;
        let (b, b_hits) = fake_task(Fake::Answers("b")).await;
        let tasks = vec![
            Instance::new("blue-task1".into(), a),
            Instance::new("blue-task2".into(), b),
        ];
        let (_, addr, serving) = blue(NEVER, tasks, None).await;
        let mut broken = 0;
        for _ in 0..4 {
            let (status, body) = ask(addr, GET).await;
            assert_eq!(status, 200, "{body}");
            if body.starts_with("partial") {
                broken += 1;
            } else {
                assert_eq!(body, "b");
            }
        }
        assert!(broken >= 1);
        // Each request went to one task only: the broken ones were not sent again.
        assert_eq!((hits(&a_hits), hits(&b_hits)), (broken, 4 - broken));
        serving.abort();
    }

    /// Five failures in a row take a task out of the routing choice; it takes requests again
    /// when its ejection ends.
    #[tokio::test]
    async fn tasks_failing_in_a_row_are_ejected_until_their_ejection_ends() {
        let rule = OutlierRule {
            base_ejection: Duration::from_millis(700),
            ..OutlierRule::ENVOY
        };
        let (a, a_hits) = fake_task(Fake::Resets).await;
        let (b, _) = fake_task(Fake::Answers("b")).await;
        let tasks = vec![
            Instance::new("blue-task1".into(), a),
            Instance::new("blue-task2".into(), b),
        ];
        let failing = Arc::clone(&tasks[0]);
        let (_, addr, serving) = blue(rule, tasks, None).await;
        for _ in 0..50 {
            if hits(&a_hits) >= 5 {
                break;
            }
            assert_eq!(ask(addr, GET).await, (200, "b".to_owned()));
        }
        assert_eq!(hits(&a_hits), 5);
        let ejected_at = Instant::now();
        assert!(failing.outlier.is_ejected(ejected_at));
        for _ in 0..10 {
            assert_eq!(ask(addr, GET).await, (200, "b".to_owned()));
        }
        if ejected_at.elapsed() < rule.base_ejection {
            assert_eq!(hits(&a_hits), 5, "an ejected task got a request");
        }
        tokio::time::sleep_until(ejected_at + rule.base_ejection + Duration::from_millis(50)).await;
        assert!(!failing.outlier.is_ejected(Instant::now()));
        for _ in 0..4 {
            assert_eq!(ask(addr, GET).await, (200, "b".to_owned()));
        }
        assert!(hits(&a_hits) > 5, "the task did not come back");
        serving.abort();
    }

    /// Two of three tasks fail: Envoy's 10% lets one of them be ejected, never both.
    #[tokio::test]
    async fn at_most_the_cap_of_a_revision_is_ejected() {
        let (a, a_hits) = fake_task(Fake::Resets).await;
        let (b, b_hits) = fake_task(Fake::Resets).await;
        let (c, _) = fake_task(Fake::Answers("c")).await;
        let tasks = vec![
            Instance::new("blue-task1".into(), a),
            Instance::new("blue-task2".into(), b),
            Instance::new("blue-task3".into(), c),
        ];
        let watched = tasks.clone();
        let (_, addr, serving) = blue(OutlierRule::ENVOY, tasks, None).await;
        for _ in 0..40 {
            ask(addr, GET).await;
        }
        let now = Instant::now();
        let ejected: Vec<bool> = watched.iter().map(|t| t.outlier.is_ejected(now)).collect();
        assert_eq!(
            ejected.iter().filter(|e| **e).count(),
            1,
            "{ejected:?} after {} and {} failures",
            hits(&a_hits),
            hits(&b_hits)
        );
        assert!(!ejected[2]);
        // The failing task left in keeps getting requests.
        let kept = if ejected[0] { &b_hits } else { &a_hits };
        let before = hits(kept);
        for _ in 0..12 {
            ask(addr, GET).await;
        }
        assert!(hits(kept) > before);
        serving.abort();
    }

    /// A revision whose only task is ejected is still routed to it (Envoy's panic threshold),
    /// not refused with 503.
    #[tokio::test]
    async fn a_revision_with_every_task_ejected_is_routed_as_before() {
        let (a, a_hits) = fake_task(Fake::Resets).await;
        let task = Instance::new("blue-task1".into(), a);
        let (_, addr, serving) = blue(OutlierRule::ENVOY, vec![Arc::clone(&task)], None).await;
        for _ in 0..5 {
            assert_eq!(ask(addr, GET).await.0, 502);
        }
        assert!(task.outlier.is_ejected(Instant::now()));
        assert_eq!(ask(addr, GET).await.0, 502);
        assert_eq!(hits(&a_hits), 6);
        serving.abort();
    }

    /// A request of the new revision is retried on the new revision's tasks only.
    #[tokio::test]
    async fn a_retry_never_moves_a_request_to_the_other_revision() {
        let (old, old_hits) = fake_task(Fake::Answers("old")).await;
        let old = vec![Instance::new("blue-task1".into(), old)];
        let lone = vec![Instance::new("blue-task2".into(), dead_task().await)];
        let (_, addr, serving) = blue(NEVER, old.clone(), Some(lone)).await;
        for _ in 0..3 {
            assert_eq!(ask(addr, GET).await.0, 502);
        }
        serving.abort();
        let (new, _) = fake_task(Fake::Answers("new")).await;
        let pair = vec![
            Instance::new("blue-task2".into(), dead_task().await),
            Instance::new("blue-task3".into(), new),
        ];
        let (_, addr, serving) = blue(NEVER, old, Some(pair)).await;
        for _ in 0..3 {
            assert_eq!(ask(addr, GET).await, (200, "new".to_owned()));
        }
        assert_eq!(hits(&old_hits), 0);
        serving.abort();
    }

    /// A task that accepts and never answers costs the requests it got: each ends with 504
    /// after the first-byte timeout (not retried), it is ejected, and what follows goes to its
    /// sibling.
    #[tokio::test]
    async fn a_hung_task_times_out_while_its_sibling_answers_and_is_ejected() {
        let (a, a_hits) = fake_task(Fake::Hangs).await;
        let (b, b_hits) = fake_task(Fake::Answers("b")).await;
        let tasks = vec![
            Instance::new("blue-task1".into(), a),
            Instance::new("blue-task2".into(), b),
        ];
        let hung = Arc::clone(&tasks[0]);
        let (_, addr, serving) = blue(OutlierRule::ENVOY, tasks, None).await;
        let started = Instant::now();
        let mut asking = Vec::new();
        for _ in 0..14 {
            asking.push(tokio::spawn(ask(addr, GET)));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut answers = Vec::new();
        for asked in asking {
            answers.push(asked.await.unwrap().0);
        }
        let took = started.elapsed();
        let timed_out = answers.iter().filter(|s| **s == 504).count();
        assert_eq!(timed_out + hits(&b_hits), 14, "{answers:?}");
        assert_eq!(timed_out, hits(&a_hits), "{answers:?}");
        assert!(timed_out >= 5, "{answers:?}");
        // Far less than the 15 s upstream timeout: the first-byte timeout ended them.
        assert!(took < Duration::from_secs(10), "{took:?}");
        assert!(hung.outlier.is_ejected(Instant::now()));
        for _ in 0..6 {
            assert_eq!(ask(addr, GET).await, (200, "b".to_owned()));
        }
        assert_eq!(hits(&a_hits), timed_out);
        serving.abort();
    }

    /// While no other task answers (a pause of the whole machine), a slow task is waited for
    /// beyond the first-byte timeout.
    #[tokio::test]
    async fn a_slow_answer_is_waited_for_while_no_other_task_answers() {
        let (a, _) = fake_task(Fake::Late("late", Duration::from_millis(1200))).await;
        let tasks = vec![Instance::new("blue-task1".into(), a)];
        let (_, addr, serving) = blue(OutlierRule::ENVOY, tasks, None).await;
        assert_eq!(ask(addr, GET).await, (200, "late".to_owned()));
        serving.abort();
    }
}
