//! A service's local program (`local`): the command, its folder, its environment, the health
//! check path, the stop timeout and the versions, checked as the local runtime will use them

use super::services::{ReservedEnv, env_var};
use super::validator::Validator;
use crate::rules;
use crate::spec::*;

/// What the local runtime sets on a service's own program besides the task definition's
/// environment (`local_runtime::plan::ServicePlan::task_environment`): refused in `local` (and
/// in the `environment` of a service that has a `local` block), as it would be overwritten.
pub const LOCAL_RESERVED_ENV: &[ReservedEnv] = &[
    ReservedEnv {
        name: "PORT",
        reason: "the local runtime sets it to the free port the program must listen on",
    },
    ReservedEnv {
        name: "MESHTEST_SERVICE",
        reason: "the local runtime sets it to the service's `name`",
    },
    ReservedEnv {
        name: "MESHTEST_VERSION",
        reason: "the local runtime sets it to the service's `version`",
    },
];

/// `key=value` of a local program: valid, not reserved by the model or the local runtime.
fn local_env_var(key: &str, value: &str) -> Result<(), String> {
    env_var(key, value)?;
    match LOCAL_RESERVED_ENV.iter().find(|r| r.matches(key)) {
        Some(reserved) => Err(format!(
            "{} is reserved: {}",
            rules::quote(key),
            reserved.reason
        )),
        None => Ok(()),
    }
}

/// An argv: at least the program, no empty program, no control characters (a NUL cannot be
/// passed to a program at all).
fn command(argv: &[String]) -> Result<(), String> {
    let Some(program) = argv.first() else {
        return Err(
            "command needs at least the program to run, e.g. [\"python3\", \"app.py\"] (no shell: one argument per item)"
                .to_owned(),
        );
    };
    if program.trim().is_empty() {
        return Err(
            "the program (the command's first item) is empty: name the program to run".to_owned(),
        );
    }
    for arg in argv {
        rules::no_control(arg, "argument")?;
    }
    Ok(())
}

impl Validator {
    pub(super) fn local(&mut self, p: &str, svc: &ServiceSpec, local: &LocalSpec) {
        let p = format!("{p}.local");
        self.check(format!("{p}.command"), command(&local.command));
        if let Some(dir) = &local.working_directory {
            let result = if dir.is_empty() {
                Err(
                    "workingDirectory is empty: leave it out to run in the JSON file's folder"
                        .to_owned(),
                )
            } else {
                rules::no_control(dir, "workingDirectory")
            };
            self.check(format!("{p}.workingDirectory"), result);
        }
        for (key, value) in &local.environment {
            let path = format!("{p}.environment.{}", rules::inert(key));
            self.check(path, local_env_var(key, value));
        }
        if let Some(path) = &local.health_check_path {
            let result = if path.starts_with('/') {
                rules::no_control(path, "healthCheckPath")
            } else {
                Err(format!(
                    "healthCheckPath {} must start with `/`",
                    rules::quote(path)
                ))
            };
            self.check(format!("{p}.healthCheckPath"), result);
        }
        if let Some(seconds) = local.stop_timeout_seconds {
            self.check(
                format!("{p}.stopTimeoutSeconds"),
                rules::range(seconds, 2, 120, "stopTimeoutSeconds"),
            );
        }
        for (version, entry) in &local.versions {
            let vp = format!("{p}.versions.{}", rules::inert(version));
            self.check(vp.clone(), rules::version(version));
            if let Some(argv) = &entry.command {
                self.check(format!("{vp}.command"), command(argv));
            }
            for (key, value) in &entry.environment {
                let path = format!("{vp}.environment.{}", rules::inert(key));
                self.check(path, local_env_var(key, value));
            }
        }
        if !local.versions.is_empty() && !local.versions.contains_key(&svc.version) {
            let listed: Vec<String> = local.versions.keys().map(|v| rules::quote(v)).collect();
            self.err(
                format!("{p}.versions"),
                format!(
                    "version {} of service {} has no entry here (it lists {}): add one, or deploy one of those",
                    rules::quote(&svc.version),
                    rules::quote(&svc.name),
                    listed.join(", ")
                ),
            );
        }
    }

    /// The service's own `environment` beside a `local` block: the local runtime's names too.
    pub(super) fn local_service_env(&mut self, p: &str, svc: &ServiceSpec) {
        for key in svc.environment.keys() {
            if let Some(reserved) = LOCAL_RESERVED_ENV.iter().find(|r| r.matches(key)) {
                self.err(
                    format!("{p}.environment.{}", rules::inert(key)),
                    format!(
                        "{} is reserved for a service with a `local` block: {}",
                        rules::quote(key),
                        reserved.reason
                    ),
                );
            }
        }
    }
}
