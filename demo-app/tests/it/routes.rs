//! The seed's routes in-process: plain answers, the green -> blue hop, and every downstream
//! failure mode with its status and JSON body.

use std::time::Duration;

use demo_app::{AllowList, ProxySetting, RunningApp};

use crate::support::{
    GUARD, Script, ScriptedServer, get, json_response, refused_port, request, response, start_app,
};

/// `GET path` on `app` answers exactly `status` and `body`.
async fn check(app: &RunningApp, path: &str, status: u16, body: &str) {
    let (got_status, got_body) = get(app.local_addr(), path).await;
    assert_eq!(
        (got_status, got_body.as_str()),
        (status, body),
        "GET {path}"
    );
}

/// Green's error body for `reason`.
fn green_error(reason: &str) -> String {
    format!(r#"{{"message":"error","service":"green","error":"{reason}"}}"#)
}

/// Green allowed to reach 127.0.0.1 (any port), with `tweak` on top.
async fn green(tweak: impl FnOnce(&mut demo_app::Config)) -> RunningApp {
    start_app("green", "1", |c| {
        c.allow = AllowList::parse("127.0.0.1").unwrap();
        tweak(c);
    })
    .await
}

#[tokio::test]
async fn every_other_path_and_method_answers_ok_in_seed_key_order() {
    let app = start_app("blue", "1", |_| {}).await;
    let ok = r#"{"message":"ok","service":"blue","version":"1"}"#;
    for path in [
        "/",
        "/split",
        "/a/b/c?x=1",
        "/downstream",
        "/downstream/",
        "/downstream/a/b",
    ] {
        check(&app, path, 200, ok).await;
    }
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        assert_eq!(
            request(method.clone(), app.local_addr(), "/x").await,
            (200, ok.to_owned()),
            "{method}"
        );
        // Only GET fetches; other methods on /downstream/... get the plain answer, like any path.
        assert_eq!(
            request(method.clone(), app.local_addr(), "/downstream/blue").await,
            (200, ok.to_owned()),
            "{method}"
        );
    }
    app.stop(true).await.unwrap();
}

#[tokio::test]
async fn serves_on_a_listener_it_is_given() {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = demo_app::Config::new("blue", "2");
    config.workers = 1;
    config.proxy = ProxySetting::Disabled;
    let app = demo_app::App::new(config)
        .with_listener(listener)
        .start()
        .await
        .unwrap();
    assert_eq!(app.local_addr(), addr);
    check(
        &app,
        "/",
        200,
        r#"{"message":"ok","service":"blue","version":"2"}"#,
    )
    .await;
    app.stop(true).await.unwrap();
}

#[tokio::test]
async fn seed_defaults_are_unknown() {
    let mut config = demo_app::Config::from_lookup(|_| None).unwrap();
    config.host = std::net::Ipv4Addr::LOCALHOST.into();
    config.port = 0;
    config.workers = 1;
    config.proxy = ProxySetting::Disabled;
    let app = demo_app::spawn(config).await.unwrap();
    check(
        &app,
        "/",
        200,
        r#"{"message":"ok","service":"unknown","version":"unknown"}"#,
    )
    .await;
    app.stop(true).await.unwrap();
}

#[tokio::test]
async fn green_fetches_blue_through_downstream() {
    let blue = start_app("blue", "1", |_| {}).await;
    let green = green(|_| {}).await;
    let path = format!("/downstream/127.0.0.1:{}", blue.local_addr().port());
    check(
        &green,
        &path,
        200,
        r#"{"message":"fetched!","service":"green","response":{"message":"ok","service":"blue","version":"1"}}"#,
    )
    .await;
    // A trailing slash is the same route.
    check(&green, &format!("{path}/"), 200, r#"{"message":"fetched!","service":"green","response":{"message":"ok","service":"blue","version":"1"}}"#).await;
    green.stop(true).await.unwrap();
    blue.stop(true).await.unwrap();
}

#[tokio::test]
async fn downstream_json_is_embedded_byte_for_byte() {
    // Key order, spacing and number spelling of the downstream answer survive the hop.
    let raw = r#"{"zeta":1,"alpha":[1.50,"x"],  "nested":{"b":true,"a":null}}"#;
    let server = ScriptedServer::answering(json_response(raw)).await;
    let green = green(|_| {}).await;
    check(
        &green,
        &format!("/downstream/127.0.0.1:{}", server.addr.port()),
        200,
        &format!(r#"{{"message":"fetched!","service":"green","response":{raw}}}"#),
    )
    .await;
    // The request that reached the downstream asks for its root.
    assert!(
        server.heads()[0].starts_with("GET / HTTP/1.1\r\n"),
        "{:?}",
        server.heads()
    );
    green.stop(true).await.unwrap();
}

#[tokio::test]
async fn refused_connection_is_502() {
    let green = green(|_| {}).await;
    check(
        &green,
        &format!("/downstream/127.0.0.1:{}", refused_port()),
        502,
        &green_error("downstream unreachable"),
    )
    .await;
    green.stop(true).await.unwrap();
}

#[tokio::test]
async fn silent_downstream_is_504() {
    let server = ScriptedServer::start(Script::Silent).await;
    let green = green(|c| c.timeout = Duration::from_millis(300)).await;
    check(
        &green,
        &format!("/downstream/127.0.0.1:{}", server.addr.port()),
        504,
        &green_error("downstream timed out"),
    )
    .await;
    assert_eq!(server.connections(), 1);
    green.stop(false).await.unwrap();
}

#[tokio::test]
async fn non_json_downstream_is_502() {
    for (content_type, body) in [
        ("text/plain", "hello"),
        ("application/json", r#"{"a":1} trailing"#),
        ("application/json", ""),
    ] {
        let server = ScriptedServer::answering(response("200 OK", content_type, body)).await;
        let green = green(|_| {}).await;
        check(
            &green,
            &format!("/downstream/127.0.0.1:{}", server.addr.port()),
            502,
            &green_error("downstream response is not json"),
        )
        .await;
        green.stop(true).await.unwrap();
    }
}

#[tokio::test]
async fn oversized_downstream_is_502_with_or_without_length() {
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(2048));
    let chunked = {
        let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
        for chunk in big.as_bytes().chunks(500) {
            r.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            r.extend_from_slice(chunk);
            r.extend_from_slice(b"\r\n");
        }
        r.extend_from_slice(b"0\r\n\r\n");
        r
    };
    for bytes in [json_response(&big), chunked] {
        let server = ScriptedServer::answering(bytes).await;
        let green = green(|c| c.max_body_bytes = 1024).await;
        check(
            &green,
            &format!("/downstream/127.0.0.1:{}", server.addr.port()),
            502,
            &green_error("downstream response too large"),
        )
        .await;
        green.stop(true).await.unwrap();
    }
    // At the cap exactly, the body passes.
    let exact = r#"{"a":"bc"}"#;
    let server = ScriptedServer::answering(json_response(exact)).await;
    let green = green(|c| c.max_body_bytes = exact.len()).await;
    check(
        &green,
        &format!("/downstream/127.0.0.1:{}", server.addr.port()),
        200,
        &format!(r#"{{"message":"fetched!","service":"green","response":{exact}}}"#),
    )
    .await;
    green.stop(true).await.unwrap();
}

#[tokio::test]
async fn target_outside_the_allow_list_is_403_and_never_contacted() {
    let server = ScriptedServer::answering(json_response("{}")).await;
    let port = server.addr.port();
    // Only another port is allowed.
    let green =
        green(|c| c.allow = AllowList::parse(&format!("127.0.0.1:{}", refused_port())).unwrap())
            .await;
    check(
        &green,
        &format!("/downstream/127.0.0.1:{port}"),
        403,
        &green_error("downstream target not allowed"),
    )
    .await;
    check(
        &green,
        &format!("/downstream/{}", 0x7f00_0001_u32),
        403,
        &green_error("downstream target not allowed"),
    )
    .await;
    assert_eq!(server.connections(), 0);
    green.stop(true).await.unwrap();
}

#[tokio::test]
async fn ip_literals_and_localhost_are_refused_by_default() {
    let server = ScriptedServer::answering(json_response("{}")).await;
    let port = server.addr.port();
    let green = start_app("green", "1", |c| {
        c.allow = AllowList::service_default(Some("serviceconnect"))
    })
    .await;
    for target in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost.:{port}"),
        format!("[::1]:{port}"),
        format!("2130706433:{port}"),
        format!("0x7f.1:{port}"),
    ] {
        check(
            &green,
            &format!("/downstream/{target}"),
            403,
            &green_error("downstream target not allowed"),
        )
        .await;
    }
    assert_eq!(server.connections(), 0);
    green.stop(true).await.unwrap();
}

#[tokio::test]
async fn metadata_addresses_are_refused_without_any_connection_attempt() {
    // Every downstream request goes through this proxy, so any attempt to reach a target, even
    // one that cannot be routed from here, shows up as a connection.
    let proxy = ScriptedServer::answering(json_response(r#"{"via":"proxy"}"#)).await;
    let green = start_app("green", "1", |c| {
        c.allow = AllowList::service_default(Some("serviceconnect"));
        c.proxy = ProxySetting::Url(format!("http://{}", proxy.addr));
    })
    .await;
    for target in [
        "169.254.169.254",
        "169.254.170.2",
        "[fd00:ec2::254]",
        "169.254.169.254:80",
        "[::ffff:169.254.169.254]",
        "instance-data",
        "instance-data.ec2.internal",
    ] {
        check(
            &green,
            &format!("/downstream/{target}"),
            403,
            &green_error("downstream target not allowed"),
        )
        .await;
    }
    assert_eq!(
        proxy.connections(),
        0,
        "a refused target must never be contacted"
    );
    // Control: an allowed mesh name does go out, through the proxy, as an absolute-form request.
    check(
        &green,
        "/downstream/blue.serviceconnect",
        200,
        r#"{"message":"fetched!","service":"green","response":{"via":"proxy"}}"#,
    )
    .await;
    assert_eq!(proxy.connections(), 1);
    assert!(
        proxy.heads()[0].starts_with("GET http://blue.serviceconnect/ HTTP/1.1\r\n"),
        "{:?}",
        proxy.heads()
    );
    green.stop(true).await.unwrap();
}

#[tokio::test]
async fn malformed_targets_are_400() {
    let proxy = ScriptedServer::answering(json_response("{}")).await;
    let green = start_app("green", "1", |c| {
        c.proxy = ProxySetting::Url(format!("http://{}", proxy.addr))
    })
    .await;
    for target in ["user@blue", "blue%2Fx", "blue:99999", "blue:x", "%5B::1"] {
        check(
            &green,
            &format!("/downstream/{target}"),
            400,
            &green_error("invalid downstream target"),
        )
        .await;
    }
    assert_eq!(proxy.connections(), 0);
    green.stop(true).await.unwrap();
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // A redirect to the metadata service must not become a fetch of it.
    let redirect = b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec();
    let server = ScriptedServer::answering(redirect).await;
    let green = green(|_| {}).await;
    check(
        &green,
        &format!("/downstream/127.0.0.1:{}", server.addr.port()),
        502,
        &green_error("downstream response is not json"),
    )
    .await;
    assert_eq!(server.connections(), 1);
    green.stop(true).await.unwrap();
}

#[tokio::test]
async fn downstream_error_status_with_json_is_passed_on_like_the_seed() {
    let server = ScriptedServer::answering(response(
        "503 Service Unavailable",
        "application/json",
        r#"{"message":"error"}"#,
    ))
    .await;
    let green = green(|_| {}).await;
    check(
        &green,
        &format!("/downstream/127.0.0.1:{}", server.addr.port()),
        200,
        r#"{"message":"fetched!","service":"green","response":{"message":"error"}}"#,
    )
    .await;
    green.stop(true).await.unwrap();
}

#[tokio::test]
async fn graceful_stop_finishes_an_in_flight_request() {
    let slow = ScriptedServer::start(Script::Answer {
        delay: Duration::from_millis(500),
        bytes: json_response(r#"{"slow":true}"#),
    })
    .await;
    let green = green(|_| {}).await;
    let addr = green.local_addr();
    let path = format!("/downstream/127.0.0.1:{}", slow.addr.port());
    let in_flight = tokio::spawn(async move { get(addr, &path).await });
    slow.wait_for_request().await;
    tokio::time::timeout(GUARD, green.stop(true))
        .await
        .expect("stops")
        .unwrap();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            r#"{"message":"fetched!","service":"green","response":{"slow":true}}"#
        )
    );
}
