//! appmesh: the gateway's path routes, the router's 50/50 split, and gateway > colour > blue

use std::time::Duration;

use crate::local::{Deployed, Http};

#[test]
fn gateway_routes_answer_from_the_right_colour() {
    let (stack, _) = Deployed::new("appmesh", "am-routes", &[]);
    let http = Http::new();
    let gateway = stack.gateway_url();

    for colour in ["blue", "green"] {
        let body = http.json(&format!("{gateway}/{colour}"));
        assert_eq!(body["service"], colour, "{body}");
        assert_eq!(body["message"], "ok");
        // The matched prefix is rewritten to `/`: a deeper path still lands on the colour.
        assert_eq!(
            http.json(&format!("{gateway}/{colour}/anything?x=1"))["service"],
            colour
        );
    }

    // gateway > (blue or green) > blue, as in the seed README.
    for _ in 0..10 {
        let body = http.json(&format!("{gateway}/split/downstream/blue.appmesh"));
        assert_eq!(body["message"], "fetched!");
        assert!(
            body["service"] == "blue" || body["service"] == "green",
            "{body}"
        );
        assert_eq!(body["response"]["service"], "blue", "{body}");
    }
    // A colour reaching the router reaches one of the colours.
    let body = http.json(&format!("{gateway}/green/downstream/router"));
    assert_eq!(body["service"], "green");
    assert!(body["response"]["service"] == "blue" || body["response"]["service"] == "green");

    // No route: 404 from the gateway, like Envoy.
    let (code, _) = http.get(&format!("{gateway}/red"));
    assert_eq!(code, 404);
    let (code, _) = http.get(&format!("{gateway}/"));
    assert_eq!(code, 404);
}

#[test]
fn split_is_fifty_fifty_within_two_points_over_ten_thousand_requests() {
    let (stack, _) = Deployed::new("appmesh", "am-split", &[]);
    let target = load_client::Target::parse(&format!("{}/split", stack.gateway_url())).unwrap();
    let mut config = load_client::Config::load(target, 8);
    config.requests = Some(10_000);
    config.duration = Some(Duration::from_secs(120));
    config.progress = false;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut out = Vec::new();
    let summary = runtime
        .block_on(load_client::run(&config, &mut out, std::future::pending()))
        .expect("the load client runs");
    eprintln!("{summary}");
    assert_eq!(summary.requests, 10_000, "{summary}");
    assert_eq!(summary.errors, 0, "{summary}");
    assert_eq!(summary.statuses.get("200"), Some(&10_000), "{summary}");
    for colour in ["blue:unknown", "green:unknown"] {
        let count = summary.keys.get(colour).copied().unwrap_or(0);
        assert!(
            (4_800..=5_200).contains(&count),
            "{colour}={count}: {summary}"
        );
    }
}
