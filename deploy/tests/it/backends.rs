//! One shape per verb for both backends: a program written once against [`deploy::Backend`]
//! calls every verb on AWS and on the local runtime alike (it compiles only while both take the
//! same requests and give the same outcomes), and runs on the local runtime end to end

use std::path::Path;

use deploy::local::{Folders, LocalBackend, Settings};
use deploy::{
    Backend, DeployRequest, Deployed, DestroyRequest, Destroyed, DiffRequest, Diffed, Recorder,
    Reporter, Resolved, Result, RolloutRequest, Rollouts, StatusReport, StatusRequest,
};

/// What each verb gave, in the order [`every_verb`] calls them.
struct Verbs {
    deployed: Result<Deployed>,
    diffed: Result<Diffed>,
    status: Result<StatusReport>,
    watched: Result<Rollouts>,
    rolled_back: Result<()>,
    continued: Result<()>,
    destroyed: Result<Destroyed>,
}

/// Deploys `target`, diffs it again, reads its status, follows, rolls back and continues its
/// rollouts, and destroys it, on any backend.
async fn every_verb<B: Backend>(backend: &B, target: Resolved, out: &dyn Reporter) -> Verbs {
    let deployed = backend
        .deploy(&DeployRequest::new(target.clone()), out)
        .await;
    let diffed = backend.diff(&DiffRequest::new(target.clone()), out).await;
    let status = backend
        .status(&StatusRequest::new(target.clone()), out)
        .await;
    let rollouts = RolloutRequest::new(target.clone());
    let watched = backend.watch(&rollouts, out).await;
    let rolled_back = backend.rollback(&rollouts, out).await;
    let continued = backend.continue_paused(&rollouts, out).await;
    let destroyed = backend.destroy(&DestroyRequest::new(target), out).await;
    Verbs {
        deployed,
        diffed,
        status,
        watched,
        rolled_back,
        continued,
        destroyed,
    }
}

/// The same program for AWS: the generic function instantiated with the AWS backend, which
/// fails to compile when the AWS flows' shapes drift from the local ones. (It runs against moto
/// through the command line's tests; here the point is the type check.)
#[allow(dead_code, reason = "compiled for the type check only")]
async fn every_verb_on_aws(backend: &deploy::aws::AwsBackend, target: Resolved) -> Verbs {
    every_verb(backend, target, &Recorder::new()).await
}

#[tokio::test(flavor = "current_thread")]
async fn every_verb_runs_on_the_local_runtime_through_the_trait() {
    let folder =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("backends-{}", std::process::id()));
    let backend = LocalBackend::new(Settings::new(
        Folders::new(folder.clone()),
        crate::local_binaries(),
    ));
    let stack = model::Stack::new(model::examples::serviceconnect("every-verb")).unwrap();
    let target = Resolved::from_stack(stack).unwrap();
    let out = Recorder::new();
    let verbs = every_verb(&backend, target, &out).await;
    let text = out.text();

    let deployed = verbs.deployed.expect("deploy");
    assert!(
        matches!(
            deployed,
            Deployed::Applied {
                rollouts: Rollouts::NotFollowed
            }
        ),
        "{deployed:?}\n{text}"
    );
    let diffed = verbs.diffed.expect("diff");
    assert!(diffed.exists && diffed.is_empty(), "{diffed:?}\n{text}");
    let status = verbs.status.expect("status");
    assert!(status.healthy(), "{status:?}\n{text}");
    let StatusReport::Local(status) = status else {
        panic!("the local runtime's status is a local one: {status:?}")
    };
    assert_eq!(status.status.stack, "every-verb");
    // A first deploy starts no rollout: nothing to follow, roll back or continue.
    assert_eq!(verbs.watched.expect("watch"), Rollouts::NotFollowed);
    assert!(verbs.rolled_back.is_err(), "{text}");
    assert!(verbs.continued.is_err(), "{text}");
    match verbs.destroyed.expect("destroy") {
        Destroyed::Stopped { pids } => assert!(!pids.is_empty(), "{text}"),
        other => panic!("destroy stopped nothing: {other:?}\n{text}"),
    }
    assert!(!folder.join("local/every-verb").exists(), "{text}");
}
