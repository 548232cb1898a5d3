//! The README's local library example, the AWS example's twin: deploys the serviceconnect app
//! on the local runtime from Rust, reads its status and destroys it, with the supervisor and
//! demo-app binaries and a folder for its state given as arguments (`tests/it/library.rs`)

use std::path::PathBuf;

use anyhow::Context;
use deploy::local::Binaries;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(PathBuf::from);
    let mut arg = || {
        args.next()
            .context("usage: local_library SUPERVISOR DEMO_APP FOLDER")
    };
    let binaries = Binaries {
        supervisor: arg()?,
        demo_app: arg()?,
    };
    let state_folder = arg()?;
    // README: begin
    use deploy::local::{self, Folders, LocalBackend, Settings};
    use deploy::{DeployRequest, DestroyRequest, Resolved, StatusRequest, Terminal};
    let backend = LocalBackend::new(Settings::new(Folders::new(state_folder), binaries));
    let stack = model::Stack::new(model::examples::serviceconnect("demo"))?;
    let target = Resolved::from_stack(stack)?;
    let out = Terminal::new();
    let deployed = local::deploy(&backend, &DeployRequest::new(target.clone()), &out)?;
    let status = local::status(&backend, &StatusRequest::new(target.clone()), &out)?;
    local::destroy(&backend, &DestroyRequest::new(target), &out)?;
    anyhow::ensure!(deployed.succeeded() && status.healthy(), "{status:?}");
    // README: end
    Ok(())
}
