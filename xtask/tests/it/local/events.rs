//! `deploy --local --output json` and `--notify` on a real local rollout: the events alone on
//! stdout, every one posted once and in order to a webhook that fails its first attempts, and a
//! webhook that never answers leaves the rollout's timing as it was (measured, printed)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deploy::{Event, EventKind};

use super::{DEPLOY_TIMEOUT, Deployed, Run, xtask_with};

/// The body of one HTTP/1.1 request read from `stream`.
fn read_body(stream: &TcpStream) -> Option<Vec<u8>> {
    let mut reader = BufReader::new(stream);
    let (mut length, mut line) = (0, String::new());
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

/// A webhook on 127.0.0.1 that answers 503 to its first `failures` requests, then 200: the
/// bodies it accepted, in order.
fn flaky_receiver(failures: usize) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/flaky", listener.local_addr().unwrap());
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let into = accepted.clone();
    std::thread::spawn(move || {
        let mut requests = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let Some(body) = read_body(&stream) else {
                continue;
            };
            requests += 1;
            let status = if requests <= failures {
                "503 Service Unavailable"
            } else {
                into.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, accepted)
}

/// A webhook on 127.0.0.1 that takes connections and never answers.
fn dead_receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/dead", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    url
}

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

    // With a webhook that fails its first three attempts and one that never answers, both
    // from MESHTEST_NOTIFY (space-separated).
    let (flaky, accepted) = flaky_receiver(3);
    let dead = dead_receiver();
    let notify = format!("{flaky} {dead}");
    let (notified, notified_wall) = deploy(&stack, "3", &[("MESHTEST_NOTIFY", &notify)]);
    assert_eq!(notified.code, Some(0), "{}", notified.error_line());
    let notified_events = events(&notified);

    // Every event reached the flaky webhook once, in order, with its `text` line.
    let accepted = accepted.lock().unwrap().clone();
    let posted: Vec<Event> = accepted
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
    assert_eq!(posted, notified_events);
    // The dead one is said once, without its path.
    let warnings: Vec<&str> = notified
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: cannot deliver rollout events"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", notified.stderr);
    assert!(!warnings[0].contains("/hooks/dead"), "{}", warnings[0]);

    // The follow took as long with the dead webhook as without (same rollout: 5 steps of one
    // model minute and a 2-minute bake at 300 ms a minute); the command's end waits at most
    // the 5 s drain for the undelivered events.
    let (plain_follow, notified_follow) = (followed(&plain_events), followed(&notified_events));
    println!(
        "follow without webhooks {:.2} s, with a dead and a flaky webhook {:.2} s; deploy wall time {:.2} s and {:.2} s",
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
