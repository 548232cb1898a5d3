//! One shape per verb for both backends: [`Backend`] is deploy, diff, destroy, status, watch,
//! rollback and continue, each a shared request ([`crate::request`]) and a [`Reporter`] in, a
//! shared outcome ([`crate::outcome`]) out
//!
//! AWS ([`crate::aws::AwsBackend`]) and the local runtime ([`crate::local::LocalBackend`])
//! implement it; what only one of them takes (AWS's connection, parameters and confirmation
//! policy; the local runtime's folders, binaries and time scale) is in its backend value, so a
//! request never holds a field one side ignores. Each backend's module also has the same verbs
//! as plain functions of its backend value (async on AWS, blocking locally); the trait is for a
//! program written once for both.
//!
//! The methods are async because AWS's flows are. The local runtime's run each flow on a
//! thread of their own and block the polling thread until it ends (bounded waits on a local
//! supervisor), so they run on any executor, a tokio runtime included; a caller that must not
//! block an executor's worker wraps them in `spawn_blocking`.

use std::future::Future;

use crate::error::Result;
use crate::outcome::{Deployed, Destroyed, Diffed, Rollouts, StatusReport};
use crate::report::Reporter;
use crate::request::{DeployRequest, DestroyRequest, DiffRequest, RolloutRequest, StatusRequest};

/// Where a target is deployed to: AWS or the local runtime.
pub trait Backend {
    /// Deploys the target and follows it until it settled and its rollouts ended.
    fn deploy(
        &self,
        request: &DeployRequest,
        out: &dyn Reporter,
    ) -> impl Future<Output = Result<Deployed>>;

    /// What a deploy of the target would change.
    fn diff(
        &self,
        request: &DiffRequest,
        out: &dyn Reporter,
    ) -> impl Future<Output = Result<Diffed>>;

    /// Takes the target down.
    fn destroy(
        &self,
        request: &DestroyRequest,
        out: &dyn Reporter,
    ) -> impl Future<Output = Result<Destroyed>>;

    /// Where the target stands.
    fn status(
        &self,
        request: &StatusRequest,
        out: &dyn Reporter,
    ) -> impl Future<Output = Result<StatusReport>>;

    /// Follows the target's rollouts until they end.
    fn watch(
        &self,
        request: &RolloutRequest,
        out: &dyn Reporter,
    ) -> impl Future<Output = Result<Rollouts>>;

    /// Rolls back the rollout in progress.
    fn rollback(
        &self,
        request: &RolloutRequest,
        out: &dyn Reporter,
    ) -> impl Future<Output = Result<()>>;

    /// Lets a rollout waiting at a pause hook go on.
    fn continue_paused(
        &self,
        request: &RolloutRequest,
        out: &dyn Reporter,
    ) -> impl Future<Output = Result<()>>;
}
