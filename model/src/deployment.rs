//! Raw description of how a service deploys: ECS-native strategies, alarms, lifecycle hooks (SPEC §10)

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A percentage on ECS's 0.1 grid, held as tenths so the model never compares floats.
///
/// JSON carries it as a number (`20`, `33.3`); the decimal text is parsed exactly, so `33.3` is
/// 333 tenths and `33.33` is refused, rather than whatever a float division makes of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent {
    tenths: u32,
}

impl Percent {
    pub const HUNDRED: Percent = Percent::whole(100);

    pub const fn from_tenths(tenths: u32) -> Self {
        Percent { tenths }
    }

    pub const fn whole(percent: u32) -> Self {
        Percent {
            tenths: percent * 10,
        }
    }

    pub const fn tenths(self) -> u32 {
        self.tenths
    }

    /// Parses decimal text such as `20`, `20.0` or `33.3`; `None` off the 0.1 grid or negative.
    pub fn parse(text: &str) -> Option<Self> {
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i, f),
            None => (text, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > 1 {
            return None;
        }
        let int: u32 = int.parse().ok()?;
        let tenth: u32 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        Some(Percent {
            tenths: int.checked_mul(10)?.checked_add(tenth)?,
        })
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tenths.is_multiple_of(10) {
            write!(f, "{}", self.tenths / 10)
        } else {
            write!(f, "{}.{}", self.tenths / 10, self.tenths % 10)
        }
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.tenths.is_multiple_of(10) {
            s.serialize_u32(self.tenths / 10)
        } else {
            // The shortest float text of n/10 is the decimal itself (33.3), so JSON stays exact.
            s.serialize_f64(f64::from(self.tenths) / 10.0)
        }
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(d)?;
        let text = number.to_string();
        Percent::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text} is not a percentage on the 0.1 grid (e.g. 20 or 33.3)"
            ))
        })
    }
}

/// `AWS::ECS::Service.DeploymentController.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentController {
    #[default]
    Ecs,
    CodeDeploy,
    External,
}

impl DeploymentController {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentController::Ecs => "ECS",
            DeploymentController::CodeDeploy => "CODE_DEPLOY",
            DeploymentController::External => "EXTERNAL",
        }
    }
}

/// `DeploymentConfiguration.Strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StrategyKind {
    #[default]
    Rolling,
    BlueGreen,
    Linear,
    Canary,
}

impl StrategyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyKind::Rolling => "ROLLING",
            StrategyKind::BlueGreen => "BLUE_GREEN",
            StrategyKind::Linear => "LINEAR",
            StrategyKind::Canary => "CANARY",
        }
    }

    /// The strategies that shift traffic between two revisions (all but rolling).
    pub fn is_native_shift(self) -> bool {
        !matches!(self, StrategyKind::Rolling)
    }

    /// The command-line spelling (`blue-green`), which [`str::parse`] reads back.
    pub fn cli_name(self) -> &'static str {
        match self {
            StrategyKind::Rolling => "rolling",
            StrategyKind::BlueGreen => "blue-green",
            StrategyKind::Linear => "linear",
            StrategyKind::Canary => "canary",
        }
    }
}

/// A strategy name that is none of `rolling`, `blue-green`, `linear`, `canary` (held quoted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown deployment strategy {0}: use blue-green, linear, canary or rolling")]
pub struct UnknownStrategy(pub String);

impl std::str::FromStr for StrategyKind {
    type Err = UnknownStrategy;

    /// Reads the command-line spelling (`blue-green`) or ECS's (`BLUE_GREEN`), in any case.
    fn from_str(text: &str) -> Result<Self, UnknownStrategy> {
        let all = [
            StrategyKind::Rolling,
            StrategyKind::BlueGreen,
            StrategyKind::Linear,
            StrategyKind::Canary,
        ];
        all.into_iter()
            .find(|k| {
                text.eq_ignore_ascii_case(k.cli_name()) || text.eq_ignore_ascii_case(k.as_str())
            })
            .ok_or_else(|| UnknownStrategy(crate::rules::quote(text)))
    }
}

/// How a service's new revisions replace the old ones. The default is today's rolling update
/// with the circuit breaker on, which renders exactly as before.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSpec {
    #[serde(default)]
    pub controller: DeploymentController,
    #[serde(default)]
    pub strategy: StrategyKind,
    /// Minutes both revisions stay up after production traffic has fully moved (0-1440);
    /// defaults to ECS's 15 for the traffic-shifting strategies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_time_minutes: Option<u32>,
    /// Only with `strategy: LINEAR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<LinearSpec>,
    /// Only with `strategy: CANARY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanarySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<AlarmsSpec>,
    #[serde(default)]
    pub circuit_breaker: CircuitBreakerSpec,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifecycle_hooks: Vec<LifecycleHookSpec>,
}

impl DeploymentSpec {
    pub fn is_default(&self) -> bool {
        *self == DeploymentSpec::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinearSpec {
    /// Share of production traffic moved per step (3-100, 0.1 grid; ECS default 10).
    pub step_percent: Percent,
    /// Minutes between steps (0-1440; ECS default 6).
    pub step_bake_time_minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanarySpec {
    /// Share moved first (0.1-100, 0.1 grid; ECS default 5).
    pub canary_percent: Percent,
    /// Minutes before the rest moves (0-1440; ECS default 10).
    pub canary_bake_time_minutes: u32,
}

/// CloudWatch alarms that stop (and optionally roll back) a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlarmsSpec {
    /// Alarms that already exist in the account, by name.
    #[serde(default)]
    pub names: Vec<String>,
    /// An alarm the stack creates on this service's Service Connect 5xx share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<ErrorRateAlarmSpec>,
    #[serde(default = "default_true")]
    pub rollback: bool,
}

/// The share of the service's Service Connect answers that are 5xx, as its callers see them (all
/// revisions together: no Service Connect dimension tells them apart), above a threshold in
/// `datapoints_to_alarm` of the last `evaluation_periods` periods. The local runtime evaluates
/// the same alarm on the model's time scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorRateAlarmSpec {
    #[serde(default = "default_error_threshold")]
    pub threshold_percent: Percent,
    /// CloudWatch period (10, 30 or a multiple of 60 seconds).
    #[serde(default = "default_alarm_period")]
    pub period_seconds: u32,
    #[serde(default = "default_evaluation_periods")]
    pub evaluation_periods: u32,
    /// Breaching periods among the last `evaluation_periods` that put the alarm in ALARM
    /// (CloudWatch's `DatapointsToAlarm`); all of them when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<u32>,
}

impl ErrorRateAlarmSpec {
    /// `DatapointsToAlarm`: the model's, else every evaluation period (CloudWatch's default).
    pub fn datapoints(&self) -> u32 {
        self.datapoints_to_alarm.unwrap_or(self.evaluation_periods)
    }
}

impl Default for ErrorRateAlarmSpec {
    fn default() -> Self {
        ErrorRateAlarmSpec {
            threshold_percent: default_error_threshold(),
            period_seconds: default_alarm_period(),
            evaluation_periods: default_evaluation_periods(),
            datapoints_to_alarm: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreakerSpec {
    pub enable: bool,
    pub rollback: bool,
}

impl Default for CircuitBreakerSpec {
    fn default() -> Self {
        CircuitBreakerSpec {
            enable: true,
            rollback: true,
        }
    }
}

/// `LifecycleHooks[].LifecycleStages` values (SPEC §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LifecycleStage {
    ReconcileService,
    PreScaleUp,
    PostScaleUp,
    TestTrafficShift,
    PostTestTrafficShift,
    PreProductionTrafficShift,
    ProductionTrafficShift,
    PostProductionTrafficShift,
}

impl LifecycleStage {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStage::ReconcileService => "RECONCILE_SERVICE",
            LifecycleStage::PreScaleUp => "PRE_SCALE_UP",
            LifecycleStage::PostScaleUp => "POST_SCALE_UP",
            LifecycleStage::TestTrafficShift => "TEST_TRAFFIC_SHIFT",
            LifecycleStage::PostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            LifecycleStage::PreProductionTrafficShift => "PRE_PRODUCTION_TRAFFIC_SHIFT",
            LifecycleStage::ProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
            LifecycleStage::PostProductionTrafficShift => "POST_PRODUCTION_TRAFFIC_SHIFT",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookTargetType {
    AwsLambda,
    Pause,
}

impl HookTargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            HookTargetType::AwsLambda => "AWS_LAMBDA",
            HookTargetType::Pause => "PAUSE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookTimeoutAction {
    Rollback,
    Continue,
}

impl HookTimeoutAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HookTimeoutAction::Rollback => "ROLLBACK",
            HookTimeoutAction::Continue => "CONTINUE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HookTimeoutSpec {
    /// 1-20160.
    pub minutes: u32,
    pub action: HookTimeoutAction,
}

/// A lifecycle hook: a Lambda function ECS invokes, or a pause that waits for
/// `ContinueServiceDeployment`, at the listed stages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LifecycleHookSpec {
    pub target_type: HookTargetType,
    pub stages: Vec<LifecycleStage>,
    /// The Lambda function's ARN (required for `AWS_LAMBDA`, refused for `PAUSE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_target_arn: Option<String>,
    /// The role ECS assumes to invoke the function (an `AWS_LAMBDA` hook needs it, or
    /// `createRole`; refused for `PAUSE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The stack creates the role: trusted by `ecs.amazonaws.com`, allowed
    /// `lambda:InvokeFunction` on this hook's function only (instead of `roleArn`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_role: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HookTimeoutSpec>,
    /// Local runtime only: the command run in place of the Lambda (exit 0 = SUCCEEDED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_command: Option<Vec<String>>,
}

/// The header ECS uses to mark test traffic when a client alias has no rule of its own.
pub const DEFAULT_TEST_TRAFFIC_HEADER: &str = "x-amzn-ecs-blue-green-test";

/// `ClientAliases[].TestTrafficRules.Header`: requests with this header and value reach the new
/// revision during a deployment's test traffic stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestTrafficSpec {
    #[serde(default = "default_test_header")]
    pub header: String,
    pub value: String,
}

fn default_true() -> bool {
    true
}
fn default_test_header() -> String {
    DEFAULT_TEST_TRAFFIC_HEADER.to_owned()
}
fn default_error_threshold() -> Percent {
    Percent::whole(10)
}
fn default_alarm_period() -> u32 {
    60
}
fn default_evaluation_periods() -> u32 {
    1
}

/// `DescribeServiceDeployments` status of one service deployment; the local runtime's engine
/// reports the same values so one display serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    Pending,
    InProgress,
    Successful,
    StopRequested,
    Stopped,
    RollbackRequested,
    RollbackInProgress,
    RollbackSuccessful,
    RollbackFailed,
}

impl DeploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Pending => "PENDING",
            DeploymentStatus::InProgress => "IN_PROGRESS",
            DeploymentStatus::Successful => "SUCCESSFUL",
            DeploymentStatus::StopRequested => "STOP_REQUESTED",
            DeploymentStatus::Stopped => "STOPPED",
            DeploymentStatus::RollbackRequested => "ROLLBACK_REQUESTED",
            DeploymentStatus::RollbackInProgress => "ROLLBACK_IN_PROGRESS",
            DeploymentStatus::RollbackSuccessful => "ROLLBACK_SUCCESSFUL",
            DeploymentStatus::RollbackFailed => "ROLLBACK_FAILED",
        }
    }

    /// No further change will happen without a new deployment.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeploymentStatus::Successful
                | DeploymentStatus::Stopped
                | DeploymentStatus::RollbackSuccessful
                | DeploymentStatus::RollbackFailed
        )
    }

    /// One of a rollback's statuses: requested, running or ended either way.
    pub fn is_rollback(self) -> bool {
        matches!(
            self,
            DeploymentStatus::RollbackRequested
                | DeploymentStatus::RollbackInProgress
                | DeploymentStatus::RollbackSuccessful
                | DeploymentStatus::RollbackFailed
        )
    }
}

/// A deployment's lifecycle stage, in the order ECS runs them (SPEC §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStage {
    ReconcileService,
    PreScaleUp,
    ScaleUp,
    PostScaleUp,
    TestTrafficShift,
    PostTestTrafficShift,
    PreProductionTrafficShift,
    ProductionTrafficShift,
    PostProductionTrafficShift,
    BakeTime,
    CleanUp,
}

impl DeploymentStage {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStage::ReconcileService => "RECONCILE_SERVICE",
            DeploymentStage::PreScaleUp => "PRE_SCALE_UP",
            DeploymentStage::ScaleUp => "SCALE_UP",
            DeploymentStage::PostScaleUp => "POST_SCALE_UP",
            DeploymentStage::TestTrafficShift => "TEST_TRAFFIC_SHIFT",
            DeploymentStage::PostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            DeploymentStage::PreProductionTrafficShift => "PRE_PRODUCTION_TRAFFIC_SHIFT",
            DeploymentStage::ProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
            DeploymentStage::PostProductionTrafficShift => "POST_PRODUCTION_TRAFFIC_SHIFT",
            DeploymentStage::BakeTime => "BAKE_TIME",
            DeploymentStage::CleanUp => "CLEAN_UP",
        }
    }
}

/// Where one service's deployment stands: what `status --watch` shows, on AWS (from
/// `DescribeServiceDeployments`) and locally (from the local runtime's engine) alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutProgress {
    pub service: String,
    pub status: DeploymentStatus,
    pub strategy: StrategyKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<DeploymentStage>,
    /// The version (or revision) serving before the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The version (or revision) being deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Share of production traffic on the target so far.
    pub production_percent: Percent,
    /// Requests marked as test traffic reach the target.
    pub test_traffic_on_target: bool,
    /// Time left in the current bake (step bake, canary bake or final bake), in milliseconds:
    /// a rehearsal's bake can last less than a second (`--minute 200ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_remaining_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms_triggered: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_reason: Option<String>,
    /// A pause hook waiting for `continue` or `rollback`, and at which stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<DeploymentStage>,
    /// The alarms the deployment watches, as last read (AWS: `DescribeAlarms`; locally: the
    /// supervisor's evaluation of the stack's error-rate alarm).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmReading>,
    /// The lifecycle hook the deployment waits on now (a Lambda hook; a pause is `paused_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_running: Option<RunningHook>,
    /// The hooks that timed out so far, in order (one whose action was ROLLBACK is also the
    /// rollback reason).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hook_timeouts: Vec<HookTimedOut>,
    /// Which production traffic shift a LINEAR or CANARY deployment has reached ([`StepOf::of`]);
    /// `None` before the first, once it goes back or ends, and for BLUE_GREEN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepOf>,
    /// The share of answers the target revision actually gave (locally: the Service Connect
    /// proxy's count of the last alarm period); `None` where nobody counts them (on AWS ECS
    /// reports only the share it set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_percent: Option<Percent>,
    /// The tasks of each revision, source first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<RevisionTasks>,
    /// A pause hook awaiting `continue` or `rollback`, with the time left before its timeout
    /// action (`paused_at` says the stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_waiting: Option<WaitingHook>,
    /// When the deployment was created, in milliseconds since the Unix epoch (AWS: the
    /// deployment's `createdAt`; locally: the supervisor's wall clock when the rollout began).
    /// A wait that asks for a deployment created since a time judges only one created at or
    /// after it; `None` (not reported, or a status written before the field) never counts as
    /// such a deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
}

/// Step `n` of `of` production traffic shifts (LINEAR: one per step; CANARY: the canary, then
/// the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOf {
    pub n: usize,
    pub of: usize,
}

impl StepOf {
    /// The step a deployment whose shifts reach `steps` (cumulative shares, in order) has
    /// reached with `production` on the new revision; `None` before the first shift and for a
    /// single shift (BLUE_GREEN, which has no steps to count).
    pub fn of(steps: &[Percent], production: Percent) -> Option<StepOf> {
        let n = steps.iter().filter(|s| **s <= production).count();
        (n > 0 && steps.len() > 1).then_some(StepOf { n, of: steps.len() })
    }
}

/// The tasks of one revision of a service (AWS: `ServiceRevisionSummary`'s requested and
/// running counts; locally: the supervisor's task processes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionTasks {
    /// The revision, named as `source`/`target` name it.
    pub revision: String,
    pub desired: u32,
    pub running: u32,
    /// Tasks that passed their health check; `None` where it is not reported (ECS reports
    /// running and pending tasks per revision, not their health).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<u32>,
}

/// A pause lifecycle hook awaiting action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingHook {
    /// What names the hook (AWS: its `hookId`, the one `ContinueServiceDeployment` takes;
    /// locally: [`Hook::name`]).
    pub hook: String,
    /// Real milliseconds until its timeout action, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_ms: Option<u64>,
    /// What happens at the timeout, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_action: Option<HookTimeoutAction>,
}

/// A lifecycle hook the deployment waits on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunningHook {
    /// [`Hook::name`].
    pub hook: String,
    pub stage: LifecycleStage,
    /// Since the hook started, in real seconds.
    pub elapsed_seconds: u64,
    /// The timeout in force (ECS's default when the hook sets none) and its action.
    pub timeout: HookTimeoutSpec,
    /// The timeout in real seconds: `timeout.minutes` on the time scale (locally `--minute`).
    pub timeout_seconds: u64,
}

/// A lifecycle hook that ran out of time, and what the deployment did about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookTimedOut {
    /// [`Hook::name`].
    pub hook: String,
    pub stage: LifecycleStage,
    /// The timeout, in the model's minutes.
    pub minutes: u32,
    pub action: HookTimeoutAction,
}

impl fmt::Display for HookTimedOut {
    /// `hook check timed out after 1440 min, action ROLLBACK`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hook {} timed out after {} min, action {}",
            self.hook,
            self.minutes,
            self.action.as_str()
        )
    }
}

/// A CloudWatch alarm's state (`StateValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// One alarm a deployment watches, as last read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmReading {
    pub name: String,
    pub state: AlarmState,
    /// The threshold, for the stack's own error-rate alarm (`None` for an alarm named in the
    /// model but created elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_percent: Option<Percent>,
    /// The last evaluated period's value (the 5xx share), rounded to the 0.1 grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_percent: Option<Percent>,
    /// Why it is in this state, with the period and figures (AWS's `StateReason` on AWS), e.g.
    /// `period 4 (60 s): 12 of 100 answers were 5xx (12%), threshold 10%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// ECS's defaults when a strategy's configuration is left out (SPEC §10).
pub const DEFAULT_BAKE_MINUTES: u32 = 15;
pub const DEFAULT_LINEAR: LinearSpec = LinearSpec {
    step_percent: Percent::whole(10),
    step_bake_time_minutes: 6,
};
pub const DEFAULT_CANARY: CanarySpec = CanarySpec {
    canary_percent: Percent::whole(5),
    canary_bake_time_minutes: 10,
};
/// CloudFormation refuses a linear or canary strategy whose duration exceeds 33 hours.
pub const MAX_STRATEGY_MINUTES: u32 = 33 * 60;
/// CloudFormation times out an operation, and so a service update's deployment, after 36 hours
/// ("CloudFormation operations time out after 36 hours", `AWS::ECS::Service LinearConfiguration`
/// and `CanaryConfiguration`, which add that lifecycle hooks can take a deployment past it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-ecs-service-linearconfiguration.html>).
pub const MAX_OPERATION_MINUTES: u32 = 36 * 60;
/// How long ECS waits for a lifecycle hook without a timeout of its own
/// (`DeploymentLifecycleHookTimeoutConfiguration.timeoutInMinutes`: "Default: 1440 (24 hours)",
/// valid 1-20160,
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentLifecycleHookTimeoutConfiguration.html>).
pub const DEFAULT_HOOK_TIMEOUT_MINUTES: u32 = 1440;
/// What ECS does when a lifecycle hook without a timeout of its own times out
/// (`DeploymentLifecycleHookTimeoutConfiguration.action`: "Default: ROLLBACK", same page as
/// [`DEFAULT_HOOK_TIMEOUT_MINUTES`]).
pub const DEFAULT_HOOK_TIMEOUT_ACTION: HookTimeoutAction = HookTimeoutAction::Rollback;

/// A validated service's deployment strategy with its parameters (ECS's defaults filled in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Rolling,
    BlueGreen,
    Linear {
        step: Percent,
        step_bake_minutes: u32,
    },
    Canary {
        percent: Percent,
        bake_minutes: u32,
    },
}

impl Strategy {
    /// The strategy `spec` asks for; a configuration for another strategy is ignored (the
    /// validator refuses it).
    pub fn of(spec: &DeploymentSpec) -> Strategy {
        match spec.strategy {
            StrategyKind::Rolling => Strategy::Rolling,
            StrategyKind::BlueGreen => Strategy::BlueGreen,
            StrategyKind::Linear => {
                let l = spec.linear.as_ref().unwrap_or(&DEFAULT_LINEAR);
                Strategy::Linear {
                    step: l.step_percent,
                    step_bake_minutes: l.step_bake_time_minutes,
                }
            }
            StrategyKind::Canary => {
                let c = spec.canary.as_ref().unwrap_or(&DEFAULT_CANARY);
                Strategy::Canary {
                    percent: c.canary_percent,
                    bake_minutes: c.canary_bake_time_minutes,
                }
            }
        }
    }

    pub fn kind(self) -> StrategyKind {
        match self {
            Strategy::Rolling => StrategyKind::Rolling,
            Strategy::BlueGreen => StrategyKind::BlueGreen,
            Strategy::Linear { .. } => StrategyKind::Linear,
            Strategy::Canary { .. } => StrategyKind::Canary,
        }
    }

    /// The production traffic shifts, in order; empty for a rolling update, which moves tasks
    /// rather than traffic. The last step always reaches 100% and has no bake of its own (the
    /// deployment's final bake follows it).
    pub fn traffic_steps(self) -> Vec<TrafficStep> {
        let last = TrafficStep {
            percent: Percent::HUNDRED,
            bake_minutes: 0,
        };
        match self {
            Strategy::Rolling => Vec::new(),
            Strategy::BlueGreen => vec![last],
            Strategy::Linear {
                step,
                step_bake_minutes,
            } => {
                let step = step.tenths().clamp(1, Percent::HUNDRED.tenths());
                let mut steps: Vec<TrafficStep> = (1..)
                    .map(|n| n * step)
                    .take_while(|&tenths| tenths < Percent::HUNDRED.tenths())
                    .map(|tenths| TrafficStep {
                        percent: Percent::from_tenths(tenths),
                        bake_minutes: step_bake_minutes,
                    })
                    .collect();
                steps.push(last);
                steps
            }
            Strategy::Canary {
                percent,
                bake_minutes,
            } if percent < Percent::HUNDRED => vec![
                TrafficStep {
                    percent,
                    bake_minutes,
                },
                last,
            ],
            // All traffic moves at once; the canary bake still runs before the final one.
            Strategy::Canary { bake_minutes, .. } => vec![TrafficStep {
                bake_minutes,
                ..last
            }],
        }
    }
}

/// One production traffic shift: the share on the new revision after it (cumulative), then the
/// minutes ECS waits before the next shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficStep {
    pub percent: Percent,
    pub bake_minutes: u32,
}

/// Which requests reach the new revision as test traffic: the alias's rule, else ECS's default
/// header with any value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestTrafficRule {
    pub header: String,
    /// The exact value the header must have; `None`: any value.
    pub value: Option<String>,
}

impl TestTrafficRule {
    pub fn of(spec: Option<&TestTrafficSpec>) -> TestTrafficRule {
        match spec {
            Some(t) => TestTrafficRule {
                header: t.header.clone(),
                value: Some(t.value.clone()),
            },
            None => TestTrafficRule {
                header: DEFAULT_TEST_TRAFFIC_HEADER.to_owned(),
                value: None,
            },
        }
    }

    /// Whether a request with these headers is test traffic (names compared case-insensitively,
    /// as HTTP does).
    pub fn matches<'a>(&self, headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        headers.into_iter().any(|(name, value)| {
            name.eq_ignore_ascii_case(&self.header)
                && self.value.as_deref().is_none_or(|v| v == value)
        })
    }
}

impl fmt::Display for TestTrafficRule {
    /// `x-canary: yes`, or `x-amzn-ecs-blue-green-test (any value)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}: {value}", self.header),
            None => write!(f, "{} (any value)", self.header),
        }
    }
}

/// Where a lifecycle hook hands control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookTarget {
    Lambda {
        function_arn: String,
        role: HookRole,
    },
    /// Waits for `ContinueServiceDeployment` (or its timeout).
    Pause,
}

/// The role ECS assumes to invoke a Lambda hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookRole {
    /// An existing role, by ARN (`roleArn`).
    Arn(String),
    /// A role the stack creates for this hook (`createRole`).
    Created,
}

/// A validated lifecycle hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// Non-empty, no repeats, in the order given.
    pub stages: Vec<LifecycleStage>,
    pub target: HookTarget,
    pub timeout: Option<HookTimeoutSpec>,
    /// Local runtime only: run in place of the Lambda (exit 0 = SUCCEEDED).
    pub local_command: Option<Vec<String>>,
}

impl Hook {
    /// The timeout ECS applies: the hook's own, or ECS's default of 1,440 minutes then ROLLBACK.
    pub fn effective_timeout(&self) -> HookTimeoutSpec {
        self.timeout.clone().unwrap_or(HookTimeoutSpec {
            minutes: DEFAULT_HOOK_TIMEOUT_MINUTES,
            action: DEFAULT_HOOK_TIMEOUT_ACTION,
        })
    }

    /// What messages call the hook: a Lambda hook by its function's name (the ARN's
    /// `function:<name>`, without a version or alias), a pause hook `pause`.
    pub fn name(&self) -> String {
        match &self.target {
            HookTarget::Pause => "pause".to_owned(),
            HookTarget::Lambda { function_arn, .. } => {
                let name = function_arn
                    .split_once(":function:")
                    .map_or(function_arn.as_str(), |(_, rest)| rest);
                let name = name.split(':').next().unwrap_or(name);
                if name.is_empty() {
                    "lambda".to_owned()
                } else {
                    name.to_owned()
                }
            }
        }
    }

    pub fn of(spec: &LifecycleHookSpec) -> Hook {
        let target = match spec.target_type {
            HookTargetType::AwsLambda => HookTarget::Lambda {
                function_arn: spec.hook_target_arn.clone().unwrap_or_default(),
                // Validated: a Lambda hook has `roleArn` or `createRole`.
                role: spec
                    .role_arn
                    .clone()
                    .map_or(HookRole::Created, HookRole::Arn),
            },
            HookTargetType::Pause => HookTarget::Pause,
        };
        Hook {
            stages: spec.stages.clone(),
            target,
            timeout: spec.timeout.clone(),
            local_command: spec.local_command.clone(),
        }
    }
}

/// A validated service's deployment with ECS's defaults filled in: what the renderer, the local
/// engine and the status display read ([`crate::Stack::deployment`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub controller: DeploymentController,
    pub strategy: Strategy,
    /// Minutes both revisions stay up after production traffic has fully moved: ECS's 15 when
    /// unset for a traffic-shifting strategy; `None` for a rolling update without a bake.
    pub bake_minutes: Option<u32>,
    pub alarms: Option<AlarmsSpec>,
    pub circuit_breaker: CircuitBreakerSpec,
    pub hooks: Vec<Hook>,
    /// The service's test traffic rule; `None` without Service Connect (no traffic to shift).
    pub test_traffic: Option<TestTrafficRule>,
}

impl Deployment {
    /// The view of `spec` for a service whose test traffic rule is `test_traffic` (`None`
    /// without Service Connect). [`crate::Stack::deployment`] gives it for a validated service.
    pub fn new(spec: &DeploymentSpec, test_traffic: Option<TestTrafficRule>) -> Self {
        let strategy = Strategy::of(spec);
        let bake_minutes = match spec.bake_time_minutes {
            Some(m) => Some(m),
            None if strategy.kind().is_native_shift() => Some(DEFAULT_BAKE_MINUTES),
            None => None,
        };
        Deployment {
            controller: spec.controller,
            strategy,
            bake_minutes,
            alarms: spec.alarms.clone(),
            circuit_breaker: spec.circuit_breaker.clone(),
            hooks: spec.lifecycle_hooks.iter().map(Hook::of).collect(),
            test_traffic,
        }
    }

    pub fn traffic_steps(&self) -> Vec<TrafficStep> {
        self.strategy.traffic_steps()
    }

    /// The bakes a deployment waits through, in minutes: every step's bake, then the final one.
    /// For linear and canary this is SPEC §10's formula that CloudFormation holds to 33 hours.
    pub fn total_minutes(&self) -> u32 {
        let steps: u32 = self.traffic_steps().iter().map(|s| s.bake_minutes).sum();
        steps + self.bake_minutes.unwrap_or(0)
    }

    /// The longest the deployment can wait: its bakes plus every hook waiting out its timeout
    /// each time it runs (what CloudFormation's 36-hour operation limit has to hold).
    pub fn worst_case(&self) -> WorstCase {
        let steps = u32::try_from(self.traffic_steps().len()).unwrap_or(u32::MAX);
        let hooks = self
            .hooks
            .iter()
            .enumerate()
            .map(|(index, hook)| {
                let runs = hook
                    .stages
                    .iter()
                    .map(|stage| match stage {
                        // SPEC §10: for LINEAR and CANARY these two stages run at every step.
                        LifecycleStage::PreProductionTrafficShift
                        | LifecycleStage::ProductionTrafficShift => steps.max(1),
                        _ => 1,
                    })
                    .fold(0u32, u32::saturating_add);
                HookWait {
                    hook: index,
                    runs,
                    timeout_minutes: hook
                        .timeout
                        .as_ref()
                        .map_or(DEFAULT_HOOK_TIMEOUT_MINUTES, |t| t.minutes),
                    default_timeout: hook.timeout.is_none(),
                }
            })
            .collect();
        WorstCase {
            bake_minutes: self.total_minutes(),
            hooks,
        }
    }

    /// What the stack's error-rate alarm catches at each production step
    /// ([`crate::Detection::of`]).
    pub fn detection(&self) -> Option<crate::alarm::Detection> {
        crate::alarm::Detection::of(self)
    }
}

/// The longest a deployment can wait ([`Deployment::worst_case`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorstCase {
    /// Every step's bake and the final bake ([`Deployment::total_minutes`]).
    pub bake_minutes: u32,
    /// One per lifecycle hook, in the model's order.
    pub hooks: Vec<HookWait>,
}

impl WorstCase {
    pub fn total_minutes(&self) -> u32 {
        self.hooks
            .iter()
            .map(HookWait::minutes)
            .fold(self.bake_minutes, u32::saturating_add)
    }
}

/// How long one lifecycle hook can hold a deployment: each run may wait out its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookWait {
    /// The hook's index in `lifecycleHooks`.
    pub hook: usize,
    /// Runs per deployment: one per stage, one per production step at the per-step stages.
    pub runs: u32,
    pub timeout_minutes: u32,
    /// The hook sets no timeout: ECS's [`DEFAULT_HOOK_TIMEOUT_MINUTES`].
    pub default_timeout: bool,
}

impl HookWait {
    pub fn minutes(&self) -> u32 {
        self.runs.saturating_mul(self.timeout_minutes)
    }
}

impl fmt::Display for HookWait {
    /// `lifecycleHooks[1] 6 runs x 1440 (default timeout)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lifecycleHooks[{}] {} run{} x {}",
            self.hook,
            self.runs,
            if self.runs == 1 { "" } else { "s" },
            self.timeout_minutes
        )?;
        if self.default_timeout {
            write!(f, " (default timeout)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_four_rollback_statuses_are_a_rollback() {
        use DeploymentStatus as S;
        let all = [
            S::Pending,
            S::InProgress,
            S::Successful,
            S::StopRequested,
            S::Stopped,
            S::RollbackRequested,
            S::RollbackInProgress,
            S::RollbackSuccessful,
            S::RollbackFailed,
        ];
        let rollbacks: Vec<S> = all.into_iter().filter(|s| s.is_rollback()).collect();
        assert_eq!(
            rollbacks,
            [
                S::RollbackRequested,
                S::RollbackInProgress,
                S::RollbackSuccessful,
                S::RollbackFailed
            ]
        );
    }
}
