//! What a run does: the target, seed-style polling or concurrent load, and its bounds.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};

use crate::limits::{self, OutOfRange};

/// Default pause between polls (the seed's once a second).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL to request, and how it is shown in `Running against ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    url: Url,
    shown: String,
}

/// Why a target cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("target is empty")]
    Empty,
    #[error("invalid target url {0:?}")]
    Invalid(String),
    #[error("unsupported scheme {0:?}: use http or https")]
    Scheme(String),
}

impl Target {
    /// A hostname (`blue.example`, `127.0.0.1:8080`: fetched as `http://<hostname>`, as the seed
    /// did) or a full `http(s)://` URL.
    pub fn parse(input: &str) -> Result<Self, TargetError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(TargetError::Empty);
        }
        let shown = if input.contains("://") {
            input.to_owned()
        } else {
            format!("http://{input}")
        };
        let url = Url::parse(&shown).map_err(|_| TargetError::Invalid(input.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetError::Scheme(url.scheme().to_owned()));
        }
        if url.host().is_none() {
            return Err(TargetError::Invalid(input.to_owned()));
        }
        Ok(Self { url, shown })
    }

    /// The normalised URL that is requested.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

impl fmt::Display for Target {
    /// As the user typed it, with `http://` prefixed to a bare hostname.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// An extra request header (`--header NAME:VALUE`), sent on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header's name.
    pub name: HeaderName,
    /// Its value.
    pub value: HeaderValue,
}

/// Why `NAME:VALUE` is not a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("expected NAME:VALUE, for example x-amzn-ecs-blue-green-test:true")]
    NoColon,
    #[error("{0:?} is not a valid header name")]
    Name(String),
    #[error("the value of {0} must be visible ASCII or spaces, without line breaks")]
    Value(String),
}

impl Header {
    /// `NAME:VALUE`; spaces around the value are dropped, as in an HTTP header line.
    pub fn parse(input: &str) -> Result<Self, HeaderError> {
        let (name, value) = input.split_once(':').ok_or(HeaderError::NoColon)?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| HeaderError::Name(name.to_owned()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| HeaderError::Value(name.to_string()))?;
        Ok(Self { name, value })
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.name,
            String::from_utf8_lossy(self.value.as_bytes())
        )
    }
}

/// How `--timeline` prints each second's split of answers by version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineFormat {
    /// A line of bars per second, for a person watching a traffic shift.
    Human,
    /// One JSON object per line per second, for tests and plots.
    Json,
}

/// A setting outside its accepted range (see [`crate::limits`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("interval {0}")]
    Interval(#[source] OutOfRange),
    #[error("timeout {0}")]
    Timeout(#[source] OutOfRange),
    #[error("duration {0}")]
    Duration(#[source] OutOfRange),
    #[error("concurrency {0}")]
    Concurrency(#[source] OutOfRange),
    #[error("rate (requests per second) {0}")]
    Rate(#[source] OutOfRange),
}

/// How requests are issued.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// The seed's behaviour: one request per interval, a tally line after each.
    Poll,
    /// `concurrency` keep-alive connections sending back to back (or paced to `rate` requests/s
    /// in total), with a progress line per interval.
    Load {
        /// Concurrent connections (at least 1).
        concurrency: usize,
        /// Total requests per second across all connections; None: as fast as possible.
        rate: Option<f64>,
    },
}

/// Which HTTP implementation load mode uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// `http://` targets: a lean HTTP/1.1 loop per connection (direct, no proxy, no redirects,
    /// like wrk); `https://` targets: reqwest.
    #[default]
    Auto,
    /// Always reqwest: honours `HTTP_PROXY`/`NO_PROXY` and follows redirects, at a higher CPU
    /// cost per request.
    Reqwest,
}

/// A complete run description.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// What to request.
    pub target: Target,
    /// Polling or load.
    pub mode: Mode,
    /// Poll mode: pause between requests. Load mode: time between progress lines.
    pub interval: Duration,
    /// Stop after this long (None: until the shutdown signal).
    pub duration: Option<Duration>,
    /// Stop after this many requests in total (None: no limit).
    pub requests: Option<u64>,
    /// Per-request timeout, body included.
    pub timeout: Duration,
    /// Load mode: print a progress line per interval.
    pub progress: bool,
    /// Load mode: HTTP implementation. Poll mode always uses reqwest.
    pub engine: Engine,
    /// Sent on every request, in both modes.
    pub headers: Vec<Header>,
    /// Print each second's split by version instead of poll lines or progress lines.
    pub timeline: Option<TimelineFormat>,
}

impl Config {
    /// Seed-style polling of `target` once a second until stopped.
    pub fn poll(target: Target) -> Self {
        Self {
            target,
            mode: Mode::Poll,
            interval: DEFAULT_INTERVAL,
            duration: None,
            requests: None,
            timeout: DEFAULT_TIMEOUT,
            progress: true,
            engine: Engine::Auto,
            headers: Vec::new(),
            timeline: None,
        }
    }

    /// Load on `target` over `concurrency` connections, as fast as possible, until stopped.
    pub fn load(target: Target, concurrency: usize) -> Self {
        Self {
            mode: Mode::Load {
                concurrency: concurrency.max(1),
                rate: None,
            },
            ..Self::poll(target)
        }
    }

    /// Every setting within [`crate::limits`]; [`crate::run`] checks this first.
    pub fn check(&self) -> Result<(), ConfigError> {
        limits::duration(self.interval, &limits::INTERVAL).map_err(ConfigError::Interval)?;
        limits::duration(self.timeout, &limits::TIMEOUT).map_err(ConfigError::Timeout)?;
        if let Some(d) = self.duration {
            limits::duration(d, &limits::DURATION).map_err(ConfigError::Duration)?;
        }
        if let Mode::Load { concurrency, rate } = self.mode {
            limits::count(concurrency, &limits::CONCURRENCY).map_err(ConfigError::Concurrency)?;
            if let Some(r) = rate {
                limits::number(r, &limits::RATE).map_err(ConfigError::Rate)?;
            }
        }
        Ok(())
    }

    /// Load mode with a rate: the pause between requests on one connection.
    pub(crate) fn pacing_period(&self) -> Option<Duration> {
        match self.mode {
            Mode::Load {
                concurrency,
                rate: Some(rate),
            } => limits::pacing_period(rate, concurrency),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, shown: &str, url: &str) {
        let t = Target::parse(input).unwrap();
        assert_eq!(t.to_string(), shown);
        assert_eq!(t.url().as_str(), url);
    }

    #[test]
    fn hostnames_get_the_seed_prefix() {
        check(
            "blueg-meshg.elb.example",
            "http://blueg-meshg.elb.example",
            "http://blueg-meshg.elb.example/",
        );
        check(
            "127.0.0.1:8080",
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
        );
    }

    #[test]
    fn full_urls_are_kept() {
        check(
            "http://127.0.0.1:8080/split",
            "http://127.0.0.1:8080/split",
            "http://127.0.0.1:8080/split",
        );
        check(
            "https://example.com",
            "https://example.com",
            "https://example.com/",
        );
    }

    fn check_header(input: &str, expected: Result<(&str, &str), &str>) {
        let got = Header::parse(input);
        match expected {
            Ok((name, value)) => {
                let h = got.unwrap();
                assert_eq!((h.name.as_str(), h.value.to_str().unwrap()), (name, value));
            }
            Err(message) => assert_eq!(got.unwrap_err().to_string(), message, "{input}"),
        }
    }

    #[test]
    fn headers() {
        check_header(
            "x-amzn-ecs-blue-green-test:true",
            Ok(("x-amzn-ecs-blue-green-test", "true")),
        );
        check_header("X-Test: a:b ", Ok(("x-test", "a:b")));
        check_header("x-empty:", Ok(("x-empty", "")));
        check_header(
            "novalue",
            Err("expected NAME:VALUE, for example x-amzn-ecs-blue-green-test:true"),
        );
        check_header(":v", Err("\"\" is not a valid header name"));
        check_header("bad name:v", Err("\"bad name\" is not a valid header name"));
        check_header(
            "x:a\nb",
            Err("the value of x must be visible ASCII or spaces, without line breaks"),
        );
    }

    #[test]
    fn check_refuses_what_would_panic() {
        let target = Target::parse("127.0.0.1:1").unwrap();
        let mut c = Config::poll(target.clone());
        assert_eq!(c.check(), Ok(()));
        c.interval = Duration::ZERO;
        assert!(matches!(c.check(), Err(ConfigError::Interval(_))));
        let mut c = Config::load(target, 1);
        c.mode = Mode::Load {
            concurrency: 1,
            rate: Some(3e9),
        };
        assert_eq!(
            c.check().unwrap_err().to_string(),
            "rate (requests per second) must be between 0.001 and 10000000, got 3000000000"
        );
        c.mode = Mode::Load {
            concurrency: 1,
            rate: Some(100.0),
        };
        c.timeout = Duration::ZERO;
        assert!(matches!(c.check(), Err(ConfigError::Timeout(_))));
    }

    #[test]
    fn bad_targets() {
        assert_eq!(Target::parse(" "), Err(TargetError::Empty));
        assert!(matches!(
            Target::parse("ftp://x"),
            Err(TargetError::Scheme(_))
        ));
        assert!(matches!(
            Target::parse("http://"),
            Err(TargetError::Invalid(_))
        ));
        assert!(matches!(Target::parse("a b"), Err(TargetError::Invalid(_))));
    }
}
