//! Blue-green state in SSM Parameter Store: the only module of this crate that does I/O.
//!
//! The seed reads its parameter and falls back to the bootstrap state on *any* error, so a
//! throttled or denied read makes it redeploy both colours at once. Here only "the parameter
//! does not exist" means bootstrap; every other failure aborts before anything is deployed.
//! The parameter version read with the state is kept, so a deploy can prove just before it
//! executes that nobody changed the state since its diff was made.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::{DisplayErrorContext, SdkError};
use aws_sdk_ssm::operation::get_parameter::GetParameterError;

use crate::{BlueGreenState, StateError};

/// What went wrong reading the state parameter.
#[derive(Debug, thiserror::Error)]
pub enum SsmError {
    #[error(
        "cannot read blue-green state parameter {parameter}: {message}; nothing was deployed, \
         fix the access or retry"
    )]
    Read { parameter: String, message: String },
    #[error(
        "blue-green state parameter {parameter} holds invalid state ({source}); nothing was \
         deployed: fix the parameter value or delete the parameter to start from versions 1/1"
    )]
    Invalid {
        parameter: String,
        #[source]
        source: StateError,
    },
    #[error(
        "state changed since the diff was made: parameter {parameter} was at {seen} and is now \
         at {now}; nothing was deployed, run the command again to diff against the new state"
    )]
    Changed {
        parameter: String,
        seen: String,
        now: String,
    },
}

/// The state as read, with the parameter version it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredState {
    pub state: BlueGreenState,
    /// The SSM parameter version; `None` when the parameter does not exist (bootstrap state).
    pub version: Option<i64>,
}

impl StoredState {
    fn describe_version(version: Option<i64>) -> String {
        match version {
            Some(v) => format!("version {v}"),
            None => "not stored".to_string(),
        }
    }
}

/// A stack's state parameter (`/<stack>/blue-green-state`).
#[derive(Debug, Clone)]
pub struct SsmStore {
    client: Client,
    parameter: String,
}

impl SsmStore {
    /// `parameter` is the name the stack's template writes the state to (the model's
    /// `BlueGreenSpec::state_parameter`, `/<stack>/blue-green-state` for the seed app), so the
    /// name is defined once, in the model, and the store reads what the stack writes.
    pub fn new(client: Client, parameter: impl Into<String>) -> SsmStore {
        SsmStore {
            client,
            parameter: parameter.into(),
        }
    }

    /// The parameter name.
    pub fn parameter(&self) -> &str {
        &self.parameter
    }

    /// Reads the state: the bootstrap state when the parameter does not exist, an error for
    /// anything else that goes wrong, including a value that is not valid state JSON.
    pub async fn load(&self) -> Result<StoredState, SsmError> {
        let Some((value, version)) = self.read().await? else {
            return Ok(StoredState {
                state: BlueGreenState::bootstrap(),
                version: None,
            });
        };
        let state = BlueGreenState::from_json(&value).map_err(|source| SsmError::Invalid {
            parameter: self.parameter.clone(),
            source,
        })?;
        Ok(StoredState {
            state,
            version: Some(version),
        })
    }

    /// Fails with [`SsmError::Changed`] unless the parameter is still at the version `seen`
    /// was read from (or still absent).
    pub async fn ensure_unchanged(&self, seen: &StoredState) -> Result<(), SsmError> {
        let now = self.read().await?.map(|(_, version)| version);
        if now == seen.version {
            Ok(())
        } else {
            Err(SsmError::Changed {
                parameter: self.parameter.clone(),
                seen: StoredState::describe_version(seen.version),
                now: StoredState::describe_version(now),
            })
        }
    }

    /// The value and version, or `None` when the parameter does not exist.
    async fn read(&self) -> Result<Option<(String, i64)>, SsmError> {
        let result = self
            .client
            .get_parameter()
            .name(&self.parameter)
            .send()
            .await;
        match result {
            Ok(output) => {
                let parameter = output.parameter.ok_or_else(|| SsmError::Read {
                    parameter: self.parameter.clone(),
                    message: "the response has no parameter".into(),
                })?;
                let value = parameter.value.ok_or_else(|| SsmError::Read {
                    parameter: self.parameter.clone(),
                    message: "the parameter has no value".into(),
                })?;
                Ok(Some((value, parameter.version)))
            }
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), GetParameterError::ParameterNotFound(_)) =>
            {
                Ok(None)
            }
            Err(err) => Err(SsmError::Read {
                parameter: self.parameter.clone(),
                message: DisplayErrorContext(&err).to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
    use aws_sdk_ssm::types::Parameter;
    use aws_sdk_ssm::types::error::ParameterNotFound;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;
    use crate::Colour;

    fn found(value: &'static str, version: i64) -> GetParameterOutput {
        GetParameterOutput::builder()
            .parameter(
                Parameter::builder()
                    .name("/bg/blue-green-state")
                    .value(value)
                    .version(version)
                    .build(),
            )
            .build()
    }

    fn store(rules: &[&aws_smithy_mocks::Rule]) -> SsmStore {
        let client = mock_client!(aws_sdk_ssm, RuleMode::Sequential, rules);
        SsmStore::new(client, "/bg/blue-green-state")
    }

    #[tokio::test]
    async fn missing_parameter_is_the_bootstrap_state() {
        let rule = mock!(Client::get_parameter)
            .match_requests(|r| r.name() == Some("/bg/blue-green-state"))
            .then_error(|| {
                GetParameterError::ParameterNotFound(ParameterNotFound::builder().build())
            });
        let stored = store(&[&rule]).load().await.unwrap();
        assert_eq!(
            stored,
            StoredState {
                state: BlueGreenState::bootstrap(),
                version: None
            }
        );
    }

    #[tokio::test]
    async fn stored_state_and_version_are_read() {
        let rule = mock!(Client::get_parameter).then_output(|| {
            found(
                r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#,
                7,
            )
        });
        let stored = store(&[&rule]).load().await.unwrap();
        assert_eq!(stored.state.next_update, Colour::Green);
        assert_eq!(stored.version, Some(7));
    }

    #[tokio::test]
    async fn other_errors_abort_instead_of_bootstrapping() {
        // An access-denied answer: the seed would silently start over from 1/1 here.
        let rule = mock!(Client::get_parameter)
            .sequence()
            .http_status(
                400,
                Some(r#"{"__type":"AccessDeniedException","message":"not allowed"}"#.into()),
            )
            .build();
        let err = store(&[&rule]).load().await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, SsmError::Read { .. }), "{text}");
        assert!(text.contains("/bg/blue-green-state"), "{text}");
        assert!(text.contains("AccessDenied"), "{text}");
    }

    #[tokio::test]
    async fn invalid_json_aborts_naming_the_parameter() {
        let rule = mock!(Client::get_parameter).then_output(|| found("not json", 3));
        let err = store(&[&rule]).load().await.unwrap_err();
        assert!(matches!(err, SsmError::Invalid { .. }));
        assert!(
            err.to_string()
                .starts_with("blue-green state parameter /bg/blue-green-state holds invalid state"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_changed_version_is_refused() {
        let state = r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#;
        let first = mock!(Client::get_parameter).then_output(move || found(state, 1));
        let second = mock!(Client::get_parameter).then_output(move || found(state, 2));
        let store = store(&[&first, &second]);
        let seen = store.load().await.unwrap();
        let err = store.ensure_unchanged(&seen).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "state changed since the diff was made: parameter /bg/blue-green-state was at \
             version 1 and is now at version 2; nothing was deployed, run the command again to \
             diff against the new state"
        );
    }

    #[tokio::test]
    async fn an_unchanged_version_passes() {
        let missing = || {
            mock!(Client::get_parameter).then_error(|| {
                GetParameterError::ParameterNotFound(ParameterNotFound::builder().build())
            })
        };
        let (a, b) = (missing(), missing());
        let store = store(&[&a, &b]);
        let seen = store.load().await.unwrap();
        store.ensure_unchanged(&seen).await.unwrap();
    }
}
