//! The deploy engine: resolves an app or a JSON stack description into a validated stack and
//! its template ([`target`]), then diffs, deploys, destroys and watches it on the local runtime
//! ([`local`]) and, with the `aws` feature, on AWS CloudFormation and ECS ([`aws`]).
//!
//! Every flow takes a backend value, a typed request ([`request`], one per verb for both
//! backends) and a [`Reporter`] for what it says and asks, and returns a typed outcome
//! ([`outcome`], one per verb for both backends) or an [`Error`]; [`Backend`] is that shape as
//! a trait, for a program written once for AWS and the local runtime. The
//! crate has no command line (no clap, no terminal drawing, no `cargo build`): meshtest-cli is
//! the command line's use of it. Without `aws` the crate compiles no AWS SDK: xtask uses it that
//! way and runs the AWS commands through meshtest-cli's `meshtest-aws` binary.

#[cfg(feature = "aws")]
pub mod aws;
pub mod backend;
pub mod detection;
pub mod error;
pub mod events;
pub mod input;
pub mod local;
pub mod outcome;
pub mod report;
pub mod request;
pub mod rollout_view;
pub mod settings;
pub mod stack_view;
pub mod target;

pub use backend::Backend;
pub use error::{Error, Result};
pub use events::{Event, EventKind};
pub use outcome::{
    Changes, Deployed, Destroyed, Diffed, Failure, Rollouts, StackStatus, StatusReport, Watched,
};
pub use report::{Confirm, Progress, Recorder, Reporter, Terminal};
pub use request::{
    Connection, DeployRequest, DestroyRequest, DiffRequest, Parameters, RolloutRequest,
    StatusRequest,
};
pub use target::{Choice, Resolved, Subject, resolve};
