//! The dashboard in a real browser (issue 18, item 5): Debian's headless Chromium, driven over
//! the DevTools protocol, watches a local LINEAR rollout under load (the chart's share of the
//! new version rises through the steps, the step track advances) and presses Continue and
//! Rollback at PAUSE hooks. Chromium is required: without it the test fails and says how to
//! install it (`.ci/run` does).
//!
//! The protocol is JSON over one WebSocket; `tungstenite` (a dev-dependency of xtask, whose
//! end-to-end tests these are) is a small synchronous client, and the test speaks the few
//! commands it needs itself (`Target.createTarget`, `Page.navigate`, `Runtime.evaluate`,
//! `Page.captureScreenshot`) rather than pulling in a browser automation framework and its
//! async runtime.

use std::io::{BufRead as _, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use model::DeploymentStatus;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use super::rollout::{deploy_with_hook, pause_hook, progress, web_service_json};
use crate::local::{DEPLOY_TIMEOUT, Deployed, Http, Run, xtask_with};

/// How long one DevTools command may take.
const CDP_TIMEOUT: Duration = Duration::from_secs(30);

/// A headless Chromium of this test's own, in a process group of its own, stopped (the whole
/// group) when dropped.
struct Chromium {
    child: Child,
    _profile: tempfile::TempDir,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// The page's session (flat mode): commands for the page carry it.
    session: String,
}

impl Chromium {
    fn launch() -> Chromium {
        let binary = std::env::var_os("MESHTEST_CHROMIUM").unwrap_or_else(|| "chromium".into());
        let profile = tempfile::tempdir().unwrap();
        let spawned = Command::new(&binary)
            .args([
                "--headless",
                // Root (CI) has no user namespace sandbox to give the renderer.
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-sync",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-domain-reliability",
                "--no-pings",
                // Anything but loopback (which Chromium never proxies) goes to a closed local
                // port: the browser reaches no other address.
                "--proxy-server=http://127.0.0.1:9",
                "--window-size=1100,720",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(err) => panic!(
                "cannot start {} ({err}): the dashboard test needs Debian's chromium; install it with `apt-get install chromium` (.ci/run does) or name another binary in MESHTEST_CHROMIUM",
                binary.to_string_lossy()
            ),
        };
        // Chromium writes its port and the browser's path once it listens.
        let active = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(60);
        let (port, path) = loop {
            let text = std::fs::read_to_string(&active).unwrap_or_default();
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                break (port.trim().to_owned(), path.trim().to_owned());
            }
            assert!(
                Instant::now() < deadline,
                "chromium wrote no DevToolsActivePort in 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        stream.set_read_timeout(Some(CDP_TIMEOUT)).unwrap();
        let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream)
            .expect("the DevTools WebSocket opens");
        let mut browser = Chromium {
            child,
            _profile: profile,
            ws,
            next_id: 1,
            session: String::new(),
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1100, "height": 720, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser
    }

    /// Sends one command (to the page once attached) and returns its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(message.to_string()))
            .expect("a DevTools command is sent");
        loop {
            let answer = match self.ws.read() {
                Ok(Message::Text(text)) => text,
                Ok(_) => continue,
                Err(err) => panic!("no answer to {method}: {err}"),
            };
            let answer: Value = serde_json::from_str(answer.as_str()).unwrap();
            if answer["id"] != id {
                continue; // an event
            }
            assert!(
                answer.get("error").is_none(),
                "{method} failed: {}",
                answer["error"]
            );
            return answer["result"].clone();
        }
    }

    fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
    }

    /// The value of `expression` in the page (returned by value: JSON-able).
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression} threw: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    fn screenshot(&mut self, file: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64(shot["data"].as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(file, png).unwrap();
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.call_quietly("Browser.close");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its renderers and helpers share its process group: stop whatever is left of it.
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Chromium {
    /// A browser-level command whose answer does not matter (closing).
    fn call_quietly(&mut self, method: &str) -> Result<(), tungstenite::Error> {
        let message = json!({"id": 0, "method": method});
        self.ws.send(Message::text(message.to_string()))
    }
}

/// Standard base64 (the screenshot's encoding) to bytes.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=').map(value).collect();
    let mut bytes = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
        bytes.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    bytes
}

/// A `cargo xtask dashboard` process, running until dropped.
pub(crate) struct Dashboard {
    child: Child,
    /// The printed URL, with its token.
    pub(crate) url: String,
}

impl Dashboard {
    /// `dashboard <app> --local --stack-name <stack>`.
    fn start(stack: &Deployed) -> Dashboard {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command.args([
            "dashboard",
            &stack.app,
            "--local",
            "--stack-name",
            &stack.stack,
        ]);
        Dashboard::run(command)
    }

    /// Runs `command` (an xtask dashboard) and reads the URL it prints. It runs in a process
    /// group of its own: on AWS xtask hands over to a `meshtest-aws` child, which must stop
    /// with it.
    pub(crate) fn run(mut command: Command) -> Dashboard {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("the xtask binary runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("dashboard: {line}");
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the dashboard printed its URL within 60 s");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_owned();
        Dashboard { child, url }
    }

    /// `http://127.0.0.1:<port>`
    pub(crate) fn base(&self) -> &str {
        self.url.split_once("/?").unwrap().0
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        // The whole group: xtask and the `meshtest-aws` it runs (killing xtask alone left that
        // one serving, holding the test's output open).
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// What the page shows of web's rollout, read from the DOM (its `data-` attributes).
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    status: String,
    step: u32,
    steps: u32,
    /// The new version's share of the answers at the chart's last point.
    new_share: Option<f64>,
    can_continue: bool,
    can_rollback: bool,
}

const READ_CARD: &str = r#"(() => {
  const card = document.querySelector('.card[data-service="web"]');
  if (!card) return null;
  const share = card.querySelector('svg.share');
  return {
    status: card.dataset.status,
    step: +card.dataset.step,
    steps: +card.dataset.steps,
    newShare: share && share.dataset.newShare !== '' ? +share.dataset.newShare : null,
    canContinue: card.dataset.canContinue === 'true',
    canRollback: card.dataset.canRollback === 'true',
    track: card.querySelector('ol.steps').dataset.step,
    current: [...card.querySelectorAll('ol.steps li')].findIndex((li) => li.dataset.current === 'true') + 1,
    line: card.querySelector('p.line.current').textContent,
    banner: document.getElementById('banner-line').textContent,
  };
})()"#;

fn shown(browser: &mut Chromium) -> Option<Shown> {
    let v = browser.eval(READ_CARD);
    if v.is_null() {
        return None;
    }
    let step = v["step"].as_u64().unwrap() as u32;
    // The track marks the step the card names (none before the first shift).
    assert_eq!(v["track"].as_str(), Some(step.to_string().as_str()), "{v}");
    assert_eq!(v["current"].as_u64(), Some(u64::from(step)), "{v}");
    // The banner is the card's line as this frame has it (it once kept a button's older
    // answer: 20% in the banner while the card said 60%).
    assert_eq!(
        v["banner"].as_str(),
        Some(format!("web: {}", v["line"].as_str().unwrap()).as_str()),
        "{v}"
    );
    Some(Shown {
        status: v["status"].as_str().unwrap().to_owned(),
        step,
        steps: v["steps"].as_u64().unwrap() as u32,
        new_share: v["newShare"].as_f64(),
        can_continue: v["canContinue"].as_bool().unwrap(),
        can_rollback: v["canRollback"].as_bool().unwrap(),
    })
}

/// Polls the page until `done` holds for what it shows (at most `within`).
fn wait_for(browser: &mut Chromium, within: Duration, what: &str, done: impl Fn(&Shown) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        if shown(browser).as_ref().is_some_and(&done) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed {what}: {:?}",
            shown(browser)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Confirms (the page asks with `window.confirm`) and presses the card's `action` button.
fn press(browser: &mut Chromium, action: &str) {
    let pressed = browser.eval(&format!(
        r#"(() => {{
          window.confirm = () => true;
          const button = document.querySelector('.card[data-service="web"] button[data-action="{action}"]');
          if (!button) return false;
          button.click();
          return true;
        }})()"#
    ));
    assert_eq!(pressed, json!(true), "no {action} button");
}

/// Sequential GETs to `url` until stopped (bounded: 180 s); how many were answered 200.
fn load(url: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, usize)> {
    std::thread::spawn(move || {
        let http = Http::new();
        let t0 = Instant::now();
        let (mut sent, mut ok) = (0, 0);
        while !stop.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(180) {
            sent += 1;
            if http.get(&url).0 == 200 {
                ok += 1;
            }
        }
        (sent, ok)
    })
}

/// `deploy <description> --local --stack-name <stack> --minute 2s` with the binaries the first
/// deploy built: a build while the page is watched would only eat into the test's waits.
fn deploy_built(description: &str, stack: &str) -> Run {
    let args = [
        "deploy",
        description,
        "--local",
        "--stack-name",
        stack,
        "--minute",
        "2s",
    ];
    xtask_with(&args, &[("MESHTEST_LOCAL_NO_BUILD", "1")], DEPLOY_TIMEOUT)
}

/// Where the screenshot of the page mid-rollout goes (the README's docs/dashboard.png is one).
fn screenshot_file() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("dashboard.png")
}

#[test]
fn the_dashboard_follows_a_linear_rollout_in_a_browser_and_its_buttons_act_at_pauses() {
    let mut browser = Chromium::launch();
    let (stack, v2, dir) = deploy_with_hook("dash", &pause_hook());
    let dashboard = Dashboard::start(&stack);

    // Nothing answers without the token, nor a button without it in its header.
    let http = Http::new();
    let base = dashboard.base().to_owned();
    assert_eq!(http.get(&format!("{base}/")).0, 403);
    assert_eq!(http.get(&format!("{base}/?token=0")).0, 403);
    assert_eq!(http.get(&format!("{base}/events")).0, 403);
    assert_eq!(http.get(&dashboard.url).0, 200);
    let token = dashboard.url.split_once("token=").unwrap().1;
    assert_eq!(http.get(&format!("{base}/frame?token={token}")).0, 200);
    // A button's POST needs the token in its header: in the query it is refused.
    let refused = http.post(&format!("{base}/rollback?token={token}"), None);
    assert_eq!(refused.0, 403, "{refused:?}");
    let wrong = http.post(&format!("{base}/rollback"), Some(("x-meshtest-token", "0")));
    assert_eq!(wrong.0, 403, "{wrong:?}");
    // With it, a rollback with nothing to roll back is refused by the runtime, not the page.
    let nothing = http.post(
        &format!("{base}/rollback"),
        Some(("x-meshtest-token", token)),
    );
    assert_eq!(nothing.0, 409, "{nothing:?}");

    browser.navigate(&dashboard.url);
    let deadline = Instant::now() + Duration::from_secs(30);
    while browser.eval("document.body && document.body.dataset.frameAt !== undefined")
        != json!(true)
    {
        assert!(Instant::now() < deadline, "the page rendered no frame");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The topology: the gateway's rule reaches front, which calls web.
    let topology = browser.eval("document.getElementById('topology').innerText");
    let topology = topology.as_str().unwrap();
    assert!(topology.contains("\u{2192} front"), "{topology}");
    assert!(topology.contains("front \u{2192} web"), "{topology}");

    let stop = Arc::new(AtomicBool::new(false));
    let loading = load(stack.service_url("web"), Arc::clone(&stop));

    // Version 2 pauses at its hook; Continue (confirmed) lets it go through its five steps.
    let name = stack.stack.clone();
    let deploying = std::thread::spawn(move || deploy_built(&v2, &name));
    wait_for(&mut browser, Duration::from_secs(90), "the pause", |s| {
        s.can_continue
    });
    let at_pause = shown(&mut browser).unwrap();
    assert_eq!((at_pause.step, at_pause.steps), (0, 5), "{at_pause:?}");
    press(&mut browser, "continue");

    let mut seen: Vec<Shown> = Vec::new();
    let mut shot = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = shown(&mut browser).unwrap();
        if !shot && now.step == 3 && now.new_share.is_some() {
            browser.screenshot(&screenshot_file());
            shot = true;
        }
        let done = now.status == DeploymentStatus::Successful.as_str();
        seen.push(now);
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "the page never showed the end");
        std::thread::sleep(Duration::from_millis(150));
    }
    let run = deploying.join().unwrap();
    assert!(run.success, "{}", run.error_line());
    eprintln!(
        "(step, new share) seen: {:?}",
        seen.iter()
            .map(|s| (s.step, s.new_share))
            .collect::<Vec<_>>()
    );

    // The track advanced step by step, never back, through most of the five steps (a poll can
    // miss a step on a loaded machine) to the last.
    let mut steps: Vec<u32> = seen.iter().map(|s| s.step).collect();
    assert!(steps.windows(2).all(|w| w[0] <= w[1]), "{steps:?}");
    steps.dedup();
    assert!(steps.len() >= 4, "the track showed only steps {steps:?}");
    assert_eq!(steps.last(), Some(&5));
    // The chart's share of version 2 rose with the steps: low at the first ones, high at the
    // last, each step's average share near its production share.
    let average = |step: u32| {
        let shares: Vec<f64> = seen
            .iter()
            .filter(|s| s.step == step)
            .filter_map(|s| s.new_share)
            .collect();
        (!shares.is_empty()).then(|| shares.iter().sum::<f64>() / shares.len() as f64)
    };
    let by_step: Vec<(u32, Option<f64>)> = (1..=5).map(|k| (k, average(k))).collect();
    eprintln!("average share of version 2 by step: {by_step:?}");
    let known: Vec<f64> = by_step.iter().filter_map(|(_, a)| *a).collect();
    assert!(known.len() >= 3, "{by_step:?}");
    assert!(
        known.first().unwrap() + 0.3 < *known.last().unwrap(),
        "the share did not rise: {by_step:?}"
    );
    assert!(*known.first().unwrap() < 0.5, "{by_step:?}");
    assert!(*known.last().unwrap() > 0.7, "{by_step:?}");
    assert!(shot, "no screenshot mid-rollout");

    // Version 3 pauses too; Rollback (confirmed) rolls it back.
    let v3 = web_service_json(dir.path(), &stack.stack, 3, |web| {
        web.deployment.lifecycle_hooks = vec![pause_hook()]
    });
    let name = stack.stack.clone();
    let deploying = std::thread::spawn(move || deploy_built(&v3, &name));
    wait_for(
        &mut browser,
        Duration::from_secs(90),
        "the second pause",
        |s| s.can_continue && s.status == DeploymentStatus::InProgress.as_str(),
    );
    press(&mut browser, "rollback");
    let run = deploying.join().unwrap();
    assert!(!run.success, "a rolled-back deploy fails: {}", run.stdout);
    let p = progress(&stack);
    assert_eq!(p.status, DeploymentStatus::RollbackSuccessful);
    assert_eq!(p.target.as_deref(), Some("3"));
    wait_for(&mut browser, Duration::from_secs(30), "the rollback", |s| {
        s.status == DeploymentStatus::RollbackSuccessful.as_str() && !s.can_rollback
    });
    let acted = browser.eval("document.getElementById('banner').dataset.outcome");
    assert_eq!(acted, json!("done"));
    let acted = browser.eval("document.getElementById('banner-acted').textContent");
    assert_eq!(acted, json!("rollback: done"));

    stop.store(true, Ordering::SeqCst);
    let (sent, ok) = loading.join().unwrap();
    assert!(sent > 100, "the load loop sent only {sent} requests");
    assert_eq!(ok, sent, "a request failed during the rollouts");
    drop(dashboard);
    drop(browser);
}
