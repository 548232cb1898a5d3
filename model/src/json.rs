//! Reading a stack description from JSON: errors located by field path, in words a user can act on

use std::fmt;

use serde::de::DeserializeOwned;

use crate::spec::StackSpec;

/// The most characters of one quoted piece of user text a JSON error repeats.
const QUOTED_MAX_CHARS: usize = 80;

/// JSON that does not fit the model's types: where (field path and text position) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct JsonError {
    /// `services[0].cpu`; empty when the text is not JSON at all.
    pub path: String,
    /// serde's message, with integers shown as written and user text cut and escaped.
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(
            f,
            "{} (line {} column {})",
            self.message, self.line, self.column
        )
    }
}

impl StackSpec {
    /// Parses a JSON stack description (not yet validated: pass it to [`crate::Stack::new`]).
    pub fn from_json(text: &str) -> Result<StackSpec, JsonError> {
        parse(text)
    }
}

/// Deserializes `text`, keeping the path of the field that failed.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| (e.path().to_string(), e.into_inner()))
        .and_then(|v| de.end().map(|()| v).map_err(|e| (String::new(), e)));
    value.map_err(|(path, inner)| {
        let (line, column) = (inner.line(), inner.column());
        let message = inner.to_string();
        let message = message
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&message);
        let message = integer_as_written(message, text, line, column);
        JsonError {
            // serde_path_to_error shows the document root as `.` (or `?` before any field).
            path: if matches!(path.as_str(), "." | "?") {
                String::new()
            } else {
                path
            },
            message: tame(&message),
            line,
            column,
        }
    })
}

/// serde_json reads an integer too large for u64 as a float and reports `1e+20`; show the
/// digits the user wrote instead (the error's position is the number's last character).
fn integer_as_written(message: &str, text: &str, line: usize, column: usize) -> String {
    const FLOAT: &str = "invalid type: floating point `";
    let Some(rest) = message.strip_prefix(FLOAT) else {
        return message.to_owned();
    };
    let Some((_, expected)) = rest.split_once('`') else {
        return message.to_owned();
    };
    let token = text
        .lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.get(..column))
        .map(|l| {
            let start = l
                .rfind(|c: char| !(c.is_ascii_digit() || c == '-'))
                .map_or(0, |i| i + 1);
            &l[start..]
        })
        .filter(|t| {
            let digits = t.strip_prefix('-').unwrap_or(t);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        });
    match token {
        Some(token) => format!("invalid value: integer `{token}`{expected}"),
        None => message.to_owned(),
    }
}

/// Cuts every backticked or double-quoted piece of `message` to 80 characters and escapes
/// control characters, so a hostile value can neither flood nor drive the terminal.
fn tame(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(512));
    let mut quote: Option<char> = None;
    let mut quoted_len = 0;
    for c in message.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
            }
            None if c == '`' || c == '"' => {
                quote = Some(c);
                quoted_len = 0;
            }
            Some(_) => {
                quoted_len += 1;
                if quoted_len == QUOTED_MAX_CHARS + 1 {
                    out.push('…');
                }
                if quoted_len > QUOTED_MAX_CHARS {
                    continue;
                }
            }
            None => {}
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
