//! The detection floor: the smallest failure rate of a new version the error-rate alarm catches at
//! each production step, when the alarm sees both revisions' answers together.

use model::{
    AlarmsSpec, CanarySpec, Deployment, DeploymentSpec, Detection, DetectionWarning,
    ErrorRateAlarmSpec, LinearSpec, Percent, Stack, StepDetection, StrategyKind, detection_floor,
};

use crate::rollout;

fn pct(text: &str) -> Percent {
    Percent::parse(text).expect("a percentage")
}

/// A deployment of `strategy` (`step` is the linear step or canary share) with an error-rate alarm
/// at `threshold`.
fn deployment(strategy: StrategyKind, step: &str, threshold: &str) -> Deployment {
    let spec = DeploymentSpec {
        strategy,
        linear: (strategy == StrategyKind::Linear).then(|| LinearSpec {
            step_percent: pct(step),
            step_bake_time_minutes: 1,
        }),
        canary: (strategy == StrategyKind::Canary).then(|| CanarySpec {
            canary_percent: pct(step),
            canary_bake_time_minutes: 1,
        }),
        alarms: Some(AlarmsSpec {
            names: Vec::new(),
            error_rate: Some(ErrorRateAlarmSpec {
                threshold_percent: pct(threshold),
                ..ErrorRateAlarmSpec::default()
            }),
            rollback: true,
        }),
        ..DeploymentSpec::default()
    };
    Deployment::new(&spec, None)
}

/// `(production %, floor %)` per step, `None` where the step cannot catch anything, then the
/// warning as `(step, threshold, suggested)`.
type Expected<'a> = (
    &'a [(&'a str, Option<&'a str>)],
    Option<(&'a str, &'a str, Option<&'a str>)>,
);

#[track_caller]
fn check(input: Deployment, (steps, warning): Expected<'_>) {
    let detection = input
        .detection()
        .expect("a traffic shift with an error-rate alarm");
    let got: Vec<(String, Option<String>)> = detection
        .steps
        .iter()
        .map(|s| (s.production.to_string(), s.floor.map(|f| f.to_string())))
        .collect();
    let want: Vec<(String, Option<String>)> = steps
        .iter()
        .map(|(p, f)| ((*p).to_owned(), f.map(str::to_owned)))
        .collect();
    assert_eq!(got, want);
    let warning = warning.map(|(step, threshold, suggested)| DetectionWarning {
        step: pct(step),
        threshold: pct(threshold),
        suggested: suggested.map(pct),
    });
    assert_eq!(detection.warning(), warning);
}

#[test]
fn linear_20_percent_with_the_default_threshold() {
    // 10% / 20% = 50%; 10% / 60% = 16.67%, rounded up to 16.7%.
    check(
        deployment(StrategyKind::Linear, "20", "10"),
        (
            &[
                ("20", Some("50")),
                ("40", Some("25")),
                ("60", Some("16.7")),
                ("80", Some("12.5")),
                ("100", Some("10")),
            ],
            None,
        ),
    );
}

#[test]
fn canary_5_percent_cannot_catch_anything_at_its_first_step() {
    // At 5% a version failing everything makes 5% of all answers 5xx: not above 10%.
    check(
        deployment(StrategyKind::Canary, "5", "10"),
        (
            &[("5", None), ("100", Some("10"))],
            Some(("5", "10", Some("2.5"))),
        ),
    );
    check(
        deployment(StrategyKind::Canary, "5", "2.5"),
        (&[("5", Some("50")), ("100", Some("2.5"))], None),
    );
}

#[test]
fn a_threshold_equal_to_the_step_catches_nothing() {
    // GreaterThanThreshold: 10% of all answers failing is not more than 10%.
    check(
        deployment(StrategyKind::Canary, "10", "10"),
        (
            &[("10", None), ("100", Some("10"))],
            Some(("10", "10", Some("5"))),
        ),
    );
    // 0.1% has no smaller threshold on the grid to suggest; half of 0.3% rounds down to 0.1%.
    check(
        deployment(StrategyKind::Canary, "0.1", "0.1"),
        (
            &[("0.1", None), ("100", Some("0.1"))],
            Some(("0.1", "0.1", None)),
        ),
    );
    check(
        deployment(StrategyKind::Canary, "0.3", "1"),
        (
            &[("0.3", None), ("100", Some("1"))],
            Some(("0.3", "1", Some("0.1"))),
        ),
    );
}

#[test]
fn blue_green_has_one_step_at_100_percent() {
    check(
        deployment(StrategyKind::BlueGreen, "", "10"),
        (&[("100", Some("10"))], None),
    );
    check(
        deployment(StrategyKind::BlueGreen, "", "100"),
        (&[("100", None)], Some(("100", "100", Some("50")))),
    );
}

#[test]
fn floors_round_up_so_they_never_overstate() {
    // 10 / 33.3 = 30.03%: "more than 30.1%" holds, "more than 30%" would claim 30.01% is caught.
    check(
        deployment(StrategyKind::Linear, "33.3", "10"),
        (
            &[
                ("33.3", Some("30.1")),
                ("66.6", Some("15.1")),
                ("99.9", Some("10.1")),
                ("100", Some("10")),
            ],
            None,
        ),
    );
    assert_eq!(detection_floor(pct("10"), pct("30")), Some(pct("33.4")));
    assert_eq!(detection_floor(pct("99.9"), pct("100")), Some(pct("99.9")));
    assert_eq!(detection_floor(pct("0.1"), pct("100")), Some(pct("0.1")));
    assert_eq!(detection_floor(pct("0.1"), pct("0.2")), Some(pct("50")));
    assert_eq!(detection_floor(pct("20"), pct("20")), None);
    assert_eq!(detection_floor(pct("20"), pct("0")), None);
}

#[test]
fn no_detection_without_a_shift_or_an_error_rate_alarm() {
    assert_eq!(
        deployment(StrategyKind::Rolling, "", "10").detection(),
        None
    );
    let mut d = deployment(StrategyKind::Linear, "20", "10");
    d.alarms.as_mut().unwrap().error_rate = None;
    d.alarms.as_mut().unwrap().names = vec!["web-latency".into()];
    assert_eq!(d.detection(), None);
    d.alarms = None;
    assert_eq!(d.detection(), None);
}

#[test]
fn the_rollout_example_is_caught_at_every_step() {
    let stack = Stack::new(rollout()).expect("valid");
    let web = stack.deployment(stack.service("web").unwrap());
    let detection = web.detection().unwrap();
    assert_eq!(detection.threshold, pct("10"));
    assert_eq!(
        detection.steps.first(),
        Some(&StepDetection {
            production: pct("20"),
            floor: Some(pct("50")),
        })
    );
    assert_eq!(detection.warning(), None);
    let front = stack.deployment(stack.service("front").unwrap());
    assert_eq!(front.detection(), None);
}

#[test]
fn detection_reads_as_text() {
    let caught = StepDetection {
        production: pct("20"),
        floor: Some(pct("50")),
    };
    assert_eq!(
        caught.to_string(),
        "at 20%: catches a new version failing more than 50% of its requests"
    );
    let blind = StepDetection {
        production: pct("5"),
        floor: None,
    };
    assert_eq!(
        blind.to_string(),
        "at 5%: cannot catch even a new version failing every request"
    );
    let warning = Detection {
        threshold: pct("10"),
        steps: vec![blind, caught],
    }
    .warning()
    .unwrap();
    assert_eq!(
        warning.to_string(),
        "the first step (5%) cannot catch a new version that fails every request: at most 5% of all requests fail then, and the alarm needs more than 10%: set alarms.errorRate.thresholdPercent below 5 (e.g. 2.5)"
    );
    let no_grid = DetectionWarning {
        step: pct("0.1"),
        threshold: pct("0.1"),
        suggested: None,
    };
    assert!(
        no_grid.to_string().ends_with(": take a larger first step"),
        "{no_grid}"
    );
}
