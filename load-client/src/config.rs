//! What a run does: the target, seed-style polling or concurrent load, and its bounds.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

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
