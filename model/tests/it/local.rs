//! A service's local program (`local`): every rule with a failing input, the version it picks,
//! and that it changes nothing that renders

use std::collections::BTreeMap;

use model::{LocalSpec, LocalVersionSpec, Stack, StackSpec};

use crate::{check_sc, serviceconnect};

fn argv(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn block() -> LocalSpec {
    LocalSpec {
        command: argv(&["python3", "app.py"]),
        working_directory: None,
        environment: BTreeMap::new(),
        health_check_path: None,
        stop_timeout_seconds: None,
        versions: BTreeMap::new(),
    }
}

/// `serviceconnect` with `local` on green (services[1]), mutated.
fn with_local(mutate: impl FnOnce(&mut LocalSpec)) -> impl FnOnce(&mut StackSpec) {
    move |s| {
        let mut local = block();
        mutate(&mut local);
        s.services[1].local = Some(local);
    }
}

#[test]
fn a_valid_block_loads() {
    check_sc(with_local(|_| {}), &[]);
}

#[test]
fn the_command_needs_a_program() {
    check_sc(
        with_local(|l| l.command.clear()),
        &[(
            "services[1].local.command",
            "command needs at least the program to run, e.g. [\"python3\", \"app.py\"] (no shell: one argument per item)",
        )],
    );
    check_sc(
        with_local(|l| l.command = argv(&[" "])),
        &[(
            "services[1].local.command",
            "the program (the command's first item) is empty: name the program to run",
        )],
    );
    check_sc(
        with_local(|l| l.command = argv(&["python3", "a\u{0}b"])),
        &[(
            "services[1].local.command",
            "argument `a\\u{0}b` has control characters (such as a newline or ESC): use printable text",
        )],
    );
}

#[test]
fn the_working_directory_is_not_empty() {
    check_sc(
        with_local(|l| l.working_directory = Some(String::new())),
        &[(
            "services[1].local.workingDirectory",
            "workingDirectory is empty: leave it out to run in the JSON file's folder",
        )],
    );
    check_sc(
        with_local(|l| l.working_directory = Some("examples/x".into())),
        &[],
    );
}

#[test]
fn the_environment_may_not_set_what_the_runtime_sets() {
    check_sc(
        with_local(|l| l.environment = env(&[("PORT", "8080"), ("GREETING", "hi")])),
        &[(
            "services[1].local.environment.PORT",
            "`PORT` is reserved: the local runtime sets it to the free port the program must listen on",
        )],
    );
    check_sc(
        with_local(|l| l.environment = env(&[("HTTP_PROXY", "x")])),
        &[(
            "services[1].local.environment.HTTP_PROXY",
            "`HTTP_PROXY` is reserved: the local runtime sets it to its egress proxy, where the Service Connect names resolve",
        )],
    );
    check_sc(
        |s| {
            s.services[1].environment = env(&[("MESHTEST_VERSION", "1")]);
            with_local(|_| {})(s);
        },
        &[(
            "services[1].environment.MESHTEST_VERSION",
            "`MESHTEST_VERSION` is reserved for a service with a `local` block: the local runtime sets it to the service's `version`",
        )],
    );
    // Without a local block the name is the user's own.
    check_sc(|s| s.services[1].environment = env(&[("PORT", "1")]), &[]);
}

#[test]
fn the_health_check_path_and_stop_timeout() {
    check_sc(
        with_local(|l| {
            l.health_check_path = Some("health".into());
            l.stop_timeout_seconds = Some(121);
        }),
        &[
            (
                "services[1].local.healthCheckPath",
                "healthCheckPath `health` must start with `/`",
            ),
            (
                "services[1].local.stopTimeoutSeconds",
                "stopTimeoutSeconds 121 is out of range 2-120",
            ),
        ],
    );
    check_sc(
        with_local(|l| {
            l.health_check_path = Some("/health".into());
            l.stop_timeout_seconds = Some(2);
        }),
        &[],
    );
}

#[test]
fn versions_are_checked_and_the_deployed_one_must_be_listed() {
    let versions = |l: &mut LocalSpec| {
        l.versions = BTreeMap::from([
            (
                "1".to_owned(),
                LocalVersionSpec {
                    command: Some(Vec::new()),
                    environment: env(&[("PORT", "1")]),
                },
            ),
            ("2".to_owned(), LocalVersionSpec::default()),
        ]);
    };
    check_sc(
        |s| {
            s.services[1].version = "3".into();
            with_local(versions)(s);
        },
        &[
            (
                "services[1].local.versions.1.command",
                "command needs at least the program to run, e.g. [\"python3\", \"app.py\"] (no shell: one argument per item)",
            ),
            (
                "services[1].local.versions.1.environment.PORT",
                "`PORT` is reserved: the local runtime sets it to the free port the program must listen on",
            ),
            (
                "services[1].local.versions",
                "version `3` of service `green` has no entry here (it lists `1`, `2`): add one, or deploy one of those",
            ),
        ],
    );
    check_sc(
        |s| {
            s.services[1].version = "2".into();
            with_local(|l| {
                versions(l);
                l.versions.insert("1".into(), LocalVersionSpec::default());
            })(s);
        },
        &[],
    );
}

#[test]
fn a_version_replaces_the_command_and_adds_environment() {
    let mut local = block();
    local.environment = env(&[("A", "1"), ("B", "1")]);
    local.versions = BTreeMap::from([
        (
            "2".to_owned(),
            LocalVersionSpec {
                command: None,
                environment: env(&[("B", "2")]),
            },
        ),
        (
            "3".to_owned(),
            LocalVersionSpec {
                command: Some(argv(&["python3", "v3.py"])),
                environment: BTreeMap::new(),
            },
        ),
    ]);
    let two = local.program("2").unwrap();
    assert_eq!(two.command, argv(&["python3", "app.py"]));
    assert_eq!(two.environment, env(&[("A", "1"), ("B", "2")]));
    let three = local.program("3").unwrap();
    assert_eq!(three.command, argv(&["python3", "v3.py"]));
    assert_eq!(three.environment, env(&[("A", "1"), ("B", "1")]));
    assert_eq!(local.program("4"), None);
    local.versions.clear();
    assert_eq!(
        local.program("4").unwrap().command,
        argv(&["python3", "app.py"])
    );
    assert_eq!(local.stop_timeout_seconds(), 30);
}

#[test]
fn the_block_loads_from_json_and_round_trips() {
    let mut spec = serviceconnect();
    with_local(|l| {
        l.working_directory = Some("svc".into());
        l.versions
            .insert("unknown".into(), LocalVersionSpec::default());
    })(&mut spec);
    let text = serde_json::to_string(&spec).unwrap();
    assert!(text.contains(r#""local":{"command":["python3","app.py"],"workingDirectory":"svc","versions":{"unknown":{}}}"#), "{text}");
    let back = Stack::from_json(&text).unwrap();
    assert_eq!(back.spec(), &spec);
    // An unknown key inside the block is refused with its path.
    let bad = text.replace(r#""workingDirectory""#, r#""cwd""#);
    let err = Stack::from_json(&bad).unwrap_err().to_string();
    assert!(err.contains("services[1].local"), "{err}");
    assert!(err.contains("cwd"), "{err}");
}
