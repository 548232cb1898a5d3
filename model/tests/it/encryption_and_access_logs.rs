//! The options that turn on what checkov asks for: a KMS key for the log groups
//! (`logs.kmsKeyArn`) and access logs for the gateways' load balancers (`accessLogs`)

use model::{AccessLogsSpec, Stack, StackSpec};
use serde_json::json;

use crate::{appmesh, check_from, check_gateway, gateway};

const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn logs(bucket: &str, prefix: Option<&str>) -> Option<AccessLogsSpec> {
    Some(AccessLogsSpec {
        bucket: bucket.into(),
        prefix: prefix.map(Into::into),
    })
}

fn alb_logs(s: &mut StackSpec, bucket: &str, prefix: Option<&str>) {
    s.alb_gateway.as_mut().unwrap().access_logs = logs(bucket, prefix);
}

#[test]
fn kms_key_arns() {
    let expected = "is not a KMS key ARN: expected arn:aws:kms:<region>:<account>:key/<key id>";
    for arn in [
        KEY,
        "arn:aws-cn:kms:cn-north-1:123456789012:key/mrk-1234abcd",
    ] {
        check_gateway(|s| s.logs.kms_key_arn = Some(arn.into()), &[]);
    }
    for arn in [
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:12345:key/1234abcd",
        "arn:aws:kms::123456789012:key/1234abcd",
        "arn:aws:s3:us-east-1:123456789012:key/1234abcd",
        "arn:aws:kms:us-east-1:123456789012:key/",
        "arn:aws:kms:us-east-1:123456789012:key/a b",
    ] {
        let message = format!("`{arn}` {expected}");
        check_gateway(
            |s| s.logs.kms_key_arn = Some(arn.into()),
            &[("logs.kmsKeyArn", &message)],
        );
    }
    let alias = "arn:aws:kms:us-east-1:123456789012:alias/logs";
    let message =
        format!("`{alias}` {expected}: CloudWatch Logs takes the key's own ARN, not an alias");
    check_gateway(
        |s| s.logs.kms_key_arn = Some(alias.into()),
        &[("logs.kmsKeyArn", &message)],
    );
}

#[test]
fn access_log_buckets() {
    let rule = "is not an S3 bucket name: 3-63 lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit (the name, not an ARN)";
    for bucket in ["abc", "my.logs-2026", &"a".repeat(63)] {
        check_gateway(|s| alb_logs(s, bucket, None), &[]);
    }
    let long = "a".repeat(64);
    for bucket in [
        "ab",
        long.as_str(),
        "My-Logs",
        "-logs",
        "logs.",
        "my..logs",
        "arn:aws:s3:::logs",
    ] {
        let message = format!("`{bucket}` {rule}");
        check_gateway(
            |s| alb_logs(s, bucket, None),
            &[("albGateway.accessLogs.bucket", &message)],
        );
    }
}

#[test]
fn access_log_prefixes() {
    let rule = "is not an access log prefix: 1-512 characters without spaces, no leading or trailing `/`, and no `AWSLogs` (ELB adds that itself)";
    for prefix in ["gateway", "meshtest/prod/gateway"] {
        check_gateway(|s| alb_logs(s, "logs", Some(prefix)), &[]);
    }
    let long = "a".repeat(513);
    // Messages quote at most 80 characters of what the user wrote.
    let long_quoted = format!("{}…", "a".repeat(80));
    for (prefix, quoted) in [
        ("", ""),
        ("/gateway", "/gateway"),
        ("gateway/", "gateway/"),
        ("x/AWSLogs", "x/AWSLogs"),
        ("a b", "a b"),
        (long.as_str(), long_quoted.as_str()),
    ] {
        let message = format!("`{quoted}` {rule}");
        check_gateway(
            |s| alb_logs(s, "logs", Some(prefix)),
            &[("albGateway.accessLogs.prefix", &message)],
        );
    }
}

#[test]
fn app_mesh_gateway_access_logs_are_checked_at_their_own_path() {
    check_from(
        appmesh(),
        |s| {
            let gateway = s.mesh.as_mut().unwrap().gateway.as_mut().unwrap();
            gateway.access_logs = logs("Logs", Some("/x"));
        },
        &[
            (
                "mesh.gateway.accessLogs.bucket",
                "`Logs` is not an S3 bucket name: 3-63 lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit (the name, not an ARN)",
            ),
            (
                "mesh.gateway.accessLogs.prefix",
                "`/x` is not an access log prefix: 1-512 characters without spaces, no leading or trailing `/`, and no `AWSLogs` (ELB adds that itself)",
            ),
        ],
    );
}

#[test]
fn options_load_from_json_by_their_documented_names() {
    let mut value = serde_json::to_value(gateway()).unwrap();
    value["logs"]["kmsKeyArn"] = json!(KEY);
    value["albGateway"]["accessLogs"] = json!({ "bucket": "logs", "prefix": "gw" });
    let stack = Stack::from_json(&value.to_string()).unwrap();
    let spec = stack.spec();
    assert_eq!(spec.logs.kms_key_arn.as_deref(), Some(KEY));
    assert_eq!(
        spec.alb_gateway.as_ref().unwrap().access_logs,
        logs("logs", Some("gw"))
    );
    value["albGateway"]["accessLogs"] = json!({ "bucket": "logs", "perfix": "gw" });
    assert!(
        Stack::from_json(&value.to_string()).is_err(),
        "unknown field"
    );
}
