//! An error and its sources on one line, for logs (`connect failed: connection refused`).

use std::error::Error;

/// `err`'s message followed by each of its sources', separated by `: `, on one line: newlines
/// become spaces, and a source whose message its wrapper already contains is said once (SDK and
/// hyper wrappers often repeat their source). This is also what the AWS SDK's
/// `DisplayErrorContext` prints before it appends the whole error's `Debug` dump.
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string().replace(['\n', '\r'], " ");
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{message}")]
    struct Layer {
        message: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn layers(messages: &[&'static str]) -> Option<Box<Layer>> {
        messages.iter().rev().fold(None, |source, &message| {
            Some(Box::new(Layer { message, source }))
        })
    }

    #[test]
    fn chain() {
        fn check(messages: &[&'static str], expected: &str) {
            let err = layers(messages).expect("at least one layer");
            assert_eq!(error_chain(&*err), expected);
        }
        check(&["request failed"], "request failed");
        check(
            &["request failed", "connect", "connection refused"],
            "request failed: connect: connection refused",
        );
        check(
            &["dispatch failure: connection refused", "connection refused"],
            "dispatch failure: connection refused",
        );
        check(&["line one\nline two", "cause"], "line one line two: cause");
    }
}
