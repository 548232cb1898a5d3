//! The built `load-client` binary: the seed's exact output, argument errors, `--json`, Ctrl-C.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{GUARD, demo_app};

const BIN: &str = env!("CARGO_BIN_EXE_load-client");

/// Run the binary with `args` to completion (off the async runtime, which serves the target).
async fn load_client(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .output()
            .expect("load-client runs")
    })
    .await
    .unwrap()
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_mode_output_is_exactly_the_seeds() {
    let blue = demo_app("blue", "1", None).await;
    let host = blue.local_addr().to_string();
    let output = load_client(&[&host, "--requests", "3", "--interval", "100ms"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(
        lines[..4],
        [
            format!("Running against http://{host}"),
            "200 OK blue:1=1".into(),
            "200 OK blue:1=2".into(),
            "200 OK blue:1=3".into()
        ]
    );
    assert_eq!(lines[4], "");
    assert!(lines[5].starts_with("summary: 3 requests in "), "{lines:?}");
    assert_eq!(lines[6], "keys: blue:1=3");
    assert_eq!(lines[7], "statuses: 200=3");
    assert!(lines[8].starts_with("latency: p50="), "{lines:?}");
    blue.stop(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_url_is_accepted() {
    let blue = demo_app("blue", "1", None).await;
    let url = format!("http://{}/any/path", blue.local_addr());
    let output = load_client(&[&url, "--requests", "1", "--interval", "10ms"]).await;
    assert_eq!(
        stdout_lines(&output)[..2],
        [format!("Running against {url}"), "200 OK blue:1=1".into()]
    );
    blue.stop(true).await.unwrap();
}

#[tokio::test]
async fn missing_hostname_is_a_usage_error() {
    let output = load_client(&[]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Usage: load-client"), "{stderr}");
}

#[tokio::test]
async fn bad_option_values_are_usage_errors() {
    for args in [
        ["host", "--rate", "0"],
        ["host", "--concurrency", "0"],
        ["host", "--duration", "soon"],
        ["host", "--requests", "0"],
        ["ftp://host", "--requests", "1"],
    ] {
        let output = load_client(&args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_summary_on_stdout() {
    let blue = demo_app("blue", "1", None).await;
    let host = blue.local_addr().to_string();
    let output = load_client(&[&host, "-c", "4", "--requests", "200", "--json"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    assert_eq!(summary["requests"], 200);
    assert_eq!(summary["keys"], serde_json::json!({"blue:1": 200}));
    assert_eq!(summary["statuses"], serde_json::json!({"200": 200}));
    for p in ["p50_ms", "p90_ms", "p99_ms", "max_ms"] {
        assert!(summary["latency"][p].is_f64(), "{summary}");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("Running against http://{host}\n")),
        "{stderr}"
    );
    blue.stop(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_polling_with_a_summary() {
    let blue = demo_app("blue", "1", None).await;
    let host = blue.local_addr().to_string();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BIN)
            .args([&host, "--interval", "50ms"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("load-client starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        let deadline = Instant::now() + GUARD;
        // Two tally lines prove it is polling; then interrupt it.
        while lines.len() < 3 && Instant::now() < deadline {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                break;
            }
            lines.push(line);
        }
        kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        let status = child.wait().unwrap();
        (lines, rest, status)
    })
    .await
    .unwrap();
    let (lines, rest, status) = output;
    assert_eq!(lines[1], "200 OK blue:1=1\n");
    assert_eq!(status.code(), Some(0));
    assert!(rest.contains("\nsummary: "), "{rest}");
    assert!(rest.contains("\nkeys: blue:1="), "{rest}");
    blue.stop(true).await.unwrap();
}
