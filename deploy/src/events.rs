//! Typed rollout events: what changed between two readings of a followed rollout (deployment
//! started, stage entered, step reached, a pause hook awaiting action and its release, an
//! alarm's state, a rollback and its reason, the end), derived by one pure function, [`events`]
//!
//! The followers of both backends hand every reading to [`crate::rollout_view::RolloutView`],
//! which derives the events from the reading before and gives each to
//! [`crate::Reporter::event`]: a program gets, as data, what the command line writes as JSON
//! lines and posts to webhooks. `deploy/events.schema.json` is the JSON form's schema (a test
//! checks real output against it).

use std::fmt;
use std::time::{Duration, SystemTime};

use model::{
    AlarmReading, AlarmState, DeploymentStage, DeploymentStatus, HookTimeoutAction, Percent,
    RolloutProgress, StrategyKind,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Step `n` of `of` production traffic shifts: the model's, which the tree shows too.
pub use model::StepOf;

/// One thing that happened to one service's deployment, with where it happened (stack,
/// service), between which revisions, and when it was observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// When the follower read the change (not when ECS made it: between two reads).
    pub time: Time,
    pub stack: String,
    pub service: String,
    /// The revision serving before the deployment (`rollout-web:1`; locally the version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The revision being deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// `kind` happening to `web`'s deployment from `1` to `2` in stack `rollout`, read at the Unix
/// epoch: the one sample event the event, output and webhook tests start from
/// (`Event { field, ..example(kind) }`), as `model::examples::rollout_progress` is for readings.
pub fn example(kind: EventKind) -> Event {
    Event {
        time: Time::from_unix_millis(0),
        stack: "rollout".into(),
        service: "web".into(),
        source: Some("1".into()),
        target: Some("2".into()),
        kind,
    }
}

/// What happened, named by the `event` field of the JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum EventKind {
    /// The follower saw the deployment in progress for the first time.
    DeploymentStarted {
        strategy: StrategyKind,
        status: DeploymentStatus,
    },
    /// The deployment moved to another lifecycle stage.
    StageEntered {
        stage: DeploymentStage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<DeploymentStage>,
    },
    /// Production traffic on the new revision moved forward to a new share.
    StepReached {
        production_percent: Percent,
        /// Which of the strategy's shifts this is, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<StepOf>,
    },
    /// A pause hook waits for someone to continue or roll back (ECS's `AWAITING_ACTION`).
    HookAwaitingAction {
        stage: DeploymentStage,
        /// Which hook waits and how long it still will, when the reading says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hook: Option<HookWait>,
    },
    /// The pause hook no longer waits: the deployment went on, or rolls back.
    HookReleased {
        stage: DeploymentStage,
        then: Released,
    },
    /// An alarm the deployment watches changed state (or was read for the first time).
    AlarmStateChanged {
        alarm: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<AlarmState>,
        to: AlarmState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value_percent: Option<Percent>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        threshold_percent: Option<Percent>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The deployment started rolling back (or was seen rolled back), with why.
    RolledBack {
        status: DeploymentStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The deployment reached a terminal status.
    Finished {
        status: DeploymentStatus,
        /// Only `SUCCESSFUL` is a success.
        succeeded: bool,
        production_percent: Percent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// The pause hook a `hookAwaitingAction` is about, and the time left before its timeout action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookWait {
    /// What names the hook (AWS: its `hookId`, which `ContinueServiceDeployment` takes;
    /// locally: its name).
    pub id: String,
    /// Real milliseconds left, at the event's `time`, before the hook's timeout action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_ms: Option<u64>,
    /// When the timeout action comes: the event's `time` plus `remaining_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_at: Option<Time>,
    /// What happens then (`ROLLBACK` or `CONTINUE`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_action: Option<HookTimeoutAction>,
}

/// How a pause hook was released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Released {
    Continued,
    RolledBack,
}

/// A point in time, written as RFC 3339 in UTC with milliseconds (`2026-12-05T06:35:22.123Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(SystemTime);

impl Time {
    pub fn now() -> Time {
        Time(SystemTime::now())
    }

    /// `ms` milliseconds after 1970-01-01T00:00:00Z.
    pub fn from_unix_millis(ms: u64) -> Time {
        Time(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
    }

    pub fn system_time(self) -> SystemTime {
        self.0
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_rfc3339_millis(self.0).fmt(f)
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339(&text)
            .map(Time)
            .map_err(|e| serde::de::Error::custom(format!("{text} is not an RFC 3339 time: {e}")))
    }
}

/// Where and when a reading was taken: what [`events`] adds to every event, and the step the
/// follower knows beside the progress (AWS: from the deployment's configuration; locally: from
/// the engine's steps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub stack: String,
    pub time: Time,
    pub step: Option<StepOf>,
}

/// The events between `previous` (the last reading of the same service, `None` for the first)
/// and `next`. A reading of another deployment (other revisions) starts afresh. The first
/// reading of a deployment in progress gives `deploymentStarted` and then the state it is in as
/// if just entered (stage, step, pause, alarms), so a consumer that joins late still learns it;
/// a first reading of one that has already ended gives only its ending.
pub fn events(
    previous: Option<&RolloutProgress>,
    next: &RolloutProgress,
    at: &Reading,
) -> Vec<Event> {
    let previous = previous.filter(|p| p.source == next.source && p.target == next.target);
    let event = |kind| Event {
        time: at.time,
        stack: at.stack.clone(),
        service: next.service.clone(),
        source: next.source.clone(),
        target: next.target.clone(),
        kind,
    };
    let mut kinds = Vec::new();
    let ended_before = previous.is_some_and(|p| p.status.is_terminal());
    if ended_before {
        return Vec::new();
    }
    let first_in_progress = previous.is_none() && !next.status.is_terminal();
    if first_in_progress {
        kinds.push(EventKind::DeploymentStarted {
            strategy: next.strategy,
            status: next.status,
        });
    }
    let watching = previous.is_some() || first_in_progress;
    // A pause that no longer waits was released, before whatever followed it.
    if let Some(stage) = previous.and_then(|p| p.paused_at)
        && next.paused_at != Some(stage)
    {
        kinds.push(EventKind::HookReleased {
            stage,
            then: if next.status.is_rollback() {
                Released::RolledBack
            } else {
                Released::Continued
            },
        });
    }
    if watching {
        kinds.extend(alarm_changes(
            previous.map(|p| p.alarms.as_slice()).unwrap_or_default(),
            &next.alarms,
        ));
    }
    let moving_forward = !next.status.is_rollback() && !next.status.is_terminal();
    if let Some(stage) = next.stage
        && watching
        && moving_forward
        && previous.is_none_or(|p| p.stage != Some(stage))
    {
        kinds.push(EventKind::StageEntered {
            stage,
            previous: previous.and_then(|p| p.stage),
        });
    }
    let share_moved = match previous {
        Some(p) => p.production_percent != next.production_percent,
        None => next.production_percent > Percent::whole(0),
    };
    if watching && moving_forward && share_moved {
        kinds.push(EventKind::StepReached {
            production_percent: next.production_percent,
            step: at.step,
        });
    }
    if let Some(stage) = next.paused_at
        && watching
        && previous.is_none_or(|p| p.paused_at != Some(stage))
    {
        kinds.push(EventKind::HookAwaitingAction {
            stage,
            hook: next.hook_waiting.as_ref().map(|h| HookWait {
                id: h.hook.clone(),
                remaining_ms: h.remaining_ms,
                timeout_at: h
                    .remaining_ms
                    .map(|ms| Time(at.time.0 + Duration::from_millis(ms))),
                timeout_action: h.timeout_action,
            }),
        });
    }
    let was_rolling_back = previous.is_some_and(|p| p.status.is_rollback());
    if next.status.is_rollback() && !was_rolling_back {
        kinds.push(EventKind::RolledBack {
            status: next.status,
            reason: next.rollback_reason.clone(),
        });
    }
    if next.status.is_terminal() {
        kinds.push(EventKind::Finished {
            status: next.status,
            succeeded: next.status == DeploymentStatus::Successful,
            production_percent: next.production_percent,
            reason: next.rollback_reason.clone(),
        });
    }
    kinds.into_iter().map(event).collect()
}

/// An `alarmStateChanged` for each alarm of `next` whose state differs from its reading in
/// `previous` (or that `previous` did not have).
fn alarm_changes(previous: &[AlarmReading], next: &[AlarmReading]) -> Vec<EventKind> {
    next.iter()
        .filter_map(|now| {
            let before = previous
                .iter()
                .find(|b| b.name == now.name)
                .map(|b| b.state);
            (before != Some(now.state)).then(|| EventKind::AlarmStateChanged {
                alarm: now.name.clone(),
                from: before,
                to: now.state,
                value_percent: now.value_percent,
                threshold_percent: now.threshold_percent,
                reason: now.reason.clone(),
            })
        })
        .collect()
}

impl EventKind {
    /// The `event` field's value (`stageEntered`).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::DeploymentStarted { .. } => "deploymentStarted",
            EventKind::StageEntered { .. } => "stageEntered",
            EventKind::StepReached { .. } => "stepReached",
            EventKind::HookAwaitingAction { .. } => "hookAwaitingAction",
            EventKind::HookReleased { .. } => "hookReleased",
            EventKind::AlarmStateChanged { .. } => "alarmStateChanged",
            EventKind::RolledBack { .. } => "rolledBack",
            EventKind::Finished { .. } => "finished",
        }
    }
}

impl fmt::Display for Event {
    /// One line for a chat message (a webhook's `text`):
    /// `rollout: web 1 -> 2: PRODUCTION_TRAFFIC_SHIFT step 2/5, production 40% on 2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.stack, self.service)?;
        match (&self.source, &self.target) {
            (Some(source), Some(target)) => write!(f, " {source} -> {target}")?,
            (None, Some(target)) => write!(f, " -> {target}")?,
            _ => {}
        }
        let on = self.target.as_deref().unwrap_or("the new revision");
        match &self.kind {
            EventKind::DeploymentStarted { strategy, status } => write!(
                f,
                ": {} deployment started ({})",
                strategy.as_str(),
                status.as_str()
            ),
            EventKind::StageEntered { stage, .. } => write!(f, ": entered {}", stage.as_str()),
            EventKind::StepReached {
                production_percent,
                step,
            } => {
                f.write_str(": ")?;
                if let Some(step) = step {
                    write!(f, "step {}/{}, ", step.n, step.of)?;
                }
                write!(f, "production {production_percent}% on {on}")
            }
            EventKind::HookAwaitingAction { stage, hook } => {
                f.write_str(": ")?;
                if let Some(hook) = hook {
                    write!(f, "hook {} ", hook.id)?;
                }
                write!(
                    f,
                    "paused at {}, waiting for continue or rollback",
                    stage.as_str()
                )?;
                let Some(hook) = hook else { return Ok(()) };
                match (hook.remaining_ms, hook.timeout_action) {
                    (Some(ms), Some(action)) => {
                        write!(f, "; {} in {}", action.as_str(), left(ms))
                    }
                    (Some(ms), None) => write!(f, "; its timeout in {}", left(ms)),
                    (None, Some(action)) => write!(f, "; {} at its timeout", action.as_str()),
                    (None, None) => Ok(()),
                }
            }
            EventKind::HookReleased { stage, then } => write!(
                f,
                ": the pause at {} was released, {}",
                stage.as_str(),
                match then {
                    Released::Continued => "the deployment goes on",
                    Released::RolledBack => "the deployment rolls back",
                }
            ),
            EventKind::AlarmStateChanged {
                alarm,
                from,
                to,
                value_percent,
                threshold_percent,
                ..
            } => {
                write!(f, ": alarm {alarm} ")?;
                if let Some(from) = from {
                    write!(f, "{} -> ", from.as_str())?;
                }
                f.write_str(to.as_str())?;
                if let Some(value) = value_percent {
                    write!(f, " {value}%")?;
                }
                if let Some(threshold) = threshold_percent {
                    write!(f, " (threshold {threshold}%)")?;
                }
                Ok(())
            }
            EventKind::RolledBack { status, reason } => {
                write!(f, ": ROLLING BACK ({})", status.as_str())?;
                reason_suffix(f, reason.as_deref())
            }
            EventKind::Finished {
                status,
                succeeded,
                production_percent,
                reason,
            } => {
                if *succeeded {
                    write!(f, ": finished, production {production_percent}% on {on}")
                } else {
                    write!(f, ": ended {}", status.as_str())?;
                    reason_suffix(f, reason.as_deref())
                }
            }
        }
    }
}

/// `29m 30s`: whole seconds, rounded up so a timeout not reached never reads 0.
fn left(ms: u64) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(ms.div_ceil(1000)))
}

fn reason_suffix(f: &mut fmt::Formatter<'_>, reason: Option<&str>) -> fmt::Result {
    match reason {
        Some(reason) => write!(f, ": {reason}"),
        None => Ok(()),
    }
}

/// The JSON Schema of an event's JSON form, kept in the repository
/// (`deploy/events.schema.json`).
pub const SCHEMA: &str = include_str!("../events.schema.json");

/// Checks events' JSON forms against [`SCHEMA`]: the flows' tests run it on real output.
#[cfg(test)]
pub(crate) mod schema {
    use super::*;

    /// What the schema finds wrong with `value`, one message each (none: valid).
    pub(crate) fn errors(value: &serde_json::Value) -> Vec<String> {
        let schema: serde_json::Value =
            serde_json::from_str(SCHEMA).expect("events.schema.json is JSON");
        let validator = jsonschema::validator_for(&schema).expect("events.schema.json is a schema");
        validator
            .iter_errors(value)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    }

    /// Panics naming each event the schema refuses and why.
    #[track_caller]
    pub(crate) fn check(events: &[Event]) {
        assert!(!events.is_empty(), "no events to check");
        let refused: Vec<String> = events
            .iter()
            .filter_map(|event| {
                let json = serde_json::to_value(event).expect("an event serializes");
                let errors = errors(&json);
                (!errors.is_empty()).then(|| format!("{json}: {}", errors.join("; ")))
            })
            .collect();
        assert!(
            refused.is_empty(),
            "events.schema.json refuses:\n{}",
            refused.join("\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use model::examples::error_rate_reading as reading;
    use model::{AlarmState, DeploymentStage as Stage, DeploymentStatus as Status};

    use super::*;

    fn at(step: Option<(usize, usize)>) -> Reading {
        Reading {
            stack: "rollout".into(),
            time: Time::from_unix_millis(1_764_916_522_123),
            step: step.map(|(n, of)| StepOf { n, of }),
        }
    }

    fn progress(status: Status, stage: Stage, percent: u32) -> RolloutProgress {
        RolloutProgress {
            status,
            ..model::examples::rollout_progress(StrategyKind::Linear, stage, percent)
        }
    }

    fn shift(percent: u32) -> RolloutProgress {
        progress(Status::InProgress, Stage::ProductionTrafficShift, percent)
    }

    fn kinds(previous: Option<&RolloutProgress>, next: &RolloutProgress) -> Vec<EventKind> {
        events(previous, next, &at(None))
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    #[test]
    fn every_event_names_the_stack_service_revisions_and_time() {
        let got = events(None, &shift(20), &at(Some((1, 5))));
        assert_eq!(got.len(), 3, "{got:#?}");
        for e in &got {
            assert_eq!((e.stack.as_str(), e.service.as_str()), ("rollout", "web"));
            assert_eq!(
                (e.source.as_deref(), e.target.as_deref()),
                (Some("1"), Some("2"))
            );
            assert_eq!(e.time.to_string(), "2025-12-05T06:35:22.123Z");
        }
        assert_eq!(
            got[2].kind,
            EventKind::StepReached {
                production_percent: Percent::whole(20),
                step: Some(StepOf { n: 1, of: 5 })
            }
        );
    }

    /// A deployment first seen in progress: started, then where it stands as if just entered.
    #[test]
    fn a_first_reading_in_progress_starts_the_deployment() {
        assert_eq!(
            kinds(None, &progress(Status::InProgress, Stage::PreScaleUp, 0)),
            [
                EventKind::DeploymentStarted {
                    strategy: StrategyKind::Linear,
                    status: Status::InProgress
                },
                EventKind::StageEntered {
                    stage: Stage::PreScaleUp,
                    previous: None
                },
            ]
        );
    }

    /// A deployment first seen ended (`status --watch` after it finished): only its end.
    #[test]
    fn a_first_reading_that_has_ended_gives_only_the_end() {
        assert_eq!(
            kinds(None, &progress(Status::Successful, Stage::CleanUp, 100)),
            [EventKind::Finished {
                status: Status::Successful,
                succeeded: true,
                production_percent: Percent::HUNDRED,
                reason: None
            }]
        );
    }

    #[test]
    fn nothing_changed_is_no_event() {
        let mut p = shift(40);
        assert_eq!(kinds(Some(&p), &p), []);
        // A countdown alone moves nothing.
        p.bake_remaining_ms = Some(3_000);
        let mut later = p.clone();
        later.bake_remaining_ms = Some(1_000);
        assert_eq!(kinds(Some(&p), &later), []);
    }

    #[test]
    fn a_new_stage_is_entered() {
        let before = shift(100);
        let bake = progress(Status::InProgress, Stage::BakeTime, 100);
        assert_eq!(
            kinds(Some(&before), &bake),
            [EventKind::StageEntered {
                stage: Stage::BakeTime,
                previous: Some(Stage::ProductionTrafficShift)
            }]
        );
    }

    #[test]
    fn a_new_share_is_a_step_but_a_rollback_to_zero_is_not() {
        assert_eq!(
            kinds(Some(&shift(20)), &shift(40)),
            [EventKind::StepReached {
                production_percent: Percent::whole(40),
                step: None
            }]
        );
        let rolling = progress(Status::RollbackInProgress, Stage::ProductionTrafficShift, 0);
        assert_eq!(
            kinds(Some(&shift(40)), &rolling),
            [EventKind::RolledBack {
                status: Status::RollbackInProgress,
                reason: None
            }]
        );
    }

    /// The hook's id and the time left before its timeout action, as the reading has them
    /// (issue 18: the tree showed them, the event did not).
    #[test]
    fn a_waiting_hook_is_named_with_the_time_left_before_its_timeout_action() {
        let paused = RolloutProgress {
            paused_at: Some(Stage::PostTestTrafficShift),
            hook_waiting: Some(model::WaitingHook {
                hook: "pause-post-test".into(),
                remaining_ms: Some(1_769_500),
                timeout_action: Some(HookTimeoutAction::Rollback),
            }),
            ..progress(Status::InProgress, Stage::PostTestTrafficShift, 0)
        };
        let before = progress(Status::InProgress, Stage::TestTrafficShift, 0);
        let events = events(Some(&before), &paused, &at(None));
        let waiting = events.last().expect("an event");
        assert_eq!(
            waiting.kind,
            EventKind::HookAwaitingAction {
                stage: Stage::PostTestTrafficShift,
                hook: Some(HookWait {
                    id: "pause-post-test".into(),
                    remaining_ms: Some(1_769_500),
                    // The reading's time (1_764_916_522_123 ms) plus the time left.
                    timeout_at: Some(Time::from_unix_millis(1_764_918_291_623)),
                    timeout_action: Some(HookTimeoutAction::Rollback),
                }),
            }
        );
        assert_eq!(
            serde_json::to_value(waiting).expect("serializes"),
            serde_json::json!({
                "time": "2025-12-05T06:35:22.123Z", "stack": "rollout", "service": "web",
                "source": "1", "target": "2", "event": "hookAwaitingAction",
                "stage": "POST_TEST_TRAFFIC_SHIFT",
                "hook": {"id": "pause-post-test", "remainingMs": 1_769_500,
                         "timeoutAt": "2025-12-05T07:04:51.623Z", "timeoutAction": "ROLLBACK"}
            })
        );
        schema::check(&events);
        assert_eq!(
            waiting.to_string(),
            "rollout: web 1 -> 2: hook pause-post-test paused at POST_TEST_TRAFFIC_SHIFT, waiting for continue or rollback; ROLLBACK in 29m 30s"
        );
        // Without the hook's details (a reading that has only the stage): the stage alone.
        let bare = RolloutProgress {
            hook_waiting: None,
            ..paused.clone()
        };
        let event = events_of(&before, &bare);
        assert_eq!(
            event.to_string(),
            "rollout: web 1 -> 2: paused at POST_TEST_TRAFFIC_SHIFT, waiting for continue or rollback"
        );
        schema::check(&[event]);
    }

    /// The last event between `before` and `next`.
    fn events_of(before: &RolloutProgress, next: &RolloutProgress) -> Event {
        events(Some(before), next, &at(None))
            .pop()
            .expect("an event")
    }

    #[test]
    fn a_pause_awaits_action_and_is_released_by_continue_or_rollback() {
        let paused = RolloutProgress {
            paused_at: Some(Stage::PostTestTrafficShift),
            ..progress(Status::InProgress, Stage::PostTestTrafficShift, 0)
        };
        let before = progress(Status::InProgress, Stage::TestTrafficShift, 0);
        assert_eq!(
            kinds(Some(&before), &paused),
            [
                EventKind::StageEntered {
                    stage: Stage::PostTestTrafficShift,
                    previous: Some(Stage::TestTrafficShift)
                },
                EventKind::HookAwaitingAction {
                    stage: Stage::PostTestTrafficShift,
                    hook: None,
                },
            ]
        );
        // Still paused: nothing new.
        assert_eq!(kinds(Some(&paused), &paused), []);
        let went_on = progress(Status::InProgress, Stage::PreProductionTrafficShift, 0);
        assert_eq!(
            kinds(Some(&paused), &went_on),
            [
                EventKind::HookReleased {
                    stage: Stage::PostTestTrafficShift,
                    then: Released::Continued
                },
                EventKind::StageEntered {
                    stage: Stage::PreProductionTrafficShift,
                    previous: Some(Stage::PostTestTrafficShift)
                },
            ]
        );
        let rolled_back = RolloutProgress {
            rollback_reason: Some("rolled back at the pause hook".into()),
            ..progress(Status::RollbackSuccessful, Stage::PostTestTrafficShift, 0)
        };
        assert_eq!(
            kinds(Some(&paused), &rolled_back),
            [
                EventKind::HookReleased {
                    stage: Stage::PostTestTrafficShift,
                    then: Released::RolledBack
                },
                EventKind::RolledBack {
                    status: Status::RollbackSuccessful,
                    reason: Some("rolled back at the pause hook".into())
                },
                EventKind::Finished {
                    status: Status::RollbackSuccessful,
                    succeeded: false,
                    production_percent: Percent::whole(0),
                    reason: Some("rolled back at the pause hook".into())
                },
            ]
        );
    }

    #[test]
    fn an_alarm_that_changes_state_is_an_event_with_its_figures() {
        let with = |alarm| RolloutProgress {
            alarms: vec![alarm],
            ..shift(40)
        };
        let first = with(reading(AlarmState::InsufficientData, None));
        assert_eq!(
            kinds(Some(&shift(40)), &first),
            [EventKind::AlarmStateChanged {
                alarm: "rollout-web-error-rate".into(),
                from: None,
                to: AlarmState::InsufficientData,
                value_percent: None,
                threshold_percent: Some(Percent::whole(10)),
                reason: Some("period 3: INSUFFICIENT_DATA".into())
            }]
        );
        let ok = with(reading(AlarmState::Ok, Some(61)));
        let ok_again = with(reading(AlarmState::Ok, Some(72)));
        assert_eq!(
            kinds(Some(&first), &ok),
            [EventKind::AlarmStateChanged {
                alarm: "rollout-web-error-rate".into(),
                from: Some(AlarmState::InsufficientData),
                to: AlarmState::Ok,
                value_percent: Some(Percent::from_tenths(61)),
                threshold_percent: Some(Percent::whole(10)),
                reason: Some("period 3: OK".into())
            }]
        );
        // Another value in the same state is no change of state.
        assert_eq!(kinds(Some(&ok), &ok_again), []);
    }

    /// The alarm fires and the deployment rolls back in one reading: the alarm first, then
    /// the rollback with its reason, then the end.
    #[test]
    fn a_rollback_by_the_alarm_says_the_alarm_then_the_reason_then_the_end() {
        let before = RolloutProgress {
            alarms: vec![reading(AlarmState::Ok, Some(61))],
            ..shift(40)
        };
        let reason = "alarm rollout-web-error-rate: period 3: 118 of 1000 answers were 5xx (11.8%)";
        let after = RolloutProgress {
            alarms: vec![reading(AlarmState::Alarm, Some(118))],
            alarms_triggered: vec!["rollout-web-error-rate".into()],
            rollback_reason: Some(reason.into()),
            ..progress(Status::RollbackSuccessful, Stage::ProductionTrafficShift, 0)
        };
        let got = events(Some(&before), &after, &at(None));
        let names: Vec<&str> = got.iter().map(|e| e.kind.name()).collect();
        assert_eq!(names, ["alarmStateChanged", "rolledBack", "finished"]);
        assert_eq!(
            got[1].kind,
            EventKind::RolledBack {
                status: Status::RollbackSuccessful,
                reason: Some(reason.into())
            }
        );
        assert_eq!(
            got[1].to_string(),
            format!("rollout: web 1 -> 2: ROLLING BACK (ROLLBACK_SUCCESSFUL): {reason}")
        );
        // A rollback seen in progress then ended: the rollback once, then the end.
        let rolling = RolloutProgress {
            status: Status::RollbackInProgress,
            ..after.clone()
        };
        assert_eq!(
            kinds(Some(&rolling), &after)
                .iter()
                .map(EventKind::name)
                .collect::<Vec<_>>(),
            ["finished"]
        );
    }

    #[test]
    fn a_success_finishes_once() {
        let done = progress(Status::Successful, Stage::CleanUp, 100);
        let bake = progress(Status::InProgress, Stage::BakeTime, 100);
        let got = events(Some(&bake), &done, &at(None));
        assert_eq!(
            got.iter().map(|e| e.kind.name()).collect::<Vec<_>>(),
            ["finished"]
        );
        assert_eq!(
            got[0].to_string(),
            "rollout: web 1 -> 2: finished, production 100% on 2"
        );
        assert_eq!(kinds(Some(&done), &done), []);
    }

    /// A stopped deployment ends without rolling back.
    #[test]
    fn a_stop_ends_without_a_rollback() {
        let stopped = RolloutProgress {
            rollback_reason: Some("stopped by a user".into()),
            ..progress(Status::Stopped, Stage::ScaleUp, 0)
        };
        assert_eq!(
            kinds(
                Some(&progress(Status::StopRequested, Stage::ScaleUp, 0)),
                &stopped
            ),
            [EventKind::Finished {
                status: Status::Stopped,
                succeeded: false,
                production_percent: Percent::whole(0),
                reason: Some("stopped by a user".into())
            }]
        );
    }

    /// Another deployment of the same service (new revisions) starts afresh.
    #[test]
    fn new_revisions_are_a_new_deployment() {
        let old = progress(Status::Successful, Stage::CleanUp, 100);
        let new = RolloutProgress {
            source: Some("2".into()),
            target: Some("3".into()),
            ..progress(Status::InProgress, Stage::ReconcileService, 0)
        };
        assert_eq!(
            kinds(Some(&old), &new)
                .iter()
                .map(EventKind::name)
                .collect::<Vec<_>>(),
            ["deploymentStarted", "stageEntered"]
        );
    }

    /// One event of each kind with every optional field set: what the schema must describe
    /// whole.
    fn one_of_each_kind() -> Vec<EventKind> {
        let percent = Some(Percent::from_tenths(333));
        let reason = Some("why".to_owned());
        vec![
            EventKind::DeploymentStarted {
                strategy: StrategyKind::Canary,
                status: Status::Pending,
            },
            EventKind::StageEntered {
                stage: Stage::BakeTime,
                previous: Some(Stage::PostProductionTrafficShift),
            },
            EventKind::StepReached {
                production_percent: Percent::from_tenths(333),
                step: Some(StepOf { n: 1, of: 3 }),
            },
            EventKind::HookAwaitingAction {
                stage: Stage::PostScaleUp,
                hook: Some(HookWait {
                    id: "pause-post-scale-up".into(),
                    remaining_ms: Some(1_770_000),
                    timeout_at: Some(Time::from_unix_millis(1_764_918_292_123)),
                    timeout_action: Some(HookTimeoutAction::Rollback),
                }),
            },
            EventKind::HookReleased {
                stage: Stage::PostScaleUp,
                then: Released::RolledBack,
            },
            EventKind::AlarmStateChanged {
                alarm: "a".into(),
                from: Some(AlarmState::Ok),
                to: AlarmState::Alarm,
                value_percent: percent,
                threshold_percent: percent,
                reason: reason.clone(),
            },
            EventKind::RolledBack {
                status: Status::RollbackRequested,
                reason: reason.clone(),
            },
            EventKind::Finished {
                status: Status::RollbackFailed,
                succeeded: false,
                production_percent: Percent::whole(0),
                reason,
            },
        ]
    }

    /// Every field of every kind is in the schema, and the schema lists exactly these kinds:
    /// a field or a kind added to the type without the schema fails here (each kind's object
    /// has `additionalProperties: false`).
    #[test]
    fn the_schema_describes_every_kind_and_field() {
        let every: Vec<Event> = one_of_each_kind()
            .into_iter()
            .map(|kind| Event {
                time: Time::from_unix_millis(1_764_916_522_123),
                ..example(kind)
            })
            .collect();
        schema::check(&every);
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let listed: Vec<&str> = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["properties"]["event"]["const"].as_str().unwrap())
            .collect();
        let kinds: Vec<&str> = every.iter().map(|e| e.kind.name()).collect();
        assert_eq!(listed, kinds);
        // The check bites: an unknown field, a missing one, a wrong value are refused.
        let mut json = serde_json::to_value(&every[2]).unwrap();
        assert!(schema::errors(&json).is_empty());
        json["weight"] = 40.into();
        assert!(!schema::errors(&json).is_empty(), "an extra field passes");
        let mut json = serde_json::to_value(&every[0]).unwrap();
        json.as_object_mut().unwrap().remove("stack");
        assert!(!schema::errors(&json).is_empty(), "a missing stack passes");
        let mut json = serde_json::to_value(&every[1]).unwrap();
        json["stage"] = "BAKING".into();
        assert!(!schema::errors(&json).is_empty(), "an unknown stage passes");
        let mut json = serde_json::to_value(&every[1]).unwrap();
        json["time"] = "yesterday".into();
        assert!(
            !schema::errors(&json).is_empty(),
            "a time that is no time passes"
        );
    }

    /// The JSON form: the `event` tag, camelCase fields, the shared fields beside them, and
    /// back to the same event.
    #[test]
    fn an_event_round_trips_through_its_json_form() {
        let event = &events(None, &shift(33), &at(Some((2, 3))))[2];
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "time": "2025-12-05T06:35:22.123Z",
                "stack": "rollout",
                "service": "web",
                "source": "1",
                "target": "2",
                "event": "stepReached",
                "productionPercent": 33,
                "step": {"n": 2, "of": 3},
            })
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(&back, event);
        assert_eq!(
            event.to_string(),
            "rollout: web 1 -> 2: step 2/3, production 33% on 2"
        );
    }
}
