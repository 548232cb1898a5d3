//! Webhook notices of rollout events (`--notify URL`): each [`deploy::Event`] posted as its JSON
//! with a Slack-compatible `text` line added (`{"text": "...", "event": ..., ...}`)
//!
//! Delivery never holds up the rollout: [`Notifier::send`] only puts the event on a bounded
//! queue (a full queue drops it); each URL has a thread of its own that posts the queue in
//! order, each attempt bounded by a timeout, with a bounded number of retries and a doubling
//! backoff. A delivery that fails for good is said once per URL (through `say`), never as an
//! error of the command. A program that embeds the engine can use it as the command line does:
//! start one, give it each event its reporter gets ([`deploy::Reporter::event`]), and
//! [`Notifier::finish`] it at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use deploy::Event;
use serde::{Deserialize, Serialize};

/// How the notices are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// How long one attempt (connect, send, answer) may take.
    pub attempt_timeout: Duration,
    /// Attempts per event, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; each further one waits twice as long.
    pub first_backoff: Duration,
    /// Events waiting per URL; more are dropped (and said once).
    pub queue: usize,
    /// How long [`Notifier::finish`] waits for the queues to empty.
    pub drain: Duration,
}

impl Delivery {
    /// 5 s per attempt, 4 attempts 0.5, 1 and 2 s apart, 256 events queued per URL, up to 5 s
    /// at the end for the last ones.
    pub const STANDARD: Delivery = Delivery {
        attempt_timeout: Duration::from_secs(5),
        attempts: 4,
        first_backoff: Duration::from_millis(500),
        queue: 256,
        drain: Duration::from_secs(5),
    };
}

/// The webhook URLs one `--notify` (or `MESHTEST_NOTIFY`) gives: one or more, separated by
/// commas or spaces, each http:// or https:// with a host (checked when the command line is
/// parsed, so clap names the flag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NotifyUrls(pub Vec<String>);

/// Checks `--notify`'s value: every URL in it must be http:// or https:// with a host.
pub fn parse_notify(text: &str) -> Result<NotifyUrls, String> {
    const HINT: &str = "pass http:// or https:// webhook URLs, e.g. https://hooks.slack.com/services/T000/B000/XXXX, separated by commas or spaces";
    let urls: Vec<String> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err(format!("no webhook URL given: {HINT}"));
    }
    // A webhook's path is a secret: messages name the URL as `shown` does.
    for (n, url) in urls.iter().enumerate() {
        let nth = n + 1;
        match url::Url::parse(url) {
            Err(e) => return Err(format!("URL {nth} is not a URL ({e}): {HINT}")),
            Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => {
                return Err(format!(
                    "URL {nth} ({}:...) is not an http:// or https:// URL: {HINT}",
                    parsed.scheme()
                ));
            }
            Ok(parsed) if parsed.host().is_none() => {
                return Err(format!("URL {nth} has no host: {HINT}"));
            }
            Ok(_) => {}
        }
    }
    Ok(NotifyUrls(urls))
}

/// `url` as a message shows it: scheme, host and port only, since a webhook's path is its
/// secret (Slack's `/services/T000/B000/XXXX`) and messages end up in CI logs.
pub fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => {
            let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
            let host = parsed.host_str().unwrap_or_default();
            let path = if parsed.path().len() > 1 || parsed.query().is_some() {
                "/..."
            } else {
                ""
            };
            format!("{}://{host}{port}{path}", parsed.scheme())
        }
        Err(_) => "a webhook URL".to_owned(),
    }
}

/// What a webhook receives for `event`: its JSON form with `text`, one line saying it, for
/// Slack and chats that read the same field.
pub fn body(event: &Event) -> serde_json::Value {
    let mut json = serde_json::to_value(event).unwrap_or_default();
    if let Some(object) = json.as_object_mut() {
        object.insert("text".into(), event.to_string().into());
    }
    json
}

/// Where the notices go: one worker per URL.
pub struct Notifier {
    workers: Vec<Worker>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field(
                "urls",
                &self.workers.iter().map(|w| &w.url).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Something said about deliveries (on the command line: a line on stderr).
type Say = Arc<dyn Fn(&str) + Send + Sync>;

struct Worker {
    url: String,
    queue: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// What a worker and the sender both see.
struct Shared {
    /// Events queued and not yet delivered or given up on.
    pending: AtomicUsize,
    /// Whether a failure was said already (once per URL).
    said: AtomicBool,
    say: Say,
}

impl Shared {
    fn fail_once(&self, url: &str, why: &str) {
        if !self.said.swap(true, Ordering::SeqCst) {
            (self.say)(&format!(
                "warning: cannot deliver rollout events to {}: {why}; the rollout goes on (further failures to it are not repeated)",
                shown(url)
            ));
        }
    }
}

impl Notifier {
    /// Starts one delivery thread per URL. `say` hears each URL's first failure.
    pub fn start(
        urls: &[String],
        delivery: Delivery,
        say: impl Fn(&str) + Send + Sync + 'static,
    ) -> Notifier {
        let say: Say = Arc::new(say);
        let client = client(delivery);
        let workers = urls
            .iter()
            .map(|url| {
                let shared = Arc::new(Shared {
                    pending: AtomicUsize::new(0),
                    said: AtomicBool::new(false),
                    say: say.clone(),
                });
                let (queue, received) = std::sync::mpsc::sync_channel(delivery.queue);
                let thread = match &client {
                    Ok(client) => {
                        let (client, url, shared) = (client.clone(), url.clone(), shared.clone());
                        std::thread::Builder::new()
                            .name("notify".into())
                            .spawn(move || deliver_all(&client, &url, &received, delivery, &shared))
                            .map_err(|e| e.to_string())
                    }
                    Err(why) => Err(why.clone()),
                };
                let (queue, thread) = match thread {
                    Ok(thread) => (Some(queue), Some(thread)),
                    Err(why) => {
                        shared.fail_once(url, &why);
                        (None, None)
                    }
                };
                Worker {
                    url: url.clone(),
                    queue,
                    thread,
                    shared,
                }
            })
            .collect();
        Notifier { workers }
    }

    /// Queues `event` for every URL, without waiting: a full queue drops it, and says so once.
    pub fn send(&self, event: &Event) {
        let Ok(bytes) = serde_json::to_vec(&body(event)) else {
            return;
        };
        for worker in &self.workers {
            let Some(queue) = &worker.queue else {
                continue;
            };
            worker.shared.pending.fetch_add(1, Ordering::SeqCst);
            match queue.try_send(bytes.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    worker.shared.pending.fetch_sub(1, Ordering::SeqCst);
                    worker.shared.fail_once(
                        &worker.url,
                        "its queue is full (earlier deliveries are still being retried), an event was dropped",
                    );
                }
                Err(TrySendError::Disconnected(_)) => {
                    worker.shared.pending.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
    }

    /// Closes the queues and waits, at most `delivery.drain` in all, for the events still
    /// queued; says once per URL how many were left undelivered. Returns that number.
    pub fn finish(mut self, drain: Duration) -> usize {
        let deadline = Instant::now() + drain;
        for worker in &mut self.workers {
            worker.queue = None;
        }
        let mut left = 0;
        for worker in &mut self.workers {
            while worker.shared.pending.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let pending = worker.shared.pending.load(Ordering::SeqCst);
            if pending > 0 {
                left += pending;
                worker.shared.fail_once(
                    &worker.url,
                    &format!("{pending} event(s) still undelivered when the command ended"),
                );
            } else if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
        left
    }
}

/// The HTTP client every worker shares: rustls with the ring provider (no AWS crate on the
/// local path) and the platform's roots.
fn client(delivery: Delivery) -> Result<reqwest::Client, String> {
    // Installed once per process; an embedding program's own choice stays in force.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(delivery.attempt_timeout)
        .timeout(delivery.attempt_timeout)
        .user_agent(concat!("meshtest/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client ({e})"))
}

/// A worker: posts each queued body in order until the queue closes.
fn deliver_all(
    client: &reqwest::Client,
    url: &str,
    queue: &Receiver<Vec<u8>>,
    delivery: Delivery,
    shared: &Shared,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            shared.fail_once(url, &format!("cannot start its delivery thread ({e})"));
            // Nothing can be delivered: let the sender see an empty queue.
            for _ in queue.iter() {
                shared.pending.fetch_sub(1, Ordering::SeqCst);
            }
            return;
        }
    };
    for bytes in queue.iter() {
        if let Err(why) = runtime.block_on(post(client, url, bytes, delivery)) {
            shared.fail_once(url, &why);
        }
        shared.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Posts `bytes` to `url`: up to `delivery.attempts` attempts, each within its timeout, the
/// waits between them doubling. A 2xx answer delivers it; a 4xx other than 408 and 429 says
/// the receiver refuses it, and a certificate the client does not trust is refused by the
/// client: another attempt would change neither.
async fn post(
    client: &reqwest::Client,
    url: &str,
    bytes: Vec<u8>,
    delivery: Delivery,
) -> Result<(), String> {
    let mut backoff = delivery.first_backoff;
    let mut why = String::new();
    for attempt in 1..=delivery.attempts.max(1) {
        let sent = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes.clone())
            .send();
        match tokio::time::timeout(delivery.attempt_timeout, sent).await {
            Ok(Ok(answer)) if answer.status().is_success() => return Ok(()),
            Ok(Ok(answer)) => {
                let status = answer.status();
                why = format!("it answered HTTP {status}");
                let retryable = status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                if !retryable {
                    return Err(why);
                }
            }
            Ok(Err(e)) if untrusted_certificate(&e) => {
                return Err(format!(
                    "{}: to trust a private CA, point SSL_CERT_FILE at a PEM file that holds its certificate (and the public roots, if other webhooks need them)",
                    without_url(&e)
                ));
            }
            Ok(Err(e)) if !e.is_timeout() => why = without_url(&e),
            Ok(Err(_)) | Err(_) => {
                why = format!(
                    "no answer within {}",
                    humantime::format_duration(delivery.attempt_timeout)
                );
            }
        }
        if attempt < delivery.attempts {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
    Err(format!(
        "{why} (after {} attempts)",
        delivery.attempts.max(1)
    ))
}

/// Whether `e` is the client refusing the server's certificate: rustls's `InvalidCertificate`,
/// which the connector hands up inside I/O errors (two of them, with reqwest 0.13), whose
/// `source` skips what they wrap.
fn untrusted_certificate(e: &reqwest::Error) -> bool {
    fn refused(cause: &(dyn std::error::Error + 'static)) -> bool {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return matches!(tls, rustls::Error::InvalidCertificate(_));
        }
        match cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => refused(inner),
            None => false,
        }
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if refused(cause) {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A request error without the URL, which the message names already (and which may hold a
/// webhook's secret path twice over).
fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    let mut source = std::error::Error::source(e);
    let mut causes = Vec::new();
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    match causes.last() {
        Some(root) => root.clone(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use deploy::events::{EventKind, Time};
    use meshtest_tests::webhook::{TestCa, Webhook, dead_receiver};
    use model::{DeploymentStatus, Percent, StrategyKind};

    use super::*;

    fn event(n: u32) -> Event {
        let kind = match n {
            0 => EventKind::DeploymentStarted {
                strategy: StrategyKind::Linear,
                status: DeploymentStatus::InProgress,
            },
            n => EventKind::StepReached {
                production_percent: Percent::whole(n.min(100)),
                step: None,
            },
        };
        Event {
            time: Time::from_unix_millis(1_764_916_522_000 + u64::from(n)),
            ..deploy::events::example(kind)
        }
    }

    /// Fast settings for tests: short attempts and backoffs, still bounded.
    fn quick(attempts: u32) -> Delivery {
        Delivery {
            attempt_timeout: Duration::from_millis(300),
            attempts,
            first_backoff: Duration::from_millis(10),
            queue: 64,
            drain: Duration::from_secs(5),
        }
    }

    fn said() -> (
        Arc<Mutex<Vec<String>>>,
        impl Fn(&str) + Send + Sync + 'static,
    ) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let into = lines.clone();
        (lines, move |line: &str| {
            into.lock().unwrap().push(line.to_owned())
        })
    }

    /// A receiver that fails the first attempts: every event still arrives once, in order,
    /// as its JSON with the `text` line, and nothing is said.
    #[test]
    fn a_receiver_that_fails_first_gets_every_event_once_in_order() {
        let hook = Webhook::flaky(3, "/hooks/secret");
        let (lines, say) = said();
        let notifier = Notifier::start(std::slice::from_ref(&hook.url), quick(5), say);
        for n in 0..10 {
            notifier.send(&event(n));
        }
        assert_eq!(notifier.finish(Duration::from_secs(10)), 0);
        let (bodies, requests) = (hook.accepted(), hook.requests());
        assert_eq!(requests, 13, "3 refused, then one per event");
        let expected: Vec<serde_json::Value> = (0..10).map(|n| body(&event(n))).collect();
        assert_eq!(bodies, expected);
        assert_eq!(bodies[1]["text"], "rollout: web 1 -> 2: production 1% on 2");
        assert_eq!(bodies[1]["event"], "stepReached");
        assert!(
            lines.lock().unwrap().is_empty(),
            "{:?}",
            lines.lock().unwrap()
        );
    }

    /// A receiver that never answers: sending never waits, the end waits at most its drain
    /// bound, and the failure is said once, without the URL's secret path.
    #[test]
    fn a_dead_receiver_never_holds_up_the_sender_and_is_said_once() {
        let url = dead_receiver("/hook");
        let (lines, say) = said();
        let notifier = Notifier::start(std::slice::from_ref(&url), quick(2), say);
        let sending = Instant::now();
        for n in 0..50 {
            notifier.send(&event(n));
        }
        let sent = sending.elapsed();
        let finishing = Instant::now();
        let left = notifier.finish(Duration::from_secs(1));
        let finished = finishing.elapsed();
        println!(
            "50 sends to a dead receiver took {sent:?}; finish waited {finished:?} ({left} left)"
        );
        assert!(sent < Duration::from_millis(100), "{sent:?}");
        assert!(finished < Duration::from_secs(2), "{finished:?}");
        assert!(left > 0);
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let host = url.trim_end_matches("/hook");
        assert!(
            lines[0].starts_with(&format!("warning: cannot deliver rollout events to {host}/...: no answer within 300ms (after 2 attempts)")),
            "{lines:?}"
        );
    }

    /// A receiver that refuses the event (a 4xx other than 408 or 429) is not retried.
    #[test]
    fn a_refused_event_is_not_retried() {
        let hook = Webhook::answering("404 Not Found", "/");
        let (lines, say) = said();
        let notifier = Notifier::start(std::slice::from_ref(&hook.url), quick(4), say);
        notifier.send(&event(0));
        notifier.send(&event(1));
        assert_eq!(notifier.finish(Duration::from_secs(5)), 0);
        assert_eq!(hook.requests(), 2, "one attempt per event");
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("it answered HTTP 404 Not Found"),
            "{lines:?}"
        );
    }

    /// An HTTPS webhook whose certificate comes from a CA the client does not trust: refused
    /// by the client at once (never retried: it would not change), said once with what to do,
    /// and sending never waits for it.
    #[test]
    fn an_untrusted_certificate_is_refused_once_said_and_never_blocks() {
        let ca = TestCa::new("meshtest untrusted test CA");
        let hook = Webhook::flaky_tls(0, "/hooks/tls-secret", &ca);
        let (lines, say) = said();
        let notifier = Notifier::start(std::slice::from_ref(&hook.url), quick(4), say);
        let sending = Instant::now();
        for n in 0..5 {
            notifier.send(&event(n));
        }
        let sent = sending.elapsed();
        let finishing = Instant::now();
        assert_eq!(notifier.finish(Duration::from_secs(5)), 0);
        let finished = finishing.elapsed();
        println!("5 sends to an untrusted webhook took {sent:?}; finish waited {finished:?}");
        assert!(sent < Duration::from_millis(100), "{sent:?}");
        assert!(finished < Duration::from_secs(2), "{finished:?}");
        assert_eq!(hook.requests(), 0, "no request got through the handshake");
        assert_eq!(hook.connections(), 5, "one attempt per event, none retried");
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let host = hook.url.trim_end_matches("/hooks/tls-secret");
        assert!(
            lines[0].starts_with(&format!(
                "warning: cannot deliver rollout events to {host}/...: invalid peer certificate: UnknownIssuer: to trust a private CA, point SSL_CERT_FILE at a PEM file"
            )),
            "{lines:?}"
        );
        assert!(!lines[0].contains("tls-secret"), "{lines:?}");
    }

    #[test]
    fn notify_takes_http_and_https_urls_separated_by_commas_or_spaces() {
        assert_eq!(
            parse_notify(
                "http://127.0.0.1:9/a, https://hooks.example.com/x\thttps://b.example.com"
            ),
            Ok(NotifyUrls(vec![
                "http://127.0.0.1:9/a".into(),
                "https://hooks.example.com/x".into(),
                "https://b.example.com".into(),
            ]))
        );
        let err = |text| parse_notify(text).unwrap_err();
        assert!(
            err("ftp://x.example.com/h")
                .starts_with("URL 1 (ftp:...) is not an http:// or https:// URL")
        );
        assert!(err("https://ok.example.com nonsense").starts_with("URL 2 is not a URL"));
        assert!(err(" , ").starts_with("no webhook URL given"));
        // The secret path never shows in a message.
        assert!(!err("ftp://x.example.com/secret").contains("secret"));
        assert_eq!(
            shown("https://hooks.slack.com/services/T0/B0/XX"),
            "https://hooks.slack.com/..."
        );
        assert_eq!(shown("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
