//! A lost supervisor or record: deploy starts cleanly, destroy still stops everything it started
//! (found by the marker in each process's environment), and nothing it did not start

use std::path::Path;
use std::time::Duration;

use local_runtime::process::{MARKER_DIR_ENV, MARKER_TOKEN_ENV, ProcessId};
use local_runtime::state_dir::RuntimeRecord;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::local::{Deployed, Http, state_dir};

/// The supervisor, its data plane and every task `record` lists.
fn processes(record: &RuntimeRecord) -> Vec<ProcessId> {
    std::iter::once(record.supervisor.clone())
        .chain(record.dataplane.clone())
        .chain(record.tasks.iter().map(|t| t.process.clone()))
        .collect()
}

/// The pids carrying `stack`'s marker, sorted.
fn marked(stack: &str) -> Vec<u32> {
    let mut pids: Vec<u32> = state_dir(stack)
        .marked_processes()
        .iter()
        .map(|p| p.id.pid)
        .collect();
    pids.sort_unstable();
    pids
}

fn wait_gone(process: &ProcessId) {
    assert!(
        process.wait_gone(Duration::from_secs(10)),
        "pid {} still runs",
        process.pid
    );
}

/// The supervisor and its data plane both killed: nothing serves, so nothing is taken over; the
/// next deploy stops the tasks left and starts afresh, and says why.
#[test]
fn deploy_after_the_supervisor_and_its_data_plane_were_killed_starts_cleanly() {
    let (stack, _) = Deployed::new("appmesh", "crash", &[]);
    let old = stack.record();
    let plane = old
        .dataplane
        .clone()
        .expect("runtime.json names the data plane");
    for p in [&old.supervisor, &plane] {
        kill(Pid::from_raw(p.pid as i32), Signal::SIGKILL).unwrap();
        wait_gone(p);
    }

    let again = stack.deploy(&[]);
    assert!(again.success, "{}", again.error_line());
    assert!(
        again
            .stderr
            .contains("is gone, its data plane too, so nothing serves that could be taken over"),
        "{}",
        again.stderr
    );
    for p in processes(&old) {
        assert!(
            !p.is_running(),
            "pid {} of the killed runtime still runs",
            p.pid
        );
    }
    // Only the new runtime's processes are left, and they answer.
    let new = stack.record();
    assert_ne!(new.supervisor, old.supervisor);
    let mut pids: Vec<u32> = processes(&new).iter().map(|p| p.pid).collect();
    pids.sort_unstable();
    assert_eq!(marked(&stack.stack), pids);
    let http = Http::new();
    assert_eq!(
        http.json(&format!("{}/green", stack.gateway_url()))["service"],
        "green"
    );
}

/// The supervisor alone killed (no rollout running): `status` says the data plane still serves
/// and that the next deploy takes it over; that deploy starts a new supervisor on the same data
/// plane and tasks, which keep answering, and destroy then stops them all.
#[test]
fn deploy_after_the_supervisor_was_killed_takes_over_what_runs() {
    let (stack, _) = Deployed::new("appmesh", "takeover", &[]);
    let old = stack.record();
    let gateway = stack.gateway_url();
    kill(Pid::from_raw(old.supervisor.pid as i32), Signal::SIGKILL).unwrap();
    wait_gone(&old.supervisor);
    let http = Http::new();
    assert_eq!(http.json(&format!("{gateway}/green"))["service"], "green");

    let status = stack.run("status", &[]);
    assert!(!status.success);
    assert!(
        status.stderr.contains(&format!(
            "is gone, but its data plane (pid {}) still serves its tasks; the next `",
            old.dataplane.as_ref().unwrap().pid
        )) && status
            .stderr
            .contains("` takes over the data plane and tasks, or `"),
        "{}",
        status.stderr
    );

    let again = stack.deploy(&[]);
    assert!(again.success, "{}", again.error_line());
    assert!(
        again.stderr.contains("a new one takes over its data plane"),
        "{}",
        again.stderr
    );
    let new = stack.record();
    assert_ne!(new.supervisor, old.supervisor);
    assert_eq!(new.dataplane, old.dataplane, "the data plane was replaced");
    let tasks = |r: &RuntimeRecord| -> Vec<ProcessId> {
        let mut t: Vec<ProcessId> = r.tasks.iter().map(|t| t.process.clone()).collect();
        t.sort_by_key(|p| p.pid);
        t
    };
    assert_eq!(tasks(&new), tasks(&old), "the tasks were replaced");
    assert_eq!(stack.gateway_url(), gateway);
    assert_eq!(http.json(&format!("{gateway}/green"))["service"], "green");
    // Nothing of the stack runs but what the new record lists.
    let mut pids: Vec<u32> = processes(&new).iter().map(|p| p.pid).collect();
    pids.sort_unstable();
    assert_eq!(marked(&stack.stack), pids);

    // destroy (the guard's) stops the adopted data plane and tasks with the new supervisor.
    drop(stack);
    for p in processes(&new) {
        wait_gone(&p);
    }
}

/// A process that is not ours: `program` renamed like ours, with `envs`.
fn decoy(name: &str, envs: &[(&str, &Path)]) -> (tempfile::TempDir, std::process::Child) {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join(name);
    std::fs::copy("/bin/sleep", &program).unwrap();
    let child = std::process::Command::new(&program)
        .arg("120")
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .spawn()
        .unwrap();
    (dir, child)
}

/// Deploys, damages `runtime.json` with `damage`, destroys: nothing of the stack is left, and the
/// decoys (our programs' names, or our folder with a token we never issued) still run.
fn destroy_after(test: &str, damage: impl Fn(&Path), check: impl Fn(&Deployed)) {
    let (stack, _) = Deployed::new("serviceconnect", test, &[]);
    let ours = processes(&stack.record());
    // The supervisor, its data plane and two tasks.
    assert_eq!(ours.len(), 4);
    let dir = state_dir(&stack.stack);
    let canonical = dir.path().canonicalize().unwrap();
    let mut decoys = [
        decoy("meshtest-local", &[]),
        decoy(
            "demo-app",
            &[
                (MARKER_DIR_ENV, &canonical),
                (MARKER_TOKEN_ENV, Path::new("0123")),
            ],
        ),
    ];
    damage(&dir.runtime_file());
    check(&stack);

    let destroy = stack.run("destroy", &[]);
    assert!(destroy.success, "{}", destroy.error_line());
    assert!(
        destroy.stdout.contains("4 process(es)"),
        "{}",
        destroy.stdout
    );
    for p in &ours {
        wait_gone(p);
    }
    assert!(!dir.exists());
    for (_, child) in &mut decoys {
        assert_eq!(
            child.try_wait().unwrap(),
            None,
            "destroy stopped a process it did not start"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[test]
fn destroy_without_runtime_json_stops_everything() {
    destroy_after(
        "crash-missing",
        |file| std::fs::remove_file(file).unwrap(),
        |stack| {
            let status = stack.run("status", &[]);
            assert!(!status.success);
            assert!(
                status
                    .error_line()
                    .contains("has no runtime record but processes of it still run"),
                "{}",
                status.stderr
            );
        },
    );
}

#[test]
fn destroy_with_a_corrupt_runtime_json_stops_everything() {
    destroy_after(
        "crash-corrupt",
        |file| std::fs::write(file, "{\"stack\": tru").unwrap(),
        |stack| {
            // Every other command refuses, and says how to get out.
            for run in [
                stack.run("status", &[]),
                stack.deploy(&[]),
                stack.run("diff", &[]),
            ] {
                assert!(!run.success);
                let destroy = format!(
                    "cargo xtask destroy serviceconnect --stack-name {} --local",
                    stack.stack
                );
                assert!(run.stderr.contains("is unreadable"), "{}", run.stderr);
                assert!(run.stderr.contains(&destroy), "{}", run.stderr);
            }
        },
    );
}
