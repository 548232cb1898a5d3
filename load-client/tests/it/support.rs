//! Fixtures: an in-process demo-app and tiny scripted HTTP servers on 127.0.0.1:0.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use demo_app::{Config, ProxySetting, RunningApp};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// Upper bound for anything a test waits on; only ever hit when something is broken.
pub const GUARD: Duration = Duration::from_secs(30);

/// A demo-app on 127.0.0.1:0.
pub async fn demo_app(name: &str, version: &str, allow: Option<&str>) -> RunningApp {
    let mut config = Config::new(name, version);
    config.host = Ipv4Addr::LOCALHOST.into();
    config.port = 0;
    config.workers = 1;
    config.proxy = ProxySetting::Disabled;
    if let Some(list) = allow {
        config.allow = demo_app::AllowList::parse(list).unwrap();
    }
    demo_app::spawn(config).await.expect("demo-app starts")
}

/// A keep-alive HTTP/1.1 server answering request number `n` (from 0, across connections)
/// with `answer(n)`: (status line, body). `None` means read the request and never answer.
pub async fn scripted(
    answer: impl Fn(usize) -> Option<(&'static str, String)> + Send + Sync + 'static,
) -> SocketAddr {
    scripted_by_head(move |n, _| answer(n)).await
}

/// [`scripted`], with the request head (request line and headers, lowercased) also given.
pub async fn scripted_by_head(
    answer: impl Fn(usize, &str) -> Option<(&'static str, String)> + Send + Sync + 'static,
) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    let counter = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (answer, counter) = (answer.clone(), counter.clone());
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    // One request head per answer; GETs carry no body.
                    while !pending.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    }
                    let end = pending.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
                    pending.drain(..end);
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    match answer(n, &head) {
                        Some((status, body)) => {
                            let response = format!(
                                "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if stream.write_all(response.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        None => {
                            let _ = stream.read(&mut buf).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

pub use meshtest_tests::net::refused_port;

/// A TCP switch on 127.0.0.1:0 in front of some backends: a new connection goes to the
/// selected backend, and selecting another closes every open connection, so keep-alive
/// clients move over too (as a traffic shift does).
#[derive(Debug)]
pub struct Switch {
    addr: SocketAddr,
    selected: tokio::sync::watch::Sender<usize>,
}

impl Switch {
    /// A switch sending to `backends[0]`.
    pub async fn start(backends: Vec<SocketAddr>) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let (selected, watching) = tokio::sync::watch::channel(0);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut watching = watching.clone();
                let backend = backends[*watching.borrow_and_update()];
                tokio::spawn(async move {
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream) => {}
                        _ = watching.changed() => {}
                    }
                });
            }
        });
        Self { addr, selected }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Send new connections to `backends[i]` and close the open ones.
    pub fn select(&self, i: usize) {
        self.selected.send_replace(i);
    }
}
