//! The clap arguments of the commands that talk to AWS or to the local runtime, which
//! `cargo xtask` and `meshtest-aws` share, and how a command's end becomes an exit code

use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use deploy::request::{Until, Wait};
use deploy::target::{Choice, Named, Resolved};
use model::{Ipv4Cidr, StrategyKind};
use serde::{Deserialize, Serialize};

pub use crate::event_output::Output;
use crate::notify::NotifyUrls;

/// How a command ended when it did not fail with an error: `diff --fail` with differences
/// and a deploy that rolled back are failures that have already been explained on screen.
///
/// The one table of exit codes (the README's "Exit codes" repeats it):
///
/// | code | meaning |
/// |------|---------|
/// | 0 | success; for `status --wait-until`, every rollout reached the condition |
/// | 1 | failure: an error, `diff --fail` with differences, a deploy or `status --watch` whose rollout rolled back, stopped or failed, `status --wait-until` whose rollout can no longer reach the condition |
/// | 2 | usage error, from clap (an unknown flag, a `--wait-until` value it does not offer, `--timeout` or `--since` without `--wait-until`) |
/// | 3 | `status --wait-until`: its `--timeout` passed first (with `--since`, also when no deployment was created since then); the rollout carries on |
/// | 4 | `status --wait-until`: no rollout to wait for (without `--since`: none ever ran; with or without it: no service deploys with a traffic-shifting strategy) |
///
/// 1 keeps its meaning from before the waits (a failed command, a rolled-back rollout), so a
/// script that tests for non-zero still sees every failure; 2 is clap's. A timeout and nothing
/// to wait for say nothing against the rollout, and CI acts on them differently (wait again,
/// or deploy first), so each has a code of its own: 3 and 4, the next free ones, well below
/// the codes a shell gives a signal (128 and up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    TimedOut,
    NothingInProgress,
}

/// Each outcome's exit code, both ways ([`crate::aws_bin`] reads `meshtest-aws`'s back).
const CODES: [(Outcome, u8); 4] = [
    (Outcome::Success, 0),
    (Outcome::Failure, 1),
    (Outcome::TimedOut, 3),
    (Outcome::NothingInProgress, 4),
];

/// clap's exit code for a usage error (reserved: no [`Outcome`] uses it).
pub const USAGE_ERROR: u8 = 2;

impl Outcome {
    /// `Success` when `succeeded`.
    pub fn of(succeeded: bool) -> Outcome {
        if succeeded {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }

    /// The process exit code.
    pub fn code(self) -> u8 {
        CODES
            .iter()
            .find(|(outcome, _)| *outcome == self)
            .map_or(1, |(_, code)| *code)
    }

    /// The outcome a process that exited with `code` reports; any code not in the table
    /// (clap's 2 included) is a failure.
    pub fn from_code(code: i32) -> Outcome {
        CODES
            .iter()
            .find(|(_, c)| i32::from(*c) == code)
            .map_or(Outcome::Failure, |(outcome, _)| *outcome)
    }
}

/// The commands `meshtest-aws` runs: parsed once (by xtask or by `meshtest-aws` itself) and,
/// from xtask, handed over as JSON ([`crate::aws_bin`]).
#[derive(Debug, clap::Subcommand, Serialize, Deserialize)]
pub enum AwsCommand {
    #[command(flatten)]
    Stack(StackCommand),
    /// Check that a deployed app's alarms see their metrics, and show their state
    Verify(VerifyArgs),
    /// Watch the app's rollouts in the browser, with Continue and Rollback buttons
    Dashboard(DashboardArgs),
}

/// `--allow-cidr` in the JSON hand-over: its text, read back with the model's parser.
mod cidr_text {
    use model::Ipv4Cidr;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(cidr: &Option<Ipv4Cidr>, s: S) -> Result<S::Ok, S::Error> {
        match cidr {
            Some(cidr) => s.serialize_some(&cidr.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ipv4Cidr>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The commands that act on a deployed stack, on AWS or (with `--local`) on the local runtime:
/// `cargo xtask` and `meshtest-aws` parse the same ones.
#[derive(Debug, clap::Subcommand, Serialize, Deserialize)]
pub enum StackCommand {
    /// Show what a deploy would change, like `cdk diff`
    Diff(DiffArgs),
    /// Deploy an app through a CloudFormation change set (or to the local runtime with --local)
    Deploy(DeployArgs),
    /// Delete an app's stack (or stop its local runtime with --local)
    Destroy(DestroyArgs),
    /// Show a deployed app's status, outputs, blue-green state and rollouts (--watch follows them)
    Status(StatusArgs),
    /// Roll back the app's blue-green, linear or canary deployment in progress
    Rollback(RolloutArgs),
    /// Let the app's deployment waiting at a pause hook go on
    Continue(RolloutArgs),
}

impl StackCommand {
    /// Which app and stack it acts on.
    pub fn target(&self) -> &Target {
        match self {
            StackCommand::Diff(args) => &args.target,
            StackCommand::Deploy(args) => &args.target,
            StackCommand::Destroy(args) => &args.target,
            StackCommand::Status(args) => &args.target,
            StackCommand::Rollback(args) | StackCommand::Continue(args) => &args.target,
        }
    }

    /// Where the events of the rollouts it follows go (`deploy` and `status` only).
    pub fn events(&self) -> Option<&EventArgs> {
        match self {
            StackCommand::Deploy(args) => Some(&args.events),
            StackCommand::Status(args) => Some(&args.events),
            _ => None,
        }
    }

    /// The reporter that sends the events of the rollouts it follows where its flags ask
    /// (`--output json`, `--notify`), around `terminal`; a status whose `--output json` has
    /// nothing to follow is refused.
    pub fn events_out<'a>(
        &self,
        terminal: &'a dyn deploy::Reporter,
    ) -> anyhow::Result<crate::event_output::EventsOut<'a>> {
        if let StackCommand::Status(args) = self {
            args.check_events().map_err(anyhow::Error::msg)?;
        }
        let events = self.events().cloned().unwrap_or_default();
        Ok(crate::event_output::EventsOut::new(
            terminal,
            events.output,
            &events.notify,
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ))
    }

    /// Whether it acts on the local runtime rather than AWS.
    pub fn local(&self) -> bool {
        match self {
            StackCommand::Diff(args) => args.local,
            StackCommand::Deploy(args) => args.local,
            StackCommand::Destroy(args) => args.local,
            StackCommand::Status(args) => args.local,
            StackCommand::Rollback(args) | StackCommand::Continue(args) => args.local,
        }
    }
}

/// The process exit code of a command: an error is printed here, as one `error: ...` line with
/// its causes; a [`Outcome::Failure`] has been explained already.
pub fn exit_code(result: anyhow::Result<Outcome>) -> std::process::ExitCode {
    match result {
        Ok(outcome) => std::process::ExitCode::from(outcome.code()),
        Err(err) => {
            eprintln!("error: {}", crate::wording::message(&err));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Where AWS is: the standard aws-config chain, overridable by these flags.
#[derive(Debug, Clone, Default, clap::Args, Serialize, Deserialize)]
pub struct AwsArgs {
    /// AWS region [env: AWS_REGION]
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile from ~/.aws/config [env: AWS_PROFILE]
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// AWS endpoint URL, e.g. a local moto server [env: AWS_ENDPOINT_URL]
    #[arg(long, global = true, value_name = "URL", value_parser = parse_endpoint_url)]
    pub endpoint_url: Option<String>,
}

/// Checks `--allow-cidr` when the command line is parsed: clap names the flag.
fn parse_cidr(text: &str) -> Result<Ipv4Cidr, String> {
    Ipv4Cidr::parse(text).map_err(|e| {
        format!("{e}: pass an IPv4 CIDR block such as 203.0.113.7/32 (your public IP with /32)")
    })
}

/// Checks `--endpoint-url` when the command line is parsed, so a malformed URL is named with
/// its flag before any AWS call rather than surfacing as a request-time dispatch failure.
fn parse_endpoint_url(text: &str) -> Result<String, String> {
    const HINT: &str = "use http:// or https:// and a host, e.g. http://127.0.0.1:5000";
    match url::Url::parse(text) {
        Err(e) => Err(format!("not a URL ({e}): {HINT}")),
        Ok(url) if !matches!(url.scheme(), "http" | "https") || url.host().is_none() => {
            Err(format!("not an HTTP endpoint: {HINT}"))
        }
        Ok(_) => Ok(text.to_owned()),
    }
}

/// Checks `--minute` against the local runtime's one table of bounds
/// (`local_runtime::rollout::MINUTE`), which the supervisor checks again.
fn parse_minute(text: &str) -> Result<std::time::Duration, String> {
    let minute = humantime::parse_duration(text)
        .map_err(|e| format!("{e}: pass a duration such as 200ms or 2s"))?;
    local_runtime::rollout::minute(minute).map_err(|e| e.to_string())
}

/// One `--env KEY=VALUE`, checked as the model checks a service's environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub key: String,
    pub value: String,
}

/// Checks `--env` when the command line is parsed, with the model's rule (a valid name that
/// the task definition or the local runtime does not set itself, a value without control
/// characters), so clap names the flag.
fn parse_env(text: &str) -> Result<EnvVar, String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "{} is not KEY=VALUE: pass e.g. --env FAULT_RATE=0.5",
            model::rules::quote(text)
        ));
    };
    model::env_var(key, value)?;
    Ok(EnvVar {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

/// Which app and which stack.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct Target {
    /// The app (see `cargo xtask list`)
    pub app: String,
    /// Stack name [default: the `name` inside a JSON description, else the app name]
    #[arg(long)]
    pub stack_name: Option<String>,
}

impl Target {
    /// The one conversion of the command line's target into a resolved one.
    pub fn resolve(
        &self,
        version: Option<u32>,
        strategy: Option<StrategyKind>,
    ) -> deploy::Result<Resolved> {
        deploy::target::resolve(&Choice {
            app: &self.app,
            stack_name: self.stack_name.as_deref(),
            version,
            strategy,
        })
    }
}

impl Target {
    /// The target as a hint names it again: `gateway`, `stack.json --stack-name x`.
    pub fn label(&self) -> String {
        match &self.stack_name {
            Some(name) => format!("{} --stack-name {name}", self.app),
            None => self.app.clone(),
        }
    }

    /// Only the stack name and label: for the commands that act on what runs under the name
    /// and need not build the stack.
    pub fn named(&self) -> deploy::Result<Named> {
        deploy::target::name(&Choice {
            app: &self.app,
            stack_name: self.stack_name.as_deref(),
            ..Choice::default()
        })
    }
}

/// What shapes the stack a diff or deploy builds.
#[derive(Debug, Clone, Copy, clap::Args, Serialize, Deserialize)]
pub struct BuildArgs {
    /// Service version (bluegreen: the version the state sends to its next colour)
    #[arg(long, value_name = "N")]
    pub version: Option<u32>,
    /// Deployment strategy of the rollout app's traffic-shifting service [default: linear]
    #[arg(long, value_parser = strategy_parser())]
    pub strategy: Option<StrategyKind>,
}

#[derive(Debug, clap::Args, Serialize, Deserialize)]
pub struct DiffArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub build: BuildArgs,
    /// Compare with what the local runtime runs instead of AWS
    #[arg(long)]
    pub local: bool,
    /// Print the differences as JSON
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when there are differences
    #[arg(long)]
    pub fail: bool,
    /// S3 bucket for templates over CloudFormation's 51,200-byte inline limit [default: meshtest-templates-<account>-<region>, created on first use]
    #[arg(long, value_name = "NAME")]
    pub template_bucket: Option<String>,
    /// Local bluegreen: start from state.json even when it disagrees with what runs
    #[arg(long, requires = "local")]
    pub force: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, clap::Args, Serialize, Deserialize)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub build: BuildArgs,
    /// Deploy to the local runtime instead of AWS
    #[arg(long)]
    pub local: bool,
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
    /// Local bluegreen: start from state.json even when it disagrees with what runs
    #[arg(long, requires = "local")]
    pub force: bool,
    /// Container image of the services (the `ServiceImage` parameter)
    #[arg(long, value_name = "URI")]
    pub image: Option<String>,
    /// IPv4 CIDR allowed to reach the listener ports (the `AllowedCidr` parameter)
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    #[serde(with = "cidr_text")]
    pub allow_cidr: Option<Ipv4Cidr>,
    /// S3 bucket for templates over CloudFormation's 51,200-byte inline limit [default: meshtest-templates-<account>-<region>, created on first use]
    #[arg(long, value_name = "NAME")]
    pub template_bucket: Option<String>,
    /// With --local: how long one model minute (bakes, hook timeouts) of a rollout lasts, from
    /// 1ms to 60s [default: 1s]
    #[arg(long, value_name = "DURATION", value_parser = parse_minute, requires = "local")]
    pub minute: Option<std::time::Duration>,
    /// With --local: environment for the new revision's tasks of a rolling-out service, e.g.
    /// FAULT_RATE=0.5 (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env, requires = "local")]
    pub env: Vec<EnvVar>,
    #[command(flatten)]
    pub events: EventArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Where the events of the rollouts a command follows go (`deploy`, `status --watch`).
#[derive(Debug, Clone, Default, clap::Args, Serialize, Deserialize)]
pub struct EventArgs {
    /// `json`: write each rollout event (deployment started, stage entered, step reached, hook
    /// awaiting action or released, alarm state changed, rolled back, finished) as one JSON
    /// object per line on stdout (schema: deploy/events.schema.json); everything else goes to
    /// stderr
    #[arg(long, value_enum, default_value_t = Output::Text, value_name = "FORMAT")]
    #[serde(default)]
    pub output: Output,
    /// Post each rollout event to this webhook as JSON with a Slack-compatible `text` line
    /// (repeatable; http:// or https://; several in one value separated by commas or spaces).
    /// Retried with backoff, never holds up or fails the rollout
    #[arg(long = "notify", value_name = "URL", env = "MESHTEST_NOTIFY", value_parser = crate::notify::parse_notify)]
    #[serde(default)]
    pub notify: Vec<NotifyUrls>,
}

#[derive(Debug, clap::Args, Serialize, Deserialize)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub target: Target,
    /// Stop the local runtime instead of deleting the AWS stack
    #[arg(long)]
    pub local: bool,
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, clap::Args, Serialize, Deserialize)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,
    /// Show the local runtime instead of AWS
    #[arg(long)]
    pub local: bool,
    /// Print the status as JSON
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Follow the app's blue-green, linear or canary deployments until they end (exit 1 when
    /// one rolls back or stops)
    #[arg(long)]
    pub watch: bool,
    /// Follow the deployments only until every one reached this: an ECS lifecycle stage (at
    /// or past it), SUCCESSFUL, PAUSED (a pause hook awaits continue or rollback) or
    /// ROLLED_BACK. Exit 0 reached, 1 cannot be reached any more (e.g. rolled back), 3 timed
    /// out, 4 no rollout to wait for
    #[arg(long, value_name = "CONDITION", value_parser = until_parser(), conflicts_with = "json")]
    pub wait_until: Option<Until>,
    /// With --wait-until: give up after this long (exit 3), e.g. 30s or 20m; the deployment
    /// carries on [default: no limit]
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, requires = "wait_until")]
    pub timeout: Option<std::time::Duration>,
    /// With --wait-until: judge only a deployment created at or after TIME, an RFC 3339 UTC
    /// instant (2026-12-05T13:00:00Z) or a duration ago (10m); until one exists the wait keeps
    /// waiting (bound it with --timeout). Take TIME before the deploy starts, so a wait started
    /// early never judges the previous deployment
    #[arg(long, value_name = "TIME", value_parser = parse_since, requires = "wait_until")]
    pub since: Option<std::time::SystemTime>,
    #[command(flatten)]
    pub events: EventArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl StatusArgs {
    /// What `--wait-until` and `--timeout` ask for.
    pub fn wait(&self) -> Option<Wait> {
        self.wait_until.map(|until| Wait {
            until,
            timeout: self.timeout,
            since: self.since,
        })
    }

    /// Whether the command follows the rollouts (`--watch` or `--wait-until`).
    pub fn follows(&self) -> bool {
        self.watch || self.wait_until.is_some()
    }

    /// `--output json` on a status that follows nothing is refused (there would be no event
    /// to write; `--json` is the status as JSON); `--notify`, which `MESHTEST_NOTIFY` may set for
    /// every command, is unused there.
    pub fn check_events(&self) -> Result<(), String> {
        if self.events.output == Output::Json && !self.follows() {
            return Err(
                "--output json writes the events of the rollouts a status follows: add --watch or --wait-until (--json prints the status itself as JSON)"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// The conditions `--wait-until` offers, in their spelling, so clap lists them on a wrong one.
pub fn until_parser() -> impl clap::builder::TypedValueParser<Value = Until> {
    PossibleValuesParser::new(Until::ALL.map(Until::as_str)).try_map(|text| {
        Until::parse(&text).ok_or_else(|| format!("{text} is not a condition --wait-until offers"))
    })
}

/// Reads `--since` when the command line is parsed: an RFC 3339 instant in UTC, or a duration
/// before now. A duration becomes its instant here, so a command handed on (xtask to
/// meshtest-aws) or retried waits since the same instant.
fn parse_since(text: &str) -> Result<std::time::SystemTime, String> {
    if let Ok(at) = humantime::parse_rfc3339_weak(text) {
        return Ok(at);
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        format!(
            "{text} is neither a UTC time nor a duration: pass a time such as 2026-12-05T13:00:00Z (`date -u +%Y-%m-%dT%H:%M:%SZ`) or a duration ago such as 10m"
        )
    })?;
    std::time::SystemTime::now()
        .checked_sub(ago)
        .ok_or_else(|| format!("{text} ago is before the clock's start: pass a shorter duration"))
}

/// Checks `--timeout` when the command line is parsed.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e}: pass a duration such as 30s or 20m"))
}

/// `verify`: whether the alarms a deployed stack defines see their metrics, and their state.
/// AWS only: the local runtime's alarm is its own engine's.
#[derive(Debug, clap::Args, Serialize, Deserialize)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub target: Target,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `rollback` and `continue`: act on the deployment in progress.
#[derive(Debug, clap::Args, Serialize, Deserialize)]
pub struct RolloutArgs {
    #[command(flatten)]
    pub target: Target,
    /// Act on the local runtime's rollout instead of AWS
    #[arg(long)]
    pub local: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `dashboard`: a page on 127.0.0.1 that watches the stack's rollouts live, with Continue and
/// Rollback buttons.
#[derive(Debug, clap::Args, Serialize, Deserialize)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub target: Target,
    /// Watch the local runtime's stack instead of AWS
    #[arg(long)]
    pub local: bool,
    /// The port on 127.0.0.1 [default: any free port]
    #[arg(long)]
    pub port: Option<u16>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The traffic-shifting strategies `--strategy` offers, in their command-line spelling
/// (rolling is not one: nothing to watch).
pub fn strategy_parser() -> impl clap::builder::TypedValueParser<Value = StrategyKind> {
    let offered = [
        StrategyKind::BlueGreen,
        StrategyKind::Linear,
        StrategyKind::Canary,
    ];
    PossibleValuesParser::new(offered.map(StrategyKind::cli_name))
        .try_map(|text| text.parse::<StrategyKind>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: StackCommand,
    }

    fn deploy(extra: &[&str]) -> Result<DeployArgs, String> {
        let args = ["xtask", "deploy", "rollout", "--local"];
        match Cli::try_parse_from(args.iter().chain(extra)) {
            Ok(Cli {
                command: StackCommand::Deploy(args),
            }) => Ok(args),
            Ok(other) => panic!("not a deploy: {other:?}"),
            Err(e) => Err(e.to_string()),
        }
    }

    #[track_caller]
    fn refused(extra: &[&str], flag: &str, message: &str) {
        let err = deploy(extra).expect_err("refused");
        assert!(err.contains(flag), "{err}");
        assert!(err.contains(message), "{err}");
    }

    /// `0` used to become 1 ms silently and `1y` was accepted; both ends come from the local
    /// runtime's one table, which the supervisor checks too.
    #[test]
    fn minute_is_bounded_by_the_local_runtimes_table() {
        let minute = |text: &str| deploy(&["--minute", text]).map(|a| a.minute);
        assert_eq!(minute("1ms"), Ok(Some(Duration::from_millis(1))));
        assert_eq!(minute("200ms"), Ok(Some(Duration::from_millis(200))));
        assert_eq!(minute("60s"), Ok(Some(Duration::from_secs(60))));
        let bounds = "one model minute must last from 1ms to 60s (as long as a real one)";
        refused(
            &["--minute", "0"],
            "--minute",
            &format!("{bounds}, got 0ns"),
        );
        refused(&["--minute", "0ms"], "--minute", bounds);
        refused(&["--minute", "999us"], "--minute", bounds);
        refused(&["--minute", "61s"], "--minute", bounds);
        refused(&["--minute", "1y"], "--minute", bounds);
        refused(
            &["--minute", "soon"],
            "--minute",
            "pass a duration such as 200ms",
        );
        assert_eq!(
            local_runtime::rollout::MINUTE,
            Duration::from_millis(1)..=Duration::from_secs(60)
        );
    }

    /// `--env` refuses what the model refuses, naming the flag: every reserved name with its
    /// reason (they used to be stored yet silently not applied), bad names and control
    /// characters.
    #[test]
    fn env_is_checked_like_the_models_environment() {
        let env = |text: &str| deploy(&["--env", text]).map(|a| a.env);
        assert_eq!(
            env("FAULT_RATE=0.5=x"),
            Ok(vec![EnvVar {
                key: "FAULT_RATE".into(),
                value: "0.5=x".into()
            }])
        );
        assert_eq!(env("EMPTY=").map(|e| e[0].value.clone()), Ok(String::new()));
        for reserved in model::RESERVED_ENV {
            let key = reserved.name.replace('*', "TOKEN");
            refused(
                &["--env", &format!("{key}=x")],
                "--env",
                &format!("`{key}` is reserved: {}", reserved.reason),
            );
        }
        refused(&["--env", "MESHTEST_LOCAL_TOKEN=x"], "--env", "is reserved");
        refused(
            &["--env", "HTTP_PROXY=http://127.0.0.1:1"],
            "--env",
            "egress proxy",
        );
        refused(&["--env", "NOVALUE"], "--env", "`NOVALUE` is not KEY=VALUE");
        refused(
            &["--env", "1X=a"],
            "--env",
            "`1X` is not a valid environment variable name",
        );
        refused(
            &["--env", "MODE=a\nb"],
            "--env",
            "the value of `MODE` `a\\nb` has control characters",
        );
        refused(&["--env", "MODE=\u{1b}[2J"], "--env", "control characters");
    }

    fn status(extra: &[&str]) -> Result<StatusArgs, clap::Error> {
        let args = ["xtask", "status", "rollout", "--local"];
        Cli::try_parse_from(args.iter().chain(extra)).map(|cli| match cli.command {
            StackCommand::Status(args) => args,
            other => panic!("not a status: {other:?}"),
        })
    }

    #[test]
    fn wait_until_takes_a_stage_or_an_end_and_a_timeout() {
        use deploy::request::Until;
        use model::DeploymentStage;
        let args = status(&["--wait-until", "BAKE_TIME", "--timeout", "90s"]).unwrap();
        assert_eq!(
            args.wait(),
            Some(Wait {
                until: Until::Stage(DeploymentStage::BakeTime),
                timeout: Some(Duration::from_secs(90)),
                since: None,
            })
        );
        assert!(args.follows() && !args.watch);
        for end in ["SUCCESSFUL", "PAUSED", "ROLLED_BACK"] {
            let args = status(&["--wait-until", end]).unwrap();
            assert_eq!(args.wait().map(|w| w.until.as_str()), Some(end));
            assert_eq!(args.timeout, None);
        }
        assert_eq!(status(&[]).unwrap().wait(), None);
    }

    /// `--since` takes an RFC 3339 UTC instant or a duration ago (made an instant when parsed),
    /// goes into the wait, and needs `--wait-until` (a usage error, exit 2, without it, as is a
    /// value that is neither).
    #[test]
    fn since_takes_a_utc_time_or_a_duration_ago_and_needs_a_wait() {
        use std::time::{SystemTime, UNIX_EPOCH};
        let args = status(&[
            "--wait-until",
            "SUCCESSFUL",
            "--since",
            "2026-12-05T13:00:00Z",
            "--timeout",
            "20m",
        ])
        .unwrap();
        let at = UNIX_EPOCH + Duration::from_secs(1_796_475_600);
        assert_eq!(args.wait().and_then(|w| w.since), Some(at));
        let args = status(&[
            "--wait-until",
            "BAKE_TIME",
            "--since",
            "2026-12-05T13:00:00.250Z",
        ])
        .unwrap();
        assert_eq!(args.since, Some(at + Duration::from_millis(250)));
        let before = SystemTime::now();
        let args = status(&["--wait-until", "BAKE_TIME", "--since", "10m"]).unwrap();
        let after = SystemTime::now();
        let since = args.since.expect("10m ago");
        let ten = Duration::from_secs(600);
        assert!(
            before - ten <= since && since <= after - ten,
            "{since:?} is 10 minutes before the parse"
        );
        assert_eq!(
            status(&["--wait-until", "PAUSED"])
                .unwrap()
                .wait()
                .unwrap()
                .since,
            None
        );
        let err = status(&["--since", "10m"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(USAGE_ERROR));
        assert!(err.to_string().contains("--wait-until"), "{err}");
        let err = status(&["--wait-until", "PAUSED", "--since", "yesterday"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(USAGE_ERROR));
        assert!(
            err.to_string()
                .contains("yesterday is neither a UTC time nor a duration: pass a time such as 2026-12-05T13:00:00Z"),
            "{err}"
        );
    }

    /// A wrong value, a timeout without a wait or a wait with --json are usage errors (exit 2)
    /// that list what is accepted.
    #[test]
    fn wait_until_refuses_what_it_does_not_offer() {
        let err = status(&["--wait-until", "BAKING"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(USAGE_ERROR));
        let text = err.to_string();
        assert!(
            text.contains("invalid value 'BAKING' for '--wait-until <CONDITION>'"),
            "{text}"
        );
        for offered in [
            "BAKE_TIME",
            "PRODUCTION_TRAFFIC_SHIFT",
            "SUCCESSFUL",
            "PAUSED",
            "ROLLED_BACK",
        ] {
            assert!(text.contains(offered), "{text}");
        }
        let err = status(&["--timeout", "5s"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(USAGE_ERROR));
        assert!(err.to_string().contains("--wait-until"), "{err}");
        let err = status(&["--wait-until", "PAUSED", "--json"]).unwrap_err();
        assert!(err.to_string().contains("cannot be used with"), "{err}");
        let err = status(&["--wait-until", "PAUSED", "--timeout", "soon"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("pass a duration such as 30s or 20m"),
            "{err}"
        );
    }

    /// The one table: distinct codes, 2 left to clap, and each read back as the outcome it
    /// came from (as xtask reads meshtest-aws's).
    #[test]
    fn every_outcome_has_its_own_exit_code() {
        let all = [
            Outcome::Success,
            Outcome::Failure,
            Outcome::TimedOut,
            Outcome::NothingInProgress,
        ];
        let codes: Vec<u8> = all.iter().map(|o| o.code()).collect();
        assert_eq!(codes, [0, 1, 3, 4]);
        for outcome in all {
            assert_eq!(Outcome::from_code(i32::from(outcome.code())), outcome);
        }
        assert_eq!(Outcome::from_code(i32::from(USAGE_ERROR)), Outcome::Failure);
        assert_eq!(Outcome::from_code(101), Outcome::Failure);
    }

    /// `--output json` and `--notify` on `deploy` and on a status that follows; `--output
    /// json` on a status that follows nothing is refused; a URL that is not http(s) is refused
    /// naming the flag; both go with the hand-over to meshtest-aws.
    #[test]
    fn output_and_notify_are_parsed_checked_and_handed_over() {
        let args = status(&[
            "--watch",
            "--output",
            "json",
            "--notify",
            "http://127.0.0.1:9/a,https://hooks.example.com/b",
            "--notify",
            "https://c.example.com",
        ])
        .unwrap();
        assert_eq!(args.events.output, Output::Json);
        assert_eq!(args.events.notify.len(), 2);
        assert_eq!(args.events.notify[0].0.len(), 2);
        assert_eq!(args.check_events(), Ok(()));
        let back: StatusArgs =
            serde_json::from_str(&serde_json::to_string(&args).unwrap()).unwrap();
        assert_eq!(back.events.notify, args.events.notify);
        assert_eq!(back.events.output, Output::Json);

        let plain = status(&["--output", "json"]).unwrap();
        assert!(
            plain
                .check_events()
                .unwrap_err()
                .starts_with("--output json writes the events"),
            "{:?}",
            plain.check_events()
        );
        assert_eq!(
            status(&["--notify", "http://127.0.0.1:9"])
                .unwrap()
                .check_events(),
            Ok(())
        );
        assert_eq!(status(&[]).unwrap().events.output, Output::Text);

        let err = status(&["--watch", "--notify", "ftp://files.example.com/x"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(USAGE_ERROR));
        assert!(err.to_string().contains("--notify <URL>"), "{err}");
        assert!(
            err.to_string()
                .contains("is not an http:// or https:// URL"),
            "{err}"
        );
        let err = status(&["--watch", "--output", "yaml"]).unwrap_err();
        assert!(err.to_string().contains("--output <FORMAT>"), "{err}");

        let deploy = deploy(&["--output", "json", "--notify", "https://h.example.com/x"]).unwrap();
        assert_eq!(deploy.events.output, Output::Json);
        assert_eq!(deploy.events.notify[0].0, ["https://h.example.com/x"]);
    }

    /// xtask hands a status command to meshtest-aws as JSON: the wait goes with it.
    #[test]
    fn a_wait_survives_the_hand_over_to_meshtest_aws() {
        let args = status(&["--wait-until", "ROLLED_BACK", "--timeout", "2m"]).unwrap();
        let json = serde_json::to_string(&args).unwrap();
        let back: StatusArgs = serde_json::from_str(&json).unwrap();
        assert_eq!(back.wait(), args.wait());
        // A duration ago goes as the instant it was read as, not as "10m" read again later.
        let args = status(&["--wait-until", "SUCCESSFUL", "--since", "10m"]).unwrap();
        let back: StatusArgs =
            serde_json::from_str(&serde_json::to_string(&args).unwrap()).unwrap();
        assert_eq!(back.wait().and_then(|w| w.since), args.since);
        assert!(args.since.is_some());
    }
}
