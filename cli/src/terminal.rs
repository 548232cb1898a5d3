//! The command line's reporter: the engine's plain [`deploy::Terminal`] (results on stdout,
//! progress on stderr, questions on stdin) plus live bars on stderr when it is a terminal: one
//! for the resources of a stack operation, one per followed rollout until the follower sends the
//! whole stack's tree (`Progress::Tree`), which is then redrawn in place, the lines printed above
//! them

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use deploy::report::{Progress, Reporter};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use model::RolloutProgress;

/// The terminal a command reports to.
#[derive(Debug)]
pub struct Terminal {
    plain: deploy::Terminal,
    /// Whether stdout and stderr are both terminals: bars are drawn only then. Output piped
    /// to a file or a CI log gets the plain lines, one per change, on stdout.
    live: bool,
    bars: Mutex<Bars>,
}

/// The bars on screen: at most one stack operation and the rollouts being followed.
#[derive(Debug, Default)]
struct Bars {
    stack: Option<ProgressBar>,
    rollouts: Option<(MultiProgress, BTreeMap<String, ProgressBar>)>,
    /// The whole stack's tree, redrawn in place under the rollouts' lines once a follower
    /// sends one (it then stands in for the rollouts' bars).
    tree: Option<ProgressBar>,
}

impl Terminal {
    pub fn new() -> Terminal {
        Terminal {
            plain: deploy::Terminal::new(),
            live: std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
            bars: Mutex::default(),
        }
    }

    fn bars(&self) -> std::sync::MutexGuard<'_, Bars> {
        self.bars.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for Terminal {
    fn default() -> Terminal {
        Terminal::new()
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Reporter for Terminal {
    fn result(&self, text: &str) {
        self.plain.result(text);
    }

    fn progress(&self, text: &str) {
        self.plain.progress(text);
    }

    fn ask(&self, question: &str, action: &str) -> deploy::Result<bool> {
        self.plain.ask(question, action)
    }

    fn can_ask(&self) -> bool {
        self.plain.can_ask()
    }

    fn show(&self, progress: Progress<'_>) {
        if !self.live {
            return self.plain.show(progress);
        }
        let mut bars = self.bars();
        match progress {
            Progress::StackStarted { resources } => {
                let bar = ProgressBar::with_draw_target(
                    Some(resources as u64),
                    ProgressDrawTarget::stderr(),
                );
                bar.set_style(style("{spinner} [{bar:30}] {pos}/{len} resources {msg}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                bars.stack = Some(bar);
            }
            Progress::StackEvent(line) => match &bars.stack {
                Some(bar) => bar.println(line),
                None => self.result(line),
            },
            Progress::StackResources {
                finished,
                in_progress,
            } => {
                if let Some(bar) = &bars.stack {
                    bar.set_position(finished as u64);
                    let busy: Vec<&str> = in_progress.iter().copied().take(4).collect();
                    bar.set_message(if busy.is_empty() {
                        String::new()
                    } else {
                        format!("in progress: {}", busy.join(", "))
                    });
                }
            }
            Progress::StackEnded => {
                if let Some(bar) = bars.stack.take() {
                    bar.finish_and_clear();
                }
            }
            Progress::Rollout { progress, lines } => {
                let tree_drawn = bars.tree.is_some();
                let (multi, each) = bars.rollouts.get_or_insert_with(|| {
                    (
                        MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                        BTreeMap::new(),
                    )
                });
                for line in lines {
                    let _ = multi.println(line);
                }
                if !tree_drawn {
                    rollout_bar(multi, each, progress);
                }
            }
            Progress::Tree(view) => {
                let Bars { rollouts, tree, .. } = &mut *bars;
                let (multi, each) = rollouts.get_or_insert_with(|| {
                    (
                        MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                        BTreeMap::new(),
                    )
                });
                for bar in std::mem::take(each).into_values() {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
                let bar = tree.get_or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(style("{msg}"));
                    bar
                });
                // One message of several lines: indicatif redraws the block in place.
                bar.set_message(view.lines().join("\n"));
            }
            Progress::RolloutsEnded => {
                let tree = bars.tree.take();
                if let Some((multi, each)) = bars.rollouts.take() {
                    for bar in each.values() {
                        bar.finish_and_clear();
                    }
                    // The last tree stays on screen: how the stack stood when the watch ended
                    // (clearing the group would erase it too).
                    match tree {
                        Some(tree) => tree.finish(),
                        None => {
                            let _ = multi.clear();
                        }
                    }
                }
            }
        }
    }
}

/// A rollout's bar: its production share and summary, finished once it ends.
fn rollout_bar(
    multi: &MultiProgress,
    each: &mut BTreeMap<String, ProgressBar>,
    progress: &RolloutProgress,
) {
    let bar = each.entry(progress.service.clone()).or_insert_with(|| {
        let bar = multi.add(ProgressBar::new(1000));
        bar.set_style(style("{spinner} [{bar:30}] {msg}"));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    bar.set_position(u64::from(progress.production_percent.tenths()));
    bar.set_message(deploy::rollout_view::summary(progress));
    if progress.status.is_terminal() {
        bar.finish();
    }
}
