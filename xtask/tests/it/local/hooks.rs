//! Lambda hooks on the local runtime (issue 20, item 3): a command that never ends is timed out
//! with ECS's default timeout and action on the time scale, `status` shows it while it runs, its
//! output has its own log, and nothing of it is left running afterwards.

use std::path::Path;
use std::time::{Duration, Instant};

use model::{
    HookTargetType, HookTimeoutAction, HookTimeoutSpec, LifecycleHookSpec, LifecycleStage,
};

use super::rollout::{deploy, deploy_with_hook, rolled_back};

/// The live (not zombie) processes in group `pgid`, from `/proc/<pid>/stat` (field 5).
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.first().is_some_and(|s| *s != "Z" && *s != "X")
                && fields.get(2).and_then(|g| g.parse().ok()) == Some(pgid)
        })
        .collect()
}

/// The pids the hook script wrote to `file` (its shell, then its background sleep).
fn hook_pids(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn a_hanging_hook_times_out_with_the_default_action_and_leaves_no_process() {
    let marker_dir = tempfile::tempdir().unwrap();
    let pids_file = marker_dir.path().join("hook-pids");
    // Ignores SIGTERM, as does its child, so only the group's SIGKILL ends them; the pids are
    // written whole (rename) before the hook waits forever.
    let script = format!(
        "trap '' TERM; sleep 100000 & echo $$ > {p}.tmp; echo $! >> {p}.tmp; mv {p}.tmp {p}; echo hook waiting $((40 + 2)); wait",
        p = pids_file.display()
    );
    let hook = LifecycleHookSpec {
        target_type: HookTargetType::AwsLambda,
        stages: vec![LifecycleStage::PostScaleUp],
        hook_target_arn: Some("arn:aws:lambda:eu-west-1:123456789012:function:check".into()),
        role_arn: Some("arn:aws:iam::123456789012:role/hooks".into()),
        create_role: false,
        timeout: None,
        local_command: Some(vec!["sh".into(), "-c".into(), script]),
    };
    let (stack, v2, _dir) = deploy_with_hook("hook-hang", &hook);
    // ECS's default of 1,440 model minutes at 10 ms each: 14.4 s.
    let name = stack.stack.clone();
    let deploying = std::thread::spawn(move || deploy(&v2, &name, &["--minute", "10ms"]));

    let deadline = Instant::now() + Duration::from_secs(120);
    let running = loop {
        let status = stack.status();
        if let Some(r) = status.rollout.as_ref()
            && let Some(running) = &r.progress.hook_running
        {
            break (running.clone(), r.hook_log.clone());
        }
        assert!(
            Instant::now() < deadline,
            "status never showed the running hook"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let seen = Instant::now();
    let (running, log) = running;
    assert_eq!(running.hook, "check");
    assert_eq!(running.stage, LifecycleStage::PostScaleUp);
    assert_eq!(
        running.timeout,
        HookTimeoutSpec {
            minutes: 1440,
            action: HookTimeoutAction::Rollback,
        }
    );
    assert_eq!(running.timeout_seconds, 15, "1,440 x 10 ms, rounded up");
    let log = log.expect("status names the hook's log");
    assert!(
        log.ends_with(format!("local/{}/hooks/web-check-1.log", stack.stack)),
        "{}",
        log.display()
    );
    let text = stack.run("status", &[]);
    assert!(
        text.stdout.contains("hook check at POST_SCALE_UP running")
            && text
                .stdout
                .contains(&format!("hook log: {}", log.display())),
        "{}",
        text.stdout
    );

    let run = deploying.join().unwrap();
    let p = rolled_back(&stack, &run);
    assert_eq!(
        p.rollback_reason.as_deref(),
        Some("hook check timed out after 1440 min, action ROLLBACK")
    );
    assert_eq!(p.hook_running, None);
    // Not before its timeout: it had run `elapsed_seconds` when seen.
    let waited = seen.elapsed() + Duration::from_secs(running.elapsed_seconds + 1);
    assert!(
        waited >= Duration::from_secs(14),
        "rolled back after {waited:?}"
    );

    let pids = hook_pids(&pids_file);
    assert_eq!(
        pids.len(),
        2,
        "the hook wrote its shell's and its child's pid"
    );
    let gone = Instant::now() + Duration::from_secs(30);
    while pids.iter().any(|pid| crate::local::pid_runs(*pid)) || !group_members(pids[0]).is_empty()
    {
        assert!(
            Instant::now() < gone,
            "hook processes still run: {pids:?}, group {:?}",
            group_members(pids[0])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = std::fs::read_to_string(&log).unwrap();
    // The script's text is logged, its output (computed, so not in the text) is not.
    assert!(output.contains("hook waiting 42"), "{output}");
    let supervisor_log =
        std::fs::read_to_string(crate::local::state_dir(&stack.stack).supervisor_log())
            .unwrap_or_default();
    assert!(
        !supervisor_log.contains("hook waiting 42"),
        "the hook's output is not in supervisor.log"
    );
}

/// `kill -9` of the supervisor while a hook command (deaf to SIGTERM, with a child) runs: the
/// command outlives it, and `applied.json` names its group; the next deploy's supervisor takes
/// over and stops the whole group before it rolls the rollout back, so no hook of a dead
/// supervisor's rollout keeps running.
#[test]
fn a_hook_of_the_dead_supervisor_is_stopped_when_the_next_deploy_takes_over() {
    let marker_dir = tempfile::tempdir().unwrap();
    let pids_file = marker_dir.path().join("hook-pids");
    let script = format!(
        "trap '' TERM; sleep 100000 & echo $$ > {p}.tmp; echo $! >> {p}.tmp; mv {p}.tmp {p}; wait",
        p = pids_file.display()
    );
    let hook = LifecycleHookSpec {
        target_type: HookTargetType::AwsLambda,
        stages: vec![LifecycleStage::PostScaleUp],
        hook_target_arn: Some("arn:aws:lambda:eu-west-1:123456789012:function:check".into()),
        role_arn: Some("arn:aws:iam::123456789012:role/hooks".into()),
        create_role: false,
        timeout: None,
        local_command: Some(vec!["sh".into(), "-c".into(), script]),
    };
    let (stack, v2, _dir) = deploy_with_hook("hook-adopt", &hook);
    let supervisor = stack.record().supervisor;
    let name = stack.stack.clone();
    // ECS's default hook timeout at 1 s a model minute: 24 minutes, far beyond this test.
    let deploying = std::thread::spawn(move || deploy(&v2, &name, &["--minute", "1s"]));
    let deadline = Instant::now() + Duration::from_secs(120);
    while hook_pids(&pids_file).len() < 2 {
        assert!(Instant::now() < deadline, "the hook never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pids = hook_pids(&pids_file);
    // Recorded once the hook runs: the group to stop if this supervisor dies.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let applied = crate::local::state_dir(&stack.stack)
            .read_applied()
            .unwrap()
            .expect("applied.json exists");
        let groups: Vec<u32> = applied
            .rollout
            .iter()
            .flat_map(|r| r.hook_groups.iter().map(|p| p.pid))
            .collect();
        if groups == [pids[0]] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "applied.json never named the hook's group: {groups:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor.pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(supervisor.wait_gone(Duration::from_secs(10)));
    assert!(!deploying.join().unwrap().success);
    // The supervisor is gone; its hook command is not.
    assert!(pids.iter().all(|pid| crate::local::pid_runs(*pid)));

    let run = stack.deploy(&[]);
    assert!(run.success, "{}", run.error_line());
    assert!(
        run.stderr
            .contains("rolls back the rollout of web it interrupted"),
        "{}",
        run.stderr
    );
    assert!(
        pids.iter().all(|pid| !crate::local::pid_runs(*pid)) && group_members(pids[0]).is_empty(),
        "the dead supervisor's hook still runs after the takeover: {pids:?}, group {:?}",
        group_members(pids[0])
    );
    let p = super::rollout::progress(&stack);
    assert_eq!(p.status, model::DeploymentStatus::RollbackSuccessful);
    assert_eq!(p.hook_running, None);
}
