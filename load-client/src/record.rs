//! Where a finished request is counted: the thread's [`Tally`] and, with `--timeline`, the
//! thread's [`Lane`] of per-second counts.

use std::sync::Arc;
use std::time::Duration;

use crate::tally::{ErrorKind, Outcome, Tally, is_version_answer};
use crate::timeline::Lane;

/// One thread's (or the polling loop's) counts.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) tally: Tally,
    lane: Option<Arc<Lane>>,
}

impl Recorder {
    /// Counting into a fresh tally and, when given, a timeline lane.
    pub(crate) fn new(lane: Option<Arc<Lane>>) -> Self {
        Self {
            tally: Tally::new(),
            lane,
        }
    }

    /// An HTTP answer with its tally key.
    pub(crate) fn response(&mut self, status: u16, key: &str, latency: Duration) {
        self.tally.record_response(status, key, latency);
        if let Some(lane) = &self.lane {
            lane.record(is_version_answer(status, key).then_some(key));
        }
    }

    /// A request without an HTTP answer.
    pub(crate) fn failure(&mut self, kind: ErrorKind) {
        self.tally.record_failure(kind);
        if let Some(lane) = &self.lane {
            lane.record(None);
        }
    }

    /// Either of the above.
    pub(crate) fn outcome(&mut self, outcome: &Outcome, latency: Duration) {
        match outcome {
            Outcome::Response { status, key } => self.response(*status, key, latency),
            Outcome::Failed { kind } => self.failure(*kind),
        }
    }
}
