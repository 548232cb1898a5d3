//! Test aids for rehearsing deployments: the routing header a test request carries is copied onto
//! downstream calls, so it crosses every Service Connect hop; `FAULT_RATE` answers a share of
//! requests with 500, never a health probe.

use demo_app::{AllowList, Faults, HEALTH_HEADER, ProxySetting, RunningApp};

use crate::support::{ScriptedServer, get, get_with, json_response, start_app};

/// The request head `web` receives when `front` (configured by `tweak`) is called with
/// `headers` on `/downstream/127.0.0.1:<web>`.
async fn head_downstream(
    headers: &[(&str, &str)],
    tweak: impl FnOnce(&mut demo_app::Config),
) -> String {
    let web = ScriptedServer::answering(json_response(r#"{"service":"web"}"#)).await;
    let front = start_app("front", "1", |c| {
        c.allow = AllowList::parse("127.0.0.1").unwrap();
        tweak(c);
    })
    .await;
    let path = format!("/downstream/127.0.0.1:{}", web.addr.port());
    assert_eq!(get_with(front.local_addr(), &path, headers).await.0, 200);
    front.stop(true).await.unwrap();
    web.heads()[0].to_ascii_lowercase()
}

#[tokio::test]
async fn the_ecs_test_header_is_propagated_by_default() {
    let head = head_downstream(
        &[("x-amzn-ecs-blue-green-test", "1"), ("x-unrelated", "a")],
        |_| {},
    )
    .await;
    assert!(
        head.contains("\r\nx-amzn-ecs-blue-green-test: 1\r\n"),
        "{head}"
    );
    assert!(!head.contains("x-unrelated"), "{head}");
}

#[tokio::test]
async fn configured_headers_are_propagated_with_every_value() {
    let head = head_downstream(
        &[
            ("X-Test-Lane", "canary"),
            ("x-test-lane", "second"),
            ("x-amzn-ecs-blue-green-test", "1"),
        ],
        |c| c.propagate_headers = vec!["x-test-lane".into()],
    )
    .await;
    assert!(head.contains("\r\nx-test-lane: canary\r\n"), "{head}");
    assert!(head.contains("\r\nx-test-lane: second\r\n"), "{head}");
    // Replaced, not added to: the default header is no longer on the list.
    assert!(!head.contains("x-amzn-ecs-blue-green-test"), "{head}");
}

#[tokio::test]
async fn a_request_without_the_header_adds_none() {
    let head = head_downstream(&[], |_| {}).await;
    assert!(!head.contains("x-amzn-ecs-blue-green-test"), "{head}");
}

#[tokio::test]
async fn the_header_reaches_the_egress_proxy() {
    // The local runtime routes test traffic in its egress proxy, by this header.
    let proxy = ScriptedServer::answering(json_response(r#"{"service":"web"}"#)).await;
    let front = start_app("front", "1", |c| {
        c.allow = AllowList::service_default(Some("serviceconnect"));
        c.proxy = ProxySetting::Url(format!("http://{}", proxy.addr));
    })
    .await;
    let (status, _) = get_with(
        front.local_addr(),
        "/downstream/web.serviceconnect",
        &[("x-amzn-ecs-blue-green-test", "true")],
    )
    .await;
    assert_eq!(status, 200);
    let head = proxy.heads()[0].to_ascii_lowercase();
    assert!(
        head.starts_with("get http://web.serviceconnect/ http/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nx-amzn-ecs-blue-green-test: true\r\n"),
        "{head}"
    );
    front.stop(true).await.unwrap();
}

const FAULT: &str = r#"{"message":"fault injected","service":"web","version":"3"}"#;
const OK: &str = r#"{"message":"ok","service":"web","version":"3"}"#;

/// `web` version 3 answering `rate` of its requests with a fault, seeded with `seed`.
async fn faulty_web(rate: f64, seed: u64) -> RunningApp {
    start_app("web", "3", |c| c.faults = Faults::new(rate, Some(seed))).await
}

/// The statuses of `n` plain requests, checking each body matches its status.
async fn statuses(app: &RunningApp, n: usize) -> Vec<u16> {
    let mut seen = Vec::with_capacity(n);
    for i in 0..n {
        let (status, body) = get(app.local_addr(), &format!("/request/{i}")).await;
        let expected = if status == 500 { FAULT } else { OK };
        assert_eq!(body, expected, "request {i} answered {status}");
        seen.push(status);
    }
    seen
}

#[tokio::test]
async fn fault_rate_answers_that_share_of_requests_with_500() {
    let web = faulty_web(0.3, 11).await;
    let seen = statuses(&web, 400).await;
    let faults = seen.iter().filter(|s| **s == 500).count();
    // Seeded, so the count is fixed; the bounds are over 4 standard deviations wide.
    assert!((80..=160).contains(&faults), "{faults} of 400");
    assert!(seen.iter().all(|s| *s == 200 || *s == 500));
    web.stop(true).await.unwrap();
    // The same seed replays the same sequence.
    let again = faulty_web(0.3, 11).await;
    assert_eq!(statuses(&again, 400).await, seen);
    again.stop(true).await.unwrap();
}

#[tokio::test]
async fn faults_are_off_by_default() {
    let web = start_app("web", "3", |_| {}).await;
    assert!(statuses(&web, 200).await.iter().all(|s| *s == 200));
    web.stop(true).await.unwrap();
}

#[tokio::test]
async fn health_probes_are_never_faulted() {
    let web = faulty_web(1.0, 1).await;
    assert_eq!(get(web.local_addr(), "/").await, (500, FAULT.to_owned()));
    // Every route fails, the downstream one included.
    assert_eq!(get(web.local_addr(), "/downstream/blue").await.0, 500);
    for _ in 0..50 {
        assert_eq!(
            get_with(web.local_addr(), "/", &[(HEALTH_HEADER, "1")]).await,
            (200, OK.to_owned())
        );
    }
    web.stop(true).await.unwrap();
}
