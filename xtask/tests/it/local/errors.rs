//! Failures: a one-line cause, and no process left behind

use crate::local::{
    DEPLOY_TIMEOUT, pid_runs, pids_in_log, stack_name, state_dir, xtask, xtask_with,
};
use std::path::{Path, PathBuf};

/// Deploys `app` as `stack` with `envs`; it must fail with a single-line cause.
fn failed_deploy(app: &str, stack: &str, envs: &[(&str, &str)]) -> String {
    let run = xtask_with(
        &["deploy", app, "--local", "--stack-name", stack],
        envs,
        DEPLOY_TIMEOUT,
    );
    assert!(!run.success, "deploy should have failed:\n{}", run.stdout);
    let line = run.error_line().to_owned();
    assert!(line.starts_with("error: "), "{}", run.stderr);
    line
}

/// Destroys whatever a test's deploys left, even when an assertion fails.
fn guard(stack: &str) -> crate::local::Deployed {
    crate::local::Deployed {
        app: "appmesh".to_owned(),
        stack: stack.to_owned(),
    }
}

/// Every process the supervisor log names is gone; the folder is then removed.
fn assert_nothing_left(stack: &str) {
    let dir = state_dir(stack);
    let pids = pids_in_log(&dir.supervisor_log());
    for pid in &pids {
        assert!(!pid_runs(*pid), "pid {pid} of the failed deploy still runs");
    }
    let record = dir.read_runtime().unwrap();
    assert!(
        record.is_none(),
        "a failed first deploy leaves no runtime.json: {record:?}"
    );
    let run = xtask(&["destroy", "appmesh", "--local", "--stack-name", stack]);
    assert!(run.success, "{}", run.error_line());
    assert!(!dir.exists());
}

fn script(name: &str, body: &str) -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, path)
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn gateway_port_in_use() {
    let stack = stack_name("err-port");
    let _guard = guard(&stack);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let line = failed_deploy("appmesh", &stack, &[("MESHTEST_LOCAL_GATEWAY_PORT", &port)]);
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    assert!(line.contains("the port is in use"), "{line}");
    assert_nothing_left(&stack);
}

#[test]
fn a_demo_app_that_never_gets_healthy() {
    let stack = stack_name("err-hang");
    let _guard = guard(&stack);
    // Starts, never prints its port, never answers.
    let (_dir, program) = script("demo-app", "exec sleep 60");
    let line = failed_deploy(
        "serviceconnect",
        &stack,
        &[
            ("MESHTEST_LOCAL_DEMO_APP", path_str(&program)),
            ("MESHTEST_LOCAL_HEALTH_TIMEOUT_MS", "1000"),
        ],
    );
    assert!(line.contains("did not become healthy within 1 s"), "{line}");
    assert!(line.contains("never printed its start-up line"), "{line}");
    assert!(
        pids_in_log(&state_dir(&stack).supervisor_log()).len() >= 2,
        "tasks were started"
    );
    assert_nothing_left(&stack);
}

#[test]
fn a_demo_app_that_exits_at_start() {
    let stack = stack_name("err-exit");
    let _guard = guard(&stack);
    let (_dir, program) = script(
        "demo-app",
        "echo 'demo-app: invalid configuration' >&2; exit 3",
    );
    let line = failed_deploy(
        "serviceconnect",
        &stack,
        &[("MESHTEST_LOCAL_DEMO_APP", path_str(&program))],
    );
    assert!(
        line.contains("exited during start-up (exit code 3): demo-app: invalid configuration"),
        "{line}"
    );
    assert_nothing_left(&stack);
}

#[test]
fn a_missing_binary() {
    let stack = stack_name("err-missing");
    let _guard = guard(&stack);
    let line = failed_deploy(
        "appmesh",
        &stack,
        &[("MESHTEST_LOCAL_DEMO_APP", "/nonexistent/demo-app")],
    );
    assert!(
        line.contains("missing demo-app binary /nonexistent/demo-app"),
        "{line}"
    );
    assert!(
        pids_in_log(&state_dir(&stack).supervisor_log()).is_empty(),
        "nothing was started"
    );
    assert_nothing_left(&stack);
}

#[test]
fn a_failed_redeploy_keeps_the_previous_deployment() {
    // A stack described in JSON; its next version gives green a configuration demo-app refuses.
    let name = stack_name("err-redeploy");
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("stack.json");
    let mut spec = model::examples::appmesh(&name);
    std::fs::write(&file, serde_json::to_string(&spec).unwrap()).unwrap();
    let app = path_str(&file).to_owned();
    let stack = crate::local::Deployed {
        app: app.clone(),
        stack: name.clone(),
    };
    let first = stack.deploy(&[]);
    assert!(first.success, "{}", first.error_line());
    let before = stack.record();

    let green = spec
        .services
        .iter_mut()
        .find(|s| s.name == "green")
        .unwrap();
    green
        .environment
        .insert("SERVICE_WORKERS".into(), "0".into());
    std::fs::write(&file, serde_json::to_string(&spec).unwrap()).unwrap();
    let run = stack.deploy(&[]);
    assert!(!run.success);
    let line = run.error_line();
    assert!(line.starts_with("error: "), "{}", run.stderr);
    assert!(
        line.contains("the previous deployment still runs"),
        "{line}"
    );
    assert!(
        line.contains("exited during start-up (exit code 1)"),
        "{line}"
    );

    // Same tasks, still answering; the failed task is gone.
    assert_eq!(before.tasks, stack.record().tasks);
    let http = crate::local::Http::new();
    assert_eq!(
        http.json(&format!("{}/green", stack.gateway_url()))["service"],
        "green"
    );
    let started = pids_in_log(&state_dir(&name).supervisor_log());
    let recorded: Vec<u32> = before.tasks.iter().map(|t| t.process.pid).collect();
    // The supervisor's log names its data plane too, which keeps running with it.
    let plane = before.dataplane.as_ref().map(|d| d.pid);
    for pid in started
        .iter()
        .filter(|p| !recorded.contains(p) && **p != before.supervisor.pid && Some(**p) != plane)
    {
        assert!(!pid_runs(*pid), "the failed task {pid} still runs");
    }
}

#[test]
fn a_stack_whose_description_is_gone_can_still_be_destroyed_by_name() {
    let stack = stack_name("gone-json");
    let run = xtask(&[
        "destroy",
        "/nonexistent/gone.json",
        "--stack-name",
        &stack,
        "--local",
    ]);
    assert!(run.success, "{}", run.error_line());
    assert_eq!(
        run.stdout,
        format!("nothing to destroy: {stack} is not running locally\n")
    );
}
