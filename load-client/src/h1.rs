//! Load-mode HTTP/1.1 for `http://` targets: one keep-alive connection per loop, driven by
//! hyper's connection API inside the loop's own task.
//!
//! reqwest (used for polling and for `https://` load) runs every connection as a separate task
//! behind a pool, which costs a task hop, a pool lookup and URL conversion per request. On a
//! two-core machine where the client shares the CPU with the server under test, that overhead
//! is taken straight from the server's throughput, so load mode skips it: the request is built
//! once, the connection is polled in the same task, and nothing is shared across connections.
//! Like wrk, this path connects directly (no `HTTP_PROXY`) and does not follow redirects.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1::{Builder, Connection, SendRequest};
use hyper::header::{CONNECTION, HOST, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::net::TcpStream;

use crate::config::Header;
use crate::plan::Plan;
use crate::record::Recorder;
use crate::tally::{ErrorKind, body_key};

/// What every request on every connection sends: built once per run.
#[derive(Debug)]
pub(crate) struct Endpoint {
    host: String,
    port: u16,
    uri: Uri,
    host_header: HeaderValue,
    /// `--header`s, after Host so that one can replace it.
    headers: Vec<Header>,
}

impl Endpoint {
    /// The endpoint for an `http://` URL; None for anything this path does not handle.
    pub(crate) fn for_url(url: &Url, headers: &[Header]) -> Option<Self> {
        if url.scheme() != "http" {
            return None;
        }
        let host = url.host_str()?.to_owned();
        let port = url.port_or_known_default()?;
        let host_header = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let uri: Uri = if path.is_empty() { "/" } else { path }.parse().ok()?;
        // IPv6 literals keep their brackets in the URL, but not for resolution.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Some(Self {
            host,
            port,
            uri,
            host_header: HeaderValue::from_str(&host_header).ok()?,
            headers: headers.to_vec(),
        })
    }
}

struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    driver: Pin<Box<Connection<TokioIo<TcpStream>, Empty<Bytes>>>>,
}

async fn connect(endpoint: &Endpoint) -> Result<Conn, ErrorKind> {
    let addrs = tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|_| ErrorKind::Dns)?;
    let mut last = ErrorKind::Dns;
    for addr in addrs {
        match connect_to(addr).await {
            Ok(conn) => return Ok(conn),
            Err(kind) => last = kind,
        }
    }
    Err(last)
}

async fn connect_to(addr: SocketAddr) -> Result<Conn, ErrorKind> {
    let stream = TcpStream::connect(addr).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => ErrorKind::Refused,
        std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Connect,
    })?;
    // Requests are single small writes; waiting for Nagle would only add latency.
    stream.set_nodelay(true).map_err(|_| ErrorKind::Connect)?;
    let (sender, driver) = Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|_| ErrorKind::Connect)?;
    Ok(Conn {
        sender,
        driver: Box::pin(driver),
    })
}

/// Result of one request on an existing connection.
enum Exchange {
    /// An answer; `keep` is false when the server asked to close.
    Answer {
        status: u16,
        body: Bytes,
        keep: bool,
    },
    /// The connection was closed before this request was sent: retry on a fresh one.
    Stale,
    /// The connection failed mid-request.
    Broken,
}

async fn exchange(conn: &mut Conn, endpoint: &Endpoint) -> Exchange {
    let Conn { sender, driver } = conn;
    if sender.is_closed() {
        return Exchange::Stale;
    }
    let mut request = Request::new(Empty::<Bytes>::new());
    *request.uri_mut() = endpoint.uri.clone();
    let headers = request.headers_mut();
    headers.insert(HOST, endpoint.host_header.clone());
    for h in &endpoint.headers {
        headers.insert(h.name.clone(), h.value.clone());
    }
    let send = async {
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let keep = response
            .headers()
            .get(CONNECTION)
            .is_none_or(|v| !v.as_bytes().eq_ignore_ascii_case(b"close"));
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>(Exchange::Answer { status, body, keep })
    };
    // The connection future does the socket I/O; polling it here keeps request and connection
    // in one task, so an answer needs no wake-up of another task.
    tokio::select! {
        biased;
        result = send => match result {
            Ok(answer) => answer,
            Err(e) if e.is_canceled() => Exchange::Stale,
            Err(_) => Exchange::Broken,
        },
        _ = driver.as_mut() => Exchange::Stale,
    }
}

/// Requests back to back (or paced) on one keep-alive connection, reconnecting as needed.
pub(crate) async fn connection_loop(
    plan: Arc<Plan>,
    endpoint: Rc<Endpoint>,
    recorder: Rc<RefCell<Recorder>>,
) {
    let mut pacer = plan.pacer();
    let mut conn: Option<Conn> = None;
    let mut key = String::new();
    while plan.take_ticket() {
        if let Some(p) = pacer.as_mut() {
            p.tick().await;
        }
        let sent = Instant::now();
        let attempt = async {
            // One silent retry when a kept-alive connection turns out to be closed already.
            for _ in 0..2 {
                let c = match conn.as_mut() {
                    Some(c) => c,
                    None => conn.insert(connect(&endpoint).await?),
                };
                match exchange(c, &endpoint).await {
                    Exchange::Answer { status, body, keep } => {
                        if !keep {
                            conn = None;
                        }
                        return Ok((status, body));
                    }
                    Exchange::Stale => conn = None,
                    Exchange::Broken => {
                        conn = None;
                        return Err(ErrorKind::Io);
                    }
                }
            }
            Err(ErrorKind::Io)
        };
        let result = match tokio::time::timeout(plan.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => {
                // Mid-request state is unknown: never reuse that connection.
                conn = None;
                Err(ErrorKind::Timeout)
            }
        };
        let latency = sent.elapsed();
        let mut recorder = recorder.borrow_mut();
        match result {
            Ok((status, body)) => {
                if (200..300).contains(&status) {
                    body_key(&body, &mut key);
                } else {
                    key.clear();
                    key.push_str("http:");
                    push_number(&mut key, status);
                }
                recorder.response(status, &key, latency);
            }
            Err(kind) => recorder.failure(kind),
        }
    }
}

/// Append a status code's digits without going through `fmt`.
fn push_number(key: &mut String, n: u16) {
    if n >= 10 {
        push_number(key, n / 10);
    }
    key.push(char::from(b'0' + (n % 10) as u8));
}
