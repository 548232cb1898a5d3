//! The deploy engine: resolves an app or a JSON stack description into a validated stack and
//! its template ([`target`]), and, with the `aws` feature, diffs, deploys, destroys and watches
//! it on AWS CloudFormation ([`aws`]).
//!
//! Without `aws` the crate compiles no AWS SDK: xtask uses it that way for the local path and
//! runs the AWS commands through this crate's `meshtest-aws` binary.

#[cfg(feature = "aws")]
pub mod aws;
pub mod cli;
pub mod error;
pub mod local;
pub mod outcome;
pub mod report;
pub mod request;
pub mod rollout_view;
pub mod settings;
pub mod target;

pub use error::{Error, Result};
pub use outcome::{Deployed, Destroyed, Diffed, Failure, Rollouts, StackStatus, Watched};
pub use report::{Confirm, Recorder, Reporter, Terminal};
pub use request::{Connection, DeployRequest, DestroyRequest, DiffRequest, Parameters};
pub use target::{Choice, Resolved, resolve};
