//! What validation reports: each problem with its field path, all of them at once, and why a
//! JSON description did not load

use std::fmt;

use crate::json::JsonError;

/// One problem in a stack description, located by its field path (`services[1].port.name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a stack description, in field order (the order of the fields in the
/// spec types and in JSON); a duplicate name is reported at its second use, after its list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "stack description has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// Why a JSON stack description could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("stack description is not valid JSON for the model: {0}")]
    Json(#[from] JsonError),
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
}
