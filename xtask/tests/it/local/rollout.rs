//! ECS-native rollouts on the local runtime (the `rollout` and `gateway` apps): linear and canary
//! shifts watched by a load loop, test traffic by header, rollback on the error-rate alarm, pause
//! hooks

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use model::examples::{self, RolloutInputs};
use model::{
    AlarmState, DeploymentStatus, HookTargetType, HookTimeoutAction, HookTimeoutSpec,
    LifecycleHookSpec, LifecycleStage, Percent, StrategyKind,
};

use local_runtime::control::{ControlClient, Status};
use local_runtime::rollout::{LocalRollout, Shift};
use local_runtime::state_dir::RuntimeRecord;

use crate::local::{DEPLOY_TIMEOUT, Deployed, Http, Run, xtask, xtask_with};

/// One answer the load loop saw.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    /// When the request was sent and when its answer was read.
    pub(super) sent: Duration,
    pub(super) at: Duration,
    /// None: no answer at all (a failed request).
    pub(super) status: Option<u16>,
    /// `version` of the answer (for `/downstream/...` through front: of web's answer inside).
    pub(super) version: Option<String>,
    /// The answer (or web's inside front's) is an injected fault (`FAULT_RATE`).
    fault: bool,
}

/// Sends sequential GETs to `url` (with `header`) until stopped; every answer is a sample.
fn load_loop(
    t0: Instant,
    url: String,
    header: Option<(&'static str, &'static str)>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Vec<Sample>> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut samples = Vec::new();
        // Bounded whatever happens to the test: 120 s at most.
        while !stop.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(120) {
            let sent = t0.elapsed();
            let mut request = client.get(&url);
            if let Some((name, value)) = header {
                request = request.header(name, value);
            }
            let (status, version, fault) = runtime.block_on(async {
                match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let text = response.text().await.unwrap_or_default();
                        let body: serde_json::Value =
                            serde_json::from_str(&text).unwrap_or_default();
                        let inner = body.get("response").unwrap_or(&body);
                        let fault = inner["message"] == "fault injected";
                        (Some(status), version_of(&body), fault)
                    }
                    Err(_) => (None, None, false),
                }
            });
            samples.push(Sample {
                sent,
                at: t0.elapsed(),
                status,
                version,
                fault,
            });
        }
        samples
    })
}

/// web's version in a demo-app answer: its own, or the one inside front's `/downstream` answer.
fn version_of(body: &serde_json::Value) -> Option<String> {
    let inner = body.get("response").unwrap_or(body);
    inner["version"].as_str().map(str::to_owned)
}

/// Runs a load loop on `url` while `during` runs; returns what `during` returned and the samples.
fn under_load<T>(
    url: &str,
    header: Option<(&'static str, &'static str)>,
    during: impl FnOnce() -> T,
) -> (T, Vec<Sample>) {
    under_load_from(Instant::now(), url, header, during)
}

/// [`under_load`] with sample times counted from `t0`.
fn under_load_from<T>(
    t0: Instant,
    url: &str,
    header: Option<(&'static str, &'static str)>,
    during: impl FnOnce() -> T,
) -> (T, Vec<Sample>) {
    under_loads(t0, url, header, 1, during)
}

/// [`under_load_from`] with `loops` load loops side by side.
pub(super) fn under_loads<T>(
    t0: Instant,
    url: &str,
    header: Option<(&'static str, &'static str)>,
    loops: usize,
    during: impl FnOnce() -> T,
) -> (T, Vec<Sample>) {
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..loops)
        .map(|_| load_loop(t0, url.to_owned(), header, Arc::clone(&stop)))
        .collect();
    // Some of the old state before anything moves.
    std::thread::sleep(Duration::from_millis(700));
    let out = during();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let mut samples: Vec<Sample> = load
        .into_iter()
        .flat_map(|l| l.join().expect("the load loop ran"))
        .collect();
    samples.sort_by_key(|s| s.sent);
    (out, samples)
}

/// One poll of the supervisor's rollout status, read at some instant between `sent` and `at`:
/// the production share on the new revision (0 before the rollout, 100 once it succeeded; None
/// when it did not go forward).
#[derive(Debug, Clone, Copy)]
pub(super) struct SplitPoll {
    sent: Duration,
    at: Duration,
    pub split: Option<u32>,
}

/// Polls the supervisor's status every 20 ms from `t0` until stopped (bounded: 120 s); `read`
/// makes each poll of the answer (`None`: none came) and when it was sent and read, and may
/// drop it.
fn poll_status<T: Send + 'static>(
    stack: &Deployed,
    t0: Instant,
    stop: Arc<AtomicBool>,
    read: impl Fn(Option<Status>, Duration, Duration) -> Option<T> + Send + 'static,
) -> JoinHandle<Vec<T>> {
    let record = stack.record();
    std::thread::spawn(move || {
        let client = ControlClient::new(&record.control_url, &record.token).unwrap();
        let mut polls = Vec::new();
        while !stop.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(120) {
            let sent = t0.elapsed();
            let status = client.status(Duration::from_secs(5)).ok();
            polls.extend(read(status, sent, t0.elapsed()));
            std::thread::sleep(Duration::from_millis(20));
        }
        polls
    })
}

/// Polls the supervisor's rollout status every 20 ms from `t0` until stopped.
pub(super) fn watch_split(
    stack: &Deployed,
    t0: Instant,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Vec<SplitPoll>> {
    poll_status(stack, t0, stop, |status, sent, at| {
        let split = status.and_then(|s| match s.rollout {
            None => Some(0),
            Some(r) => match r.progress.status {
                DeploymentStatus::InProgress => Some(r.progress.production_percent.tenths()),
                DeploymentStatus::Successful => Some(1000),
                _ => None,
            },
        });
        Some(SplitPoll { sent, at, split })
    })
}

/// For each production share (tenths) the status showed: (requests made entirely between two
/// polls that both showed it, how many of them version 2 answered). A poll reads the status at
/// some instant of its span, so the one before a request must have ended before it was sent and
/// the one after must have started after its answer came (a poll that stalls on a loaded
/// machine may have read the status early in its span).
pub(super) fn by_split(samples: &[Sample], polls: &[SplitPoll]) -> BTreeMap<u32, (usize, usize)> {
    let mut levels: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    for sample in samples {
        let before = polls.iter().rev().find(|p| p.at <= sample.sent);
        let after = polls.iter().find(|p| p.sent >= sample.at);
        if let (Some(SplitPoll { split: Some(a), .. }), Some(SplitPoll { split: Some(b), .. })) =
            (before, after)
            && a == b
        {
            let level = levels.entry(*a).or_default();
            level.0 += 1;
            level.1 += usize::from(sample.version.as_deref() == Some("2"));
        }
    }
    levels
}

/// The share of the load version 2 answered at each production share of `levels` ([`by_split`])
/// is that share: none at 0, all at 100%, and within `within` (0 to 1) in between where at least
/// 30 requests saw it (fewer draws say little).
pub(super) fn assert_shares_match(levels: &BTreeMap<u32, (usize, usize)>, within: f64) {
    eprintln!("(production tenths, (requests, answered by 2)): {levels:?}");
    for (tenths, (requests, new)) in levels {
        let share = *new as f64 / *requests as f64;
        let expected = f64::from(*tenths) / 1000.0;
        match tenths {
            0 | 1000 => assert_eq!(share, expected, "{levels:?}"),
            _ if *requests >= 30 => assert!((share - expected).abs() < within, "{levels:?}"),
            _ => {}
        }
    }
}

/// Every one of `samples` (more than 10, `what` sent `when`) answered 200 by `version`; prints
/// the figures.
fn all_answered_by(when: &str, what: &str, samples: &[Sample], version: &str) {
    eprintln!(
        "{when}, {what}: {} requests, by version {:?}",
        samples.len(),
        versions(samples)
    );
    assert!(samples.len() > 10, "{what}: {}", samples.len());
    assert!(
        samples
            .iter()
            .all(|s| s.status == Some(200) && s.version.as_deref() == Some(version)),
        "{what}: {:?}",
        versions(samples)
    );
}

pub(super) fn assert_no_failure(samples: &[Sample]) {
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.status != Some(200)).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed, first: {:?}",
        failed.len(),
        samples.len(),
        failed.first()
    );
    assert!(
        samples.len() > 200,
        "the load loop sent only {} requests",
        samples.len()
    );
}

/// Every task of web runs `version` (the other revision's are stopped).
fn assert_web_runs_only(stack: &Deployed, version: &str) {
    assert_runs_only(stack, "web", version);
}

/// Every task of `service` runs `version` (the other revision's are stopped).
fn assert_runs_only(stack: &Deployed, service: &str, version: &str) {
    let found = stack
        .status()
        .services
        .into_iter()
        .find(|s| s.name == service);
    let tasks = found.unwrap_or_else(|| panic!("{service} runs")).tasks;
    assert!(tasks.iter().all(|t| t.version == version), "{tasks:?}");
}

/// Checks that the deploy `run` failed with web rolled back to version 1, and returns the
/// rollout's progress.
pub(super) fn rolled_back(stack: &Deployed, run: &Run) -> model::RolloutProgress {
    assert!(!run.success, "a rolled-back deploy fails: {}", run.stdout);
    assert!(
        run.stdout.contains("web: rolled back to 1"),
        "{}",
        run.stdout
    );
    let p = progress(stack);
    assert_eq!(p.status, DeploymentStatus::RollbackSuccessful);
    p
}

/// The rollout's progress as `status --local --json` shows it.
pub(super) fn progress(stack: &Deployed) -> model::RolloutProgress {
    stack.status().rollout.expect("a rollout ran").progress
}

/// `deploy <app> --local --stack-name <stack> <extra>`, as a user types it.
pub(super) fn deploy(app: &str, stack: &str, extra: &[&str]) -> Run {
    let mut args = vec!["deploy", app, "--local", "--stack-name", stack];
    args.extend_from_slice(extra);
    xtask_with(&args, &[], DEPLOY_TIMEOUT)
}

/// Rolls web out to version 2 with `extra` deploy arguments while a load loop runs on web's
/// listener and the status is polled; checks that the production share went through `steps`
/// (tenths) in order and that the load saw each share, without a failed request.
fn check_rollout_under_load(stack: &Deployed, extra: &[&str], steps: &[u32]) -> Run {
    let web = stack.service_url("web");
    check_shift_under_load(stack, "web", &web, extra, steps).0
}

/// Rolls `service` out to version 2 with `extra` deploy arguments while a load loop runs on
/// `url` and the status is polled: as [`check_rollout_under_load`]; also returns the samples.
fn check_shift_under_load(
    stack: &Deployed,
    service: &str,
    url: &str,
    extra: &[&str],
    steps: &[u32],
) -> (Run, Vec<Sample>) {
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let watching = watch_split(stack, t0, Arc::clone(&stop));
    let mut args = vec!["--version", "2", "--minute", "1s"];
    args.extend_from_slice(extra);
    let (run, samples) = under_load_from(t0, url, None, || stack.deploy(&args));
    stop.store(true, Ordering::SeqCst);
    let polls = watching.join().unwrap();
    assert!(run.success, "{}", run.error_line());
    assert!(
        run.stdout
            .contains(&format!("{service}: rollout to 2 finished")),
        "{}",
        run.stdout
    );
    // deploy said what the alarm catches at each step before it started.
    assert!(
        run.stderr.contains(&format!(
            "{service}: its error-rate alarm fires when more than 10% of all its answers are 5xx"
        )),
        "{}",
        run.stderr
    );
    assert_no_failure(&samples);

    // The engine moved production through every step in order, each after at least one model
    // minute (every bake of the rollout app is one or more), as its own record says.
    let p = stack.status().rollout.expect("a rollout ran");
    let shifts: Vec<u32> = p.shifts.iter().map(|s| s.percent.tenths()).collect();
    assert_eq!(shifts, steps[1..], "{:?}", p.shifts);
    for pair in p.shifts.windows(2) {
        assert!(
            pair[1].at_ms - pair[0].at_ms >= p.minute_ms,
            "a step shorter than its bake: {:?}",
            p.shifts
        );
    }
    // What the status showed moved the same way, never back. A poll that stalls on a loaded
    // machine can miss a step; the engine's record above cannot.
    let mut seen: Vec<u32> = polls.iter().filter_map(|p| p.split).collect();
    seen.dedup();
    let mut rest = steps.iter();
    assert!(
        seen.iter().all(|s| rest.any(|step| step == s)),
        "the polls saw {seen:?}, not a part of {steps:?} in order: {polls:?}"
    );
    assert_eq!(
        (seen.first(), seen.last()),
        (steps.first(), steps.last()),
        "{polls:?}"
    );
    // What the load loop saw at each step matches it (a few hundred draws: within 12 points).
    let levels = by_split(&samples, &polls);
    assert_shares_match(&levels, 0.12);
    for tenths in &seen {
        assert!(
            levels.get(tenths).is_some_and(|(n, _)| *n >= 20),
            "too few requests at {tenths}: {levels:?}"
        );
    }
    let p = progress(stack);
    assert_eq!(
        (p.status, p.target.as_deref()),
        (DeploymentStatus::Successful, Some("2"))
    );
    assert_runs_only(stack, service, "2");
    (run, samples)
}

#[test]
fn linear_rollout_moves_production_in_five_steps_without_a_failed_request() {
    let (stack, _) = Deployed::new("rollout", "linear", &[]);
    let run = check_rollout_under_load(&stack, &[], &[0, 200, 400, 600, 800, 1000]);
    for step in ["20%", "40%", "60%", "80%", "100%"] {
        assert!(
            run.stdout.contains(&format!("production {step} on 2")),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn canary_moves_ten_percent_then_the_rest() {
    let (stack, _) = Deployed::new("rollout", "canary", &["--strategy", "canary"]);
    let run = check_rollout_under_load(&stack, &["--strategy", "canary"], &[0, 100, 1000]);
    assert!(
        run.stdout.contains("following its CANARY deployment"),
        "{}",
        run.stdout
    );
}

/// Deploys web's version 3 with `FAULT_RATE=fault` at `--minute minute` while two load loops
/// call web through the gateway and front, that is over Service Connect, where the stack's
/// error-rate alarm counts answers. Checks that it rolled back on that alarm with web:1 serving
/// everything afterwards, and returns the status and the samples.
fn rolled_back_on_the_alarm(
    stack: &Deployed,
    minute: &str,
    fault: &str,
) -> (LocalRollout, Vec<Sample>, Run) {
    let url = format!("{}/downstream/web.rollout", stack.gateway_url());
    let env = format!("FAULT_RATE={fault}");
    let args = ["--version", "3", "--minute", minute, "--env", &env];
    let (run, samples) = under_loads(Instant::now(), &url, None, 2, || stack.deploy(&args));
    let rollout = stack.status().rollout.expect("a rollout ran");
    let p = &rollout.progress;
    assert!(!run.success, "a rolled-back deploy fails: {}", run.stdout);
    assert!(
        run.stdout.contains("web: rolled back to 1"),
        "{}",
        run.stdout
    );
    assert_eq!(p.status, DeploymentStatus::RollbackSuccessful);
    let alarm = format!("{}-web-error-rate", stack.stack);
    assert_eq!(p.alarms_triggered, std::slice::from_ref(&alarm));
    let reading = p.alarms.first().expect("the alarm's reading");
    assert_eq!(
        (
            reading.name.as_str(),
            reading.state,
            reading.threshold_percent
        ),
        (alarm.as_str(), AlarmState::Alarm, Some(Percent::whole(10)))
    );

    // Every request was answered; only version 3 failed, and it took traffic.
    assert!(
        samples.iter().all(|s| s.status == Some(200)),
        "a request failed"
    );
    assert!(
        samples
            .iter()
            .all(|s| !s.fault || s.version.as_deref() == Some("3")),
        "a fault from another version"
    );
    assert!(
        samples.iter().any(|s| s.fault),
        "the faulty version took traffic"
    );
    // Afterwards the old version serves everything, and version 3's task is gone.
    let http = Http::new();
    for _ in 0..50 {
        assert_eq!(version_of(&http.json(&url)).as_deref(), Some("1"));
    }
    assert_web_runs_only(stack, "1");
    (rollout, samples, run)
}

/// The value in a reason `... answers were 5xx (11.8%), ...`, in tenths.
fn reason_value(reason: &str) -> u32 {
    let value = reason
        .split_once("answers were 5xx (")
        .and_then(|(_, rest)| rest.split_once("%)"))
        .and_then(|(value, _)| Percent::parse(value))
        .unwrap_or_else(|| panic!("no value in {reason}"));
    value.tenths()
}

/// The new revision's average production share (0 to 1) over `[from, to)` ms since the rollout
/// began, from the engine's record of its shifts.
fn production_over(shifts: &[Shift], from: u64, to: u64) -> f64 {
    let mut weighted = 0;
    let mut share = 0;
    let mut at = from;
    for shift in shifts.iter().filter(|s| s.at_ms < to) {
        if shift.at_ms > at {
            weighted += u64::from(share) * (shift.at_ms - at);
            at = shift.at_ms;
        }
        share = shift.percent.tenths();
    }
    weighted += u64::from(share) * (to - at);
    weighted as f64 / 1000.0 / (to - from) as f64
}

/// The acceptance of issue 16: the alarm sees both revisions, as AWS's does. A version failing
/// 30% of its answers makes about 6% of all answers fail at the 20% step, not over the 10%
/// threshold, so the rollout goes on; at 40% it is about 12%, and the alarm rolls it back.
#[test]
fn a_version_failing_thirty_percent_passes_twenty_and_is_rolled_back_by_the_combined_share() {
    let (stack, _) = Deployed::new("rollout", "fault30", &[]);
    let (rollout, samples, run) = rolled_back_on_the_alarm(&stack, "1s", "0.3");
    let p = &rollout.progress;
    // `deploy` showed the alarm's value at the periods before it fired.
    let ok = format!("alarm {}-web-error-rate OK ", stack.stack);
    assert!(run.stdout.contains(&ok), "{}", run.stdout);
    let shifts: Vec<u32> = rollout.shifts.iter().map(|s| s.percent.tenths()).collect();
    assert!(shifts.contains(&400), "went past 20%: {shifts:?}");
    assert!(
        !shifts.contains(&1000),
        "rolled back before 100%: {shifts:?}"
    );
    assert_eq!(shifts.last(), Some(&0));

    // Each period's 5xx share is what both revisions together give: 30% of the new revision's
    // time-weighted production share in it (periods straddle steps: they start with the
    // rollout, the steps once the new task is healthy).
    let points = &rollout.alarm_datapoints;
    eprintln!("shifts {:?}\ndatapoints {points:?}", rollout.shifts);
    let mut judged = 0;
    for d in points.iter().filter(|d| d.answers >= 300) {
        let share = production_over(&rollout.shifts, d.end_ms - rollout.minute_ms, d.end_ms);
        let expected = 0.3 * share;
        let seen = d.errors as f64 / d.answers as f64;
        // Four standard deviations of the period's draws (about 6 points at 500 answers): far
        // below the 30% the new revision alone would show at any step.
        let sigma = (expected * (1.0 - expected) / d.answers as f64).sqrt();
        assert!(
            (seen - expected).abs() < (4.0 * sigma).max(0.02),
            "period {}: {:.1}% seen, {:.1}% expected at {:.0}% production: {points:?}",
            d.period,
            seen * 100.0,
            expected * 100.0,
            share * 100.0
        );
        if share <= 0.2 {
            assert!(!d.breaching, "at most 20% on 3 is not over 10%: {d:?}");
        }
        judged += 1;
    }
    assert!(judged >= 1, "too few answers per period: {points:?}");
    assert!(
        samples.len() > 600,
        "the load loops sent only {} requests",
        samples.len()
    );

    let reason = p.rollback_reason.as_deref().unwrap_or_default();
    let alarm = format!("alarm {}-web-error-rate: period ", stack.stack);
    assert!(reason.starts_with(&alarm), "{reason}");
    assert!(reason.contains(" (60 s, 1.0 s here): "), "{reason}");
    assert!(
        reason.ends_with(", over the threshold of 10% in 1 of 1 periods"),
        "{reason}"
    );
    // Over 10% in exact integers (81 of 809 breaches), shown in tenths: 10.0% is a breaching
    // value too, so the lower bound is 100, not 101.
    let value = reason_value(reason);
    assert!((100..=300).contains(&value), "{reason}");
    assert_eq!(p.alarms[0].value_percent, Some(Percent::from_tenths(value)));

    // `status` shows the alarm against its threshold, and each period's figures.
    let status = stack.run("status", &[]);
    let shown = format!(
        "alarm {}-web-error-rate ALARM {}% (threshold 10%)",
        stack.stack,
        Percent::from_tenths(value)
    );
    assert!(status.stdout.contains(&shown), "{}", status.stdout);
    let last = points.last().expect("a period was evaluated");
    let period = format!(
        "{} {}% ({} of {}) over",
        last.period,
        Percent::from_tenths(value),
        last.errors,
        last.answers
    );
    assert!(
        status.stdout.contains("alarm periods: 1 "),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains(&period), "{}", status.stdout);
}

/// A version failing every answer is caught during the first step: 20% of the answers fail,
/// over the threshold. Periods start with the rollout, the first step once the new task is
/// healthy: at `--minute 3s` that is well within the first half of the first period, which so
/// holds more than half a step of the new revision (over 10%) and ends before the second step.
#[test]
fn a_version_failing_everything_is_rolled_back_during_the_first_step() {
    let (stack, _) = Deployed::new("rollout", "fault100", &[]);
    let (rollout, _, _) = rolled_back_on_the_alarm(&stack, "3s", "1.0");
    let shifts: Vec<u32> = rollout.shifts.iter().map(|s| s.percent.tenths()).collect();
    assert_eq!(shifts, [200, 0], "{:?}", rollout.shifts);
    let reason = rollout.progress.rollback_reason.unwrap_or_default();
    assert!(reason.contains("period 1 (60 s, 3.0 s here): "), "{reason}");
    // Both revisions count: at a 20% step about 20% of the answers fail (each request draws its
    // revision), not the new revision's own 100%.
    assert!((101..=250).contains(&reason_value(&reason)), "{reason}");
}

/// A pause at POST_TEST_TRAFFIC_SHIFT that rolls back if nobody answers within 10 hours.
pub(super) fn pause_hook() -> LifecycleHookSpec {
    LifecycleHookSpec {
        target_type: HookTargetType::Pause,
        stages: vec![LifecycleStage::PostTestTrafficShift],
        hook_target_arn: None,
        role_arn: None,
        create_role: false,
        timeout: Some(HookTimeoutSpec {
            minutes: 600,
            action: HookTimeoutAction::Rollback,
        }),
        local_command: None,
    }
}

/// The rollout stack with `hook` on web, web at `version`, as a JSON description in `dir` (the
/// app's `--version` would move front too).
fn rollout_json(dir: &Path, stack: &str, version: u32, hook: &LifecycleHookSpec) -> String {
    web_json(dir, stack, version, |d| {
        d.lifecycle_hooks = vec![hook.clone()]
    })
}

/// The rollout stack with web at `version` and its deployment changed by `edit`, as a JSON
/// description in `dir`.
fn web_json(
    dir: &Path,
    stack: &str,
    version: u32,
    edit: impl Fn(&mut model::DeploymentSpec),
) -> String {
    web_service_json(dir, stack, version, |web| edit(&mut web.deployment))
}

/// The rollout stack with web at `version` and changed by `edit`, as a JSON description in
/// `dir`.
pub(super) fn web_service_json(
    dir: &Path,
    stack: &str,
    version: u32,
    edit: impl Fn(&mut model::ServiceSpec),
) -> String {
    let mut spec = examples::rollout(
        stack,
        &RolloutInputs {
            version,
            strategy: StrategyKind::Linear,
        },
    );
    let web = spec.services.iter_mut().find(|s| s.name == "web").unwrap();
    edit(web);
    let path = dir.join(format!("{stack}-v{version}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    path.display().to_string()
}

/// The rollout stack with `hook` at version 1, deployed, and the description of version 2. The
/// folder of the descriptions is dropped before the stack's guard runs `destroy --stack-name`:
/// a stack whose description is gone must still be destroyable.
pub(super) fn deploy_with_hook(
    test: &str,
    hook: &LifecycleHookSpec,
) -> (Deployed, String, tempfile::TempDir) {
    deploy_web_json(test, |d| d.lifecycle_hooks = vec![hook.clone()])
}

/// [`deploy_with_hook`] with web's deployment changed by `edit`.
fn deploy_web_json(
    test: &str,
    edit: impl Fn(&mut model::DeploymentSpec),
) -> (Deployed, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let name = crate::local::stack_name(test);
    let v1 = web_json(dir.path(), &name, 1, &edit);
    let v2 = web_json(dir.path(), &name, 2, &edit);
    let stack = Deployed {
        app: v1,
        stack: name,
    };
    let run = stack.deploy(&[]);
    assert!(run.success, "{}", run.error_line());
    (stack, v2, dir)
}

/// Deploys version 2 in the background and waits until it pauses at its hook.
fn start_paused(stack: &Deployed, v2: &str) -> JoinHandle<Run> {
    let (v2, name) = (v2.to_owned(), stack.stack.clone());
    let deploying = std::thread::spawn(move || deploy(&v2, &name, &["--minute", "200ms"]));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(r) = stack.status().rollout
            && r.progress.paused_at.is_some()
        {
            assert_eq!(
                r.progress.paused_at,
                Some(model::DeploymentStage::PostTestTrafficShift)
            );
            assert!(r.progress.test_traffic_on_target);
            return deploying;
        }
        assert!(Instant::now() < deadline, "the rollout never paused");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn test_traffic_reaches_the_new_version_before_production_and_a_pause_continues() {
    let (stack, v2, _dir) = deploy_with_hook("pause-go", &pause_hook());
    let gateway = stack.gateway_url();
    let deploying = start_paused(&stack, &v2);

    // Through the gateway, front calls web over Service Connect and passes the header on.
    let url = format!("{gateway}/downstream/web.rollout");
    let http = Http::new();
    let test_header = ("x-amzn-ecs-blue-green-test", "true");
    let (_, tested) = under_load(&url, Some(test_header), || {
        std::thread::sleep(Duration::from_secs(1))
    });
    let (_, plain) = under_load(&url, None, || std::thread::sleep(Duration::from_secs(1)));
    assert!(
        tested.iter().all(|s| s.version.as_deref() == Some("2")),
        "test traffic: {:?}",
        tested.first()
    );
    assert!(
        plain.iter().all(|s| s.version.as_deref() == Some("1")),
        "plain traffic: {:?}",
        plain.first()
    );
    assert!(tested.len() > 20 && plain.len() > 20);
    // A wrong value is not test traffic (the rule asks for `true`).
    let wrong = ("x-amzn-ecs-blue-green-test", "false");
    let (_, wrong) = under_load(&url, Some(wrong), || {
        std::thread::sleep(Duration::from_millis(300))
    });
    assert!(
        wrong.iter().all(|s| s.version.as_deref() == Some("1")),
        "{:?}",
        wrong.first()
    );

    // Another deploy waits for this one to end.
    let busy = deploy(&v2, &stack.stack, &[]);
    assert!(!busy.success);
    assert!(
        busy.error_line()
            .contains("the rollout of web is still in progress"),
        "{}",
        busy.error_line()
    );

    let go = stack.run("continue", &[]);
    assert!(go.success, "{}", go.error_line());
    let run = deploying.join().unwrap();
    assert!(run.success, "{}", run.error_line());
    assert!(
        run.stdout
            .contains("web waits at POST_TEST_TRAFFIC_SHIFT: run `cargo xtask continue"),
        "{}",
        run.stdout
    );
    assert_eq!(progress(&stack).status, DeploymentStatus::Successful);
    assert_eq!(version_of(&http.json(&url)).as_deref(), Some("2"));
    // Nothing left to continue.
    let again = stack.run("continue", &[]);
    assert!(!again.success);
    assert!(
        again.error_line().contains("is not paused at a hook"),
        "{}",
        again.error_line()
    );
}

/// A rollout whose model brings a new test traffic rule routes test traffic by it, through a
/// caller: ECS applies the new revision's Service Connect configuration, and front's header
/// list (from the model) passes the new header on.
#[test]
fn a_new_test_rule_routes_during_the_rollout_that_brings_it() {
    let (stack, _, dir) = deploy_with_hook("new-rule", &pause_hook());
    let v2 = web_service_json(dir.path(), &stack.stack, 2, |web| {
        web.deployment.lifecycle_hooks = vec![pause_hook()];
        web.service_connect.as_mut().unwrap().test_traffic = Some(model::TestTrafficSpec {
            header: "x-canary".into(),
            value: "yes".into(),
        });
    });
    let args = ["diff", &v2, "--local", "--stack-name", &stack.stack];
    let diff = xtask_with(&args, &[], DEPLOY_TIMEOUT);
    assert!(diff.success, "{}", diff.error_line());
    assert!(
        diff.stdout
            .contains("test traffic: x-amzn-ecs-blue-green-test: true -> x-canary: yes"),
        "{}",
        diff.stdout
    );
    let deploying = start_paused(&stack, &v2);

    let url = format!("{}/downstream/web.rollout", stack.gateway_url());
    let during = || std::thread::sleep(Duration::from_secs(1));
    let (_, canary) = under_load(&url, Some(("x-canary", "yes")), during);
    let (_, plain) = under_load(&url, None, during);
    // The old rule no longer marks test traffic.
    let (_, old_rule) = under_load(&url, Some(("x-amzn-ecs-blue-green-test", "true")), during);
    let versions = |samples: &[Sample]| {
        let mut seen: Vec<Option<String>> = samples.iter().map(|s| s.version.clone()).collect();
        seen.dedup();
        seen
    };
    assert_eq!(
        versions(&canary),
        [Some("2".to_owned())],
        "{:?}",
        canary.first()
    );
    assert_eq!(
        versions(&plain),
        [Some("1".to_owned())],
        "{:?}",
        plain.first()
    );
    assert_eq!(
        versions(&old_rule),
        [Some("1".to_owned())],
        "{:?}",
        old_rule.first()
    );
    assert!(canary.len() > 20 && plain.len() > 20);

    let go = stack.run("continue", &[]);
    assert!(go.success, "{}", go.error_line());
    let run = deploying.join().unwrap();
    assert!(run.success, "{}", run.error_line());
    assert!(
        run.stdout
            .contains("test traffic: x-amzn-ecs-blue-green-test: true -> x-canary: yes"),
        "{}",
        run.stdout
    );
    assert_eq!(progress(&stack).status, DeploymentStatus::Successful);
    assert_eq!(version_of(&Http::new().json(&url)).as_deref(), Some("2"));
}

#[test]
fn a_pause_rolled_back_keeps_the_old_version() {
    let (stack, v2, _dir) = deploy_with_hook("pause-back", &pause_hook());
    let web = stack.service_url("web");
    let deploying = start_paused(&stack, &v2);
    let back = stack.run("rollback", &[]);
    assert!(back.success, "{}", back.error_line());
    let run = deploying.join().unwrap();
    assert!(!run.success, "{}", run.stdout);
    let p = progress(&stack);
    assert_eq!(p.status, DeploymentStatus::RollbackSuccessful);
    assert_eq!(
        p.rollback_reason.as_deref(),
        Some("rolled back by the operator (cargo xtask rollback)")
    );
    let status = stack.run("status", &[]);
    assert!(
        status.stdout.contains("ROLLBACK_SUCCESSFUL"),
        "{}",
        status.stdout
    );
    let http = Http::new();
    for _ in 0..20 {
        assert_eq!(http.json(&web)["version"], "1");
    }
}

#[test]
fn gateway_app_splits_half_and_half_and_rewrites_prefixes() {
    let (stack, _) = Deployed::new("gateway", "alb", &[]);
    let gateway = stack.gateway_url();
    let http = Http::new();
    assert_eq!(http.json(&format!("{gateway}/blue"))["service"], "blue");
    assert_eq!(http.json(&format!("{gateway}/green"))["service"], "green");
    let through = http.json(&format!("{gateway}/split/downstream/blue.gateway"));
    assert_eq!(through["response"]["service"], "blue", "{through}");
    let (status, _) = http.get(&format!("{gateway}/other"));
    assert_eq!(status, 404);

    let blue = (0..10_000)
        .filter(|_| http.json(&format!("{gateway}/split"))["service"] == "blue")
        .count();
    assert!(
        (4_800..=5_200).contains(&blue),
        "blue answered {blue} of 10000"
    );
}

#[test]
fn a_lambda_hook_whose_local_command_fails_rolls_back() {
    let hook = LifecycleHookSpec {
        target_type: HookTargetType::AwsLambda,
        stages: vec![LifecycleStage::PostScaleUp],
        hook_target_arn: Some("arn:aws:lambda:eu-west-1:123456789012:function:check".into()),
        role_arn: Some("arn:aws:iam::123456789012:role/hooks".into()),
        create_role: false,
        timeout: None,
        local_command: Some(vec!["sh".into(), "-c".into(), "exit 3".into()]),
    };
    let (stack, v2, _dir) = deploy_with_hook("lambda", &hook);
    let run = deploy(&v2, &stack.stack, &["--minute", "200ms"]);
    assert!(!run.success, "{}", run.stdout);
    let p = progress(&stack);
    assert_eq!(p.status, DeploymentStatus::RollbackSuccessful);
    assert_eq!(
        p.rollback_reason.as_deref(),
        Some(
            "the lifecycle hook at POST_SCALE_UP failed: `sh -c exit 3` ended with exit status: 3"
        )
    );
    assert_eq!(Http::new().json(&stack.service_url("web"))["version"], "1");
}

#[test]
fn a_lambda_hook_without_a_local_command_is_noted_as_left_out() {
    let hook = LifecycleHookSpec {
        target_type: HookTargetType::AwsLambda,
        stages: vec![
            LifecycleStage::PostScaleUp,
            LifecycleStage::PostTestTrafficShift,
        ],
        hook_target_arn: Some("arn:aws:lambda:eu-west-1:123456789012:function:check".into()),
        role_arn: Some("arn:aws:iam::123456789012:role/hooks".into()),
        create_role: false,
        // Two stages at ECS's default 1,440 minutes would pass CloudFormation's 36 hours.
        timeout: Some(HookTimeoutSpec {
            minutes: 60,
            action: HookTimeoutAction::Rollback,
        }),
        local_command: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let name = crate::local::stack_name("lambda-note");
    let stack = Deployed {
        app: rollout_json(dir.path(), &name, 1, &hook),
        stack: name,
    };
    // The note comes before anything starts: a missing binary (the supervisor when it is not
    // built, else demo-app) ends the deploy right after.
    let run = xtask_with(
        &[
            "deploy",
            &stack.app,
            "--local",
            "--stack-name",
            &stack.stack,
        ],
        &[
            ("MESHTEST_LOCAL_NO_BUILD", "1"),
            ("MESHTEST_LOCAL_DEMO_APP", "/nonexistent/demo-app"),
        ],
        DEPLOY_TIMEOUT,
    );
    assert!(!run.success, "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "note: web's Lambda hook at POST_SCALE_UP, POST_TEST_TRAFFIC_SHIFT has no localCommand: a local rollout leaves it out (it runs on AWS only)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.error_line().contains("missing "), "{}", run.stderr);
}

/// Sends SIGCONT to a task the test stopped when dropped, so nothing stays frozen if the test
/// fails before the runtime stops it.
pub(super) struct Frozen(u32);

impl Frozen {
    /// SIGSTOP: the process stays alive, its socket still accepts connections, nothing answers.
    pub(super) fn freeze(pid: u32) -> Frozen {
        signal(pid, "STOP");
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if crate::local::pid_runs(self.0) {
            signal(self.0, "CONT");
        }
    }
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}: {status}");
}

/// Waits until web runs a task of version 2 beside version 1's; its id and pid.
pub(super) fn new_web_task(stack: &Deployed, not: Option<&str>) -> (String, u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let web = stack
            .status()
            .services
            .into_iter()
            .find(|s| s.name == "web");
        let task = web
            .into_iter()
            .flat_map(|s| s.tasks)
            .find(|t| t.version == "2" && Some(t.id.as_str()) != not);
        if let Some(task) = task {
            return (task.id, task.pid);
        }
        assert!(Instant::now() < deadline, "no new task of web's version 2");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the process `pid` is gone (the runtime stops a task that stopped answering).
fn assert_gone_soon(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while crate::local::pid_runs(pid) {
        assert!(Instant::now() < deadline, "task process {pid} still runs");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_new_task_that_stops_answering_rolls_back() {
    let (stack, _) = Deployed::new("rollout", "hang", &[]);
    let diff = stack.run("diff", &["--version", "2"]);
    assert!(
        diff.stdout
            .contains("[~] service web (rolls out: LINEAR 20% every 1 min, bake 2 min)"),
        "{}",
        diff.stdout
    );
    // What web's alarm catches at each step, before anything rolls out (issue 16).
    assert!(
        diff.stderr
            .contains("  at 40%: catches a new version failing more than 25% of its requests"),
        "{}",
        diff.stderr
    );
    // Six model minutes of bakes at 5 s each: 30 s if nothing goes wrong.
    let (app, name) = (stack.app.clone(), stack.stack.clone());
    let deploying =
        std::thread::spawn(move || deploy(&app, &name, &["--version", "2", "--minute", "5s"]));
    let (id, pid) = new_web_task(&stack, None);
    let frozen = Frozen::freeze(pid);
    let since = Instant::now();
    let run = deploying.join().unwrap();
    let took = since.elapsed();
    eprintln!(
        "rolled back {:.2} s after {id} stopped answering",
        took.as_secs_f64()
    );
    let p = rolled_back(&stack, &run);
    assert_eq!(
        p.rollback_reason.unwrap_or_default(),
        format!(
            "the new tasks are not healthy: {id} stopped answering its health check (3 in a row, the last: GET / did not answer within 1 s)"
        )
    );
    // Three probes of 1 s, 0.83 s apart: long before the rollout's 30 s.
    assert!(took < Duration::from_secs(15), "{took:?}");
    let http = Http::new();
    for _ in 0..20 {
        assert_eq!(http.json(&stack.service_url("web"))["version"], "1");
    }
    assert_web_runs_only(&stack, "1");
    assert_gone_soon(frozen.0);
}

#[test]
fn without_the_circuit_breaker_a_task_that_stops_answering_is_replaced() {
    let (stack, v2, _dir) = deploy_web_json("hang-off", |d| {
        d.circuit_breaker = model::CircuitBreakerSpec {
            enable: false,
            rollback: false,
        };
    });
    // Six model minutes of bakes at 3 s each: 18 s.
    let name = stack.stack.clone();
    let deploying = std::thread::spawn(move || deploy(&v2, &name, &["--minute", "3s"]));
    let (id, pid) = new_web_task(&stack, None);
    let frozen = Frozen::freeze(pid);
    let (replacement, _) = new_web_task(&stack, Some(&id));
    let run = deploying.join().unwrap();
    assert!(run.success, "{}", run.error_line());
    let p = progress(&stack);
    assert_eq!(
        (p.status, p.rollback_reason),
        (DeploymentStatus::Successful, None)
    );
    let web = stack
        .status()
        .services
        .into_iter()
        .find(|s| s.name == "web");
    let ids: Vec<String> = web
        .into_iter()
        .flat_map(|s| s.tasks)
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, [replacement]);
    assert_web_runs_only(&stack, "2");
    assert_gone_soon(frozen.0);
}

/// `kill -9` of the supervisor at a middle step of a LINEAR rollout, under load through the
/// gateway and web's Service Connect name: the data plane is a process of its own, so every
/// request keeps being answered, by both versions at the share the rollout had reached (never
/// jumped to 100%); destroy then leaves no process of the stack behind.
#[test]
fn the_data_plane_keeps_serving_when_the_supervisor_is_killed_mid_rollout() {
    let (stack, _) = Deployed::new("rollout", "killed", &[]);
    let record = stack.record();
    let plane = record
        .dataplane
        .clone()
        .expect("runtime.json names the data plane");
    let url = format!("{}/downstream/web.rollout", stack.gateway_url());
    let client = ControlClient::new(&record.control_url, &record.token).unwrap();
    let (app, name) = (stack.app.clone(), stack.stack.clone());
    let t0 = Instant::now();
    // Two model minutes per step: 40% is reached after about 4 s.
    let deploying =
        std::thread::spawn(move || deploy(&app, &name, &["--version", "2", "--minute", "2s"]));
    let ((killed_at, production, marked), samples) = under_loads(t0, &url, None, 2, || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let production = loop {
            let rollout = client
                .status(Duration::from_secs(5))
                .ok()
                .and_then(|s| s.rollout);
            if let Some(p) = rollout.map(|r| r.progress)
                && p.status == DeploymentStatus::InProgress
                && p.production_percent.tenths() >= 400
            {
                break p.production_percent.tenths();
            }
            assert!(Instant::now() < deadline, "the rollout never reached 40%");
            std::thread::sleep(Duration::from_millis(20));
        };
        let marked: Vec<u32> = crate::local::state_dir(&stack.stack)
            .marked_processes()
            .iter()
            .map(|p| p.id.pid)
            .collect();
        signal(record.supervisor.pid, "KILL");
        let killed_at = t0.elapsed();
        // The load goes on for several steps' worth of time without a supervisor.
        std::thread::sleep(Duration::from_secs(6));
        (killed_at, production, marked)
    });
    let run = deploying.join().unwrap();
    assert!(
        !run.success,
        "the follower outlived its supervisor: {}",
        run.stdout
    );
    assert!(
        plane.is_running(),
        "the data plane died with its supervisor"
    );

    let after: Vec<&Sample> = samples.iter().filter(|s| s.sent > killed_at).collect();
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.status != Some(200)).collect();
    let answered_by = |v: &str| {
        after
            .iter()
            .filter(|s| s.version.as_deref() == Some(v))
            .count()
    };
    let (old, new) = (answered_by("1"), answered_by("2"));
    eprintln!(
        "supervisor killed at {} tenths, {:.2} s: {} requests, {} failed; after the kill {} requests, version 1 answered {old}, version 2 {new}",
        production,
        killed_at.as_secs_f64(),
        samples.len(),
        failed.len(),
        after.len()
    );
    // At most the requests in flight at the kill (one per load loop) may fail.
    assert!(
        failed.len() <= 2,
        "{} failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    assert!(
        after.len() > 100,
        "only {} requests after the kill",
        after.len()
    );
    // The split stays where the rollout was: both versions answer, neither alone.
    let share = new as f64 / after.len() as f64;
    assert!(
        (0.2..0.9).contains(&share),
        "version 2 answered {new} of {} after the kill",
        after.len()
    );

    // destroy stops the data plane and every task the killed supervisor left.
    drop(stack);
    for pid in marked {
        assert!(
            !crate::local::pid_runs(pid),
            "pid {pid} of the stack still runs after destroy"
        );
    }
    assert!(!plane.is_running());
}

/// `kill -9` of the supervisor at a middle step of a LINEAR rollout under load, then the next
/// deploy (of the source version): before it, `status` says that the data plane still serves
/// and what the next deploy does; the new supervisor takes over the same data plane and the
/// tasks and rolls the interrupted rollout back, production never on the target alone; requests
/// keep succeeding throughout, `status` says what happened and keeps the shifts from before the
/// crash, an adopted task that dies is replaced, and destroy leaves no process of the stack.
#[test]
fn a_restarted_supervisor_adopts_and_rolls_back_the_interrupted_rollout() {
    let (stack, _) = Deployed::new("rollout", "adopted", &[]);
    let record = stack.record();
    let plane = record
        .dataplane
        .clone()
        .expect("runtime.json names the data plane");
    let url = format!("{}/downstream/web.rollout", stack.gateway_url());
    let client = ControlClient::new(&record.control_url, &record.token).unwrap();
    let (app, name) = (stack.app.clone(), stack.stack.clone());
    let t0 = Instant::now();
    let deploying =
        std::thread::spawn(move || deploy(&app, &name, &["--version", "2", "--minute", "2s"]));
    let (crash, samples) = under_loads(t0, &url, None, 2, || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !client
            .status(Duration::from_secs(5))
            .ok()
            .and_then(|s| s.rollout)
            .is_some_and(|r| {
                r.progress.status == DeploymentStatus::InProgress
                    && r.progress.production_percent.tenths() >= 400
            })
        {
            assert!(Instant::now() < deadline, "the rollout never reached 40%");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut marked: Vec<u32> = crate::local::state_dir(&stack.stack)
            .marked_processes()
            .iter()
            .map(|p| p.id.pid)
            .collect();
        signal(record.supervisor.pid, "KILL");
        let killed_at = t0.elapsed();
        std::thread::sleep(Duration::from_secs(1));
        let before = stack.run("status", &[]);
        let deployed_at = t0.elapsed();
        let run = stack.run("deploy", &["--version", "1"]);
        let adopted = t0.elapsed();
        marked.extend(
            crate::local::state_dir(&stack.stack)
                .marked_processes()
                .iter()
                .map(|p| p.id.pid),
        );
        std::thread::sleep(Duration::from_secs(2));
        Crash {
            killed_at,
            deployed_at,
            adopted,
            marked,
            before,
            run,
        }
    });
    let follower = deploying.join().unwrap();
    assert!(!follower.success);
    // The follower says what the next deploy does, as `status` does.
    for said in [&follower.stderr, &crash.before.stderr] {
        assert!(
            said.contains(", but its data plane (pid ")
                && said.contains(
                    "takes over the data plane and tasks and rolls the rollout of web back"
                ),
            "{said}"
        );
    }
    assert!(!crash.before.success);
    let run = &crash.run;
    assert!(run.success, "{}", run.error_line());
    assert!(
        run.stderr.contains("takes over its data plane (pid ")
            && run
                .stderr
                .contains("and rolls back the rollout of web it interrupted"),
        "{}",
        run.stderr
    );
    let after = stack.record();
    assert_ne!(after.supervisor, record.supervisor);
    assert_eq!(
        after.dataplane.as_ref(),
        Some(&plane),
        "the data plane was replaced"
    );

    let failed: Vec<&Sample> = samples.iter().filter(|s| s.status != Some(200)).collect();
    eprintln!(
        "supervisor killed at {:.2} s, next deploy at {:.2} s, adopted and rolled back by {:.2} s: {} requests, {} failed; {} after the kill",
        crash.killed_at.as_secs_f64(),
        crash.deployed_at.as_secs_f64(),
        crash.adopted.as_secs_f64(),
        samples.len(),
        failed.len(),
        samples.iter().filter(|s| s.sent > crash.killed_at).count()
    );
    // At most the requests in flight at the kill (one per load loop) fail.
    assert!(
        failed.len() <= 2,
        "{} failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    // Never on the target alone: from the kill on, the source answers in every half second.
    let mut from = crash.killed_at;
    while from + Duration::from_millis(500) < crash.adopted {
        let to = from + Duration::from_millis(500);
        assert!(
            samples
                .iter()
                .any(|s| s.sent >= from && s.sent < to && s.version.as_deref() == Some("1")),
            "only version 2 answered between {from:?} and {to:?}"
        );
        from = to;
    }
    // Once adopted, production is back on the source.
    let late: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.sent > crash.adopted + Duration::from_millis(500))
        .collect();
    assert!(
        late.len() > 20,
        "only {} requests after the adoption",
        late.len()
    );
    assert!(
        late.iter().all(|s| s.version.as_deref() == Some("1")),
        "version 2 still answered after the rollback"
    );

    let rollout = stack
        .status()
        .rollout
        .expect("the interrupted rollout is shown");
    let p = &rollout.progress;
    assert_eq!(p.status, DeploymentStatus::RollbackSuccessful);
    let reason = p.rollback_reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("the supervisor restarted during the rollout (at "),
        "{reason}"
    );
    assert!(
        rollout.shifts.iter().any(|s| s.percent.tenths() >= 400),
        "the history before the crash is lost: {:?}",
        rollout.shifts
    );
    assert_eq!(rollout.shifts.last().map(|s| s.percent.tenths()), Some(0));
    let shown = stack.run("status", &[]);
    assert!(
        shown.stdout.contains("the supervisor restarted"),
        "{}",
        shown.stdout
    );
    assert_web_runs_only(&stack, "1");

    // An adopted task (not the new supervisor's child) that dies is noticed and replaced.
    let adopted_task = record
        .tasks
        .iter()
        .find(|t| t.service == "web" && t.version == "1")
        .expect("web ran version 1 before the crash");
    assert!(
        after
            .tasks
            .iter()
            .any(|t| t.process == adopted_task.process),
        "web's task was not adopted"
    );
    signal(adopted_task.process.pid, "KILL");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let web = stack
            .status()
            .services
            .into_iter()
            .find(|s| s.name == "web")
            .expect("web runs");
        if web.restarts >= 1
            && web.tasks.len() == web.desired_count as usize
            && web.tasks.iter().all(|t| t.pid != adopted_task.process.pid)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the adopted task that died was not replaced: {web:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut marked = crash.marked;
    marked.extend(stack.record().tasks.iter().map(|t| t.process.pid));

    drop(stack);
    for pid in marked {
        assert!(
            !crate::local::pid_runs(pid),
            "pid {pid} of the stack still runs after destroy"
        );
    }
    assert!(!plane.is_running());
}

/// What the crash test saw around the kill.
#[derive(Debug)]
struct Crash {
    killed_at: Duration,
    deployed_at: Duration,
    adopted: Duration,
    /// Every pid of the stack seen before the kill and after the adoption.
    marked: Vec<u32>,
    /// `status` between the kill and the next deploy, and that deploy.
    before: Run,
    run: Run,
}

/// Waits (up to a minute) until the supervisor `record` names runs a rollout to `version` that
/// has not ended.
fn rollout_running(record: &RuntimeRecord, version: &str) {
    let client = ControlClient::new(&record.control_url, &record.token).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = client
            .status(Duration::from_secs(5))
            .ok()
            .and_then(|s| s.rollout)
            .is_some_and(|r| {
                r.progress.target.as_deref() == Some(version) && !r.progress.status.is_terminal()
            });
        if running {
            return;
        }
        assert!(Instant::now() < deadline, "no rollout to {version} started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `status --wait-until` ends with the README's exit codes: 4 with no rollout, 3 at its
/// timeout, 0 once the rollout bakes (while it still bakes), 0 for SUCCESSFUL once it
/// succeeded, 1 when a failing version rolls back (as its deploy does), and then 0 for
/// ROLLED_BACK.
#[test]
fn status_wait_until_exits_with_the_documented_codes() {
    let (stack, _) = Deployed::new("rollout", "wait-until", &[]);
    let wait = |extra: &[&str]| {
        let mut args = vec!["--wait-until"];
        args.extend_from_slice(extra);
        stack.run("status", &args)
    };

    let none = wait(&["SUCCESSFUL"]);
    assert_eq!(none.code, Some(4), "{}", none.stdout);
    assert!(
        none.stdout.contains("no rollout to wait for SUCCESSFUL"),
        "{}",
        none.stdout
    );

    // Five 20% steps of one model minute and a bake of two: at 2 s a minute the bake lasts 4 s.
    let (app, name) = (stack.app.clone(), stack.stack.clone());
    let deploying =
        std::thread::spawn(move || deploy(&app, &name, &["--version", "2", "--minute", "2s"]));
    rollout_running(&stack.record(), "2");
    let timed_out = wait(&["SUCCESSFUL", "--timeout", "1ms"]);
    assert_eq!(timed_out.code, Some(3), "{}", timed_out.stdout);
    assert!(
        timed_out
            .stdout
            .contains("timed out after 1ms waiting for SUCCESSFUL: the deployment carries on"),
        "{}",
        timed_out.stdout
    );
    let baking = wait(&["BAKE_TIME"]);
    assert_eq!(baking.code, Some(0), "{}", baking.stdout);
    assert!(
        baking.stdout.contains("reached BAKE_TIME"),
        "{}",
        baking.stdout
    );
    assert!(!baking.stdout.contains("finished"), "{}", baking.stdout);
    let p = progress(&stack);
    assert_eq!(
        (p.status, p.stage),
        (
            DeploymentStatus::InProgress,
            Some(model::DeploymentStage::BakeTime)
        ),
        "the wait returned while the rollout bakes"
    );
    let deployed = deploying.join().unwrap();
    assert_eq!(deployed.code, Some(0), "{}", deployed.error_line());
    let done = wait(&["SUCCESSFUL"]);
    assert_eq!(done.code, Some(0), "{}", done.stdout);

    // A version failing every answer, under load, is rolled back by the alarm.
    let url = format!("{}/downstream/web.rollout", stack.gateway_url());
    let (app, name, record) = (stack.app.clone(), stack.stack.clone(), stack.record());
    let waiting = std::thread::spawn(move || {
        rollout_running(&record, "3");
        let args = ["status", &app, "--local", "--stack-name", &name];
        xtask(&[&args[..], &["--wait-until", "SUCCESSFUL"]].concat())
    });
    let args = [
        "--version",
        "3",
        "--minute",
        "3s",
        "--env",
        "FAULT_RATE=1.0",
    ];
    let (failed, _) = under_loads(Instant::now(), &url, None, 2, || stack.deploy(&args));
    let missed = waiting.join().unwrap();
    assert_eq!(failed.code, Some(1), "a rolled-back deploy exits 1");
    assert!(
        failed.stdout.contains("web: rolled back to 2"),
        "{}",
        failed.stdout
    );
    assert_eq!(missed.code, Some(1), "{}", missed.stdout);
    assert!(
        missed
            .stdout
            .contains("SUCCESSFUL cannot be reached any more"),
        "{}",
        missed.stdout
    );
    let rolled_back = wait(&["ROLLED_BACK"]);
    assert_eq!(rolled_back.code, Some(0), "{}", rolled_back.stdout);
    assert!(rolled_back.stdout.contains("reached ROLLED_BACK"));
}

/// The time now in UTC to the second, as the README's CI example takes it before a deploy
/// (`date -u +%Y-%m-%dT%H:%M:%SZ`).
fn utc_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date runs");
    assert!(out.status.success(), "date failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `status --wait-until --since TIME` judges only a rollout started at or after TIME: on a
/// stack that never ran one it waits (3 at its timeout, not 4); after a finished rollout a
/// wait since a later time does not exit 0 on the old success but times out with 3; started
/// before the next deploy, it waits for that deploy's rollout and exits 0 once it succeeded.
/// Without `--since` the old success still answers 0 at once (the README says so).
#[test]
fn status_wait_until_since_judges_only_a_rollout_started_since_then() {
    let (stack, _) = Deployed::new("rollout", "since", &[]);
    let wait = |extra: &[&str]| {
        let mut args = vec!["--wait-until"];
        args.extend_from_slice(extra);
        stack.run("status", &args)
    };

    let never = wait(&["SUCCESSFUL", "--since", "1m", "--timeout", "300ms"]);
    assert_eq!(never.code, Some(3), "{}{}", never.stdout, never.stderr);
    assert!(
        never
            .stderr
            .contains("waiting for a rollout started since ")
            && never.stderr.contains("(none ran yet)"),
        "{}",
        never.stderr
    );

    // Seven model minutes (five steps of one, a bake of two) at 300 ms: over a second, so the
    // time taken after it, to the second, is after the rollout began.
    let first = stack.deploy(&["--version", "2", "--minute", "300ms"]);
    assert_eq!(first.code, Some(0), "{}", first.error_line());
    let start = utc_now();
    let old = wait(&["SUCCESSFUL"]);
    assert_eq!(
        old.code,
        Some(0),
        "without --since the last rollout is judged: {}",
        old.stdout
    );
    let since = wait(&["SUCCESSFUL", "--since", &start, "--timeout", "500ms"]);
    assert_eq!(since.code, Some(3), "{}{}", since.stdout, since.stderr);
    assert!(!since.stdout.contains("reached"), "{}", since.stdout);
    assert!(
        since
            .stdout
            .contains(&format!("--wait-until SUCCESSFUL --since {}", &start[..19])),
        "the retry waits since the same time: {}",
        since.stdout
    );
    assert!(
        since.stderr.contains(&format!(
            "waiting for a rollout started since {}.000Z (the last one, of web, began at ",
            &start[..19]
        )),
        "{}",
        since.stderr
    );

    let (app, name, since_arg) = (stack.app.clone(), stack.stack.clone(), start.clone());
    let waiting = std::thread::spawn(move || {
        let args = ["status", &app, "--local", "--stack-name", &name];
        let wait = [
            "--wait-until",
            "SUCCESSFUL",
            "--since",
            &since_arg,
            "--timeout",
            "120s",
        ];
        xtask(&[&args[..], &wait[..]].concat())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !waiting.is_finished(),
        "the wait since {start} returned before the deploy began"
    );
    let second = stack.deploy(&["--version", "3", "--minute", "300ms"]);
    assert_eq!(second.code, Some(0), "{}", second.error_line());
    let judged = waiting.join().unwrap();
    assert_eq!(judged.code, Some(0), "{}{}", judged.stdout, judged.stderr);
    assert!(
        judged.stdout.contains("reached SUCCESSFUL"),
        "{}",
        judged.stdout
    );
    let shown = format!("{}{}", judged.stdout, judged.stderr);
    assert!(
        shown.contains("web 2 -> 3"),
        "the new rollout was followed: {shown}"
    );
}

/// With `--since`, a stack whose running model has no traffic-shifting service (`gateway`
/// deploys ROLLING) still has nothing to wait for (4 at once, not 3 at the timeout): no rollout
/// can ever start there.
#[test]
fn a_wait_since_a_time_without_a_traffic_shifting_service_has_nothing_to_wait_for() {
    let (stack, _) = Deployed::new("gateway", "since-none", &[]);
    let started = Instant::now();
    let run = stack.run(
        "status",
        &[
            "--wait-until",
            "SUCCESSFUL",
            "--since",
            "1m",
            "--timeout",
            "30s",
        ],
    );
    assert_eq!(run.code, Some(4), "{}{}", run.stdout, run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

// --- A service behind the ALB gateway (issue 21 item 4): ECS moves the production listener
// rule's weights between the service's two target groups; locally the gateway's `/blue` rule
// moves its share between blue's two revisions on the same engine.

/// The answers `samples` got, by version (`unknown` is the app's first version).
fn versions(samples: &[Sample]) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for s in samples {
        let version = s.version.clone().unwrap_or_else(|| "none".into());
        *seen.entry(version).or_default() += 1;
    }
    seen
}

/// `deploy gateway --local --strategy linear`, then `--version 2 --strategy linear` under load
/// through the gateway's `/blue`: the rule's share on blue:2 goes through 20, 40, 60, 80 and
/// 100% with no failed request, and green's callers of `blue.gateway` over Service Connect keep
/// being answered throughout (by both revisions, as ECS shifts Service Connect traffic too).
#[test]
fn a_linear_rollout_behind_the_alb_moves_the_blue_rule_without_a_failed_request() {
    let (stack, _) = Deployed::new("gateway", "alb-linear", &["--strategy", "linear"]);
    let gateway = stack.gateway_url();
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let callers = load_loop(
        t0,
        format!("{gateway}/green/downstream/blue.gateway"),
        None,
        Arc::clone(&stop),
    );
    let (run, samples) = check_shift_under_load(
        &stack,
        "blue",
        &format!("{gateway}/blue"),
        &["--strategy", "linear"],
        &[0, 200, 400, 600, 800, 1000],
    );
    stop.store(true, Ordering::SeqCst);
    let callers = callers.join().expect("the callers' loop ran");
    // The step n/N, as the AWS follower shows it.
    for (n, step) in ["20%", "40%", "60%", "80%", "100%"].iter().enumerate() {
        assert!(
            run.stdout
                .contains(&format!("step {}/5, production {step} on 2", n + 1)),
            "{}",
            run.stdout
        );
    }
    eprintln!(
        "through /blue: {} requests, by version {:?}; green calling blue.gateway: {} requests, by version {:?}",
        samples.len(),
        versions(&samples),
        callers.len(),
        versions(&callers)
    );
    assert!(
        callers.iter().all(|s| s.status == Some(200)),
        "a caller's request failed: {:?}",
        callers.iter().find(|s| s.status != Some(200))
    );
    let by_version = versions(&callers);
    assert!(callers.len() > 100, "{by_version:?}");
    assert!(
        by_version.contains_key("2") && by_version.contains_key("unknown"),
        "{by_version:?}"
    );
    // green was not rolled out: one deploy, one rule.
    assert_runs_only(&stack, "green", "unknown");
}

/// The gateway app with a strategy, blue at `version` with a PAUSE hook after the test stage,
/// as a JSON description in `dir`.
fn gateway_json(dir: &Path, stack: &str, version: u32) -> String {
    let mut spec = examples::gateway_with(stack, StrategyKind::Linear);
    let blue = spec.services.iter_mut().find(|s| s.name == "blue").unwrap();
    blue.version = version.to_string();
    blue.deployment.lifecycle_hooks = vec![pause_hook()];
    let path = dir.join(format!("{stack}-v{version}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    path.display().to_string()
}

/// At the test stage a request matching `/blue`'s test listener rule (the path plus
/// `x-amzn-ecs-blue-green-test: true`, any case) reaches blue:2 while plain requests and a
/// wrong value stay on blue:1; green's calls to `blue.gateway` follow Service Connect's test
/// rule the same way. `rollback` puts everything back on blue:1.
#[test]
fn the_test_rule_reaches_the_new_revision_at_the_test_stage_and_rollback_restores_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let name = crate::local::stack_name("alb-test");
    let v1 = gateway_json(dir.path(), &name, 1);
    let v2 = gateway_json(dir.path(), &name, 2);
    let stack = Deployed {
        app: v1,
        stack: name,
    };
    let run = stack.deploy(&[]);
    assert!(run.success, "{}", run.error_line());
    let deploying = start_paused(&stack, &v2);
    let gateway = stack.gateway_url();
    let blue = format!("{gateway}/blue");
    let through_green = format!("{gateway}/green/downstream/blue.gateway");
    let sleep = || std::thread::sleep(Duration::from_millis(600));
    let (_, tested) = under_load(&blue, Some(("x-amzn-ecs-blue-green-test", "true")), sleep);
    let (_, upper) = under_load(&blue, Some(("X-Amzn-Ecs-Blue-Green-Test", "TRUE")), sleep);
    let (_, plain) = under_load(&blue, None, sleep);
    let (_, wrong) = under_load(&blue, Some(("x-amzn-ecs-blue-green-test", "false")), sleep);
    let (_, sc_tested) = under_load(
        &through_green,
        Some(("x-amzn-ecs-blue-green-test", "true")),
        sleep,
    );
    let (_, sc_plain) = under_load(&through_green, None, sleep);
    let figures = [
        ("test header", &tested, "2"),
        (
            "test header, other case (the ALB ignores case)",
            &upper,
            "2",
        ),
        ("plain", &plain, "1"),
        ("wrong value", &wrong, "1"),
        ("green -> blue.gateway, test header", &sc_tested, "2"),
        ("green -> blue.gateway, plain", &sc_plain, "1"),
    ];
    for (what, samples, version) in figures {
        all_answered_by("at POST_TEST_TRAFFIC_SHIFT", what, samples, version);
    }

    let back = stack.run("rollback", &[]);
    assert!(back.success, "{}", back.error_line());
    let run = deploying.join().unwrap();
    assert!(!run.success, "a rolled-back deploy fails: {}", run.stdout);
    assert!(
        run.stdout.contains("blue: rolled back to 1"),
        "{}",
        run.stdout
    );
    assert_eq!(
        progress(&stack).status,
        DeploymentStatus::RollbackSuccessful
    );
    let (_, after) = under_load(&blue, Some(("x-amzn-ecs-blue-green-test", "true")), sleep);
    assert!(
        after.iter().all(|s| s.version.as_deref() == Some("1")),
        "{:?}",
        versions(&after)
    );
    assert_runs_only(&stack, "blue", "1");
    drop(stack);
}

/// Deploys blue's version `failing` with `FAULT_RATE=1.0` and the linear strategy at
/// `--minute 3s` while two load loops call `/blue` through the gateway. Checks that blue's
/// error-rate alarm rolled it back, saying so in the reason, at the first step (the rule never
/// past 20%), that every failed request was that version's injected fault, and that blue runs
/// and answers only `kept` afterwards; returns the status and the samples.
fn rolled_back_behind_the_alb(
    stack: &Deployed,
    failing: &str,
    kept: &str,
) -> (LocalRollout, Vec<Sample>) {
    let blue = format!("{}/blue", stack.gateway_url());
    let args = [
        "--version",
        failing,
        "--strategy",
        "linear",
        "--minute",
        "3s",
        "--env",
        "FAULT_RATE=1.0",
    ];
    let (run, samples) = under_loads(Instant::now(), &blue, None, 2, || stack.deploy(&args));
    assert!(!run.success, "a rolled-back deploy fails: {}", run.stdout);
    assert!(
        run.stdout.contains(&format!("blue: rolled back to {kept}")),
        "{}",
        run.stdout
    );
    let rollout = stack.status().rollout.expect("a rollout ran");
    let p = &rollout.progress;
    assert_eq!(p.status, DeploymentStatus::RollbackSuccessful);
    let alarm = format!("{}-blue-error-rate", stack.stack);
    assert_eq!(p.alarms_triggered, std::slice::from_ref(&alarm));
    let reason = p.rollback_reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with(&format!("alarm {alarm}: ")), "{reason}");
    // It rolled back in the first step: the rule never went past 20%.
    let shifts: Vec<u32> = rollout.shifts.iter().map(|s| s.percent.tenths()).collect();
    assert_eq!(shifts, [200, 0], "{:?}", rollout.shifts);

    // Only the failing version failed, every failure its injected fault, answered by the task.
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.status != Some(200)).collect();
    eprintln!(
        "blue:{failing} (FAULT_RATE=1.0): {} requests through /blue, by version {:?}, {} failed (all blue:{failing}'s injected fault); the alarm's periods: {:?}",
        samples.len(),
        versions(&samples),
        failed.len(),
        rollout.alarm_datapoints
    );
    assert!(!failed.is_empty(), "blue:{failing} took traffic");
    assert!(
        failed
            .iter()
            .all(|s| s.status == Some(500) && s.fault && s.version.as_deref() == Some(failing)),
        "{:?}",
        failed.first()
    );
    let http = Http::new();
    for _ in 0..30 {
        assert_eq!(version_of(&http.json(&blue)).as_deref(), Some(kept));
    }
    assert_runs_only(stack, "blue", kept);
    (rollout, samples)
}

/// A version of blue failing every request rolls back on blue's error-rate alarm, which reads
/// both target groups: locally, every answer blue's tasks give the gateway, both revisions
/// together, as CloudWatch would sum the two groups. At `--minute 3s` (the README's command)
/// the first period holds more than half a step of the new revision and ends before the second
/// step, as in `a_version_failing_everything_is_rolled_back_during_the_first_step`.
#[test]
fn a_failing_version_behind_the_alb_is_rolled_back_by_its_target_group_alarm() {
    let (stack, _) = Deployed::new("gateway", "alb-fault", &["--strategy", "linear"]);
    let (rollout, samples) = rolled_back_behind_the_alb(&stack, "2", "unknown");
    // The alarm counted what the gateway got from blue: its datapoints hold every answer.
    let failed = samples.iter().filter(|s| s.status != Some(200)).count();
    let points = &rollout.alarm_datapoints;
    let (answers, errors) = points
        .iter()
        .fold((0, 0), |(a, e), d| (a + d.answers, e + d.errors));
    assert!(errors > 0 && answers > errors, "{points:?}");
    assert!(
        usize::try_from(errors).unwrap() <= failed,
        "the alarm counted more 5xx than the load saw: {points:?}"
    );
}

// --- Issue 21's acceptance sequence: `deploy gateway --local` (no strategy), then
// `deploy gateway --local --version 2 --strategy linear` under load. The second deploy changes
// more than blue (the strategy drops `/split`, green gets its strategy and test rule): on AWS it
// is one stack update, locally an apply in two phases (everything else first, blue as it runs,
// then blue's rollout).

/// One poll of the supervisor's rollout status, read at some instant between `sent` and `at`.
#[derive(Debug, Clone, Copy)]
struct Poll {
    sent: Duration,
    at: Duration,
    /// False before the rollout and once it ended.
    in_progress: bool,
    production: u32,
    test_on_target: bool,
}

/// Polls the rollout's status every 20 ms from `t0` until stopped (bounded: 120 s); a poll
/// that got no answer is left out.
fn watch_rollout(stack: &Deployed, t0: Instant, stop: Arc<AtomicBool>) -> JoinHandle<Vec<Poll>> {
    poll_status(stack, t0, stop, |status, sent, at| {
        let p = status?.rollout.map(|r| r.progress);
        Some(Poll {
            sent,
            at,
            in_progress: p
                .as_ref()
                .is_some_and(|p| p.status == DeploymentStatus::InProgress),
            production: p.as_ref().map_or(0, |p| p.production_percent.tenths()),
            test_on_target: p.as_ref().is_some_and(|p| p.test_traffic_on_target),
        })
    })
}

/// The last poll read before `sample` was sent and the first read after its answer came, when
/// both exist (a poll that stalls on a loaded machine reads the status early in its span).
fn around(sample: &Sample, polls: &[Poll]) -> Option<(Poll, Poll)> {
    let before = polls.iter().rev().find(|p| p.at <= sample.sent)?;
    let after = polls.iter().find(|p| p.sent >= sample.at)?;
    Some((*before, *after))
}

/// The acceptance: on a gateway deployed without a strategy, `--version 2 --strategy linear`
/// applies the rest of the change first (`/split` goes, green takes its strategy without new
/// tasks) and rolls blue out under load through `/blue`: blue:2's share of plain requests
/// steps through 20, 40, 60, 80 and 100%, none fails; a request with the test rule's header is
/// answered by blue:2 from the test stage on, while plain requests follow the production share
/// (none reaches blue:2 before the first step; about a fifth at the first). Then a version
/// failing every request is rolled back by blue's target group alarm.
#[test]
fn the_acceptance_sequence_rolls_blue_out_behind_the_alb_after_the_rest_of_the_change() {
    let (stack, first) = Deployed::new("gateway", "alb-accept", &[]);
    assert!(first.success, "{}", first.error_line());
    let before = stack.status();
    let routes: Vec<String> = before
        .gateway
        .as_ref()
        .expect("a gateway")
        .routes
        .iter()
        .map(|r| r.prefix.clone())
        .collect();
    assert!(routes.contains(&"/split".to_owned()), "{routes:?}");
    let green_tasks = |status: &local_runtime::control::Status| -> Vec<(String, u32)> {
        let green = status.services.iter().find(|s| s.name == "green").unwrap();
        green.tasks.iter().map(|t| (t.id.clone(), t.pid)).collect()
    };
    let green_before = green_tasks(&before);

    let blue = format!("{}/blue", stack.gateway_url());
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let watching = watch_rollout(&stack, t0, Arc::clone(&stop));
    let header = ("x-amzn-ecs-blue-green-test", "true");
    let tested = load_loop(t0, blue.clone(), Some(header), Arc::clone(&stop));
    let args = ["--version", "2", "--strategy", "linear", "--minute", "1s"];
    let (run, plain) = under_load_from(t0, &blue, None, || stack.deploy(&args));
    stop.store(true, Ordering::SeqCst);
    let tested = tested.join().expect("the test traffic loop ran");
    let polls = watching.join().unwrap();
    assert!(run.success, "{}", run.error_line());

    // What the deploy said: the changes beside blue, then blue's rollout, to its end.
    for line in [
        "[-] gateway route split",
        "[~] service green",
        "[~] service blue",
    ] {
        assert!(run.stdout.contains(line), "{line}: {}", run.stdout);
    }
    for (n, step) in ["20%", "40%", "60%", "80%", "100%"].iter().enumerate() {
        let line = format!("step {}/5, production {step} on 2", n + 1);
        assert!(run.stdout.contains(&line), "{line}: {}", run.stdout);
    }
    assert!(
        run.stdout.contains("blue: rollout to 2 finished"),
        "{}",
        run.stdout
    );

    // Not one failed request, plain or test traffic.
    assert_no_failure(&plain);
    assert_no_failure(&tested);

    // The engine's own record: every step, in order, each after its bake.
    let after = stack.status();
    let rollout = after.rollout.as_ref().expect("a rollout ran");
    let shifts: Vec<u32> = rollout.shifts.iter().map(|s| s.percent.tenths()).collect();
    assert_eq!(shifts, [200, 400, 600, 800, 1000], "{:?}", rollout.shifts);
    for pair in rollout.shifts.windows(2) {
        assert!(
            pair[1].at_ms - pair[0].at_ms >= rollout.minute_ms,
            "{:?}",
            rollout.shifts
        );
    }

    // Plain requests by the production share in force while they ran (both polls agree).
    let mut levels: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    for s in &plain {
        if let Some((a, b)) = around(s, &polls)
            && a.in_progress
            && b.in_progress
            && a.production == b.production
        {
            let level = levels.entry(a.production).or_default();
            level.0 += 1;
            level.1 += usize::from(s.version.as_deref() == Some("2"));
        }
    }
    eprintln!(
        "plain /blue by production share (tenths): (requests, answered by blue:2): {levels:?}"
    );
    for (tenths, (requests, new)) in &levels {
        let share = *new as f64 / *requests as f64;
        let expected = f64::from(*tenths) / 1000.0;
        match tenths {
            0 | 1000 => assert_eq!(share, expected, "at {tenths}: {levels:?}"),
            _ if *requests >= 30 => {
                assert!((share - expected).abs() < 0.12, "at {tenths}: {levels:?}")
            }
            _ => {}
        }
    }
    for step in [200, 400, 600, 800] {
        assert!(
            levels.get(&step).is_some_and(|(n, _)| *n >= 20),
            "too few plain requests at {step}: {levels:?}"
        );
    }

    // Test traffic: blue:2 answers every request made once the test rule points at it; before
    // the rollout, blue:1 answers them all.
    let (mut on_target, mut on_target_new, mut first_step) = (0, 0, (0, 0));
    for s in &tested {
        let Some((a, b)) = around(s, &polls) else {
            continue;
        };
        if a.in_progress && b.in_progress && a.test_on_target && b.test_on_target {
            on_target += 1;
            on_target_new += usize::from(s.version.as_deref() == Some("2"));
            if a.production == 200 && b.production == 200 {
                first_step.0 += 1;
                first_step.1 += usize::from(s.version.as_deref() == Some("2"));
            }
        }
    }
    let before_rollout: Vec<&Sample> = tested
        .iter()
        .filter(|s| {
            around(s, &polls)
                .is_some_and(|(a, b)| !a.in_progress && !b.in_progress && b.production == 0)
                && s.at
                    < polls
                        .iter()
                        .find(|p| p.in_progress)
                        .map_or(Duration::MAX, |p| p.at)
        })
        .collect();
    let plain_first_step = levels.get(&200).copied().unwrap_or_default();
    eprintln!(
        "test header on /blue: {} requests, {on_target} while the test rule pointed at blue:2 ({on_target_new} answered by blue:2), {} before the rollout (all blue:1); at the 20% step: test header {}/{} on blue:2, plain {}/{} on blue:2",
        tested.len(),
        before_rollout.len(),
        first_step.1,
        first_step.0,
        plain_first_step.1,
        plain_first_step.0,
    );
    assert!(on_target > 100, "{on_target}");
    assert_eq!(on_target_new, on_target, "a test request missed blue:2");
    assert!(first_step.0 >= 20, "{first_step:?}");
    assert!(
        before_rollout.len() > 5
            && before_rollout
                .iter()
                .all(|s| s.version.as_deref() == Some("unknown")),
        "{:?}",
        versions(&tested)
    );

    // The rest of the change: `/split` is gone, green kept its tasks, blue runs only 2.
    let routes: Vec<String> = after
        .gateway
        .as_ref()
        .unwrap()
        .routes
        .iter()
        .map(|r| r.prefix.clone())
        .collect();
    assert!(!routes.contains(&"/split".to_owned()), "{routes:?}");
    assert_eq!(
        green_tasks(&after),
        green_before,
        "green's tasks were replaced"
    );
    assert_runs_only(&stack, "blue", "2");
    assert_runs_only(&stack, "green", "unknown");

    // A version failing every request is rolled back by blue's alarm at the first step.
    rolled_back_behind_the_alb(&stack, "3", "2");
}

/// Deploys a fresh stack named after `test` from a JSON description of `gateway` without a
/// strategy and with blue at version 1, the start of the two-phase deploys below; returns it
/// with the folder the description is in.
fn deploy_plain_gateway(test: &str) -> (Deployed, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let name = crate::local::stack_name(test);
    let mut plain = examples::gateway(&name);
    plain
        .services
        .iter_mut()
        .find(|s| s.name == "blue")
        .unwrap()
        .version = "1".into();
    let v1 = dir.path().join(format!("{name}-plain.json"));
    std::fs::write(&v1, serde_json::to_string_pretty(&plain).unwrap()).unwrap();
    let stack = Deployed {
        app: v1.display().to_string(),
        stack: name,
    };
    let run = stack.deploy(&[]);
    assert!(run.success, "{}", run.error_line());
    (stack, dir)
}

/// The same two-phase deploy from a gateway without a strategy, with a pause after the test
/// stage so the stage can be watched: test traffic reaches blue:2 while plain requests all stay
/// on blue:1. A rollback comes back to the new description with blue as it ran: `/split` stays
/// gone, green keeps its strategy, blue runs 1, and `diff --local` of the new version shows
/// only blue's rollout left to do.
#[test]
fn from_a_gateway_without_a_strategy_the_test_stage_holds_test_traffic_on_the_new_revision() {
    let (stack, dir) = deploy_plain_gateway("alb-plain-test");
    let v2 = gateway_json(dir.path(), &stack.stack, 2);
    let deploying = start_paused(&stack, &v2);

    let blue = format!("{}/blue", stack.gateway_url());
    let sleep = || std::thread::sleep(Duration::from_millis(600));
    let (_, tested) = under_load(&blue, Some(("x-amzn-ecs-blue-green-test", "true")), sleep);
    let (_, plain) = under_load(&blue, None, sleep);
    for (what, samples, version) in [("test header", &tested, "2"), ("plain", &plain, "1")] {
        all_answered_by("paused after TEST_TRAFFIC_SHIFT", what, samples, version);
    }

    let back = stack.run("rollback", &[]);
    assert!(back.success, "{}", back.error_line());
    let run = deploying.join().unwrap();
    assert!(
        run.stdout.contains("blue: rolled back to 1"),
        "{}",
        run.stdout
    );
    let status = stack.status();
    let routes: Vec<&str> = status
        .gateway
        .as_ref()
        .unwrap()
        .routes
        .iter()
        .map(|r| r.prefix.as_str())
        .collect();
    assert_eq!(routes, ["/green", "/blue"]);
    let spec = status.spec.expect("the running description");
    let described = |service: &str| spec.services.iter().find(|s| s.name == service).unwrap();
    assert_eq!(described("blue").version, "1");
    assert_eq!(described("blue").deployment.strategy, StrategyKind::Linear);
    assert_eq!(described("green").deployment.strategy, StrategyKind::Linear);
    assert_runs_only(&stack, "blue", "1");
    let (_, after) = under_load(&blue, Some(("x-amzn-ecs-blue-green-test", "true")), sleep);
    assert!(
        after
            .iter()
            .all(|s| s.status == Some(200) && s.version.as_deref() == Some("1")),
        "{:?}",
        versions(&after)
    );
    let diff = xtask(&["diff", &v2, "--local", "--stack-name", &stack.stack]);
    assert!(diff.success, "{}", diff.error_line());
    assert!(
        diff.stdout.contains("[~] service blue (rolls out"),
        "{}",
        diff.stdout
    );
    assert!(!diff.stdout.contains("gateway route"), "{}", diff.stdout);
    assert!(!diff.stdout.contains("service green"), "{}", diff.stdout);
}

/// When the changes beside a rollout fail (green's new tasks exit at start-up: a `FAULT_RATE`
/// demo-app refuses), nothing changes and blue is not rolled out: the error says both, and
/// `/split`, blue:1 and green's running tasks are as before.
#[test]
fn a_failure_beside_the_rollout_changes_nothing_and_does_not_roll_out() {
    let (stack, dir) = deploy_plain_gateway("alb-beside-fails");
    let name = &stack.stack;
    let mut broken = examples::gateway_with(name, StrategyKind::Linear);
    for svc in &mut broken.services {
        if svc.name == "blue" {
            svc.version = "2".into();
        } else {
            // green deploys ROLLING with a configuration its demo-app refuses.
            svc.deployment = model::DeploymentSpec::default();
            svc.environment
                .insert("FAULT_RATE".into(), "not-a-rate".into());
        }
    }
    let v2 = dir.path().join(format!("{name}-broken.json"));
    std::fs::write(&v2, serde_json::to_string_pretty(&broken).unwrap()).unwrap();
    let before = stack.status();

    let v2 = v2.display().to_string();
    let run = deploy(&v2, &stack.stack, &["--minute", "200ms"]);
    assert!(!run.success, "{}", run.stdout);
    let line = run.error_line();
    assert!(line.contains("green"), "{line}");
    assert!(line.contains("exited during start-up"), "{line}");
    assert!(
        line.contains("nothing changed and blue was not rolled out: fix that, then deploy again"),
        "{line}"
    );
    let after = stack.status();
    assert!(after.rollout.is_none(), "{:?}", after.rollout);
    let tasks = |s: &local_runtime::control::Status| -> Vec<(String, String, u32)> {
        s.services
            .iter()
            .flat_map(|svc| {
                svc.tasks
                    .iter()
                    .map(|t| (t.id.clone(), t.version.clone(), t.pid))
            })
            .collect()
    };
    assert_eq!(tasks(&after), tasks(&before));
    let routes = |s: &local_runtime::control::Status| -> Vec<String> {
        s.gateway
            .as_ref()
            .unwrap()
            .routes
            .iter()
            .map(|r| r.describe())
            .collect()
    };
    assert_eq!(routes(&after), routes(&before));
    assert_eq!(after.spec, before.spec);
    let http = Http::new();
    let blue = format!("{}/blue", stack.gateway_url());
    for _ in 0..10 {
        assert_eq!(version_of(&http.json(&blue)).as_deref(), Some("1"));
    }
}
