//! The wire between the supervisor and its data plane process: one JSON request and one JSON
//! answer, each on one line, per connection to the state folder's unix socket
//! (`dataplane.sock`, mode 0600: only the stack's owner reaches it, as with `runtime.json`).
//!
//! The data plane (gateway, Service Connect listeners, egress proxy) is a process of its own so
//! that it keeps serving when the supervisor dies: ECS's data plane does not stop when its
//! control plane fails. The supervisor pushes each routing snapshot whole ([`WireSnapshot`]),
//! asks for listeners, waits for retired tasks to drain and reads the error-rate alarm's
//! answer counts from it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use local_runtime::rollout::Split;
use local_runtime::rollout::alarm::Counted;
use model::StackSpec;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;

/// Which listener a bound socket serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum ListenerKind {
    Gateway,
    Service(String),
    /// A Service Connect client alias (`name:port`) on its own loopback address in
    /// 127.255.0.0/16, where a program whose `/etc/hosts` maps the name connects: routed as the
    /// egress proxy routes that name.
    Alias {
        authority: String,
        addr: SocketAddr,
    },
}

/// One task as the data plane routes to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Endpoint {
    pub task_id: String,
    pub addr: SocketAddr,
    /// The version the task runs: the data plane counts answers by service and version
    /// (`Traffic`). Empty from a supervisor that predates the count.
    #[serde(default)]
    pub version: String,
}

/// A test traffic rule (`model::TestTrafficRule`) on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireRule {
    pub header: String,
    pub value: Option<String>,
}

/// The new revision of a service that rolls out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireRollout {
    pub split: Split,
    pub test_rule: Option<WireRule>,
    pub new: Vec<Endpoint>,
}

/// A watched error-rate alarm: its periods start at `started_unix_ms` and last `period_ms`, so
/// the data plane counts each answer in the period the supervisor's alarm evaluates it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireAlarm {
    pub started_unix_ms: u64,
    pub period_ms: u64,
    /// Which answers count: the egress proxy's or the gateway's (absent from a supervisor of
    /// before it: the egress proxy's).
    #[serde(default)]
    pub counted: Counted,
}

/// What the data plane routes by, swapped whole (the proxy's `Snapshot`, with tasks by id and
/// address and the model instead of its plan).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireSnapshot {
    /// Increases with every publish: an older one arriving late is ignored.
    pub generation: u64,
    /// The model whose plan routes (the data plane derives the same `LocalPlan`); None before
    /// the first apply and once the runtime stops.
    pub spec: Option<StackSpec>,
    /// The listeners that accept connections from this snapshot on.
    pub serving: Vec<u64>,
    pub instances: BTreeMap<String, Vec<Endpoint>>,
    pub rollouts: BTreeMap<String, WireRollout>,
    pub alarms: BTreeMap<String, WireAlarm>,
}

/// A request to the data plane.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "op")]
pub(crate) enum Request {
    /// Who are you: pid, egress address, last snapshot applied.
    Hello,
    /// Bind a listener on 127.0.0.1:`port` (0: any); it accepts once a snapshot lists it.
    Listen {
        listener: ListenerKind,
        port: u16,
    },
    /// Close a listener (connections already accepted finish their exchange).
    Close {
        id: u64,
    },
    Publish {
        snapshot: Box<WireSnapshot>,
    },
    /// Wait, up to `timeout_ms`, until no request is in flight on these retired tasks.
    Drain {
        tasks: Vec<String>,
        timeout_ms: u64,
    },
    /// The answers counted for `service`'s alarm since the last call, by period.
    AlarmCounts {
        service: String,
    },
    /// Every answer counted since the data plane started, by service and version.
    Traffic,
    /// Stop serving and exit.
    Shutdown,
}

/// Answers counted in one alarm period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PeriodCounts {
    pub period: u64,
    pub answers: u64,
    pub errors: u64,
    /// The answers the new revision gave (a data plane from before it was counted sends none).
    #[serde(default)]
    pub new_answers: u64,
}

/// A listener the data plane holds, as `Hello` lists it for a supervisor that adopts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HeldListener {
    pub id: u64,
    pub listener: ListenerKind,
    pub addr: SocketAddr,
}

/// The data plane's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "answer")]
pub(crate) enum Response {
    Hello {
        pid: u32,
        egress: SocketAddr,
        generation: u64,
        /// Every listener it holds, by id.
        #[serde(default)]
        listeners: Vec<HeldListener>,
    },
    Listening {
        id: u64,
        addr: SocketAddr,
    },
    Done,
    Drained {
        /// Requests still in flight when the wait ended.
        left: usize,
    },
    Counts {
        periods: Vec<PeriodCounts>,
    },
    Traffic {
        services: Vec<local_runtime::control::VersionTraffic>,
    },
    Refused {
        message: String,
        /// The port is in use (a bind failure the supervisor words for the user).
        in_use: bool,
    },
}

/// Why a call to the data plane failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error("cannot reach the data plane at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the data plane answered something else: {0}")]
    Garbled(String),
}

/// Reads one JSON line from `stream`.
pub(crate) async fn read_line<T: serde::de::DeserializeOwned>(
    stream: &mut BufReader<UnixStream>,
) -> std::io::Result<Option<T>> {
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Writes `value` as one JSON line.
pub(crate) async fn write_line(
    stream: &mut BufReader<UnixStream>,
    value: &impl Serialize,
) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(value)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    bytes.push(b'\n');
    stream.get_mut().write_all(&bytes).await
}

/// Sends `request` to the data plane listening on `socket` and returns its answer.
pub(crate) async fn call(socket: &Path, request: &Request) -> Result<Response, WireError> {
    let io = |source| WireError::Io {
        path: socket.display().to_string(),
        source,
    };
    let stream = UnixStream::connect(socket).await.map_err(io)?;
    let mut stream = BufReader::new(stream);
    write_line(&mut stream, request).await.map_err(io)?;
    match read_line::<Response>(&mut stream).await {
        Ok(Some(response)) => Ok(response),
        Ok(None) => Err(WireError::Garbled("no answer".into())),
        Err(err) => Err(WireError::Garbled(err.to_string())),
    }
}
