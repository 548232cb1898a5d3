//! What the engine's flows return: typed stack statuses, failed resources with their reasons,
//! and how each flow ended, so a program can act on them without reading printed text

use std::collections::BTreeMap;
use std::fmt;

use cfn_render::diff::TemplateDiff;

/// A CloudFormation stack status. Statuses AWS adds later are kept as [`StackStatus::Other`]
/// rather than refused: a new status must not break `status` or a deploy's watch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StackStatus {
    CreateInProgress,
    CreateFailed,
    CreateComplete,
    RollbackInProgress,
    RollbackFailed,
    RollbackComplete,
    DeleteInProgress,
    DeleteFailed,
    DeleteComplete,
    UpdateInProgress,
    UpdateCompleteCleanupInProgress,
    UpdateComplete,
    UpdateFailed,
    UpdateRollbackInProgress,
    UpdateRollbackFailed,
    UpdateRollbackCompleteCleanupInProgress,
    UpdateRollbackComplete,
    /// Made by a change set that was never executed: the stack has no template yet.
    ReviewInProgress,
    ImportInProgress,
    ImportComplete,
    ImportRollbackInProgress,
    ImportRollbackFailed,
    ImportRollbackComplete,
    Other(String),
}

/// Every named status with CloudFormation's spelling, in one table both directions read.
const NAMES: &[(StackStatus, &str)] = &[
    (StackStatus::CreateInProgress, "CREATE_IN_PROGRESS"),
    (StackStatus::CreateFailed, "CREATE_FAILED"),
    (StackStatus::CreateComplete, "CREATE_COMPLETE"),
    (StackStatus::RollbackInProgress, "ROLLBACK_IN_PROGRESS"),
    (StackStatus::RollbackFailed, "ROLLBACK_FAILED"),
    (StackStatus::RollbackComplete, "ROLLBACK_COMPLETE"),
    (StackStatus::DeleteInProgress, "DELETE_IN_PROGRESS"),
    (StackStatus::DeleteFailed, "DELETE_FAILED"),
    (StackStatus::DeleteComplete, "DELETE_COMPLETE"),
    (StackStatus::UpdateInProgress, "UPDATE_IN_PROGRESS"),
    (
        StackStatus::UpdateCompleteCleanupInProgress,
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    ),
    (StackStatus::UpdateComplete, "UPDATE_COMPLETE"),
    (StackStatus::UpdateFailed, "UPDATE_FAILED"),
    (
        StackStatus::UpdateRollbackInProgress,
        "UPDATE_ROLLBACK_IN_PROGRESS",
    ),
    (StackStatus::UpdateRollbackFailed, "UPDATE_ROLLBACK_FAILED"),
    (
        StackStatus::UpdateRollbackCompleteCleanupInProgress,
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
    ),
    (
        StackStatus::UpdateRollbackComplete,
        "UPDATE_ROLLBACK_COMPLETE",
    ),
    (StackStatus::ReviewInProgress, "REVIEW_IN_PROGRESS"),
    (StackStatus::ImportInProgress, "IMPORT_IN_PROGRESS"),
    (StackStatus::ImportComplete, "IMPORT_COMPLETE"),
    (
        StackStatus::ImportRollbackInProgress,
        "IMPORT_ROLLBACK_IN_PROGRESS",
    ),
    (StackStatus::ImportRollbackFailed, "IMPORT_ROLLBACK_FAILED"),
    (
        StackStatus::ImportRollbackComplete,
        "IMPORT_ROLLBACK_COMPLETE",
    ),
];

impl StackStatus {
    /// The status CloudFormation spells `text`.
    pub fn parse(text: &str) -> StackStatus {
        NAMES
            .iter()
            .find(|(_, name)| *name == text)
            .map_or_else(|| StackStatus::Other(text.to_owned()), |(s, _)| s.clone())
    }

    /// CloudFormation's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            StackStatus::Other(text) => text,
            named => NAMES
                .iter()
                .find(|(s, _)| s == named)
                .map_or("UNKNOWN", |(_, name)| name),
        }
    }

    /// Whether CloudFormation is still working on the stack. `REVIEW_IN_PROGRESS` is not
    /// work: nothing happens to such a stack until a change set executes.
    pub fn in_progress(&self) -> bool {
        self.as_str().ends_with("_IN_PROGRESS") && *self != StackStatus::ReviewInProgress
    }

    /// Whether a followed operation has ended. Unlike [`StackStatus::in_progress`],
    /// `REVIEW_IN_PROGRESS` has not: right after `ExecuteChangeSet` a new stack still shows it.
    pub fn is_terminal(&self) -> bool {
        !self.as_str().ends_with("_IN_PROGRESS")
    }

    /// Whether the last operation succeeded and the stack runs what it was given: created,
    /// updated or imported, not rolled back.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            StackStatus::CreateComplete | StackStatus::UpdateComplete | StackStatus::ImportComplete
        )
    }

    /// Whether the stack failed in a way only a person can clear (a `*_FAILED` status).
    pub fn is_failed(&self) -> bool {
        self.as_str().ends_with("_FAILED")
    }
}

impl fmt::Display for StackStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource that failed, with CloudFormation's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

/// How a followed stack operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// The stack reached this terminal status (`DELETE_COMPLETE` also when it vanished).
    Finished {
        status: StackStatus,
        reason: Option<String>,
        failures: Vec<Failure>,
    },
    /// Ctrl-C: the stack was in this status when the user stopped watching; CloudFormation
    /// carries on.
    Interrupted { status: StackStatus },
}

/// How the ECS deployments a deploy started ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollouts {
    /// No traffic-shifting service, or the stack did not reach a good status.
    NotFollowed,
    /// Every deployment completed, or the endpoint has no ECS deployment API (moto).
    Completed,
    /// One rolled back, stopped or failed; the display has said which and why. For a wait
    /// ([`crate::request::Wait`]): one can no longer meet its condition.
    Failed,
    /// A wait's condition holds for every followed rollout (they carry on).
    Reached,
    /// A wait's timeout passed first (the rollouts carry on).
    TimedOut,
}

/// What a deploy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployed {
    /// CloudFormation found nothing to change.
    NoChanges,
    /// The change set executed and the stack settled (or the watch was interrupted).
    Executed {
        watched: Watched,
        /// The stack's outputs once it reached a good status.
        outputs: BTreeMap<String, String>,
        rollouts: Rollouts,
        /// The alarms the stack defines, checked once it settled (`None`: it has none, it did
        /// not settle, or they could not be read, which the deploy has said).
        verified: Option<Verified>,
    },
    /// The local runtime applied the model: every new task answered, and the rollout the
    /// apply started (if any) ended this way.
    Applied { rollouts: Rollouts },
}

impl Deployed {
    /// Whether the new version went live: nothing to change, or a good status and every
    /// rollout completed.
    pub fn succeeded(&self) -> bool {
        match self {
            Deployed::NoChanges => true,
            Deployed::Applied { rollouts } => *rollouts != Rollouts::Failed,
            Deployed::Executed {
                watched: Watched::Finished { status, .. },
                rollouts,
                ..
            } => status.is_success() && *rollouts != Rollouts::Failed,
            Deployed::Executed { .. } => false,
        }
    }
}

/// One metric series an alarm reads: a namespace, a metric and its exact dimension set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Series {
    pub namespace: String,
    pub metric: String,
    /// Name to value; CloudWatch tells series apart by the whole set.
    pub dimensions: BTreeMap<String, String>,
}

impl fmt::Display for Series {
    /// `AWS/ECS HTTPCode_Target_5XX_Count{ClusterName=rollout,ServiceName=front,...}`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(
            f,
            "{} {}{{{}}}",
            self.namespace,
            self.metric,
            dims.join(",")
        )
    }
}

/// How much a series check matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The series exists.
    Ok,
    /// Missing, as expected: no traffic yet, or no answer of that class yet.
    Note,
    /// Missing although the alarm's other series exist: the alarm may be blind.
    Warning,
}

/// Whether one series an alarm reads exists, and what that means.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesCheck {
    pub series: Series,
    pub found: bool,
    pub severity: Severity,
    /// For a missing series: why, and what publishes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// The alarm's last state change, from its history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    /// When, as CloudWatch writes it (ISO 8601).
    pub at: String,
    /// CloudWatch's summary (`Alarm updated from OK to ALARM`), when the history was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// One alarm the stack's template defines, as CloudWatch sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmCheck {
    /// The alarm's name in the deployed stack.
    pub name: String,
    pub logical_id: String,
    /// `None` when CloudWatch has no alarm of that name.
    pub state: Option<model::AlarmState>,
    /// CloudWatch's `StateReason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<StateChange>,
    /// The dimension values the template takes from the stack's resources, as read from the
    /// deployed stack (the series below carry them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_stack: Vec<FromStack>,
    pub series: Vec<SeriesCheck>,
}

/// A value an alarm's series read from the deployed stack: `Fn::GetAtt [logical_id,
/// attribute]`, worked out from the resource's physical id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FromStack {
    pub logical_id: String,
    pub attribute: String,
    pub physical_id: String,
    pub value: String,
}

impl AlarmCheck {
    /// The worst of its checks: a missing alarm is a warning.
    pub fn severity(&self) -> Severity {
        let worst = self.series.iter().map(|s| s.severity).max();
        if self.state.is_none() {
            Severity::Warning
        } else {
            worst.unwrap_or(Severity::Ok)
        }
    }
}

/// What `verify` found: each alarm the stack defines, its series and its state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    pub stack_name: String,
    pub alarms: Vec<AlarmCheck>,
}

impl Verified {
    /// Whether nothing calls for attention: every alarm exists and no series is missing after
    /// traffic.
    pub fn clean(&self) -> bool {
        self.alarms.iter().all(|a| a.severity() < Severity::Warning)
    }
}

/// What a diff found.
#[derive(Debug, Clone)]
pub struct Diffed {
    pub stack_name: String,
    /// Whether the stack exists (with a template) yet, or the local runtime runs it.
    pub exists: bool,
    pub changes: Changes,
    /// Why replacement marks are missing, or where a large template was placed.
    pub notes: Vec<String>,
}

impl Diffed {
    /// Whether a deploy would change nothing.
    pub fn is_empty(&self) -> bool {
        match &self.changes {
            Changes::Template(diff) => diff.is_empty(),
            Changes::Local(changes) => changes.is_empty(),
        }
    }
}

/// What a deploy would change, in each backend's own terms.
#[derive(Debug, Clone)]
pub enum Changes {
    /// AWS: the deployed template against the new one, replacements marked.
    Template(TemplateDiff),
    /// The local runtime: what runs against the new model (services, tasks, routes).
    Local(Vec<local_runtime::changes::Change>),
}

/// What a destroy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destroyed {
    /// There was no such stack.
    Absent,
    /// The delete was followed to its end (or interrupted).
    Deleted(Watched),
    /// The local runtime's processes were stopped (`pids`, none when nothing was left
    /// running) and its folder removed.
    Stopped { pids: Vec<u32> },
}

impl Destroyed {
    /// Whether no stack is left.
    pub fn succeeded(&self) -> bool {
        match self {
            Destroyed::Absent | Destroyed::Stopped { .. } => true,
            Destroyed::Deleted(Watched::Finished { status, .. }) => {
                *status == StackStatus::DeleteComplete
            }
            Destroyed::Deleted(Watched::Interrupted { .. }) => false,
        }
    }
}

/// Where a deployed stack stands ([`StatusReport::Stack`]).
#[cfg(feature = "aws")]
#[derive(Debug, Clone)]
pub struct StackReport {
    pub stack_name: String,
    /// `None` when the stack does not exist.
    pub found: Option<Found>,
    /// The blue-green state parameter and what it holds, for a stack that keeps one.
    pub blue_green: Option<(String, state_store::ssm::StoredState)>,
    /// Each traffic-shifting service's version and newest deployment (empty when not read).
    pub rollouts: Vec<ServiceRollout>,
}

/// What CloudFormation says of an existing stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub status: StackStatus,
    pub reason: Option<String>,
    /// When it was last updated (or created), as CloudFormation writes it.
    pub last_changed: Option<String>,
    pub outputs: BTreeMap<String, String>,
}

/// A traffic-shifting service: the version the stack sets and its newest ECS deployment.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRollout {
    pub service: String,
    pub version: Option<String>,
    /// `None` when the service has no deployment yet, or the endpoint cannot say.
    pub deployment: Option<model::RolloutProgress>,
    /// The deployment's step and, behind a load balancer, its target groups (`step` and
    /// `loadBalancer` in JSON, when known).
    #[serde(flatten)]
    pub detail: crate::rollout_view::Detail,
    /// Whether the endpoint answers `ListServiceDeployments` (moto does not).
    pub deployment_readable: bool,
}

/// What `status --local` found: what runs, and what is wrong with its `state.json` copy
/// ([`StatusReport::Local`]).
#[derive(Debug, Clone)]
pub struct LocalStatus {
    pub status: local_runtime::control::Status,
    pub state_file_problem: Option<String>,
}

/// Where a target stands, in each backend's own terms.
#[derive(Debug, Clone)]
pub enum StatusReport {
    /// AWS: the stack, its outputs, blue-green state and rollouts.
    #[cfg(feature = "aws")]
    Stack(Box<StackReport>),
    /// The local runtime: what its supervisor runs, and its `state.json` copy.
    Local(Box<LocalStatus>),
}

impl StatusReport {
    /// Whether nothing calls for attention: the stack exists and is busy or settled well; the
    /// local runtime runs it and its state copy agrees.
    pub fn healthy(&self) -> bool {
        match self {
            #[cfg(feature = "aws")]
            StatusReport::Stack(report) => report.healthy(),
            StatusReport::Local(status) => status.state_file_problem.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_as_written() {
        for (status, name) in NAMES {
            assert_eq!(&StackStatus::parse(name), status);
            assert_eq!(status.as_str(), *name);
        }
        let new = StackStatus::parse("SOMETHING_NEW_IN_PROGRESS");
        assert_eq!(new, StackStatus::Other("SOMETHING_NEW_IN_PROGRESS".into()));
        assert!(new.in_progress());
        assert_eq!(new.to_string(), "SOMETHING_NEW_IN_PROGRESS");
    }

    #[test]
    fn what_each_status_means() {
        let check = |name: &str, in_progress: bool, success: bool, failed: bool| {
            let s = StackStatus::parse(name);
            assert_eq!(
                (s.in_progress(), s.is_success(), s.is_failed()),
                (in_progress, success, failed),
                "{name}"
            );
        };
        check("CREATE_COMPLETE", false, true, false);
        check("UPDATE_COMPLETE", false, true, false);
        check("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", true, false, false);
        check("REVIEW_IN_PROGRESS", false, false, false);
        assert!(!StackStatus::ReviewInProgress.is_terminal());
        assert!(!StackStatus::UpdateCompleteCleanupInProgress.is_terminal());
        assert!(StackStatus::UpdateRollbackComplete.is_terminal());
        check("ROLLBACK_COMPLETE", false, false, false);
        check("UPDATE_ROLLBACK_COMPLETE", false, false, false);
        check("UPDATE_ROLLBACK_FAILED", false, false, true);
        check("DELETE_FAILED", false, false, true);
    }

    #[test]
    fn a_deploy_succeeds_only_with_a_good_status_and_its_rollouts() {
        let executed = |status: &str, rollouts| Deployed::Executed {
            watched: Watched::Finished {
                status: StackStatus::parse(status),
                reason: None,
                failures: Vec::new(),
            },
            outputs: BTreeMap::new(),
            rollouts,
            verified: None,
        };
        assert!(Deployed::NoChanges.succeeded());
        assert!(executed("UPDATE_COMPLETE", Rollouts::Completed).succeeded());
        assert!(executed("CREATE_COMPLETE", Rollouts::NotFollowed).succeeded());
        assert!(!executed("UPDATE_COMPLETE", Rollouts::Failed).succeeded());
        assert!(!executed("ROLLBACK_COMPLETE", Rollouts::NotFollowed).succeeded());
        let interrupted = Deployed::Executed {
            watched: Watched::Interrupted {
                status: StackStatus::UpdateInProgress,
            },
            outputs: BTreeMap::new(),
            rollouts: Rollouts::NotFollowed,
            verified: None,
        };
        assert!(!interrupted.succeeded());
    }
}
