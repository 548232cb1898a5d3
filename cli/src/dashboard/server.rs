//! The dashboard's HTTP server on 127.0.0.1: the page and its assets, the frames as
//! server-sent events, and the two buttons' POSTs
//!
//! Every request must carry the dashboard's token: the page, its assets and the event stream
//! in the query (`?token=`, which the printed URL holds; an `EventSource` cannot send a
//! header), a button's POST in the `x-meshtest-token` header only. A form or a link from
//! another site cannot set that header, and nothing is kept in a cookie a browser would send
//! on its own, so only the holder of the URL can press a button. Anything else answers 403.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::board::Acted;
use super::source::{Action, Source};

/// The header a button's POST carries the token in.
pub const TOKEN_HEADER: &str = "x-meshtest-token";

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

/// Only this origin's own assets, no inline script, no framing: the page shows text from the
/// model and the backend (alarm reasons), which it sets as text, never as markup.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

type Answer = Response<Either<Full<Bytes>, Events>>;

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    pub token: String,
    /// The latest frame as JSON.
    pub frames: watch::Receiver<Arc<String>>,
    pub source: Arc<dyn Source>,
    /// Tells the board what a button did, for the banner.
    pub acted: std::sync::mpsc::Sender<Acted>,
}

/// Serves connections from `listener` until the process ends.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&shared), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Compares in time independent of where the texts differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `token` query parameter.
fn query_token(request: &Request<Incoming>) -> Option<&str> {
    request
        .uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
}

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut response = Response::new(Either::Left(Full::new(body.into())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

fn json(status: StatusCode, value: &serde_json::Value) -> Answer {
    answer(status, "application/json", value.to_string())
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Answer, Infallible> {
    let token = shared.token.as_bytes();
    let method = request.method().clone();
    let allowed = if method == Method::POST {
        request
            .headers()
            .get(TOKEN_HEADER)
            .is_some_and(|v| same(v.as_bytes(), token))
    } else {
        query_token(&request).is_some_and(|t| same(t.as_bytes(), token))
    };
    if !allowed {
        return Ok(answer(
            StatusCode::FORBIDDEN,
            "text/plain; charset=utf-8",
            "missing or wrong dashboard token: open the URL the dashboard printed\n",
        ));
    }
    let response = match (&method, request.uri().path()) {
        (&Method::GET, "/") => answer(
            StatusCode::OK,
            "text/html; charset=utf-8",
            PAGE.replace("{{TOKEN}}", &shared.token),
        ),
        (&Method::GET, "/app.js") => answer(StatusCode::OK, "text/javascript", SCRIPT),
        (&Method::GET, "/style.css") => answer(StatusCode::OK, "text/css", STYLE),
        (&Method::GET, "/frame") => answer(
            StatusCode::OK,
            "application/json",
            shared.frames.borrow().as_str().to_owned(),
        ),
        (&Method::GET, "/events") => events(shared.frames.clone()),
        (&Method::POST, "/continue") => act(&shared, Action::Continue).await,
        (&Method::POST, "/rollback") => act(&shared, Action::Rollback).await,
        _ => answer(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "no such page\n",
        ),
    };
    Ok(response)
}

/// Runs `action` on a thread of its own (the local flows start a runtime of their own, which
/// cannot start on a thread that drives this one).
async fn act(shared: &Shared, action: Action) -> Answer {
    let source = Arc::clone(&shared.source);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(source.act(action));
    });
    let name = match action {
        Action::Continue => "continue",
        Action::Rollback => "rollback",
    };
    let tell = |outcome: &'static str, error: Option<String>| {
        let acted = Acted {
            action: name,
            outcome,
            error,
        };
        let _ = shared.acted.send(acted);
    };
    match rx.await {
        Ok(Ok(said)) => {
            tell("done", None);
            json(StatusCode::OK, &serde_json::json!({ "said": said }))
        }
        Ok(Err(err)) => {
            let error = crate::wording::message(&err);
            tell("refused", Some(error.clone()));
            json(StatusCode::CONFLICT, &serde_json::json!({ "error": error }))
        }
        Err(_) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({ "error": "the action stopped unexpectedly" }),
        ),
    }
}

/// A `text/event-stream` of every frame, the current one first.
fn events(mut frames: watch::Receiver<Arc<String>>) -> Answer {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        loop {
            let frame = Arc::clone(&frames.borrow_and_update());
            // One event, one `data:` line: the JSON has no newline.
            let event = Bytes::from(format!("data: {frame}\n\n"));
            if tx.send(event).await.is_err() || frames.changed().await.is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(Either::Right(Events(rx)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The body of an event stream: whatever the frame task sends, until it stops.
#[derive(Debug)]
pub struct Events(mpsc::Receiver<Bytes>);

impl Body for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|e| e.map(|b| Ok(Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }
}
