//! The command line over the deploy engine, shared by `cargo xtask` and `meshtest-aws`: the clap
//! arguments ([`args`]), the command front ends that turn them into the engine's requests and its
//! outcomes into output and an exit code ([`local`], and with the `aws` feature [`aws`]), the
//! hints that name commands and flags, the [`Terminal`] that draws live bars, workspace
//! discovery and `cargo build` of the binaries ([`workspace`], [`aws_bin`]).
//!
//! The engine (`deploy`) has none of this, so a program embedding it gets no clap, no
//! indicatif and no text about `cargo xtask`. Without `aws` this crate compiles no AWS SDK: xtask
//! uses it that way and runs the AWS commands through the `meshtest-aws` binary, which needs it.

pub mod args;
#[cfg(feature = "aws")]
pub mod aws;
pub mod aws_bin;
pub mod dashboard;
pub mod event_output;
pub mod local;
pub mod notify;
pub mod terminal;
pub mod watched;
pub mod wording;
pub mod workspace;

pub use args::{Outcome, exit_code};
pub use terminal::Terminal;
