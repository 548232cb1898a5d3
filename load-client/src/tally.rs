//! Counting answers: the seed's `service:version` keys, error keys, status counts and latency.
//!
//! Each load thread owns one [`Tally`] and they are merged at the end, so recording a request
//! takes no lock and, once a key has been seen, no allocation.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Highest latency the histogram tracks exactly, in microseconds (longer ones saturate).
const MAX_TRACKED_MICROS: u64 = 3_600_000_000;

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer: its status, and the tally key (`blue:1`, `http:503`, `error:non-json`).
    Response { status: u16, key: String },
    /// No HTTP answer; the key is `error:<kind>`.
    Failed { kind: ErrorKind },
}

/// A failure before any HTTP answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The connection was refused.
    Refused,
    /// The name did not resolve.
    Dns,
    /// Any other connect failure.
    Connect,
    /// The request timed out.
    Timeout,
    /// The connection broke during the exchange.
    Io,
}

impl ErrorKind {
    /// The tally key for this kind.
    pub fn key(self) -> &'static str {
        match self {
            Self::Refused => "error:refused",
            Self::Dns => "error:dns",
            Self::Connect => "error:connect",
            Self::Timeout => "error:timeout",
            Self::Io => "error:io",
        }
    }

    /// Short word used in place of a status in poll-mode lines.
    pub fn word(self) -> &'static str {
        &self.key()["error:".len()..]
    }

    /// Classify a client error by walking its source chain.
    pub fn of(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            return Self::Timeout;
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        let mut dns = false;
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => return Self::Refused,
                    std::io::ErrorKind::TimedOut => return Self::Timeout,
                    _ => {}
                }
            }
            // hyper-util reports resolver failures as a connect error whose message starts so.
            dns |= e.to_string().starts_with("dns error");
            source = e.source();
        }
        if dns {
            Self::Dns
        } else if err.is_connect() {
            Self::Connect
        } else {
            Self::Io
        }
    }
}

/// Whether an answer counts as served by a version: a `2xx` whose body gave a
/// `service:version` key (not one of the `error:` keys). Everything else is a failed request
/// for `--max-error-rate` and the timeline.
pub fn is_version_answer(status: u16, key: &str) -> bool {
    (200..300).contains(&status) && !key.starts_with("error:")
}

/// Key for a `2xx` body: `service:version`; for a `/downstream` answer (`service` plus a nested
/// `response`), `service>inner-key`. None when the body is JSON of another shape.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    service: Option<&'a RawValue>,
    #[serde(borrow)]
    version: Option<&'a RawValue>,
    #[serde(borrow)]
    response: Option<&'a RawValue>,
}

/// The tally key for a successful answer's body: `service:version`, `service>inner:version`
/// for a downstream answer, `error:non-json` or `error:unexpected-json` otherwise.
pub fn body_key(body: &[u8], key: &mut String) {
    key.clear();
    if !push_answer_key(body, key, 0) {
        key.clear();
        let non_json = serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err();
        key.push_str(if non_json {
            "error:non-json"
        } else {
            "error:unexpected-json"
        });
    }
}

fn push_answer_key(body: &[u8], key: &mut String, depth: u8) -> bool {
    let Ok(answer) = serde_json::from_slice::<Answer<'_>>(body) else {
        return false;
    };
    let Some(service) = answer.service else {
        return false;
    };
    push_label(service, key);
    if let Some(version) = answer.version {
        key.push(':');
        push_label(version, key);
        true
    } else if let Some(inner) = answer.response.filter(|_| depth < 8) {
        key.push('>');
        push_answer_key(inner.get().as_bytes(), key, depth + 1)
    } else {
        false
    }
}

/// A JSON string's text, or any other JSON value as written (`1`, `true`).
fn push_label(raw: &RawValue, key: &mut String) {
    let text = raw.get();
    match serde_json::from_str::<Cow<'_, str>>(text) {
        Ok(s) => key.push_str(&s),
        Err(_) => key.push_str(text),
    }
}

/// Counts for one thread or one run.
#[derive(Debug, Clone)]
pub struct Tally {
    keys: HashMap<Box<str>, u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    failed: u64,
    latency: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    /// Empty counts.
    pub fn new() -> Self {
        Self {
            keys: HashMap::new(),
            statuses: BTreeMap::new(),
            errors: 0,
            failed: 0,
            latency: Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
                .expect("static histogram bounds are valid"),
        }
    }

    /// Count an HTTP answer: its status, its key and its latency.
    pub fn record_response(&mut self, status: u16, key: &str, latency: Duration) {
        *self.statuses.entry(status).or_insert(0) += 1;
        self.failed += u64::from(!is_version_answer(status, key));
        self.bump(key);
        self.latency
            .saturating_record(latency.as_micros().clamp(1, u128::from(MAX_TRACKED_MICROS)) as u64);
    }

    /// Count a request that got no HTTP answer (its latency is not recorded).
    pub fn record_failure(&mut self, kind: ErrorKind) {
        self.errors += 1;
        self.failed += 1;
        self.bump(kind.key());
    }

    fn bump(&mut self, key: &str) {
        match self.keys.get_mut(key) {
            Some(count) => *count += 1,
            None => {
                self.keys.insert(key.into(), 1);
            }
        }
    }

    /// Add another tally's counts to this one.
    pub fn merge(&mut self, other: &Tally) {
        for (key, count) in &other.keys {
            match self.keys.get_mut(key) {
                Some(c) => *c += count,
                None => {
                    self.keys.insert(key.clone(), *count);
                }
            }
        }
        for (status, count) in &other.statuses {
            *self.statuses.entry(*status).or_insert(0) += count;
        }
        self.errors += other.errors;
        self.failed += other.failed;
        self.latency
            .add(&other.latency)
            .expect("histograms share bounds");
    }

    /// Requests counted (answers and failures).
    pub fn total(&self) -> u64 {
        self.latency.len() + self.errors
    }

    /// The seed's tally: `key=count` pairs sorted by key, space-separated.
    pub fn keys_line(&self) -> String {
        let mut keys: Vec<(&str, u64)> = self.keys.iter().map(|(k, v)| (&**k, *v)).collect();
        keys.sort_unstable();
        let mut line = String::new();
        for (i, (key, count)) in keys.iter().enumerate() {
            if i > 0 {
                line.push(' ');
            }
            let _ = write!(line, "{key}={count}");
        }
        line
    }

    /// Freeze into a [`Summary`] for a run of `elapsed`.
    pub fn summary(&self, target: &str, elapsed: Duration) -> Summary {
        let secs = elapsed.as_secs_f64();
        let total = self.total();
        let ms = |micros: u64| micros as f64 / 1000.0;
        let latency = (!self.latency.is_empty()).then(|| Latency {
            p50_ms: ms(self.latency.value_at_quantile(0.50)),
            p90_ms: ms(self.latency.value_at_quantile(0.90)),
            p99_ms: ms(self.latency.value_at_quantile(0.99)),
            max_ms: ms(self.latency.max()),
        });
        Summary {
            target: target.to_owned(),
            requests: total,
            errors: self.errors,
            failed: self.failed,
            elapsed_secs: secs,
            requests_per_sec: if secs > 0.0 { total as f64 / secs } else { 0.0 },
            keys: self.keys.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            statuses: self
                .statuses
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            latency,
        }
    }
}

/// Latency percentiles of answered requests, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The end-of-run report (`--json` prints it as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The target as shown in `Running against ...`.
    pub target: String,
    /// Requests counted, answered or not.
    pub requests: u64,
    /// Requests without an HTTP answer.
    pub errors: u64,
    /// Requests not served by a version: without an answer, non-2xx, or a 2xx body without
    /// `service` and `version` (what `--max-error-rate` limits).
    #[serde(default)]
    pub failed: u64,
    /// Wall time of the run.
    pub elapsed_secs: f64,
    /// `requests / elapsed_secs`.
    pub requests_per_sec: f64,
    /// Count per key (`blue:1`, `http:503`, `error:refused`), sorted.
    pub keys: BTreeMap<String, u64>,
    /// Count per HTTP status code.
    pub statuses: BTreeMap<String, u64>,
    /// Percentiles over answered requests; None when nothing was answered.
    pub latency: Option<Latency>,
}

impl Summary {
    /// `failed / requests`; 0 for a run without requests.
    pub fn failed_share(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.failed as f64 / self.requests as f64
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs = |map: &BTreeMap<String, u64>| {
            map.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        writeln!(
            f,
            "summary: {} requests in {:.2}s ({:.1} req/s), {} without answer",
            self.requests, self.elapsed_secs, self.requests_per_sec, self.errors
        )?;
        writeln!(f, "keys: {}", pairs(&self.keys))?;
        writeln!(f, "statuses: {}", pairs(&self.statuses))?;
        match &self.latency {
            Some(l) => write!(
                f,
                "latency: p50={:.3}ms p90={:.3}ms p99={:.3}ms max={:.3}ms",
                l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            ),
            None => write!(f, "latency: no answers"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: &str) {
        let mut key = String::from("stale");
        body_key(body.as_bytes(), &mut key);
        assert_eq!(key, expected, "body {body}");
    }

    #[test]
    fn keys_from_bodies() {
        check(
            r#"{"message":"ok","service":"blue","version":"1"}"#,
            "blue:1",
        );
        check(r#"{"version":2,"service":"green"}"#, "green:2");
        check(r#"{"service":"gr\u0065en","version":"1"}"#, "green:1");
        check(
            r#"{"message":"fetched!","service":"green","response":{"message":"ok","service":"blue","version":"1"}}"#,
            "green>blue:1",
        );
        check("not json", "error:non-json");
        check("", "error:non-json");
        check(r#"{"message":"ok"}"#, "error:unexpected-json");
        check("[1,2]", "error:unexpected-json");
        check(
            r#"{"service":"green","response":{"x":1}}"#,
            "error:unexpected-json",
        );
    }

    #[test]
    fn only_a_version_answer_is_a_success() {
        assert!(is_version_answer(200, "blue:1"));
        assert!(
            is_version_answer(204, "http:1"),
            "a service named http is still a version"
        );
        assert!(!is_version_answer(200, "error:non-json"));
        assert!(!is_version_answer(200, "error:unexpected-json"));
        assert!(!is_version_answer(503, "http:503"));
        assert!(!is_version_answer(301, "http:301"));
    }

    #[test]
    fn keys_line_is_sorted_like_the_seed() {
        let mut t = Tally::new();
        for key in ["green:1", "blue:1", "green:2", "green:1"] {
            t.record_response(200, key, Duration::from_millis(1));
        }
        t.record_failure(ErrorKind::Refused);
        assert_eq!(
            t.keys_line(),
            "blue:1=1 error:refused=1 green:1=2 green:2=1"
        );
        assert_eq!(t.total(), 5);
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = Tally::new();
        a.record_response(200, "blue:1", Duration::from_millis(2));
        let mut b = Tally::new();
        b.record_response(200, "blue:1", Duration::from_millis(4));
        b.record_response(503, "http:503", Duration::from_millis(8));
        b.record_failure(ErrorKind::Timeout);
        a.merge(&b);
        let s = a.summary("http://x", Duration::from_secs(2));
        assert_eq!(s.requests, 4);
        assert_eq!(s.errors, 1);
        assert_eq!(s.failed, 2, "the 503 and the timeout");
        assert!((s.failed_share() - 0.5).abs() < 1e-9);
        assert_eq!(s.keys["blue:1"], 2);
        assert_eq!(s.keys["error:timeout"], 1);
        assert_eq!(s.statuses["200"], 2);
        assert_eq!(s.statuses["503"], 1);
        assert!((s.requests_per_sec - 2.0).abs() < 1e-9);
        let l = s.latency.unwrap();
        assert!(l.p50_ms <= l.p90_ms && l.p90_ms <= l.p99_ms && l.p99_ms <= l.max_ms);
        assert!((l.max_ms - 8.0).abs() < 0.01);
    }

    #[test]
    fn summary_text_and_json() {
        let mut t = Tally::new();
        t.record_response(200, "blue:1", Duration::from_micros(1500));
        let s = t.summary("http://x", Duration::from_secs(1));
        let text = s.to_string();
        assert!(
            text.starts_with("summary: 1 requests in 1.00s (1.0 req/s), 0 without answer\n"),
            "{text}"
        );
        assert!(
            text.contains("\nkeys: blue:1=1\nstatuses: 200=1\nlatency: p50=1.500ms"),
            "{text}"
        );
        let json: Summary = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(json, s);
    }
}
