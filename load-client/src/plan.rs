//! What every load thread reads: the target, timeout, headers, request budget and pacing.
//! Its own module so both request paths (`h1` and reqwest's in `run`) depend on it and not on
//! each other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Url;
use tokio::time::MissedTickBehavior;

use crate::config::{Config, Engine, Header};

/// State every load thread reads.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) url: Url,
    pub(crate) timeout: Duration,
    pub(crate) engine: Engine,
    pub(crate) headers: Vec<Header>,
    /// Requests started so far, across threads; compared with `limit`.
    started: AtomicU64,
    limit: Option<u64>,
    /// Pause between requests on one connection when a rate is set.
    period: Option<Duration>,
}

impl Plan {
    /// The plan for a checked `config` (see [`Config::check`]).
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            url: config.target.url().clone(),
            timeout: config.timeout,
            engine: config.engine,
            headers: config.headers.clone(),
            started: AtomicU64::new(0),
            limit: config.requests,
            period: config.pacing_period(),
        }
    }

    /// Claim the right to start one more request; false once `--requests` are all claimed.
    pub(crate) fn take_ticket(&self) -> bool {
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        self.limit.is_none_or(|limit| n < limit)
    }

    /// Requests started so far (loops that find the limit reached still bump the counter once).
    pub(crate) fn sent(&self) -> u64 {
        self.started
            .load(Ordering::Relaxed)
            .min(self.limit.unwrap_or(u64::MAX))
    }

    /// The per-connection pacer for `--rate`, if any.
    pub(crate) fn pacer(&self) -> Option<tokio::time::Interval> {
        // `Config::check` keeps the period non-zero, which `interval` requires.
        self.period.filter(|p| !p.is_zero()).map(|p| {
            let mut i = tokio::time::interval(p);
            // Timer resolution is 1 ms: catching up keeps the average rate for short periods.
            i.set_missed_tick_behavior(MissedTickBehavior::Burst);
            i
        })
    }
}
