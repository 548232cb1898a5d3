//! Restarting a task that dies, and destroy: every process it started is gone, and only those

use std::time::{Duration, Instant};

use local_runtime::process::ProcessId;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::local::{Deployed, Http, pid_runs, state_dir, xtask};

#[test]
fn a_task_that_dies_is_replaced_and_destroy_stops_everything() {
    let (stack, _) = Deployed::new("appmesh", "life", &[]);
    let http = Http::new();
    let before = stack.record();
    let green = before
        .tasks
        .iter()
        .find(|t| t.service == "green")
        .unwrap()
        .clone();

    // Kill green's task behind the supervisor's back: ECS would start another one.
    kill(Pid::from_raw(green.process.pid as i32), Signal::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let replacement = loop {
        let record = stack.record();
        if let Some(t) = record
            .tasks
            .iter()
            .find(|t| t.service == "green" && t.id != green.id)
        {
            break t.clone();
        }
        assert!(
            Instant::now() < deadline,
            "green was not replaced: {record:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(replacement.process.is_running());
    let status = stack.status();
    assert_eq!(
        status
            .services
            .iter()
            .find(|s| s.name == "green")
            .unwrap()
            .restarts,
        1
    );
    assert_eq!(
        http.json(&format!("{}/green", stack.gateway_url()))["service"],
        "green"
    );

    // Destroy: the supervisor and every task it recorded are gone, and so is the folder.
    let record = stack.record();
    let processes: Vec<ProcessId> = std::iter::once(record.supervisor.clone())
        .chain(record.tasks.iter().map(|t| t.process.clone()))
        .collect();
    assert_eq!(processes.len(), 3);
    assert!(processes.iter().all(ProcessId::is_running));
    let destroy = stack.run("destroy", &[]);
    assert!(destroy.success, "{}", destroy.error_line());
    for p in &processes {
        assert!(!pid_runs(p.pid), "pid {} still runs after destroy", p.pid);
    }
    assert!(!state_dir(&stack.stack).exists());

    // Nothing left to destroy (the guard's destroy says so too); status says it is not running.
    let again = stack.run("destroy", &[]);
    assert!(again.success);
    assert!(
        again.stdout.contains("nothing to destroy"),
        "{}",
        again.stdout
    );
    let status = stack.run("status", &[]);
    assert!(!status.success);
    assert!(
        status.error_line().contains("is not running locally"),
        "{}",
        status.stderr
    );
}

#[test]
fn destroy_spares_a_process_that_reuses_a_recorded_pid() {
    // A record naming a live process with another start time is not ours: destroy must leave it.
    let stack = crate::local::stack_name("spare");
    let dir = state_dir(&stack);
    dir.create().unwrap();
    let mut bystander = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let me = ProcessId::of(bystander.id()).unwrap();
    let record = local_runtime::state_dir::RuntimeRecord {
        stack: stack.clone(),
        supervisor: ProcessId {
            pid: me.pid,
            start: format!("{}1", me.start),
        },
        dataplane: None,
        control_url: "http://127.0.0.1:9".into(),
        token: "x".into(),
        egress_url: "http://127.0.0.1:9".into(),
        gateway_url: None,
        services: Default::default(),
        tasks: Vec::new(),
    };
    dir.write_runtime(&record).unwrap();
    let run = xtask(&["destroy", "appmesh", "--local", "--stack-name", &stack]);
    assert!(run.success, "{}", run.error_line());
    assert!(
        me.is_running(),
        "destroy signalled a process it did not start"
    );
    assert!(!dir.exists());
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}
