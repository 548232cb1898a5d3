//! The deploy engine used as a library, without xtask: one test binary for the crate

mod backends;
mod library;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use deploy::local::Binaries;

/// The local runtime's binaries, built as the command line builds them (`cargo build -p
/// local-supervisor -p demo-app`, the same units as the local quick start and xtask's local
/// tests, so they are built once): no integration test of local-supervisor makes the test build
/// compile `meshtest-local`.
pub fn local_binaries() -> Binaries {
    static BUILT: OnceLock<Binaries> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .current_dir(meshtest_tests::workspace_root())
                .args(["build", "-p", local_runtime::SUPERVISOR_PACKAGE, "--bin"])
                .arg(local_runtime::SUPERVISOR_BIN)
                .args(["-p", "demo-app", "--bin", "demo-app"])
                .stdin(Stdio::null())
                .status()
                .expect("cargo build runs");
            assert!(status.success(), "cargo build of the local binaries failed");
            let debug = target_dir().join("debug");
            Binaries {
                supervisor: debug.join(local_runtime::SUPERVISOR_BIN),
                demo_app: debug.join("demo-app"),
            }
        })
        .clone()
}

/// cargo's output folder: the parent of the integration tests' temporary folder.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target folder")
        .to_owned()
}
