//! The supervisor's control API (HTTP + JSON on 127.0.0.1) and a blocking client for `cargo xtask`.
//!
//! | request | answer |
//! |---|---|
//! | `GET /status` | [`Status`]: what runs, every URL, the running model |
//! | `POST /apply` with [`ApplyRequest`] | [`ApplyResponse`] once every task is healthy, or [`ErrorBody`] |
//! | `POST /rollout/continue`, `POST /rollout/rollback` | [`Status`] once the rollout took the command, or [`ErrorBody`] |
//! | `GET /traffic` | [`Traffic`]: the answers the data plane gave, by service and version, since it started (read-only) |
//! | `POST /shutdown` | 202, then the supervisor stops every task and exits |
//!
//! Every request carries `Authorization: Bearer <token>`, the token from `runtime.json` (readable
//! by its owner only), so another local user cannot drive the runtime.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use model::StackSpec;
use serde::{Deserialize, Serialize};
use state_store::BlueGreenState;

use crate::changes::Change;
use crate::plan::{GatewayRoutePlan, MeshName};
use crate::rollout::LocalRollout;

/// How long a new task may take to become healthy unless the client says otherwise (xtask's
/// `MESHTEST_LOCAL_HEALTH_TIMEOUT_MS` default, and restarts before any apply set one).
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Ask the supervisor to run `spec`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyRequest {
    pub spec: StackSpec,
    /// Port of the gateway listener; None: the model's listener port; Some(0): any free port.
    pub gateway_port: Option<u16>,
    /// How long a new task may take to answer `GET /` with 200.
    pub health_timeout_ms: u64,
    /// How long one model minute lasts when the apply rolls a service out (`--minute`;
    /// default [`crate::rollout::DEFAULT_MINUTE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute_ms: Option<u64>,
}

/// What an apply did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResponse {
    /// Empty when the model matched what runs: nothing was touched.
    pub changes: Vec<Change>,
    /// What was started, moved and stopped, in order.
    pub actions: Vec<ApplyAction>,
    pub status: Status,
    pub elapsed_ms: u64,
}

/// One thing an apply did; `deploy --local` prints each as a line (its `Display`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ApplyAction {
    /// A new task answered its health check.
    Started {
        task: String,
        version: String,
        url: String,
    },
    /// A new service's listener.
    ServiceListens {
        service: String,
        url: String,
    },
    /// A service's traffic moved to its new tasks at once (a rolling update).
    TrafficMoved {
        service: String,
        tasks: Vec<String>,
    },
    /// The gateway's (new) listener.
    GatewayListens {
        gateway: String,
        url: String,
    },
    RemovedService {
        service: String,
    },
    /// A replaced task, drained and stopped.
    Stopped {
        task: String,
        version: String,
    },
    /// `state.json` written once everything else succeeded.
    WroteBlueGreenState {
        state: BlueGreenState,
    },
    /// A rollout started instead of replacing the service's tasks; the supervisor follows it.
    RollingOut {
        service: String,
        version: String,
        over_version: String,
        strategy: model::StrategyKind,
        /// The production traffic percentages in order.
        production_steps: Vec<model::Percent>,
        minute_ms: u64,
        /// The bakes' nominal total, in real milliseconds.
        bakes_ms: u64,
    },
    /// How the Service Connect names reach services' own programs (said when an apply starts
    /// one): in each task's own `/etc/hosts`, or, without namespaces, through `HTTP_PROXY` only.
    ProgramNames {
        /// Each task has its own `/etc/hosts` (a mount namespace).
        hosts_file: bool,
        /// Why not, when not.
        detail: String,
    },
}

/// The clients that do not read `HTTP_PROXY`, so do not reach a Service Connect name without
/// the per-task `/etc/hosts`.
pub const PROXY_BLIND_CLIENTS: &str =
    "Python's http.client, Node's http module and node-fetch, Go's net.Dial, plain sockets, gRPC";

impl fmt::Display for ApplyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyAction::Started { task, version, url } => {
                write!(f, "started {task} (version {version}) on {url}, healthy")
            }
            ApplyAction::ServiceListens { service, url } => {
                write!(f, "service {service} listens on {url}")
            }
            ApplyAction::TrafficMoved { service, tasks } => {
                write!(f, "{service}: traffic moved to {}", tasks.join(", "))
            }
            ApplyAction::GatewayListens { gateway, url } => {
                write!(f, "gateway {gateway} listens on {url}")
            }
            ApplyAction::RemovedService { service } => write!(f, "removed service {service}"),
            ApplyAction::Stopped { task, version } => {
                write!(f, "stopped {task} (version {version})")
            }
            ApplyAction::WroteBlueGreenState { state } => {
                write!(f, "wrote blue-green state {}", state.to_json())
            }
            ApplyAction::RollingOut {
                service,
                version,
                over_version,
                strategy,
                production_steps,
                minute_ms,
                bakes_ms,
            } => {
                let steps: Vec<String> = production_steps.iter().map(|p| format!("{p}%")).collect();
                write!(
                    f,
                    "{service}: rolling out version {version} over version {over_version} ({}, production steps {}, one model minute lasts {minute_ms} ms, about {:.1} s of bakes)",
                    strategy.as_str(),
                    steps.join(" "),
                    Duration::from_millis(*bakes_ms).as_secs_f64()
                )
            }
            ApplyAction::ProgramNames {
                hosts_file: true, ..
            } => f.write_str(
                "service connect names resolve in each program's own /etc/hosts (127.255.0.0/16, as ECS writes it), any client reaches them",
            ),
            ApplyAction::ProgramNames {
                hosts_file: false,
                detail,
            } => write!(
                f,
                "warning: no per-task /etc/hosts ({detail}): the programs reach service connect names through HTTP_PROXY only, which {PROXY_BLIND_CLIENTS} ignore"
            ),
        }
    }
}

/// An error answer: one line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// One task process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    pub id: String,
    pub version: String,
    pub pid: u32,
    /// The task's own port, bypassing every proxy.
    pub url: String,
    pub log: String,
}

/// One service: its listener and its healthy tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub name: String,
    pub version: String,
    pub desired_count: u32,
    /// The service's listener: spreads requests over its tasks and survives task replacement.
    pub url: String,
    pub tasks: Vec<TaskStatus>,
    /// Tasks restarted after they died.
    pub restarts: u32,
}

/// The virtual gateway's listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    pub name: String,
    pub url: String,
    /// Longest prefix first; [`GatewayRoutePlan::describe`] gives `/split -> router`.
    pub routes: Vec<GatewayRoutePlan>,
}

/// What runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub stack: String,
    pub supervisor_pid: u32,
    pub egress_url: String,
    pub services: Vec<ServiceStatus>,
    pub gateway: Option<GatewayStatus>,
    /// Names resolvable from inside the services through the egress proxy.
    pub names: Vec<MeshName>,
    /// The blue-green state the running model writes (`state.json`'s content).
    pub blue_green_state: Option<BlueGreenState>,
    /// The running model; None before the first apply.
    pub spec: Option<StackSpec>,
    /// The last rollout (in progress or ended) since the supervisor started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<LocalRollout>,
}

/// The answers of one version of one service that went through the data plane (every
/// listener: egress, gateway, the service's own), counted since the data plane started. A
/// reader takes the difference of two readings for a rate (the dashboard's answers and 5xx per
/// second). An answer the proxy gave for a task that failed (502, 504) is the task's 5xx, as for
/// the alarm; a request that found no task (503) reached no version and is not counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionTraffic {
    pub service: String,
    pub version: String,
    pub answers: u64,
    /// Of `answers`, those with a 5xx status.
    pub errors: u64,
}

/// `GET /traffic`: every version's cumulative counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    /// By service, then version.
    pub services: Vec<VersionTraffic>,
}

/// `continue` or `rollback` of the rollout in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutCommand {
    Continue,
    Rollback,
}

impl RolloutCommand {
    fn path(self) -> &'static str {
        match self {
            RolloutCommand::Continue => "/rollout/continue",
            RolloutCommand::Rollback => "/rollout/rollback",
        }
    }
}

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot start a runtime for the control client")]
    Runtime(#[source] std::io::Error),
    #[error("the local runtime's control API at {url} does not answer")]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the local runtime's control API at {url} broke the connection")]
    Http {
        url: String,
        #[source]
        source: hyper::Error,
    },
    #[error("the local runtime did not answer {what} within {secs} s")]
    Timeout { what: &'static str, secs: u64 },
    /// The supervisor refused or failed; `message` is its one-line cause.
    #[error("{message}")]
    Api { status: u16, message: String },
    #[error("the local runtime answered {what} with unexpected JSON")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Blocking client of one supervisor's control API.
#[derive(Debug)]
pub struct ControlClient {
    /// `127.0.0.1:<port>`
    addr: String,
    url: String,
    token: String,
    runtime: tokio::runtime::Runtime,
}

impl ControlClient {
    /// A client for the API at `url` (`http://127.0.0.1:<port>`) with `token`.
    pub fn new(url: &str, token: &str) -> Result<ControlClient, ControlError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ControlError::Runtime)?;
        Ok(ControlClient {
            addr: url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
            url: url.to_owned(),
            token: token.to_owned(),
            runtime,
        })
    }

    pub fn status(&self, timeout: Duration) -> Result<Status, ControlError> {
        let body = self.call(Method::GET, "/status", None, timeout, "status")?;
        serde_json::from_slice(&body).map_err(|source| ControlError::Json {
            what: "status",
            source,
        })
    }

    /// Runs `request` and waits for the answer (bounded by `timeout`).
    pub fn apply(
        &self,
        request: &ApplyRequest,
        timeout: Duration,
    ) -> Result<ApplyResponse, ControlError> {
        let json = serde_json::to_vec(request).expect("an apply request always serialises");
        let body = self.call(Method::POST, "/apply", Some(json), timeout, "apply")?;
        serde_json::from_slice(&body).map_err(|source| ControlError::Json {
            what: "apply",
            source,
        })
    }

    /// The answers the data plane counted so far, by service and version.
    pub fn traffic(&self, timeout: Duration) -> Result<Traffic, ControlError> {
        let body = self.call(Method::GET, "/traffic", None, timeout, "traffic")?;
        serde_json::from_slice(&body).map_err(|source| ControlError::Json {
            what: "traffic",
            source,
        })
    }

    /// Continues or rolls back the rollout in progress; answers the status after it.
    pub fn rollout(
        &self,
        command: RolloutCommand,
        timeout: Duration,
    ) -> Result<Status, ControlError> {
        let body = self.call(Method::POST, command.path(), None, timeout, "rollout")?;
        serde_json::from_slice(&body).map_err(|source| ControlError::Json {
            what: "rollout",
            source,
        })
    }

    /// Asks the supervisor to stop everything and exit; returns once it has accepted.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), ControlError> {
        self.call(Method::POST, "/shutdown", None, timeout, "shutdown")
            .map(drop)
    }

    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
        what: &'static str,
    ) -> Result<Bytes, ControlError> {
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(&self.addr)
                .await
                .map_err(|source| ControlError::Connect {
                    url: self.url.clone(),
                    source,
                })?;
            let http = |source| ControlError::Http {
                url: self.url.clone(),
                source,
            };
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(http)?;
            tokio::spawn(connection);
            let request = Request::builder()
                .method(method)
                .uri(path)
                .header(HOST, &self.addr)
                .header(AUTHORIZATION, format!("Bearer {}", self.token))
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .expect("a request from static parts is valid");
            let response = sender.send_request(request).await.map_err(http)?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(http)?
                .to_bytes();
            if status.is_success() {
                Ok(bytes)
            } else {
                let message = serde_json::from_slice::<ErrorBody>(&bytes)
                    .map(|e| e.error)
                    .unwrap_or_else(|_| {
                        format!("the local runtime answered {what} with {}", status.as_u16())
                    });
                Err(ControlError::Api {
                    status: status.as_u16(),
                    message,
                })
            }
        };
        self.runtime.block_on(async {
            tokio::time::timeout(timeout, exchange)
                .await
                .unwrap_or(Err(ControlError::Timeout {
                    what,
                    secs: timeout.as_secs(),
                }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines `deploy --local` prints are what the supervisor sent as text before the
    /// actions were typed.
    #[test]
    fn actions_read_as_before_and_travel_as_json() {
        let state = BlueGreenState::from_json(
            r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#,
        )
        .unwrap();
        let cases = [
            (
                ApplyAction::Started {
                    task: "green-task2".into(),
                    version: "2".into(),
                    url: "http://127.0.0.1:4000".into(),
                },
                "started green-task2 (version 2) on http://127.0.0.1:4000, healthy",
            ),
            (
                ApplyAction::ServiceListens {
                    service: "blue".into(),
                    url: "http://127.0.0.1:4001".into(),
                },
                "service blue listens on http://127.0.0.1:4001",
            ),
            (
                ApplyAction::TrafficMoved {
                    service: "green".into(),
                    tasks: vec!["green-task2".into(), "green-task3".into()],
                },
                "green: traffic moved to green-task2, green-task3",
            ),
            (
                ApplyAction::GatewayListens {
                    gateway: "gateway".into(),
                    url: "http://127.0.0.1:9080".into(),
                },
                "gateway gateway listens on http://127.0.0.1:9080",
            ),
            (
                ApplyAction::RemovedService {
                    service: "red".into(),
                },
                "removed service red",
            ),
            (
                ApplyAction::Stopped {
                    task: "green-task1".into(),
                    version: "1".into(),
                },
                "stopped green-task1 (version 1)",
            ),
            (
                ApplyAction::WroteBlueGreenState { state },
                r#"wrote blue-green state {"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#,
            ),
            (
                ApplyAction::RollingOut {
                    service: "web".into(),
                    version: "2".into(),
                    over_version: "1".into(),
                    strategy: model::StrategyKind::Linear,
                    production_steps: ["20", "40", "100"]
                        .iter()
                        .map(|p| serde_json::from_str(p).unwrap())
                        .collect(),
                    minute_ms: 1000,
                    bakes_ms: 7500,
                },
                "web: rolling out version 2 over version 1 (LINEAR, production steps 20% 40% 100%, one model minute lasts 1000 ms, about 7.5 s of bakes)",
            ),
        ];
        for (action, line) in cases {
            assert_eq!(action.to_string(), line);
            let json = serde_json::to_string(&action).unwrap();
            assert!(!json.contains(r#"\""#), "no JSON inside JSON: {json}");
            let back: ApplyAction = serde_json::from_str(&json).unwrap();
            assert_eq!(back, action);
        }
    }
}
