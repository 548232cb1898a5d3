//! `cargo xtask list` and `synth` as a user runs them: files written, output, errors

use std::path::Path;
use std::process::{Command, Output};

fn xtask(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("xtask runs")
}

/// Runs xtask and returns (exit code, stdout, stderr), with the temp dir path redacted.
fn check(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = xtask(args, dir.path());
    let redact =
        |b: &[u8]| String::from_utf8_lossy(b).replace(&dir.path().display().to_string(), "[TMP]");
    (
        out.status.code().unwrap_or(-1),
        redact(&out.stdout),
        redact(&out.stderr),
    )
}

#[test]
fn list_names_every_app() {
    let (code, stdout, _) = check(&["list"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(stdout);
}

#[test]
fn synth_writes_the_template_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("cfn");
    let out = xtask(
        &[
            "synth",
            "serviceconnect",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(out_dir.join("serviceconnect.template.json")).unwrap();
    let stack = model::Stack::new(model::examples::serviceconnect("serviceconnect")).unwrap();
    let expected = cfn_render::render(&stack, &Default::default())
        .unwrap()
        .to_json_pretty();
    assert_eq!(written, expected);
    let stdout =
        String::from_utf8_lossy(&out.stdout).replace(&dir.path().display().to_string(), "[TMP]");
    assert_eq!(
        stdout,
        format!(
            "wrote [TMP]/cfn/serviceconnect.template.json (26 resources, 2 parameters, 2 outputs)\n\
             template: {}, deploy sends it inline\n",
            cfn_render::render(&stack, &Default::default())
                .unwrap()
                .body_limit()
        )
    );
}

#[test]
fn synth_stdout_prints_the_template() {
    let (code, stdout, stderr) =
        check(&["synth", "appmesh", "--stdout", "--stack-name", "mesh-test"]);
    assert_eq!(code, 0, "{stderr}");
    let t: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        t["Resources"]["Cluster"]["Properties"]["ClusterName"],
        "mesh-test"
    );
}

#[test]
fn synth_bluegreen_version_comes_from_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(
        &state,
        r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#,
    )
    .unwrap();
    let out = xtask(
        &[
            "synth",
            "bluegreen",
            "--stdout",
            "--version",
            "3",
            "--state-file",
            state.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        t["Resources"]["BlueGreenStateParameter"]["Properties"]["Value"],
        r#"{"nextUpdate":"blue","currentVersion":3,"previousVersion":2}"#
    );
}

/// `synth <app> --stdout <args>` prints what the library renders for `spec`.
fn check_synth(args: &[&str], spec: model::StackSpec) -> serde_json::Value {
    let (code, stdout, stderr) = check(args);
    assert_eq!(code, 0, "{stderr}");
    let stack = model::Stack::new(spec).unwrap();
    let expected = cfn_render::render(&stack, &Default::default())
        .unwrap()
        .to_json_pretty();
    assert_eq!(stdout, expected);
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn synth_renders_the_successor_apps() {
    check_synth(
        &["synth", "gateway", "--stdout"],
        model::examples::gateway("gateway"),
    );
    // Issue 21: --strategy reaches the services behind the ALB.
    let t = check_synth(
        &["synth", "gateway", "--stdout", "--strategy", "linear"],
        model::examples::gateway_with("gateway", model::StrategyKind::Linear),
    );
    let lb = &t["Resources"]["BlueService"]["Properties"]["LoadBalancers"][0];
    assert_eq!(
        lb["AdvancedConfiguration"]["AlternateTargetGroupArn"]["Ref"],
        "BlueAlternateTargetGroup"
    );
    let t = check_synth(
        &["synth", "rollout", "--stdout"],
        model::examples::rollout("rollout", &Default::default()),
    );
    assert_eq!(t["Outputs"]["WebVersion"]["Value"], "1");
    // --version and --strategy reach web.
    let inputs = model::examples::RolloutInputs {
        version: 3,
        strategy: model::StrategyKind::Canary,
    };
    let t = check_synth(
        &[
            "synth",
            "rollout",
            "--stdout",
            "--version",
            "3",
            "--strategy",
            "canary",
        ],
        model::examples::rollout("rollout", &inputs),
    );
    assert_eq!(t["Outputs"]["WebVersion"]["Value"], "3");
    let inputs = model::examples::RolloutInputs {
        version: 1,
        strategy: model::StrategyKind::BlueGreen,
    };
    check_synth(
        &["synth", "rollout", "--stdout", "--strategy", "blue-green"],
        model::examples::rollout("rollout", &inputs),
    );
}

#[test]
fn synth_says_what_the_alarm_catches_at_each_step() {
    // On stderr, so the template on stdout stays valid JSON.
    let (code, stdout, stderr) = check(&["synth", "rollout", "--stdout"]);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str::<serde_json::Value>(&stdout).expect("stdout is the template alone");
    insta::assert_snapshot!("detection_linear", stderr);
    // The canary's first step (10%) is no larger than the threshold (10%): a warning that names
    // the step, the threshold and one that would catch it.
    let (code, _, stderr) = check(&["synth", "rollout", "--stdout", "--strategy", "canary"]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!("detection_canary", stderr);
    // Written to a file, the same figures.
    let (code, _, stderr) = check(&["synth", "rollout", "--out", "."]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("at 20%: catches a new version failing more than 50% of its requests"),
        "{stderr}"
    );
    // A stack without a traffic-shifting alarm says nothing of it.
    let (_, _, stderr) = check(&["synth", "gateway", "--stdout"]);
    assert!(!stderr.contains("error-rate alarm"), "{stderr}");
}

#[test]
fn synth_reads_a_json_stack_description() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = model::examples::serviceconnect("from-json");
    spec.services[0].desired_count = 3;
    let path = dir.path().join("stack.json");
    std::fs::write(&path, serde_json::to_string(&spec).unwrap()).unwrap();
    let out = xtask(&["synth", path.to_str().unwrap(), "--stdout"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        t["Resources"]["BlueService"]["Properties"]["DesiredCount"],
        3
    );
}

#[test]
fn errors_are_one_line_causes() {
    insta::assert_snapshot!("unknown_app", check(&["synth", "nosuchapp"]).2);
    insta::assert_snapshot!(
        "state_file_for_other_app",
        check(&["synth", "appmesh", "--state-file", "x.json"]).2
    );
    insta::assert_snapshot!(
        "missing_state_file",
        check(&["synth", "bluegreen", "--state-file", "missing.json"]).2
    );
    insta::assert_snapshot!(
        "strategy_for_other_app",
        check(&["synth", "serviceconnect", "--strategy", "linear"]).2
    );
    insta::assert_snapshot!(
        "version_zero",
        check(&["synth", "bluegreen", "--version", "0"]).2
    );
    for (args, code) in [
        (&["synth", "nosuchapp"][..], 1),
        (&["synth", "bluegreen", "--version", "0"][..], 1),
    ] {
        assert_eq!(check(args).0, code);
    }
}

#[test]
fn invalid_json_stack_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = model::examples::serviceconnect("bad");
    spec.services[0].cpu = 300;
    spec.services[1].port.container_port = 0;
    let path = dir.path().join("bad.json");
    std::fs::write(&path, serde_json::to_string(&spec).unwrap()).unwrap();
    let out = xtask(&["synth", path.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(&dir.path().display().to_string(), "[TMP]");
    insta::assert_snapshot!(stderr);
}
