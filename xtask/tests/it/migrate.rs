//! `cargo xtask migrate` as a user runs it: the table, the model file it writes, refusals

use std::path::Path;

use model::StackSpec;
use model::migrate::{MigrateOptions, migrate_with};

/// (exit code, stdout, stderr) of xtask run in `dir`, with `dir` and the workspace redacted.
fn run(args: &[&str], dir: &Path) -> (i32, String, String) {
    let (code, stdout, stderr, _) = crate::errors::run(args, dir);
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let redact = |text: String| {
        text.replace(&dir.display().to_string(), "[TMP]")
            .replace(&workspace.display().to_string(), "[WORKSPACE]")
    };
    (code, redact(stdout), redact(stderr))
}

/// Migrates `input` (an app or a file) through the binary into `[TMP]/out/<file>` and checks
/// that it printed the model's table, wrote the model's successor, and named the next command.
#[track_caller]
fn check(input: &str, extra: &[&str], expected: &StackSpec, options: &MigrateOptions) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out").join("next.json");
    let mut args = vec!["migrate", input, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run(&args, dir.path());
    assert_eq!(code, 0, "{stderr}");
    let migration = migrate_with(expected, options).unwrap();
    assert_eq!(
        stdout,
        format!(
            "{}\nwrote the successor model to [TMP]/out/next.json\nnext: cargo xtask synth [TMP]/out/next.json\n",
            migration.table()
        )
    );
    let written: StackSpec = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(written, migration.spec);
}

fn bootstrap_bluegreen(name: &str) -> StackSpec {
    let inputs = model::BlueGreenVersions {
        blue: 1,
        green: 1,
        state_json: state_store::BlueGreenState::bootstrap().to_json(),
    };
    model::examples::bluegreen(name, &inputs)
}

#[test]
fn migrate_appmesh_prints_the_table_and_writes_the_successor() {
    let spec = model::examples::appmesh("appmesh");
    check("appmesh", &[], &spec, &MigrateOptions::default());
}

/// `--strategy` also reaches the services the virtual gateway routes to (issue 21 item 6).
#[test]
fn migrate_appmesh_with_a_strategy_shifts_the_gateways_services_at_the_alb() {
    let spec = model::examples::appmesh("appmesh");
    let options = MigrateOptions {
        strategy: model::StrategyKind::Linear,
        gateway_strategy: Some(model::StrategyKind::Linear),
    };
    check("appmesh", &["--strategy", "linear"], &spec, &options);
    let migrated = migrate_with(&spec, &options).unwrap().spec;
    assert!(
        migrated
            .services
            .iter()
            .all(|s| s.deployment.strategy == model::StrategyKind::Linear),
        "{migrated:?}"
    );
}

#[test]
fn migrate_bluegreen_with_each_strategy() {
    check(
        "bluegreen",
        &[],
        &bootstrap_bluegreen("bluegreen"),
        &MigrateOptions::default(),
    );
    check(
        "bluegreen",
        &["--strategy", "canary", "--stack-name", "bg2"],
        &bootstrap_bluegreen("bg2"),
        &MigrateOptions {
            strategy: model::StrategyKind::Canary,
            gateway_strategy: Some(model::StrategyKind::Canary),
        },
    );
}

#[test]
fn migrate_bluegreen_keeps_the_version_the_state_file_names_live() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(
        &state,
        r#"{"nextUpdate":"green","currentVersion":4,"previousVersion":3}"#,
    )
    .unwrap();
    let out = dir.path().join("bg.json");
    let (code, _, stderr) = run(
        &[
            "migrate",
            "bluegreen",
            "--state-file",
            state.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let written: StackSpec = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(written.services[0].version, "4");
}

#[test]
fn migrate_reads_a_users_json_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = model::examples::appmesh("user-mesh");
    spec.services[1].desired_count = 3;
    let input = dir.path().join("mine.json");
    std::fs::write(&input, serde_json::to_string(&spec).unwrap()).unwrap();
    check(
        input.to_str().unwrap(),
        &[],
        &spec,
        &MigrateOptions::default(),
    );
}

#[test]
fn migrate_writes_under_target_migrate_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(
        &["migrate", "appmesh", "--stack-name", "migrate-default-out"],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let tail: Vec<&str> = stdout.lines().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            "next: cargo xtask synth [WORKSPACE]/target/migrate/migrate-default-out.json",
            "wrote the successor model to [WORKSPACE]/target/migrate/migrate-default-out.json",
        ]
    );
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/migrate/migrate-default-out.json");
    let written: StackSpec =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(written.name, "migrate-default-out");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn migrate_refusals_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let refuse = |args: &[&str]| {
        let (code, stdout, stderr) = run(args, dir.path());
        assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
        stderr
    };
    insta::assert_snapshot!("no_mesh", refuse(&["migrate", "serviceconnect"]));
    insta::assert_snapshot!(
        "out_not_json",
        refuse(&["migrate", "appmesh", "--out", "next.yaml"])
    );
    let mut spec = model::examples::appmesh("broken");
    spec.mesh.as_mut().unwrap().virtual_nodes[0].port = 81;
    let input = dir.path().join("broken.json");
    std::fs::write(&input, serde_json::to_string(&spec).unwrap()).unwrap();
    insta::assert_snapshot!(
        "invalid_mesh",
        refuse(&["migrate", input.to_str().unwrap()])
    );
    assert!(!dir.path().join("next.yaml").exists());
}

#[test]
fn migrated_models_lint_clean_and_deploy_on_moto() {
    let Some(moto) = meshtest_tests::moto::MotoServer::start() else {
        return;
    };
    let endpoint = moto.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let in_dir = |args: &[&str]| {
        let (code, stdout, stderr) = run(args, dir.path());
        assert_eq!(code, 0, "{args:?}\n{stdout}\n{stderr}\n{}", moto.log_tail());
        stdout
    };
    for app in ["appmesh", "bluegreen"] {
        let stack = format!("migrated-{app}");
        let file = dir.path().join(format!("{stack}.json"));
        let file = file.to_str().unwrap();
        in_dir(&["migrate", app, "--stack-name", &stack, "--out", file]);
        let template = in_dir(&["synth", file, "--stdout"]);
        if let Some(report) = meshtest_tests::cfn_lint(&template, &stack) {
            report.assert_clean();
        }
        let t: serde_json::Value = serde_json::from_str(&template).unwrap();
        let types: Vec<&str> = t["Resources"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|r| r["Type"].as_str())
            .collect();
        assert!(
            types.contains(&"AWS::ElasticLoadBalancingV2::ListenerRule"),
            "{types:?}"
        );
        assert!(
            !types.iter().any(|t| t.starts_with("AWS::AppMesh::")),
            "{types:?}"
        );
        let common = ["--stack-name", &stack, "--yes", "--endpoint-url", &endpoint];
        let deployed = in_dir(
            &[
                &[
                    "deploy",
                    file,
                    "--image",
                    IMAGE,
                    "--allow-cidr",
                    "203.0.113.7/32",
                ][..],
                &common,
            ]
            .concat(),
        );
        assert!(
            deployed.contains(&format!("stack {stack}: CREATE_COMPLETE")),
            "{deployed}"
        );
        in_dir(&[&["destroy", file][..], &common].concat());
    }
}

const IMAGE: &str = "public.ecr.aws/docker/library/nginx:latest";
