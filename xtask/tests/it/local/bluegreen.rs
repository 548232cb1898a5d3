//! bluegreen: versions 1 -> 2 -> 3 with the load client running throughout, zero failed requests

use std::collections::BTreeSet;
use std::time::Duration;

use crate::local::{Deployed, Http, state_dir};

/// The `service:version` keys of `n` requests to `url`.
fn versions_seen(http: &Http, url: &str, n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|_| {
            let body = http.json(url);
            format!(
                "{}:{}",
                body["service"].as_str().unwrap(),
                body["version"].as_str().unwrap()
            )
        })
        .collect()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

#[test]
fn versions_flip_one_colour_at_a_time_without_a_failed_request() {
    let (stack, _) = Deployed::new("bluegreen", "bg", &[]);
    let http = Http::new();
    let gateway = stack.gateway_url();
    let dir = state_dir(&stack.stack);
    let state = || {
        dir.read_blue_green_state()
            .unwrap()
            .expect("state.json exists")
    };
    assert_eq!(
        state(),
        r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#
    );
    assert_eq!(
        versions_seen(&http, &gateway, 60),
        set(&["blue:1", "green:1"])
    );

    // The load client runs on its own thread through both deploys, on keep-alive connections.
    let target = load_client::Target::parse(&gateway).unwrap();
    let mut config = load_client::Config::load(target, 4);
    if let load_client::Mode::Load { rate, .. } = &mut config.mode {
        *rate = Some(300.0);
    }
    config.duration = Some(Duration::from_secs(300));
    config.progress = false;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let load = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut out = Vec::new();
        runtime.block_on(load_client::run(&config, &mut out, async {
            let _ = stop_rx.await;
        }))
    });
    std::thread::sleep(Duration::from_millis(500));

    // diff shows that only green changes, then deploy 2.
    let diff = stack.run("diff", &["--version", "2"]);
    assert!(
        diff.stdout
            .contains("[~] service green (replace)\n └─ version: 1 -> 2"),
        "{}",
        diff.stdout
    );
    assert!(!diff.stdout.contains("service blue"), "{}", diff.stdout);
    let two = stack.deploy(&["--version", "2"]);
    assert!(two.success, "{}", two.error_line());
    assert!(
        two.stdout.contains("stopped green-task1 (version 1)"),
        "{}",
        two.stdout
    );
    assert_eq!(
        state(),
        r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#
    );
    assert_eq!(
        versions_seen(&http, &gateway, 60),
        set(&["blue:1", "green:2"])
    );
    std::thread::sleep(Duration::from_millis(500));

    // Version 3 goes to blue.
    let diff = stack.run("diff", &["--version", "3"]);
    assert!(
        diff.stdout
            .contains("[~] service blue (replace)\n └─ version: 1 -> 3"),
        "{}",
        diff.stdout
    );
    assert!(!diff.stdout.contains("service green"), "{}", diff.stdout);
    let three = stack.deploy(&["--version", "3"]);
    assert!(three.success, "{}", three.error_line());
    assert_eq!(
        state(),
        r#"{"nextUpdate":"blue","currentVersion":3,"previousVersion":2}"#
    );
    assert_eq!(
        versions_seen(&http, &gateway, 60),
        set(&["blue:3", "green:2"])
    );
    std::thread::sleep(Duration::from_millis(500));

    // Deploying 3 again changes nothing.
    let again = stack.deploy(&["--version", "3"]);
    assert!(again.stdout.contains("no changes"), "{}", again.stdout);

    let _ = stop_tx.send(());
    let summary = load.join().unwrap().expect("the load client ran");
    eprintln!("{summary}");
    assert_eq!(summary.errors, 0, "requests without an answer: {summary}");
    assert_eq!(
        summary.statuses.keys().collect::<Vec<_>>(),
        ["200"],
        "{summary}"
    );
    let keys: BTreeSet<&str> = summary.keys.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["blue:1", "blue:3", "green:1", "green:2"]),
        "{summary}"
    );
    assert!(summary.requests > 300, "{summary}");

    // A stale state file (as after version 1) does not make diff propose a downgrade: the state
    // is what runs (blue:3 green:2), so version 4 goes to green.
    std::fs::write(
        dir.state_file(),
        r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#,
    )
    .unwrap();
    let diff = stack.run("diff", &["--version", "4"]);
    assert!(diff.success, "{}", diff.error_line());
    assert!(
        diff.stdout
            .contains("[~] service green (replace)\n └─ version: 2 -> 4"),
        "{}",
        diff.stdout
    );
    assert!(!diff.stdout.contains("service blue"), "{}", diff.stdout);
    assert!(diff.stderr.contains("using what runs"), "{}", diff.stderr);
}

#[test]
fn a_state_file_that_disagrees_with_what_runs_is_reported() {
    let (stack, _) = Deployed::new("bluegreen", "bg-state", &[]);
    let dir = state_dir(&stack.stack);
    let running = r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#;
    assert_eq!(
        dir.read_blue_green_state().unwrap().as_deref(),
        Some(running)
    );
    // The path as xtask shows it: relative to the workspace, or absolute.
    let file = format!("local/{}/state.json", stack.stack);
    let named = |line: &str| line.contains(&file);

    // Garbage: status fails and names the file and the problem.
    std::fs::write(dir.state_file(), "garbage{").unwrap();
    let status = stack.run("status", &[]);
    assert!(!status.success);
    let line = status.error_line();
    assert!(named(line), "{line}");
    assert!(
        line.contains("state.json is not valid: state is not valid blue-green state JSON"),
        "{line}"
    );

    // Edited: reported, and used only with --force.
    std::fs::write(
        dir.state_file(),
        r#"{"nextUpdate":"blue","currentVersion":4294967295,"previousVersion":1}"#,
    )
    .unwrap();
    let status = stack.run("status", &[]);
    assert!(!status.success);
    let line = status.error_line();
    assert!(named(line), "{line}");
    assert!(
        line.contains(
            "state.json says blue:4294967295 green:1 but the local runtime runs blue:1 green:1"
        ),
        "{line}"
    );
    let forced = stack.run("diff", &["--force"]);
    assert!(
        forced
            .stdout
            .contains("[~] service blue (replace)\n └─ version: 1 -> 4294967295"),
        "{}",
        forced.stdout
    );
    let diff = stack.run("diff", &[]);
    assert!(
        diff.stdout.contains("There were no differences"),
        "{}",
        diff.stdout
    );
    let deploy = stack.deploy(&[]);
    assert!(deploy.success, "{}", deploy.error_line());
    assert!(deploy.stdout.contains("no changes"), "{}", deploy.stdout);
    assert!(
        deploy.stderr.contains("says blue:4294967295"),
        "{}",
        deploy.stderr
    );
    assert!(!deploy.stdout.contains("4294967295"), "{}", deploy.stdout);

    // The deploy put the copy right.
    assert_eq!(
        dir.read_blue_green_state().unwrap().as_deref(),
        Some(running)
    );
    let status = stack.run("status", &[]);
    assert!(status.success, "{}", status.error_line());
}
