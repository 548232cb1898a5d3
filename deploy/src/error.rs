//! What can go wrong in the engine, by what a caller would do about it: fix the target or the
//! request, confirm, look at AWS, or fix the stored state

use std::path::PathBuf;

use crate::input::{Input, Say, library_names};
use local_runtime::launcher::Takeover;

/// An engine error. Every message names what was wrong and where, and says what to do next when
/// there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target or a choice about it is wrong (unknown app, a flag that does not apply, a stack
    /// name CloudFormation would refuse).
    #[error(transparent)]
    Target(TargetError),
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
    /// The model does not validate; `what` names the app or stack, `with` the input that
    /// changed it.
    #[error("{}", invalid(.what, .with, &library_names))]
    Invalid {
        what: String,
        with: Option<Input>,
        #[source]
        source: model::ValidationErrors,
    },
    /// `app` names the app or the description file the stack came from.
    #[error("cannot render app `{app}`")]
    Render {
        app: String,
        #[source]
        source: cfn_render::RenderError,
    },
    #[error("cannot read state file {}", path.display())]
    ReadState {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A blue-green state that is not valid; `what` says which.
    #[error("{what}")]
    State {
        what: String,
        #[source]
        source: state_store::StateError,
    },
    /// The version chosen ([`Input::Version`]) is one the blue-green state cannot take.
    #[error("{}", version_state(&library_names))]
    VersionState {
        #[source]
        source: state_store::StateError,
    },
    /// The stored blue-green state could not be read, is not state JSON, or moved.
    #[cfg(feature = "aws")]
    #[error(transparent)]
    StoredState(#[from] state_store::ssm::SsmError),
    /// The request was refused before anything changed: a parameter, the stack's status, or
    /// nothing to act on.
    #[error(transparent)]
    Refused(Refusal),
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
    MissingBinary { binary: LocalBinary, path: String },
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

/// A program the local runtime starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalBinary {
    /// `meshtest-local`, of the local-supervisor package.
    Supervisor,
    /// What every task runs.
    DemoApp,
}

impl LocalBinary {
    /// The cargo package that builds it.
    pub fn package(self) -> &'static str {
        match self {
            LocalBinary::Supervisor => local_runtime::SUPERVISOR_PACKAGE,
            LocalBinary::DemoApp => "demo-app",
        }
    }
}

impl std::fmt::Display for LocalBinary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LocalBinary::Supervisor => "supervisor",
            LocalBinary::DemoApp => "demo-app",
        })
    }
}

/// What is wrong with a target or a choice about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// `app` is neither a known app (`known`) nor a `.json` description.
    UnknownApp {
        app: String,
        known: Vec<&'static str>,
    },
    /// The stack name taken `from` an input, an app or a JSON field breaks CloudFormation's rule.
    StackName { from: NameFrom, problem: String },
    /// A strategy was chosen for an app that has no traffic-shifting service to apply it to.
    StrategyNotApplicable,
    /// A rollout command on AWS was given only the stack's name: which services shift traffic
    /// is in its description.
    NoDescription { stack: String },
}

/// Where a stack's name came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameFrom {
    /// Given apart from the app ([`Input::StackName`]).
    Given,
    /// The name of app `app`.
    App { app: String },
    /// The `name` field of the JSON description `file`.
    Field { file: String },
    /// The stack a program built ([`crate::target::Resolved::from_stack`]).
    Built,
}

impl TargetError {
    /// The message, naming inputs as `say` does.
    pub fn said(&self, say: Say<'_>) -> String {
        match self {
            TargetError::UnknownApp { app, known } => format!(
                "unknown app `{app}`: known apps are {} (or pass a .json stack description)",
                known.join(", ")
            ),
            TargetError::StackName { from, problem } => {
                let from = match from {
                    NameFrom::Given => say(Input::StackName),
                    NameFrom::App { app } => format!("app `{app}`"),
                    NameFrom::Field { file } => format!("{file}: field `name`"),
                    NameFrom::Built => "stack name".to_owned(),
                };
                format!("{from}: {problem}")
            }
            TargetError::StrategyNotApplicable => format!(
                "{} only applies to the rollout and gateway apps",
                say(Input::Strategy)
            ),
            TargetError::NoDescription { stack } => format!(
                "stack {stack}: its rollouts need its description (an app name or a JSON file)"
            ),
        }
    }
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.said(&library_names))
    }
}

impl std::error::Error for TargetError {}

/// A model that does not validate: `what`, changed `with` an input.
fn invalid(what: &str, with: &Option<Input>, say: Say<'_>) -> String {
    match *with {
        Some(input) => format!("{what} with {} does not validate", say(input)),
        None => format!("{what} does not validate"),
    }
}

/// A version the blue-green state cannot take.
fn version_state(say: Say<'_>) -> String {
    format!(
        "cannot apply {} to the blue-green state",
        say(Input::Version)
    )
}

/// Why a request was refused before anything changed. A command a message names is worded by
/// the flow's reporter ([`crate::Reporter::command`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// An `AllowedCidr` of 0.0.0.0/0 needs a confirmation; `opens` lists the ports it opens.
    WorldOpenCidr { cidr: String, opens: String },
    /// The image parameter is blank.
    EmptyImage,
    /// A stack that must be deleted before a deploy is in `status` instead.
    NotDeleted {
        stack: String,
        status: String,
        destroy: String,
    },
    /// A stack in UPDATE_ROLLBACK_FAILED needs its rollback continued by hand.
    RollbackFailed { stack: String },
    /// A template parameter with no default that the engine cannot fill.
    ParameterWithoutDefault { stack: String, parameter: String },
    /// A first deploy needs `parameter`, given by `input`.
    ParameterNeeded {
        stack: String,
        parameter: String,
        input: Input,
    },
    /// The stack is busy in `status`.
    StackBusy {
        stack: String,
        status: String,
        status_command: String,
    },
    /// `app` has no traffic-shifting service to `doing` (roll back, continue, watch).
    NoRolloutService { app: String, doing: String },
    /// No deployment of `app` is in progress; `elsewhere` says where each one stands.
    NoneInProgress {
        app: String,
        doing: String,
        elsewhere: Vec<String>,
    },
    /// No deployment of `app` waits at a pause hook.
    NonePaused { app: String },
    /// The local supervisor of `stack` (pid `pid`) is gone; `destroy` cleans up, and when its
    /// data plane still serves (`takeover`), `deploy` takes it over.
    SupervisorGone {
        stack: String,
        pid: u32,
        /// Boxed: the interrupted rollout is large, and every `Result` carries this enum.
        takeover: Option<Box<Takeover>>,
        deploy: String,
        destroy: String,
    },
    /// Nothing runs `stack` locally; `deploy` starts it.
    NotRunning { stack: String, deploy: String },
    /// The stack was destroyed while a command followed its rollout: its state folder is gone.
    DestroyedWhileFollowed { stack: String, dir: String },
    /// The supervisor died while a command followed its rollout.
    SupervisorDied {
        stack: String,
        pid: u32,
        /// Boxed: the interrupted rollout is large, and every `Result` carries this enum.
        takeover: Option<Box<Takeover>>,
        status: String,
        destroy: String,
        deploy: String,
    },
    /// Processes of `stack` run without a runtime record; `destroy` stops them.
    Orphans {
        stack: String,
        pids: String,
        destroy: String,
    },
    /// Environment variables ([`Input::Env`]) were given for a stack with no service that rolls out.
    EnvWithoutRollout { stack: String },
    /// The local runtime runs no rollout to follow.
    NoLocalRollout,
    /// The local `state.json` is not valid (`problem` says how).
    BadStateFile { problem: String },
    /// Building `what` failed with `status`.
    BuildFailed { what: String, status: String },
    /// A dimension an alarm of the deployed template reads from the stack's resources cannot be
    /// worked out from them (`problem` says which and why): the stack has not finished creating
    /// the resource, or failed to.
    AlarmDimension { problem: String, deploy: String },
    /// `stack` is not deployed on AWS: it has no alarms to verify; `deploy` creates it.
    NotDeployed { stack: String, deploy: String },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write(f, &library_names)
    }
}

impl Refusal {
    /// The message, naming inputs as `say` does.
    pub fn said(&self, say: Say<'_>) -> String {
        struct Said<'a>(&'a Refusal, Say<'a>);
        impl std::fmt::Display for Said<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.write(f, self.1)
            }
        }
        Said(self, say).to_string()
    }

    fn write(&self, f: &mut std::fmt::Formatter<'_>, say: Say<'_>) -> std::fmt::Result {
        match self {
            Refusal::WorldOpenCidr { cidr, opens } => write!(
                f,
                "refusing {allow} {cidr} without {yes}: it opens {opens} to the whole internet; pass your own address (e.g. 203.0.113.7/32), or {yes} if you mean it",
                allow = say(Input::AllowedCidr),
                yes = say(Input::Yes),
            ),
            Refusal::EmptyImage => write!(
                f,
                "{} is empty: pass a container image URI such as public.ecr.aws/docker/library/nginx:latest",
                say(Input::Image)
            ),
            Refusal::NotDeleted {
                stack,
                status,
                destroy,
            } => write!(
                f,
                "stack {stack} is {status} instead of deleted: delete it with `{destroy}`, then deploy again"
            ),
            Refusal::RollbackFailed { stack } => write!(
                f,
                "stack {stack} is UPDATE_ROLLBACK_FAILED: fix the resources named in its events, then run \
                 `aws cloudformation continue-update-rollback --stack-name {stack}` before deploying"
            ),
            Refusal::ParameterWithoutDefault { stack, parameter } => write!(
                f,
                "stack {stack} needs a value for parameter {parameter}, which meshtest cannot set: give it a default in the template"
            ),
            Refusal::ParameterNeeded {
                stack,
                parameter,
                input,
            } => write!(
                f,
                "stack {stack} needs a value for parameter {parameter} on its first deploy: pass {} {}",
                say(*input),
                input.placeholder()
            ),
            Refusal::StackBusy {
                stack,
                status,
                status_command,
            } => write!(
                f,
                "stack {stack} is {status}: wait for it to finish (`{status_command}`) or cancel it, then destroy"
            ),
            Refusal::NoRolloutService { app, doing } => write!(
                f,
                "{app} has no service with a blue-green, linear or canary deployment: nothing to {doing}"
            ),
            Refusal::NoneInProgress {
                app,
                doing,
                elsewhere,
            } => write!(
                f,
                "no deployment of {app} is in progress ({}): nothing to {doing}",
                elsewhere.join(", ")
            ),
            Refusal::NonePaused { app } => write!(
                f,
                "no deployment of {app} waits at a pause hook: nothing to continue"
            ),
            Refusal::SupervisorGone {
                stack,
                pid,
                takeover: None,
                destroy,
                ..
            } => write!(
                f,
                "{stack} is not running locally: its supervisor (pid {pid}) is gone; clean up with `{destroy}`"
            ),
            Refusal::SupervisorGone {
                stack,
                pid,
                takeover: Some(takeover),
                deploy,
                destroy,
            } => write!(
                f,
                "{stack}'s local supervisor (pid {pid}) is gone, but {}; the next `{deploy}` takes over the data plane and tasks{}, or `{destroy}` stops everything",
                serving(takeover),
                rolls_back(takeover)
            ),
            Refusal::NotRunning { stack, deploy } => write!(
                f,
                "{stack} is not running locally: start it with `{deploy}`"
            ),
            Refusal::DestroyedWhileFollowed { stack, dir } => write!(
                f,
                "{stack} was destroyed while its rollout was followed: its state folder {dir} is gone"
            ),
            Refusal::SupervisorDied {
                stack,
                pid,
                takeover: Some(takeover),
                destroy,
                deploy,
                ..
            } => write!(
                f,
                "{stack}'s local supervisor (pid {pid}) stopped running while its rollout was followed (it crashed or was killed), but {}; the next `{deploy}` takes over the data plane and tasks{}, or `{destroy}` stops everything",
                serving(takeover),
                rolls_back(takeover)
            ),
            Refusal::SupervisorDied {
                stack,
                pid,
                takeover: None,
                status,
                destroy,
                deploy,
            } => write!(
                f,
                "{stack}'s local supervisor (pid {pid}) stopped running while its rollout was followed (it crashed or was killed): `{status}` now says it is gone; clean up with `{destroy}`, then `{deploy}` starts it again"
            ),
            Refusal::Orphans {
                stack,
                pids,
                destroy,
            } => write!(
                f,
                "{stack} has no runtime record but processes of it still run ({pids}); stop them with `{destroy}`"
            ),
            Refusal::EnvWithoutRollout { stack } => write!(
                f,
                "{} only applies to services that roll out (BLUE_GREEN, LINEAR or CANARY), and {stack} has none",
                say(Input::Env)
            ),
            Refusal::NoLocalRollout => f.write_str("the local runtime runs no rollout"),
            Refusal::BadStateFile { problem } => write!(
                f,
                "{problem}; fix or delete it (a deploy then starts from what runs, or from version 1)"
            ),
            Refusal::BuildFailed { what, status } => {
                write!(f, "cargo build of {what} failed ({status})")
            }
            Refusal::AlarmDimension { problem, deploy } => write!(
                f,
                "{problem}: verify again once the stack's deploy has ended, or deploy again (`{deploy}`)"
            ),
            Refusal::NotDeployed { stack, deploy } => write!(
                f,
                "stack {stack} is not deployed, so it has no alarms to verify: deploy it first (`{deploy}`)"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// What still runs after a supervisor died, for a refusal that says so.
fn serving(takeover: &Takeover) -> String {
    let plane = format!(
        "its data plane (pid {}) still serves its tasks",
        takeover.dataplane.pid
    );
    match &takeover.rollout {
        Some(rollout) => {
            let p = &rollout.progress;
            format!(
                "{plane}, with {}% of {}'s production on {} where its rollout stopped ({})",
                p.production_percent,
                p.service,
                p.target.as_deref().unwrap_or("the new version"),
                p.stage.map_or("before its first stage", |s| s.as_str())
            )
        }
        None => plane,
    }
}

/// What the next deploy does about the interrupted rollout, if there is one.
fn rolls_back(takeover: &Takeover) -> String {
    match &takeover.rollout {
        Some(rollout) => format!(
            " and rolls the rollout of {} back (a restarted supervisor never completes a rollout)",
            rollout.progress.service
        ),
        None => String::new(),
    }
}

/// What was not done for want of a yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// The answer to a deploy's question was no.
    Deploy,
    /// The answer to a destroy's question was no.
    Destroy,
    /// `action` needed a confirmation and nobody could give it.
    Unconfirmed { action: String, nobody: NoAnswer },
}

impl Cancelled {
    /// The message, naming inputs as `say` does.
    pub fn said(&self, say: Say<'_>) -> String {
        match self {
            Cancelled::Deploy => "deploy cancelled: nothing was changed".to_owned(),
            Cancelled::Destroy => "destroy cancelled: nothing was deleted".to_owned(),
            Cancelled::Unconfirmed { action, nobody } => format!(
                "refusing to {action} without confirmation: {}",
                nobody.explain(action, say)
            ),
        }
    }
}

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.said(&library_names))
    }
}

impl std::error::Error for Cancelled {}

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
    fn explain(self, action: &str, say: Say<'_>) -> String {
        match self {
            NoAnswer::NotATerminal => format!(
                "stdin is not a terminal, so nobody can answer; pass {} to {action} anyway",
                say(Input::Yes)
            ),
            NoAnswer::CannotAsk => format!(
                "this reporter cannot ask; confirm up front ({}) to {action}",
                say(Input::Yes)
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub kind: AwsErrorKind,
    /// The AWS API operation (`DescribeStacks`), or what the engine did with its answer.
    pub operation: &'static str,
    /// The message: the call, the stack or resource, AWS's code and message.
    pub message: String,
    /// Which input would get past it, when one would; [`AwsError::said`] adds it to the message
    /// (an endpoint nobody answers on is told by its kind).
    pub remedy: Option<Remedy>,
}

/// An input that gets past a failed AWS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// The template bucket cannot be used: name a bucket of this account in `region`.
    OtherTemplateBucket { region: String },
    /// The template bucket cannot be created: name an existing one.
    ExistingTemplateBucket,
}

impl AwsError {
    /// The message with what gets past it, naming inputs as `say` does.
    pub fn said(&self, say: Say<'_>) -> String {
        let message = &self.message;
        match (&self.remedy, self.kind) {
            (_, AwsErrorKind::Unreachable) => format!("{message}: {}", check_endpoint(say)),
            (Some(Remedy::OtherTemplateBucket { region }), _) => format!(
                "{message}: pass {} {} with a bucket of this account in {region}",
                say(Input::TemplateBucket),
                Input::TemplateBucket.placeholder()
            ),
            (Some(Remedy::ExistingTemplateBucket), _) => format!(
                "{message}; pass {} {} to use an existing bucket",
                say(Input::TemplateBucket),
                Input::TemplateBucket.placeholder()
            ),
            (None, _) => message.clone(),
        }
    }
}

/// What to check when nothing answers at the AWS endpoint.
pub fn check_endpoint(say: Say<'_>) -> String {
    format!(
        "check {}, {} and your network",
        say(Input::EndpointUrl),
        say(Input::Region)
    )
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.said(&library_names))
    }
}

impl std::error::Error for AwsError {}

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
    /// Nothing answered at the endpoint (refused, no route, no name): the endpoint or the
    /// region may be wrong, or the network down.
    Unreachable,
    /// Anything else: a timeout, an answer the engine cannot use.
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
    /// The message (without its causes), naming inputs as `say` does: the command line passes
    /// its flags, `Display` the library's names.
    pub fn said(&self, say: Say<'_>) -> String {
        match self {
            Error::Target(e) => e.said(say),
            Error::Refused(e) => e.said(say),
            Error::Cancelled(e) => e.said(say),
            Error::Aws(e) => e.said(say),
            Error::Invalid { what, with, .. } => invalid(what, with, say),
            Error::VersionState { .. } => version_state(say),
            other => other.to_string(),
        }
    }

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

#[cfg(test)]
mod tests {
    /// The tuple variants of `source` whose one field is a bare `String`: a message a program
    /// cannot match on.
    fn bare_string_variants(source: &str) -> Vec<&str> {
        source
            .lines()
            .filter_map(|line| line.trim().strip_suffix("(String),"))
            .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect()
    }

    #[test]
    fn no_error_variant_is_a_bare_string() {
        assert_eq!(
            bare_string_variants(include_str!("error.rs")),
            Vec::<&str>::new(),
            "give the variant the data a program would match on (an enum or a struct)"
        );
    }

    /// Without a command line, errors name inputs by the library's names, and an endpoint
    /// nobody answers on says what to check.
    #[test]
    fn errors_name_inputs_by_the_librarys_names() {
        use super::*;
        let unreachable = AwsError {
            kind: AwsErrorKind::Unreachable,
            operation: "DescribeStacks",
            message: "cannot describe stack s: cannot reach the AWS endpoint (refused)".into(),
            remedy: Some(Remedy::ExistingTemplateBucket),
        };
        assert_eq!(
            unreachable.to_string(),
            "cannot describe stack s: cannot reach the AWS endpoint (refused): check Connection::endpoint_url, Connection::region and your network"
        );
        let denied = AwsError {
            kind: AwsErrorKind::AccessDenied,
            ..unreachable
        };
        assert_eq!(
            denied.to_string(),
            "cannot describe stack s: cannot reach the AWS endpoint (refused); pass Options::template_bucket NAME to use an existing bucket"
        );
        let open = Refusal::WorldOpenCidr {
            cidr: "0.0.0.0/0".into(),
            opens: "tcp 80".into(),
        };
        assert_eq!(
            open.to_string(),
            "refusing Parameters::allowed_cidr 0.0.0.0/0 without Confirm::Yes: it opens tcp 80 to the whole internet; pass your own address (e.g. 203.0.113.7/32), or Confirm::Yes if you mean it"
        );
        let said = open.said(&|input| format!("<{input:?}>"));
        assert!(
            said.starts_with("refusing <AllowedCidr> 0.0.0.0/0 without <Yes>"),
            "{said}"
        );
    }

    #[test]
    fn a_planted_bare_string_variant_is_found() {
        let planted =
            "pub enum Error {\n    /// why\n    Refused(String),\n    Aws(AwsError),\n}\n";
        assert_eq!(bare_string_variants(planted), ["Refused"]);
    }
}
