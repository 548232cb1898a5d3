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
        if svc.version.is_empty() || svc.version.len() > 128 {
            self.err(format!("{p}.version"), "version must be 1-128 characters");
        }
        self.check(
            format!("{p}.port.containerPort"),
            rules::port(svc.port.container_port),
        );
        self.check(
            format!("{p}.port.name"),
            rules::service_connect_name(&svc.port.name),
        );
        for key in svc.environment.keys() {
            let path = format!("{p}.environment.{key}");
            self.check(path.clone(), rules::env_var_name(key));
            if RESERVED_ENV.contains(&key.as_str()) {
                self.err(
                    path,
                    format!(
                        "{} is set from the model and cannot be overridden",
                        rules::quote(key)
                    ),
                );
            }
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

/// Environment variables the renderer sets from the model (the demo-app contract).
pub const RESERVED_ENV: &[&str] = &[
    "SERVICE_NAME",
    "SERVICE_VERSION",
    "SERVICE_PORT",
    "SERVICE_NAMESPACE",
];

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
/// `SERVICE_*` contract first, then the user's extra variables, all sorted by name.
/// `PROPAGATE_HEADERS` is the callee's test traffic headers ([`propagate_headers`]) unless the
/// user sets it.
pub fn app_environment(stack: &Stack, svc: &ServiceSpec) -> BTreeMap<String, String> {
    let mut env = svc.environment.clone();
    let headers = propagate_headers(stack, svc);
    if !headers.is_empty() {
        env.entry(PROPAGATE_HEADERS.into())
            .or_insert_with(|| headers.join(","));
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
