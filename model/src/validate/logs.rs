//! What the stack logs: retention, and the optional settings that turn on what checkov asks
//! for (log encryption, load balancer access logs); without them the renderer writes the
//! reasons as checkov skips

use super::validator::Validator;
use crate::rules;
use crate::spec::*;

impl Validator {
    /// `logs.retentionDays`: only the values CloudWatch Logs accepts.
    pub(super) fn log_retention(&mut self, logs: &LogSpec) {
        if !rules::LOG_RETENTION_DAYS.contains(&logs.retention_days) {
            self.err(
                "logs.retentionDays",
                format!(
                    "CloudWatch Logs does not accept {} days: use one of {}",
                    logs.retention_days,
                    rules::LOG_RETENTION_DAYS
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }

    pub(super) fn encryption_and_access_logs(&mut self, s: &StackSpec) {
        if let Some(arn) = &s.logs.kms_key_arn {
            self.check("logs.kmsKeyArn", rules::kms_key_arn(arn));
        }
        if let Some(logs) = s.alb_gateway.as_ref().and_then(|g| g.access_logs.as_ref()) {
            self.access_logs("albGateway.accessLogs", logs);
        }
        let mesh_gateway = s.mesh.as_ref().and_then(|m| m.gateway.as_ref());
        if let Some(logs) = mesh_gateway.and_then(|g| g.access_logs.as_ref()) {
            self.access_logs("mesh.gateway.accessLogs", logs);
        }
    }

    fn access_logs(&mut self, p: &str, logs: &AccessLogsSpec) {
        self.check(format!("{p}.bucket"), rules::s3_bucket_name(&logs.bucket));
        if let Some(prefix) = &logs.prefix {
            self.check(format!("{p}.prefix"), rules::access_log_prefix(prefix));
        }
    }
}
