//! The built `load-client` binary: the seed's exact output, argument errors, `--json`, Ctrl-C.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{GUARD, Switch, demo_app, refused_port, scripted, scripted_by_head};

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

/// Start the binary with `args`, read `lines` lines of its stdout, interrupt it with SIGINT
/// and return those lines, the rest of stdout and the exit code.
async fn interrupt_after(args: &[&str], lines: usize) -> (Vec<String>, String, Option<i32>) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("load-client starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut read = Vec::new();
        let deadline = Instant::now() + GUARD;
        while read.len() < lines && Instant::now() < deadline {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                break;
            }
            read.push(line);
        }
        kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        (read, rest, child.wait().unwrap().code())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_polling_with_a_summary() {
    let blue = demo_app("blue", "1", None).await;
    let host = blue.local_addr().to_string();
    // Two tally lines prove it is polling; then interrupt it.
    let (lines, rest, code) = interrupt_after(&[&host, "--interval", "50ms"], 3).await;
    assert_eq!(lines[1], "200 OK blue:1=1\n");
    assert_eq!(code, Some(0));
    assert!(rest.contains("\nsummary: "), "{rest}");
    assert!(rest.contains("\nkeys: blue:1="), "{rest}");
    blue.stop(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_keeps_going_through_failures_and_exits_0_like_the_seed() {
    let host = format!("127.0.0.1:{}", refused_port());
    let (lines, rest, code) = interrupt_after(&[&host, "--interval", "20ms"], 4).await;
    assert_eq!(lines[3], "error refused error:refused=3\n");
    assert_eq!(code, Some(0), "{rest}");
    // A bounded poll is judged only when asked to be.
    check_exit(&[&host, "--interval", "10ms", "-n", "2"], 0, "").await;
    check_exit(
        &[
            &host,
            "--interval",
            "10ms",
            "-n",
            "2",
            "--max-error-rate",
            "0",
        ],
        1,
        "load-client: 100.0% of requests failed (2 of 2), above --max-error-rate 0%\n",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_budget_is_a_share_of_all_requests() {
    // Every other answer is a 503, whichever connection asks.
    let half = scripted(|n| {
        Some(if n % 2 == 0 {
            ("200 OK", r#"{"service":"web","version":"1"}"#.to_owned())
        } else {
            ("503 Service Unavailable", "busy".to_owned())
        })
    })
    .await
    .to_string();
    let run = [half.as_str(), "-c", "2", "-n", "10"];
    let line = "load-client: 50.0% of requests failed (5 of 10), above --max-error-rate ";
    check_exit(&run, 1, &format!("{line}0%\n")).await;
    check_exit(
        &[&run[..], &["--max-error-rate", "0.4"]].concat(),
        1,
        &format!("{line}40%\n"),
    )
    .await;
    check_exit(&[&run[..], &["--max-error-rate", "50%"]].concat(), 0, "").await;
    let blue = demo_app("blue", "1", None).await;
    let host = blue.local_addr().to_string();
    check_exit(&[&host, "-c", "2", "-n", "10"], 0, "").await;
    blue.stop(true).await.unwrap();
}

/// Run the binary and check it refused `args` as a usage error naming `expected`.
async fn check_refused(args: &[&str], expected: &str) {
    let output = load_client(args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_values_from_the_hostile_trial_are_refused_with_a_message() {
    // Each of these panicked or was silently accepted (issue 11, item 4).
    let host = format!("127.0.0.1:{}", refused_port());
    let limited = |extra: &'static [&'static str]| {
        let mut args = vec![host.clone(), "-n".to_owned(), "2".to_owned()];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    };
    for (extra, expected) in [
        (&["--interval", "0s"][..], "--interval"),
        (&["--rate", "3e9"], "--rate"),
        (&["--rate", "NaN"], "--rate"),
        (&["--rate", "inf"], "--rate"),
        (&["--rate", "-5"], "--rate"),
        (&["--rate", "0"], "--rate"),
        (&["--rate", "1e-300"], "--rate"),
        (&["--timeout", "0s"], "--timeout"),
        (&["--duration", "0s"], "--duration"),
        (&["--duration", "500000years"], "--duration"),
        (&["--interval", "100000years"], "--interval"),
        (&["--concurrency", "0"], "--concurrency"),
    ] {
        let args = limited(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        check_refused(&args, expected).await;
    }
}

/// Run a bounded load against `addr` and check the exit code and the failure line.
async fn check_exit(args: &[&str], code: i32, line: &str) {
    let output = load_client(args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(line), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_run_where_every_request_fails_exits_non_zero() {
    let refused = format!("127.0.0.1:{}", refused_port());
    let text = scripted(|_| Some(("200 OK", "plain text".to_owned())))
        .await
        .to_string();
    let slow = scripted(|_| None).await.to_string();
    for host in [&refused, &text, &slow] {
        check_exit(
            &[host, "-c", "2", "-n", "6", "--timeout", "200ms"],
            1,
            "load-client: 100.0% of requests failed (6 of 6), above --max-error-rate 0%",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_are_sent_on_every_request_in_both_modes() {
    // The answer names whether both headers arrived, so the tally shows it.
    let server = scripted_by_head(|_, head| {
        let tagged = head.contains("\r\nx-amzn-ecs-blue-green-test: true\r\n")
            && head.contains("\r\nx-other: a b\r\n");
        let service = if tagged { "tagged" } else { "plain" };
        Some((
            "200 OK",
            format!(r#"{{"service":"{service}","version":"1"}}"#),
        ))
    })
    .await
    .to_string();
    let headers = [
        "-H",
        "x-amzn-ecs-blue-green-test:true",
        "--header",
        "X-Other: a b",
    ];
    for (mode, n) in [
        (&["--interval", "10ms", "-n", "3"][..], 3),
        (&["-c", "2", "-n", "20"], 20),
        (&["-c", "2", "-n", "20", "--via-reqwest"], 20),
    ] {
        let args = [&[server.as_str(), "--json"][..], mode, &headers].concat();
        let output = load_client(&args).await;
        assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            summary["keys"],
            serde_json::json!({"tagged:1": n}),
            "{args:?}"
        );
    }
    let output = load_client(&[server.as_str(), "--json", "-n", "2", "-c", "1"]).await;
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["keys"], serde_json::json!({"plain:1": 2}));
}

#[tokio::test]
async fn bad_header_syntax_is_refused() {
    for (header, expected) in [
        (
            "novalue",
            "expected NAME:VALUE, for example x-amzn-ecs-blue-green-test:true",
        ),
        ("bad name:x", "\"bad name\" is not a valid header name"),
        (":x", "\"\" is not a valid header name"),
        ("x:a\u{7}b", "the value of x must be visible ASCII"),
    ] {
        check_refused(&["127.0.0.1:9", "-n", "1", "--header", header], expected).await;
    }
}

/// The share of `key` in a timeline second.
fn share(second: &load_client::Second, key: &str) -> f64 {
    second.keys.get(key).copied().unwrap_or(0) as f64 / second.total.max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_timeline_shows_a_traffic_switch() {
    let web1 = demo_app("web", "1", None).await;
    let web2 = demo_app("web", "2", None).await;
    let switch = Switch::start(vec![web1.local_addr(), web2.local_addr()]).await;
    let url = format!("http://{}/", switch.addr());
    let args: Vec<String> = [
        url.as_str(),
        "--rate",
        "200",
        "-c",
        "2",
        "--duration",
        "4s",
        "--timeline",
        "--json",
        // Connections cut at the switch may fail a request or two.
        "--max-error-rate",
        "5%",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let run = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("load-client starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 {
            // Second 0 has been printed: switch during second 1.
            if lines.is_empty() {
                tx.send(()).unwrap();
            }
            lines.push(std::mem::take(&mut line));
        }
        (lines, child.wait_with_output().unwrap())
    });
    tokio::task::spawn_blocking(move || rx.recv_timeout(GUARD))
        .await
        .unwrap()
        .expect("a first timeline line");
    switch.select(1);
    let (lines, output) = run.await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.starts_with(&format!("Running against {url}\n")),
        "{stderr}"
    );
    assert!(stderr.contains("\nsummary: "), "{stderr}");
    let seconds: Vec<load_client::Second> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let ts: Vec<u64> = seconds.iter().map(|s| s.t).collect();
    assert_eq!(ts[..4], [0, 1, 2, 3], "{lines:?}");
    let (first, last) = (&seconds[0], &seconds[3]);
    assert!(first.total > 50 && first.errors == 0, "{first:?}");
    assert_eq!(
        first.keys.keys().collect::<Vec<_>>(),
        ["web:1"],
        "{first:?}"
    );
    assert_eq!(last.keys.keys().collect::<Vec<_>>(), ["web:2"], "{last:?}");
    assert_eq!(
        seconds[2].keys.keys().collect::<Vec<_>>(),
        ["web:2"],
        "{lines:?}"
    );
    let shares: Vec<f64> = seconds.iter().map(|s| share(s, "web:2")).collect();
    assert!(shares.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
    web1.stop(true).await.unwrap();
    web2.stop(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_human_timeline_works_while_polling() {
    let web = demo_app("web", "1", None).await;
    let host = web.local_addr().to_string();
    let output = load_client(&[&host, "--interval", "10ms", "-n", "5", "--timeline"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines[0], format!("Running against http://{host}"));
    let line = &lines[1];
    let clock = &line[..8];
    assert!(
        clock.bytes().enumerate().all(|(i, b)| if i % 3 == 2 {
            b == b':'
        } else {
            b.is_ascii_digit()
        }),
        "{line}"
    );
    assert_eq!(
        &line[8..],
        "  web:1 #################### 100%  (5 req, 0 err)"
    );
    assert_eq!(lines[2], "", "the summary follows: {lines:?}");
    web.stop(true).await.unwrap();
}
