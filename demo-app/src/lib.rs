//! The demo service (actix-web): the seed's Express app with its SSRF hole and error leaks closed.
//!
//! `GET /downstream/{target}` fetches `http://{target}/` only when [`AllowList`] permits the
//! target; every other path answers `{"message":"ok","service":S,"version":V}`. Start it
//! in-process with [`spawn`] or [`App`], or run the `demo-app` binary.

mod allow;
mod config;
mod downstream;
mod fault;
mod guard;
mod health;
mod logging;
mod server;

pub use allow::{AllowList, AllowListError, Target, TargetError, TargetHost, is_special_name};
pub use config::{
    Config, ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT,
    DEFAULT_PROPAGATE_HEADERS, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_TIMEOUT, ProxySetting,
};
pub use downstream::ClientError;
pub use fault::{Faults, HEALTH_HEADER};
pub use guard::{
    Lookup, PLATFORM_PROXY_RANGE, Resolver, SystemResolver, destination_allowed,
    in_platform_proxy_range, is_refused_address,
};
pub use health::{HealthError, check as health_check, probe_addr};
pub use logging::{LogGuard, LoggingError, init_logging};
pub use server::{App, RunningApp, ServeError, StartError, StopHandle, spawn};
