//! checkov skips: the checks a template deliberately does not meet, each with the reason
//! written into the resource's `Metadata` so that `checkov -f` reports it as skipped, not failed
//!
//! Only two kinds of check are skipped. Those an option of the model turns on (log encryption,
//! load balancer access logs) are skipped only while the option is unset, and the reason names
//! the option. The HTTP listener's are skipped because the demo has no domain and no certificate.
//! `tests/tests/it/checkov.rs` runs checkov over every template with and without these skips, so
//! a skip that hides anything else, or that is no longer needed, fails there.

use model::AccessLogsSpec;

use crate::template::{Expr, Resource, obj};

/// CloudWatch Logs log group not encrypted with a KMS key.
pub const LOG_GROUP_KMS: &str = "CKV_AWS_158";
/// Load balancer without access logs.
pub const LOAD_BALANCER_ACCESS_LOGS: &str = "CKV_AWS_91";
/// Load balancer listener not on HTTPS.
pub const LISTENER_HTTPS: &str = "CKV_AWS_2";
/// Load balancer listener without TLS 1.2 or later.
pub const LISTENER_TLS: &str = "CKV_AWS_103";

/// Why a log group has no `KmsKeyId`.
pub const LOG_GROUP_KMS_REASON: &str = "logs.kmsKeyArn is not set, so CloudWatch Logs encrypts \
    this log group with its own key; set logs.kmsKeyArn to use a customer managed KMS key";

/// Why a load balancer writes no access logs; `field` is the model field that turns them on.
pub fn access_logs_reason(field: &str) -> String {
    format!(
        "{field} is not set, so this load balancer writes no access logs; set {field} to an S3 \
         bucket that lets Elastic Load Balancing write to it"
    )
}

/// Why the listener is plain HTTP.
pub const HTTP_LISTENER_REASON: &str = "demo listener is plain HTTP because the stack has no \
    domain or ACM certificate, and only AllowedCidr reaches it; for production add an HTTPS \
    listener with a certificate and a TLS 1.2+ security policy";

/// Adds checkov skips to `resource`'s metadata, keeping skips already there.
pub fn skip(resource: &mut Resource, checks: &[(&str, &str)]) {
    let mut entries = match resource.metadata.remove("checkov") {
        Some(Expr::Map(mut existing)) => match existing.remove("skip") {
            Some(Expr::List(entries)) => entries,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    entries.extend(
        checks
            .iter()
            .map(|(id, comment)| obj([("id", (*id).into()), ("comment", (*comment).into())])),
    );
    resource
        .metadata
        .insert("checkov".into(), obj([("skip", Expr::List(entries))]));
}

/// `LoadBalancerAttributes` entries that turn on access logs, or `None` when they are off.
pub fn access_log_attributes(logs: Option<&AccessLogsSpec>) -> Option<Vec<Expr>> {
    let logs = logs?;
    let mut attributes = vec![
        attribute("access_logs.s3.enabled", "true"),
        attribute("access_logs.s3.bucket", &logs.bucket),
    ];
    if let Some(prefix) = &logs.prefix {
        attributes.push(attribute("access_logs.s3.prefix", prefix));
    }
    Some(attributes)
}

/// One `LoadBalancerAttributes` entry.
pub fn attribute(key: &str, value: &str) -> Expr {
    obj([("Key", key.into()), ("Value", value.into())])
}

/// Turns on access logs on a load balancer when `logs` is set, and otherwise records why not.
pub fn load_balancer_access_logs(lb: &mut Resource, logs: Option<&AccessLogsSpec>, field: &str) {
    match access_log_attributes(logs) {
        Some(attributes) => {
            let list = lb
                .properties
                .entry("LoadBalancerAttributes".into())
                .or_insert_with(|| Expr::List(Vec::new()));
            if let Expr::List(existing) = list {
                existing.extend(attributes);
            }
        }
        None => skip(
            lb,
            &[(LOAD_BALANCER_ACCESS_LOGS, &access_logs_reason(field))],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::props;

    fn metadata_json(resource: &Resource) -> String {
        serde_json::to_string(&resource.metadata).unwrap()
    }

    #[test]
    fn skips_accumulate() {
        let mut r = Resource::new("AWS::Logs::LogGroup", props([]));
        skip(&mut r, &[("A", "one")]);
        skip(&mut r, &[("B", "two")]);
        assert_eq!(
            metadata_json(&r),
            r#"{"checkov":{"skip":[{"comment":"one","id":"A"},{"comment":"two","id":"B"}]}}"#
        );
    }
}
