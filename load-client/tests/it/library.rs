//! `load_client::run` in-process: poll-mode lines, load-mode tallies and error keys with both
//! engines, and runs that end by themselves or on the shutdown signal.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use load_client::{Config, Engine, Summary, Target};

use crate::support::{GUARD, demo_app, refused_port, scripted};

/// Run `config` (bounded) and return its output lines and summary.
async fn run(config: &Config) -> (Vec<String>, Summary) {
    run_until(config, std::future::pending()).await
}

async fn run_until(
    config: &Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> (Vec<String>, Summary) {
    let mut out = Vec::new();
    let summary = tokio::time::timeout(GUARD, load_client::run(config, &mut out, shutdown))
        .await
        .expect("the run ends by itself")
        .expect("the run succeeds");
    let text = String::from_utf8(out).unwrap();
    (text.lines().map(str::to_owned).collect(), summary)
}

fn target(addr: SocketAddr, path: &str) -> Target {
    Target::parse(&format!("http://{addr}{path}")).unwrap()
}

fn poll(addr: SocketAddr, requests: u64) -> Config {
    let mut config = Config::poll(Target::parse(&addr.to_string()).unwrap());
    config.interval = Duration::from_millis(20);
    config.requests = Some(requests);
    config
}

fn load(addr: SocketAddr, concurrency: usize, requests: u64, engine: Engine) -> Config {
    let mut config = Config::load(target(addr, "/"), concurrency);
    config.requests = Some(requests);
    config.engine = engine;
    config.progress = false;
    config
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// The summary has exactly these keys, statuses and error count, and accounts for every request.
fn check(
    summary: &Summary,
    requests: u64,
    keys: &[(&str, u64)],
    statuses: &[(&str, u64)],
    errors: u64,
) {
    assert_eq!(summary.requests, requests, "{summary:#?}");
    assert_eq!(summary.keys, counts(keys), "{summary:#?}");
    assert_eq!(summary.statuses, counts(statuses), "{summary:#?}");
    assert_eq!(summary.errors, errors, "{summary:#?}");
    assert_eq!(summary.latency.is_some(), requests > errors, "{summary:#?}");
}

#[tokio::test]
async fn poll_mode_prints_the_seed_lines() {
    let blue = demo_app("blue", "1", None).await;
    let addr = blue.local_addr();
    let (lines, summary) = run(&poll(addr, 3)).await;
    assert_eq!(
        lines,
        [
            format!("Running against http://{addr}"),
            "200 OK blue:1=1".to_owned(),
            "200 OK blue:1=2".to_owned(),
            "200 OK blue:1=3".to_owned(),
        ]
    );
    check(&summary, 3, &[("blue:1", 3)], &[("200", 3)], 0);
    blue.stop(true).await.unwrap();
}

#[tokio::test]
async fn poll_mode_counts_failures_and_keeps_going() {
    let addr = SocketAddr::from(([127, 0, 0, 1], refused_port()));
    let (lines, summary) = run(&poll(addr, 2)).await;
    assert_eq!(
        &lines[1..],
        [
            "error refused error:refused=1",
            "error refused error:refused=2"
        ]
    );
    check(&summary, 2, &[("error:refused", 2)], &[], 2);

    let flaky = scripted(|n| {
        Some(if n == 0 {
            ("503 Service Unavailable", "busy".to_owned())
        } else {
            ("200 OK", r#"{"service":"green","version":"2"}"#.to_owned())
        })
    })
    .await;
    let (lines, _) = run(&poll(flaky, 2)).await;
    assert_eq!(
        &lines[1..],
        [
            "503 Service Unavailable http:503=1",
            "200 OK green:2=1 http:503=1"
        ]
    );
}

#[tokio::test]
async fn keys_are_sorted_like_the_seed() {
    let answers = ["green:1", "blue:1", "green:2", "blue:1"];
    let server = scripted(move |n| {
        let (service, version) = answers[n % answers.len()].split_once(':').unwrap();
        Some((
            "200 OK",
            format!(r#"{{"message":"ok","service":"{service}","version":"{version}"}}"#),
        ))
    })
    .await;
    let (lines, _) = run(&poll(server, 4)).await;
    assert_eq!(
        &lines[1..],
        [
            "200 OK green:1=1",
            "200 OK blue:1=1 green:1=1",
            "200 OK blue:1=1 green:1=1 green:2=1",
            "200 OK blue:1=2 green:1=1 green:2=1",
        ]
    );
}

#[tokio::test]
async fn load_mode_tallies_every_answer_with_both_engines() {
    let blue = demo_app("blue", "1", None).await;
    for engine in [Engine::Auto, Engine::Reqwest] {
        let (lines, summary) = run(&load(blue.local_addr(), 4, 400, engine)).await;
        assert_eq!(
            lines,
            [format!("Running against http://{}/", blue.local_addr())]
        );
        check(&summary, 400, &[("blue:1", 400)], &[("200", 400)], 0);
        let l = summary.latency.unwrap();
        assert!(
            l.p50_ms <= l.p90_ms && l.p90_ms <= l.p99_ms && l.p99_ms <= l.max_ms,
            "{engine:?} {l:?}"
        );
    }
    blue.stop(true).await.unwrap();
}

#[tokio::test]
async fn load_mode_merges_keys_across_connections() {
    // Answers alternate by global request number, so the split is exact whatever connection
    // or thread carried each request.
    let server = scripted(|n| {
        Some((
            "200 OK",
            format!(
                r#"{{"service":"{}","version":"1"}}"#,
                ["blue", "green"][n % 2]
            ),
        ))
    })
    .await;
    for engine in [Engine::Auto, Engine::Reqwest] {
        let (_, summary) = run(&load(server, 3, 300, engine)).await;
        assert_eq!(summary.requests, 300);
        let blue = summary.keys.get("blue:1").copied().unwrap_or(0);
        let green = summary.keys.get("green:1").copied().unwrap_or(0);
        assert_eq!(blue + green, 300, "{engine:?} {summary:#?}");
        assert_eq!(summary.statuses, counts(&[("200", 300)]));
    }
}

#[tokio::test]
async fn load_mode_error_keys() {
    let refused = SocketAddr::from(([127, 0, 0, 1], refused_port()));
    let text = scripted(|_| Some(("200 OK", "plain text".to_owned()))).await;
    let shape = scripted(|_| Some(("200 OK", r#"{"message":"ok"}"#.to_owned()))).await;
    let unavailable = scripted(|_| {
        Some((
            "503 Service Unavailable",
            r#"{"message":"error"}"#.to_owned(),
        ))
    })
    .await;
    for engine in [Engine::Auto, Engine::Reqwest] {
        let (_, s) = run(&load(refused, 2, 10, engine)).await;
        check(&s, 10, &[("error:refused", 10)], &[], 10);
        let (_, s) = run(&load(text, 2, 10, engine)).await;
        check(&s, 10, &[("error:non-json", 10)], &[("200", 10)], 0);
        let (_, s) = run(&load(shape, 2, 10, engine)).await;
        check(&s, 10, &[("error:unexpected-json", 10)], &[("200", 10)], 0);
        let (_, s) = run(&load(unavailable, 2, 10, engine)).await;
        check(&s, 10, &[("http:503", 10)], &[("503", 10)], 0);
    }
}

#[tokio::test]
async fn load_mode_counts_timeouts() {
    let silent = scripted(|_| None).await;
    for engine in [Engine::Auto, Engine::Reqwest] {
        let mut config = load(silent, 2, 4, engine);
        config.timeout = Duration::from_millis(200);
        let (_, s) = run(&config).await;
        check(&s, 4, &[("error:timeout", 4)], &[], 4);
    }
}

#[tokio::test]
async fn downstream_answers_are_keyed_by_the_hop() {
    let blue = demo_app("blue", "1", None).await;
    let green = demo_app("green", "3", Some("127.0.0.1")).await;
    let path = format!("/downstream/127.0.0.1:{}", blue.local_addr().port());
    let (_, s) = run(&{
        let mut c = load(green.local_addr(), 2, 20, Engine::Auto);
        c.target = target(green.local_addr(), &path);
        c
    })
    .await;
    check(&s, 20, &[("green>blue:1", 20)], &[("200", 20)], 0);
    green.stop(true).await.unwrap();
    blue.stop(true).await.unwrap();
}

#[tokio::test]
async fn duration_bounds_a_run() {
    let blue = demo_app("blue", "1", None).await;
    for mut config in [
        Config::load(target(blue.local_addr(), "/"), 2),
        poll(blue.local_addr(), 1),
    ] {
        config.requests = None;
        config.duration = Some(Duration::from_millis(300));
        config.progress = false;
        let (_, s) = run(&config).await;
        assert!(s.requests > 0, "{s:#?}");
        assert!(s.elapsed_secs >= 0.3, "{s:#?}");
        assert_eq!(s.keys.keys().collect::<Vec<_>>(), ["blue:1"]);
    }
    blue.stop(true).await.unwrap();
}

#[tokio::test]
async fn shutdown_signal_ends_an_unbounded_run_with_a_summary() {
    let blue = demo_app("blue", "1", None).await;
    for mut config in [
        Config::load(target(blue.local_addr(), "/"), 2),
        poll(blue.local_addr(), 1),
    ] {
        config.requests = None;
        config.progress = false;
        let (_, s) = run_until(&config, tokio::time::sleep(Duration::from_millis(300))).await;
        assert!(s.requests > 0, "{s:#?}");
        assert_eq!(s.errors, 0);
    }
    blue.stop(true).await.unwrap();
}

#[tokio::test]
async fn rate_limited_load_finishes() {
    let blue = demo_app("blue", "1", None).await;
    let mut config = load(blue.local_addr(), 2, 6, Engine::Auto);
    if let load_client::Mode::Load { rate, .. } = &mut config.mode {
        *rate = Some(200.0);
    }
    let (_, s) = run(&config).await;
    check(&s, 6, &[("blue:1", 6)], &[("200", 6)], 0);
    blue.stop(true).await.unwrap();
}

#[tokio::test]
async fn load_mode_prints_progress_lines() {
    let blue = demo_app("blue", "1", None).await;
    let mut config = Config::load(target(blue.local_addr(), "/"), 1);
    config.interval = Duration::from_millis(50);
    config.duration = Some(Duration::from_secs(1));
    let (lines, _) = run(&config).await;
    assert!(lines.len() >= 2, "{lines:?}");
    assert!(
        lines[1].contains(" requests sent, ") && lines[1].ends_with(" req/s"),
        "{lines:?}"
    );
    blue.stop(true).await.unwrap();
}

fn with_rate(mut config: Config, concurrency: usize, rate: f64) -> Config {
    config.mode = load_client::Mode::Load {
        concurrency,
        rate: Some(rate),
    };
    config
}

#[tokio::test]
async fn the_accepted_extremes_of_every_setting_run() {
    use load_client::limits::{DURATION, INTERVAL, RATE, TIMEOUT};
    let server =
        scripted(|_| Some(("200 OK", r#"{"service":"web","version":"1"}"#.to_owned()))).await;
    let silent = scripted(|_| None).await;
    let base = load(server, 1, 50, Engine::Auto);
    let mut corners = vec![
        // `--rate 10000000` on one connection: a 100 ns period.
        with_rate(base.clone(), 1, *RATE.end()),
        // `--rate 0.001` over two connections: one request each, then a 33-minute pause.
        with_rate(base.clone(), 2, *RATE.start()),
    ];
    let mut c = poll(server, 3);
    c.interval = *INTERVAL.start();
    corners.push(c);
    let mut c = base.clone();
    (c.interval, c.progress) = (*INTERVAL.end(), true);
    c.duration = Some(*DURATION.end());
    corners.push(c);
    let mut c = load(silent, 2, 4, Engine::Auto);
    c.timeout = *TIMEOUT.start();
    corners.push(c);
    let mut c = poll(server, 2);
    c.timeout = *TIMEOUT.end();
    c.timeline = Some(load_client::TimelineFormat::Json);
    corners.push(c);
    for config in corners {
        let (_, s) = run_until(&config, tokio::time::sleep(Duration::from_millis(300))).await;
        assert!(s.requests > 0, "{config:?}\n{s:#?}");
    }
}

#[tokio::test]
async fn a_hand_built_config_out_of_range_is_refused_not_run() {
    let addr = SocketAddr::from(([127, 0, 0, 1], refused_port()));
    let base = load(addr, 1, 1, Engine::Auto);
    let mut bad = vec![
        with_rate(base.clone(), 1, 3e9),
        with_rate(base.clone(), 1, f64::NAN),
        with_rate(base.clone(), 0, 10.0),
    ];
    for (interval, timeout, duration) in [
        (Duration::ZERO, Duration::from_secs(1), None),
        (Duration::from_secs(1), Duration::ZERO, None),
        (
            Duration::from_secs(1),
            Duration::from_secs(1),
            Some(Duration::MAX),
        ),
    ] {
        let mut c = poll(addr, 1);
        (c.interval, c.timeout, c.duration) = (interval, timeout, duration);
        bad.push(c);
    }
    for config in bad {
        let mut out = Vec::new();
        let result = load_client::run(&config, &mut out, std::future::pending()).await;
        assert!(
            matches!(result, Err(load_client::RunError::Config(_))),
            "{config:?}: {result:?}"
        );
        assert!(out.is_empty(), "nothing runs");
    }
}

#[tokio::test]
async fn a_timeline_second_without_answers_still_prints() {
    let silent = scripted(|_| None).await;
    let mut config = poll(silent, 1);
    config.requests = None;
    config.duration = Some(Duration::from_millis(2200));
    config.timeline = Some(load_client::TimelineFormat::Json);
    let (lines, s) = run(&config).await;
    assert_eq!(
        lines,
        [
            r#"{"t":0,"total":0,"errors":0,"keys":{}}"#,
            r#"{"t":1,"total":0,"errors":0,"keys":{}}"#,
        ],
        "the empty, unfinished second 2 is left out"
    );
    assert_eq!(s.requests, 0);
}
