//! How the command line words the commands the engine's hints name (`cargo xtask status
//! gateway --watch`) and the target its messages name (`gateway --stack-name g2`): the engine
//! names them as data ([`deploy::report::Next`]), a [`Worded`] reporter turns them into text

use deploy::report::{Next, Progress, Reporter, Verb};

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

    fn target_name(&self, _stack: &str) -> String {
        self.label.clone()
    }

    fn show(&self, progress: Progress<'_>) {
        self.inner.show(progress);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
