//! The deploy engine used as a library, without xtask: one test binary for the crate

mod backends;
mod library;

use std::sync::OnceLock;

use deploy::local::Binaries;

/// The local runtime's binaries, built as the command line builds them
/// ([`meshtest_tests::built::cargo_built`]).
pub fn local_binaries() -> Binaries {
    static BUILT: OnceLock<Binaries> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let built = meshtest_tests::built::cargo_built(&[
                (
                    local_runtime::SUPERVISOR_PACKAGE,
                    local_runtime::SUPERVISOR_BIN,
                ),
                ("demo-app", "demo-app"),
            ]);
            Binaries {
                supervisor: built[0].clone(),
                demo_app: built[1].clone(),
            }
        })
        .clone()
}
