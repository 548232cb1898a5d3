//! The stack's error-rate alarm as CloudWatch evaluates it, on the rollout's time scale: the pure
//! core the supervisor feeds every answer its callers get and asks at each period's end.
//!
//! What it stands for (`cfn-render` renders the AWS side):
//! - **What is counted.** The alarm reads Service Connect's outbound `HTTPCode_Target_*XX_Count`
//!   metrics: what the service's *callers* see, with no dimension that tells the old revision
//!   from the new one. So every answer of the service that reaches a caller through Service
//!   Connect counts, whichever revision gave it; the supervisor records them at the egress proxy
//!   only (the ALB's requests straight to a service land in `AWS/ApplicationELB`, not here).
//!   A service that shifts traffic at the ALB gateway is watched on its two target groups
//!   instead ([`Counted::TargetGroups`]): the answers its tasks give the gateway, both revisions
//!   (both groups) together, counted at the gateway.
//! - **Periods.** One datapoint per `periodSeconds` of model time (`periodSeconds / 60` model
//!   minutes), periods aligned to the rollout's start: value = 100 x 5xx / answers, or no
//!   datapoint when the period had no answer.
//! - **State.** CloudWatch's "Evaluating an alarm": the alarm goes to ALARM when at least
//!   `DatapointsToAlarm` (M) of the last `EvaluationPeriods` (N) datapoints breach the threshold,
//!   and is OK otherwise; the comparison is `GreaterThanThreshold`
//!   (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html>).
//!   A missing datapoint counts as not breaching (`TreatMissingData: notBreaching`, "Configuring
//!   how CloudWatch alarms treat missing data":
//!   <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html>),
//!   and so does a period before the watch began: the stack's alarm existed long before the
//!   rollout, with the old revision answering. A new alarm is INSUFFICIENT_DATA until its first
//!   evaluation (`AWS::CloudWatch::Alarm`:
//!   <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudwatch-alarm.html>).
//! - Shares are compared in integers (`5xx x 1000 > threshold tenths x answers`), never floats.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use model::{AlarmReading, AlarmState, ErrorRateAlarmSpec, Percent};
use serde::{Deserialize, Serialize};

/// Which answers the data plane counts for a service's alarm: what the rendered alarm reads
/// ([`model::ErrorRateReads`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Counted {
    /// The callers' Service Connect outbound counts: every answer of the service that comes
    /// back through the egress proxy, either revision, a 502 or 504 the proxy makes for a task
    /// that did not answer included (as a 5xx).
    #[default]
    ServiceConnect,
    /// The ALB's `HTTPCode_Target_2XX..5XX_Count` on both of the service's target groups: every
    /// answer a task of the service gives the gateway, either revision (each stands for one
    /// target group), test traffic included. An answer the gateway makes itself for a task that
    /// did not answer is the load balancer's own (`HTTPCode_ELB_502_Count`, `_504_`), in none
    /// of the target's counts, so it is not counted at all; requests that reach the service
    /// over Service Connect are not in the ALB's metrics either.
    TargetGroups,
}

impl Counted {
    /// What the alarm of `svc` in `stack` counts; `None` without an alarm that reads metrics.
    pub fn of(stack: &model::Stack, svc: &model::ServiceSpec) -> Option<Counted> {
        Some(match stack.error_rate_reads(svc)? {
            model::ErrorRateReads::ServiceConnect(_) => Counted::ServiceConnect,
            model::ErrorRateReads::TargetGroups => Counted::TargetGroups,
        })
    }
}

/// How many evaluated periods [`ErrorRateAlarm::history`] keeps (the newest).
pub const HISTORY: usize = 200;

/// One period's answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    answers: u64,
    errors: u64,
}

/// One evaluated period: what `status` lists per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Datapoint {
    /// 1 for the period that began with the rollout.
    pub period: u64,
    /// When it ended, since the rollout began (real time).
    pub end_ms: u64,
    pub answers: u64,
    /// Answers with a 5xx status.
    pub errors: u64,
    /// The 5xx share rounded to the 0.1 grid; `None`: no answer, no datapoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_percent: Option<Percent>,
    /// Above the threshold.
    pub breaching: bool,
}

/// The error-rate alarm of one service while it rolls out.
#[derive(Debug, Clone)]
pub struct ErrorRateAlarm {
    name: String,
    threshold: Percent,
    period_seconds: u32,
    /// The period on the local time scale.
    period: Duration,
    evaluation_periods: u32,
    datapoints_to_alarm: u32,
    /// Periods evaluated so far: the next to evaluate is this one (0-based).
    evaluated: u64,
    /// Answers of the periods not evaluated yet, by period.
    pending: BTreeMap<u64, Counts>,
    /// Whether each of the last `evaluation_periods` datapoints breached, newest last.
    recent: VecDeque<bool>,
    state: AlarmState,
    reason: Option<String>,
    last: Option<Datapoint>,
    history: VecDeque<Datapoint>,
}

impl ErrorRateAlarm {
    /// The alarm `name` of `spec`, one model minute lasting `minute`.
    pub fn new(name: String, spec: &ErrorRateAlarmSpec, minute: Duration) -> ErrorRateAlarm {
        let period_seconds = spec.period_seconds.max(1);
        let evaluation_periods = spec.evaluation_periods.max(1);
        ErrorRateAlarm {
            name,
            threshold: spec.threshold_percent,
            period_seconds,
            period: (minute * period_seconds / 60).max(Duration::from_millis(1)),
            evaluation_periods,
            datapoints_to_alarm: spec.datapoints().clamp(1, evaluation_periods),
            evaluated: 0,
            pending: BTreeMap::new(),
            recent: VecDeque::new(),
            state: AlarmState::InsufficientData,
            reason: None,
            last: None,
            history: VecDeque::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// One period on the local time scale.
    pub fn period(&self) -> Duration {
        self.period
    }

    pub fn state(&self) -> AlarmState {
        self.state
    }

    /// When the period being counted ends, since the rollout began: the next evaluation.
    pub fn next_evaluation(&self) -> Duration {
        self.period_end(self.evaluated)
    }

    /// Counts one answer a caller got at `at` (since the rollout began); `error`: a 5xx. An
    /// answer of a period already evaluated (a clock read before a lock) counts in the first
    /// period still open.
    pub fn record(&mut self, at: Duration, error: bool) {
        let period = self.period_of(at).max(self.evaluated);
        let counts = self.pending.entry(period).or_default();
        counts.answers += 1;
        counts.errors += u64::from(error);
    }

    /// Evaluates every period that ended by `now`, in order. Returns the state reason when the
    /// alarm went into ALARM (from any other state) at one of them: what makes ECS fail the
    /// deployment (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html>).
    pub fn evaluate(&mut self, now: Duration) -> Option<String> {
        let ended = self.period_of(now);
        let mut alarmed = None;
        while self.evaluated < ended {
            // A run of periods without answers: only its last N can change the state.
            let next_with_data = self
                .pending
                .keys()
                .next()
                .map_or(ended, |p| (*p).min(ended));
            let window = u64::from(self.evaluation_periods);
            if next_with_data - self.evaluated > window {
                self.evaluated = next_with_data - window;
            }
            let period = self.evaluated;
            let counts = self.pending.remove(&period).unwrap_or_default();
            if let Some(reason) = self.close(period, counts) {
                alarmed.get_or_insert(reason);
            }
            self.evaluated += 1;
        }
        alarmed
    }

    /// The alarm as `status` shows it.
    pub fn reading(&self) -> AlarmReading {
        AlarmReading {
            name: self.name.clone(),
            state: self.state,
            threshold_percent: Some(self.threshold),
            value_percent: self.last.and_then(|d| d.value_percent),
            reason: Some(self.reason.clone().unwrap_or_else(|| {
                format!(
                    "no period has ended yet (periods of {} s, {} here)",
                    self.period_seconds,
                    shown(self.period)
                )
            })),
        }
    }

    /// The last [`HISTORY`] evaluated periods, oldest first.
    pub fn history(&self) -> Vec<Datapoint> {
        self.history.iter().copied().collect()
    }

    fn period_of(&self, at: Duration) -> u64 {
        u64::try_from(at.as_nanos() / self.period.as_nanos()).unwrap_or(u64::MAX)
    }

    fn period_end(&self, period: u64) -> Duration {
        let nanos = self.period.as_nanos() * u128::from(period + 1);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Closes `period` with `counts`: its datapoint, the new state and its reason. Returns the
    /// reason when the alarm went into ALARM.
    fn close(&mut self, period: u64, counts: Counts) -> Option<String> {
        // errors / answers > threshold / 100, in tenths and integers.
        let breaching = counts.answers > 0
            && counts.errors * 1000 > u64::from(self.threshold.tenths()) * counts.answers;
        let datapoint = Datapoint {
            period: period + 1,
            end_ms: u64::try_from(self.period_end(period).as_millis()).unwrap_or(u64::MAX),
            answers: counts.answers,
            errors: counts.errors,
            value_percent: share(counts),
            breaching,
        };
        if self.recent.len() == self.evaluation_periods as usize {
            self.recent.pop_front();
        }
        self.recent.push_back(breaching);
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(datapoint);
        self.last = Some(datapoint);
        let over = self.recent.iter().filter(|b| **b).count() as u32;
        let before = self.state;
        self.state = if over >= self.datapoints_to_alarm {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        };
        let reason = self.describe(&datapoint, over);
        self.reason = Some(reason.clone());
        (self.state == AlarmState::Alarm && before != AlarmState::Alarm).then_some(reason)
    }

    /// `period 3 (60 s, 1.0 s here): 118 of 1000 answers were 5xx (11.8%), over the threshold of
    /// 10% in 1 of 1 periods`.
    fn describe(&self, d: &Datapoint, over: u32) -> String {
        let figures = match d.value_percent {
            None => "no answer (missing data, not breaching)".to_owned(),
            Some(value) => format!("{} of {} answers were 5xx ({value}%)", d.errors, d.answers),
        };
        let needed = if self.datapoints_to_alarm == self.evaluation_periods {
            String::new()
        } else {
            format!(" (ALARM at {})", self.datapoints_to_alarm)
        };
        format!(
            "period {} ({} s, {} here): {figures}, over the threshold of {}% in {over} of {} periods{needed}",
            d.period,
            self.period_seconds,
            shown(self.period),
            self.threshold,
            self.evaluation_periods
        )
    }
}

/// 5xx share of `counts` on the 0.1 grid, rounded half up; `None` without answers.
fn share(counts: Counts) -> Option<Percent> {
    if counts.answers == 0 {
        return None;
    }
    let tenths = (counts.errors * 2000 + counts.answers) / (counts.answers * 2);
    Some(Percent::from_tenths(u32::try_from(tenths).unwrap_or(1000)))
}

/// `1.0 s`, `167 ms`: a local period as a reader takes it in.
fn shown(period: Duration) -> String {
    if period >= Duration::from_secs(1) {
        format!("{:.1} s", period.as_secs_f64())
    } else {
        format!("{} ms", period.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);
    const OK: AlarmState = AlarmState::Ok;
    const ALARM: AlarmState = AlarmState::Alarm;

    fn spec(
        threshold: u32,
        evaluation_periods: u32,
        datapoints: Option<u32>,
    ) -> ErrorRateAlarmSpec {
        ErrorRateAlarmSpec {
            threshold_percent: Percent::whole(threshold),
            period_seconds: 60,
            evaluation_periods,
            datapoints_to_alarm: datapoints,
        }
    }

    /// One period of steady traffic: `answers` spread over it, the new revision taking
    /// `production`% of them and failing `failing`% of its own, the old revision never.
    #[derive(Debug, Clone, Copy)]
    struct Traffic {
        answers: u64,
        production: u64,
        failing: u64,
    }

    const fn at(production: u64, failing: u64) -> Traffic {
        Traffic {
            answers: 1000,
            production,
            failing,
        }
    }

    const IDLE: Traffic = Traffic {
        answers: 0,
        production: 0,
        failing: 0,
    };

    /// Feeds `alarm` one period of `traffic` per entry, one model minute lasting 1 s, evaluating
    /// at each period's end; the state after each and the reason of the first move to ALARM.
    fn run(alarm: &mut ErrorRateAlarm, traffic: &[Traffic]) -> (Vec<AlarmState>, Option<String>) {
        let mut states = Vec::new();
        let mut alarmed = None;
        for (i, t) in traffic.iter().enumerate() {
            let start = S * i as u32;
            let errors = t.answers * t.production * t.failing / 10_000;
            for n in 0..t.answers {
                // Errors spread evenly among the answers, each answer inside the period.
                let error = (n + 1) * errors / t.answers.max(1) > n * errors / t.answers.max(1);
                alarm.record(start + S * n as u32 / t.answers as u32, error);
            }
            if let Some(reason) = alarm.evaluate(start + S) {
                alarmed.get_or_insert(reason);
            }
            states.push(alarm.state());
        }
        (states, alarmed)
    }

    /// The states after each period of `traffic` for an alarm of `spec`.
    fn check(
        spec: &ErrorRateAlarmSpec,
        traffic: &[Traffic],
        expected: &[AlarmState],
    ) -> Option<String> {
        let mut alarm = ErrorRateAlarm::new("web-error-rate".into(), spec, S);
        let (states, alarmed) = run(&mut alarm, traffic);
        assert_eq!(states, expected, "{traffic:?}");
        alarmed
    }

    #[test]
    fn both_revisions_count_so_a_half_failing_version_passes_twenty_percent() {
        // 20% on a version failing half its answers: 100 of 1000, 10.0%, not greater than 10%.
        let reason = check(
            &spec(10, 1, None),
            &[at(0, 0), at(20, 50), at(40, 50)],
            &[OK, OK, ALARM],
        );
        assert_eq!(
            reason.as_deref(),
            Some(
                "period 3 (60 s, 1.0 s here): 200 of 1000 answers were 5xx (20%), over the threshold of 10% in 1 of 1 periods"
            )
        );
    }

    #[test]
    fn a_version_failing_thirty_percent_goes_past_twenty_and_stops_at_forty() {
        let mut alarm = ErrorRateAlarm::new("web-error-rate".into(), &spec(10, 1, None), S);
        let (states, reason) = run(&mut alarm, &[at(20, 30), at(40, 30)]);
        assert_eq!(states, [OK, ALARM]);
        let values: Vec<_> = alarm.history().iter().map(|d| d.value_percent).collect();
        assert_eq!(values, [Some(Percent::whole(6)), Some(Percent::whole(12))]);
        assert_eq!(
            reason.as_deref(),
            Some(
                "period 2 (60 s, 1.0 s here): 120 of 1000 answers were 5xx (12%), over the threshold of 10% in 1 of 1 periods"
            )
        );
    }

    #[test]
    fn the_threshold_is_exceeded_by_one_answer_in_a_thousand() {
        let spec = spec(10, 1, None);
        let mut alarm = ErrorRateAlarm::new("a".into(), &spec, S);
        for n in 0..1000 {
            alarm.record(MS * n, n < 100);
        }
        assert_eq!(alarm.evaluate(S), None, "100 of 1000 is 10%, not above");
        for n in 0..1000 {
            alarm.record(S + MS * n, n < 101);
        }
        assert!(alarm.evaluate(S * 2).is_some(), "101 of 1000 is above 10%");
        assert_eq!(
            alarm.reading().value_percent,
            Some(Percent::from_tenths(101))
        );
    }

    #[test]
    fn two_of_three_periods_must_breach() {
        let spec = spec(10, 3, Some(2));
        let bad = at(40, 50);
        let good = at(0, 0);
        let reason = check(
            &spec,
            &[bad, good, good, bad, good, bad],
            &[OK, OK, OK, OK, OK, ALARM],
        );
        assert_eq!(
            reason.as_deref(),
            Some(
                "period 6 (60 s, 1.0 s here): 200 of 1000 answers were 5xx (20%), over the threshold of 10% in 2 of 3 periods (ALARM at 2)"
            )
        );
        // Without datapointsToAlarm all three must breach (CloudWatch's default M = N).
        check(
            &self::spec(10, 3, None),
            &[bad, bad, good, bad, bad, bad],
            &[OK, OK, OK, OK, OK, ALARM],
        );
        // And the alarm goes back to OK once fewer than M of the last N breach.
        check(&spec, &[bad, bad, good, good], &[OK, ALARM, ALARM, OK]);
    }

    #[test]
    fn empty_periods_are_missing_data_and_do_not_breach() {
        let spec = spec(10, 3, Some(2));
        let bad = at(100, 100);
        check(&spec, &[bad, IDLE, bad], &[OK, OK, ALARM]);
        check(&spec, &[bad, IDLE, IDLE, bad], &[OK, OK, OK, OK]);
        let mut alarm = ErrorRateAlarm::new("a".into(), &spec, S);
        run(&mut alarm, &[IDLE]);
        let reading = alarm.reading();
        assert_eq!((reading.state, reading.value_percent), (OK, None));
        assert_eq!(
            reading.reason.as_deref(),
            Some(
                "period 1 (60 s, 1.0 s here): no answer (missing data, not breaching), over the threshold of 10% in 0 of 3 periods (ALARM at 2)"
            )
        );
    }

    #[test]
    fn the_state_is_insufficient_data_until_the_first_period_ends() {
        let mut alarm = ErrorRateAlarm::new("a".into(), &spec(10, 1, None), S);
        alarm.record(MS * 10, true);
        assert_eq!(alarm.evaluate(MS * 999), None);
        let reading = alarm.reading();
        assert_eq!(
            (
                reading.state,
                reading.threshold_percent,
                reading.value_percent
            ),
            (AlarmState::InsufficientData, Some(Percent::whole(10)), None)
        );
        assert_eq!(
            reading.reason.as_deref(),
            Some("no period has ended yet (periods of 60 s, 1.0 s here)")
        );
        assert!(alarm.evaluate(S).is_some(), "1 of 1 answers was 5xx");
    }

    #[test]
    fn a_period_straddling_a_step_holds_both_shares() {
        // Periods aligned to the rollout's start; a version failing every answer takes 20% from
        // 0.6 s (into period 1) and 40% from 1.6 s (into period 2).
        let mut alarm = ErrorRateAlarm::new("a".into(), &spec(10, 1, None), S);
        // One answer every millisecond; the new revision answers one in five (20%) or two in
        // five (40%) of them, always with a 5xx.
        for ms in 0..2000u32 {
            let new = match ms {
                0..600 => false,
                600..1600 => ms % 5 == 0,
                _ => ms % 5 == 1 || ms % 5 == 3,
            };
            alarm.record(MS * ms, new);
        }
        // Period 1: 400 ms at 20%, 80 of 1000: 8%, not caught though the step is 20%.
        assert_eq!(alarm.evaluate(S), None);
        // Period 2: 600 ms at 20% (120) and 400 ms at 40% (160): 28%.
        assert!(alarm.evaluate(S * 2).is_some());
        let shares: Vec<_> = alarm
            .history()
            .iter()
            .map(|d| (d.answers, d.errors, d.value_percent, d.breaching))
            .collect();
        assert_eq!(
            shares,
            [
                (1000, 80, Some(Percent::whole(8)), false),
                (1000, 280, Some(Percent::whole(28)), true)
            ]
        );
    }

    #[test]
    fn periods_follow_the_time_scale_and_late_answers_count_in_the_open_period() {
        let spec = ErrorRateAlarmSpec {
            period_seconds: 30,
            ..spec(10, 1, None)
        };
        let mut alarm = ErrorRateAlarm::new("a".into(), &spec, Duration::from_secs(2));
        assert_eq!(alarm.period(), S, "30 s of a 2 s minute");
        assert_eq!(alarm.next_evaluation(), S);
        alarm.record(MS * 500, false);
        assert_eq!(alarm.evaluate(MS * 1500), None);
        assert_eq!(alarm.next_evaluation(), S * 2);
        // Read before period 1 ended, recorded after it was evaluated: counted in period 2.
        alarm.record(MS * 900, true);
        alarm.evaluate(S * 2);
        let counts: Vec<(u64, u64, u64)> = alarm
            .history()
            .iter()
            .map(|d| (d.period, d.answers, d.errors))
            .collect();
        assert_eq!(counts, [(1, 1, 0), (2, 1, 1)]);
        assert_eq!(alarm.history()[1].end_ms, 2000);
        assert_eq!(
            alarm.reading().reason.as_deref(),
            Some(
                "period 2 (30 s, 1.0 s here): 1 of 1 answers were 5xx (100%), over the threshold of 10% in 1 of 1 periods"
            )
        );
    }

    #[test]
    fn a_long_silence_is_evaluated_without_walking_every_period() {
        let mut alarm = ErrorRateAlarm::new("a".into(), &spec(10, 2, Some(1)), MS);
        alarm.record(Duration::ZERO, true);
        assert!(alarm.evaluate(MS).is_some());
        // Ten million empty periods later, one more failing answer.
        let later = Duration::from_secs(10_000);
        alarm.record(later, true);
        assert_eq!(alarm.evaluate(later), None, "the silence put it back to OK");
        assert_eq!(alarm.state(), AlarmState::Ok);
        assert!(alarm.evaluate(later + MS).is_some());
        assert_eq!(alarm.history().last().map(|d| d.period), Some(10_000_001));
    }
}
