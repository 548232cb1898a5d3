//! Typed, validated description of ECS Service Connect and App Mesh stacks.
//!
//! The pipeline is `StackSpec` (raw: built in Rust or loaded from JSON) -> [`Stack::new`]
//! (validates, reporting every problem with its field path) -> `Stack`, which the renderer
//! takes. This crate is pure: no I/O, no async, no AWS.

pub mod alarm;
pub mod alb;
mod cidr;
pub mod deployment;
pub mod downstream;
mod error_chain;
pub mod examples;
mod json;
pub mod migrate;
pub mod rules;
pub mod spec;
mod validate;

pub use alarm::*;
pub use alb::{AlbShift, InfrastructureRole};
pub use cidr::{CidrError, Ipv4Cidr};
pub use deployment::*;
pub use error_chain::error_chain;
pub use json::JsonError;
pub use spec::*;
pub use validate::{
    LOCAL_RESERVED_ENV, LoadError, PROPAGATE_HEADERS, RESERVED_ENV, ReservedEnv, Stack,
    ValidationError, ValidationErrors, VpcLayout, app_environment, env_var, propagate_headers,
    reserved_env,
};
