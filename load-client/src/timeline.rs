//! `--timeline`: each second's answers counted by `service:version`, printed once per second as
//! bars (for a person watching a traffic shift) or as JSON lines (for tests and plots).
//!
//! Every thread counts into its own [`Lane`]; the printer drains all lanes once per second.
//! Second `t` holds the requests that finished in `[t, t+1)` after the run's start, read from
//! the one monotonic clock (`Instant`) the run started with.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::TimelineFormat;

/// Characters in one version's bar.
const BAR_WIDTH: u64 = 20;

/// One second of the timeline (`--timeline --json` prints one per line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Second {
    /// Whole seconds since the run started: this second covers `[t, t+1)`.
    pub t: u64,
    /// Requests that finished in this second.
    pub total: u64,
    /// Of those, the ones not answered by a `service:version` (no answer, non-2xx, other body).
    pub errors: u64,
    /// Answers per `service:version` key.
    pub keys: BTreeMap<String, u64>,
}

/// One second's counts from one thread.
#[derive(Debug, Default)]
struct Counts {
    total: u64,
    errors: u64,
    keys: HashMap<Box<str>, u64>,
}

/// Per-second counts of one thread; shared with the printer, which locks it once a second.
#[derive(Debug)]
pub(crate) struct Lane {
    started: Instant,
    seconds: Mutex<BTreeMap<u64, Counts>>,
}

impl Lane {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Counts>> {
        self.seconds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Count a finished request: `Some(key)` for a version's answer, None for a failure.
    pub(crate) fn record(&self, key: Option<&str>) {
        let mut seconds = self.lock();
        // The clock is read under the lock, and the printer takes the lock only after a
        // second has ended: so a request counted in a second is in before it is printed.
        let counts = seconds.entry(self.started.elapsed().as_secs()).or_default();
        counts.total += 1;
        match key {
            None => counts.errors += 1,
            Some(key) => match counts.keys.get_mut(key) {
                Some(n) => *n += 1,
                None => {
                    counts.keys.insert(key.into(), 1);
                }
            },
        }
    }
}

/// The printer's side: all lanes, the next second to print, and every key seen so far (the
/// columns, so a version that has dropped to 0% keeps its place).
#[derive(Debug)]
pub(crate) struct Timeline {
    started: Instant,
    wall: SystemTime,
    format: TimelineFormat,
    lanes: Vec<Arc<Lane>>,
    next: u64,
    columns: BTreeSet<String>,
}

impl Timeline {
    /// A timeline whose second 0 starts at `started`.
    pub(crate) fn new(started: Instant, format: TimelineFormat) -> Self {
        Self {
            started,
            wall: SystemTime::now()
                .checked_sub(started.elapsed())
                .unwrap_or(UNIX_EPOCH),
            format,
            lanes: Vec::new(),
            next: 0,
            columns: BTreeSet::new(),
        }
    }

    /// A new lane for one thread (or the polling loop).
    pub(crate) fn lane(&mut self) -> Arc<Lane> {
        let lane = Arc::new(Lane {
            started: self.started,
            seconds: Mutex::new(BTreeMap::new()),
        });
        self.lanes.push(Arc::clone(&lane));
        lane
    }

    /// When the next unprinted second ends.
    pub(crate) fn next_boundary(&self) -> Instant {
        let end = Duration::from_secs(self.next.saturating_add(1));
        self.started.checked_add(end).unwrap_or(self.started)
    }

    /// Print every second that has ended, empty ones included.
    pub(crate) fn write_ended(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.write_until(self.started.elapsed().as_secs(), out)
    }

    fn write_until(&mut self, end: u64, out: &mut dyn Write) -> io::Result<()> {
        while self.next < end {
            self.write_next(out)?;
        }
        Ok(())
    }

    /// At the end of a run: the seconds that ended, then the current one unless it is empty.
    /// A run stopped at a deadline (`cutoff`) leaves out the seconds that start at or after
    /// it: they would only hold the few requests that finished while the run stopped.
    pub(crate) fn write_rest(
        &mut self,
        cutoff: Option<Instant>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let now = self.started.elapsed().as_secs();
        let end = cutoff.map_or(u64::MAX, |c| {
            let d = c.saturating_duration_since(self.started);
            d.as_secs() + u64::from(d.subsec_nanos() > 0)
        });
        self.write_until(now.min(end), out)?;
        if self.next < end && self.lanes.iter().any(|l| l.lock().contains_key(&self.next)) {
            self.write_next(out)?;
        }
        Ok(())
    }

    fn write_next(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let second = self.take(self.next);
        self.next += 1;
        match self.format {
            TimelineFormat::Json => {
                serde_json::to_writer(&mut *out, &second)?;
                writeln!(out)?;
            }
            TimelineFormat::Human => {
                self.columns.extend(second.keys.keys().cloned());
                let since_epoch = self.wall.duration_since(UNIX_EPOCH).unwrap_or_default()
                    + Duration::from_secs(second.t);
                let line = human_line(&utc_clock(since_epoch), &second, &self.columns);
                writeln!(out, "{line}")?;
            }
        }
        out.flush()
    }

    /// Second `t` merged over all lanes, removed from them.
    fn take(&self, t: u64) -> Second {
        let mut second = Second {
            t,
            ..Second::default()
        };
        for lane in &self.lanes {
            let Some(counts) = lane.lock().remove(&t) else {
                continue;
            };
            second.total += counts.total;
            second.errors += counts.errors;
            for (key, n) in counts.keys {
                *second.keys.entry(key.into()).or_insert(0) += n;
            }
        }
        second
    }
}

/// `HH:MM:SS` in UTC.
pub fn utc_clock(since_epoch: Duration) -> String {
    let s = since_epoch.as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// One human timeline line: for each of `columns` (sorted keys) a bar of its share of the
/// second's requests and the share in percent, then the request and error counts.
pub fn human_line(clock: &str, second: &Second, columns: &BTreeSet<String>) -> String {
    let share = |n: u64, of: u64| {
        (n * of + second.total / 2)
            .checked_div(second.total)
            .unwrap_or(0)
    };
    let mut line = String::from(clock);
    for key in columns {
        let n = second.keys.get(key).copied().unwrap_or(0);
        let filled = share(n, BAR_WIDTH) as usize;
        let _ = write!(
            line,
            "  {key} {}{} {:>3}%",
            "#".repeat(filled),
            ".".repeat(BAR_WIDTH as usize - filled),
            share(n, 100)
        );
    }
    let _ = write!(line, "  ({} req, {} err)", second.total, second.errors);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(t: u64, errors: u64, keys: &[(&str, u64)]) -> Second {
        let keys: BTreeMap<String, u64> = keys.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
        Second {
            t,
            total: keys.values().sum::<u64>() + errors,
            errors,
            keys,
        }
    }

    #[test]
    fn human_lines_show_a_shift() {
        let columns: BTreeSet<String> = ["web:1".to_owned(), "web:2".to_owned()].into();
        let lines = [
            second(0, 0, &[("web:1", 2000)]),
            second(1, 0, &[("web:1", 1600), ("web:2", 400)]),
            second(2, 3, &[("web:1", 999), ("web:2", 998)]),
            second(3, 0, &[("web:2", 2000)]),
            second(4, 0, &[]),
            second(5, 7, &[]),
        ]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            human_line(
                &utc_clock(Duration::from_secs(43_200 + i as u64)),
                s,
                &columns,
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
        insta::assert_snapshot!(lines);
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        assert_eq!(utc_clock(Duration::from_secs(0)), "00:00:00");
        assert_eq!(
            utc_clock(Duration::from_secs(86_400 * 3 + 3600 * 13 + 61)),
            "13:01:01"
        );
    }

    #[test]
    fn lanes_merge_into_seconds_and_empty_seconds_print() {
        // Start the clock 2.5 s in the past, so requests land in second 2 and 0, 1 are empty.
        let started = Instant::now() - Duration::from_millis(2500);
        let mut timeline = Timeline::new(started, TimelineFormat::Json);
        let (a, b) = (timeline.lane(), timeline.lane());
        a.record(Some("web:1"));
        b.record(Some("web:1"));
        b.record(Some("web:2"));
        a.record(None);
        let mut out = Vec::new();
        timeline.write_ended(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"t\":0,\"total\":0,\"errors\":0,\"keys\":{}}\n\
             {\"t\":1,\"total\":0,\"errors\":0,\"keys\":{}}\n"
        );
        let mut out = Vec::new();
        timeline.write_rest(None, &mut out).unwrap();
        let second: Second = serde_json::from_slice(&out).unwrap();
        assert_eq!(second, self::second(2, 1, &[("web:1", 2), ("web:2", 1)]));
    }

    #[test]
    fn seconds_after_a_deadline_are_left_out() {
        let started = Instant::now() - Duration::from_millis(2100);
        for (cutoff, printed) in [(2000, 2), (1500, 2), (2100, 3)] {
            let mut timeline = Timeline::new(started, TimelineFormat::Json);
            timeline.lane().record(Some("web:1"));
            let mut out = Vec::new();
            let cutoff = started + Duration::from_millis(cutoff);
            timeline.write_rest(Some(cutoff), &mut out).unwrap();
            assert_eq!(
                out.iter().filter(|b| **b == b'\n').count(),
                printed,
                "{cutoff:?}"
            );
        }
    }
}
