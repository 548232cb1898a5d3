//! The status `GET /status` shows: each published status waits until the data plane applied the
//! routing snapshot published with it, so a reader never sees a step the proxies do not route yet.
//!
//! Without this the status said "100%" a few milliseconds before the data plane switched the last
//! weight, and a client that trusted it counted one answer from the old version after the end.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// How long a published status waits for the data plane before it is shown anyway: a data plane
/// that stopped applying (it is gone, or stuck) must not freeze the status too.
pub(crate) const APPLY_WAIT: Duration = Duration::from_secs(2);

/// The status shown, and the ones published after it with the generation each waits for.
#[derive(Debug)]
pub(crate) struct Shown<S> {
    shown: Arc<S>,
    pending: VecDeque<(u64, Instant, Arc<S>)>,
}

impl<S> Shown<S> {
    pub(crate) fn new(first: S) -> Self {
        Shown {
            shown: Arc::new(first),
            pending: VecDeque::new(),
        }
    }

    /// Queues `status`, published with snapshot `generation`.
    pub(crate) fn publish(&mut self, generation: u64, status: S, now: Instant) {
        self.pending.push_back((generation, now, Arc::new(status)));
    }

    /// The newest status whose snapshot the data plane applied (`applied` is its generation), or
    /// that waited [`APPLY_WAIT`] for it.
    pub(crate) fn current(&mut self, applied: u64, now: Instant) -> Arc<S> {
        while let Some((generation, at, _)) = self.pending.front() {
            if *generation > applied && now.duration_since(*at) < APPLY_WAIT {
                break;
            }
            if let Some((_, _, status)) = self.pending.pop_front() {
                self.shown = status;
            }
        }
        Arc::clone(&self.shown)
    }

    /// The newest status published, applied or not: what an apply answers with, since its caller
    /// asked for exactly that change.
    pub(crate) fn latest(&self) -> Arc<S> {
        Arc::clone(self.pending.back().map_or(&self.shown, |(_, _, s)| s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(published: &[(u64, &'static str)], applied: u64, after: Duration, expected: &str) {
        let start = Instant::now();
        let mut shown = Shown::new("first");
        for (generation, status) in published {
            shown.publish(*generation, status, start);
        }
        assert_eq!(*shown.current(applied, start + after), expected);
    }

    #[test]
    fn a_status_waits_for_its_snapshot() {
        check(&[(1, "one"), (2, "two")], 0, Duration::ZERO, "first");
        check(&[(1, "one"), (2, "two")], 1, Duration::ZERO, "one");
        check(&[(1, "one"), (2, "two")], 2, Duration::ZERO, "two");
        check(&[(1, "one"), (2, "two")], 7, Duration::ZERO, "two");
    }

    #[test]
    fn a_data_plane_that_stopped_applying_does_not_freeze_the_status() {
        check(&[(1, "one"), (2, "two")], 0, APPLY_WAIT, "two");
        check(
            &[(1, "one")],
            0,
            APPLY_WAIT - Duration::from_millis(1),
            "first",
        );
    }

    #[test]
    fn an_apply_answers_with_what_it_published() {
        let mut shown = Shown::new("first");
        assert_eq!(*shown.latest(), "first");
        shown.publish(1, "one", Instant::now());
        assert_eq!(*shown.latest(), "one");
        assert_eq!(*shown.current(0, Instant::now()), "first");
    }
}
