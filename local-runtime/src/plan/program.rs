//! A service's own program (the model's `local` block) as the local runtime runs it, and the
//! loopback addresses its Service Connect names resolve to.
//!
//! On ECS, Service Connect runs an agent in each task and the application "can look up the names
//! by using the standard functionality for DNS names and making connections" (Amazon ECS
//! Developer Guide, "Interconnect Amazon ECS services",
//! <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/interconnecting-services.html>);
//! the names resolve to the task's own Service Connect proxy ("Amazon ECS Service Connect
//! components", <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-connect-concepts-deploy.html>),
//! which ECS does by writing the task's `/etc/hosts` with addresses in 127.255.0.0/16 where the
//! proxy listens on each client alias's port (that range is what Service Connect tasks show;
//! the guide names no range).
//! The local runtime does the same per task ([`alias_addresses`], [`hosts_file`]): one address per
//! name, stable for a given set of names, where the data plane listens on each alias port.

use std::collections::{BTreeMap, BTreeSet};
// `core::net`: an address is data here; the core opens no socket.
use core::net::{Ipv4Addr, SocketAddr};

use model::{HealthCheckSpec, LocalSpec, ServiceSpec};
use serde::{Deserialize, Serialize};

/// How a program's health is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum HealthPlan {
    /// `GET path` on the program's port answers 200 (no container health check in the model).
    Http { path: String },
    /// The container's `healthCheck`: `CMD` run as an argv, `CMD-SHELL` through `sh -c`, exit 0
    /// healthy; with its interval, timeout, retries and start period in model seconds.
    Command {
        argv: Vec<String>,
        check: HealthCheckSpec,
    },
}

/// A service's own program at the version the plan runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramPlan {
    /// argv, no shell.
    pub command: Vec<String>,
    /// Absolute when the model came from a file (its reader resolves it); None: the runtime's
    /// own folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// The block's environment with the version's over it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    pub health: HealthPlan,
    /// ECS's `stopTimeout`, model seconds.
    pub stop_timeout_seconds: u32,
}

impl ProgramPlan {
    /// The program of `svc` at its version; None without a `local` block (demo-app runs) or
    /// for a version the block does not list (the model refuses that).
    pub fn of(svc: &ServiceSpec) -> Option<ProgramPlan> {
        let local: &LocalSpec = svc.local.as_ref()?;
        let program = local.program(&svc.version)?;
        let health = match &svc.health_check {
            Some(check) => HealthPlan::Command {
                argv: health_argv(&check.command),
                check: check.clone(),
            },
            None => HealthPlan::Http {
                path: local
                    .health_check_path
                    .clone()
                    .unwrap_or_else(|| "/".to_owned()),
            },
        };
        Some(ProgramPlan {
            command: program.command,
            working_directory: local.working_directory.clone(),
            environment: program.environment,
            health,
            stop_timeout_seconds: local.stop_timeout_seconds(),
        })
    }
}

/// ECS's health check command as an argv: `["CMD", prog, args...]` runs `prog args...`,
/// `["CMD-SHELL", script]` runs `sh -c script` (ECS runs it with the container's default shell).
fn health_argv(command: &[String]) -> Vec<String> {
    match command.split_first() {
        Some((kind, rest)) => match kind.as_str() {
            "CMD-SHELL" => vec!["sh".into(), "-c".into(), rest.join(" ")],
            _ => rest.to_vec(),
        },
        None => Vec::new(),
    }
}

/// The environment of one task of a program: the task definition's (`task_definition`), the
/// block's, then what the runtime sets: `PORT` and `SERVICE_PORT` (the port mapping's container
/// port, rewritten) to the free `port`, `SERVICE_HOST` loopback, `MESHTEST_SERVICE`,
/// `MESHTEST_VERSION`; with `egress` (no per-task names), `HTTP_PROXY` as demo-app has it, but
/// `NO_PROXY` keeps loopback (a program's own health check calls `127.0.0.1:$PORT`; a program
/// can open a plain socket to any loopback port anyway, so the proxy's guard cannot hold for it).
pub fn program_environment(
    task_definition: &BTreeMap<String, String>,
    program: &ProgramPlan,
    (service, version): (&str, &str),
    port: u16,
    egress: Option<SocketAddr>,
) -> BTreeMap<String, String> {
    let mut env = task_definition.clone();
    env.extend(program.environment.clone());
    env.insert("PORT".into(), port.to_string());
    env.insert("SERVICE_PORT".into(), port.to_string());
    env.insert("SERVICE_HOST".into(), "127.0.0.1".into());
    env.insert("MESHTEST_SERVICE".into(), service.to_owned());
    env.insert("MESHTEST_VERSION".into(), version.to_owned());
    if let Some(egress) = egress {
        let proxy = format!("http://{egress}");
        env.insert("HTTP_PROXY".into(), proxy.clone());
        env.insert("http_proxy".into(), proxy);
        env.insert("NO_PROXY".into(), "localhost,127.0.0.1".into());
        env.insert("no_proxy".into(), "localhost,127.0.0.1".into());
    }
    env
}

/// The first and last addresses handed out: 127.255.0.0/16 without its network and broadcast
/// addresses.
const FIRST: u32 = u32::from_be_bytes([127, 255, 0, 1]);
const LAST: u32 = u32::from_be_bytes([127, 255, 255, 254]);

/// One address in 127.255.0.0/16 per name: from a hash of the stack and the name (FNV-1a), so
/// adding a name moves no other and two stacks on one machine (whose tasks share its loopback,
/// unlike ECS tasks, each in its own network namespace) rarely share one; two names on one hash
/// take the next free address in name order.
pub fn alias_addresses<'a>(
    stack: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, Ipv4Addr> {
    let names: BTreeSet<&str> = names.into_iter().collect();
    let span = LAST - FIRST + 1;
    let mut taken = BTreeSet::new();
    let mut out = BTreeMap::new();
    for name in names {
        let mut hash: u32 = 0x811c_9dc5;
        for byte in stack.bytes().chain([b'/']).chain(name.bytes()) {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        let mut offset = hash % span;
        while !taken.insert(offset) {
            offset = (offset + 1) % span;
        }
        out.insert(name.to_owned(), Ipv4Addr::from(FIRST + offset));
    }
    out
}

/// A task's `/etc/hosts`: the machine's own (`base`, so `localhost` and the host's names still
/// resolve), then one line per Service Connect name.
pub fn hosts_file(base: &str, aliases: &BTreeMap<String, Ipv4Addr>) -> String {
    let mut text = base.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# Service Connect names (meshtest local runtime)\n");
    for (name, addr) in aliases {
        text.push_str(&format!("{addr}\t{name}\n"));
    }
    text
}
