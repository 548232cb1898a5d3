//! An error and its sources on one line, for logs (`connect failed: connection refused`).

use std::error::Error;

/// `err`'s message followed by each of its sources', separated by `: `.
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
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
    }
}
