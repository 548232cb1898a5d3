//! The ECS cluster and its services: names, image, version, port, environment (and the
//! `SERVICE_*` contract the model sets), Fargate sizes, health checks and backends

use std::collections::{BTreeMap, BTreeSet};

use super::stack::Stack;
use super::validator::Validator;
use crate::deployment::DEFAULT_TEST_TRAFFIC_HEADER;
use crate::rules;
use crate::spec::*;

impl Validator {
    pub(super) fn cluster(&mut self, c: &ClusterSpec) {
        self.check("cluster.name", rules::ecs_name(&c.name));
        self.check(
            "cluster.discovery.namespace",
            rules::dns_name(c.discovery.namespace()),
        );
    }

    pub(super) fn service(
        &mut self,
        p: &str,
        svc: &ServiceSpec,
        stack: &StackSpec,
        names: &BTreeSet<&str>,
    ) {
        self.check(format!("{p}.name"), rules::ecs_name(&svc.name));
        self.check(format!("{p}.name"), rules::logical_id_source(&svc.name));
        if let DiscoverySpec::PrivateDns { .. } = stack.cluster.discovery {
            self.check(
                format!("{p}.name"),
                rules::cloud_map_service_name(&svc.name),
            );
        }
        if let ImageSpec::Uri { uri } = &svc.image {
            self.check(format!("{p}.image.uri"), rules::image_uri(uri));
        }
        self.check(format!("{p}.version"), rules::version(&svc.version));
        self.check(
            format!("{p}.port.containerPort"),
            rules::port(svc.port.container_port),
        );
        self.check(
            format!("{p}.port.name"),
            rules::service_connect_name(&svc.port.name),
        );
        for (key, value) in &svc.environment {
            let path = format!("{p}.environment.{}", rules::inert(key));
            self.check(path.clone(), env_var(key, value));
        }
        self.fargate(p, svc.cpu, svc.memory_mib);
        self.check(
            format!("{p}.desiredCount"),
            rules::range(svc.desired_count, 0, 1000, "desiredCount"),
        );
        if let Some(hc) = &svc.health_check {
            self.health_check(&format!("{p}.healthCheck"), hc);
        }
        self.service_connect(p, svc, stack);
        if let Some(sidecar) = &svc.app_mesh {
            self.sidecar(&format!("{p}.appMesh"), sidecar, svc, stack);
        }
        for (j, b) in svc.backends.iter().enumerate() {
            let bp = format!("{p}.backends[{j}]");
            if b == &svc.name {
                self.err(
                    bp,
                    format!("service {} cannot be its own backend", rules::quote(b)),
                );
            } else if !names.contains(b.as_str()) {
                self.err(
                    bp,
                    format!("backend {} is not a service in this stack", rules::quote(b)),
                );
            }
        }
        self.deployment(p, svc, stack);
        if let Some(local) = &svc.local {
            self.local_service_env(p, svc);
            self.local(p, svc, local);
        }
    }

    /// Blames `cpu` when Fargate has no such CPU size, else `memoryMib` when the pair is not offered.
    pub(super) fn fargate(&mut self, p: &str, cpu: u32, memory_mib: u32) {
        match rules::fargate_cpu(cpu) {
            Err(message) => self.err(format!("{p}.cpu"), message),
            Ok(()) => self.check(
                format!("{p}.memoryMib"),
                rules::fargate_size(cpu, memory_mib),
            ),
        }
    }

    fn health_check(&mut self, p: &str, hc: &HealthCheckSpec) {
        match hc.command.first().map(String::as_str) {
            Some("CMD" | "CMD-SHELL") if hc.command.len() > 1 => {}
            _ => self.err(
                format!("{p}.command"),
                "command must be [\"CMD\", program, args...] or [\"CMD-SHELL\", script]",
            ),
        }
        self.check(
            format!("{p}.intervalSeconds"),
            rules::range(hc.interval_seconds, 5, 300, "interval"),
        );
        self.check(
            format!("{p}.timeoutSeconds"),
            rules::range(hc.timeout_seconds, 2, 120, "timeout"),
        );
        self.check(
            format!("{p}.retries"),
            rules::range(hc.retries, 1, 10, "retries"),
        );
        self.check(
            format!("{p}.startPeriodSeconds"),
            rules::range(hc.start_period_seconds, 0, 300, "start period"),
        );
    }
}

/// An environment variable name that the task definition or the local runtime sets itself, so a
/// value of the user's would be overwritten (or break the rehearsal): refused, with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedEnv {
    /// The name, or with a trailing `*` every name that starts with what precedes it.
    pub name: &'static str,
    pub reason: &'static str,
}

impl ReservedEnv {
    pub fn matches(&self, key: &str) -> bool {
        match self.name.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => key == self.name,
        }
    }
}

/// Every environment variable name a service cannot set: the `SERVICE_*` contract the task
/// definition sets from the model ([`app_environment`]), `PROPAGATE_HEADERS` derived from the
/// test traffic rules ([`propagate_headers`]), and what the local runtime sets on each task
/// (`local_runtime::plan::ServicePlan::task_environment`, and the marker that makes its processes
/// findable, `local_runtime::process::Marker::env`). Names are case-sensitive, as on Linux.
pub const RESERVED_ENV: &[ReservedEnv] = &[
    ReservedEnv {
        name: "SERVICE_NAME",
        reason: "the task definition sets it to the service's `name`",
    },
    ReservedEnv {
        name: "SERVICE_VERSION",
        reason: "the task definition sets it to the service's `version` (change that instead)",
    },
    ReservedEnv {
        name: "SERVICE_PORT",
        reason: "the task definition sets it to `port.containerPort` (and the local runtime to a free port)",
    },
    ReservedEnv {
        name: "SERVICE_NAMESPACE",
        reason: "the task definition sets it to `cluster.discovery.namespace`",
    },
    ReservedEnv {
        name: PROPAGATE_HEADERS,
        reason: "the task definition sets it from the test traffic rules of the services in `backends` (change their `serviceConnect.testTraffic` instead)",
    },
    ReservedEnv {
        name: "SERVICE_HOST",
        reason: "the local runtime sets it to 127.0.0.1 so that a task listens on loopback only",
    },
    ReservedEnv {
        name: "HTTP_PROXY",
        reason: "the local runtime sets it to its egress proxy, where the Service Connect names resolve",
    },
    ReservedEnv {
        name: "http_proxy",
        reason: "the local runtime sets it to its egress proxy, where the Service Connect names resolve",
    },
    ReservedEnv {
        name: "NO_PROXY",
        reason: "the local runtime empties it so that no call bypasses its egress proxy",
    },
    ReservedEnv {
        name: "no_proxy",
        reason: "the local runtime empties it so that no call bypasses its egress proxy",
    },
    ReservedEnv {
        name: "MESHTEST_LOCAL_*",
        reason: "the local runtime marks its own processes with these (`MESHTEST_LOCAL_STACK_DIR`, `MESHTEST_LOCAL_TOKEN`) to find and stop them",
    },
];

/// Why `key` is reserved, when it is.
pub fn reserved_env(key: &str) -> Option<&'static ReservedEnv> {
    RESERVED_ENV.iter().find(|r| r.matches(key))
}

/// One environment variable a user gives (in the model or with `--env`): a valid name that is
/// not reserved, and a value without control characters.
pub fn env_var(key: &str, value: &str) -> Result<(), String> {
    rules::env_var_name(key)?;
    if let Some(reserved) = reserved_env(key) {
        return Err(format!(
            "{} is reserved: {}",
            rules::quote(key),
            reserved.reason
        ));
    }
    rules::no_control(value, &format!("the value of {}", rules::quote(key)))
}

/// demo-app's variable naming the request headers it copies onto its downstream calls.
pub const PROPAGATE_HEADERS: &str = "PROPAGATE_HEADERS";

/// The headers a caller must pass on so that test traffic reaches a new revision through it:
/// ECS's default test traffic header, then the header of each rule of the Service Connect
/// services it calls (`backends`, in order), each once, lowercase (demo-app's form). Empty when
/// it calls no Service Connect service: demo-app's default then applies.
pub fn propagate_headers(stack: &Stack, svc: &ServiceSpec) -> Vec<String> {
    let rules: Vec<String> = svc
        .backends
        .iter()
        .filter_map(|b| stack.service(b)?.service_connect.as_ref())
        .map(|sc| {
            sc.test_traffic
                .as_ref()
                .map_or(DEFAULT_TEST_TRAFFIC_HEADER, |t| t.header.as_str())
                .to_ascii_lowercase()
        })
        .collect();
    if rules.is_empty() {
        return Vec::new();
    }
    let mut headers = vec![DEFAULT_TEST_TRAFFIC_HEADER.to_owned()];
    for header in rules {
        if !headers.contains(&header) {
            headers.push(header);
        }
    }
    headers
}

/// Environment variables of a service's app container, as the model defines them: the
/// `SERVICE_*` contract, `PROPAGATE_HEADERS` (the callees' test traffic headers,
/// [`propagate_headers`]) and the user's extra variables, all sorted by name.
pub fn app_environment(stack: &Stack, svc: &ServiceSpec) -> BTreeMap<String, String> {
    let mut env = svc.environment.clone();
    let headers = propagate_headers(stack, svc);
    if !headers.is_empty() {
        env.insert(PROPAGATE_HEADERS.into(), headers.join(","));
    }
    env.insert("SERVICE_NAME".into(), svc.name.clone());
    env.insert("SERVICE_VERSION".into(), svc.version.clone());
    env.insert("SERVICE_PORT".into(), svc.port.container_port.to_string());
    env.insert(
        "SERVICE_NAMESPACE".into(),
        stack.spec().cluster.discovery.namespace().to_owned(),
    );
    env
}
