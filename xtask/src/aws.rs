//! diff, deploy, destroy and status against AWS CloudFormation and SSM

use anyhow::{Result, bail};

use crate::cli::{DeployArgs, DestroyArgs, DiffArgs, Outcome, StatusArgs};

pub fn diff(_args: &DiffArgs) -> Result<Outcome> {
    bail!("diff against AWS is not built yet: see the open issue")
}

pub fn deploy(_args: &DeployArgs) -> Result<Outcome> {
    bail!("deploy to AWS is not built yet: see the open issue")
}

pub fn destroy(_args: &DestroyArgs) -> Result<Outcome> {
    bail!("destroy on AWS is not built yet: see the open issue")
}

pub fn status(_args: &StatusArgs) -> Result<Outcome> {
    bail!("status from AWS is not built yet: see the open issue")
}
