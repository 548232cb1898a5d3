//! `deploy --local --output json` and `--notify` on a real local rollout: the events alone on
//! stdout, every one posted once and in order to a webhook that fails its first attempts (over
//! HTTP, and over HTTPS with a private CA the command trusts through `SSL_CERT_FILE`), and a
//! webhook that never answers and one whose certificate is not trusted leave the rollout's
//! timing as it was (measured, printed)

use std::time::{Duration, Instant};

use deploy::{Event, EventKind};
use meshtest_tests::webhook::{TestCa, Webhook, dead_receiver};

use super::{DEPLOY_TIMEOUT, Deployed, Run, xtask_with};

/// The events a run wrote on stdout: every line one event.
fn events(run: &Run) -> Vec<Event> {
    run.stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stdout line is no event ({e}): {line}"))
        })
        .collect()
}

/// From the first event to the last, as the follower read them: how long it followed.
fn followed(events: &[Event]) -> Duration {
    let (first, last) = (events.first().unwrap(), events.last().unwrap());
    last.time
        .system_time()
        .duration_since(first.time.system_time())
        .unwrap()
}

/// Deploys `version` of `stack` with `--output json` and `envs`: the run and its wall time.
fn deploy(stack: &Deployed, version: &str, envs: &[(&str, &str)]) -> (Run, Duration) {
    let args = [
        "deploy",
        &stack.app,
        "--local",
        "--stack-name",
        &stack.stack,
        "--version",
        version,
        "--minute",
        "300ms",
        "--output",
        "json",
    ];
    let started = Instant::now();
    let run = xtask_with(&args, envs, DEPLOY_TIMEOUT);
    (run, started.elapsed())
}

#[test]
fn json_events_and_webhooks_on_a_local_rollout() {
    let (stack, _) = Deployed::new("rollout", "events", &[]);

    // Without webhooks: the events alone on stdout, started first, finished last.
    let (plain, plain_wall) = deploy(&stack, "2", &[]);
    assert_eq!(plain.code, Some(0), "{}", plain.error_line());
    let plain_events = events(&plain);
    assert_eq!(
        plain_events.first().map(|e| e.kind.name()),
        Some("deploymentStarted")
    );
    assert!(matches!(
        plain_events.last().map(|e| &e.kind),
        Some(EventKind::Finished {
            succeeded: true,
            ..
        })
    ));
    // What used to be on stdout is on stderr.
    assert!(
        plain.stderr.contains("web: rollout to 2 finished"),
        "{}",
        plain.stderr
    );

    // With a webhook that fails its first three attempts, the same over HTTPS with a
    // certificate from a private CA that SSL_CERT_FILE names (as a user trusts an internal
    // webhook), one that never answers and one over HTTPS from a CA nobody trusts, all from
    // MESHTEST_NOTIFY (space-separated).
    let flaky = Webhook::flaky(3, "/hooks/flaky");
    let ca = TestCa::new("meshtest events test CA");
    let trusted = Webhook::flaky_tls(2, "/hooks/private", &ca);
    let other = TestCa::new("meshtest untrusted test CA");
    let untrusted = Webhook::flaky_tls(0, "/hooks/untrusted", &other);
    let dead = dead_receiver("/hooks/dead");
    let pem = tempfile::NamedTempFile::new().unwrap();
    ca.write_pem(pem.path());
    let notify = format!("{} {} {dead} {}", flaky.url, trusted.url, untrusted.url);
    let (notified, notified_wall) = deploy(
        &stack,
        "3",
        &[
            ("MESHTEST_NOTIFY", &notify),
            ("SSL_CERT_FILE", pem.path().to_str().unwrap()),
        ],
    );
    assert_eq!(notified.code, Some(0), "{}", notified.error_line());
    let notified_events = events(&notified);

    // Every event reached the flaky webhooks once, in order, with its `text` line.
    for hook in [&flaky, &trusted] {
        let posted: Vec<Event> = hook
            .accepted()
            .iter()
            .map(|body| {
                let mut body = body.clone();
                let text = body
                    .as_object_mut()
                    .unwrap()
                    .remove("text")
                    .expect("a text line");
                assert!(text.as_str().unwrap().starts_with(&stack.stack), "{text}");
                serde_json::from_value(body).unwrap()
            })
            .collect();
        assert_eq!(posted, notified_events, "{}", hook.url);
    }
    assert_eq!(
        untrusted.requests(),
        0,
        "a request got past the untrusted certificate"
    );
    // The dead one and the untrusted one are said once each, without their paths.
    let warnings: Vec<&str> = notified
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: cannot deliver rollout events"))
        .collect();
    assert_eq!(warnings.len(), 2, "{}", notified.stderr);
    assert!(
        warnings.iter().all(|w| !w.contains("/hooks/")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("invalid peer certificate") && w.contains("SSL_CERT_FILE")),
        "{warnings:?}"
    );

    // The follow took as long with the dead webhook as without (same rollout: 5 steps of one
    // model minute and a 2-minute bake at 300 ms a minute); the command's end waits at most
    // the 5 s drain for the undelivered events.
    let (plain_follow, notified_follow) = (followed(&plain_events), followed(&notified_events));
    println!(
        "follow without webhooks {:.2} s, with a dead, an untrusted and two flaky webhooks {:.2} s; deploy wall time {:.2} s and {:.2} s",
        plain_follow.as_secs_f64(),
        notified_follow.as_secs_f64(),
        plain_wall.as_secs_f64(),
        notified_wall.as_secs_f64()
    );
    assert!(
        notified_follow < plain_follow + Duration::from_millis(1500),
        "the dead webhook slowed the follow: {notified_follow:?} against {plain_follow:?}"
    );
    assert!(
        notified_wall < plain_wall + Duration::from_secs(8),
        "the end waited past its drain: {notified_wall:?} against {plain_wall:?}"
    );
}
