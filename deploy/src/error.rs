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
    #[error(transparent)]
    Cancelled(Cancelled),
    /// No region or credentials: nothing was asked of AWS.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// An AWS call failed or AWS refused a change: what kind of failure, which operation, and
    /// a message naming the call and the stack.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// Ctrl-C while waiting; the operation goes on without this command.
    #[error(transparent)]
    Stopped(Stopped),
    /// A setting from the environment is malformed: variable `name` holds `value`, which is
    /// not `expected`.
    #[error("{name}={value:?} is not {expected}")]
    Setting {
        name: String,
        value: String,
        expected: &'static str,
    },
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
    /// The local runtime could not do a step (find, start, reach or stop its supervisor, read
    /// or write its folder); `what` names the step.
    #[error("{what}")]
    Local {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A program the local runtime starts is not where [`crate::local::Settings`] says (`path`
    /// as shown to the user): build it first.
    #[error("missing {binary} binary {path}")]
    MissingBinary {
        binary: crate::local::LocalBinary,
        path: String,
    },
    /// Starting, finding or stopping the local runtime's supervisor.
    #[error(transparent)]
    Launch(#[from] local_runtime::launcher::LaunchError),
    /// The supervisor's control API.
    #[error(transparent)]
    Control(#[from] local_runtime::control::ControlError),
    /// The local runtime's state folder.
    #[error(transparent)]
    StateDir(#[from] local_runtime::state_dir::StateDirError),
    /// A JSON document the engine wrote or AWS returned did not read back.
    #[error("{what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What was not done for want of a yes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Cancelled {
    /// The answer to a deploy's question was no.
    #[error("deploy cancelled: nothing was changed")]
    Deploy,
    /// The answer to a destroy's question was no.
    #[error("destroy cancelled: nothing was deleted")]
    Destroy,
    /// `action` needed a confirmation and nobody could give it.
    #[error("refusing to {action} without confirmation: {}", .nobody.explain(.action))]
    Unconfirmed { action: String, nobody: NoAnswer },
}

/// Why nobody can answer a question (and how to confirm up front instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAnswer {
    /// The terminal's stdin is not a terminal.
    NotATerminal,
    /// The reporter takes no answers (a [`crate::Recorder`] made with `new`).
    CannotAsk,
}

impl NoAnswer {
    /// Why, and how to confirm `action` up front.
    fn explain(self, action: &str) -> String {
        match self {
            NoAnswer::NotATerminal => format!(
                "stdin is not a terminal, so nobody can answer; pass --yes to {action} anyway"
            ),
            NoAnswer::CannotAsk => format!(
                "this reporter cannot ask; confirm up front (Confirm::Yes, --yes) to {action}"
            ),
        }
    }
}

/// Where a wait stopped (Ctrl-C) and what carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    /// Following rollouts; the deployments carry on.
    #[error("stopped watching: the deployment carries on")]
    Watching,
    /// Waiting for stack `stack` to leave a busy `status` before a deploy; nothing was deployed.
    #[error("stopped waiting: stack {stack} is still {status}; nothing was deployed")]
    Waiting { stack: String, status: String },
}

/// Why the engine could not connect to AWS (the command line adds how to fix it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("no AWS region configured")]
    NoRegion,
    /// No credentials; `why` is the first line of the provider's answer.
    #[error("no AWS credentials found ({why})")]
    NoCredentials { why: String },
}

/// A failed AWS call, classified so a program can tell throttling from access denied from a
/// missing resource without reading the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AwsError {
    pub kind: AwsErrorKind,
    /// The AWS API operation (`DescribeStacks`), or what the engine did with its answer.
    pub operation: &'static str,
    /// The whole message: the call, the stack or resource, AWS's code and message.
    pub message: String,
}

/// What kind of failure an AWS call met, from the error code AWS returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// Rate exceeded: retrying later may work.
    Throttled,
    /// The credentials may not do this (or are not valid).
    AccessDenied,
    /// The resource (stack, bucket, service, deployment) does not exist.
    NotFound,
    /// AWS refused the request's content.
    Validation,
    /// The resource is busy or in a state that does not allow this (an update in progress).
    Conflict,
    /// Anything else: a network failure, a timeout, an answer the engine cannot use.
    Other,
}

impl AwsErrorKind {
    /// The kind of an AWS error `code` (`ThrottlingException`, `AccessDenied`, ...) and its
    /// `message`; no code is [`AwsErrorKind::Other`].
    pub fn classify(code: Option<&str>, message: Option<&str>) -> AwsErrorKind {
        let Some(code) = code else {
            return AwsErrorKind::Other;
        };
        let message = message.unwrap_or_default();
        match code {
            "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "SlowDown"
            | "LimitExceededException" => AwsErrorKind::Throttled,
            "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "AuthFailure"
            | "SignatureDoesNotMatch"
            | "InvalidAccessKeyId"
            | "Forbidden" => AwsErrorKind::AccessDenied,
            // CloudFormation says a stack is missing with a validation error.
            "ValidationError" if message.contains("does not exist") => AwsErrorKind::NotFound,
            code if code.contains("NotFound") || code.starts_with("NoSuch") => {
                AwsErrorKind::NotFound
            }
            "ValidationError"
            | "ValidationException"
            | "InvalidParameterException"
            | "InvalidParameterValue"
            | "InvalidParameterCombination"
            | "InvalidInput"
            | "InvalidRequest" => AwsErrorKind::Validation,
            code if code.contains("AlreadyExists")
                || code.contains("InProgress")
                || code.contains("Conflict")
                || code.contains("InUse")
                || code == "InvalidChangeSetStatus"
                || code == "OperationAbortedException" =>
            {
                AwsErrorKind::Conflict
            }
            _ => AwsErrorKind::Other,
        }
    }
}

impl Error {
    /// A failed local-runtime step: `what` says which, `source` why.
    pub fn local(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::Local {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// Names the local-runtime step that failed, keeping the cause as the error's source.
pub trait LocalStep<T> {
    fn step(self, what: &str) -> Result<T>;
    fn with_step(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E> LocalStep<T> for std::result::Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn step(self, what: &str) -> Result<T> {
        self.map_err(|e| Error::local(what, e))
    }

    fn with_step(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::local(what(), e))
    }
}
