//! local-runtime's pure core (`plan`, `changes`, `rollout`) does no I/O: its source names no
//! I/O module of `std`, no async runtime or HTTP crate, and none of the client's modules
//! (`control`, `launcher`, `state_dir`, `process`). Every module of the crate is classified as
//! core or client, so a new one must say which part it belongs to.

use std::path::Path;

use meshtest_tests::workspace_root;

use crate::dependency_rules::{grouped_top_level_names, io_mentions, rust_files};

/// The core's files and folders, relative to `local-runtime/src`.
const CORE: &[&str] = &["plan.rs", "plan/", "changes.rs", "rollout.rs", "rollout/"];
/// The client's files: they may do I/O; the core may not use them.
const CLIENT: &[&str] = &["control.rs", "launcher.rs", "state_dir.rs", "process.rs"];
/// The crate root, which only declares the modules.
const ROOT: &str = "lib.rs";
/// The client modules as the core would name them (`crate::control`).
const CLIENT_MODULES: &[&str] = &["control", "launcher", "state_dir", "process"];
/// Crates that do I/O: an async runtime, sockets, HTTP, signals.
const IO_CRATES: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "hyper",
    "hyper_util",
    "http_body_util",
    "reqwest",
    "nix",
];

/// Which part a file (relative to `local-runtime/src`, `/`-separated) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Core,
    Client,
    Root,
}

fn part_of(relative: &str) -> Option<Part> {
    if relative == ROOT {
        Some(Part::Root)
    } else if CORE
        .iter()
        .any(|c| relative == *c || (c.ends_with('/') && relative.starts_with(c)))
    {
        Some(Part::Core)
    } else if CLIENT.contains(&relative) {
        Some(Part::Client)
    } else {
        None
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Each path in `source` that starts with one of `crates` (`tokio::sync`, `::hyper::Request`),
/// as `line N: crate`. A path whose first segment only ends in the name (`mytokio::`) or that
/// is a module of something else (`foo::tokio::`) does not count; comments do.
fn crate_mentions(source: &str, crates: &[&str]) -> Vec<String> {
    let line_of = |offset: usize| source[..offset].matches('\n').count() + 1;
    let mut found = Vec::new();
    for krate in crates {
        let needle = format!("{krate}::");
        for (start, _) in source.match_indices(&needle) {
            let before = &source[..start];
            if before.ends_with(is_ident) {
                continue;
            }
            if let Some(rest) = before.strip_suffix("::")
                && rest.ends_with(is_ident)
            {
                continue;
            }
            found.push((start, format!("line {}: {krate}", line_of(start))));
        }
    }
    found.sort();
    found.into_iter().map(|(_, m)| m).collect()
}

/// Each use of a client module through `crate::` (plain or grouped), as `line N: crate::module`.
fn client_mentions(source: &str) -> Vec<String> {
    let line_of = |offset: usize| source[..offset].matches('\n').count() + 1;
    let mut found = Vec::new();
    for (start, _) in source.match_indices("crate::") {
        if source[..start].ends_with(is_ident) {
            continue;
        }
        let rest = &source[start + "crate::".len()..];
        let modules: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => grouped_top_level_names(group),
            None => vec![&rest[..rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len())]],
        };
        for module in modules {
            if CLIENT_MODULES.contains(&module) {
                found.push(format!("line {}: crate::{module}", line_of(start)));
            }
        }
    }
    found
}

/// Everything in a core file's source that is not pure.
fn core_violations(source: &str) -> Vec<String> {
    let mut found = io_mentions(source);
    found.extend(crate_mentions(source, IO_CRATES));
    found.extend(client_mentions(source));
    found
}

#[test]
fn the_core_checks_catch_planted_violations() {
    fn check(source: &str, expected: &[&str]) {
        assert_eq!(core_violations(source), expected, "{source}");
    }
    check(
        "use std::collections::BTreeMap;\nuse core::net::SocketAddr;\nuse crate::plan::LocalPlan;",
        &[],
    );
    check("use std::fs;", &["line 1: std::fs"]);
    check(
        "fn f() {\n    std::process::Command::new(\"x\");\n}",
        &["line 2: std::process"],
    );
    check("use tokio::sync::mpsc;", &["line 1: tokio"]);
    check(
        "let _ = ::hyper::Request::new(());\nuse hyper_util::rt::TokioIo;",
        &["line 1: hyper", "line 2: hyper_util"],
    );
    check("use nix::sys::signal::kill;", &["line 1: nix"]);
    check("use mytokio::x;\nuse foo::tokio::x;", &[]);
    check("// knows nothing about tokio or hyper", &[]);
    check("use crate::control::Status;", &["line 1: crate::control"]);
    check(
        "use crate::{plan::LocalPlan, launcher};",
        &["line 1: crate::launcher"],
    );
    check("use crate::state_dir_like::X;", &[]);
}

#[test]
fn every_module_is_core_or_client() {
    assert_eq!(part_of("plan.rs"), Some(Part::Core));
    assert_eq!(part_of("rollout/alarm.rs"), Some(Part::Core));
    assert_eq!(part_of("control.rs"), Some(Part::Client));
    assert_eq!(part_of("lib.rs"), Some(Part::Root));
    // A planted new module is neither until it is classified.
    assert_eq!(part_of("supervisor.rs"), None);
    assert_eq!(part_of("planner.rs"), None);

    let src = workspace_root().join("local-runtime/src");
    let mut unclassified = Vec::new();
    for file in sources(&src) {
        if part_of(&file).is_none() {
            unclassified.push(file);
        }
    }
    assert!(
        unclassified.is_empty(),
        "local-runtime modules that are neither core nor client: {unclassified:?}; add each to \
         CORE (pure: no I/O) or CLIENT in tests/tests/it/local_core.rs"
    );
}

/// The `.rs` files under `src`, relative and `/`-separated.
fn sources(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    assert!(!files.is_empty(), "no .rs files under {}", src.display());
    let mut relative: Vec<String> = files
        .iter()
        .map(|f| {
            let parts: Vec<String> = f
                .strip_prefix(src)
                .expect("a file under src")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            parts.join("/")
        })
        .collect();
    relative.sort();
    relative
}

#[test]
fn the_local_runtime_core_does_no_io() {
    let src = workspace_root().join("local-runtime/src");
    let mut offenders = Vec::new();
    let mut checked = 0;
    for file in sources(&src) {
        if part_of(&file) != Some(Part::Core) {
            continue;
        }
        checked += 1;
        let source = std::fs::read_to_string(src.join(&file))
            .unwrap_or_else(|err| panic!("read local-runtime/src/{file}: {err}"));
        for violation in core_violations(&source) {
            offenders.push(format!("local-runtime/src/{file} {violation}"));
        }
    }
    // Positive control: the core's files were found (plan, its tests, changes, rollout, ...).
    assert!(checked >= 6, "only {checked} core files found");
    assert!(
        offenders.is_empty(),
        "local-runtime's core (plan, changes, rollout) must do no I/O: pass data in and out, and \
         leave processes, sockets and files to the client modules or the supervisor \
         (local-supervisor):\n{}",
        offenders.join("\n")
    );
}
