//! The local runtime: a stack's whole topology on this machine, from the same model that renders
//! CloudFormation (SPEC §7).
//!
//! One supervisor process per stack (`meshtest-local`, started by `cargo xtask deploy --local`)
//! runs one `demo-app` process per task, an egress proxy that resolves the mesh's names for them,
//! the App Mesh virtual gateway's listener and one listener per service, all on 127.0.0.1. The
//! pieces:
//!
//! - [`plan`]: the pure routing model ([`plan::LocalPlan::from_stack`], [`plan::route`]);
//! - [`changes`]: the pure comparison of two plans (`diff --local`, what an apply does);
//! - [`control`]: the supervisor's control API types and a blocking client;
//! - [`launcher`]: the supervisor's life cycle from the client side (lock, find, start, stop);
//! - [`state_dir`]: the stack's state folder (`runtime.json`, `state.json`, logs);
//! - [`rollout`]: the pure ECS deployment engine (stages, steps, bakes, hooks, rollback);
//! - [`process`]: process identity (pid plus start time) and safe stopping.
//!
//! Two parts share this library: the pure core ([`plan`], [`changes`], [`rollout`]: no I/O,
//! `tests/tests/it/dependency_rules.rs` checks their source) and the client ([`control`],
//! [`launcher`], [`state_dir`], [`process`]). The server, `meshtest-local`, is its own crate
//! (`local-supervisor`), so nothing that drives a supervisor compiles one.

pub mod changes;
pub mod control;
pub mod launcher;
pub mod plan;
pub mod process;
pub mod rollout;
pub mod state_dir;

/// The supervisor binary's name.
pub const SUPERVISOR_BIN: &str = "meshtest-local";

/// The package that builds [`SUPERVISOR_BIN`] (`cargo build -p local-supervisor`).
pub const SUPERVISOR_PACKAGE: &str = "local-supervisor";
