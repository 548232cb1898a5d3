//! A moto server on 127.0.0.1 for end-to-end tests: started on an OS-chosen port, killed on drop.
//!
//! moto is the pinned `moto[server]` that `cargo xtask test` installs (SPEC §6). It is started
//! through `moto_compat.py`, which runs moto's own server entry point after patching two gaps in
//! moto's CloudFormation emulation that would otherwise stop every meshtest stack from deploying
//! (see that file). Each test starts its own server, so tests run in parallel without sharing
//! state.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::{Tool, python_tool};

/// The patches applied before moto starts.
const COMPAT_SHIM: &str = include_str!("moto_compat.py");

/// How long moto may take to import and bind: its imports alone take seconds on a busy 2-core
/// machine running cargo at the same time.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// Fake credentials and an isolated configuration for AWS clients talking to moto: no real
/// credentials, no `~/.aws` files, no instance metadata lookups (which would leave loopback).
pub const FAKE_AWS_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_CONFIG_FILE", "/nonexistent/meshtest-tests/aws-config"),
    (
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/meshtest-tests/aws-credentials",
    ),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// Variables from the developer's shell that would point clients somewhere else.
pub const CLEARED_AWS_ENV: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_CLOUDFORMATION",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_SERVICEDISCOVERY",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

/// Gives `command` the fake AWS environment and removes anything that could reach real AWS.
pub fn isolate_aws_env(command: &mut Command) -> &mut Command {
    for var in CLEARED_AWS_ENV {
        command.env_remove(var);
    }
    for (var, value) in FAKE_AWS_ENV {
        command.env(var, value);
    }
    command
}

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl MotoServer {
    /// Starts moto, or returns `None` after printing SKIPPED when it is not installed (and
    /// panics under CI, see [`python_tool`]).
    pub fn start() -> Option<MotoServer> {
        let moto_server = python_tool(Tool::MotoServer)?;
        Some(MotoServer::start_with(&moto_server))
    }

    /// Starts the moto installed next to the `moto_server` script at `moto_server`.
    pub fn start_with(moto_server: &Path) -> MotoServer {
        let python = interpreter_of(moto_server);
        let mut command = Command::new(&python);
        command
            .args(["-c", COMPAT_SHIM, "-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Unbuffered, so the "Running on" line arrives as soon as moto prints it.
            .env("PYTHONUNBUFFERED", "1");
        isolate_aws_env(&mut command);
        let mut child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "cannot start moto with {}: {err}; rerun cargo xtask test to reinstall it",
                python.display()
            )
        });
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (port_tx, port_rx) = mpsc::channel();
        // Werkzeug prints the bound address on stderr and then one line per request; both
        // pipes are drained for the server's whole life so it never blocks on a full pipe.
        for stream in [
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = Arc::clone(&log);
            let port_tx = port_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if let Some(port) = bound_port(&line) {
                        let _ = port_tx.send(port);
                    }
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    if log.len() >= 400 {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
            });
        }
        drop(port_tx);
        let started = Instant::now();
        let port = match port_rx.recv_timeout(START_TIMEOUT) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                let log = log.lock().unwrap_or_else(|e| e.into_inner());
                panic!(
                    "moto did not report its port within {START_TIMEOUT:?} (exit status {status:?}); \
                     its output:\n{}",
                    Vec::from(log.clone()).join("\n")
                );
            }
        };
        let server = MotoServer { child, port, log };
        server.wait_until_answering(started);
        server
    }

    /// The port moto listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The endpoint URL to give AWS clients, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The last lines moto printed (requests, warnings, tracebacks), for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        Vec::from(log.clone()).join("\n")
    }

    fn wait_until_answering(&self, started: Instant) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if answers(addr) {
                return;
            }
            if started.elapsed() > START_TIMEOUT {
                panic!(
                    "moto bound port {} but does not answer HTTP; its output:\n{}",
                    self.port,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether an HTTP request to moto's own API gets a status line back.
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = "GET /moto-api/data.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

/// The port in Werkzeug's `Running on http://127.0.0.1:PORT` line.
pub fn bound_port(line: &str) -> Option<u16> {
    let rest = line.split("Running on http://127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|port| *port != 0)
}

/// The Python interpreter a console script runs with: its `#!` line (pip writes the venv's
/// interpreter there), else the `python` beside it.
fn interpreter_of(script: &Path) -> PathBuf {
    let shebang = std::fs::read(script).ok().and_then(|bytes| {
        let first = bytes.split(|b| *b == b'\n').next()?.to_vec();
        let line = String::from_utf8(first).ok()?;
        let path = line
            .strip_prefix("#!")?
            .split_whitespace()
            .next()?
            .to_string();
        Some(PathBuf::from(path))
    });
    match shebang {
        Some(path) if path.is_file() => path,
        _ => script.with_file_name("python"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_from_werkzeug_banner() {
        assert_eq!(
            bound_port(" * Running on http://127.0.0.1:34851"),
            Some(34851)
        );
        assert_eq!(
            bound_port("\u{1b}[33m * Running on http://127.0.0.1:5000\u{1b}[0m"),
            Some(5000)
        );
        assert_eq!(bound_port("Press CTRL+C to quit"), None);
        assert_eq!(bound_port(" * Running on http://127.0.0.1:0"), None);
    }
}
