//! Where the workspace is, from this crate's own location, and what the local runtime needs from
//! it: its folders, its binaries (built with `cargo build` unless told not to) and its settings
//! from the environment

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use deploy::error::{Error, LocalStep as _, Refusal, Result};
use deploy::local::{Build, Folders, Settings};
use deploy::report::Reporter;
use deploy::settings::{env_flag, env_var};
use local_runtime::control::DEFAULT_HEALTH_TIMEOUT;
use local_runtime::launcher::Binaries;

/// The workspace this command line was built in.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Where cargo puts its output: `CARGO_TARGET_DIR`, or `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_relative() => workspace_root().join(dir),
        Some(dir) => dir,
        None => workspace_root().join("target"),
    }
}

/// The local runtime's folders: `target/local/<stack>`, paths shown from the workspace.
pub fn folders() -> Folders {
    Folders {
        target_dir: target_dir(),
        shown_from: workspace_root(),
    }
}

/// Which cargo profile's binaries the local runtime runs (`MESHTEST_LOCAL_PROFILE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    #[default]
    Debug,
    Release,
}

impl Profile {
    /// `debug` or `release`: its folder under `target/` and its name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }

    fn parse(text: &str) -> Option<Profile> {
        [Profile::Debug, Profile::Release]
            .into_iter()
            .find(|p| p.as_str() == text)
    }
}

/// `cargo build` of the supervisor (and demo-app unless another program replaces it), its
/// progress shown as it happens.
#[derive(Debug, Clone, Copy)]
struct CargoBuild {
    profile: Profile,
    demo_app: bool,
}

impl Build for CargoBuild {
    fn build(&self, out: &dyn Reporter) -> Result<()> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.current_dir(workspace_root()).arg("build");
        if self.profile == Profile::Release {
            command.arg("--release");
        }
        command.args([
            "-p",
            local_runtime::SUPERVISOR_PACKAGE,
            "--bin",
            local_runtime::SUPERVISOR_BIN,
        ]);
        let what = if self.demo_app {
            command.args(["-p", "demo-app", "--bin", "demo-app"]);
            "demo-app and meshtest-local"
        } else {
            "meshtest-local"
        };
        out.note(format!(
            "building {what} ({} profile)",
            self.profile.as_str()
        ));
        // stdout and stderr are inherited: cargo's progress shows as it happens.
        let status = command.status().step("cannot run cargo build")?;
        if !status.success() {
            return Err(Error::Refused(Refusal::BuildFailed {
                what: what.to_owned(),
                status: status.to_string(),
            }));
        }
        Ok(())
    }
}

/// The local runtime's settings from `MESHTEST_LOCAL_*` (documented in ARCHITECTURE.md):
/// `MESHTEST_LOCAL_GATEWAY_PORT` (default: the gateway's listener port, 0: any free port),
/// `MESHTEST_LOCAL_HEALTH_TIMEOUT_MS` (default 10000), `MESHTEST_LOCAL_PROFILE` (`debug` or
/// `release`, default debug), `MESHTEST_LOCAL_DEMO_APP` (run this binary instead of building
/// demo-app) and `MESHTEST_LOCAL_NO_BUILD` (use the binaries already built; see
/// [`env_flag`]).
pub fn local_settings() -> Result<Settings> {
    let gateway_port = env_var("MESHTEST_LOCAL_GATEWAY_PORT")
        .map(|v| {
            v.trim().parse::<u16>().map_err(|_| Error::Setting {
                name: "MESHTEST_LOCAL_GATEWAY_PORT".to_owned(),
                value: v.clone(),
                expected: "a port number",
            })
        })
        .transpose()?;
    let health_timeout = env_var("MESHTEST_LOCAL_HEALTH_TIMEOUT_MS")
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms > 0)
                .map(std::time::Duration::from_millis)
                .ok_or_else(|| Error::Setting {
                    name: "MESHTEST_LOCAL_HEALTH_TIMEOUT_MS".to_owned(),
                    value: v.clone(),
                    expected: "a positive number of milliseconds",
                })
        })
        .transpose()?
        .unwrap_or(DEFAULT_HEALTH_TIMEOUT);
    let profile = match env_var("MESHTEST_LOCAL_PROFILE") {
        None => Profile::default(),
        Some(text) => Profile::parse(&text).ok_or_else(|| Error::Setting {
            name: "MESHTEST_LOCAL_PROFILE".to_owned(),
            value: text.clone(),
            expected: "`debug` or `release`",
        })?,
    };
    let given_demo_app = env_var("MESHTEST_LOCAL_DEMO_APP").map(PathBuf::from);
    let dir = target_dir().join(profile.as_str());
    let build = !env_flag("MESHTEST_LOCAL_NO_BUILD")?;
    Ok(Settings {
        gateway_port,
        health_timeout,
        folders: folders(),
        binaries: Binaries {
            supervisor: dir.join(local_runtime::SUPERVISOR_BIN),
            demo_app: given_demo_app
                .clone()
                .unwrap_or_else(|| dir.join("demo-app")),
        },
        build: build.then(|| {
            Arc::new(CargoBuild {
                profile,
                demo_app: given_demo_app.is_none(),
            }) as Arc<dyn Build>
        }),
    })
}

/// The hint for a missing binary: how to build it, and why it was not built.
pub fn missing_binary_hint(err: Error) -> anyhow::Error {
    match err {
        Error::MissingBinary { binary, .. } => {
            let no_build = if env_flag("MESHTEST_LOCAL_NO_BUILD").unwrap_or(false) {
                " (MESHTEST_LOCAL_NO_BUILD is set)"
            } else {
                ""
            };
            anyhow::anyhow!(
                "{err}: build it with `cargo build -p {}`{no_build}",
                binary.package()
            )
        }
        err => err.into(),
    }
}
