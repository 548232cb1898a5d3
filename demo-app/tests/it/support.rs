//! Shared test fixtures: in-process demo-apps, tiny scripted HTTP servers, and an HTTP client,
//! all on 127.0.0.1 with OS-chosen ports.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use demo_app::{Config, Lookup, ProxySetting, Resolver, RunningApp};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// Upper bound for anything a test waits on; only ever hit when something is broken.
pub const GUARD: Duration = Duration::from_secs(20);

/// A demo-app on 127.0.0.1:0 with one worker, no proxy, and `tweak` applied.
pub async fn start_app(name: &str, version: &str, tweak: impl FnOnce(&mut Config)) -> RunningApp {
    let mut config = Config::new(name, version);
    config.host = Ipv4Addr::LOCALHOST.into();
    config.port = 0;
    config.workers = 1;
    // Tests must not depend on a proxy that happens to be set in the environment.
    config.proxy = ProxySetting::Disabled;
    tweak(&mut config);
    demo_app::spawn(config).await.expect("demo-app starts")
}

/// `GET http://{addr}{path}` without any proxy: (status, body).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(reqwest::Method::GET, addr, path).await
}

/// Any method: (status, body).
pub async fn request(method: reqwest::Method, addr: SocketAddr, path: &str) -> (u16, String) {
    request_with(method, addr, path, &[]).await
}

/// `GET path` with extra request headers: (status, body).
pub async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    request_with(reqwest::Method::GET, addr, path, headers).await
}

async fn request_with(
    method: reqwest::Method,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds");
    let mut request = client.request(method, format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = tokio::time::timeout(GUARD, request.send())
        .await
        .expect("answer within the guard time")
        .expect("request succeeds");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body reads"))
}

/// What a scripted server does with each connection.
#[derive(Debug, Clone)]
pub enum Script {
    /// Wait, then write these bytes and close.
    Answer { delay: Duration, bytes: Vec<u8> },
    /// Read the request and never answer (holds the connection open).
    Silent,
}

/// A scripted HTTP/1.1 server: counts connections and records request heads.
#[derive(Debug)]
pub struct ScriptedServer {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    received: Arc<tokio::sync::Notify>,
}

impl ScriptedServer {
    pub async fn start(script: Script) -> Self {
        Self::start_on(Ipv4Addr::LOCALHOST.into(), script).await
    }

    /// A scripted server on `ip` (a loopback address), port 0.
    pub async fn start_on(ip: IpAddr, script: Script) -> Self {
        let listener = TcpListener::bind((ip, 0))
            .await
            .unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
        let addr = listener.local_addr().expect("local addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(tokio::sync::Notify::new());
        let (c, h, r) = (connections.clone(), heads.clone(), received.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let (h, r, script) = (h.clone(), r.clone(), script.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    h.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    r.notify_one();
                    match script {
                        Script::Answer { delay, bytes } => {
                            tokio::time::sleep(delay).await;
                            let _ = stream.write_all(&bytes).await;
                            let _ = stream.shutdown().await;
                        }
                        Script::Silent => {
                            // Keep the socket open until the peer gives up.
                            let _ = stream.read(&mut buf).await;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            connections,
            heads,
            received,
        }
    }

    /// A server that answers every request at once with `bytes`.
    pub async fn answering(bytes: Vec<u8>) -> Self {
        Self::start(Script::Answer {
            delay: Duration::ZERO,
            bytes,
        })
        .await
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Request heads received so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// Wait until a request head has arrived.
    pub async fn wait_for_request(&self) {
        if !self.heads.lock().unwrap().is_empty() {
            return;
        }
        tokio::time::timeout(GUARD, self.received.notified())
            .await
            .expect("a request reaches the scripted server");
    }
}

/// A complete HTTP/1.1 response with Content-Length, closing the connection.
pub fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A 200 JSON response.
pub fn json_response(body: &str) -> Vec<u8> {
    response("200 OK", "application/json", body)
}

pub use meshtest_tests::net::refused_port;

/// A resolver the test controls, like an `/etc/hosts` file: names it does not know fail to
/// resolve. It records every name it was asked for.
#[derive(Debug, Default)]
pub struct HostsResolver {
    entries: HashMap<String, Vec<IpAddr>>,
    asked: Mutex<Vec<String>>,
}

impl HostsResolver {
    /// `entries` as `(name, address)` pairs; a name may appear more than once.
    pub fn new(entries: &[(&str, &str)]) -> Arc<Self> {
        let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (name, ip) in entries {
            let ip = ip.parse().expect("test address parses");
            map.entry((*name).to_owned()).or_default().push(ip);
        }
        Arc::new(Self {
            entries: map,
            asked: Mutex::new(Vec::new()),
        })
    }

    /// Names looked up so far.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Resolver for HostsResolver {
    fn lookup(&self, host: String) -> Lookup {
        self.asked.lock().unwrap().push(host.clone());
        let found = self.entries.get(&host).cloned();
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, host))
        })
    }
}
