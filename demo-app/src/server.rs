//! The HTTP server: the seed's routes, the access log, and starting and stopping in-process.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::dev::{ServerHandle, Service as _};
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::allow::{AllowList, Target};
use crate::config::Config;
use crate::downstream::{ClientError, Downstream, NOT_ALLOWED};
use crate::fault::{Dice, HEALTH_HEADER};

/// Answer to every path outside `/downstream/`, in the seed's key order.
#[derive(Debug, Serialize)]
struct OkBody<'a> {
    message: &'static str,
    service: &'a str,
    version: &'a str,
}

/// Answer to a request `FAULT_RATE` picked: like `ok`, so the failing version is visible.
#[derive(Debug, Serialize)]
struct FaultBody<'a> {
    message: &'static str,
    service: &'a str,
    version: &'a str,
}

/// Answer to a successful `/downstream/{target}`.
#[derive(Debug, Serialize)]
struct FetchedBody<'a> {
    message: &'static str,
    service: &'a str,
    response: &'a RawValue,
}

/// Answer to a failed `/downstream/{target}`: a short reason, never internal details.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    message: &'static str,
    service: &'a str,
    error: &'a str,
}

/// State shared by every worker.
#[derive(Debug)]
struct Shared {
    /// The `ok` answer never changes, so it is serialised once.
    ok_body: Bytes,
    /// The injected fault's answer, likewise.
    fault_body: Bytes,
    service: String,
    allow: AllowList,
    /// `PROPAGATE_HEADERS`, as names of the incoming and of the downstream request.
    propagate: Vec<(HeaderName, reqwest::header::HeaderName)>,
}

/// Error starting the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot set up the downstream client")]
    Client(#[from] ClientError),
}

/// Error reported when the server task ends.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("server failed")]
    Io(#[from] io::Error),
    #[error("server task panicked or was cancelled")]
    Join(#[from] tokio::task::JoinError),
}

type ShutdownSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A demo service ready to start: configuration plus optional listener and shutdown signal.
pub struct App {
    config: Config,
    listener: Option<TcpListener>,
    shutdown: Option<ShutdownSignal>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .field("listener", &self.listener)
            .field("shutdown", &self.shutdown.is_some())
            .finish()
    }
}

impl App {
    /// A service for `config`; it binds `config.host:config.port` unless given a listener.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            listener: None,
            shutdown: None,
        }
    }

    /// Serve on an already bound listener instead of binding `config.host:config.port`.
    pub fn with_listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Drain and stop when `signal` completes (the binary passes SIGTERM/Ctrl-C). Without one,
    /// the server ignores OS signals and stops only through [`RunningApp::stop`].
    pub fn with_shutdown_signal(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// Bind and start serving on `config.workers` worker threads; must run inside a Tokio
    /// runtime. Returns once the socket is listening.
    pub async fn start(self) -> Result<RunningApp, StartError> {
        let config = self.config;
        if let Some(faults) = &config.faults {
            tracing::warn!(
                "FAULT_RATE={}: about {:.1}% of requests will be answered with 500 (a test aid \
                 for rehearsing rollbacks; requests with {HEALTH_HEADER} are exempt)",
                faults.rate(),
                faults.rate() * 100.0
            );
        }
        let shared = web::Data::new(Shared::new(&config));
        // Built once here so a bad proxy setting fails the start, not a worker.
        drop(Downstream::new(&config)?);
        let worker_config = config.clone();
        let workers_started = Arc::new(AtomicU64::new(0));

        let server = HttpServer::new(move || {
            // One pooled client per worker thread, shared by every request on that worker. A
            // single client for all workers would hand connections driven by one worker's event
            // loop to another, a cross-thread wake-up per hop; measured on two cores, per-worker
            // pools carry about 30% more /downstream requests per second.
            let client =
                Downstream::new(&worker_config).expect("the same configuration built at start");
            let index = workers_started.fetch_add(1, Ordering::Relaxed);
            let worker = Worker {
                client,
                verdicts: RefCell::new(HashMap::new()),
                dice: worker_config.faults.map(|f| f.dice(index)),
            };
            actix_web::App::new()
                .app_data(shared.clone())
                .app_data(web::Data::new(worker))
                .wrap_fn(|req, srv| {
                    let started = Instant::now();
                    let response = srv.call(req);
                    async move {
                        let response = response.await?;
                        access_log(response.request(), response.status(), started);
                        Ok(response)
                    }
                })
                .default_service(web::to(route))
        })
        .workers(config.workers)
        // actix counts whole seconds: round up so a sub-second timeout is not "stop at once".
        .shutdown_timeout(config.shutdown_timeout.as_millis().div_ceil(1000) as u64);

        let server = match self.shutdown {
            Some(signal) => server.shutdown_signal(signal),
            None => server.disable_signals(),
        };
        let server = match self.listener {
            Some(listener) => {
                let addr = listener
                    .local_addr()
                    .map_or_else(|_| "listener".to_owned(), |a| a.to_string());
                server
                    .listen(listener)
                    .map_err(|source| StartError::Bind { addr, source })?
            }
            None => {
                let addr = SocketAddr::new(config.host, config.port);
                server.bind(addr).map_err(|source| StartError::Bind {
                    addr: addr.to_string(),
                    source,
                })?
            }
        };
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| StartError::Bind {
                addr: format!("{}:{}", config.host, config.port),
                source: io::Error::other("no socket bound"),
            })?;
        let server = server.run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(RunningApp { addr, handle, task })
    }
}

impl Shared {
    /// What every worker shares: the canned bodies, the allow-list and the headers to propagate.
    fn new(config: &Config) -> Shared {
        let ok_body = serde_json::to_vec(&OkBody {
            message: "ok",
            service: &config.service_name,
            version: &config.service_version,
        })
        .expect("serialising strings cannot fail");
        let fault_body = serde_json::to_vec(&FaultBody {
            message: "fault injected",
            service: &config.service_name,
            version: &config.service_version,
        })
        .expect("serialising strings cannot fail");
        Shared {
            ok_body: Bytes::from(ok_body),
            fault_body: Bytes::from(fault_body),
            service: config.service_name.clone(),
            allow: config.allow.clone(),
            propagate: config
                .propagate_headers
                .iter()
                .map(|name| {
                    let incoming = HeaderName::from_bytes(name.as_bytes());
                    let outgoing = reqwest::header::HeaderName::from_bytes(name.as_bytes());
                    (incoming.expect("validated"), outgoing.expect("validated"))
                })
                .collect(),
        }
    }
}

/// Start a service for `config` on `config.host:config.port` (port 0: OS-chosen).
pub async fn spawn(config: Config) -> Result<RunningApp, StartError> {
    App::new(config).start().await
}

/// A running service.
#[derive(Debug)]
pub struct RunningApp {
    addr: SocketAddr,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

/// Cloneable handle that stops a [`RunningApp`] from elsewhere.
#[derive(Debug, Clone)]
pub struct StopHandle(ServerHandle);

impl StopHandle {
    /// Stop the server; `graceful` lets in-flight requests finish (up to the shutdown timeout).
    pub async fn stop(&self, graceful: bool) {
        self.0.stop(graceful).await;
    }
}

impl RunningApp {
    /// The bound address (the real port when the configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that can stop the server while something else awaits [`RunningApp::wait`].
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.handle.clone())
    }

    /// Stop and wait until every worker has exited.
    pub async fn stop(self, graceful: bool) -> Result<(), ServeError> {
        self.handle.stop(graceful).await;
        self.wait().await
    }

    /// Wait until the server stops (shutdown signal or a [`StopHandle`]).
    pub async fn wait(self) -> Result<(), ServeError> {
        Ok(self.task.await??)
    }
}

fn access_log(req: &HttpRequest, status: StatusCode, started: Instant) {
    tracing::info!(
        target: "access",
        method = %req.method(),
        path = req.path(),
        status = status.as_u16(),
        micros = started.elapsed().as_micros() as u64,
    );
}

fn json_response(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .body(body.into())
}

/// The only handler. The seed's two routes are told apart here rather than by actix's router:
/// a dynamic pattern like `/downstream/{target}` costs a regex match on every request.
async fn route(
    req: HttpRequest,
    shared: web::Data<Shared>,
    worker: web::Data<Worker>,
) -> HttpResponse {
    if let Some(dice) = &worker.dice
        && !req.headers().contains_key(HEALTH_HEADER)
        && dice.roll()
    {
        return json_response(StatusCode::INTERNAL_SERVER_ERROR, shared.fault_body.clone());
    }
    if req.method() == Method::GET
        && let Some(raw) = downstream_target(req.path())
    {
        return downstream(raw, &req, &shared, &worker).await;
    }
    json_response(StatusCode::OK, shared.ok_body.clone())
}

/// `{target}` of `/downstream/{target}`: one non-empty path segment, optionally followed by `/`
/// (Express matched the same). Any other path, `/downstream/a/b` included, is a plain path.
fn downstream_target(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/downstream/")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

fn error_response(shared: &Shared, status: StatusCode, reason: &str) -> HttpResponse {
    let body = serde_json::to_vec(&ErrorBody {
        message: "error",
        service: &shared.service,
        error: reason,
    })
    .expect("serialising strings cannot fail");
    json_response(status, body)
}

/// What the allow-list made of a target string.
#[derive(Debug, Clone)]
enum Verdict {
    Allowed(Rc<Target>),
    Forbidden(Rc<Target>),
    Invalid,
}

/// Per-worker state: the downstream client and a memo of target verdicts.
#[derive(Debug)]
struct Worker {
    client: Downstream,
    /// Parsing a target (URL rules, IDNA) and matching it costs more than the rest of the
    /// handler; a service talks to a handful of targets, so each worker remembers its verdicts.
    verdicts: RefCell<HashMap<Box<str>, Verdict>>,
    /// `FAULT_RATE`'s draw for this worker, when faults are on.
    dice: Option<Dice>,
}

/// Verdicts a worker remembers before starting over (bounds memory against arbitrary targets).
const MAX_VERDICTS: usize = 256;

impl Worker {
    fn verdict(&self, raw: &str, allow: &AllowList) -> Verdict {
        let mut verdicts = self.verdicts.borrow_mut();
        if let Some(v) = verdicts.get(raw) {
            return v.clone();
        }
        let verdict = match Target::parse(raw) {
            Ok(target) if allow.permits(&target) => Verdict::Allowed(Rc::new(target)),
            Ok(target) => Verdict::Forbidden(Rc::new(target)),
            Err(_) => Verdict::Invalid,
        };
        if verdicts.len() >= MAX_VERDICTS {
            verdicts.clear();
        }
        verdicts.insert(raw.into(), verdict.clone());
        verdict
    }
}

async fn downstream(
    raw: &str,
    req: &HttpRequest,
    shared: &Shared,
    worker: &Worker,
) -> HttpResponse {
    let target = match worker.verdict(raw, &shared.allow) {
        Verdict::Allowed(target) => target,
        // Decided before any socket is opened: a refused target is never contacted.
        Verdict::Forbidden(target) => {
            tracing::warn!(target: "demo_app::downstream", %target, "downstream target not allowed");
            return error_response(shared, StatusCode::FORBIDDEN, NOT_ALLOWED);
        }
        Verdict::Invalid => {
            return error_response(shared, StatusCode::BAD_REQUEST, "invalid downstream target");
        }
    };
    match worker
        .client
        .fetch(target.url(), &propagated(req, shared))
        .await
    {
        Ok(json) => {
            let body = serde_json::to_vec(&FetchedBody {
                message: "fetched!",
                service: &shared.service,
                response: &json,
            })
            .expect("serialising validated json cannot fail");
            json_response(StatusCode::OK, body)
        }
        Err(err) => error_response(shared, err.status(), err.reason()),
    }
}

/// The incoming request's headers named in `PROPAGATE_HEADERS`, every value of each, ready for
/// the downstream request (Service Connect routes a test request by them at every hop).
fn propagated(
    req: &HttpRequest,
    shared: &Shared,
) -> Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)> {
    let mut headers = Vec::new();
    for (incoming, outgoing) in &shared.propagate {
        for value in req.headers().get_all(incoming) {
            // Same bytes, another crate's type: actix and reqwest use different `http` versions.
            if let Ok(value) = reqwest::header::HeaderValue::from_bytes(value.as_bytes()) {
                headers.push((outgoing.clone(), value));
            }
        }
    }
    headers
}
