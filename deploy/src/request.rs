//! What a caller asks the engine to do, one request type per verb for both backends (AWS and
//! the local runtime): typed requests built once from the command line (or by a program), so
//! the flows never see clap arguments
//!
//! A request says only what every backend needs: which target. What one backend alone takes
//! (AWS's parameters and confirmation policy, the local runtime's time scale) is that
//! backend's options, carried by its backend value ([`crate::aws::Options`],
//! [`crate::local::Options`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use model::{DeploymentStage, DeploymentStatus, Ipv4Cidr, RolloutProgress};

use crate::target::{Resolved, Subject};

/// Where AWS is: the standard aws-config chain (environment, profiles), with these overrides.
/// Only the AWS backend connects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// An endpoint such as a local moto server; every client uses it.
    pub endpoint_url: Option<String>,
}

impl Connection {
    /// Everything from the aws-config chain except the endpoint, e.g. `http://127.0.0.1:5000`.
    pub fn endpoint(url: impl Into<String>) -> Connection {
        Connection {
            endpoint_url: Some(url.into()),
            ..Connection::default()
        }
    }
}

/// The template parameters an AWS deploy sets. A parameter left out keeps its deployed value,
/// or its default; a first deploy of a template without a default needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameters {
    /// `ServiceImage`: the services' container image.
    pub image: Option<String>,
    /// `AllowedCidr`: who may reach the listener ports. A `/0` block needs a confirmation.
    pub allowed_cidr: Option<Ipv4Cidr>,
}

/// Deploy a target and follow it to the end (its rollouts included).
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub target: Resolved,
}

impl DeployRequest {
    pub fn new(target: Resolved) -> DeployRequest {
        DeployRequest { target }
    }
}

/// Compare a target with what is deployed (or runs).
#[derive(Debug, Clone)]
pub struct DiffRequest {
    pub target: Resolved,
}

impl DiffRequest {
    pub fn new(target: Resolved) -> DiffRequest {
        DiffRequest { target }
    }
}

/// Take a target down: delete its stack, or stop what the local runtime runs for it.
#[derive(Debug, Clone)]
pub struct DestroyRequest {
    /// The name is enough, so a stack whose description is gone can go; with the model, AWS
    /// also deletes the Service Connect namespace ECS may have left.
    pub target: Subject,
}

impl DestroyRequest {
    pub fn new(target: impl Into<Subject>) -> DestroyRequest {
        DestroyRequest {
            target: target.into(),
        }
    }
}

/// Where a target stands.
#[derive(Debug, Clone)]
pub struct StatusRequest {
    /// With the model, AWS also reads the blue-green state and the rollouts.
    pub target: Subject,
}

impl StatusRequest {
    pub fn new(target: impl Into<Subject>) -> StatusRequest {
        StatusRequest {
            target: target.into(),
        }
    }
}

/// Follow (`watch`), roll back or continue a target's rollouts.
#[derive(Debug, Clone)]
pub struct RolloutRequest {
    /// AWS needs the model (which services shift traffic); the local runtime asks its
    /// supervisor, so the name is enough.
    pub target: Subject,
    /// A watch that stops once this holds (or cannot any more), rather than at the end.
    pub wait: Option<Wait>,
}

impl RolloutRequest {
    pub fn new(target: impl Into<Subject>) -> RolloutRequest {
        RolloutRequest {
            target: target.into(),
            wait: None,
        }
    }

    /// The same request, watching only until `wait` is settled.
    pub fn waiting(mut self, wait: Wait) -> RolloutRequest {
        self.wait = Some(wait);
        self
    }
}

/// How long a watch follows: until every followed rollout meets `until`, one can no longer
/// meet it, or `timeout` has passed (the rollouts carry on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub until: Until,
    pub timeout: Option<Duration>,
    /// Judge only deployments created at or after this instant (a CI job that starts waiting
    /// before ECS or the supervisor has created the deploy's deployment would otherwise judge
    /// the previous one). While a service has none yet the wait keeps waiting, up to
    /// `timeout`: "not started yet" is not "nothing to wait for". A deployment whose start is
    /// not known never counts. `None`: the newest deployment, however old.
    pub since: Option<SystemTime>,
}

impl Wait {
    /// Whether the wait judges `p`: any deployment without [`Wait::since`], else one created at
    /// or after it ([`RolloutProgress::started_at_ms`]).
    pub fn counts(&self, p: &RolloutProgress) -> bool {
        match self.since {
            None => true,
            Some(since) => p.started_at_ms.is_some_and(|at| at >= unix_ms(since)),
        }
    }
}

/// `t` in milliseconds since the Unix epoch, as [`RolloutProgress::started_at_ms`] counts (0
/// before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What a wait waits for, judged on each reading of a rollout: on AWS the deployment's
/// `status`, `lifecycleStage` (ECS runs the stages in the order [`DeploymentStage`] lists them)
/// and its PAUSE hook `AWAITING_ACTION` (`ServiceDeployment`,
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html>);
/// locally the same fields of the supervisor's rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Until {
    /// The deployment is at this lifecycle stage or past it, in the order ECS runs them
    /// (a deployment that succeeded went through every one).
    Stage(DeploymentStage),
    /// `SUCCESSFUL`: the new revision serves all production traffic and the deployment ended.
    Successful,
    /// A pause hook awaits `continue` or `rollback` (ECS: a hook `AWAITING_ACTION`).
    Paused,
    /// `ROLLBACK_SUCCESSFUL`: the deployment rolled back to the old revision.
    RolledBack,
}

/// Where one rollout stands against an [`Until`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    Reached,
    /// Not yet, and still possible.
    Pending,
    /// It can no longer happen: the deployment ended, or is rolling back or stopping, short
    /// of it.
    Missed,
}

impl Until {
    /// Every condition, in their spelling: ECS's stage names, then the ends and the pause.
    pub const ALL: [Until; 14] = [
        Until::Stage(DeploymentStage::ReconcileService),
        Until::Stage(DeploymentStage::PreScaleUp),
        Until::Stage(DeploymentStage::ScaleUp),
        Until::Stage(DeploymentStage::PostScaleUp),
        Until::Stage(DeploymentStage::TestTrafficShift),
        Until::Stage(DeploymentStage::PostTestTrafficShift),
        Until::Stage(DeploymentStage::PreProductionTrafficShift),
        Until::Stage(DeploymentStage::ProductionTrafficShift),
        Until::Stage(DeploymentStage::PostProductionTrafficShift),
        Until::Stage(DeploymentStage::BakeTime),
        Until::Stage(DeploymentStage::CleanUp),
        Until::Successful,
        Until::Paused,
        Until::RolledBack,
    ];

    /// `BAKE_TIME`, `SUCCESSFUL`, `PAUSED`, `ROLLED_BACK`.
    pub fn as_str(self) -> &'static str {
        match self {
            Until::Stage(stage) => stage.as_str(),
            Until::Successful => DeploymentStatus::Successful.as_str(),
            Until::Paused => "PAUSED",
            Until::RolledBack => "ROLLED_BACK",
        }
    }

    /// The condition spelt `text`, if any.
    pub fn parse(text: &str) -> Option<Until> {
        Until::ALL.into_iter().find(|until| until.as_str() == text)
    }

    /// Whether `p` meets it, may still, or cannot any more.
    pub fn judge(self, p: &RolloutProgress) -> Judged {
        use DeploymentStatus as S;
        let reached = match self {
            Until::Successful => p.status == S::Successful,
            Until::RolledBack => p.status == S::RollbackSuccessful,
            Until::Paused => p.paused_at.is_some(),
            Until::Stage(stage) => {
                p.status == S::Successful
                    || (active(p.status) && p.stage.is_some_and(|now| now >= stage))
            }
        };
        if reached {
            return Judged::Reached;
        }
        let possible = match self {
            // A rollback ends in ROLLBACK_SUCCESSFUL; only a stop or a failed rollback does not.
            Until::RolledBack => !p.status.is_terminal(),
            _ => active(p.status),
        };
        if possible {
            Judged::Pending
        } else {
            Judged::Missed
        }
    }
}

/// Still going forward: not ended, not rolling back, not stopping.
fn active(status: DeploymentStatus) -> bool {
    matches!(
        status,
        DeploymentStatus::Pending | DeploymentStatus::InProgress
    )
}

impl std::fmt::Display for Until {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where every followed rollout stands together: reached when all have, missed when one has.
pub fn judge_all<'a>(
    until: Until,
    readings: impl IntoIterator<Item = &'a RolloutProgress>,
) -> Judged {
    let mut all = Judged::Reached;
    for p in readings {
        match until.judge(p) {
            Judged::Missed => return Judged::Missed,
            Judged::Pending => all = Judged::Pending,
            Judged::Reached => {}
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use model::StrategyKind;

    use super::*;

    fn at(status: DeploymentStatus, stage: DeploymentStage) -> RolloutProgress {
        RolloutProgress {
            status,
            source: None,
            target: None,
            ..model::examples::rollout_progress(StrategyKind::Linear, stage, 0)
        }
    }

    #[test]
    fn every_condition_reads_back_from_its_spelling() {
        for until in Until::ALL {
            assert_eq!(Until::parse(until.as_str()), Some(until));
        }
        assert_eq!(
            Until::parse("BAKE_TIME"),
            Some(Until::Stage(DeploymentStage::BakeTime))
        );
        assert_eq!(Until::parse("bake_time"), None);
        assert_eq!(Until::parse("DONE"), None);
    }

    /// A stage is reached at or past it in ECS's order, and by a deployment that succeeded; a
    /// rollback, a stop or another end misses every condition but ROLLED_BACK, which only a
    /// stop or a failed rollback misses.
    #[test]
    fn conditions_are_judged_on_status_stage_and_pause() {
        use DeploymentStage::{BakeTime, CleanUp, PostTestTrafficShift, ProductionTrafficShift};
        use DeploymentStatus as S;
        use Judged::{Missed, Pending, Reached};
        let bake = Until::Stage(BakeTime);
        let judge = |until: Until, p: &RolloutProgress| until.judge(p);
        assert_eq!(
            judge(bake, &at(S::InProgress, ProductionTrafficShift)),
            Pending
        );
        assert_eq!(judge(bake, &at(S::InProgress, BakeTime)), Reached);
        assert_eq!(judge(bake, &at(S::InProgress, CleanUp)), Reached);
        assert_eq!(judge(bake, &at(S::Successful, CleanUp)), Reached);
        assert_eq!(judge(bake, &at(S::RollbackInProgress, BakeTime)), Missed);
        assert_eq!(
            judge(bake, &at(S::StopRequested, ProductionTrafficShift)),
            Missed
        );

        assert_eq!(
            judge(Until::Successful, &at(S::InProgress, CleanUp)),
            Pending
        );
        assert_eq!(
            judge(Until::Successful, &at(S::Successful, CleanUp)),
            Reached
        );
        assert_eq!(
            judge(Until::Successful, &at(S::RollbackRequested, CleanUp)),
            Missed
        );
        assert_eq!(
            judge(Until::Successful, &at(S::RollbackSuccessful, CleanUp)),
            Missed
        );

        assert_eq!(
            judge(Until::RolledBack, &at(S::InProgress, BakeTime)),
            Pending
        );
        assert_eq!(
            judge(Until::RolledBack, &at(S::RollbackInProgress, BakeTime)),
            Pending
        );
        assert_eq!(
            judge(Until::RolledBack, &at(S::RollbackSuccessful, CleanUp)),
            Reached
        );
        assert_eq!(
            judge(Until::RolledBack, &at(S::Successful, CleanUp)),
            Missed
        );
        assert_eq!(judge(Until::RolledBack, &at(S::Stopped, CleanUp)), Missed);
        assert_eq!(
            judge(Until::RolledBack, &at(S::RollbackFailed, CleanUp)),
            Missed
        );

        let mut paused = at(S::InProgress, PostTestTrafficShift);
        assert_eq!(judge(Until::Paused, &paused), Pending);
        paused.paused_at = Some(PostTestTrafficShift);
        assert_eq!(judge(Until::Paused, &paused), Reached);
        assert_eq!(judge(Until::Paused, &at(S::Successful, CleanUp)), Missed);
    }

    /// With `since`, only a deployment created at or after it is judged: one created before,
    /// or one whose start is unknown, is not; without `since` every one is.
    #[test]
    fn a_wait_since_a_time_counts_only_deployments_created_at_or_after_it() {
        let since = UNIX_EPOCH + Duration::from_millis(1_796_475_600_000);
        let started = |ms: Option<u64>| RolloutProgress {
            started_at_ms: ms,
            ..at(DeploymentStatus::Successful, DeploymentStage::CleanUp)
        };
        let wait = Wait {
            until: Until::Successful,
            timeout: None,
            since: Some(since),
        };
        assert!(!wait.counts(&started(Some(1_796_475_599_999))));
        assert!(wait.counts(&started(Some(1_796_475_600_000))));
        assert!(wait.counts(&started(Some(1_796_475_600_001))));
        assert!(!wait.counts(&started(None)));
        let any = Wait {
            since: None,
            ..wait
        };
        assert!(any.counts(&started(Some(1))) && any.counts(&started(None)));
        assert_eq!(unix_ms(since), 1_796_475_600_000);
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }

    #[test]
    fn several_rollouts_reach_together_and_miss_on_the_first() {
        use DeploymentStage::{BakeTime, ProductionTrafficShift};
        use DeploymentStatus as S;
        let until = Until::Stage(BakeTime);
        let baking = at(S::InProgress, BakeTime);
        let shifting = at(S::InProgress, ProductionTrafficShift);
        let rolling_back = at(S::RollbackInProgress, ProductionTrafficShift);
        assert_eq!(judge_all(until, [&baking, &baking]), Judged::Reached);
        assert_eq!(judge_all(until, [&baking, &shifting]), Judged::Pending);
        assert_eq!(judge_all(until, [&shifting, &rolling_back]), Judged::Missed);
    }
}
