//! The collector every check writes to: one problem per field path, in the order found

use std::collections::BTreeSet;

use super::errors::ValidationError;
use crate::deployment::Percent;
use crate::rules;

/// Walks a `StackSpec` once (`stack.rs` holds the walk, the sibling modules one concern each)
/// and keeps every problem, so `Stack::new` reports them all at once.
#[derive(Default)]
pub(super) struct Validator {
    pub(super) errors: Vec<ValidationError>,
}

impl Validator {
    pub(super) fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(super) fn check(&mut self, path: impl Into<String>, result: Result<(), String>) {
        if let Err(message) = result {
            self.err(path, message);
        }
    }

    /// Reports a name used twice in one list, at the second use.
    pub(super) fn unique<'a>(
        &mut self,
        what: &str,
        items: impl IntoIterator<Item = (String, &'a str)>,
    ) {
        let mut seen = BTreeSet::new();
        for (path, name) in items {
            if !seen.insert(name) {
                self.err(path, format!("duplicate {what} {}", rules::quote(name)));
            }
        }
    }
}

/// `value` within `min`-100.
pub(super) fn percent_range(value: Percent, min: Percent, what: &str) -> Result<(), String> {
    if (min..=Percent::HUNDRED).contains(&value) {
        Ok(())
    } else {
        Err(format!("{what} {value} is out of range {min}-100"))
    }
}
