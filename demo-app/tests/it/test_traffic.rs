//! Test-traffic aids: the routing header a test request carries is copied onto downstream calls,
//! so it crosses every Service Connect hop.

use demo_app::{AllowList, ProxySetting};

use crate::support::{ScriptedServer, get_with, json_response, start_app};

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
