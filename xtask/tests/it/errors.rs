//! Error answers a hostile but fair user met (issue 11): one line, fast, named flags, warnings

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meshtest_tests::moto::isolate_aws_env;

/// (exit code, stdout, stderr, wall time) of xtask in `dir`, with fake credentials and no
/// real AWS.
pub fn run(args: &[&str], dir: &Path) -> (i32, String, String, Duration) {
    run_with(Path::new(env!("CARGO_BIN_EXE_xtask")), args, dir)
}

/// `meshtest-aws` as the test build made it; xtask runs it through `MESHTEST_AWS_BIN`.
fn aws_binary() -> &'static Path {
    static BINARY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| meshtest_tests::built::executable("meshtest-aws"))
}

/// [`run`] for another binary.
fn run_with(binary: &Path, args: &[&str], dir: &Path) -> (i32, String, String, Duration) {
    let mut command = Command::new(binary);
    isolate_aws_env(&mut command).env("MESHTEST_AWS_BIN", aws_binary());
    let started = Instant::now();
    let out = command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("xtask runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

/// An endpoint on 127.0.0.1 where nothing listens.
fn refusing_endpoint() -> String {
    format!("http://127.0.0.1:{}", meshtest_tests::net::refused_port())
}

const REFUSED: &str = "cannot reach the AWS endpoint (dispatch failure: io error: client error (Connect): tcp connect error: Connection refused (os error 111)): check --endpoint-url, --region and your network";

#[test]
fn a_refusing_endpoint_gives_one_line_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = refusing_endpoint();
    for command in [
        &["status", "appmesh"][..],
        &["diff", "serviceconnect"],
        &["destroy", "bluegreen", "--yes"],
        &[
            "deploy",
            "appmesh",
            "--yes",
            "--allow-cidr",
            "203.0.113.7/32",
        ],
    ] {
        let mut args = command.to_vec();
        args.extend(["--endpoint-url", &endpoint]);
        let (code, _, stderr, _) = run(&args, dir.path());
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.ends_with(&format!("{REFUSED}\n")), "{stderr}");
        for dump in ["DispatchFailure {", "Request {", "ConnectorError"] {
            assert!(!stderr.contains(dump), "{stderr}");
        }
        // The standard policy retried a refused connection with backoff for 5-8 s. Timed on
        // the AWS binary itself, so the figure is the engine's, not xtask's start-up.
        let (code, _, _, took) = run_with(aws_binary(), &args, dir.path());
        assert_eq!(code, 1);
        assert!(took < Duration::from_secs(3), "{command:?} took {took:?}");
    }
}

#[test]
fn a_missing_prebuilt_aws_binary_is_named_and_nothing_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-meshtest-aws");
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    isolate_aws_env(&mut command);
    let out = command
        .args(["status", "appmesh", "--endpoint-url", &refusing_endpoint()])
        .env("MESHTEST_AWS_BIN", &missing)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "error: MESHTEST_AWS_BIN={} is not a file: point it at a built meshtest-aws, or unset it to build one\n",
            missing.display()
        )
    );
    // The whole of stderr: no `building meshtest-aws` note, so no cargo build ran instead.
}

#[test]
fn a_malformed_endpoint_url_is_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    for (url, why) in [
        ("http://[::1", "not a URL (invalid IPv6 address)"),
        ("127.0.0.1:5000", "not a URL (relative URL without a base)"),
        ("ftp://127.0.0.1", "not an HTTP endpoint"),
    ] {
        let why = format!("{why}: use http:// or https:// and a host, e.g. http://127.0.0.1:5000");
        let (code, _, stderr, _) = run(&["status", "appmesh", "--endpoint-url", url], dir.path());
        // Exit 2 is clap's usage error: the value failed when the command line was parsed.
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "error: invalid value '{url}' for '--endpoint-url <URL>': {why}\n"
            )),
            "{stderr}"
        );
    }
}

#[test]
fn a_world_open_allow_cidr_needs_yes_and_names_the_ports() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = refusing_endpoint();
    let deploy = |extra: &[&str]| {
        let mut args = vec![
            "deploy",
            "appmesh",
            "--image",
            "public.ecr.aws/docker/library/nginx:latest",
            "--endpoint-url",
            &endpoint,
        ];
        args.extend_from_slice(extra);
        run(&args, dir.path())
    };
    let ports = "tcp 80 (operator CIDR to a public service port), tcp 80 (operator CIDR to the gateway listener)";
    let (code, _, stderr, _) = deploy(&["--allow-cidr", "0.0.0.0/0"]);
    assert_eq!(code, 1);
    // Refused before any AWS call: the error is not the unreachable endpoint's.
    assert_eq!(
        stderr,
        format!(
            "error: refusing --allow-cidr 0.0.0.0/0 without --yes: it opens {ports} to the whole internet; pass your own address (e.g. 203.0.113.7/32), or --yes if you mean it\n"
        )
    );
    // With --yes it warns and goes on (to the endpoint, which refuses).
    // A block with host bits is a typo the flag's parser names, before anything else.
    let (code, _, stderr, _) = deploy(&["--allow-cidr", "10.1.2.3/0", "--yes"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with("error: invalid value '10.1.2.3/0' for '--allow-cidr <CIDR>': `10.1.2.3/0` has host bits set: did you mean `0.0.0.0/0`?"),
        "{stderr}"
    );
    let (code, _, stderr, _) = deploy(&["--allow-cidr", "0.0.0.0/0", "--yes"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "warning: --allow-cidr 0.0.0.0/0 opens {ports} to the whole internet\nerror: cannot describe stack appmesh: {REFUSED}\n"
        )
    );
    // A narrower block is not warned about.
    let (_, _, stderr, _) = deploy(&["--allow-cidr", "10.0.0.0/8", "--yes"]);
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn synth_stdout_notes_an_oversized_template_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = model::examples::serviceconnect("big");
    let template = spec.services[0].clone();
    spec.services = (0..40)
        .map(|i| {
            let mut svc = template.clone();
            svc.name = format!("svc{i}");
            svc.backends = Vec::new();
            if let Some(sc) = svc.service_connect.as_mut() {
                sc.discovery_name = svc.name.clone();
            }
            svc
        })
        .collect();
    let path = dir.path().join("big.json");
    std::fs::write(&path, serde_json::to_string(&spec).unwrap()).unwrap();
    let (code, stdout, stderr, _) = run(&["synth", path.to_str().unwrap(), "--stdout"], dir.path());
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str::<serde_json::Value>(&stdout).expect("stdout is the template alone");
    assert!(
        stderr.starts_with("template: ")
            && stderr.ends_with(
                " bytes, over CloudFormation's inline limit of 51,200 bytes: deploy uploads it to S3\n"
            ),
        "{stderr}"
    );
    // A template under the limit gets no note.
    let (_, _, stderr, _) = run(&["synth", "serviceconnect", "--stdout"], dir.path());
    assert_eq!(stderr, "");
}
