//! Service configuration: the seed's environment variables plus the downstream safety knobs.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use crate::allow::{AllowList, AllowListError};
use crate::fault::Faults;
use crate::guard::{Resolver, SystemResolver};

/// Port used when `SERVICE_PORT` is unset (the seed's default; the stacks set 80).
pub const DEFAULT_PORT: u16 = 3000;
/// Default for `DOWNSTREAM_CONNECT_TIMEOUT_MS`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Default for `DOWNSTREAM_TIMEOUT_MS`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5_000);
/// Default for `DOWNSTREAM_MAX_BODY_BYTES` (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default for `PROPAGATE_HEADERS`: the header ECS Service Connect routes test traffic by when a
/// client alias has no test traffic rule of its own.
pub const DEFAULT_PROPAGATE_HEADERS: &[&str] = &["x-amzn-ecs-blue-green-test"];
/// Headers that describe one connection or one message's framing, never the request itself;
/// forwarding them would corrupt the downstream request.
const UNFORWARDABLE_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];
/// Default for `SHUTDOWN_TIMEOUT_SECS`: below ECS's default 30 s stop timeout, so draining ends
/// before the agent sends SIGKILL.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(25);

/// Which HTTP proxy the downstream client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxySetting {
    /// `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` from the environment (the default; the local
    /// runtime points `HTTP_PROXY` at a proxy that resolves mesh names).
    Environment,
    /// No proxy, whatever the environment says.
    Disabled,
    /// This proxy for every `http://` downstream, ignoring the environment.
    Url(String),
}

/// Everything the service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SERVICE_NAME`, default `unknown`.
    pub service_name: String,
    /// `SERVICE_VERSION`, default `unknown`.
    pub service_version: String,
    /// `SERVICE_HOST`, default `0.0.0.0`.
    pub host: IpAddr,
    /// `SERVICE_PORT`, default 3000; 0 lets the OS choose.
    pub port: u16,
    /// `DOWNSTREAM_ALLOW`, or the defaults for `SERVICE_NAMESPACE` when unset.
    pub allow: AllowList,
    /// `DOWNSTREAM_CONNECT_TIMEOUT_MS`.
    pub connect_timeout: Duration,
    /// `DOWNSTREAM_TIMEOUT_MS`: the whole downstream exchange, body included.
    pub timeout: Duration,
    /// `DOWNSTREAM_MAX_BODY_BYTES`: larger downstream bodies are answered with 502.
    pub max_body_bytes: usize,
    /// `SERVICE_WORKERS`, default the number of CPUs.
    pub workers: usize,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// Proxy for downstream requests.
    pub proxy: ProxySetting,
    /// `PROPAGATE_HEADERS`: request headers copied onto the downstream call (lowercase names),
    /// so a test request keeps its routing header across hops.
    pub propagate_headers: Vec<String>,
    /// `FAULT_RATE` and `FAULT_SEED`: a test aid answering a share of requests with 500; None
    /// (the default) answers every request normally.
    pub faults: Option<Faults>,
    /// Resolves downstream names for direct connections (not set from the environment: tests
    /// inject their own, so no test depends on the machine's `/etc/hosts`).
    pub resolver: Arc<dyn Resolver>,
}

/// A configuration variable that is set but unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("DOWNSTREAM_ALLOW is invalid")]
    Allow(#[from] AllowListError),
}

impl Config {
    /// Defaults for a named service: the seed's defaults, listening on 0.0.0.0:3000.
    pub fn new(service_name: impl Into<String>, service_version: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            service_version: service_version.into(),
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: DEFAULT_PORT,
            allow: AllowList::service_default(None),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            workers: default_workers(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            proxy: ProxySetting::Environment,
            propagate_headers: DEFAULT_PROPAGATE_HEADERS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
            faults: None,
            resolver: Arc::new(SystemResolver),
        }
    }

    /// Read the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Read variables through `lookup` (tests pass a map instead of mutating the environment).
    /// Empty values count as unset, as `process.env.X || default` did in the seed.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
        let mut config = Self::new(
            get("SERVICE_NAME").unwrap_or_else(|| "unknown".to_owned()),
            get("SERVICE_VERSION").unwrap_or_else(|| "unknown".to_owned()),
        );
        if let Some(v) = get("SERVICE_HOST") {
            config.host = parse(&v, "SERVICE_HOST", "expected an IP address")?;
        }
        if let Some(v) = get("SERVICE_PORT") {
            config.port = parse(&v, "SERVICE_PORT", "expected a port number 0-65535")?;
        }
        config.allow = match get("DOWNSTREAM_ALLOW") {
            Some(list) => AllowList::parse(&list)?,
            None => AllowList::service_default(get("SERVICE_NAMESPACE").as_deref()),
        };
        if let Some(v) = get("DOWNSTREAM_CONNECT_TIMEOUT_MS") {
            config.connect_timeout = millis(&v, "DOWNSTREAM_CONNECT_TIMEOUT_MS")?;
        }
        if let Some(v) = get("DOWNSTREAM_TIMEOUT_MS") {
            config.timeout = millis(&v, "DOWNSTREAM_TIMEOUT_MS")?;
        }
        if let Some(v) = get("DOWNSTREAM_MAX_BODY_BYTES") {
            config.max_body_bytes =
                parse(&v, "DOWNSTREAM_MAX_BODY_BYTES", "expected a byte count")?;
        }
        if let Some(v) = get("SERVICE_WORKERS") {
            let workers: usize = parse(&v, "SERVICE_WORKERS", "expected a positive integer")?;
            if workers == 0 {
                return Err(invalid(
                    "SERVICE_WORKERS",
                    &v,
                    "expected a positive integer",
                ));
            }
            config.workers = workers;
        }
        if let Some(v) = get("SHUTDOWN_TIMEOUT_SECS") {
            config.shutdown_timeout = Duration::from_secs(parse(
                &v,
                "SHUTDOWN_TIMEOUT_SECS",
                "expected whole seconds",
            )?);
        }
        if let Some(v) = get("PROPAGATE_HEADERS") {
            config.propagate_headers = header_list(&v, "PROPAGATE_HEADERS")?;
        }
        config.faults = faults(get("FAULT_RATE"), get("FAULT_SEED"))?;
        Ok(config)
    }

    /// The seed's start-up line for the port actually bound.
    pub fn startup_line(&self, port: u16) -> String {
        format!(
            "Service '{}' (version {}) running on port: {port}",
            self.service_name, self.service_version
        )
    }
}

/// One worker per CPU: actix workers are single-threaded event loops.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn invalid(var: &'static str, value: &str, reason: &'static str) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.to_owned(),
        reason,
    }
}

fn parse<T: std::str::FromStr>(
    value: &str,
    var: &'static str,
    reason: &'static str,
) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(var, value, reason))
}

/// `FAULT_RATE` (0 or unset: off) and `FAULT_SEED`.
fn faults(rate: Option<String>, seed: Option<String>) -> Result<Option<Faults>, ConfigError> {
    let Some(raw) = rate else {
        return Ok(None);
    };
    let reason = "expected a share of requests to answer with 500, from 0.0 (off) to 1.0";
    let rate: f64 = parse(&raw, "FAULT_RATE", reason)?;
    if rate == 0.0 {
        return Ok(None);
    }
    let seed = match seed {
        Some(v) => Some(parse(&v, "FAULT_SEED", "expected a whole number from 0")?),
        None => None,
    };
    Faults::new(rate, seed)
        .map(Some)
        .ok_or_else(|| invalid("FAULT_RATE", &raw, reason))
}

/// A comma-separated list of header names, lowercased; hop-by-hop and framing headers refused.
fn header_list(value: &str, var: &'static str) -> Result<Vec<String>, ConfigError> {
    let reason = "expected comma-separated header names, none of them hop-by-hop or framing \
                  headers such as host or connection";
    let mut names = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let name = name.to_ascii_lowercase();
        let valid = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok();
        if !valid || UNFORWARDABLE_HEADERS.contains(&name.as_str()) {
            return Err(invalid(var, value, reason));
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

fn millis(value: &str, var: &'static str) -> Result<Duration, ConfigError> {
    let ms: u64 = parse(value, var, "expected milliseconds (a positive integer)")?;
    if ms == 0 {
        return Err(invalid(
            var,
            value,
            "expected milliseconds (a positive integer)",
        ));
    }
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::allow::Target;

    fn check(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn seed_defaults() {
        let c = check(&[]).unwrap();
        assert_eq!(c.service_name, "unknown");
        assert_eq!(c.service_version, "unknown");
        assert_eq!(c.port, 3000);
        assert_eq!(c.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(
            c.startup_line(c.port),
            "Service 'unknown' (version unknown) running on port: 3000"
        );
        assert!(c.workers >= 1);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = check(&[("SERVICE_NAME", ""), ("SERVICE_PORT", " ")]).unwrap();
        assert_eq!(c.service_name, "unknown");
        assert_eq!(c.port, 3000);
    }

    #[test]
    fn reads_every_variable() {
        let c = check(&[
            ("SERVICE_NAME", "blue"),
            ("SERVICE_VERSION", "2"),
            ("SERVICE_HOST", "127.0.0.1"),
            ("SERVICE_PORT", "80"),
            ("DOWNSTREAM_CONNECT_TIMEOUT_MS", "150"),
            ("DOWNSTREAM_TIMEOUT_MS", "900"),
            ("DOWNSTREAM_MAX_BODY_BYTES", "4096"),
            ("SERVICE_WORKERS", "3"),
            ("SHUTDOWN_TIMEOUT_SECS", "7"),
        ])
        .unwrap();
        assert_eq!(
            c.startup_line(80),
            "Service 'blue' (version 2) running on port: 80"
        );
        assert_eq!(c.host, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(c.connect_timeout, Duration::from_millis(150));
        assert_eq!(c.timeout, Duration::from_millis(900));
        assert_eq!(c.max_body_bytes, 4096);
        assert_eq!(c.workers, 3);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(7));
    }

    #[test]
    fn namespace_feeds_the_default_allow_list() {
        let target = Target::parse("blue.serviceconnect").unwrap();
        assert!(!check(&[]).unwrap().allow.permits(&target));
        assert!(
            check(&[("SERVICE_NAMESPACE", "serviceconnect")])
                .unwrap()
                .allow
                .permits(&target)
        );
        // An explicit list replaces the defaults, namespace included.
        let c = check(&[
            ("SERVICE_NAMESPACE", "serviceconnect"),
            ("DOWNSTREAM_ALLOW", "green"),
        ])
        .unwrap();
        assert!(!c.allow.permits(&target));
    }

    #[test]
    fn propagated_headers() {
        let default = check(&[]).unwrap().propagate_headers;
        assert_eq!(default, ["x-amzn-ecs-blue-green-test"]);
        let c = check(&[(
            "PROPAGATE_HEADERS",
            " X-Amzn-ECS-Blue-Green-Test, x-test-lane,,x-test-lane ",
        )])
        .unwrap();
        assert_eq!(
            c.propagate_headers,
            ["x-amzn-ecs-blue-green-test", "x-test-lane"]
        );
        for bad in [
            "host",
            "x-a, Connection",
            "bad header",
            "x-a:b",
            "transfer-encoding",
        ] {
            let err = check(&[("PROPAGATE_HEADERS", bad)]).unwrap_err();
            assert!(err.to_string().starts_with("PROPAGATE_HEADERS="), "{err}");
        }
    }

    #[test]
    fn faults_are_off_unless_a_rate_is_set() {
        assert_eq!(check(&[]).unwrap().faults, None);
        assert_eq!(check(&[("FAULT_RATE", "0")]).unwrap().faults, None);
        assert_eq!(check(&[("FAULT_SEED", "3")]).unwrap().faults, None);
        let f = check(&[("FAULT_RATE", " 0.3 "), ("FAULT_SEED", "42")])
            .unwrap()
            .faults
            .unwrap();
        assert_eq!((f.rate(), f.seed()), (0.3, Some(42)));
        assert_eq!(
            check(&[("FAULT_RATE", "1")])
                .unwrap()
                .faults
                .unwrap()
                .seed(),
            None
        );
        for (var, value) in [
            ("FAULT_RATE", "30%"),
            ("FAULT_RATE", "1.5"),
            ("FAULT_RATE", "-0.1"),
            ("FAULT_RATE", "NaN"),
            ("FAULT_RATE", "inf"),
        ] {
            let err = check(&[(var, value)]).unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "FAULT_RATE={value:?} is invalid: expected a share of requests to answer \
                     with 500, from 0.0 (off) to 1.0"
                )
            );
        }
        let err = check(&[("FAULT_RATE", "0.5"), ("FAULT_SEED", "-1")]).unwrap_err();
        assert!(err.to_string().starts_with("FAULT_SEED=\"-1\""), "{err}");
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (var, value) in [
            ("SERVICE_PORT", "http"),
            ("SERVICE_PORT", "70000"),
            ("SERVICE_HOST", "example.com"),
            ("DOWNSTREAM_TIMEOUT_MS", "0"),
            ("DOWNSTREAM_CONNECT_TIMEOUT_MS", "1.5"),
            ("SERVICE_WORKERS", "0"),
        ] {
            let err = check(&[(var, value)]).unwrap_err();
            assert!(err.to_string().starts_with(var), "{err}");
        }
        assert!(matches!(
            check(&[("DOWNSTREAM_ALLOW", "a*b")]),
            Err(ConfigError::Allow(_))
        ));
    }
}
