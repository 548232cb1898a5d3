//! `status --watch`, `rollback` and `continue` on the local runtime: placeholders on this
//! branch until the local rollout engine lands (the lead replaces this file at merge)

use anyhow::{Result, bail};

use crate::cli::{Outcome, RolloutArgs, StatusArgs};

pub fn watch(_args: &StatusArgs) -> Result<Outcome> {
    bail!("status --watch --local is not available yet")
}

pub fn rollback(_args: &RolloutArgs) -> Result<Outcome> {
    bail!("rollback --local is not available yet")
}

pub fn continue_paused(_args: &RolloutArgs) -> Result<Outcome> {
    bail!("continue --local is not available yet")
}
