//! The command line: every flag with its accepted values (refused by clap with a message
//! otherwise, see [`crate::limits`]), the [`Config`] they make, and the exit verdict.

use std::time::Duration;

use clap::Parser;

use crate::config::{Config, Engine, Header, Mode, Target, TimelineFormat};
use crate::limits;
use crate::tally::Summary;

/// `load-client`'s flags.
#[derive(Debug, Parser)]
#[command(
    name = "load-client",
    version,
    about = "Poll a demo service once a second and tally service:version answers, or load it",
    after_help = "Modes:\n  \
        Without options it polls like the seed: `Running against http://<hostname>`, then one\n  \
        `<status> <reason> <key>=<count> ...` line per request, keys sorted.\n  \
        --concurrency or --rate switch to load mode; so do --requests or --duration without --interval\n  \
        (with --interval they just bound the polling). Load mode prints a progress line per interval.\n  \
        Both print a summary at the end or on Ctrl-C.\n\n\
        Exit status:\n  \
        Load mode exits 1 when the share of failed requests (no answer, non-2xx, or a body without\n  \
        service and version) is above --max-error-rate (default 0: any failure), or no request\n  \
        completed. Polling exits 0, as the seed's client did, unless --max-error-rate is given."
)]
pub struct Cli {
    /// Hostname (requested as http://<hostname>) or a full http(s):// URL
    #[arg(value_parser = parse_target)]
    pub target: Target,
    /// Pause between polls; in load mode, time between progress lines (1ms to 1h) [default: 1s]
    #[arg(long, value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// Concurrent keep-alive connections (load mode)
    #[arg(long, short = 'c', value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: Option<u32>,
    /// Total requests per second across connections, 0.001 to 10000000 (load mode; default: as
    /// fast as possible)
    #[arg(long, value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Stop after this long, e.g. 10s or 1m30s (at most a year)
    #[arg(long, short = 'd', value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many requests in total
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Per-request timeout, body included (1ms to 1h)
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Send this header on every request, e.g. x-amzn-ecs-blue-green-test:true (repeatable)
    #[arg(long = "header", short = 'H', value_name = "NAME:VALUE", value_parser = parse_header)]
    pub headers: Vec<Header>,
    /// Once per second, print each version's share of that second's answers as a bar (times in
    /// UTC), instead of poll lines or progress lines
    #[arg(long)]
    pub timeline: bool,
    /// Highest share of failed requests that still exits 0: 0.05 or 5% (load mode default: 0)
    #[arg(long, value_name = "SHARE", value_parser = parse_share, allow_negative_numbers = true)]
    pub max_error_rate: Option<f64>,
    /// Print the summary as JSON on stdout (other output goes to stderr); with --timeline, one
    /// JSON object per second on stdout and the summary as text on stderr
    #[arg(long)]
    pub json: bool,
    /// Load mode through reqwest even for http:// targets (honours HTTP_PROXY, follows
    /// redirects; costs more CPU per request than the built-in HTTP/1.1 path)
    #[arg(long)]
    pub via_reqwest: bool,
}

fn parse_target(s: &str) -> Result<Target, String> {
    Target::parse(s).map_err(|e| e.to_string())
}

fn parse_header(s: &str) -> Result<Header, String> {
    Header::parse(s).map_err(|e| e.to_string())
}

fn bounded_duration(
    s: &str,
    range: &std::ops::RangeInclusive<Duration>,
) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e}: write it like 500ms, 2s or 1m30s"))?;
    limits::duration(d, range).map_err(|e| e.to_string())
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    bounded_duration(s, &limits::INTERVAL)
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    bounded_duration(s, &limits::TIMEOUT)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    bounded_duration(s, &limits::DURATION)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .trim()
        .parse()
        .map_err(|_| "expected a number of requests per second".to_owned())?;
    limits::number(r, &limits::RATE).map_err(|e| e.to_string())
}

/// `0.05` or `5%`.
fn parse_share(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (number, scale) = match s.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (s, 1.0),
    };
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| "expected a share such as 0.05 or 5%".to_owned())?;
    limits::number(n / scale, &limits::SHARE)
        .map_err(|_| "must be between 0 and 1 (0% and 100%)".to_owned())
}

impl Cli {
    /// The run these flags describe.
    pub fn config(&self) -> Config {
        let target = self.target.clone();
        let load = self.concurrency.is_some()
            || self.rate.is_some()
            || ((self.requests.is_some() || self.duration.is_some()) && self.interval.is_none());
        let mut config = if load {
            let mut c = Config::load(target, self.concurrency.unwrap_or(1) as usize);
            if let Mode::Load { rate, .. } = &mut c.mode {
                *rate = self.rate;
            }
            c
        } else {
            Config::poll(target)
        };
        if let Some(interval) = self.interval {
            config.interval = interval;
        }
        config.duration = self.duration;
        config.requests = self.requests;
        config.timeout = self.timeout;
        config.headers.clone_from(&self.headers);
        config.timeline = self.timeline.then_some(if self.json {
            TimelineFormat::Json
        } else {
            TimelineFormat::Human
        });
        if self.via_reqwest {
            config.engine = Engine::Reqwest;
        }
        config
    }

    /// The failed share a run may reach and still exit 0: `--max-error-rate`, else 0 in load
    /// mode; None (never fail) when polling without it, as the seed's client did.
    pub fn max_error_rate(&self, mode: &Mode) -> Option<f64> {
        match mode {
            Mode::Load { .. } => Some(self.max_error_rate.unwrap_or(0.0)),
            Mode::Poll => self.max_error_rate,
        }
    }
}

/// Why a run fails its error budget (`max`, a share), as one line; None when it passes.
pub fn verdict(summary: &Summary, max: f64) -> Option<String> {
    if summary.requests == 0 {
        return Some(format!(
            "no request completed in {:.2}s",
            summary.elapsed_secs
        ));
    }
    let share = summary.failed_share();
    (share > max).then(|| {
        format!(
            "{:.1}% of requests failed ({} of {}), above --max-error-rate {}%",
            share * 100.0,
            summary.failed,
            summary.requests,
            percent(max)
        )
    })
}

/// A share as a percentage without float noise: 0.05 -> `5`, 0.125 -> `12.5`.
fn percent(share: f64) -> String {
    let text = format!("{:.3}", share * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn summary(requests: u64, failed: u64) -> Summary {
        Summary {
            target: "http://x".into(),
            requests,
            errors: 0,
            failed,
            elapsed_secs: 1.0,
            requests_per_sec: requests as f64,
            keys: BTreeMap::new(),
            statuses: BTreeMap::new(),
            latency: None,
        }
    }

    fn check(requests: u64, failed: u64, max: f64, expected: Option<&str>) {
        assert_eq!(
            verdict(&summary(requests, failed), max).as_deref(),
            expected,
            "{failed} of {requests}, max {max}"
        );
    }

    #[test]
    fn verdicts() {
        check(10, 0, 0.0, None);
        check(
            10,
            1,
            0.0,
            Some("10.0% of requests failed (1 of 10), above --max-error-rate 0%"),
        );
        check(10, 1, 0.1, None);
        check(
            8,
            1,
            0.05,
            Some("12.5% of requests failed (1 of 8), above --max-error-rate 5%"),
        );
        check(
            6,
            6,
            0.999,
            Some("100.0% of requests failed (6 of 6), above --max-error-rate 99.9%"),
        );
        check(6, 6, 1.0, None);
        check(0, 0, 1.0, Some("no request completed in 1.00s"));
    }

    #[test]
    fn shares() {
        assert_eq!(parse_share("5%"), Ok(0.05));
        assert_eq!(parse_share("0.25"), Ok(0.25));
        assert_eq!(parse_share("0"), Ok(0.0));
        assert_eq!(parse_share("100 %"), Ok(1.0));
        for bad in ["150%", "-1", "NaN", "x", "1.5", ""] {
            assert!(parse_share(bad).is_err(), "{bad}");
        }
    }
}
