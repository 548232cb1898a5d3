//! Templates over CloudFormation's inline limit: S3 upload on moto, the size and path reported
//! by synth and deploy, and the 500-resource error naming the services to split off
//!
//! moto 5.2.5 reads `TemplateURL` from its own S3 for create and update change sets
//! (`get_stack_from_s3_url` takes the bucket from the virtual-hosted URL's first label), so
//! no patch in tests/src/moto_compat.py is needed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use meshtest_tests::moto::MotoServer;
use model::StackSpec;
use sha2::Digest as _;

use crate::aws::{Clients, Run, deploy_args, xtask, xtask_command};

/// The tool's bucket for moto's account (123456789012, as STS GetCallerIdentity reports it).
const OWN_BUCKET: &str = "meshtest-templates-123456789012-us-east-1";

/// A Service Connect stack of `count` services `s01`, `s02`, ... each calling the next.
fn many_services(name: &str, count: usize) -> StackSpec {
    let mut spec = model::examples::serviceconnect(name);
    let template = spec.services[0].clone();
    let names: Vec<String> = (1..=count).map(|i| format!("s{i:02}")).collect();
    spec.services = names
        .iter()
        .enumerate()
        .map(|(i, service)| {
            let mut svc = template.clone();
            svc.name = service.clone();
            if let Some(sc) = &mut svc.service_connect {
                sc.discovery_name = service.clone();
            }
            svc.backends = vec![names[(i + 1) % count].clone()];
            svc
        })
        .collect();
    spec
}

/// Writes [`many_services`] as a JSON stack description.
fn write_stack(dir: &Path, name: &str, count: usize) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    let json = serde_json::to_string_pretty(&many_services(name, count)).expect("spec as JSON");
    std::fs::write(&path, json).expect("write the stack description");
    path
}

/// Runs xtask against moto with the API call counter on (printed last on stderr).
fn counted(moto: &MotoServer, args: &[&str]) -> Run {
    let output = xtask_command()
        .env("MESHTEST_DEBUG_API_CALLS", "1")
        .args(args)
        .args(["--endpoint-url", &moto.endpoint_url()])
        .output()
        .expect("run the xtask binary");
    Run::from(output)
}

/// The `aws api calls: ...` line's counts, e.g. `["CreateBucket 1", "PutObject 1"]`.
fn api_calls(run: &Run) -> Vec<String> {
    let line = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("aws api calls: "))
        .unwrap_or_else(|| panic!("no api call line\n{run}"));
    let counts = &line[line.find('(').expect("counts") + 1..line.len() - 1];
    counts.split(", ").map(str::to_string).collect()
}

fn s3_client(moto: &MotoServer) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(moto.endpoint_url())
            .force_path_style(true)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .build(),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The compact template body xtask would send, and its S3 key.
fn body_and_key(spec: StackSpec) -> (String, String) {
    let stack = model::Stack::new(spec).expect("valid stack");
    let body = cfn_render::render(&stack, &Default::default())
        .expect("renders")
        .to_json_compact();
    let digest = sha2::Sha256::digest(body.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("{}/{hex}.json", stack.name());
    (body, key)
}

/// Asserts the tool's bucket is locked down: public access blocked, encrypted, expiring.
fn check_own_bucket(moto: &MotoServer) {
    let s3 = s3_client(moto);
    let rt = runtime();
    let block = rt
        .block_on(s3.get_public_access_block().bucket(OWN_BUCKET).send())
        .expect("public access block");
    let block = block.public_access_block_configuration().expect("config");
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let encryption = rt
        .block_on(s3.get_bucket_encryption().bucket(OWN_BUCKET).send())
        .expect("bucket encryption");
    let algorithm = encryption
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_string());
    assert_eq!(algorithm.as_deref(), Some("AES256"));
    let lifecycle = rt
        .block_on(
            s3.get_bucket_lifecycle_configuration()
                .bucket(OWN_BUCKET)
                .send(),
        )
        .expect("lifecycle");
    let days = lifecycle
        .rules()
        .first()
        .and_then(|r| r.expiration())
        .and_then(|e| e.days());
    assert_eq!(days, Some(7));
}

fn object(moto: &MotoServer, bucket: &str, key: &str) -> String {
    let rt = runtime();
    let out = rt
        .block_on(s3_client(moto).get_object().bucket(bucket).key(key).send())
        .unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e:?}"));
    let bytes = rt.block_on(out.body.collect()).expect("object body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

#[track_caller]
fn check_calls(run: &Run, present: &[&str], absent: &[&str]) {
    let calls = api_calls(run);
    for want in present {
        assert!(calls.iter().any(|c| c == want), "{want} in {calls:?}");
    }
    for unwanted in absent {
        assert!(
            !calls.iter().any(|c| c.starts_with(unwanted)),
            "no {unwanted} in {calls:?}"
        );
    }
}

#[test]
fn forty_services_deploy_diff_and_destroy_through_s3() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = write_stack(dir.path(), "big", 40);
    let path = path.to_str().unwrap();
    let (body, key) = body_and_key(many_services("big", 40));
    assert!(body.len() > 51_200, "{} bytes", body.len());

    let started = Instant::now();
    let run = counted(&moto, &deploy_args(path, &["--stack-name", "big"])).ok();
    let deployed = started.elapsed();
    let size = cfn_render::BodyLimit::of(body.len());
    assert!(
        run.stdout.contains(&format!(
            "template: {size}, uploaded to s3://{OWN_BUCKET}/{key}\n"
        )),
        "{run}"
    );
    assert!(run.stdout.contains("stack big: CREATE_COMPLETE"), "{run}");
    assert!(
        run.stderr
            .contains(&format!("creating the template bucket {OWN_BUCKET}"))
    );
    check_calls(
        &run,
        &[
            "GetCallerIdentity 1",
            "HeadBucket 1",
            "CreateBucket 1",
            "PutPublicAccessBlock 1",
            "PutBucketEncryption 1",
            "PutBucketLifecycleConfiguration 1",
            "PutObject 1",
            "CreateChangeSet[TemplateURL] 1",
        ],
        &["CreateChangeSet[TemplateBody]"],
    );
    eprintln!("s3 deploy: {}", run.stderr.lines().last().unwrap_or(""));
    check_own_bucket(&moto);
    assert_eq!(object(&moto, OWN_BUCKET, &key), body);
    assert_eq!(
        Clients::new(&moto).stack_status("big").as_deref(),
        Some("CREATE_COMPLETE")
    );

    // A --template-bucket that does not exist: one line saying so, nothing changed.
    let v2 = |command: &'static str, extra: &[&'static str]| {
        let mut all = vec![command, path, "--stack-name", "big", "--version", "2"];
        all.extend_from_slice(extra);
        all
    };
    let run = xtask(
        &moto,
        &v2("deploy", &["--template-bucket", "no-such-bucket", "--yes"]),
    )
    .fails();
    assert!(
        run.stderr
            .starts_with("error: cannot upload the template of big (")
            && run.stderr.contains("to s3://no-such-bucket/big/")
            && run.stderr.contains("NoSuchBucket")
            && run.stderr.lines().count() == 1,
        "{run}"
    );
    let rt = runtime();
    rt.block_on(
        s3_client(&moto)
            .create_bucket()
            .bucket("my-templates")
            .send(),
    )
    .expect("create my-templates");
    // An update change set (diff's replacement marks) reads the new template from S3 too,
    // here from a bucket given by --template-bucket.
    let started = Instant::now();
    let run = counted(&moto, &v2("diff", &["--template-bucket", "my-templates"])).ok();
    let diffed = started.elapsed();
    let mut version2 = many_services("big", 40);
    for svc in &mut version2.services {
        svc.version = "2".into();
    }
    let (body2, key2) = body_and_key(version2);
    assert!(
        run.stdout.contains(&format!(
            "note: template: {}, uploaded to s3://my-templates/{key2}\n",
            cfn_render::BodyLimit::of(body2.len())
        )),
        "{run}"
    );
    assert!(run.stdout.contains("[~] AWS::ECS::TaskDefinition"), "{run}");
    check_calls(
        &run,
        &["PutObject 1", "CreateChangeSet[TemplateURL] 1"],
        &["GetCallerIdentity", "HeadBucket", "CreateBucket"],
    );
    assert_eq!(object(&moto, "my-templates", &key2), body2);

    // The update itself, through the tool's bucket, which now exists.
    let run = counted(&moto, &v2("deploy", &["--yes"])).ok();
    assert!(run.stdout.contains("stack big: UPDATE_COMPLETE"), "{run}");
    check_calls(
        &run,
        &[
            "HeadBucket 1",
            "PutObject 1",
            "CreateChangeSet[TemplateURL] 1",
        ],
        &["CreateBucket", "PutBucketEncryption"],
    );

    let started = Instant::now();
    xtask(&moto, &["destroy", path, "--stack-name", "big", "--yes"]).ok();
    let destroyed = started.elapsed();
    assert_eq!(Clients::new(&moto).stack_status("big"), None);
    eprintln!(
        "timings (40 services, {} bytes): deploy {deployed:.2?}, diff {diffed:.2?}, destroy {destroyed:.2?}",
        body.len()
    );
}

#[test]
fn small_stack_sends_the_template_inline() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let run = counted(&moto, &deploy_args("serviceconnect", &[])).ok();
    let (body, _) = body_and_key(model::examples::serviceconnect("serviceconnect"));
    assert!(
        run.stdout.contains(&format!(
            "template: {}, sent inline\n",
            cfn_render::BodyLimit::of(body.len())
        )),
        "{run}"
    );
    check_calls(
        &run,
        &["CreateChangeSet[TemplateBody] 1"],
        &[
            "CreateChangeSet[TemplateURL]",
            "GetCallerIdentity",
            "HeadBucket",
            "CreateBucket",
            "PutObject",
        ],
    );
}

fn synth(args: &[&str]) -> Run {
    Run::from(
        xtask_command()
            .arg("synth")
            .args(args)
            .output()
            .expect("run xtask synth"),
    )
}

#[test]
fn synth_reports_the_size_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let (small, _) = body_and_key(model::examples::serviceconnect("serviceconnect"));
    let run = synth(&["serviceconnect", "--out", out]).ok();
    assert!(
        run.stdout.ends_with(&format!(
            "template: {}, deploy sends it inline\n",
            cfn_render::BodyLimit::of(small.len())
        )),
        "{run}"
    );

    let path = write_stack(dir.path(), "big", 40);
    let (big, _) = body_and_key(many_services("big", 40));
    let run = synth(&[path.to_str().unwrap(), "--out", out]).ok();
    assert!(
        run.stdout.ends_with(&format!(
            "template: {}, over CloudFormation's inline limit of 51,200 bytes: deploy uploads it to S3\n",
            cfn_render::BodyLimit::of(big.len())
        )),
        "{run}"
    );
    // --stdout notes it on stderr: errors::synth_stdout_notes_an_oversized_template_on_stderr.
}

#[test]
fn over_500_resources_names_the_services_to_move() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_stack(dir.path(), "huge", 100);
    let run = synth(&[path.to_str().unwrap(), "--stdout"]).fails();
    assert_eq!(run.stdout, "");
    // 5 resources per service: 100 services and the shared ones make 516, 16 too many.
    assert_eq!(
        run.stderr
            .replace(path.to_str().unwrap(), "PATH")
            .trim_end(),
        "error: cannot render app `PATH`: template has 516 resources, CloudFormation allows 500: \
         move the 4 services s97..s100 (about 5 resources each) to another stack",
        "{run}"
    );
}
