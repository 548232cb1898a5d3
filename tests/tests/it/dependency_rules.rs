//! `model` and `cfn-render` stay pure (SPEC §5): no AWS SDK, no async runtime, no file or
//! network I/O, neither through their dependencies nor in their own source; the deploy engine
//! has no command line in it (no clap, no terminal drawing); and the dependencies between
//! workspace crates are exactly those the layering table allows.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, PackageId};
use meshtest_tests::workspace_root;

const PURE_PACKAGES: &[&str] = &["model", "cfn-render"];

/// Why a crate may not be in a pure package's dependency closure, or `None` if it may.
fn forbidden(name: &str) -> Option<&'static str> {
    let prefixed = |prefix: &str| name == prefix || name.starts_with(&format!("{prefix}-"));
    if name.starts_with("aws-") || name.starts_with("aws_") {
        Some("AWS SDK")
    } else if prefixed("tokio") || name == "mio" || name == "socket2" {
        Some("async runtime or sockets")
    } else if prefixed("hyper") || name == "reqwest" || name.starts_with("actix") {
        Some("HTTP client or server")
    } else if matches!(
        name,
        "tempfile" | "walkdir" | "fs-err" | "fs_err" | "notify"
    ) {
        Some("file system access")
    } else {
        None
    }
}

#[test]
fn forbidden_crate_names() {
    fn check(name: &str, expected: Option<&str>) {
        assert_eq!(forbidden(name), expected, "{name}");
    }
    check("aws-sdk-ssm", Some("AWS SDK"));
    check("aws_lambda_events", Some("AWS SDK"));
    check("aws-smithy-runtime", Some("AWS SDK"));
    check("tokio", Some("async runtime or sockets"));
    check("tokio-util", Some("async runtime or sockets"));
    check("mio", Some("async runtime or sockets"));
    check("socket2", Some("async runtime or sockets"));
    check("hyper", Some("HTTP client or server"));
    check("hyper-util", Some("HTTP client or server"));
    check("reqwest", Some("HTTP client or server"));
    check("actix-web", Some("HTTP client or server"));
    check("actix-rt", Some("HTTP client or server"));
    check("tempfile", Some("file system access"));
    check("walkdir", Some("file system access"));
    check("fs-err", Some("file system access"));
    check("notify", Some("file system access"));
    check("serde", None);
    check("serde_json", None);
    check("thiserror", None);
    check("tokio_like", None);
    check("miow", None);
    check("hyperfine-ish", None);
}

fn workspace_metadata() -> Metadata {
    MetadataCommand::new()
        .manifest_path(workspace_root().join("Cargo.toml"))
        .exec()
        .expect("cargo metadata on the workspace")
}

/// Every package reachable from workspace member `root` through normal (not dev, not build)
/// dependency edges, mapped to the chain of package names that pulls it in.
///
/// The resolve graph unifies features across the whole workspace, so this may include
/// optional dependencies that only another member enables: stricter than needed, which is fine.
fn normal_closure(metadata: &Metadata, root: &str) -> BTreeMap<String, Vec<String>> {
    let root_id = metadata
        .workspace_packages()
        .into_iter()
        .find(|p| p.name.as_str() == root)
        .unwrap_or_else(|| panic!("{root} is not a workspace member"))
        .id
        .clone();
    let resolve = metadata
        .resolve
        .as_ref()
        .expect("cargo metadata resolved dependencies");
    let nodes: BTreeMap<&PackageId, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let name_of = |id: &PackageId| metadata[id].name.to_string();

    let mut paths: BTreeMap<PackageId, Vec<String>> = BTreeMap::new();
    paths.insert(root_id.clone(), vec![root.to_string()]);
    let mut queue = VecDeque::from([root_id]);
    while let Some(id) = queue.pop_front() {
        let path = paths[&id].clone();
        for dep in &nodes[&id].deps {
            let normal = dep
                .dep_kinds
                .iter()
                .any(|k| k.kind == DependencyKind::Normal);
            if normal && !paths.contains_key(&dep.pkg) {
                let mut dep_path = path.clone();
                dep_path.push(name_of(&dep.pkg));
                paths.insert(dep.pkg.clone(), dep_path);
                queue.push_back(dep.pkg.clone());
            }
        }
    }
    paths
        .into_iter()
        .map(|(id, path)| (name_of(&id), path))
        .collect()
}

#[test]
fn closure_follows_normal_dependencies_only() {
    let metadata = workspace_metadata();
    // Positive control: clap is a direct dependency of xtask, clap_builder comes through clap.
    let xtask = normal_closure(&metadata, "xtask");
    assert_eq!(xtask["clap"], ["xtask", "clap"]);
    assert_eq!(xtask["clap_builder"], ["xtask", "clap", "clap_builder"]);
    // cargo_metadata is only a dev-dependency of the tests crate, tempfile a normal one.
    let tests = normal_closure(&metadata, "meshtest-tests");
    assert!(tests.contains_key("tempfile"), "{tests:#?}");
    assert!(!tests.contains_key("cargo_metadata"), "{tests:#?}");
    // And the rule would catch it: tempfile is forbidden for pure crates.
    assert!(forbidden("tempfile").is_some());
}

/// The crates of a command line: argument parsing and terminal drawing. They belong in
/// meshtest-cli, never in the engine a program embeds.
const COMMAND_LINE_CRATES: &[&str] = &["clap", "clap_builder", "clap_derive", "indicatif"];

/// Each command-line crate in `closure` (a package's normal closure), with the chain that pulls
/// it in.
fn command_line_crates_in(closure: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    COMMAND_LINE_CRATES
        .iter()
        .filter_map(|name| closure.get(*name))
        .map(|chain| chain.join(" -> "))
        .collect()
}

#[test]
fn the_command_line_check_catches_a_planted_clap() {
    let mut closure = BTreeMap::from([
        ("deploy".to_owned(), vec!["deploy".to_owned()]),
        (
            "serde".to_owned(),
            vec!["deploy".to_owned(), "serde".to_owned()],
        ),
    ]);
    assert!(command_line_crates_in(&closure).is_empty());
    closure.insert(
        "clap".to_owned(),
        vec!["deploy".into(), "local-runtime".into(), "clap".into()],
    );
    assert_eq!(
        command_line_crates_in(&closure),
        ["deploy -> local-runtime -> clap"]
    );
}

#[test]
fn the_deploy_engine_has_no_command_line_in_it() {
    let metadata = workspace_metadata();
    // Positive control: the command line has them.
    let cli = normal_closure(&metadata, "meshtest-cli");
    assert!(
        cli.contains_key("clap") && cli.contains_key("indicatif"),
        "{cli:#?}"
    );
    let deploy = normal_closure(&metadata, "deploy");
    let found = command_line_crates_in(&deploy);
    assert!(
        found.is_empty(),
        "the deploy engine compiles command-line crates: {found:?}; parse arguments and draw on \
         the terminal in meshtest-cli (cli/), and hand the engine typed values"
    );
}

#[test]
fn pure_crates_have_no_io_dependencies() {
    let metadata = workspace_metadata();
    let mut offenders = Vec::new();
    for package in PURE_PACKAGES {
        let closure = normal_closure(&metadata, package);
        println!(
            "{package}: {} crates in the normal dependency closure",
            closure.len()
        );
        for (name, path) in &closure {
            if let Some(why) = forbidden(name) {
                offenders.push(format!("{name} ({why}): {}", path.join(" -> ")));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "model and cfn-render must stay pure (SPEC §5); move the I/O into xtask or state-store:\n{}",
        offenders.join("\n")
    );
}

/// The `std` modules that do I/O or read the process environment.
const IO_MODULES: &[&str] = &["fs", "net", "process", "env"];

/// Each mention of an I/O module of `std` in `source`, as `line N: std::module`. Catches plain
/// paths (`std::fs::read`) and grouped imports (`use std::{env, fmt}`); comments count too, so
/// a doc line may need rewording.
pub(crate) fn io_mentions(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let line_of = |offset: usize| source[..offset].matches('\n').count() + 1;
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (start, _) in source.match_indices("std::") {
        if source[..start].ends_with(is_ident) {
            continue; // e.g. `mystd::fs`
        }
        let rest = &source[start + "std::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            for module in grouped_top_level_names(group) {
                if IO_MODULES.contains(&module) {
                    found.push(format!("line {}: std::{module}", line_of(start)));
                }
            }
        } else {
            let module: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            if IO_MODULES.contains(&module.as_str()) {
                found.push(format!("line {}: std::{module}", line_of(start)));
            }
        }
    }
    found
}

/// The first path segment of each item in a `use std::{...}` group, given the text after `{`.
pub(crate) fn grouped_top_level_names(group: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut depth = 1;
    let mut item_start = true;
    let mut chars = group.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => item_start = true,
            c if item_start && depth == 1 && (c.is_ascii_alphabetic() || c == '_') => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                names.push(&group[i..end]);
                item_start = false;
            }
            _ => {}
        }
    }
    names
}

#[test]
fn io_mention_scanner() {
    fn check(source: &str, expected: &[&str]) {
        assert_eq!(io_mentions(source), expected, "{source}");
    }
    check("use std::fmt;\nuse std::collections::BTreeMap;", &[]);
    check("use std::fs;", &["line 1: std::fs"]);
    check(
        "fn f() {\n    let _ = ::std::env::var(\"X\");\n}",
        &["line 2: std::env"],
    );
    check(
        "use std::net::TcpStream;\nuse std::process::Command;",
        &["line 1: std::net", "line 2: std::process"],
    );
    check(
        "use std::{collections::BTreeMap, env, fmt};",
        &["line 1: std::env"],
    );
    check(
        "use std::{\n    io::{self, Write},\n    fs::File,\n};",
        &["line 1: std::fs"],
    );
    check(
        "use std::{fmt::{self, Display}, process};",
        &["line 1: std::process"],
    );
    check("use std::environment_like;", &[]);
    check("use mystd::fs;", &[]);
    check(
        "// this crate never touches std::fs\n",
        &["line 1: std::fs"],
    );
}

pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("read directory {}: {err}", dir.display()));
    for entry in entries {
        let path = entry.expect("read a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn pure_crates_do_not_use_std_io_modules() {
    let root = workspace_root();
    let mut offenders = Vec::new();
    for package in PURE_PACKAGES {
        let mut files = Vec::new();
        rust_files(&root.join(package).join("src"), &mut files);
        assert!(!files.is_empty(), "no .rs files found under {package}/src");
        for file in files {
            let source = std::fs::read_to_string(&file)
                .unwrap_or_else(|err| panic!("read {}: {err}", file.display()));
            let relative = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .display()
                .to_string();
            for mention in io_mentions(&source) {
                offenders.push(format!("{relative} {mention}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "model and cfn-render must do no I/O (SPEC §5); pass data in and out instead of using \
         std::fs, std::net, std::process or std::env:\n{}",
        offenders.join("\n")
    );
}

/// Which workspace crates a crate may use: `uses` for its library and binaries (normal and build
/// dependencies), `dev_uses` for its tests and benches on top of those.
#[derive(Debug)]
struct Layer {
    package: &'static str,
    uses: Allowed,
    dev_uses: Allowed,
}

#[derive(Debug)]
enum Allowed {
    Only(&'static [&'static str]),
    /// The command line and the cross-crate tests sit on top of everything.
    Any,
}

impl Allowed {
    fn allows(&self, dep: &str) -> bool {
        match self {
            Allowed::Only(list) => list.contains(&dep),
            Allowed::Any => true,
        }
    }
}

use Allowed::{Any, Only};

/// The allowed direction of every dependency between workspace crates (ARCHITECTURE.md), and
/// exactly the dependencies there are: an allowance no crate uses fails too, so the table (and
/// ARCHITECTURE.md, which copies it) cannot claim an edge that is not there. The
/// pure core (`model`, then `cfn-render`) depends on no other crate of ours; the runtime crates
/// (`demo-app`, `load-client`) use at most the pure `model`, so they stay the same light binaries
/// that run on Fargate; the engines (`local-runtime`, `deploy`) build on the core; `xtask` and
/// the tests use anything.
const LAYERS: &[Layer] = &[
    Layer {
        package: "model",
        uses: Only(&[]),
        dev_uses: Only(&[]),
    },
    Layer {
        package: "cfn-render",
        uses: Only(&["model"]),
        // The snapshot tests render blue-green states.
        dev_uses: Only(&["state-store"]),
    },
    Layer {
        package: "state-store",
        // Versions and colours are its own types: it needs nothing of ours.
        uses: Only(&[]),
        dev_uses: Only(&[]),
    },
    Layer {
        package: "demo-app",
        // The default allow-list rule on mesh names, which the local runtime shares.
        uses: Only(&["model"]),
        // Its tests share helpers (a refused port) with other crates' tests.
        dev_uses: Only(&["meshtest-tests"]),
    },
    Layer {
        package: "load-client",
        uses: Only(&[]),
        // Its tests poll real demo-apps, and share helpers with other crates' tests.
        dev_uses: Only(&["demo-app", "meshtest-tests"]),
    },
    Layer {
        package: "local-runtime",
        // The control API carries the running blue-green state as a `BlueGreenState`.
        uses: Only(&["model", "state-store"]),
        // Its tests run the demo-app binary the test build hands them, not the crate.
        dev_uses: Only(&[]),
    },
    Layer {
        // The supervisor binary (the server): the core and the client's shared types.
        package: "local-supervisor",
        uses: Only(&["model", "state-store", "local-runtime"]),
        dev_uses: Only(&[]),
    },
    Layer {
        package: "deploy",
        // The engine deploys to AWS and to the local runtime (its launcher and control client).
        uses: Only(&["model", "cfn-render", "state-store", "local-runtime"]),
        // Its tests deploy on moto through the shared test support.
        dev_uses: Only(&["meshtest-tests"]),
    },
    Layer {
        package: "meshtest-cli",
        // The command line over the engine: its arguments become the engine's requests, and the
        // local runtime's client tells it where the supervisor binary is.
        uses: Only(&["model", "deploy", "local-runtime"]),
        // Its tests share webhook receivers with xtask's.
        dev_uses: Only(&["meshtest-tests"]),
    },
    Layer {
        package: "xtask",
        uses: Any,
        dev_uses: Any,
    },
    Layer {
        package: "meshtest-tests",
        uses: Any,
        dev_uses: Any,
    },
];

/// One dependency edge between workspace crates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: String,
    to: String,
    dev: bool,
}

/// The dependencies between workspace members, from their manifests (`cargo metadata`).
fn internal_edges(metadata: &Metadata) -> (BTreeSet<String>, BTreeSet<Edge>) {
    let members: BTreeSet<String> = metadata
        .workspace_packages()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    let mut edges = BTreeSet::new();
    for package in metadata.workspace_packages() {
        for dep in &package.dependencies {
            if members.contains(&dep.name) {
                edges.insert(Edge {
                    from: package.name.to_string(),
                    to: dep.name.clone(),
                    dev: dep.kind == DependencyKind::Development,
                });
            }
        }
    }
    (members, edges)
}

/// Every member missing from `layers` and every edge `layers` does not allow, as messages.
fn layering_violations(
    layers: &[Layer],
    members: &BTreeSet<String>,
    edges: &BTreeSet<Edge>,
) -> Vec<String> {
    let layer = |name: &str| layers.iter().find(|l| l.package == name);
    let mut problems = Vec::new();
    for member in members {
        if layer(member).is_none() {
            problems.push(format!(
                "workspace crate `{member}` is not in the layering table: add it to LAYERS in \
                 tests/tests/it/dependency_rules.rs with the crates it may use, and to \
                 ARCHITECTURE.md"
            ));
        }
    }
    for edge in edges {
        let Some(from) = layer(&edge.from) else {
            continue; // reported above
        };
        let allowed = from.uses.allows(&edge.to) || (edge.dev && from.dev_uses.allows(&edge.to));
        if !allowed {
            let kind = if edge.dev {
                "dev-dependency"
            } else {
                "dependency"
            };
            problems.push(format!(
                "`{}` has a {kind} on `{}`, which the layering table does not allow: move the \
                 shared code down to a crate both may use, or change LAYERS and say why",
                edge.from, edge.to
            ));
        }
    }
    problems
}

/// Every allowance of `layers` that no edge uses, as messages: with these, the table is exact
/// rather than an upper bound. `Any` rows (the command line, the tests) are exempt.
fn unused_allowances(layers: &[Layer], edges: &BTreeSet<Edge>) -> Vec<String> {
    let mut problems = Vec::new();
    for layer in layers {
        for (allowed, dev) in [(&layer.uses, false), (&layer.dev_uses, true)] {
            let Only(list) = allowed else {
                continue;
            };
            for &to in *list {
                let used = edges
                    .iter()
                    .any(|e| e.from == layer.package && e.to == to && e.dev == dev);
                if !used {
                    let (kind, field) = if dev {
                        ("dev-dependency", "dev_uses")
                    } else {
                        ("dependency", "uses")
                    };
                    problems.push(format!(
                        "`{}` may use `{to}` as a {kind}, but no manifest has that edge: remove \
                         it from the row's `{field}` in LAYERS and from ARCHITECTURE.md",
                        layer.package
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn layering_table_is_exact() {
    // A made-up graph, so the check is tested on both sides whatever the workspace looks like.
    const TABLE: &[Layer] = &[
        Layer {
            package: "core",
            uses: Only(&[]),
            dev_uses: Only(&[]),
        },
        Layer {
            package: "engine",
            uses: Only(&["core"]),
            dev_uses: Only(&["fixtures"]),
        },
        Layer {
            package: "fixtures",
            uses: Only(&["core"]),
            dev_uses: Only(&[]),
        },
        Layer {
            package: "cli",
            uses: Any,
            dev_uses: Any,
        },
    ];
    fn problems(edges: &[(&str, &str, bool)]) -> Vec<String> {
        let edges: BTreeSet<Edge> = edges
            .iter()
            .map(|&(from, to, dev)| Edge {
                from: from.into(),
                to: to.into(),
                dev,
            })
            .collect();
        let members = TABLE.iter().map(|l| l.package.to_string()).collect();
        let mut found = layering_violations(TABLE, &members, &edges);
        found.extend(unused_allowances(TABLE, &edges));
        found
            .iter()
            .map(|p| p.split(':').next().unwrap_or(p).to_string())
            .collect()
    }
    let exact = [
        ("engine", "core", false),
        ("engine", "fixtures", true),
        ("fixtures", "core", false),
    ];
    assert_eq!(problems(&exact), Vec::<String>::new());
    // `cli` uses `Any`: no edge is required of it, and any edge is allowed.
    assert_eq!(
        problems(&[exact.as_slice(), &[("cli", "engine", false)]].concat()),
        Vec::<String>::new()
    );
    // Planted: the table allows `engine -> fixtures` for tests, and no manifest has it.
    assert_eq!(
        problems(
            &exact[..1]
                .iter()
                .chain(&exact[2..])
                .copied()
                .collect::<Vec<_>>()
        ),
        ["`engine` may use `fixtures` as a dev-dependency, but no manifest has that edge"]
    );
    // A normal edge does not make a dev allowance used, nor the other way round.
    assert_eq!(
        problems(&[
            ("engine", "core", true),
            ("engine", "fixtures", false),
            ("fixtures", "core", false),
        ]),
        [
            "`engine` has a dependency on `fixtures`, which the layering table does not allow",
            "`engine` may use `core` as a dependency, but no manifest has that edge",
            "`engine` may use `fixtures` as a dev-dependency, but no manifest has that edge",
        ]
    );
    // And the upper bound still holds: an edge the table does not allow fails.
    assert_eq!(
        problems(&[exact.as_slice(), &[("core", "engine", false)]].concat()),
        ["`core` has a dependency on `engine`, which the layering table does not allow"]
    );
}

#[test]
fn layering_rules() {
    fn check(edges: &[(&str, &str, bool)], expected: &[&str]) {
        let edges: BTreeSet<Edge> = edges
            .iter()
            .map(|&(from, to, dev)| Edge {
                from: from.into(),
                to: to.into(),
                dev,
            })
            .collect();
        let members = edges
            .iter()
            .flat_map(|e| [e.from.clone(), e.to.clone()])
            .collect();
        let problems = layering_violations(LAYERS, &members, &edges);
        let short: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or(p))
            .collect();
        assert_eq!(short, expected, "{edges:?}");
    }
    check(&[("cfn-render", "model", false)], &[]);
    check(&[("xtask", "local-runtime", false)], &[]);
    check(&[("meshtest-tests", "xtask", true)], &[]);
    check(&[("deploy", "cfn-render", false)], &[]);
    check(&[("cfn-render", "state-store", true)], &[]);
    check(
        &[("cfn-render", "state-store", false)],
        &[
            "`cfn-render` has a dependency on `state-store`, which the layering table does not allow",
        ],
    );
    check(
        &[("model", "cfn-render", false)],
        &["`model` has a dependency on `cfn-render`, which the layering table does not allow"],
    );
    check(
        &[("demo-app", "load-client", true)],
        &[
            "`demo-app` has a dev-dependency on `load-client`, which the layering table does not allow",
        ],
    );
    check(
        &[("local-runtime", "deploy", false)],
        &["`local-runtime` has a dependency on `deploy`, which the layering table does not allow"],
    );
    check(
        &[("gadget", "model", false)],
        &["workspace crate `gadget` is not in the layering table"],
    );
}

#[test]
fn workspace_dependencies_follow_the_layering() {
    let (members, edges) = internal_edges(&workspace_metadata());
    // Positive control: the edges are read from the manifests.
    let edge = |from: &str, to: &str, dev| Edge {
        from: from.into(),
        to: to.into(),
        dev,
    };
    assert!(
        edges.contains(&edge("cfn-render", "model", false)),
        "{edges:#?}"
    );
    assert!(
        edges.contains(&edge("cfn-render", "state-store", true)),
        "{edges:#?}"
    );
    let mut problems = layering_violations(LAYERS, &members, &edges);
    problems.extend(unused_allowances(LAYERS, &edges));
    assert!(
        problems.is_empty(),
        "workspace crates depend on each other against the layering (ARCHITECTURE.md), or \
         LAYERS allows an edge no crate has:\n{}",
        problems.join("\n")
    );
}

/// The server is a program only: no crate compiles it, not even `xtask` or the tests, which may
/// use anything else (they run the binary the test build made).
const SERVER: &str = "local-supervisor";

/// Every edge into the server, as messages.
fn server_users(edges: &BTreeSet<Edge>) -> Vec<String> {
    edges
        .iter()
        .filter(|e| e.to == SERVER)
        .map(|e| {
            format!(
                "`{}` depends on `{SERVER}`: drive the supervisor through local-runtime's launcher \
                 and control client instead",
                e.from
            )
        })
        .collect()
}

#[test]
fn nothing_compiles_the_supervisor() {
    let planted = BTreeSet::from([Edge {
        from: "xtask".into(),
        to: SERVER.into(),
        dev: true,
    }]);
    assert_eq!(
        server_users(&planted).len(),
        1,
        "the check catches a planted edge"
    );
    let (members, edges) = internal_edges(&workspace_metadata());
    assert!(members.contains(SERVER), "{members:?}");
    let users = server_users(&edges);
    assert!(users.is_empty(), "{}", users.join("\n"));
}

#[test]
fn layers_name_only_crates_of_the_table() {
    let packages: BTreeSet<&str> = LAYERS.iter().map(|l| l.package).collect();
    assert_eq!(packages.len(), LAYERS.len(), "a crate has two rows");
    let mut unknown = Vec::new();
    for layer in LAYERS {
        for allowed in [&layer.uses, &layer.dev_uses] {
            if let Only(list) = allowed {
                unknown.extend(
                    list.iter()
                        .filter(|name| !packages.contains(*name))
                        .map(|name| format!("{} -> {name}", layer.package)),
                );
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "LAYERS allows crates it has no row for (a typo?): {unknown:?}"
    );
}
