//! A new task that stops answering (SIGSTOP) under about 1,000 req/s during a LINEAR rollout
//! step: the local Service Connect proxy ejects it (issue 20), so it costs its in-flight
//! requests, not seconds of zero throughput.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use model::DeploymentStatus;

use super::rollout::{Frozen, deploy, new_web_task, web_service_json};
use crate::local::Deployed;

/// Requests per second the load aims at, over this many keep-alive connections.
const RATE: f64 = 1000.0;
const CONNECTIONS: usize = 16;
/// How long the load runs after the freeze: longer than the health probes take to roll back.
const AFTER_FREEZE: Duration = Duration::from_secs(5);

/// One request of the load.
#[derive(Debug, Clone, Copy)]
struct Answer {
    /// When its answer (or failure) came, from the load's start.
    at: Duration,
    ok: bool,
}

/// `CONNECTIONS` loops, each sending its next GET to `url` one pacing period after the last
/// (at once when the last took longer): `RATE` in all while the tasks answer, and a loop waits
/// while its request does, as load-client's and a real caller's connections do.
fn paced_load(t0: Instant, url: String, stop: Arc<AtomicBool>) -> JoinHandle<Vec<Answer>> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            // Longer than the proxy's 15 s upstream timeout: every request ends with an answer.
            let client = reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            let period = Duration::from_secs_f64(CONNECTIONS as f64 / RATE);
            let mut loops = tokio::task::JoinSet::new();
            for i in 0..CONNECTIONS {
                let (client, url, stop) = (client.clone(), url.clone(), Arc::clone(&stop));
                loops.spawn(async move {
                    let mut answers = Vec::new();
                    let mut next =
                        tokio::time::Instant::now() + period.mul_f64(i as f64 / CONNECTIONS as f64);
                    // Bounded whatever happens to the test: 120 s at most.
                    while !stop.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(120) {
                        tokio::time::sleep_until(next).await;
                        let ok = match client.get(&url).send().await {
                            Ok(response) => {
                                response.status() == 200 && response.bytes().await.is_ok()
                            }
                            Err(_) => false,
                        };
                        answers.push(Answer {
                            at: t0.elapsed(),
                            ok,
                        });
                        next = (next + period).max(tokio::time::Instant::now());
                    }
                    answers
                });
            }
            let mut all = Vec::new();
            while let Some(answers) = loops.join_next().await {
                all.extend(answers.expect("a load loop ran"));
            }
            all
        })
    })
}

/// The longest time within `from..to` in which no request succeeded.
fn longest_stall(answers: &[Answer], from: Duration, to: Duration) -> Duration {
    let mut times: Vec<Duration> = answers
        .iter()
        .filter(|a| a.ok && a.at > from && a.at < to)
        .map(|a| a.at)
        .collect();
    times.sort_unstable();
    times.push(to);
    let mut last = from;
    let mut longest = Duration::ZERO;
    for at in times {
        longest = longest.max(at - last);
        last = at;
    }
    longest
}

/// Waits until web's rollout moved production traffic to the new revision.
fn wait_for_first_step(stack: &Deployed) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(rollout) = stack.status().rollout
            && rollout.progress.status == DeploymentStatus::InProgress
            && rollout.progress.production_percent.tenths() > 0
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the rollout never shifted traffic"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_new_task_that_stops_answering_under_load_costs_only_its_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let name = crate::local::stack_name("eject");
    // Two tasks per revision: the frozen task's share has a sibling of its revision to go to.
    let two = |web: &mut model::ServiceSpec| web.desired_count = 2;
    let stack = Deployed {
        app: web_service_json(dir.path(), &name, 1, two),
        stack: name.clone(),
    };
    let v2 = web_service_json(dir.path(), &name, 2, two);
    let run = stack.deploy(&[]);
    assert!(run.success, "{}", run.error_line());

    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let load = paced_load(t0, stack.service_url("web"), Arc::clone(&stop));
    // LINEAR 20% steps, each baking one model minute of 2 s.
    let deploying = std::thread::spawn(move || deploy(&v2, &name, &["--minute", "2s"]));
    let (id, pid) = new_web_task(&stack, None);
    wait_for_first_step(&stack);
    let frozen = Frozen::freeze(pid);
    let froze = t0.elapsed();
    std::thread::sleep(AFTER_FREEZE);
    let until = t0.elapsed();
    stop.store(true, Ordering::SeqCst);
    let answers = load.join().unwrap();
    let run = deploying.join().unwrap();
    drop(frozen); // SIGCONT, if the rollback has not stopped it yet

    let before: Vec<&Answer> = answers.iter().filter(|a| a.at < froze).collect();
    let failed = answers.iter().filter(|a| !a.ok).count();
    let stall = longest_stall(&answers, froze, until);
    let rate = answers
        .iter()
        .filter(|a| a.at >= froze && a.at < until)
        .count() as f64
        / (until - froze).as_secs_f64();
    eprintln!(
        "froze {id} at {:.2} s: {failed} of {} requests failed, longest stall {} ms, {rate:.0} req/s after the freeze ({} before it); rollout: {}",
        froze.as_secs_f64(),
        answers.len(),
        stall.as_millis(),
        before.len(),
        run.stdout.lines().last().unwrap_or_default(),
    );
    assert!(
        before.iter().all(|a| a.ok),
        "a request failed before the freeze"
    );
    // The load was real: every connection kept sending (a 2-core machine running the whole
    // suite reaches less than the aim).
    assert!(rate > 150.0, "only {rate:.0} req/s after the freeze");
    // Each connection can lose the request it had on the frozen task (504 after the 500 ms
    // first-byte timeout) and, until five of them failed, maybe one more.
    assert!(failed <= 2 * CONNECTIONS, "{failed} requests failed");
    // One first-byte timeout at most, with room for a noisy machine (today: 4-5 s).
    assert!(
        stall < Duration::from_millis(1500),
        "{stall:?} without an answer"
    );
}
