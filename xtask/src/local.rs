//! diff, deploy, destroy and status on the local runtime (SPEC §7)

use anyhow::{Result, bail};

use crate::cli::{DeployArgs, DestroyArgs, DiffArgs, Outcome, StatusArgs};

pub fn diff(_args: &DiffArgs) -> Result<Outcome> {
    bail!("diff against the local runtime is not built yet: see the open issue")
}

pub fn deploy(_args: &DeployArgs) -> Result<Outcome> {
    bail!("deploy to the local runtime is not built yet: see the open issue")
}

pub fn destroy(_args: &DestroyArgs) -> Result<Outcome> {
    bail!("destroy on the local runtime is not built yet: see the open issue")
}

pub fn status(_args: &StatusArgs) -> Result<Outcome> {
    bail!("status from the local runtime is not built yet: see the open issue")
}
