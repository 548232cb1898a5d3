//! The built `demo-app` binary as a process: start-up line, access log, signals, the
//! health-check subcommand, and `HTTP_PROXY`.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{GUARD, Script, ScriptedServer, get, json_response, refused_port};

const BIN: &str = env!("CARGO_BIN_EXE_demo-app");

/// Environment variables a developer's shell might carry that would change the behaviour.
const SCRUBBED: &[&str] = &[
    "SERVICE_NAME",
    "SERVICE_VERSION",
    "SERVICE_PORT",
    "SERVICE_HOST",
    "SERVICE_NAMESPACE",
    "DOWNSTREAM_ALLOW",
    "PROPAGATE_HEADERS",
    "FAULT_RATE",
    "FAULT_SEED",
    "RUST_LOG",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// A running demo-app process with its stdout lines arriving on a channel.
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Process {
    /// Start the binary on 127.0.0.1:0 with `env` on top of a scrubbed environment.
    fn start(env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BIN);
        for var in SCRUBBED {
            command.env_remove(var);
        }
        command
            .env("SERVICE_HOST", "127.0.0.1")
            .env("SERVICE_PORT", "0")
            .env("SERVICE_WORKERS", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("demo-app binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first stdout line matching `pred` (earlier lines are kept in `seen`).
    fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no stdout line {what}; saw {:?}", self.seen),
            }
        }
    }

    /// Wait for the start-up line and return it with the announced address.
    fn startup(&mut self) -> (String, SocketAddr) {
        let line = self.wait_line("announcing the port", |l| l.contains("running on port: "));
        let port: u16 = line
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .expect("port number at the end");
        (line, SocketAddr::from(([127, 0, 0, 1], port)))
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).expect("signal delivered");
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + GUARD;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait on child") {
                return status;
            }
            assert!(Instant::now() < deadline, "demo-app did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `demo-app health-check` with `env`; its exit code.
fn health_check(env: &[(&str, &str)]) -> i32 {
    let mut command = Command::new(BIN);
    for var in SCRUBBED {
        command.env_remove(var);
    }
    let output = command
        .arg("health-check")
        .envs(env.iter().copied())
        .output()
        .expect("health-check runs");
    output.status.code().expect("exited normally")
}

#[tokio::test]
async fn startup_line_is_exactly_the_seeds() {
    let mut app = Process::start(&[("SERVICE_NAME", "blue"), ("SERVICE_VERSION", "7")]);
    let (line, addr) = app.startup();
    assert_ne!(addr.port(), 0, "the real port is announced, not 0");
    assert_eq!(
        line,
        format!(
            "Service 'blue' (version 7) running on port: {}",
            addr.port()
        )
    );
    // It is the very first line on stdout.
    assert_eq!(app.seen.first(), Some(&line));
    assert_eq!(
        get(addr, "/").await,
        (
            200,
            r#"{"message":"ok","service":"blue","version":"7"}"#.to_owned()
        )
    );
}

#[tokio::test]
async fn startup_line_with_seed_defaults() {
    let mut app = Process::start(&[]);
    let (line, addr) = app.startup();
    assert_eq!(
        line,
        format!(
            "Service 'unknown' (version unknown) running on port: {}",
            addr.port()
        )
    );
}

#[tokio::test]
async fn each_request_writes_one_access_log_line() {
    let mut app = Process::start(&[("SERVICE_NAME", "blue")]);
    let (_, addr) = app.startup();
    get(addr, "/first-path").await;
    get(addr, "/second-path?q=1").await;
    let first = app.wait_line("for the first request", |l| {
        l.contains("path=\"/first-path\"")
    });
    assert!(
        first.contains(" INFO access: method=GET path=\"/first-path\" status=200 micros="),
        "{first}"
    );
    app.wait_line("for the second request", |l| {
        l.contains("path=\"/second-path\"")
    });
    let logged = app.seen.iter().filter(|l| l.contains(" access: ")).count();
    assert_eq!(logged, 2, "{:?}", app.seen);
}

#[tokio::test]
async fn rust_log_can_silence_the_access_log() {
    let mut app = Process::start(&[("RUST_LOG", "warn")]);
    let (_, addr) = app.startup();
    get(addr, "/quiet").await;
    // A refused downstream logs a warning, which proves the writer is flushing.
    get(addr, "/downstream/127.0.0.1").await;
    app.wait_line("with the refusal warning", |l| {
        l.contains("WARN") && l.contains("not allowed")
    });
    assert!(
        !app.seen.iter().any(|l| l.contains("access:")),
        "{:?}",
        app.seen
    );
}

/// Start green, send a slow /downstream request, deliver `signal` while it is in flight.
async fn drains_on(signal: Signal) {
    let slow = ScriptedServer::start(Script::Answer {
        delay: Duration::from_millis(800),
        bytes: json_response(r#"{"message":"ok","service":"blue","version":"1"}"#),
    })
    .await;
    let mut app = Process::start(&[("SERVICE_NAME", "green"), ("DOWNSTREAM_ALLOW", "127.0.0.1")]);
    let (_, addr) = app.startup();
    let path = format!("/downstream/127.0.0.1:{}", slow.addr.port());
    let in_flight = tokio::spawn(async move { get(addr, &path).await });
    slow.wait_for_request().await;
    app.signal(signal);
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            r#"{"message":"fetched!","service":"green","response":{"message":"ok","service":"blue","version":"1"}}"#
        )
    );
    let exit = tokio::task::spawn_blocking(move || app.wait_exit())
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}

#[tokio::test]
async fn sigterm_drains_an_in_flight_request_and_exits_0() {
    drains_on(Signal::SIGTERM).await;
}

#[tokio::test]
async fn ctrl_c_drains_an_in_flight_request_and_exits_0() {
    drains_on(Signal::SIGINT).await;
}

#[tokio::test]
async fn health_check_exit_codes() {
    let mut app = Process::start(&[]);
    let (_, addr) = app.startup();
    let port = addr.port().to_string();
    assert_eq!(health_check(&[("SERVICE_PORT", &port)]), 0);
    // SERVICE_HOST 0.0.0.0 (the default) probes loopback.
    assert_eq!(
        health_check(&[("SERVICE_PORT", &port), ("SERVICE_HOST", "0.0.0.0")]),
        0
    );
    assert_eq!(
        health_check(&[("SERVICE_PORT", &refused_port().to_string())]),
        1
    );
    assert_eq!(health_check(&[("SERVICE_PORT", "0")]), 1);
    assert_eq!(health_check(&[("SERVICE_PORT", "not-a-port")]), 1);
}

#[tokio::test]
async fn a_faulty_version_still_passes_its_health_check() {
    // FAULT_RATE=1 answers every request with 500, but the probe is exempt: the version becomes
    // healthy, and its traffic, not its start, triggers the rollback.
    let mut app = Process::start(&[("SERVICE_NAME", "web"), ("FAULT_RATE", "1")]);
    let (_, addr) = app.startup();
    assert_eq!(get(addr, "/").await.0, 500);
    let port = addr.port().to_string();
    let code = tokio::task::spawn_blocking(move || health_check(&[("SERVICE_PORT", &port)]))
        .await
        .unwrap();
    assert_eq!(code, 0);
    // The warning may come before or after the start-up line (the log writer is its own thread).
    let warning = |l: &str| l.contains("WARN") && l.contains("FAULT_RATE=1");
    if !app.seen.iter().any(|l| warning(l)) {
        app.wait_line("with the fault warning", warning);
    }
}

#[test]
fn an_invalid_fault_rate_stops_the_start_with_one_line() {
    let mut command = Command::new(BIN);
    for var in SCRUBBED {
        command.env_remove(var);
    }
    let output = command
        .env("FAULT_RATE", "30%")
        .output()
        .expect("demo-app runs");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "demo-app: invalid configuration: FAULT_RATE=\"30%\" is invalid: expected a share of \
         requests to answer with 500, from 0.0 (off) to 1.0\n"
    );
}

#[tokio::test]
async fn health_check_fails_on_a_non_200_answer() {
    let server = ScriptedServer::answering(crate::support::response(
        "503 Service Unavailable",
        "text/plain",
        "down",
    ))
    .await;
    let port = server.addr.port().to_string();
    let code = tokio::task::spawn_blocking(move || {
        health_check(&[("SERVICE_PORT", &port), ("SERVICE_HOST", "127.0.0.1")])
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
}

#[tokio::test]
async fn http_proxy_from_the_environment_carries_mesh_names() {
    // The local runtime's egress proxy resolves mesh names; NO_PROXY listing loopback must not
    // stop names like blue.serviceconnect from going to it.
    let proxy = ScriptedServer::answering(json_response(
        r#"{"message":"ok","service":"blue","version":"2"}"#,
    ))
    .await;
    let proxy_url = format!("http://{}", proxy.addr);
    let mut app = Process::start(&[
        ("SERVICE_NAME", "green"),
        ("SERVICE_NAMESPACE", "serviceconnect"),
        ("HTTP_PROXY", &proxy_url),
        ("NO_PROXY", "127.0.0.1,localhost"),
    ]);
    let (_, addr) = app.startup();
    assert_eq!(
        get(addr, "/downstream/blue.serviceconnect").await,
        (200, r#"{"message":"fetched!","service":"green","response":{"message":"ok","service":"blue","version":"2"}}"#.to_owned())
    );
    assert!(
        proxy.heads()[0].starts_with("GET http://blue.serviceconnect/ HTTP/1.1\r\n"),
        "{:?}",
        proxy.heads()
    );
    // Outside the namespace: refused before the proxy sees anything.
    assert_eq!(get(addr, "/downstream/blue.appmesh").await.0, 403);
    assert_eq!(proxy.connections(), 1);
}

#[tokio::test]
async fn a_name_no_proxy_sends_direct_is_still_guarded() {
    // NO_PROXY takes `localhost` off the proxy path; going direct, it resolves to loopback and is
    // refused like any other name, without a connection to the proxy or to the port.
    let proxy = ScriptedServer::answering(json_response(r#"{"via":"proxy"}"#)).await;
    let target = ScriptedServer::answering(json_response(r#"{"secret":true}"#)).await;
    let mut app = Process::start(&[
        ("SERVICE_NAME", "green"),
        ("DOWNSTREAM_ALLOW", "localhost, blue.serviceconnect"),
        ("HTTP_PROXY", &format!("http://{}", proxy.addr)),
        ("NO_PROXY", "localhost"),
    ]);
    let (_, addr) = app.startup();
    assert_eq!(
        get(
            addr,
            &format!("/downstream/localhost:{}", target.addr.port())
        )
        .await,
        (
            403,
            r#"{"message":"error","service":"green","error":"downstream target not allowed"}"#
                .to_owned()
        )
    );
    assert_eq!((proxy.connections(), target.connections()), (0, 0));
    // The proxy path itself still works.
    assert_eq!(get(addr, "/downstream/blue.serviceconnect").await.0, 200);
    assert_eq!(proxy.connections(), 1);
}

#[test]
fn invalid_configuration_exits_1_with_the_variable_named() {
    let mut command = Command::new(BIN);
    for var in SCRUBBED {
        command.env_remove(var);
    }
    let output = command
        .env("SERVICE_PORT", "eighty")
        .output()
        .expect("demo-app runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SERVICE_PORT=\"eighty\" is invalid"),
        "{stderr}"
    );
}
