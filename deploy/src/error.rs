//! What can go wrong in the engine, by what a caller would do about it: fix the target or the
//! request, confirm, look at AWS, or fix the stored state

use std::path::PathBuf;

/// An engine error. Every message names what was wrong and where, and says what to do next when
/// there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target or a choice about it is wrong (unknown app, a flag that does not apply, a stack
    /// name CloudFormation would refuse).
    #[error("{0}")]
    Target(String),
    #[error("cannot read stack description {path}")]
    ReadDescription {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid stack description")]
    Description {
        path: String,
        #[source]
        source: model::JsonError,
    },
    /// The model does not validate; `what` names the app or stack.
    #[error("{what} does not validate")]
    Invalid {
        what: String,
        #[source]
        source: model::ValidationErrors,
    },
    #[error("cannot render app `{label}`")]
    Render {
        label: String,
        #[source]
        source: cfn_render::RenderError,
    },
    #[error("cannot read state file {}", path.display())]
    ReadState {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A blue-green state that is not valid, or a version it cannot take; `what` says which.
    #[error("{what}")]
    State {
        what: String,
        #[source]
        source: state_store::StateError,
    },
    /// The stored blue-green state could not be read, is not state JSON, or moved.
    #[cfg(feature = "aws")]
    #[error(transparent)]
    StoredState(#[from] state_store::ssm::SsmError),
    /// The request was refused before anything changed: a parameter, the stack's status, or
    /// nothing to act on.
    #[error("{0}")]
    Refused(String),
    /// Nobody confirmed a change, or the answer was no; nothing was changed.
    #[error("{0}")]
    Cancelled(String),
    /// No region or credentials: nothing was asked of AWS.
    #[error("{0}")]
    Connect(String),
    /// An AWS call failed or AWS refused a change; the message names the call and the stack.
    #[error("{0}")]
    Aws(String),
    /// Ctrl-C while waiting; the operation goes on without this command.
    #[error("{0}")]
    Stopped(String),
    /// A setting from the environment is malformed.
    #[error("{0}")]
    Setting(String),
    /// Reading an answer from, or writing a prompt to, the terminal.
    #[error("cannot {what}")]
    Terminal {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A request the engine builds lacks a required field: a bug in the engine.
    #[cfg(feature = "aws")]
    #[error("cannot build an AWS request: {0}")]
    Request(#[from] aws_sdk_cloudformation::error::BuildError),
    /// A JSON document the engine wrote or AWS returned did not read back.
    #[error("{what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
