//! The dashboard on AWS (moto): `cargo xtask dashboard <app>` runs in `meshtest-aws`, reads the
//! stack through the deploy library and serves the same page and frames, with `aws` as its
//! backend; moto runs no ECS deployment, so there is no rollout to show and a button's
//! rollback is refused with the library's reason.

use crate::aws::{deploy, xtask_command};
use crate::local::Http;
use crate::local::dashboard::Dashboard;
use meshtest_tests::moto::MotoServer;
use serde_json::Value;

#[test]
fn the_dashboard_serves_a_stack_on_aws_through_meshtest_aws() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let run = deploy(&moto, "rollout", &[]);
    assert_eq!(run.code, 0, "{run}");
    let mut command = xtask_command();
    command.args([
        "dashboard",
        "rollout",
        "--endpoint-url",
        &moto.endpoint_url(),
    ]);
    let dashboard = Dashboard::run(command);
    let base = dashboard.base().to_owned();
    let token = dashboard.url.split_once("token=").unwrap().1.to_owned();
    let http = Http::new();
    assert_eq!(http.get(&format!("{base}/frame")).0, 403);
    let (status, body) = http.get(&format!("{base}/frame?token={token}"));
    assert_eq!(status, 200, "{body}");
    let frame: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(frame["backend"], "aws", "{frame}");
    assert_eq!(frame["chartSource"], "productionShare", "{frame}");
    assert_eq!(frame["rollouts"], serde_json::json!([]), "{frame}");
    let services: Vec<&str> = frame["topology"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["front", "web"], "{frame}");
    assert_eq!(
        frame["topology"]["services"][0]["calls"],
        serde_json::json!(["web"])
    );
    let (status, body) = http.post(
        &format!("{base}/rollback"),
        Some(("x-meshtest-token", &token)),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("the endpoint does not implement ListServiceDeployments"),
        "{body}"
    );
}
