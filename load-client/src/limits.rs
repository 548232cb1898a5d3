//! The accepted range of every run setting. The CLI's parsers and [`crate::Config::check`] use
//! the same bounds, so a value the CLI accepts cannot make a run panic: within them no timer
//! period is zero, no deadline overflows the clock and the `--rate` pacing period stays
//! representable.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

/// `--interval`: between polls, or between progress lines.
pub const INTERVAL: RangeInclusive<Duration> = Duration::from_millis(1)..=Duration::from_secs(3600);
/// `--timeout`: per request, body included.
pub const TIMEOUT: RangeInclusive<Duration> = Duration::from_millis(1)..=Duration::from_secs(3600);
/// `--duration`: a whole run (at most a year of 365.25 days, shown as `1year`).
pub const DURATION: RangeInclusive<Duration> =
    Duration::from_millis(1)..=Duration::from_secs(31_557_600);
/// `--rate`, requests per second in total. With [`CONCURRENCY`] this keeps the per-connection
/// period between 100 ns and about three years.
pub const RATE: RangeInclusive<f64> = 0.001..=10_000_000.0;
/// `--concurrency`: keep-alive connections.
pub const CONCURRENCY: RangeInclusive<usize> = 1..=100_000;
/// `--max-error-rate`: a share of all requests.
pub const SHARE: RangeInclusive<f64> = 0.0..=1.0;

/// A value outside its accepted range, with the range in the units the user typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between {min} and {max}, got {got}")]
pub struct OutOfRange {
    min: String,
    max: String,
    got: String,
}

impl OutOfRange {
    fn new(range: (impl fmt::Display, impl fmt::Display), got: impl fmt::Display) -> Self {
        Self {
            min: range.0.to_string(),
            max: range.1.to_string(),
            got: got.to_string(),
        }
    }
}

/// `value` if it lies in `range`.
pub fn duration(value: Duration, range: &RangeInclusive<Duration>) -> Result<Duration, OutOfRange> {
    if range.contains(&value) {
        Ok(value)
    } else {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        Err(OutOfRange::new(
            (show(*range.start()), show(*range.end())),
            show(value),
        ))
    }
}

/// `value` if it lies in `range` (NaN never does).
pub fn number(value: f64, range: &RangeInclusive<f64>) -> Result<f64, OutOfRange> {
    if range.contains(&value) {
        Ok(value)
    } else {
        // 1e-300 would print as three hundred digits.
        let got = value.to_string();
        let got = if got.len() > 20 {
            format!("{value:e}")
        } else {
            got
        };
        Err(OutOfRange::new((range.start(), range.end()), got))
    }
}

/// `value` if it lies in `range`.
pub fn count(value: usize, range: &RangeInclusive<usize>) -> Result<usize, OutOfRange> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(OutOfRange::new((range.start(), range.end()), value))
    }
}

/// The pause between two requests on one of `concurrency` connections sharing `rate`.
/// Within [`RATE`] and [`CONCURRENCY`] it is never zero and never overflows; outside them
/// it is None.
pub fn pacing_period(rate: f64, concurrency: usize) -> Option<Duration> {
    let rate = number(rate, &RATE).ok()?;
    let concurrency = count(concurrency, &CONCURRENCY).ok()?;
    Duration::try_from_secs_f64(concurrency as f64 / rate)
        .ok()
        .filter(|p| !p.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_show_the_range_as_typed() {
        assert_eq!(
            duration(Duration::ZERO, &INTERVAL).unwrap_err().to_string(),
            "must be between 1ms and 1h, got 0s"
        );
        assert_eq!(
            number(f64::NAN, &RATE).unwrap_err().to_string(),
            "must be between 0.001 and 10000000, got NaN"
        );
        assert_eq!(
            number(1e-300, &RATE).unwrap_err().to_string(),
            "must be between 0.001 and 10000000, got 1e-300"
        );
        assert_eq!(
            duration(Duration::from_secs(40_000_000), &DURATION)
                .unwrap_err()
                .to_string(),
            "must be between 1ms and 1year, got 1year 3months 6days 9h 25m 52s"
        );
        assert_eq!(
            count(0, &CONCURRENCY).unwrap_err().to_string(),
            "must be between 1 and 100000, got 0"
        );
    }

    #[test]
    fn pacing_period_stays_representable_at_the_corners() {
        let min_rate = *RATE.start();
        let max_rate = *RATE.end();
        let max_c = *CONCURRENCY.end();
        assert_eq!(pacing_period(max_rate, 1), Some(Duration::from_nanos(100)));
        assert!(pacing_period(min_rate, max_c).unwrap() > Duration::from_secs(3600 * 24 * 365));
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 3e9, 1e-300] {
            assert_eq!(pacing_period(rate, 1), None, "{rate}");
        }
        assert_eq!(pacing_period(1.0, 0), None);
    }
}
