//! The one validating constructor: `StackSpec` in, `Stack` out, or every problem with its field
//! path.
//!
//! Split by concern as `cfn-render` splits rendering: `stack` holds `Stack::new` and the walk
//! that calls each concern in field order (the order of the spec's fields and of JSON, which
//! is the order problems are reported in); `network`, `services`, `service_connect`,
//! `app_mesh`, `alb`, `deployment`, `alarms`, `hooks`, `local`, `blue_green` and `logs` each check one
//! part of the description; `validator` is the collector they all write to, and `errors` what
//! it reports.

mod alarms;
mod alb;
mod app_mesh;
mod blue_green;
mod deployment;
mod errors;
mod hooks;
mod local;
mod logs;
mod network;
mod service_connect;
mod services;
mod stack;
mod validator;

pub use errors::{LoadError, ValidationError, ValidationErrors};
pub use local::LOCAL_RESERVED_ENV;
pub use network::VpcLayout;
pub use services::{
    PROPAGATE_HEADERS, RESERVED_ENV, ReservedEnv, app_environment, env_var, propagate_headers,
    reserved_env,
};
pub use stack::Stack;
