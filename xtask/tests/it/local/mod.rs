//! End-to-end tests of `cargo xtask deploy|diff|status|destroy --local` (SPEC §7), on loopback.
//!
//! Each test deploys its own stack (`--stack-name lt-<test>-<pid>`, gateway on any free port), so
//! the tests run in parallel without sharing a port or a state folder, and a [`Deployed`] guard
//! destroys it even when the test fails. Every command and every request is bounded in time.

mod appmesh;
mod bluegreen;
mod crash;
pub(crate) mod dashboard;
mod eject;
mod errors;
mod events;
mod hooks;
mod lifecycle;
mod programs;
mod rollout;
mod serviceconnect;
mod terminal;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use local_runtime::control::Status;
use local_runtime::state_dir::{RuntimeRecord, StateDir};

/// A first deploy may build demo-app and the supervisor.
pub const DEPLOY_TIMEOUT: Duration = Duration::from_secs(900);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// What one `xtask` run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub success: bool,
    /// The exit code (None: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The last line of stderr: the one-line cause of a failure.
    pub fn error_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }
}

/// Runs the xtask binary with `args` (plus `envs`), killing it after `timeout`.
pub fn xtask_with(args: &[&str], envs: &[(&str, &str)], timeout: Duration) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        // Any free gateway port: tests run in parallel.
        .env("MESHTEST_LOCAL_GATEWAY_PORT", "0")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the xtask binary runs");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    // Read both pipes while waiting, so a chatty cargo build cannot fill one and block.
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for xtask") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("xtask {args:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        success: status.success(),
        code: status.code(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    };
    eprintln!("$ xtask {}\n{}{}", args.join(" "), run.stdout, run.stderr);
    run
}

pub fn xtask(args: &[&str]) -> Run {
    xtask_with(args, &[], COMMAND_TIMEOUT)
}

/// A stack name no other test uses.
pub fn stack_name(test: &str) -> String {
    format!("lt-{test}-{}", std::process::id())
}

/// The folder `cargo xtask` keeps `stack`'s local state in.
pub fn state_dir(stack: &str) -> StateDir {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    StateDir::new(&target, stack)
}

/// A deployed stack; dropping it runs `destroy --local`.
#[derive(Debug)]
pub struct Deployed {
    pub app: String,
    pub stack: String,
}

impl Deployed {
    /// Deploys `app` as a fresh stack named after `test`.
    pub fn new(app: &str, test: &str, extra: &[&str]) -> (Deployed, Run) {
        let stack = stack_name(test);
        let deployed = Deployed {
            app: app.to_owned(),
            stack,
        };
        let run = deployed.deploy(extra);
        assert!(run.success, "deploy failed: {}", run.error_line());
        (deployed, run)
    }

    pub fn deploy(&self, extra: &[&str]) -> Run {
        let mut args = vec!["deploy", &self.app, "--local", "--stack-name", &self.stack];
        args.extend_from_slice(extra);
        xtask_with(&args, &[], DEPLOY_TIMEOUT)
    }

    pub fn run(&self, command: &str, extra: &[&str]) -> Run {
        let mut args = vec![command, &self.app, "--local", "--stack-name", &self.stack];
        args.extend_from_slice(extra);
        xtask(&args)
    }

    pub fn status(&self) -> Status {
        let run = self.run("status", &["--json"]);
        assert!(run.success, "status failed: {}", run.error_line());
        serde_json::from_str(&run.stdout).expect("status --json prints a status")
    }

    pub fn record(&self) -> RuntimeRecord {
        state_dir(&self.stack)
            .read_runtime()
            .expect("runtime.json reads")
            .expect("runtime.json exists while deployed")
    }

    pub fn gateway_url(&self) -> String {
        self.status().gateway.expect("the stack has a gateway").url
    }

    pub fn service_url(&self, name: &str) -> String {
        self.status()
            .services
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("service {name} runs"))
            .url
    }
}

impl Drop for Deployed {
    fn drop(&mut self) {
        let run = self.run("destroy", &[]);
        if !run.success && !std::thread::panicking() {
            panic!("destroy failed: {}", run.error_line());
        }
    }
}

/// A small blocking HTTP client for the tests (never through a proxy).
#[derive(Debug)]
pub struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Default for Http {
    fn default() -> Http {
        Http::new()
    }
}

impl Http {
    pub fn new() -> Http {
        Http {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime starts"),
            client: reqwest::Client::builder()
                .no_proxy()
                // This runtime only runs during a request, so it never notices a server closing
                // an idle connection: expire them long before any server would.
                .pool_idle_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(10))
                .build()
                .expect("a client builds"),
        }
    }

    /// Status and body of `GET url`.
    pub fn get(&self, url: &str) -> (u16, String) {
        self.runtime.block_on(async {
            let response = match self.client.get(url).send().await {
                Ok(response) => response,
                Err(err) => {
                    let mut chain = err.to_string();
                    let mut source = std::error::Error::source(&err);
                    while let Some(e) = source {
                        chain.push_str(&format!(": {e}"));
                        source = e.source();
                    }
                    panic!("GET {url}: {chain}");
                }
            };
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        })
    }

    /// Status and body of `POST url` with an empty body and `header`.
    pub fn post(&self, url: &str, header: Option<(&str, &str)>) -> (u16, String) {
        self.runtime.block_on(async {
            let mut request = self.client.post(url);
            if let Some((name, value)) = header {
                request = request.header(name, value);
            }
            let response = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("POST {url}: {e}"));
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        })
    }

    /// The JSON body of `GET url`, which must answer 200.
    pub fn json(&self, url: &str) -> serde_json::Value {
        let (status, body) = self.get(url);
        assert_eq!(status, 200, "GET {url} answered {status}: {body}");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {url} is not JSON ({e}): {body}"))
    }
}

/// Whether a process with this pid still runs (a zombie does not: it only waits to be reaped).
pub fn pid_runs(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Every pid the supervisor's log says it ran (itself and each task it started).
pub fn pids_in_log(log: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.split_whitespace()
        .filter_map(|word| word.strip_prefix("pid="))
        .filter_map(|pid| pid.parse().ok())
        .collect()
}
