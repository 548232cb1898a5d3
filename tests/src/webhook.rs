//! Webhook receivers on 127.0.0.1 for the tests of `--notify` (meshtest-cli's notify.rs and
//! xtask's local events test): one that fails its first attempts then takes every event, one
//! that never answers, and the same over HTTPS with a certificate from a private CA made here
//! ([`TestCa`]), which a client trusts only when told to.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The body of one HTTP/1.1 request read from `reader` (its `content-length` bytes), or `None`
/// when the connection ends first.
pub fn read_body(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let (mut length, mut line) = (0, String::new());
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

/// A webhook on 127.0.0.1 that answers `503 Service Unavailable` to its first `failures`
/// requests and `200 OK` from then on ([`Webhook::flaky`]), or always one status
/// ([`Webhook::answering`]); it keeps the JSON bodies it answered 200 to, in order.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    accepted: Arc<Mutex<Vec<serde_json::Value>>>,
    requests: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
}

impl Webhook {
    /// Fails its first `failures` requests with 503, then takes every one; `path` is the URL's
    /// path (a webhook's secret, which messages must not show).
    pub fn flaky(failures: usize, path: &str) -> Webhook {
        Webhook::serve(path, None, move |n| {
            if n <= failures {
                "503 Service Unavailable"
            } else {
                "200 OK"
            }
        })
    }

    /// Answers every request with `status` (e.g. `404 Not Found`).
    pub fn answering(status: &'static str, path: &str) -> Webhook {
        Webhook::serve(path, None, move |_| status)
    }

    /// [`Webhook::flaky`] over HTTPS with a certificate for 127.0.0.1 that `ca` issued.
    pub fn flaky_tls(failures: usize, path: &str, ca: &TestCa) -> Webhook {
        let config = ca.server_config();
        Webhook::serve(path, Some(config), move |n| {
            if n <= failures {
                "503 Service Unavailable"
            } else {
                "200 OK"
            }
        })
    }

    fn serve(
        path: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
        answer: impl Fn(usize) -> &'static str + Send + 'static,
    ) -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!(
            "{scheme}://{}{path}",
            listener.local_addr().expect("local address")
        );
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let (into, counted, connected) = (accepted.clone(), requests.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                connected.fetch_add(1, Ordering::SeqCst);
                let handle = |io: &mut dyn ReadWrite| {
                    let mut reader = BufReader::new(io);
                    let Some(body) = read_body(&mut reader) else {
                        return;
                    };
                    let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                    let status = answer(n);
                    if status.starts_with("200") {
                        into.lock()
                            .unwrap()
                            .push(serde_json::from_slice(&body).expect("a JSON body"));
                    }
                    let io = reader.into_inner();
                    let _ = write!(
                        io,
                        "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = io.flush();
                };
                match &tls {
                    None => handle(&mut { stream }),
                    Some(config) => {
                        let Ok(connection) = rustls::ServerConnection::new(config.clone()) else {
                            continue;
                        };
                        // A client that refuses the certificate ends the handshake: the read
                        // fails and nothing is counted.
                        let mut tls = rustls::StreamOwned::new(connection, stream);
                        handle(&mut tls);
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    }
                }
            }
        });
        Webhook {
            url,
            accepted,
            requests,
            connections,
        }
    }

    /// The bodies answered 200, in order.
    pub fn accepted(&self) -> Vec<serde_json::Value> {
        self.accepted.lock().unwrap().clone()
    }

    /// Every request read to its end, answered 200 or not.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every connection taken, a request read on it or not (a refused TLS handshake).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A connection to read a request from and answer on: plain TCP or TLS.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A webhook on 127.0.0.1 that takes connections and never answers; `path` as for
/// [`Webhook::flaky`].
pub fn dead_receiver(path: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!(
        "http://{}{path}",
        listener.local_addr().expect("local address")
    );
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

/// A private certificate authority made for one test, and the certificate it issues for
/// 127.0.0.1: what a company's internal webhook would present.
pub struct TestCa {
    /// The CA's certificate, PEM: the file a client is told to trust.
    pub pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA named `name` and its server certificate for the IP address 127.0.0.1.
    pub fn new(name: &str) -> TestCa {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, name);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).expect("a self-signed CA");
        let issuer = Issuer::new(ca, ca_key);
        let server_key = KeyPair::generate().expect("a server key");
        // "127.0.0.1" becomes an IP address subject alternative name.
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server parameters");
        server
            .distinguished_name
            .push(DnType::CommonName, "meshtest test webhook");
        let server_cert = server
            .signed_by(&server_key, &issuer)
            .expect("a server certificate");
        TestCa {
            pem: ca_cert.pem(),
            chain: vec![server_cert.der().clone(), ca_cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
        }
    }

    /// Writes the CA's certificate to `path` (for `SSL_CERT_FILE`).
    pub fn write_pem(&self, path: &Path) {
        std::fs::write(path, &self.pem).expect("write the CA's certificate");
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                self.chain.clone(),
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .expect("the server certificate and key");
        Arc::new(config)
    }
}
