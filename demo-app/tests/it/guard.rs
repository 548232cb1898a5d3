//! The destination guard in-process: allowed names that resolve to the task's own loopback,
//! unspecified, link-local or metadata addresses are refused before any connection, the Service
//! Connect range works for explicitly named hosts, and the proxy path is neither broken nor a way
//! around the allow-list. Every name resolves through a resolver the test controls.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use demo_app::{AllowList, ProxySetting, RunningApp};

use crate::support::{HostsResolver, Script, ScriptedServer, get, json_response, start_app};

const REFUSED: &str =
    r#"{"message":"error","service":"green","error":"downstream target not allowed"}"#;

/// Green with the seed's defaults for namespace `serviceconnect`, resolving through `hosts`.
async fn green(
    hosts: &Arc<HostsResolver>,
    tweak: impl FnOnce(&mut demo_app::Config),
) -> RunningApp {
    let hosts = hosts.clone();
    start_app("green", "1", move |c| {
        c.allow = AllowList::service_default(Some("serviceconnect"));
        c.resolver = hosts;
        tweak(c);
    })
    .await
}

/// `GET /downstream/{target}` answers exactly `status` and `body`.
async fn check(app: &RunningApp, target: &str, status: u16, body: &str) {
    let got = get(app.local_addr(), &format!("/downstream/{target}")).await;
    assert_eq!(
        (got.0, got.1.as_str()),
        (status, body),
        "/downstream/{target}"
    );
}

#[tokio::test]
async fn names_resolving_to_local_or_metadata_addresses_are_refused_without_connecting() {
    let listener = ScriptedServer::answering(json_response(r#"{"secret":true}"#)).await;
    let port = listener.addr.port();
    let hosts = HostsResolver::new(&[
        ("vm", "127.0.0.1"),
        ("vm6", "::1"),
        ("mapped", "::ffff:127.0.0.1"),
        ("compat", "::127.0.0.1"),
        ("zero", "0.0.0.0"),
        ("imds", "169.254.169.254"),
        ("creds", "169.254.170.2"),
        ("imds6", "fd00:ec2::254"),
        ("linklocal6", "fe80::1"),
        // One good address does not launder a refused one.
        ("mixed", "10.255.255.1"),
        ("mixed", "127.0.0.1"),
        ("x.serviceconnect", "127.0.0.1"),
    ]);
    // An exact entry does not open loopback either: only the Service Connect range is exempt.
    let green = green(&hosts, |c| {
        c.allow = AllowList::parse("*, *.serviceconnect, vm").unwrap();
    })
    .await;
    for name in [
        "vm",
        "vm6",
        "mapped",
        "compat",
        "zero",
        "imds",
        "creds",
        "imds6",
        "linklocal6",
        "mixed",
        "x.serviceconnect",
    ] {
        check(&green, &format!("{name}:{port}"), 403, REFUSED).await;
    }
    // The answer is the same as for a target the allow-list refuses by name.
    check(&green, &format!("127.0.0.1:{port}"), 403, REFUSED).await;
    assert_eq!(
        listener.connections(),
        0,
        "a refused name is never connected to"
    );
    assert!(
        hosts.asked().contains(&"vm".to_owned()),
        "{:?}",
        hosts.asked()
    );
    green.stop(true).await.unwrap();
}

#[tokio::test]
async fn the_default_allow_list_refuses_an_etc_hosts_style_alias() {
    // The hostile trial's repro: `vm` is a single-label name, allowed by default, aliased to the
    // task's loopback, and the port is a live service.
    let blue = start_app("blue", "1", |_| {}).await;
    let hosts = HostsResolver::new(&[("vm", "127.0.0.1")]);
    let green = green(&hosts, |_| {}).await;
    check(
        &green,
        &format!("vm:{}", blue.local_addr().port()),
        403,
        REFUSED,
    )
    .await;
    green.stop(true).await.unwrap();
    blue.stop(true).await.unwrap();
}

#[tokio::test]
async fn service_connect_addresses_work_for_names_under_the_namespace() {
    // Service Connect writes each client alias into /etc/hosts with a 127.255.0.0/16 address
    // on which the task's proxy listens; this listener plays that proxy.
    let sc_proxy = ScriptedServer::start_on(
        IpAddr::V4(Ipv4Addr::new(127, 255, 0, 1)),
        Script::Answer {
            delay: std::time::Duration::ZERO,
            bytes: json_response(r#"{"message":"ok","service":"blue","version":"1"}"#),
        },
    )
    .await;
    let port = sc_proxy.addr.port();
    let hosts = HostsResolver::new(&[
        ("blue.serviceconnect", "127.255.0.1"),
        ("blue", "127.255.0.1"),
    ]);
    let green = green(&hosts, |_| {}).await;
    check(
        &green,
        &format!("blue.serviceconnect:{port}"),
        200,
        r#"{"message":"fetched!","service":"green","response":{"message":"ok","service":"blue","version":"1"}}"#,
    )
    .await;
    assert_eq!(sc_proxy.connections(), 1);
    // A single-label name is allowed by default but not named: it may not use the range.
    check(&green, &format!("blue:{port}"), 403, REFUSED).await;
    assert_eq!(sc_proxy.connections(), 1);
    green.stop(true).await.unwrap();
    // Listed exactly, it may.
    let green = green_listing(&hosts, "blue").await;
    check(
        &green,
        &format!("blue:{port}"),
        200,
        r#"{"message":"fetched!","service":"green","response":{"message":"ok","service":"blue","version":"1"}}"#,
    )
    .await;
    green.stop(true).await.unwrap();
}

async fn green_listing(hosts: &Arc<HostsResolver>, list: &str) -> RunningApp {
    let allow = AllowList::parse(list).unwrap();
    green(hosts, move |c| c.allow = allow).await
}

#[tokio::test]
async fn allowed_names_keep_distinguishable_failures() {
    let sc = IpAddr::V4(Ipv4Addr::new(127, 255, 0, 1));
    let silent = ScriptedServer::start_on(sc, Script::Silent).await;
    let text = ScriptedServer::start_on(
        sc,
        Script::Answer {
            delay: std::time::Duration::ZERO,
            bytes: crate::support::response("200 OK", "text/plain", "hi"),
        },
    )
    .await;
    let closed = {
        let l = std::net::TcpListener::bind((sc, 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let hosts = HostsResolver::new(&[("blue.serviceconnect", "127.255.0.1")]);
    let green = green(&hosts, |c| {
        c.timeout = std::time::Duration::from_millis(300)
    })
    .await;
    let error =
        |reason: &str| format!(r#"{{"message":"error","service":"green","error":"{reason}"}}"#);
    let name = "blue.serviceconnect";
    check(
        &green,
        &format!("{name}:{}", silent.addr.port()),
        504,
        &error("downstream timed out"),
    )
    .await;
    check(
        &green,
        &format!("{name}:{}", text.addr.port()),
        502,
        &error("downstream response is not json"),
    )
    .await;
    check(
        &green,
        &format!("{name}:{closed}"),
        502,
        &error("downstream unreachable"),
    )
    .await;
    check(
        &green,
        "red.serviceconnect",
        502,
        &error("downstream unreachable"),
    )
    .await;
    green.stop(false).await.unwrap();
}

#[tokio::test]
async fn mesh_names_go_through_the_proxy_unresolved() {
    // The local runtime's path: HTTP_PROXY points at its egress proxy on loopback, which maps
    // the seed's Service Connect and App Mesh names. The proxy is the platform hop, so its own
    // loopback address is fine, and demo-app resolves none of the names itself.
    let proxy = ScriptedServer::answering(json_response(r#"{"via":"proxy"}"#)).await;
    let hosts = HostsResolver::new(&[]);
    let green = green(&hosts, |c| {
        c.allow = AllowList::parse("*.serviceconnect, *.appmesh, router").unwrap();
        c.proxy = ProxySetting::Url(format!("http://{}", proxy.addr));
    })
    .await;
    let fetched = r#"{"message":"fetched!","service":"green","response":{"via":"proxy"}}"#;
    for name in ["blue.serviceconnect", "blue.appmesh", "router"] {
        check(&green, name, 200, fetched).await;
    }
    let heads = proxy.heads();
    for (head, name) in heads
        .iter()
        .zip(["blue.serviceconnect", "blue.appmesh", "router"])
    {
        assert!(
            head.starts_with(&format!("GET http://{name}/ HTTP/1.1\r\n")),
            "{head}"
        );
    }
    // A name outside the allow-list never reaches the proxy.
    check(&green, "vm", 403, REFUSED).await;
    check(&green, "evil.example", 403, REFUSED).await;
    assert_eq!(proxy.heads().len(), 3);
    assert!(hosts.asked().is_empty(), "{:?}", hosts.asked());
    green.stop(true).await.unwrap();
}

#[tokio::test]
async fn a_proxy_given_by_a_loopback_name_still_works() {
    // The guard covers targets, not the configured proxy: a proxy named `localhost` is the
    // platform hop the operator chose, and reaching it must not be refused as loopback.
    let proxy = ScriptedServer::answering(json_response(r#"{"via":"proxy"}"#)).await;
    let hosts = HostsResolver::new(&[]);
    let green = green(&hosts, |c| {
        c.proxy = ProxySetting::Url(format!("http://localhost:{}", proxy.addr.port()));
    })
    .await;
    check(
        &green,
        "blue.serviceconnect",
        200,
        r#"{"message":"fetched!","service":"green","response":{"via":"proxy"}}"#,
    )
    .await;
    assert!(hosts.asked().is_empty(), "{:?}", hosts.asked());
    green.stop(true).await.unwrap();
}

#[tokio::test]
async fn a_proxy_url_that_cannot_be_used_stops_the_start() {
    // Going direct instead would quietly bypass the hop the operator configured.
    for url in ["ftp://127.0.0.1:3128", "http://"] {
        let mut config = demo_app::Config::new("green", "1");
        config.host = Ipv4Addr::LOCALHOST.into();
        config.port = 0;
        config.proxy = ProxySetting::Url(url.to_owned());
        let err = demo_app::spawn(config).await.expect_err(url);
        assert!(
            matches!(err, demo_app::StartError::Client(_)),
            "{url}: {err:?}"
        );
    }
}
