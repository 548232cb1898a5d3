//! Rollouts on the local runtime: `deploy --local` following the rollout it started,
//! `status --local --watch`, `rollback --local` and `continue --local`
//!
//! The supervisor runs the rollout (local-runtime's engine); these commands only read its status
//! and send it commands, and show the progress with the same display as the AWS watch
//! ([`crate::rollout_view`]).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, LocalStep as _, Refusal, Result};
use crate::report::{Input, Reporter, Verb};
use local_runtime::control::{ControlClient, RolloutCommand, Status};
use local_runtime::launcher::{self, Found};
use local_runtime::rollout::LocalRollout;
use model::{DeploymentStatus, RevisionTasks, RolloutProgress, StackSpec};

use super::{Local, LocalBackend};
use crate::outcome::Rollouts;
use crate::request::{Judged, RolloutRequest, Wait};
use crate::rollout_view::{self, Commands, RolloutView};
use crate::stack_view::{Detail, StackView};

const POLL: Duration = Duration::from_millis(100);
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// Adds `pairs` (`KEY=VALUE` each) to the environment of every service of `spec` that deploys
/// with a traffic-shifting strategy and takes `app`'s version (all of them without an app): the
/// new revision's tasks get it (`--env FAULT_RATE=0.5` rehearses a rollback). The caller validates the result, so a reserved name is refused.
pub(super) fn add_env(
    spec: &mut StackSpec,
    app: Option<&model::examples::App>,
    pairs: &[(String, String)],
    out: &dyn Reporter,
) -> Result<()> {
    let mut names = Vec::new();
    for svc in &mut spec.services {
        // The services the app's version goes to (gateway with a strategy: blue alone), so
        // the variables come with the one rollout that deploy starts.
        let takes =
            app.is_none_or(|app| app.takes_version(Some(svc.deployment.strategy), &svc.name));
        if svc.deployment.strategy.is_native_shift() && takes {
            svc.environment.extend(pairs.iter().cloned());
            names.push(svc.name.clone());
        }
    }
    if names.is_empty() {
        return Err(Error::Refused(Refusal::EnvWithoutRollout {
            stack: spec.name.clone(),
        }));
    }
    out.note(format!(
        "{} applies to {}",
        out.input(Input::Env),
        names.join(", ")
    ));
    Ok(())
}

/// Shows the rollout `client`'s supervisor runs until it ends.
pub(super) fn follow(local: &Local<'_>, client: &ControlClient) -> Result<Rollouts> {
    follow_until(local, client, None)
}

/// [`follow`], or with a `wait`, until that is settled.
fn follow_until(local: &Local<'_>, client: &ControlClient, wait: Option<Wait>) -> Result<Rollouts> {
    let out = local.out;
    let commands = Commands::of(&local.target.name, out);
    let mut view = RolloutView::new(&local.target.name, commands.clone(), out);
    let result =
        follow_loop(client, out, &mut view, &commands, wait).map_err(|err| lost(local, err));
    view.finish();
    let (rollout, stop) = result?;
    if let Some(rollout) = &rollout {
        let p = &rollout.progress;
        if p.status == model::DeploymentStatus::Successful {
            out.line(format!(
                "{} took {:.2} s (its bakes add up to {:.2} s)",
                p.service,
                rollout.ended_ms.unwrap_or(rollout.elapsed_ms) as f64 / 1000.0,
                rollout.nominal_ms as f64 / 1000.0
            ));
        }
    }
    let failed = rollout.is_some_and(|r| rollout_view::failed(&r.progress));
    Ok(match stop {
        Stop::Judged(Judged::Reached) => Rollouts::Reached,
        Stop::Judged(_) => Rollouts::Failed,
        Stop::TimedOut => Rollouts::TimedOut,
        Stop::Ended if failed => Rollouts::Failed,
        Stop::Ended => Rollouts::Completed,
    })
}

/// Why the follower stopped.
enum Stop {
    /// The rollout ended (no wait).
    Ended,
    /// The wait's condition was reached or missed.
    Judged(Judged),
    TimedOut,
}

/// Why the control API stopped answering the follower, when its state folder says: the stack
/// was destroyed (the folder is gone) or its supervisor died (its pid no longer runs); else
/// `err` as it was.
fn lost(local: &Local<'_>, err: Error) -> Error {
    if !matches!(err, Error::Local { .. }) {
        return err;
    }
    let stack = local.target.name.clone();
    if !local.dir.exists() {
        return Error::Refused(Refusal::DestroyedWhileFollowed {
            stack,
            dir: local.shown(local.dir.path()),
        });
    }
    match launcher::find(&local.dir) {
        Ok(Found::Dead(record)) => Error::Refused(Refusal::SupervisorDied {
            stack,
            pid: record.supervisor.pid,
            takeover: launcher::takeover(&local.dir, &record).map(Box::new),
            status: local.command(Verb::Status),
            destroy: local.command(Verb::Destroy),
            deploy: local.command(Verb::Deploy),
        }),
        Ok(Found::Nothing) => Error::Refused(Refusal::DestroyedWhileFollowed {
            stack,
            dir: local.shown(local.dir.path()),
        }),
        _ => err,
    }
}

/// Reads the supervisor's rollout every [`POLL`] and shows it until it ends or `wait` is
/// settled. With [`Wait::since`], a rollout that began before then (or none at all) is not
/// shown or judged: the follower waits, up to the wait's timeout, for the supervisor to start
/// one since then. The rollout last shown, if any, comes back with why it stopped.
fn follow_loop(
    client: &ControlClient,
    out: &dyn Reporter,
    view: &mut RolloutView<'_>,
    commands: &Commands,
    wait: Option<Wait>,
) -> Result<(Option<LocalRollout>, Stop)> {
    let deadline = wait
        .and_then(|w| w.timeout)
        .map(|timeout| Instant::now() + timeout);
    let mut said_waiting = false;
    let mut shown = None;
    loop {
        let status = client
            .status(CONTROL_TIMEOUT)
            .step("cannot read the rollout's status")?;
        let counted = status
            .rollout
            .clone()
            .filter(|r| wait.is_none_or(|w| w.counts(&r.progress)));
        match (counted, wait.and_then(|w| w.since)) {
            (Some(mut rollout), _) => {
                rollout.progress.revisions = revision_tasks(&status, &rollout.progress);
                // The tree first: a terminal then draws it at once rather than a bar first.
                view.show_tree(&stack_view(&status, &rollout.progress, commands.clone()));
                view.show(&rollout.progress);
                let stop = match wait {
                    Some(wait) => Some(wait.until.judge(&rollout.progress))
                        .filter(|judged| *judged != Judged::Pending)
                        .map(Stop::Judged),
                    None => rollout.progress.status.is_terminal().then_some(Stop::Ended),
                };
                if let Some(stop) = stop {
                    return Ok((Some(rollout), stop));
                }
                shown = Some(rollout);
            }
            (None, Some(since)) => {
                // Not started yet: the last rollout, if any, began before `since`.
                if !said_waiting {
                    out.note(waiting_since(since, status.rollout.as_ref()));
                    said_waiting = true;
                }
            }
            (None, None) => return Err(Error::Refused(Refusal::NoLocalRollout)),
        }
        let now = Instant::now();
        let pause = match deadline {
            Some(deadline) if now >= deadline => return Ok((shown, Stop::TimedOut)),
            Some(deadline) => POLL.min(deadline - now),
            None => POLL,
        };
        std::thread::sleep(pause);
    }
}

/// What a wait since `since` says once while the supervisor has no rollout started since then:
/// what it waits for, and when the last rollout began.
fn waiting_since(since: SystemTime, last: Option<&LocalRollout>) -> String {
    let last = match last.and_then(|r| r.progress.started_at_ms) {
        Some(ms) => format!(
            "the last one, of {}, began at {}",
            last.map_or("", |r| r.progress.service.as_str()),
            rfc3339(UNIX_EPOCH + Duration::from_millis(ms))
        ),
        None if last.is_some() => "the last one does not say when it began".to_owned(),
        None => "none ran yet".to_owned(),
    };
    format!(
        "waiting for a rollout started since {} ({last})",
        rfc3339(since)
    )
}

/// `t` in RFC 3339, UTC, to the millisecond (`2026-12-05T13:00:00.000Z`).
fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The tasks of each revision of the service rolling out, from the supervisor's task processes:
/// a task it lists has passed its start-up health check and is dropped once it fails its
/// probes, so locally every running task is a healthy one. Both revisions want the service's
/// count while the rollout runs; from CLEAN_UP on, or once it ended, only the winner does.
pub(crate) fn revision_tasks(status: &Status, p: &RolloutProgress) -> Vec<RevisionTasks> {
    let Some(service) = status.services.iter().find(|s| s.name == p.service) else {
        return Vec::new();
    };
    let (source_wanted, target_wanted) = match p.status {
        DeploymentStatus::Successful => (false, true),
        s if s.is_terminal() => (true, false),
        // CLEAN_UP stops the old revision's tasks.
        _ if p.stage == Some(model::DeploymentStage::CleanUp) => (false, true),
        _ => (true, true),
    };
    let tasks = |revision: &str, wanted: bool| {
        let running = service
            .tasks
            .iter()
            .filter(|t| t.version == revision)
            .count();
        let running = u32::try_from(running).unwrap_or(u32::MAX);
        RevisionTasks {
            revision: revision.to_owned(),
            desired: if wanted { service.desired_count } else { 0 },
            running,
            healthy: Some(running),
        }
    };
    p.source
        .iter()
        .map(|r| tasks(r, source_wanted))
        .chain(p.target.iter().map(|r| tasks(r, target_wanted)))
        .collect()
}

/// The whole stack from the supervisor's status, `p` being its rollout: every service in the
/// order the plan runs them, steady ones with their tasks.
pub(crate) fn stack_view(status: &Status, p: &RolloutProgress, commands: Commands) -> StackView {
    let order: Vec<String> = status.services.iter().map(|s| s.name.clone()).collect();
    let steady: Vec<(String, RevisionTasks)> = status
        .services
        .iter()
        .map(|s| {
            let running = u32::try_from(s.tasks.len()).unwrap_or(u32::MAX);
            (
                s.name.clone(),
                RevisionTasks {
                    revision: s.version.clone(),
                    desired: s.desired_count,
                    running,
                    healthy: Some(running),
                },
            )
        })
        .collect();
    StackView::build(
        &status.stack,
        commands,
        &order,
        &steady,
        &[(p.clone(), Detail::default())],
    )
}

/// `status --local --watch`: follows the rollout the local runtime of `request.target` runs
/// (with `request.wait`, until that is settled; the last rollout when it has ended).
pub fn watch(
    backend: &LocalBackend,
    request: &RolloutRequest,
    out: &dyn Reporter,
) -> Result<Rollouts> {
    let local = Local::new(
        request.target.named().clone(),
        &backend.settings.folders,
        out,
    );
    let running = local.running()?;
    // With a wait since a time, no rollout yet is one not started yet and the follower waits,
    // unless the running model has no service that could ever run one.
    let shifts = running.status.spec.as_ref().is_none_or(|spec| {
        spec.services
            .iter()
            .any(|s| s.deployment.strategy.is_native_shift())
    });
    let since = request.wait.and_then(|w| w.since).filter(|_| shifts);
    if running.status.rollout.is_none() && since.is_none() {
        out.line(format!(
            "{} runs no rollout: deploy a new version with `{}`",
            running.status.stack,
            local.command(Verb::DeployVersion)
        ));
        return Ok(Rollouts::NotFollowed);
    }
    follow_until(&local, &running.client, request.wait)
}

fn command(
    backend: &LocalBackend,
    request: &RolloutRequest,
    out: &dyn Reporter,
    command: RolloutCommand,
) -> Result<()> {
    let local = Local::new(
        request.target.named().clone(),
        &backend.settings.folders,
        out,
    );
    let status = local.running()?.client.rollout(command, CONTROL_TIMEOUT)?;
    if let Some(rollout) = &status.rollout {
        out.line(rollout_view::summary(&rollout.progress));
    }
    Ok(())
}

/// `rollback --local`: rolls back the rollout in progress.
pub fn rollback(
    backend: &LocalBackend,
    request: &RolloutRequest,
    out: &dyn Reporter,
) -> Result<()> {
    command(backend, request, out, RolloutCommand::Rollback)
}

/// `continue --local`: lets a rollout waiting at a pause hook go on.
pub fn continue_paused(
    backend: &LocalBackend,
    request: &RolloutRequest,
    out: &dyn Reporter,
) -> Result<()> {
    command(backend, request, out, RolloutCommand::Continue)
}

#[cfg(test)]
mod tests {
    use local_runtime::process::ProcessId;

    use super::*;
    use crate::local::Folders;
    use crate::report::Recorder;
    use crate::target::Named;

    /// The tree's tasks per revision come from the supervisor's task processes, grouped by
    /// version: both revisions want the service's count during the rollout, only the new one
    /// from CLEAN_UP on; the other services are steady with their tasks.
    #[test]
    fn the_tree_counts_each_revisions_tasks_from_the_supervisors_processes() {
        let task = |id: &str, version: &str| {
            format!(
                r#"{{"id": "{id}", "version": "{version}", "pid": 1, "url": "http://127.0.0.1:1", "log": "l"}}"#
            )
        };
        let status: Status = serde_json::from_str(&format!(
            r#"{{"stack": "rollout", "supervisorPid": 1, "egressUrl": "http://127.0.0.1:1",
                "names": [], "services": [
                {{"name": "front", "version": "1", "desiredCount": 2, "url": "http://127.0.0.1:2",
                  "restarts": 0, "tasks": [{}, {}]}},
                {{"name": "web", "version": "1", "desiredCount": 1, "url": "http://127.0.0.1:3",
                  "restarts": 0, "tasks": [{}, {}]}}]}}"#,
            task("front-task1", "1"),
            task("front-task2", "1"),
            task("web-task1", "1"),
            task("web-task2", "2"),
        ))
        .unwrap();
        let at = |stage: &str| -> RolloutProgress {
            serde_json::from_str(&format!(
                r#"{{"service": "web", "status": "IN_PROGRESS", "strategy": "LINEAR",
                    "stage": "{stage}", "source": "1", "target": "2",
                    "productionPercent": 40, "testTrafficOnTarget": true}}"#
            ))
            .unwrap()
        };
        let counts = |p: &RolloutProgress| -> Vec<(String, u32, u32, Option<u32>)> {
            revision_tasks(&status, p)
                .into_iter()
                .map(|t| (t.revision, t.desired, t.running, t.healthy))
                .collect()
        };
        let shifting = at("PRODUCTION_TRAFFIC_SHIFT");
        assert_eq!(
            counts(&shifting),
            [("1".into(), 1, 1, Some(1)), ("2".into(), 1, 1, Some(1))]
        );
        assert_eq!(
            counts(&at("CLEAN_UP")),
            [("1".into(), 0, 1, Some(1)), ("2".into(), 1, 1, Some(1))]
        );
        let commands = Commands {
            continue_paused: "continue".into(),
            rollback: "rollback".into(),
        };
        let lines = stack_view(&status, &shifting, commands).lines();
        assert_eq!(
            lines[..3],
            [
                "stack rollout",
                "├── front: steady, revision 1, tasks 2 desired, 2 running, 2 healthy",
                "└── web: LINEAR 1 -> 2, PRODUCTION_TRAFFIC_SHIFT",
            ]
        );
    }

    /// When the control API stops answering a follower, the state folder says why: the stack
    /// was destroyed (no folder) or its supervisor died (a record whose pid is gone). It used
    /// to say only that the control API did not answer.
    #[test]
    fn a_lost_follower_says_whether_the_stack_was_destroyed_or_its_supervisor_died() {
        let base = std::env::temp_dir().join(format!("meshtest-lost-{}", std::process::id()));
        let folders = Folders {
            target_dir: base.clone(),
            shown_from: base.clone(),
        };
        let target = Named { name: "hx".into() };
        // Worded as the command line words a target given as `hx.json`.
        let out = Recorder::new()
            .wording(|next| format!("cargo xtask {} hx.json --local", next.verb.as_str()));
        let local = Local::new(target, &folders, &out);
        let silent = || {
            let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
            Error::local("cannot read the rollout's status", io)
        };
        assert_eq!(
            lost(&local, silent()).to_string(),
            "hx was destroyed while its rollout was followed: its state folder local/hx is gone"
        );
        local.dir.create().unwrap();
        local
            .dir
            .write_runtime(&crate::local::flow_tests::dead_record("hx"))
            .unwrap();
        assert_eq!(
            lost(&local, silent()).to_string(),
            "hx's local supervisor (pid 2147483632) stopped running while its rollout was followed (it crashed or was killed): `cargo xtask status hx.json --local` now says it is gone; clean up with `cargo xtask destroy hx.json --local`, then `cargo xtask deploy hx.json --local` starts it again"
        );
        // Its data plane still serves (this test's process stands in for it) and the model is
        // recorded, with the rollout it interrupted: the next deploy takes over, and both the
        // follower and `status` say so.
        let mut record = local.dir.read_runtime().unwrap().unwrap();
        let plane = ProcessId::current().unwrap();
        record.dataplane = Some(plane.clone());
        local.dir.write_runtime(&record).unwrap();
        let rollout: local_runtime::rollout::LocalRollout = serde_json::from_str(
            r#"{"progress": {"service": "web", "status": "IN_PROGRESS", "strategy": "LINEAR",
                "stage": "PRODUCTION_TRAFFIC_SHIFT", "source": "1", "target": "2",
                "productionPercent": 40, "testTrafficOnTarget": true},
                "minuteMs": 2000, "steps": [20, 40, 60, 80, 100], "elapsedMs": 5000,
                "nominalMs": 20000}"#,
        )
        .unwrap();
        local
            .dir
            .write_applied(&local_runtime::state_dir::AppliedRecord {
                spec: Some(model::examples::appmesh("hx")),
                gateway_port: None,
                health_timeout_ms: None,
                rollout: Some(local_runtime::state_dir::RolloutRecord {
                    status: rollout,
                    target_tasks: vec!["web-task3".into()],
                    hook_groups: Vec::new(),
                }),
            })
            .unwrap();
        let serving = format!(
            "but its data plane (pid {}) still serves its tasks, with 40% of web's production on 2 where its rollout stopped (PRODUCTION_TRAFFIC_SHIFT); the next `cargo xtask deploy hx.json --local` takes over the data plane and tasks and rolls the rollout of web back (a restarted supervisor never completes a rollout), or `cargo xtask destroy hx.json --local` stops everything",
            plane.pid
        );
        assert_eq!(
            lost(&local, silent()).to_string(),
            format!(
                "hx's local supervisor (pid 2147483632) stopped running while its rollout was followed (it crashed or was killed), {serving}"
            )
        );
        assert_eq!(
            local.running().unwrap_err().to_string(),
            format!("hx's local supervisor (pid 2147483632) is gone, {serving}")
        );
        // Without a recorded model there is nothing to rebuild routing from: clean up.
        std::fs::remove_file(local.dir.applied_file()).unwrap();
        assert_eq!(
            local.running().unwrap_err().to_string(),
            "hx is not running locally: its supervisor (pid 2147483632) is gone; clean up with `cargo xtask destroy hx.json --local`"
        );
        // Other errors pass through.
        assert!(matches!(
            lost(&local, Error::Refused(Refusal::NoLocalRollout)),
            Error::Refused(Refusal::NoLocalRollout)
        ));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
