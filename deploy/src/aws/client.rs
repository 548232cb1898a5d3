//! AWS clients from the standard aws-config chain plus the command-line overrides
//!
//! Short timeouts and the standard retry policy: a CLI that hangs for minutes on a dead endpoint
//! is worse than one that fails in seconds and says why. Throttling is retried (with backoff)
//! by the standard policy; that matters because deploys poll.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{AwsError, AwsErrorKind, ConnectError, Error, Remedy, Result, check_endpoint};
use crate::report::Reporter;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_cloudformation::config::interceptors::InterceptorContext;
use aws_sdk_cloudformation::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_cloudformation::config::{ConfigBag, Intercept, ProvideCredentials, RuntimeComponents};
use aws_sdk_cloudformation::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use model::error_chain;

use crate::request::Connection;

/// The clients one command uses, and the API call counter shared by all of them.
#[derive(Debug, Clone)]
pub struct Aws {
    pub cfn: aws_sdk_cloudformation::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub discovery: aws_sdk_servicediscovery::Client,
    pub ecs: aws_sdk_ecs::Client,
    /// Templates over the inline limit (see `upload`).
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    /// The stack's alarms: `verify`, and their state while a rollout is followed.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// The region, for messages (empty when unknown, e.g. in mocked tests).
    pub region: String,
    pub calls: ApiCalls,
}

/// Set (to anything but `0`) to print the AWS API calls a command made, for benchmarks.
pub const DEBUG_API_CALLS_ENV: &str = "MESHTEST_DEBUG_API_CALLS";

/// How long one HTTP attempt may take, and a whole call with its retries.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(60))
        .build()
}

/// The standard retry policy (throttling and transient errors, exponential backoff with jitter),
/// with a few more attempts than the default 3 because deploys poll for minutes.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(5)
}

impl Aws {
    /// Loads the configuration (env, profiles, `--profile`/`--region`/`--endpoint-url`) and
    /// checks that credentials exist, so a missing one fails before any work with one line.
    pub async fn connect(args: &Connection) -> Result<Aws> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeout_config())
            .retry_config(retry_config());
        if let Some(profile) = &args.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &args.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &args.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let Some(region) = config.region().map(|r| r.to_string()) else {
            return Err(ConnectError::NoRegion.into());
        };
        let provider = config.credentials_provider();
        let found = match &provider {
            Some(provider) => provider
                .provide_credentials()
                .await
                .map_err(|e| e.to_string()),
            None => Err("no credentials provider".to_string()),
        };
        if let Err(why) = found {
            return Err(ConnectError::NoCredentials {
                why: first_line(&why).to_owned(),
            }
            .into());
        }
        Ok(Aws::from_config(&config, region))
    }

    fn from_config(config: &SdkConfig, region: String) -> Aws {
        let calls = ApiCalls::default();
        Aws {
            cfn: aws_sdk_cloudformation::Client::from_conf(
                aws_sdk_cloudformation::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .retry_classifier(RefusedIsFinal)
                    .build(),
            ),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .retry_classifier(RefusedIsFinal)
                    .build(),
            ),
            discovery: aws_sdk_servicediscovery::Client::from_conf(
                aws_sdk_servicediscovery::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .retry_classifier(RefusedIsFinal)
                    .build(),
            ),
            ecs: aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .retry_classifier(RefusedIsFinal)
                    .build(),
            ),
            s3: s3_client(config, &calls),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .retry_classifier(RefusedIsFinal)
                    .build(),
            ),
            region,
            calls,
        }
    }
}

/// An S3 client; a custom endpoint (moto, a local S3) gets path-style addressing, since
/// `bucket.127.0.0.1` does not resolve.
fn s3_client(config: &SdkConfig, calls: &ApiCalls) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .interceptor(calls.clone())
            .build(),
    )
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text).trim_end_matches('.')
}

/// Counts the HTTP requests each AWS operation sent (retries included), for `--debug` output
/// and the benchmarks. Shared by the clients of one command.
#[derive(Debug, Clone)]
pub struct ApiCalls {
    counts: Arc<Mutex<BTreeMap<String, u32>>>,
    started: Instant,
}

impl Default for ApiCalls {
    fn default() -> Self {
        ApiCalls {
            counts: Arc::default(),
            started: Instant::now(),
        }
    }
}

impl ApiCalls {
    pub fn total(&self) -> u32 {
        self.counts().values().sum()
    }

    pub fn counts(&self) -> BTreeMap<String, u32> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One line: the total, then each operation with its count.
    pub fn summary(&self) -> String {
        let counts = self.counts();
        let each: Vec<String> = counts.iter().map(|(op, n)| format!("{op} {n}")).collect();
        format!(
            "aws api calls: {} in {:.2}s ({})",
            self.total(),
            self.started.elapsed().as_secs_f64(),
            each.join(", ")
        )
    }

    /// Reports [`ApiCalls::summary`] as progress when [`DEBUG_API_CALLS_ENV`] asks for it.
    pub fn report_if_asked(&self, out: &dyn Reporter) {
        if super::debug_timing(out) {
            out.note(self.summary());
        }
    }
}

impl Intercept for ApiCalls {
    fn name(&self) -> &'static str {
        "meshtest-api-call-counter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        // JSON protocols (SSM, Cloud Map) name the operation in a header, the query protocol
        // (CloudFormation) in the form body.
        let operation = match request.headers().get("x-amz-target") {
            Some(target) => target.rsplit('.').next().unwrap_or(target).to_string(),
            None => request
                .body()
                .bytes()
                .and_then(|body| std::str::from_utf8(body).ok())
                .and_then(|body| {
                    body.split('&')
                        .find_map(|pair| pair.strip_prefix("Action="))
                        .map(str::to_string)
                })
                .map(|action| with_template_source(&action, request.body().bytes()))
                // REST protocols (S3) name the operation only in the orchestrator's metadata.
                .or_else(|| cfg.load::<Metadata>().map(|m| m.name().to_string()))
                .unwrap_or_else(|| "unknown".to_string()),
        };
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(operation)
            .or_default() += 1;
        Ok(())
    }
}

/// `CreateChangeSet[TemplateBody]` or `CreateChangeSet[TemplateURL]`, so the call counts show
/// how each template travelled; other actions unchanged.
fn with_template_source(action: &str, body: Option<&[u8]>) -> String {
    let form = body.and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("");
    let source = form.split('&').find_map(|pair| {
        ["TemplateBody", "TemplateURL"]
            .into_iter()
            .find(|name| pair.starts_with(&format!("{name}=")))
    });
    match source {
        Some(source) if action == "CreateChangeSet" => format!("{action}[{source}]"),
        _ => action.to_string(),
    }
}

/// A one-line description of an SDK error: the service's code and message when it answered,
/// otherwise what kept the request from being answered.
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => error_chain(err),
            }
        }
        SdkError::TimeoutError(_) => {
            "the request timed out: check the endpoint and your network".to_string()
        }
        SdkError::DispatchFailure(_) => {
            format!("cannot reach the AWS endpoint ({})", error_chain(err))
        }
        other => error_chain(other),
    }
}

/// [`describe`] for a line `out` shows, with what to check when nothing answered (an error says
/// it through its kind, [`AwsErrorKind::Unreachable`]).
pub fn described<E, R>(err: &SdkError<E, R>, out: &dyn Reporter) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    failed(err).said(out)
}

/// The kind of a failed call, from AWS's error code; a request that reached nobody is
/// [`AwsErrorKind::Unreachable`], another failure on the way [`AwsErrorKind::Other`].
pub fn kind_of<E, R>(err: &SdkError<E, R>) -> AwsErrorKind
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => {
            AwsErrorKind::classify(service.err().code(), service.err().message())
        }
        SdkError::DispatchFailure(_) => AwsErrorKind::Unreachable,
        _ => AwsErrorKind::Other,
    }
}

/// A failed call as the engine words it ([`describe`]), with its kind: for helpers whose
/// callers say what they were doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub kind: AwsErrorKind,
    pub why: String,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

/// [`describe`] and [`kind_of`] of `err`.
pub fn failed<E, R>(err: &SdkError<E, R>) -> Failed
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    Failed {
        kind: kind_of(err),
        why: describe(err),
    }
}

impl Failed {
    /// The failure for a line `out` shows, with what to check when nothing answered (as
    /// [`described`] words it).
    pub fn said(&self, out: &dyn Reporter) -> String {
        match self.kind {
            AwsErrorKind::Unreachable => format!(
                "{}: {}",
                self.why,
                check_endpoint(&|input| out.input(input))
            ),
            _ => self.why.clone(),
        }
    }

    /// The engine's error for `operation`, its message made from the failure's text.
    pub fn into_error(
        self,
        operation: &'static str,
        message: impl FnOnce(String) -> String,
    ) -> Error {
        Error::Aws(AwsError {
            kind: self.kind,
            operation,
            message: message(self.why),
            remedy: None,
        })
    }
}

/// The engine's error for a failed `operation`: its kind from AWS's code, its message made
/// from [`describe`]'s text.
pub fn aws_error<E, R>(
    operation: &'static str,
    err: &SdkError<E, R>,
    message: impl FnOnce(String) -> String,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    failed(err).into_error(operation, message)
}

/// `err` with `remedy` when it is an AWS error.
pub fn remedied(err: Error, remedy: Remedy) -> Error {
    match err {
        Error::Aws(err) => Error::Aws(AwsError {
            remedy: Some(remedy),
            ..err
        }),
        other => other,
    }
}

/// The engine's error for an answer of `operation` it cannot use (no AWS error code).
pub fn answer_error(operation: &'static str, message: String) -> Error {
    Error::Aws(AwsError {
        kind: AwsErrorKind::Other,
        operation,
        message,
        remedy: None,
    })
}

/// Forbids retrying a request the endpoint refused outright: nothing listens there, so the
/// standard policy's backoff would only add seconds before the same error.
#[derive(Debug)]
pub struct RefusedIsFinal;

impl ClassifyRetry for RefusedIsFinal {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let refused = ctx
            .output_or_error()
            .and_then(Result::err)
            .and_then(|e| e.as_connector_error())
            .is_some_and(|e| e.is_io() && is_connection_refused(e));
        if refused {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "meshtest-refused-is-final"
    }
}

fn is_connection_refused(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// The error code of a service error, if the service answered.
pub fn code_of<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// CloudFormation reports a missing stack as a `ValidationError` whose message says so.
pub fn is_missing_stack<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => {
            service.err().code() == Some("ValidationError")
                && service
                    .err()
                    .message()
                    .is_some_and(|m| m.contains("does not exist"))
        }
        _ => false,
    }
}

#[cfg(test)]
impl Aws {
    /// Clients for tests (mocked or pointed at moto), counted like real ones.
    pub fn from_clients(
        cfn: aws_sdk_cloudformation::Client,
        ssm: aws_sdk_ssm::Client,
        discovery: aws_sdk_servicediscovery::Client,
        ecs: aws_sdk_ecs::Client,
        calls: ApiCalls,
    ) -> Aws {
        Aws {
            cfn,
            ssm,
            discovery,
            ecs,
            // Not used by the mocked flows; moto tests run the binary instead.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .build(),
            ),
            // Unmocked: a test that reads alarms gives its own with `with_cloudwatch`.
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .build(),
            ),
            region: "us-east-1".into(),
            calls,
        }
    }

    /// The same clients with `cloudwatch` (mocked) for the alarms.
    pub fn with_cloudwatch(self, cloudwatch: aws_sdk_cloudwatch::Client) -> Aws {
        Aws { cloudwatch, ..self }
    }
}
