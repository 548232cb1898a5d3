//! One exchange with a task: the request body kept so that a request the task never received
//! can be sent again, the per-request first-byte timeout, and why an exchange failed.

use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::time::Instant;

/// How long a task may take to start its answer (the response head) while other tasks answer.
///
/// Service Connect's `perRequestTimeoutSeconds` has no documented default (ECS API reference,
/// `TimeoutConfiguration`); Envoy's route timeout, which App Mesh documented as its HTTP
/// default, is 15 s (the proxy's `UPSTREAM_TIMEOUT`). The rehearsal gives up on a task
/// far sooner: a demo-app answer takes about a millisecond, and a hung task must cost its
/// callers its in-flight requests, not seconds of zero throughput. The timer is only held
/// against a task while some other task answered since the request was sent: on a loaded
/// machine a pause of the whole host is nobody's failure, and the request then waits on, up to
/// the 15 s (README, local-vs-AWS table).
pub(crate) const FIRST_BYTE_TIMEOUT: Duration = Duration::from_millis(500);

/// Methods whose request may be sent twice with the effect of once (RFC 9110 §9.2.2), which the
/// proxy retries on another task after a reset. TRACE is idempotent too, but a diagnostic that
/// failed is reported, not repeated.
pub(crate) fn idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

/// The body sent to a task: none, or the client's, held where the proxy can take it back as
/// long as the exchange has not read a frame of it.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamBody(Option<Arc<HeldBody>>);

#[derive(Debug)]
struct HeldBody {
    body: Mutex<Option<Incoming>>,
    /// A frame went to the task: the body cannot be sent again.
    streamed: AtomicBool,
}

impl UpstreamBody {
    /// `body` as the task's request body (none at all when the client sent none).
    pub(crate) fn new(body: Incoming) -> UpstreamBody {
        if body.is_end_stream() {
            return UpstreamBody(None);
        }
        UpstreamBody(Some(Arc::new(HeldBody {
            body: Mutex::new(Some(body)),
            streamed: AtomicBool::new(false),
        })))
    }

    /// Whether part of the body went to a task already.
    pub(crate) fn streamed(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|held| held.streamed.load(Ordering::SeqCst))
    }

    fn lock(held: &HeldBody) -> std::sync::MutexGuard<'_, Option<Incoming>> {
        held.body.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let Some(held) = &self.0 else {
            return Poll::Ready(None);
        };
        let mut body = UpstreamBody::lock(held);
        let Some(inner) = body.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = Pin::new(inner).poll_frame(cx);
        if let Poll::Ready(Some(_)) = frame {
            held.streamed.store(true, Ordering::SeqCst);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(|held| {
            UpstreamBody::lock(held)
                .as_ref()
                .is_none_or(Body::is_end_stream)
        })
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            None => SizeHint::with_exact(0),
            Some(held) => UpstreamBody::lock(held)
                .as_ref()
                .map_or_else(|| SizeHint::with_exact(0), Body::size_hint),
        }
    }
}

/// Why a task gave no answer head. Each one counts as a failure of the task for outlier
/// detection.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No connection: refused, or not made within the connect timeout. The task never saw the
    /// request.
    Refused(hyper_util::client::legacy::Error),
    /// The connection broke (reset, closed) after it was made and before the answer's head.
    Reset(hyper_util::client::legacy::Error),
    /// No answer head within the first-byte timeout (or the whole upstream timeout).
    Timeout(Duration),
}

impl Failure {
    /// Whether the request may go to another task: never sent, or sent but idempotent with no
    /// byte of its body gone.
    pub(crate) fn retryable(&self, method: &Method, body: &UpstreamBody) -> bool {
        match self {
            Failure::Refused(_) => !body.streamed(),
            Failure::Reset(_) => idempotent(method) && !body.streamed(),
            Failure::Timeout(_) => false,
        }
    }
}

/// Sends `request` and waits for the answer's head: at most [`FIRST_BYTE_TIMEOUT`] once another
/// task answered (`answers` counts every answer head the proxy got), at most `limit` in all.
pub(crate) async fn exchange(
    client: &Client<HttpConnector, UpstreamBody>,
    request: Request<UpstreamBody>,
    answers: &AtomicU64,
    limit: Duration,
) -> Result<Response<Incoming>, Failure> {
    let seen = answers.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut answer = pin!(client.request(request));
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(FIRST_BYTE_TIMEOUT.min(left), &mut answer).await {
            Ok(Ok(response)) => {
                answers.fetch_add(1, Ordering::Relaxed);
                return Ok(response);
            }
            Ok(Err(err)) if err.is_connect() => return Err(Failure::Refused(err)),
            Ok(Err(err)) => return Err(Failure::Reset(err)),
            Err(_) => {
                let waited = started.elapsed();
                if answers.load(Ordering::Relaxed) != seen || waited >= limit {
                    return Err(Failure::Timeout(waited));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotent_methods_are_retried_after_a_reset() {
        let retried: Vec<&str> = [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::PUT,
            Method::DELETE,
            Method::POST,
            Method::PATCH,
            Method::CONNECT,
            Method::TRACE,
        ]
        .iter()
        .filter(|m| idempotent(m))
        .map(Method::as_str)
        .collect();
        assert_eq!(retried, ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
    }
}
