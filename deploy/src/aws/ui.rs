//! What a command prints and asks: stdout for results, stderr for prompts and warnings, and a
//! capture mode so in-process tests can read everything a flow printed

use std::fmt::Display;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};

#[derive(Debug, Clone)]
pub struct Ui {
    capture: Option<Arc<Mutex<String>>>,
    /// Progress bars and prompts are for people: only when stderr/stdin are terminals.
    pub interactive: bool,
}

impl Ui {
    pub fn terminal() -> Ui {
        Ui {
            capture: None,
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        }
    }

    /// A non-interactive UI that records every line, for tests.
    #[cfg(test)]
    pub fn capture() -> (Ui, Arc<Mutex<String>>) {
        let buffer = Arc::new(Mutex::new(String::new()));
        (
            Ui {
                capture: Some(Arc::clone(&buffer)),
                interactive: false,
            },
            buffer,
        )
    }

    /// Whether progress may be drawn with a live bar (stderr is a terminal).
    pub fn fancy_progress(&self) -> bool {
        self.capture.is_none() && std::io::stderr().is_terminal()
    }

    pub fn line(&self, text: impl Display) {
        match &self.capture {
            Some(buffer) => {
                let mut buffer = buffer.lock().unwrap_or_else(|e| e.into_inner());
                buffer.push_str(&text.to_string());
                buffer.push('\n');
            }
            None => println!("{text}"),
        }
    }

    /// Text that already ends with a newline (a formatted diff).
    pub fn block(&self, text: &str) {
        self.line(text.trim_end_matches('\n'));
    }

    /// Warnings and notes: stderr, so `--json` output on stdout stays parseable.
    pub fn note(&self, text: impl Display) {
        match &self.capture {
            Some(_) => self.line(text),
            None => eprintln!("{text}"),
        }
    }

    /// Asks a yes/no question unless `yes` already answered it. Without a terminal nobody can
    /// answer, so that is a refusal with the flag to pass instead; `action` completes
    /// "pass --yes to ...".
    pub fn confirm(&self, question: &str, yes: bool, action: &str) -> Result<bool> {
        if yes {
            return Ok(true);
        }
        if !self.interactive {
            bail!(
                "refusing to {action} without confirmation: stdin is not a terminal, so nobody can answer; pass --yes to {action} anyway"
            );
        }
        eprint!("{question} [y/N] ");
        std::io::stderr().flush().context("write the prompt")?;
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .context("read the answer from stdin")?;
        Ok(matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }
}
