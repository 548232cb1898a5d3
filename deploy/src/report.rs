//! How the engine talks to whoever runs it: a [`Reporter`] takes result lines, progress notes,
//! live [`Progress`] and yes/no questions; [`Terminal`] puts them on stdout/stderr/stdin as
//! plain lines, [`Recorder`] keeps them for a program or a test
//!
//! The engine never prints by itself, so a program embedding it decides where output goes and
//! whether anybody can be asked. Drawing (live bars) is the embedder's: the command line's
//! terminal (meshtest-cli) draws [`Progress`]; the default shows its lines.

use std::fmt::Display;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;

use model::RolloutProgress;

use crate::error::{Cancelled, Error, NoAnswer, Result};
use crate::events::Event;
pub use crate::input::{Input, Say, library_names};
use crate::stack_view::StackView;

/// Whether a change may go ahead without asking (`--yes`), or must be confirmed by whoever
/// runs the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Confirm {
    /// Ask through the reporter; a reporter nobody can answer refuses.
    #[default]
    Ask,
    /// Go ahead: the caller has already decided (`--yes`).
    Yes,
}

impl Confirm {
    /// `--yes` as a policy.
    pub fn from_yes(yes: bool) -> Confirm {
        if yes { Confirm::Yes } else { Confirm::Ask }
    }
}

/// Receives everything a flow has to say. Results go to [`Reporter::result`], progress and
/// warnings to [`Reporter::progress`]: on a terminal stdout and stderr, so `--json` output stays
/// parseable.
pub trait Reporter: Send + Sync {
    /// One line of the command's result.
    fn result(&self, text: &str);
    /// One line of progress, a warning or a note.
    fn progress(&self, text: &str);
    /// Asks `question`; `action` completes "refusing to ..." when nobody can answer.
    fn ask(&self, question: &str, action: &str) -> Result<bool>;
    /// Whether [`Reporter::ask`] can get an answer: an optional clean-up is skipped with a
    /// hint, rather than failing, when nobody can.
    fn can_ask(&self) -> bool;
    /// `next` as the reader would run it. The engine names commands only as data (which verb
    /// on which stack); whoever runs it words them: the default reads `status demo`, the
    /// command line (meshtest-cli) the command a user types.
    fn command(&self, next: &Next) -> String {
        next.to_string()
    }
    /// `input` as the reader gives it ([`Input`]'s library name by default; the command line:
    /// its flag).
    fn input(&self, input: Input) -> String {
        input.to_string()
    }
    /// Stack `stack` as the reader named it (the command line: the app or file it was given).
    fn target_name(&self, stack: &str) -> String {
        stack.to_owned()
    }
    /// Live progress while a flow waits. The default writes the lines it carries as results
    /// (one per stack event, one per change of a rollout) and ignores the rest; a reporter that
    /// draws bars shows the lines above them.
    fn show(&self, progress: Progress<'_>) {
        match progress {
            Progress::StackEvent(line) => self.result(line),
            Progress::Rollout { lines, .. } => {
                for line in lines {
                    self.result(line);
                }
            }
            Progress::StackStarted { .. }
            | Progress::StackResources { .. }
            | Progress::StackEnded
            | Progress::Tree(_)
            | Progress::RolloutsEnded => {}
        }
    }
    /// One typed event of a followed rollout ([`crate::events`]), in the order they happen,
    /// after the [`Progress::Rollout`] of the reading it came from. The default ignores it: a
    /// program or the command line (JSON lines, webhooks) takes it.
    fn event(&self, event: &Event) {
        let _ = event;
    }
}

/// A command that would help next, as data: which verb, on which stack. [`Reporter::command`]
/// words it, so the engine holds no command-line text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next {
    pub verb: Verb,
    pub stack: String,
}

/// What a hint asks the reader to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Deploy,
    /// Deploy with a new version (the version is the reader's choice).
    DeployVersion,
    Destroy,
    Status,
    /// Follow the stack's rollouts.
    Watch,
    Continue,
    Rollback,
    /// Check the stack's alarms.
    Verify,
}

impl Verb {
    /// The verb as one word (`DeployVersion` is `deploy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Deploy | Verb::DeployVersion => "deploy",
            Verb::Destroy => "destroy",
            Verb::Status => "status",
            Verb::Watch => "watch",
            Verb::Continue => "continue",
            Verb::Rollback => "rollback",
            Verb::Verify => "verify",
        }
    }

    /// This verb on `stack`.
    pub fn on(self, stack: impl Into<String>) -> Next {
        Next {
            verb: self,
            stack: stack.into(),
        }
    }
}

impl std::fmt::Display for Next {
    /// `status demo`; `deploy demo with a new version`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb.as_str(), self.stack)?;
        if self.verb == Verb::DeployVersion {
            f.write_str(" with a new version")?;
        }
        Ok(())
    }
}

/// What a flow reports while it waits on a stack or a rollout, in order: a stack's events
/// between `StackStarted` and `StackEnded`, the followed rollouts' readings until `RolloutsEnded`.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A CloudFormation operation on `resources` resources started.
    StackStarted { resources: usize },
    /// One stack event, as a line.
    StackEvent(&'a str),
    /// How many resources have finished, and the logical ids still in progress (sorted).
    StackResources {
        finished: usize,
        in_progress: &'a [&'a str],
    },
    /// The stack operation reached a terminal status (or the wait stopped).
    StackEnded,
    /// The latest reading of one followed rollout, with the lines it adds (none when nothing
    /// but a countdown moved).
    Rollout {
        progress: &'a RolloutProgress,
        lines: &'a [String],
    },
    /// The whole stack after each reading of its followed rollouts: what a terminal redraws in
    /// place ([`StackView::lines`]). Plain output skips it: the `Rollout` lines say each change.
    Tree(&'a StackView),
    /// Every followed rollout ended (or the wait stopped).
    RolloutsEnded,
}

/// What every flow calls: formatting on top of the trait's three methods, in one place.
impl dyn Reporter + '_ {
    pub fn line(&self, text: impl Display) {
        self.result(&text.to_string());
    }

    /// Text that already ends with a newline (a formatted diff).
    pub fn block(&self, text: &str) {
        self.result(text.trim_end_matches('\n'));
    }

    pub fn note(&self, text: impl Display) {
        self.progress(&text.to_string());
    }

    /// Whether to go ahead: `Confirm::Yes` does without asking; otherwise the reporter asks.
    pub fn confirm(&self, question: &str, policy: Confirm, action: &str) -> Result<bool> {
        match policy {
            Confirm::Yes => Ok(true),
            Confirm::Ask => self.ask(question, action),
        }
    }
}

/// The terminal as plain lines: results on stdout, progress on stderr, questions answered on
/// stdin when both stdin and stderr are terminals. It draws nothing (meshtest-cli's terminal
/// adds live bars on top of it).
#[derive(Debug, Clone, Copy)]
pub struct Terminal {
    interactive: bool,
}

impl Terminal {
    pub fn new() -> Terminal {
        Terminal {
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        }
    }
}

impl Default for Terminal {
    fn default() -> Terminal {
        Terminal::new()
    }
}

impl Reporter for Terminal {
    fn result(&self, text: &str) {
        println!("{text}");
    }

    fn progress(&self, text: &str) {
        eprintln!("{text}");
    }

    fn ask(&self, question: &str, action: &str) -> Result<bool> {
        if !self.interactive {
            return Err(Error::Cancelled(Cancelled::Unconfirmed {
                action: action.to_owned(),
                nobody: NoAnswer::NotATerminal,
            }));
        }
        eprint!("{question} [y/N] ");
        std::io::stderr()
            .flush()
            .map_err(|source| Error::Terminal {
                what: "write the prompt",
                source,
            })?;
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|source| Error::Terminal {
                what: "read the answer from stdin",
                source,
            })?;
        Ok(matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }

    fn can_ask(&self) -> bool {
        self.interactive
    }
}

/// Keeps every line, results and progress alike in the order they came, for a program that
/// shows them its own way and for tests. Questions get the answer it was made with.
#[derive(Default)]
pub struct Recorder {
    lines: Mutex<Vec<String>>,
    /// Each stack tree a follower showed ([`Progress::Tree`]), rendered.
    trees: Mutex<Vec<Vec<String>>>,
    events: Mutex<Vec<Event>>,
    answer: Option<bool>,
    wording: Option<Wording>,
    inputs: Option<Inputs>,
}

/// How a [`Recorder`] names the inputs its lines name.
type Inputs = Box<dyn Fn(Input) -> String + Send + Sync>;

/// How a [`Recorder`] words the commands its lines name.
type Wording = Box<dyn Fn(&Next) -> String + Send + Sync>;

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("lines", &self.lock())
            .field("events", &self.events().len())
            .field("answer", &self.answer)
            .field("wording", &self.wording.is_some())
            .field("inputs", &self.inputs.is_some())
            .finish()
    }
}

impl Recorder {
    /// A recorder that refuses every question (use [`Confirm::Yes`] to go ahead).
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// A recorder that answers every question with `answer`.
    pub fn answering(answer: bool) -> Recorder {
        Recorder {
            answer: Some(answer),
            ..Recorder::default()
        }
    }

    /// This recorder, wording commands with `wording` (as a command line would) instead of
    /// [`Next`]'s own words.
    pub fn wording(self, wording: impl Fn(&Next) -> String + Send + Sync + 'static) -> Recorder {
        Recorder {
            wording: Some(Box::new(wording)),
            ..self
        }
    }

    /// This recorder, naming inputs with `inputs` (as a command line would: its flags) instead
    /// of [`Input`]'s library names.
    pub fn inputs(self, inputs: impl Fn(Input) -> String + Send + Sync + 'static) -> Recorder {
        Recorder {
            inputs: Some(Box::new(inputs)),
            ..self
        }
    }

    /// Everything recorded so far, one line per entry.
    pub fn lines(&self) -> Vec<String> {
        self.lock().clone()
    }

    /// Every stack tree shown so far, in order, each as its lines ([`StackView::lines`]): what
    /// a terminal redraws in place, kept apart from the lines.
    pub fn trees(&self) -> Vec<Vec<String>> {
        self.trees.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Everything recorded so far as one text, a newline after each line.
    pub fn text(&self) -> String {
        self.lock().iter().map(|line| format!("{line}\n")).collect()
    }

    /// Every event reported so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Reporter for Recorder {
    fn result(&self, text: &str) {
        self.lock().push(text.to_owned());
    }

    fn progress(&self, text: &str) {
        self.lock().push(text.to_owned());
    }

    fn ask(&self, question: &str, action: &str) -> Result<bool> {
        self.lock().push(format!("{question} [y/N]"));
        match self.answer {
            Some(answer) => Ok(answer),
            None => Err(Error::Cancelled(Cancelled::Unconfirmed {
                action: action.to_owned(),
                nobody: NoAnswer::CannotAsk,
            })),
        }
    }

    fn can_ask(&self) -> bool {
        self.answer.is_some()
    }

    fn show(&self, progress: Progress<'_>) {
        match progress {
            Progress::Tree(view) => self
                .trees
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(view.lines()),
            // The lines, as a plain terminal prints them.
            Progress::StackEvent(line) => self.result(line),
            Progress::Rollout { lines, .. } => {
                for line in lines {
                    self.result(line);
                }
            }
            Progress::StackStarted { .. }
            | Progress::StackResources { .. }
            | Progress::StackEnded
            | Progress::RolloutsEnded => {}
        }
    }

    fn command(&self, next: &Next) -> String {
        match &self.wording {
            Some(wording) => wording(next),
            None => next.to_string(),
        }
    }

    fn input(&self, input: Input) -> String {
        match &self.inputs {
            Some(inputs) => inputs(input),
            None => input.to_string(),
        }
    }

    fn event(&self, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: Confirm, reporter: &Recorder, expected: Result<bool, &str>) {
        let out: &dyn Reporter = reporter;
        let got = out
            .confirm("go?", policy, "deploy")
            .map_err(|e| e.to_string());
        match (got, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
            (got, want) => panic!("got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn confirmation_policy() {
        check(Confirm::Yes, &Recorder::new(), Ok(true));
        check(Confirm::Ask, &Recorder::answering(true), Ok(true));
        check(Confirm::Ask, &Recorder::answering(false), Ok(false));
        check(
            Confirm::Ask,
            &Recorder::new(),
            Err("refusing to deploy without confirmation"),
        );
        assert_eq!(Confirm::from_yes(true), Confirm::Yes);
        assert_eq!(Confirm::from_yes(false), Confirm::Ask);
    }

    #[test]
    fn the_recorder_keeps_lines_in_order() {
        let recorder = Recorder::answering(true);
        let out: &dyn Reporter = &recorder;
        out.line("one");
        out.note(2);
        out.block("three\n");
        assert!(out.confirm("four?", Confirm::Ask, "x").unwrap());
        assert_eq!(recorder.text(), "one\n2\nthree\nfour? [y/N]\n");
    }
}
