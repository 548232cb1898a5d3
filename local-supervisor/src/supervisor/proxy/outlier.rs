//! Outlier detection: a task whose requests fail in a row is taken out of its revision's routing
//! choice for a while, before its health check decides (Envoy's consecutive-failure ejection).
//!
//! Service Connect's proxy is Envoy, and AWS says only that it ejects failing endpoints ("built-in
//! health checks, outlier detection, and retry mechanisms", AWS Containers blog, "Migrating from
//! AWS App Mesh to Amazon ECS Service Connect"); the settings are AWS's and not documented, so the
//! rule here is Envoy's documented defaults (Envoy API reference, `config.cluster.v3.
//! OutlierDetection`; architecture overview, "Outlier detection" and "Panic threshold"):
//!
//! - **What counts**: 5 failures in a row that the proxy sees itself (Envoy's locally originated
//!   errors: connection refused, reset or closed before the answer's head, no first byte within
//!   the per-request timeout). A task's own 5xx answers do not count, so a faulty version's
//!   answers keep reaching the error-rate alarm the rollout is judged by (Envoy's
//!   `consecutive_5xx` would count them too: README, local-vs-AWS table). Any answer head from
//!   the task resets the count.
//! - **For how long**: 30 s times the number of times the task was ejected, at most 300 s
//!   (`base_ejection_time`, `max_ejection_time`); then it takes requests again, and 5 more
//!   failures in a row eject it again.
//! - **How many**: at most 10% of a revision's tasks, and always at least one
//!   (`max_ejection_percent`: "will eject at least one host regardless of the value").
//! - **None left**: when every task of a revision is ejected, the revision is routed as if none
//!   were (Envoy's panic threshold: below it, the load balancer ignores health), so a one-task
//!   revision is never refused outright.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// When to eject a task and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutlierRule {
    /// Failures in a row that eject a task.
    pub consecutive_failures: u32,
    /// The first ejection's length; the n-th lasts n times as long.
    pub base_ejection: Duration,
    /// No ejection lasts longer.
    pub max_ejection: Duration,
    /// The share of a revision's tasks that may be ejected at once (at least one task).
    pub max_ejection_percent: u32,
}

impl OutlierRule {
    /// Envoy's defaults (`consecutive_5xx` 5, `base_ejection_time` 30 s, `max_ejection_time`
    /// 300 s, `max_ejection_percent` 10).
    pub(crate) const ENVOY: OutlierRule = OutlierRule {
        consecutive_failures: 5,
        base_ejection: Duration::from_secs(30),
        max_ejection: Duration::from_secs(300),
        max_ejection_percent: 10,
    };

    /// How many of `tasks` tasks may be ejected at once.
    fn ejectable(&self, tasks: usize) -> usize {
        (tasks * self.max_ejection_percent as usize / 100).max(1)
    }

    fn ejection(&self, times: u32) -> Duration {
        self.base_ejection
            .saturating_mul(times)
            .min(self.max_ejection.max(self.base_ejection))
    }
}

impl Default for OutlierRule {
    fn default() -> Self {
        OutlierRule::ENVOY
    }
}

/// The clock ejections are kept on: milliseconds since the first use (0 means "not ejected").
fn now_ms(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// One task's failures and ejection, shared by every proxy thread. The routing choice reads it
/// on every request, so it is atomics only; ejecting takes [`Ejections`]' lock.
#[derive(Debug, Default)]
pub(crate) struct Outlier {
    consecutive: AtomicU32,
    /// How many times the task was ejected.
    ejections: AtomicU32,
    /// Until when it is ejected, on [`now_ms`]'s clock; 0 when it never was.
    ejected_until: AtomicU64,
}

impl Outlier {
    /// Whether the task is out of the routing choice at `now`.
    pub(crate) fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.load(Ordering::Relaxed) > now_ms(epoch(), now)
    }

    /// The task answered: its run of failures ends.
    pub(crate) fn answered(&self) {
        // A read before the write keeps the common case (no failure) from dirtying the line.
        if self.consecutive.load(Ordering::Relaxed) != 0 {
            self.consecutive.store(0, Ordering::Relaxed);
        }
    }
}

/// What [`Ejections::failed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The run of failures is still short of the rule.
    Counted(u32),
    /// The task is out of the routing choice for this long.
    Ejected(Duration),
    /// The run reached the rule, but the revision already has as many tasks ejected as it may.
    Capped,
}

/// Decides ejections one at a time, so two proxy threads cannot both eject the last task the
/// cap allows.
#[derive(Debug, Default)]
pub(crate) struct Ejections {
    rule: OutlierRule,
    deciding: Mutex<()>,
}

impl Ejections {
    pub(crate) fn new(rule: OutlierRule) -> Ejections {
        Ejections {
            rule,
            deciding: Mutex::new(()),
        }
    }

    /// Counts a failure of `task`, one of `revision` (its revision's tasks, `task` among them),
    /// and ejects it when the rule says so.
    pub(crate) fn failed<'a>(
        &self,
        task: &Outlier,
        revision: impl IntoIterator<Item = &'a Outlier>,
        now: Instant,
    ) -> Verdict {
        let run = task.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        if run < self.rule.consecutive_failures {
            return Verdict::Counted(run);
        }
        let _deciding = self.deciding.lock().unwrap_or_else(|e| e.into_inner());
        if task.is_ejected(now) {
            // Requests that were already under way when it was ejected.
            return Verdict::Counted(run);
        }
        let (mut tasks, mut ejected) = (0, 0);
        for other in revision {
            tasks += 1;
            ejected += usize::from(other.is_ejected(now));
        }
        if ejected >= self.rule.ejectable(tasks) {
            return Verdict::Capped;
        }
        let times = task
            .ejections
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let length = self.rule.ejection(times);
        task.ejected_until
            .store(now_ms(epoch(), now + length), Ordering::Relaxed);
        task.consecutive.store(0, Ordering::Relaxed);
        Verdict::Ejected(length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(
        ejections: &Ejections,
        task: &Outlier,
        all: &[Outlier],
        now: Instant,
        n: u32,
    ) -> Verdict {
        let mut verdict = Verdict::Counted(0);
        for _ in 0..n {
            verdict = ejections.failed(task, all, now);
        }
        verdict
    }

    #[test]
    fn five_failures_in_a_row_eject_and_an_answer_between_resets_the_run() {
        let ejections = Ejections::new(OutlierRule::ENVOY);
        let tasks: Vec<Outlier> = (0..2).map(|_| Outlier::default()).collect();
        let now = Instant::now();
        assert_eq!(
            fail(&ejections, &tasks[0], &tasks, now, 4),
            Verdict::Counted(4)
        );
        tasks[0].answered();
        assert_eq!(
            fail(&ejections, &tasks[0], &tasks, now, 4),
            Verdict::Counted(4)
        );
        assert!(!tasks[0].is_ejected(now));
        assert_eq!(
            ejections.failed(&tasks[0], &tasks, now),
            Verdict::Ejected(Duration::from_secs(30))
        );
        assert!(tasks[0].is_ejected(now));
        assert!(tasks[0].is_ejected(now + Duration::from_millis(29_900)));
        assert!(!tasks[0].is_ejected(now + Duration::from_secs(31)));
    }

    #[test]
    fn each_ejection_lasts_longer_up_to_the_maximum() {
        let ejections = Ejections::new(OutlierRule::ENVOY);
        let tasks = [Outlier::default()];
        let mut now = Instant::now();
        let mut lengths = Vec::new();
        for _ in 0..12 {
            match fail(&ejections, &tasks[0], &tasks, now, 5) {
                Verdict::Ejected(length) => {
                    lengths.push(length.as_secs());
                    now += length + Duration::from_secs(1);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            lengths,
            [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300]
        );
    }

    #[test]
    fn at_most_a_tenth_of_a_revision_and_at_least_one_task_is_ejected() {
        let rule = OutlierRule::ENVOY;
        let ejectable: Vec<usize> = [1, 2, 9, 10, 19, 20, 35].map(|n| rule.ejectable(n)).into();
        assert_eq!(ejectable, [1, 1, 1, 1, 1, 2, 3]);

        let ejections = Ejections::new(rule);
        let tasks: Vec<Outlier> = (0..3).map(|_| Outlier::default()).collect();
        let now = Instant::now();
        assert!(matches!(
            fail(&ejections, &tasks[0], &tasks, now, 5),
            Verdict::Ejected(_)
        ));
        assert_eq!(fail(&ejections, &tasks[1], &tasks, now, 5), Verdict::Capped);
        assert!(!tasks[1].is_ejected(now));
        // Once the first one is back, the next failure of the second ejects it.
        let later = now + Duration::from_secs(31);
        assert!(matches!(
            ejections.failed(&tasks[1], &tasks, later),
            Verdict::Ejected(_)
        ));
    }
}
