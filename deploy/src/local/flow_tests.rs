//! The local flows (deploy, diff, destroy, status, watch, rollback, continue) driven as a
//! program drives them, each with a [`Recorder`]: what they say and what they return, against
//! states that need no supervisor (nothing deployed, a dead record, a leftover folder, refused
//! inputs) and against a real one (the built `meshtest-local` and `demo-app`, as the command
//! line builds them).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use local_runtime::changes::Op;
use local_runtime::process::ProcessId;
use local_runtime::state_dir::RuntimeRecord;
use model::StrategyKind;

use super::*;
use crate::error::{LocalBinary, Refusal};
use crate::outcome::Changes;
use crate::report::Recorder;
use crate::target::{Choice, Resolved, resolve};

/// A state folder root of one test, removed when dropped.
struct Scratch {
    folders: Folders,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        let base =
            std::env::temp_dir().join(format!("meshtest-flow-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        Scratch {
            folders: Folders::new(base),
        }
    }

    /// The local runtime in this folder with `binaries` as they are (nothing is built), any free
    /// gateway port.
    fn backend(&self, binaries: Binaries) -> LocalBackend {
        let mut settings = Settings::new(self.folders.clone(), binaries);
        settings.gateway_port = Some(0);
        LocalBackend::new(settings)
    }

    /// A backend whose binaries do not exist: for the flows that must not start anything.
    fn without_binaries(&self) -> LocalBackend {
        let missing = self.folders.target_dir.join("no-such-binary");
        self.backend(Binaries {
            supervisor: missing.clone(),
            demo_app: missing,
        })
    }

    fn dir(&self, stack: &str) -> StateDir {
        StateDir::new(&self.folders.target_dir, stack)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folders.target_dir);
    }
}

/// A recorder that words commands and inputs as the command line does for an app given by
/// name, so the lines read as a user sees them.
fn recorder() -> Recorder {
    Recorder::new()
        .wording(|next| format!("cargo xtask {} {} --local", next.verb.as_str(), next.stack))
        .inputs(|input| match input {
            Input::Env => "--env".to_owned(),
            Input::Version => "--version".to_owned(),
            Input::StateFile => "--force".to_owned(),
            other => other.to_string(),
        })
}

fn app(app: &str) -> Resolved {
    resolve(&Choice {
        app,
        ..Choice::default()
    })
    .unwrap()
}

/// The rollout app at `version`, its `web` rolling out LINEAR.
fn linear_rollout(version: u32) -> Resolved {
    resolve(&Choice {
        app: "rollout",
        version: Some(version),
        strategy: Some(StrategyKind::Linear),
        ..Choice::default()
    })
    .unwrap()
}

fn named(stack: &str) -> Named {
    Named {
        name: stack.to_owned(),
    }
}

/// A runtime record of `stack` whose supervisor is gone (no process has its pid).
pub(super) fn dead_record(stack: &str) -> RuntimeRecord {
    RuntimeRecord {
        stack: stack.into(),
        // Above Linux's pid_max: no process has it.
        supervisor: ProcessId {
            pid: 0x7fff_fff0,
            start: "1".into(),
        },
        dataplane: None,
        control_url: "http://127.0.0.1:1".into(),
        token: "t".into(),
        egress_url: "http://127.0.0.1:2".into(),
        gateway_url: None,
        services: BTreeMap::new(),
        tasks: Vec::new(),
    }
}

#[test]
fn destroying_nothing_deployed_says_so_and_creates_nothing() {
    let scratch = Scratch::new("destroy-nothing");
    let out = recorder();
    let destroyed = destroy(
        &scratch.without_binaries(),
        &DestroyRequest::new(named("web")),
        &out,
    )
    .unwrap();
    assert_eq!(destroyed, Destroyed::Absent);
    assert_eq!(
        out.lines(),
        ["nothing to destroy: web is not running locally"]
    );
    assert!(!scratch.dir("web").exists());
}

#[test]
fn destroying_a_folder_nothing_runs_in_removes_it() {
    let scratch = Scratch::new("destroy-leftover");
    let dir = scratch.dir("web");
    dir.create().unwrap();
    dir.write_runtime(&dead_record("web")).unwrap();
    let out = recorder();
    let destroyed = destroy(
        &scratch.without_binaries(),
        &DestroyRequest::new(named("web")),
        &out,
    )
    .unwrap();
    assert_eq!(destroyed, Destroyed::Stopped { pids: Vec::new() });
    assert_eq!(
        out.lines(),
        ["web: no process was running; removed local/web"]
    );
    assert!(!dir.exists());
}

/// Every verb that needs a running stack refuses a stack that was never deployed, with the
/// command that starts it, and records nothing else.
#[test]
fn verbs_on_a_stack_never_deployed_say_how_to_start_it() {
    let scratch = Scratch::new("never-deployed");
    let backend = scratch.without_binaries();
    let out = recorder();
    let rollouts = RolloutRequest::new(named("web"));
    let errors = [
        status(&backend, &StatusRequest::new(named("web")), &out).map(|_| ()),
        watch(&backend, &rollouts, &out).map(|_| ()),
        rollback(&backend, &rollouts, &out),
        continue_paused(&backend, &rollouts, &out),
    ];
    for err in errors {
        let err = err.expect_err("nothing runs");
        assert!(
            matches!(&err, Error::Refused(Refusal::NotRunning { stack, .. }) if stack == "web"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "web is not running locally: start it with `cargo xtask deploy web --local`"
        );
    }
    assert_eq!(out.lines(), Vec::<String>::new());
    assert!(!scratch.dir("web").exists());
}

#[test]
fn verbs_on_a_dead_supervisor_say_how_to_clean_up() {
    let scratch = Scratch::new("dead");
    let dir = scratch.dir("web");
    dir.create().unwrap();
    dir.write_runtime(&dead_record("web")).unwrap();
    let backend = scratch.without_binaries();
    let out = recorder();
    let rollouts = RolloutRequest::new(named("web"));
    let errors = [
        status(&backend, &StatusRequest::new(named("web")), &out).map(|_| ()),
        watch(&backend, &rollouts, &out).map(|_| ()),
        rollback(&backend, &rollouts, &out),
    ];
    for err in errors {
        let err = err.expect_err("its supervisor is gone");
        assert!(
            matches!(
                &err,
                Error::Refused(Refusal::SupervisorGone {
                    pid: 0x7fff_fff0,
                    ..
                })
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "web is not running locally: its supervisor (pid 2147483632) is gone; clean up with `cargo xtask destroy web --local`"
        );
    }
}

/// A diff of a stack nothing runs adds everything, and starts nothing.
#[test]
fn a_diff_of_nothing_running_adds_every_service() {
    let scratch = Scratch::new("diff-fresh");
    let out = recorder();
    let target = app("serviceconnect");
    let services = target.stack.spec().services.len();
    let diffed = diff(&scratch.without_binaries(), &DiffRequest::new(target), &out).unwrap();
    assert_eq!(diffed.stack_name, "serviceconnect");
    assert!(!diffed.exists);
    let Changes::Local(changes) = &diffed.changes else {
        panic!("a local diff gives local changes: {diffed:?}")
    };
    let added = changes
        .iter()
        .filter(|c| c.op == Op::Add && c.kind == local_runtime::changes::ChangeKind::Service)
        .count();
    assert_eq!(added, services, "{changes:?}");
    assert!(changes.iter().all(|c| c.op == Op::Add), "{changes:?}");
    assert!(!scratch.dir("serviceconnect").exists());
}

/// `--env` is for services that roll out: the diff names them, and refuses a stack with none.
#[test]
fn env_overrides_name_the_services_they_reach_or_are_refused() {
    let scratch = Scratch::new("env");
    let mut backend = scratch.without_binaries();
    backend.options.env = vec![("FAULT_RATE".into(), "0.5".into())];
    let out = recorder();
    let err = diff(&backend, &DiffRequest::new(app("serviceconnect")), &out)
        .expect_err("serviceconnect has no service that rolls out");
    assert!(
        matches!(&err, Error::Refused(Refusal::EnvWithoutRollout { stack }) if stack == "serviceconnect"),
        "{err:?}"
    );
    let out = recorder();
    let rollout = resolve(&Choice {
        app: "rollout",
        strategy: Some(StrategyKind::Linear),
        ..Choice::default()
    })
    .unwrap();
    diff(&backend, &DiffRequest::new(rollout), &out).unwrap();
    assert!(
        out.lines().contains(&"--env applies to web".to_owned()),
        "{:?}",
        out.lines()
    );
}

/// A deploy whose binaries are missing names the one missing and leaves nothing running.
#[test]
fn a_deploy_without_its_binaries_names_the_missing_one() {
    let scratch = Scratch::new("no-binaries");
    let out = recorder();
    let err = deploy(
        &scratch.without_binaries(),
        &DeployRequest::new(app("serviceconnect")),
        &out,
    )
    .expect_err("no supervisor binary");
    assert!(
        matches!(
            &err,
            Error::MissingBinary {
                binary: LocalBinary::Supervisor,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        scratch
            .dir("serviceconnect")
            .read_runtime()
            .unwrap()
            .is_none()
    );
    assert!(
        !out.lines().iter().any(|l| l.starts_with("starting")),
        "{:?}",
        out.lines()
    );
}

/// A blue-green stack's `state.json` that does not parse is refused when nothing runs (it
/// would be the state to start from).
#[test]
fn a_broken_state_file_is_refused_when_nothing_runs() {
    let scratch = Scratch::new("bad-state");
    let dir = scratch.dir("bluegreen");
    dir.create().unwrap();
    dir.write_blue_green_state("{not json").unwrap();
    let out = recorder();
    let err = diff(
        &scratch.without_binaries(),
        &DiffRequest::new(app("bluegreen")),
        &out,
    )
    .expect_err("the state file is broken");
    let Error::Refused(Refusal::BadStateFile { problem }) = &err else {
        panic!("{err:?}")
    };
    assert!(
        problem.starts_with("local/bluegreen/state.json is not valid"),
        "{problem}"
    );
}

/// The local runtime's binaries, built once per test process as the command line builds them.
fn built() -> Binaries {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    let (supervisor, demo_app) = BUILT.get_or_init(|| {
        let built = meshtest_tests::built::cargo_built(&[
            (
                local_runtime::SUPERVISOR_PACKAGE,
                local_runtime::SUPERVISOR_BIN,
            ),
            ("demo-app", "demo-app"),
        ]);
        (built[0].clone(), built[1].clone())
    });
    Binaries {
        supervisor: supervisor.clone(),
        demo_app: demo_app.clone(),
    }
}

/// Destroys `stack` when dropped, so a failed assertion leaves no process behind.
struct Cleanup<'a> {
    backend: &'a LocalBackend,
    stack: &'a str,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let request = DestroyRequest::new(named(self.stack));
        let _ = destroy(self.backend, &request, &Recorder::new());
    }
}

/// Deploy, deploy again, diff, status and destroy of one stack on a real supervisor: what each
/// says and returns.
#[test]
fn a_stack_deploys_once_reads_back_and_destroys() {
    let scratch = Scratch::new("lifecycle");
    let backend = scratch.backend(built());
    let _cleanup = Cleanup {
        backend: &backend,
        stack: "serviceconnect",
    };
    let target = app("serviceconnect");

    let out = recorder();
    let deployed = deploy(&backend, &DeployRequest::new(target.clone()), &out).unwrap();
    assert_eq!(
        deployed,
        Deployed::Applied {
            rollouts: Rollouts::NotFollowed
        }
    );
    let lines = out.lines();
    assert!(
        lines.contains(
            &"starting the local runtime of serviceconnect in local/serviceconnect".to_owned()
        ),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"stop it with: cargo xtask destroy serviceconnect --local".to_owned()),
        "{lines:?}"
    );

    // The same model again changes nothing and starts nothing.
    let out = recorder();
    let again = deploy(&backend, &DeployRequest::new(target.clone()), &out).unwrap();
    assert_eq!(again, Deployed::NoChanges);
    assert!(
        !out.lines().iter().any(|l| l.starts_with("starting")),
        "{:?}",
        out.lines()
    );

    let out = recorder();
    let diffed = diff(&backend, &DiffRequest::new(target.clone()), &out).unwrap();
    assert!(diffed.exists);
    assert!(diffed.is_empty(), "{diffed:?}");

    let out = recorder();
    let StatusReport::Local(report) =
        status(&backend, &StatusRequest::new(named("serviceconnect")), &out).unwrap()
    else {
        panic!("a local status")
    };
    assert_eq!(report.status.stack, "serviceconnect");
    assert_eq!(
        report.status.services.len(),
        target.stack.spec().services.len()
    );
    assert_eq!(report.state_file_problem, None);

    // Nothing rolls out: watch says so and follows nothing.
    let out = recorder();
    let watched = watch(
        &backend,
        &RolloutRequest::new(named("serviceconnect")),
        &out,
    )
    .unwrap();
    assert_eq!(watched, Rollouts::NotFollowed);
    assert_eq!(
        out.lines(),
        [
            "serviceconnect runs no rollout: deploy a new version with `cargo xtask deploy serviceconnect --local`"
        ]
    );

    // Nothing to roll back or continue: the supervisor refuses, and the flow says so.
    let out = recorder();
    let rollouts = RolloutRequest::new(named("serviceconnect"));
    for result in [
        rollback(&backend, &rollouts, &out),
        continue_paused(&backend, &rollouts, &out),
    ] {
        let err = result.expect_err("no rollout runs");
        assert!(
            matches!(
                &err,
                Error::Control(local_runtime::control::ControlError::Api { status: 409, .. })
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("no rollout runs"), "{err}");
    }
    assert_eq!(out.lines(), Vec::<String>::new());

    let out = recorder();
    let destroyed = destroy(
        &backend,
        &DestroyRequest::new(named("serviceconnect")),
        &out,
    )
    .unwrap();
    let Destroyed::Stopped { pids } = &destroyed else {
        panic!("{destroyed:?}")
    };
    assert!(!pids.is_empty());
    assert!(!scratch.dir("serviceconnect").exists());
    assert!(
        out.lines()[0].starts_with("stopped serviceconnect: "),
        "{:?}",
        out.lines()
    );
}

/// A new version of a rolling-out service is followed to its end by the deploy; a lower one
/// than runs is called a downgrade.
#[test]
fn a_new_version_rolls_out_and_an_older_one_is_a_downgrade() {
    let scratch = Scratch::new("rollout");
    let mut backend = scratch.backend(built());
    backend.options.minute = Some(Duration::from_millis(5));
    let _cleanup = Cleanup {
        backend: &backend,
        stack: "rollout",
    };
    deploy(
        &backend,
        &DeployRequest::new(linear_rollout(1)),
        &recorder(),
    )
    .unwrap();

    let out = recorder();
    let deployed = deploy(&backend, &DeployRequest::new(linear_rollout(2)), &out).unwrap();
    assert_eq!(
        deployed,
        Deployed::Applied {
            rollouts: Rollouts::Completed
        },
        "{:?}",
        out.lines()
    );
    // The follow reported typed events of the real rollout, valid against the schema: started
    // first, finished last, each naming the stack, the service and its versions.
    let events = out.events();
    crate::events::schema::check(&events);
    assert_eq!(
        events.first().map(|e| e.kind.name()),
        Some("deploymentStarted"),
        "{events:#?}"
    );
    assert!(
        matches!(
            events.last().map(|e| &e.kind),
            Some(crate::events::EventKind::Finished {
                succeeded: true,
                ..
            })
        ),
        "{events:#?}"
    );
    assert!(
        events.iter().all(|e| e.stack == "rollout"
            && e.service == "web"
            && e.source.as_deref() == Some("1")
            && e.target.as_deref() == Some("2")),
        "{events:#?}"
    );

    let out = recorder();
    deploy(&backend, &DeployRequest::new(linear_rollout(1)), &out).unwrap();
    assert!(
        out.lines().contains(
            &"note: web goes from version 2 down to 1, a downgrade: deploy with --version 2 to keep it, or a higher one to move on"
                .to_owned()
        ),
        "{:?}",
        out.lines()
    );
}

/// The deploy that follows a real local rollout shows the whole stack as a tree each poll:
/// `front` steady with its tasks, `web` with the step it reached, its shares and each
/// revision's tasks, to the end.
#[test]
fn a_followed_rollout_shows_the_whole_stack_as_a_tree() {
    let scratch = Scratch::new("tree");
    let mut backend = scratch.backend(built());
    // Steps 150 ms apart, the follower polling every 100 ms: it sees steps go by.
    backend.options.minute = Some(Duration::from_millis(150));
    let _cleanup = Cleanup {
        backend: &backend,
        stack: "rollout",
    };
    deploy(
        &backend,
        &DeployRequest::new(linear_rollout(1)),
        &recorder(),
    )
    .unwrap();
    let out = recorder();
    let deployed = deploy(&backend, &DeployRequest::new(linear_rollout(2)), &out).unwrap();
    assert_eq!(
        deployed,
        Deployed::Applied {
            rollouts: Rollouts::Completed
        },
        "{:?}",
        out.lines()
    );
    let trees = out.trees();
    let shown = trees
        .iter()
        .map(|t| t.join("\n"))
        .collect::<Vec<_>>()
        .join("\n\n");
    let mid_step = trees
        .iter()
        .find(|t| {
            t.iter()
                .any(|l| l.starts_with("└── web: LINEAR 1 -> 2, PRODUCTION_TRAFFIC_SHIFT, step "))
        })
        .unwrap_or_else(|| panic!("no tree at a step:\n{shown}"));
    let step = mid_step[2].rsplit("step ").next().unwrap_or_default();
    assert!(step.ends_with("/5"), "step n of 5: {step}\n{shown}");
    assert_eq!(mid_step[0], "stack rollout", "{shown}");
    assert!(
        mid_step[1]
            .starts_with("├── front: steady, revision 1, tasks 1 desired, 1 running, 1 healthy"),
        "{shown}"
    );
    for revision in ["revision 1 (stable)", "revision 2 (new)"] {
        let at = mid_step
            .iter()
            .position(|l| l.contains(revision))
            .unwrap_or_else(|| panic!("{revision}:\n{shown}"));
        assert!(
            mid_step[at + 1].ends_with("└── tasks: 1 desired, 1 running, 1 healthy"),
            "{shown}"
        );
    }
    let last = trees.last().expect("a tree");
    assert!(
        last[2].starts_with("└── web: LINEAR 1 -> 2, SUCCESSFUL"),
        "{shown}"
    );
}

/// A rollout in progress rolls back on request: the deploy that follows it ends failed, and
/// the rollback says where the rollout stands.
#[test]
fn a_rollout_in_progress_rolls_back_on_request() {
    let scratch = Scratch::new("rollback");
    let mut backend = scratch.backend(built());
    // Slow enough that the rollout is still running when the rollback comes.
    backend.options.minute = Some(Duration::from_millis(200));
    let _cleanup = Cleanup {
        backend: &backend,
        stack: "rollout",
    };
    deploy(
        &backend,
        &DeployRequest::new(linear_rollout(1)),
        &recorder(),
    )
    .unwrap();

    let following = recorder();
    let rolling_back = recorder();
    let deployed = std::thread::scope(|scope| {
        let deploying =
            scope.spawn(|| deploy(&backend, &DeployRequest::new(linear_rollout(2)), &following));
        let request = StatusRequest::new(named("rollout"));
        // Bounded: the rollout starts within the apply, well inside 20 s.
        for _ in 0..200 {
            let StatusReport::Local(report) = status(&backend, &request, &Recorder::new()).unwrap()
            else {
                panic!("a local status")
            };
            if report
                .status
                .rollout
                .as_ref()
                .is_some_and(|r| !r.progress.status.is_terminal())
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        rollback(
            &backend,
            &RolloutRequest::new(named("rollout")),
            &rolling_back,
        )
        .unwrap();
        deploying.join().unwrap()
    })
    .unwrap();
    assert_eq!(
        deployed,
        Deployed::Applied {
            rollouts: Rollouts::Failed
        },
        "{:?}",
        following.lines()
    );
    // The follower's events say it rolled back, with the reason, and ended so.
    let events = following.events();
    crate::events::schema::check(&events);
    let names: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(names.first(), Some(&"deploymentStarted"), "{names:?}");
    assert_eq!(names.last(), Some(&"finished"), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| **n == "rolledBack").count(),
        1,
        "{names:?}"
    );
    assert!(
        events.iter().any(|e| matches!(
            &e.kind,
            crate::events::EventKind::RolledBack {
                reason: Some(_),
                ..
            }
        )),
        "{events:#?}"
    );
    assert_eq!(rolling_back.lines().len(), 1, "{:?}", rolling_back.lines());
    assert!(
        rolling_back.lines()[0].starts_with("web 1 -> 2: ROLLBACK_"),
        "{:?}",
        rolling_back.lines()
    );
}
