//! Where a followed rollout's events go on the command line: `--output json` writes each as
//! one JSON object per line on stdout, `--notify URL` posts each to webhooks ([`crate::notify`])
//!
//! With `--output json` stdout carries nothing but the events, so a pipe (`| jq`) reads only
//! them; every line the command would print as its result goes to stderr instead, beside its
//! progress, so a person or a CI log still reads what happened.

use std::io::Write;
use std::sync::Mutex;

use deploy::Event;
use deploy::report::{Progress, Reporter};
use serde::{Deserialize, Serialize};

use crate::notify::{Delivery, Notifier, NotifyUrls};

/// What `--output` writes on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// The usual lines.
    #[default]
    Text,
    /// One JSON object per rollout event (deploy/events.schema.json); all else on stderr.
    Json,
}

/// A reporter that passes everything to `inner` and sends each event where the command line
/// asked: as a JSON line on `stdout`, to the webhooks.
pub struct EventsOut<'a> {
    inner: &'a dyn Reporter,
    json: Option<Mutex<Box<dyn Write + Send + 'a>>>,
    /// Whether `inner` draws on a terminal (stderr): then it shows progress itself.
    live: bool,
    notifier: Option<Notifier>,
}

impl std::fmt::Debug for EventsOut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsOut")
            .field("json", &self.json.is_some())
            .field("live", &self.live)
            .field("notifier", &self.notifier)
            .finish_non_exhaustive()
    }
}

impl<'a> EventsOut<'a> {
    /// Events as `output` and `notify` ask, to stdout and the webhooks; `live`: `inner` draws
    /// bars on stderr (a terminal).
    pub fn new(
        inner: &'a dyn Reporter,
        output: Output,
        notify: &[NotifyUrls],
        live: bool,
    ) -> EventsOut<'a> {
        let stdout: Box<dyn Write + Send> = Box::new(std::io::stdout());
        EventsOut::to(
            inner,
            (output == Output::Json).then_some(stdout),
            notify,
            live,
            Delivery::STANDARD,
        )
    }

    /// [`EventsOut::new`] writing the JSON lines to `json` (if any), delivering as `delivery`.
    pub fn to(
        inner: &'a dyn Reporter,
        json: Option<Box<dyn Write + Send + 'a>>,
        notify: &[NotifyUrls],
        live: bool,
        delivery: Delivery,
    ) -> EventsOut<'a> {
        let urls: Vec<String> = notify.iter().flat_map(|n| n.0.iter().cloned()).collect();
        let notifier = (!urls.is_empty())
            .then(|| Notifier::start(&urls, delivery, |line: &str| eprintln!("{line}")));
        EventsOut {
            inner,
            json: json.map(Mutex::new),
            live,
            notifier,
        }
    }

    /// Waits, bounded, for the webhooks' last deliveries (the command's end).
    pub fn finish(self) {
        if let Some(notifier) = self.notifier {
            notifier.finish(Delivery::STANDARD.drain);
        }
    }
}

impl Reporter for EventsOut<'_> {
    fn result(&self, text: &str) {
        if self.json.is_some() {
            self.inner.progress(text);
        } else {
            self.inner.result(text);
        }
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

    fn show(&self, progress: Progress<'_>) {
        if self.json.is_none() || self.live {
            return self.inner.show(progress);
        }
        // Plain output puts these lines on stdout: with JSON they go to stderr.
        match progress {
            Progress::StackEvent(line) => self.inner.progress(line),
            Progress::Rollout { lines, .. } => {
                for line in lines {
                    self.inner.progress(line);
                }
            }
            Progress::StackStarted { .. }
            | Progress::StackResources { .. }
            | Progress::StackEnded
            | Progress::RolloutsEnded
            // The tree is drawn on a terminal only (`live`); plain output has the lines.
            | Progress::Tree(_) => {}
        }
    }

    fn event(&self, event: &Event) {
        if let Some(json) = &self.json
            && let Ok(line) = serde_json::to_string(event)
        {
            let mut out = json.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        if let Some(notifier) = &self.notifier {
            notifier.send(event);
        }
        self.inner.event(event);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deploy::Recorder;
    use deploy::events::{EventKind, example as event};
    use model::{DeploymentStatus, Percent, StrategyKind};

    use super::*;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Keeps results and progress apart (stdout and stderr on a terminal).
    #[derive(Default)]
    struct Split {
        results: Mutex<Vec<String>>,
        progress: Mutex<Vec<String>>,
        events: Recorder,
    }

    impl Reporter for Split {
        fn result(&self, text: &str) {
            self.results.lock().unwrap().push(text.to_owned());
        }
        fn progress(&self, text: &str) {
            self.progress.lock().unwrap().push(text.to_owned());
        }
        fn ask(&self, question: &str, action: &str) -> deploy::Result<bool> {
            self.events.ask(question, action)
        }
        fn can_ask(&self) -> bool {
            false
        }
        fn event(&self, event: &Event) {
            self.events.event(event);
        }
    }

    /// With JSON: the events alone on stdout, one per line; results and rollout lines move to
    /// the inner reporter's progress (stderr); the inner reporter still gets the events.
    #[test]
    fn json_output_puts_only_events_on_stdout() {
        let inner = Split::default();
        let stdout = Shared::default();
        let out = EventsOut::to(
            &inner,
            Some(Box::new(stdout.clone())),
            &[],
            false,
            Delivery::STANDARD,
        );
        let started = event(EventKind::DeploymentStarted {
            strategy: StrategyKind::Linear,
            status: DeploymentStatus::InProgress,
        });
        let done = event(EventKind::Finished {
            status: DeploymentStatus::Successful,
            succeeded: true,
            production_percent: Percent::HUNDRED,
            reason: None,
        });
        let reporter: &dyn Reporter = &out;
        reporter.line("Stack rollout: UPDATE_COMPLETE");
        reporter.show(Progress::StackEvent("UPDATE_IN_PROGRESS web"));
        reporter.event(&started);
        reporter.event(&done);
        out.finish();
        let text = String::from_utf8(stdout.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Event> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines, [started.clone(), done.clone()]);
        assert_eq!(
            *inner.progress.lock().unwrap(),
            ["Stack rollout: UPDATE_COMPLETE", "UPDATE_IN_PROGRESS web"]
        );
        assert!(inner.results.lock().unwrap().is_empty());
        assert_eq!(inner.events.events(), [started, done]);

        // Without JSON the lines stay where they were, and stdout gets no event.
        let inner = Split::default();
        let out = EventsOut::to(&inner, None, &[], false, Delivery::STANDARD);
        let reporter: &dyn Reporter = &out;
        reporter.line("Stack rollout: UPDATE_COMPLETE");
        reporter.event(&event(EventKind::HookAwaitingAction {
            stage: model::DeploymentStage::PostScaleUp,
            hook: None,
        }));
        assert_eq!(
            *inner.results.lock().unwrap(),
            ["Stack rollout: UPDATE_COMPLETE"]
        );
        assert_eq!(inner.events.events().len(), 1);
    }

    #[test]
    fn output_defaults_to_text_and_reads_json() {
        use clap::ValueEnum;
        assert_eq!(Output::default(), Output::Text);
        assert_eq!(Output::from_str("json", false), Ok(Output::Json));
    }
}
