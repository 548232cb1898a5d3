//! How the command line words the commands the engine's hints name (`cargo xtask status
//! gateway --watch`), the target its messages name (`gateway --stack-name g2`) and the inputs
//! they name (`--yes`): the engine names them as data ([`deploy::report::Next`],
//! [`deploy::report::Input`]), a [`Worded`] reporter turns them into text, and [`message`] an
//! error

use deploy::error::{AwsError, Cancelled, Refusal, TargetError};
use deploy::report::{Input, Next, Progress, Reporter, Verb};

/// A reporter that words commands for the target as the command line named it (`label`) and
/// the backend it ran on, and passes everything else to `inner`.
pub struct Worded<'a> {
    inner: &'a dyn Reporter,
    label: String,
    local: bool,
}

impl<'a> Worded<'a> {
    /// `label` as [`crate::args::Target::label`] gives it; `local`: the command ran with
    /// `--local`.
    pub fn new(inner: &'a dyn Reporter, label: String, local: bool) -> Worded<'a> {
        Worded {
            inner,
            label,
            local,
        }
    }
}

impl std::fmt::Debug for Worded<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worded")
            .field("label", &self.label)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

/// `verb` on the target `label` names, as a user types it (`--local` for the local runtime).
pub fn command(verb: Verb, label: &str, local: bool) -> String {
    let local = if local { " --local" } else { "" };
    match verb {
        Verb::Watch => format!("cargo xtask status {label} --watch{local}"),
        Verb::DeployVersion => format!("cargo xtask deploy {label}{local} --version N"),
        verb => format!("cargo xtask {} {label}{local}", verb.as_str()),
    }
}

/// `input` as its flag on this command line.
pub fn flag(input: Input) -> String {
    match input {
        Input::EndpointUrl => "--endpoint-url",
        Input::Region => "--region",
        Input::AllowedCidr => "--allow-cidr",
        Input::Image => "--image",
        Input::Yes => "--yes",
        Input::TemplateBucket => "--template-bucket",
        Input::Env => "--env",
        Input::StateFile => "--force",
        Input::Version => "--version",
        Input::StackName => "--stack-name",
        Input::Strategy => "--strategy",
    }
    .to_owned()
}

/// `err` as the command line prints it: its causes after it, each after `: ` (anyhow's `{:#}`),
/// the engine's errors naming inputs by their flags.
pub fn message(err: &anyhow::Error) -> String {
    let said = |cause: &(dyn std::error::Error + 'static)| {
        if let Some(e) = cause.downcast_ref::<deploy::Error>() {
            e.said(&flag)
        } else if let Some(e) = cause.downcast_ref::<TargetError>() {
            e.said(&flag)
        } else if let Some(e) = cause.downcast_ref::<Refusal>() {
            e.said(&flag)
        } else if let Some(e) = cause.downcast_ref::<Cancelled>() {
            e.said(&flag)
        } else if let Some(e) = cause.downcast_ref::<AwsError>() {
            e.said(&flag)
        } else {
            cause.to_string()
        }
    };
    err.chain().map(said).collect::<Vec<_>>().join(": ")
}

impl Reporter for Worded<'_> {
    fn result(&self, text: &str) {
        self.inner.result(text);
    }

    fn progress(&self, text: &str) {
        self.inner.progress(text);
    }

    fn ask(&self, question: &str, action: &str) -> deploy::Result<bool> {
        self.inner.ask(question, action)
    }

    fn can_ask(&self) -> bool {
        self.inner.can_ask()
    }

    fn command(&self, next: &Next) -> String {
        command(next.verb, &self.label, self.local)
    }

    fn input(&self, input: Input) -> String {
        flag(input)
    }

    fn target_name(&self, _stack: &str) -> String {
        self.label.clone()
    }

    fn show(&self, progress: Progress<'_>) {
        self.inner.show(progress);
    }

    fn event(&self, event: &deploy::Event) {
        self.inner.event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events of a followed rollout reach the reporter under the wording (JSON lines and
    /// webhooks hang there).
    #[test]
    fn events_pass_through_the_wording() {
        let inner = deploy::Recorder::new();
        let out = Worded::new(&inner, "rollout".into(), true);
        let event = deploy::events::example(deploy::EventKind::HookAwaitingAction {
            stage: model::DeploymentStage::PostScaleUp,
            hook: None,
        });
        out.event(&event);
        assert_eq!(inner.events(), [event]);
    }

    #[test]
    fn commands_read_as_a_user_types_them() {
        let cases = [
            (
                Verb::Watch,
                false,
                "cargo xtask status r --stack-name r2 --watch",
            ),
            (
                Verb::Status,
                true,
                "cargo xtask status r --stack-name r2 --local",
            ),
            (
                Verb::DeployVersion,
                true,
                "cargo xtask deploy r --stack-name r2 --local --version N",
            ),
            (
                Verb::Continue,
                false,
                "cargo xtask continue r --stack-name r2",
            ),
            (Verb::Verify, false, "cargo xtask verify r --stack-name r2"),
        ];
        for (verb, local, expected) in cases {
            assert_eq!(command(verb, "r --stack-name r2", local), expected);
        }
        let recorder = deploy::Recorder::new();
        let worded = Worded::new(&recorder, "r --stack-name r2".into(), true);
        let out: &dyn Reporter = &worded;
        assert_eq!(
            out.command(&Verb::Destroy.on("r2")),
            "cargo xtask destroy r --stack-name r2 --local"
        );
        assert_eq!(out.target_name("r2"), "r --stack-name r2");
    }

    /// The engine's errors name inputs as data; on the command line they read as before the
    /// wording moved out of the engine: with the flags.
    #[test]
    fn errors_name_the_flags() {
        let refused = |refusal| anyhow::Error::from(deploy::Error::Refused(refusal));
        let cases = [
            (
                refused(Refusal::WorldOpenCidr {
                    cidr: "0.0.0.0/0".into(),
                    opens: "tcp 80".into(),
                }),
                "refusing --allow-cidr 0.0.0.0/0 without --yes: it opens tcp 80 to the whole internet; pass your own address (e.g. 203.0.113.7/32), or --yes if you mean it",
            ),
            (
                refused(Refusal::EmptyImage),
                "--image is empty: pass a container image URI such as public.ecr.aws/docker/library/nginx:latest",
            ),
            (
                refused(Refusal::ParameterNeeded {
                    stack: "s".into(),
                    parameter: "Image".into(),
                    input: Input::Image,
                }),
                "stack s needs a value for parameter Image on its first deploy: pass --image URI",
            ),
            (
                refused(Refusal::EnvWithoutRollout { stack: "s".into() }),
                "--env only applies to services that roll out (BLUE_GREEN, LINEAR or CANARY), and s has none",
            ),
            (
                deploy::Error::Cancelled(Cancelled::Unconfirmed {
                    action: "deploy".into(),
                    nobody: deploy::error::NoAnswer::NotATerminal,
                })
                .into(),
                "refusing to deploy without confirmation: stdin is not a terminal, so nobody can answer; pass --yes to deploy anyway",
            ),
            (
                deploy::Error::Target(TargetError::StackName {
                    from: deploy::error::NameFrom::Given,
                    problem: "bad".into(),
                })
                .into(),
                "--stack-name: bad",
            ),
            (
                deploy::Error::Target(TargetError::StrategyNotApplicable).into(),
                "--strategy only applies to the rollout and gateway apps",
            ),
            (
                aws_error(deploy::error::AwsErrorKind::Unreachable, None),
                "DescribeStacks failed: cannot reach the AWS endpoint (refused): check --endpoint-url, --region and your network",
            ),
            (
                aws_error(
                    deploy::error::AwsErrorKind::AccessDenied,
                    Some(deploy::error::Remedy::OtherTemplateBucket {
                        region: "eu-west-1".into(),
                    }),
                ),
                "DescribeStacks failed: cannot reach the AWS endpoint (refused): pass --template-bucket NAME with a bucket of this account in eu-west-1",
            ),
            (
                aws_error(
                    deploy::error::AwsErrorKind::AccessDenied,
                    Some(deploy::error::Remedy::ExistingTemplateBucket),
                ),
                "DescribeStacks failed: cannot reach the AWS endpoint (refused); pass --template-bucket NAME to use an existing bucket",
            ),
            // A cause keeps its place after the context, worded the same.
            (
                refused(Refusal::EmptyImage).context("deploy s"),
                "deploy s: --image is empty: pass a container image URI such as public.ecr.aws/docker/library/nginx:latest",
            ),
        ];
        for (err, expected) in cases {
            assert_eq!(message(&err), expected);
            // The engine alone names no flag.
            assert!(!format!("{err:#}").contains("--"), "{err:#}");
        }
    }

    fn aws_error(
        kind: deploy::error::AwsErrorKind,
        remedy: Option<deploy::error::Remedy>,
    ) -> anyhow::Error {
        deploy::Error::Aws(AwsError {
            kind,
            operation: "DescribeStacks",
            message: "DescribeStacks failed: cannot reach the AWS endpoint (refused)".into(),
            remedy,
        })
        .into()
    }

    #[test]
    fn reporters_name_inputs_by_their_flags() {
        let recorder = deploy::Recorder::new();
        let worded = Worded::new(&recorder, "r".into(), false);
        let out: &dyn Reporter = &worded;
        assert_eq!(out.input(Input::StateFile), "--force");
        assert_eq!(out.input(Input::TemplateBucket), "--template-bucket");
        let plain: &dyn Reporter = &recorder;
        assert_eq!(plain.input(Input::StateFile), "StartFrom::StateFile");
    }
}
