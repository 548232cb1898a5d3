//! Services' own programs (the model's `local` block) on the local runtime, with the Python
//! example (`examples/python-shop`): a caller reaches its callee by Service Connect name with
//! `http.client`, which ignores `HTTP_PROXY`; a LINEAR rollout under load, a failing version rolled
//! back, test traffic through the caller; the `HTTP_PROXY` fallback; and bad programs, each with a
//! message naming the service, the version and the log, and no process left behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use model::{DeploymentStatus, StackSpec};

use super::rollout::{assert_no_failure, assert_shares_match, by_split, under_loads, watch_split};
use crate::local::{DEPLOY_TIMEOUT, Deployed, Http, Run, stack_name, state_dir, xtask, xtask_with};

/// The example's description, by absolute path (its programs run from its folder).
fn shop_json() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/python-shop/shop.json")
        .canonicalize()
        .expect("the python-shop example exists")
        .display()
        .to_string()
}

/// Every process whose environment carries `stack`'s marker folder (what `destroy` finds).
fn marked(stack: &str) -> Vec<u32> {
    let dir = state_dir(stack);
    let folder = dir.canonical().unwrap_or_else(|_| {
        let target = dir.path().parent().and_then(Path::parent).unwrap();
        target.canonicalize().unwrap().join("local").join(stack)
    });
    let needle = format!("MESHTEST_LOCAL_STACK_DIR={}", folder.display());
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let carries = environ.split(|b| *b == 0).any(|e| e == needle.as_bytes());
        if carries && crate::local::pid_runs(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// No marked process of `stack` within a few seconds (a supervisor finishes stopping first).
fn assert_none_marked(stack: &str, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = marked(stack);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{when}: processes {left:?} of {stack} still run"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_caller_reaches_the_callee_by_name_with_http_client_and_rolls_out_linear() {
    let (stack, first) = Deployed::new(&shop_json(), "py-shop", &[]);
    assert!(
        first
            .stdout
            .contains("service connect names resolve in each program's own /etc/hosts"),
        "{}",
        first.stdout
    );
    let gateway = stack.gateway_url();
    let http = Http::new();
    // front calls orders.shop:8080 with http.client: the name resolves from its /etc/hosts.
    let body = http.json(&format!("{gateway}/"));
    assert_eq!(body["service"], "front", "{body}");
    assert_eq!(body["response"]["service"], "orders", "{body}");
    assert_eq!(body["response"]["version"], "1", "{body}");
    let hosts =
        std::fs::read_to_string(state_dir(&stack.stack).logs_dir().join("front-task1.hosts"))
            .unwrap();
    assert!(
        hosts
            .lines()
            .any(|l| l.starts_with("127.255.") && l.ends_with("\torders.shop")),
        "{hosts}"
    );

    // LINEAR to version 2 under load through front, with test traffic beside it.
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let watching = watch_split(&stack, t0, Arc::clone(&stop));
    let header = ("x-amzn-ecs-blue-green-test", "true");
    let ((run, tested), samples) = under_loads(t0, &format!("{gateway}/"), None, 2, || {
        under_loads(t0, &format!("{gateway}/"), Some(header), 1, || {
            stack.deploy(&["--version", "2", "--minute", "1s"])
        })
    });
    stop.store(true, Ordering::SeqCst);
    let polls = watching.join().unwrap();
    assert!(run.success, "{}", run.error_line());
    assert!(
        run.stdout.contains("orders: rollout to 2 finished"),
        "{}",
        run.stdout
    );
    assert_no_failure(&samples);
    let p = stack.status().rollout.expect("a rollout ran");
    let shifts: Vec<u32> = p.shifts.iter().map(|s| s.percent.tenths()).collect();
    assert_eq!(shifts, [200, 400, 600, 800, 1000], "{:?}", p.shifts);
    let levels = by_split(&samples, &polls);
    assert_shares_match(&levels, 0.15);
    let stepped = levels
        .iter()
        .filter(|(t, (n, _))| (1..1000).contains(*t) && *n >= 5)
        .count();
    assert!(stepped >= 3, "the load saw too few steps: {levels:?}");
    // The caller passed the test header on: while production was split, every test request
    // reached version 2.
    let tested_levels = by_split(&tested, &polls);
    eprintln!("test traffic (production tenths, (requests, answered by 2)): {tested_levels:?}");
    let during: Vec<_> = tested_levels
        .iter()
        .filter(|(t, _)| (1..1000).contains(*t))
        .collect();
    assert!(!during.is_empty(), "{tested_levels:?}");
    for (_, (requests, new)) in during {
        assert_eq!(requests, new, "{tested_levels:?}");
    }

    // Version 3 answers 500: rolled back on the alarm.
    let (run, samples) = under_loads(Instant::now(), &format!("{gateway}/"), None, 2, || {
        stack.deploy(&["--version", "3", "--minute", "1s"])
    });
    assert!(!run.success, "{}", run.stdout);
    assert!(
        run.stdout.contains("orders: rolled back to 2"),
        "{}",
        run.stdout
    );
    assert_eq!(
        stack
            .status()
            .rollout
            .expect("a rollout ran")
            .progress
            .status,
        DeploymentStatus::RollbackSuccessful
    );
    assert!(
        samples.iter().any(|s| s.status == Some(500)),
        "version 3 served"
    );
    let body = http.json(&format!("{gateway}/"));
    assert_eq!(body["response"]["version"], "2", "{body}");
    let name = stack.stack.clone();
    drop(stack);
    assert_none_marked(&name, "after destroy");
}

#[test]
fn without_namespaces_the_fallback_is_http_proxy_and_is_said() {
    let name = stack_name("py-fallback");
    let stack = Deployed {
        app: shop_json(),
        stack: name.clone(),
    };
    let run = xtask_with(
        &["deploy", &stack.app, "--local", "--stack-name", &name],
        &[("MESHTEST_LOCAL_NAMESPACES", "off")],
        DEPLOY_TIMEOUT,
    );
    assert!(run.success, "{}", run.error_line());
    assert!(
        run.stdout.contains(
            "warning: no per-task /etc/hosts (MESHTEST_LOCAL_NAMESPACES=off): the programs reach service connect names through HTTP_PROXY only, which Python's http.client"
        ),
        "{}",
        run.stdout
    );
    let gateway = stack.gateway_url();
    let http = Http::new();
    // http.client ignores HTTP_PROXY: the name does not resolve.
    let (status, body) = http.get(&format!("{gateway}/"));
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("http.client to orders.shop:8080"), "{body}");
    // urllib reads it: the egress proxy routes the name.
    let body = http.json(&format!("{gateway}/urllib"));
    assert_eq!(body["response"]["service"], "orders", "{body}");
    assert!(
        !state_dir(&name)
            .logs_dir()
            .join("front-task1.hosts")
            .exists()
    );
}

/// The example with `orders` running `command` (one task, health checked on `GET /`): the
/// description written to `dir`.
fn bad_orders(dir: &Path, command: Vec<String>) -> String {
    let text = std::fs::read_to_string(shop_json()).unwrap();
    let mut spec: StackSpec = serde_json::from_str(&text).unwrap();
    // The programs stay in the example's folder, whatever the folder of this description.
    let folder = Path::new(&shop_json())
        .parent()
        .unwrap()
        .display()
        .to_string();
    for svc in &mut spec.services {
        if let Some(local) = svc.local.as_mut() {
            local.working_directory = Some(folder.clone());
        }
    }
    let orders = spec
        .services
        .iter_mut()
        .find(|s| s.name == "orders")
        .unwrap();
    orders.desired_count = 1;
    orders.health_check = None;
    let local = orders.local.as_mut().unwrap();
    local.command = command;
    local.stop_timeout_seconds = Some(2);
    let path = dir.join("shop.json");
    std::fs::write(&path, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    path.display().to_string()
}

/// `script` as a command run by `sh`.
fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

/// A deploy of the example with `orders` running `command`, as test `test`: what it ran and
/// how it ended. Dropping it destroys the stack.
struct OrdersRun {
    _dir: tempfile::TempDir,
    json: String,
    name: String,
    stack: Deployed,
    run: Run,
}

fn deploy_orders(test: &str, command: Vec<String>, envs: &[(&str, &str)]) -> OrdersRun {
    let dir = tempfile::tempdir().unwrap();
    let json = bad_orders(dir.path(), command);
    let name = stack_name(test);
    let stack = Deployed {
        app: json.clone(),
        stack: name.clone(),
    };
    let run: Run = xtask_with(
        &["deploy", &json, "--local", "--stack-name", &name],
        envs,
        DEPLOY_TIMEOUT,
    );
    OrdersRun {
        _dir: dir,
        json,
        name,
        stack,
        run,
    }
}

/// Deploys `orders` running `command`, which must fail with a one-line cause that names the
/// service, the version and the log and contains each of `expected`; nothing is left, after the
/// failed deploy and after destroy.
fn check(test: &str, command: Vec<String>, envs: &[(&str, &str)], expected: &[&str]) {
    let deployed = deploy_orders(test, command, envs);
    let run = &deployed.run;
    assert!(!run.success, "the deploy should fail: {}", run.stdout);
    let line = run.error_line();
    for want in ["(orders version 1)", "orders-task1.log"]
        .iter()
        .chain(expected)
    {
        assert!(line.contains(want), "`{want}` not in: {line}");
    }
    assert_none_marked(&deployed.name, "after the failed deploy");
    let destroyed = xtask(&[
        "destroy",
        &deployed.json,
        "--local",
        "--stack-name",
        &deployed.name,
    ]);
    assert!(destroyed.success, "{}", destroyed.error_line());
    assert_none_marked(&deployed.name, "after destroy");
}

#[test]
fn a_command_that_does_not_exist() {
    check(
        "py-missing",
        vec!["no-such-program-meshtest".into()],
        &[],
        &[
            "(orders version 1) exited during start-up (exit code 127)",
            "cannot run `no-such-program-meshtest`: no such program on PATH or at that path; check `local.command`",
        ],
    );
}

#[test]
fn a_program_that_exits_at_once() {
    check(
        "py-exits",
        sh("echo 'orders: no database' >&2; exit 3"),
        &[],
        &["exited during start-up (exit code 3): orders: no database"],
    );
}

#[test]
fn a_program_that_never_opens_its_port() {
    check(
        "py-silent",
        sh("exec sleep 60"),
        &[("MESHTEST_LOCAL_HEALTH_TIMEOUT_MS", "1500")],
        &[
            "did not become healthy within 1.5 s",
            "it must listen on the port in PORT",
        ],
    );
}

#[test]
fn a_program_that_listens_on_another_port() {
    check(
        "py-otherport",
        sh("exec python3 -m http.server 0 --bind 127.0.0.1"),
        &[("MESHTEST_LOCAL_HEALTH_TIMEOUT_MS", "1500")],
        &["nothing listens on port", "the one it was told in PORT"],
    );
}

#[test]
fn a_program_that_forks_and_exits() {
    // The fork keeps running (and listens where it was told): the task still ends, as a
    // container whose main process exits does, and the fork goes with it.
    check(
        "py-forks",
        sh("python3 -m http.server \"$PORT\" --bind 127.0.0.1 >/dev/null 2>&1 & exit 0"),
        &[],
        &[
            "exited during start-up (exit code 0;",
            "must keep running in the foreground",
        ],
    );
}

#[test]
fn a_program_printing_megabytes_has_its_log_capped() {
    let deployed = deploy_orders(
        "py-chatty",
        sh(
            "yes 'orders: chatty line of output' & exec python3 -m http.server \"$PORT\" --bind 127.0.0.1",
        ),
        &[],
    );
    assert!(deployed.run.success, "{}", deployed.run.error_line());
    let name = deployed.name.clone();
    let log: PathBuf = state_dir(&name).logs_dir().join("orders-task1.log");
    // The supervisor checks every 100 ms; a loaded machine may delay a check, so wait for the
    // line (bounded) rather than read once.
    let deadline = Instant::now() + Duration::from_secs(20);
    let capped = loop {
        std::thread::sleep(Duration::from_millis(500));
        let text = std::fs::read(&log).unwrap();
        // The line sits inside the cap, where later cuts keep it.
        let head = &text[..text.len().min(5 * 1024 * 1024)];
        if String::from_utf8_lossy(head).contains("this log is capped at 4 MiB per start") {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    assert!(capped, "no cap line in {}", log.display());
    let size = std::fs::metadata(&log).unwrap().len();
    // The cap (4 MiB) plus what the program writes between two checks.
    assert!(size < 64 * 1024 * 1024, "the log grew to {size} bytes");
    drop(deployed);
    assert_none_marked(&name, "after destroy");
}

#[test]
fn a_program_that_ignores_sigterm_is_killed_after_its_stop_timeout_with_its_children() {
    let deployed = deploy_orders(
        "py-stubborn",
        sh("trap '' TERM; sleep 300 & exec python3 -m http.server \"$PORT\" --bind 127.0.0.1"),
        &[],
    );
    assert!(deployed.run.success, "{}", deployed.run.error_line());
    let (json, name) = (deployed.json.clone(), deployed.name.clone());
    assert!(
        marked(&name).len() >= 4,
        "supervisor, data plane, front, orders and its child"
    );
    let started = Instant::now();
    let destroyed = xtask(&["destroy", &json, "--local", "--stack-name", &name]);
    assert!(destroyed.success, "{}", destroyed.error_line());
    assert_none_marked(&name, "after destroy");
    // stopTimeout 2 model seconds: SIGKILL well within the destroy.
    assert!(started.elapsed() < Duration::from_secs(30));
    std::mem::forget(deployed.stack);
}

#[test]
fn programs_are_found_by_their_marker_when_the_supervisor_and_data_plane_are_killed() {
    let (stack, _) = Deployed::new(&shop_json(), "py-crash", &[]);
    let record = stack.record();
    let programs: Vec<u32> = record.tasks.iter().map(|t| t.process.pid).collect();
    assert_eq!(programs.len(), 3, "{:?}", record.tasks);
    for pid in [Some(record.supervisor.pid), record.dataplane.map(|d| d.pid)]
        .into_iter()
        .flatten()
    {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let left = marked(&stack.stack);
    assert!(
        programs.iter().all(|p| left.contains(p)),
        "the programs outlive their supervisor: {left:?}"
    );
    let name = stack.stack.clone();
    drop(stack);
    assert_none_marked(&name, "after destroy");
}
