//! The flag space: whatever the command line holds, parsing either refuses it with a message or
//! yields a run config that [`Config::check`] accepts and whose timers cannot panic; and a
//! [`Config`] built by hand is checked, never trusted.

use std::time::{Duration, Instant};

use clap::Parser as _;
use load_client::cli::Cli;
use load_client::{Config, Mode, Target, limits};
use proptest::prelude::*;

/// Durations as a user might type them, sensible or not.
fn duration_text() -> impl Strategy<Value = String> {
    let unit = prop::sample::select(vec![
        "", "ns", "us", "ms", "s", "m", "h", "d", "w", "M", "y", "years",
    ]);
    prop_oneof![
        (any::<u64>(), unit.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        (0u64..5000, unit).prop_map(|(n, u)| format!("{n}{u}")),
        prop::sample::select(vec![
            "0s", "-1s", "1e3s", "NaN s", "", " ", "1h 1ms", "1.5s"
        ])
        .prop_map(str::to_owned),
    ]
}

/// Numbers as text: every float (NaN, infinities, subnormals), integers, percentages, junk.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|f| f.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        any::<i64>().prop_map(|n| n.to_string()),
        (0u32..200).prop_map(|n| format!("{n}%")),
        prop::sample::select(vec![
            "NaN", "inf", "-inf", "3e9", "1e-300", "0", "-0", "", "1,5"
        ])
        .prop_map(str::to_owned),
    ]
}

/// One flag with its value(s) as separate arguments.
fn flag() -> impl Strategy<Value = Vec<String>> {
    let with = |name: &'static str, value: BoxedStrategy<String>| {
        value.prop_map(move |v| vec![name.to_owned(), v])
    };
    prop_oneof![
        with("--interval", duration_text().boxed()),
        with("--duration", duration_text().boxed()),
        with("--timeout", duration_text().boxed()),
        with("--rate", number_text().boxed()),
        with("--max-error-rate", number_text().boxed()),
        with("--concurrency", number_text().boxed()),
        with("--requests", number_text().boxed()),
        with("--header", any::<String>().boxed()),
        with("--header", "[a-zA-Z-]{0,8}:[ -~]{0,8}".boxed()),
        prop::sample::select(vec!["--json", "--timeline", "--via-reqwest"])
            .prop_map(|f| vec![f.to_owned()]),
    ]
}

/// What the run does with a config: nothing here may panic for a config `check` accepts.
fn exercise_timers(config: &Config) {
    let now = Instant::now();
    assert!(!config.interval.is_zero() && !config.timeout.is_zero());
    let _ = now + config.interval + config.timeout;
    if let Some(d) = config.duration {
        assert!(now.checked_add(d).is_some(), "{d:?}");
    }
    if let Mode::Load {
        concurrency,
        rate: Some(rate),
    } = config.mode
    {
        let period = limits::pacing_period(rate, concurrency).expect("a representable period");
        assert!(!period.is_zero());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_command_line_is_refused_or_runnable(flags in prop::collection::vec(flag(), 0..6)) {
        let mut args = vec!["load-client".to_owned(), "127.0.0.1:9".to_owned()];
        args.extend(flags.into_iter().flatten());
        if let Ok(cli) = Cli::try_parse_from(&args) {
            let config = cli.config();
            prop_assert_eq!(config.check(), Ok(()), "{:?}", args);
            exercise_timers(&config);
            if let Some(max) = cli.max_error_rate(&config.mode) {
                prop_assert!((0.0..=1.0).contains(&max), "{:?}", args);
            }
        }
    }

    #[test]
    fn any_config_is_checked_without_panicking(
        interval in any::<Duration>(),
        timeout in any::<Duration>(),
        duration in proptest::option::of(any::<Duration>()),
        load in proptest::option::of((any::<usize>(), proptest::option::of(any::<f64>()))),
    ) {
        let mut config = Config::poll(Target::parse("127.0.0.1:9").unwrap());
        config.interval = interval;
        config.timeout = timeout;
        config.duration = duration;
        if let Some((concurrency, rate)) = load {
            config.mode = Mode::Load { concurrency, rate };
        }
        if config.check().is_ok() {
            exercise_timers(&config);
        }
    }
}
