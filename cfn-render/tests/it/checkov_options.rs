//! The options behind the checkov skips: set, they render the real setting and drop the skip;
//! unset, the skip carries the reason (tests/tests/it/checkov.rs runs checkov itself)

use model::{AccessLogsSpec, StackSpec, examples};
use serde_json::{Value, json};

use crate::{ids_of_type, json, render};

const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const LOAD_BALANCER: &str = "AWS::ElasticLoadBalancingV2::LoadBalancer";

fn access_logs(prefix: Option<&str>) -> Option<AccessLogsSpec> {
    Some(AccessLogsSpec {
        bucket: "meshtest-logs".into(),
        prefix: prefix.map(Into::into),
    })
}

/// Every log group's `KmsKeyId` and checkov skip ids, and each load balancer's attributes and
/// checkov skip ids, as one JSON value to compare whole.
fn check(spec: StackSpec, expected: Value) {
    let template = render(spec);
    let t = json(&template);
    let resources = &t["Resources"];
    let skips = |id: &str| -> Value {
        resources[id]["Metadata"]["checkov"]["skip"]
            .as_array()
            .map(|s| s.iter().map(|e| e["id"].clone()).collect())
            .unwrap_or(Value::Null)
    };
    let mut actual = serde_json::Map::new();
    for id in ids_of_type(&template, "AWS::Logs::LogGroup") {
        let kms = resources[&id]["Properties"]["KmsKeyId"].clone();
        actual.insert(id.clone(), json!({ "kms": kms, "skip": skips(&id) }));
    }
    for id in ids_of_type(&template, LOAD_BALANCER) {
        let attributes = resources[&id]["Properties"]["LoadBalancerAttributes"].clone();
        actual.insert(
            id.clone(),
            json!({ "attributes": attributes, "skip": skips(&id) }),
        );
    }
    assert_eq!(Value::Object(actual), expected);
}

fn attribute(key: &str, value: &str) -> Value {
    json!({ "Key": key, "Value": value })
}

const DROP_INVALID_HEADERS: &str = "routing.http.drop_invalid_header_fields.enabled";

#[test]
fn unset_options_leave_the_reason_for_checkov() {
    let unencrypted = json!({ "kms": null, "skip": ["CKV_AWS_158"] });
    check(
        examples::gateway("gateway"),
        json!({
            "BlueLogGroup": unencrypted,
            "BlueServiceConnectLogGroup": unencrypted,
            "GreenLogGroup": unencrypted,
            "GreenServiceConnectLogGroup": unencrypted,
            "GatewayLoadBalancer": {
                "attributes": [attribute(DROP_INVALID_HEADERS, "true")],
                "skip": ["CKV_AWS_91"],
            },
        }),
    );
}

#[test]
fn set_options_encrypt_the_logs_and_write_access_logs() {
    let mut spec = examples::gateway("gateway");
    spec.logs.kms_key_arn = Some(KEY.into());
    spec.alb_gateway.as_mut().unwrap().access_logs = access_logs(Some("meshtest/gw"));
    let encrypted = json!({ "kms": KEY, "skip": null });
    check(
        spec,
        json!({
            "BlueLogGroup": encrypted,
            "BlueServiceConnectLogGroup": encrypted,
            "GreenLogGroup": encrypted,
            "GreenServiceConnectLogGroup": encrypted,
            "GatewayLoadBalancer": {
                "attributes": [
                    attribute(DROP_INVALID_HEADERS, "true"),
                    attribute("access_logs.s3.enabled", "true"),
                    attribute("access_logs.s3.bucket", "meshtest-logs"),
                    attribute("access_logs.s3.prefix", "meshtest/gw"),
                ],
                "skip": null,
            },
        }),
    );
}

#[test]
fn app_mesh_gateway_load_balancer_access_logs() {
    let mut spec = examples::appmesh("appmesh");
    spec.mesh
        .as_mut()
        .unwrap()
        .gateway
        .as_mut()
        .unwrap()
        .access_logs = access_logs(None);
    let unencrypted = json!({ "kms": null, "skip": ["CKV_AWS_158"] });
    check(
        spec,
        json!({
            "BlueLogGroup": unencrypted,
            "GreenLogGroup": unencrypted,
            "VirtualGatewayLogGroup": unencrypted,
            "VirtualGatewayLoadBalancer": {
                "attributes": [
                    attribute("access_logs.s3.enabled", "true"),
                    attribute("access_logs.s3.bucket", "meshtest-logs"),
                ],
                "skip": null,
            },
        }),
    );
}

/// The listener stays plain HTTP whatever the options: its skip says why, and what to do.
#[test]
fn http_listener_skip_says_to_add_https_for_production() {
    let t = json(&render(examples::gateway("gateway")));
    let skip = &t["Resources"]["GatewayListener"]["Metadata"]["checkov"]["skip"];
    let ids: Vec<&str> = skip
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["CKV_AWS_2", "CKV_AWS_103"]);
    assert!(
        skip[0]["comment"]
            .as_str()
            .unwrap()
            .contains("for production add an HTTPS listener"),
        "{skip}"
    );
}
