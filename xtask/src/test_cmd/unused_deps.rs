//! Unused dependencies fail `cargo xtask test`: the compiler's own `unused_crate_dependencies`
//! lint, run through clippy on the workspace's crates only, and read per package.
//!
//! The lint fires per compiled crate, and a package compiles several (its library, each binary,
//! each test): a binary rightly ignores what only the library uses. So a dependency is unused
//! when *every* crate of the package that receives it reports it: a normal dependency in the
//! library and binaries (`--lib --bins`, so one only the tests use is reported: it belongs in
//! `[dev-dependencies]`), a dev-dependency in the tests, benches and examples. A dev entry that
//! repeats a normal dependency (to add features for tests) is not judged on its own.
//!
//! Clippy, not `RUSTFLAGS`, carries the flag: the arguments after `--` reach workspace crates
//! only, so no dependency is rebuilt, and the dependencies' check results are the ones
//! `cargo clippy` (which `.ci/run` runs first) already made.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A dependency a package declares and no crate of it uses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unused {
    pub package: String,
    /// The name in the manifest (`tracing-subscriber`), as the table to remove it from says.
    pub dependency: String,
    pub dev: bool,
}

impl std::fmt::Display for Unused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.dev {
            write!(
                f,
                "{}: dev-dependency `{}` is used by none of its tests, benches or examples: \
                 remove it from [dev-dependencies]",
                self.package, self.dependency
            )
        } else {
            write!(
                f,
                "{}: dependency `{}` is used by neither its library nor its binaries: remove it \
                 from [dependencies], or move it to [dev-dependencies] if only tests use it",
                self.package, self.dependency
            )
        }
    }
}

/// Every unused dependency of the workspace at `manifest`, or an error if clippy cannot run.
/// `target_dir` overrides cargo's (a planted workspace's own).
pub fn find(manifest: &Path, target_dir: Option<&Path>) -> Result<Vec<Unused>> {
    let packages = workspace_packages(manifest)?;
    let code = lint_run(manifest, target_dir, &["--lib", "--bins"])?;
    let tests = lint_run(manifest, target_dir, &["--all-targets"])?;
    Ok(verdict(&packages, &code, &tests))
}

/// A workspace package: its id and its dependencies as `(crate name, manifest name, dev)`.
#[derive(Debug)]
pub struct Package {
    pub id: String,
    pub name: String,
    pub dependencies: Vec<(String, String, bool)>,
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

fn workspace_packages(manifest: &Path) -> Result<Vec<Package>> {
    let output = Command::new(cargo())
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("run cargo metadata: is cargo on PATH?")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed ({}): fix {} (see above)",
            output.status,
            manifest.display()
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("read cargo metadata's JSON")?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    Ok(packages
        .iter()
        .map(|p| Package {
            id: text(&p["id"]),
            name: text(&p["name"]),
            dependencies: p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["kind"].as_str() != Some("build"))
                .map(|d| {
                    // The manifest's key, and the crate name the lint reports: that key with
                    // `_` for `-` (a library named otherwise is never reported: it counts as
                    // used).
                    let key = d["rename"]
                        .as_str()
                        .map_or_else(|| text(&d["name"]), str::to_string);
                    (
                        key.replace('-', "_"),
                        key,
                        d["kind"].as_str() == Some("dev"),
                    )
                })
                .collect(),
        })
        .collect())
}

/// What one clippy run compiled and reported, per package and target (`kind:name`).
#[derive(Debug, Default)]
pub struct Run {
    /// How many crates of each target were checked, and how many of those were test builds
    /// (a library's unit tests are a second crate of the same target).
    pub units: BTreeMap<(String, String), (usize, usize)>,
    /// How many crates of each target reported each dependency unused.
    pub unused: BTreeMap<(String, String, String), usize>,
}

impl Run {
    /// Reads clippy's `--message-format=json` lines.
    pub fn from_json_lines(text: &str) -> Run {
        let mut run = Run::default();
        for line in text.lines() {
            let Ok(message) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let package = message["package_id"].as_str().unwrap_or_default();
            let target = format!(
                "{}:{}",
                message["target"]["kind"][0].as_str().unwrap_or_default(),
                message["target"]["name"].as_str().unwrap_or_default()
            );
            match message["reason"].as_str() {
                Some("compiler-artifact") => {
                    let test = message["profile"]["test"].as_bool() == Some(true);
                    let entry = run.units.entry((package.to_string(), target)).or_default();
                    entry.0 += 1;
                    entry.1 += usize::from(test);
                }
                Some("compiler-message")
                    if message["message"]["code"]["code"].as_str()
                        == Some("unused_crate_dependencies") =>
                {
                    // "extern crate `serde` is unused in crate `xtask`"
                    let text = message["message"]["message"].as_str().unwrap_or_default();
                    if let Some(krate) = text.split('`').nth(1) {
                        *run.unused
                            .entry((package.to_string(), target, krate.to_string()))
                            .or_default() += 1;
                    }
                }
                _ => {}
            }
        }
        run
    }
}

/// How many of a target's checked crates (all, test builds) receive a dependency.
type Receives = fn(&str, (usize, usize)) -> usize;

/// The unused dependencies, from a run over libraries and binaries (`code`) and one over all
/// targets (`tests`).
pub fn verdict(packages: &[Package], code: &Run, tests: &Run) -> Vec<Unused> {
    let mut found = BTreeSet::new();
    for package in packages {
        let normal: BTreeSet<&str> = package
            .dependencies
            .iter()
            .filter(|(_, _, dev)| !dev)
            .map(|(krate, _, _)| krate.as_str())
            .collect();
        for (krate, name, dev) in &package.dependencies {
            if *dev && normal.contains(krate.as_str()) {
                continue;
            }
            // The crates that receive this dependency: for a normal one every crate of the
            // code run; for a dev one the test builds and the targets that are neither library
            // nor binary (tests, benches, examples).
            let (run, receives): (&Run, Receives) = if *dev {
                (tests, |target, (all, test)| {
                    if target.starts_with("lib:") || target.starts_with("bin:") {
                        test
                    } else {
                        all
                    }
                })
            } else {
                (code, |_, (all, _)| all)
            };
            let mut received = 0;
            let mut used = false;
            for ((id, target), &counts) in &run.units {
                if id != &package.id {
                    continue;
                }
                let n = receives(target, counts);
                received += n;
                let reported = run
                    .unused
                    .get(&(id.clone(), target.clone(), krate.clone()))
                    .copied()
                    .unwrap_or(0);
                if reported < n {
                    used = true;
                }
            }
            if received > 0 && !used {
                found.insert(Unused {
                    package: package.name.clone(),
                    dependency: name.clone(),
                    dev: *dev,
                });
            }
        }
    }
    found.into_iter().collect()
}

fn lint_run(manifest: &Path, target_dir: Option<&Path>, targets: &[&str]) -> Result<Run> {
    let mut command = Command::new(cargo());
    command
        .args([
            "clippy",
            "--workspace",
            "--message-format=json",
            "--manifest-path",
        ])
        .arg(manifest)
        .args(targets);
    if let Some(dir) = target_dir {
        command.arg("--target-dir").arg(dir);
    }
    command
        .args(["--", "-W", "unused-crate-dependencies"])
        .stdin(Stdio::null());
    let output = command
        .output()
        .context("run cargo clippy: is cargo on PATH?")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("no such command") || stderr.contains("not installed") {
            bail!("cargo clippy is missing: run `rustup component add clippy`, then rerun");
        }
        bail!(
            "cargo clippy {} failed ({}): fix the errors it reports, then rerun\n{stderr}",
            targets.join(" "),
            output.status
        );
    }
    Ok(Run::from_json_lines(&String::from_utf8_lossy(
        &output.stdout,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(package: &str, kind: &str, name: &str, test: bool) -> String {
        serde_json::json!({
            "reason": "compiler-artifact",
            "package_id": package,
            "target": {"kind": [kind], "name": name},
            "profile": {"test": test},
        })
        .to_string()
    }

    fn unused(package: &str, kind: &str, name: &str, krate: &str) -> String {
        serde_json::json!({
            "reason": "compiler-message",
            "package_id": package,
            "target": {"kind": [kind], "name": name},
            "message": {
                "code": {"code": "unused_crate_dependencies"},
                "message": format!("extern crate `{krate}` is unused in crate `{name}`"),
            },
        })
        .to_string()
    }

    fn package() -> Package {
        let dep = |krate: &str, dev| (krate.to_string(), krate.replace('_', "-"), dev);
        Package {
            id: "p#0.1.0".into(),
            name: "p".into(),
            dependencies: vec![
                dep("lib_only", false),
                dep("bin_only", false),
                dep("nowhere", false),
                dep("tests_only", false),
                dep("test_helper", true),
                dep("dev_nowhere", true),
                // A dev entry for a normal dependency's test features is not judged.
                dep("nowhere", true),
            ],
        }
    }

    #[test]
    fn a_dependency_is_unused_when_every_crate_that_receives_it_says_so() {
        let id = "p#0.1.0";
        // The library and the binary: each misses what the other uses, and both miss
        // `nowhere` and `tests_only`.
        let code = [
            artifact(id, "lib", "p", false),
            unused(id, "lib", "p", "bin_only"),
            unused(id, "lib", "p", "nowhere"),
            unused(id, "lib", "p", "tests_only"),
            artifact(id, "bin", "p", false),
            unused(id, "bin", "p", "lib_only"),
            unused(id, "bin", "p", "nowhere"),
            unused(id, "bin", "p", "tests_only"),
        ];
        // All targets: the library's unit tests use `test_helper`, an integration test does
        // not; nothing uses `dev_nowhere`. The non-test library build never sees dev entries.
        let tests = [
            artifact(id, "lib", "p", false),
            artifact(id, "lib", "p", true),
            unused(id, "lib", "p", "dev_nowhere"),
            artifact(id, "test", "it", true),
            unused(id, "test", "it", "test_helper"),
            unused(id, "test", "it", "dev_nowhere"),
        ];
        let found = verdict(
            &[package()],
            &Run::from_json_lines(&code.join("\n")),
            &Run::from_json_lines(&tests.join("\n")),
        );
        let found: Vec<String> = found
            .iter()
            .map(|u| format!("{} {}", u.dependency, u.dev))
            .collect();
        assert_eq!(
            found,
            ["dev-nowhere true", "nowhere false", "tests-only false"]
        );
    }

    #[test]
    fn nothing_compiled_proves_nothing() {
        let found = verdict(&[package()], &Run::default(), &Run::default());
        assert_eq!(found, Vec::<Unused>::new());
    }

    /// End to end on a planted workspace: clippy and the compiler's lint report what the
    /// verdict reads. Needs clippy, as `.ci/run` installs it.
    #[test]
    fn a_planted_unused_dependency_fails() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"app\", \"used\", \"planted\", \"dev-planted\"]\nresolver = \"3\"\n",
        );
        for helper in ["used", "planted", "dev-planted"] {
            write(
                &format!("{helper}/Cargo.toml"),
                &format!(
                    "[package]\nname = \"{helper}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n"
                ),
            );
            write(&format!("{helper}/src/lib.rs"), "pub fn f() {}\n");
        }
        write(
            "app/Cargo.toml",
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dependencies]\nused = { path = \"../used\" }\nplanted = { path = \"../planted\" }\n\n\
             [dev-dependencies]\ndev-planted = { path = \"../dev-planted\" }\n",
        );
        write("app/src/main.rs", "fn main() {\n    used::f();\n}\n");
        write("app/tests/t.rs", "#[test]\nfn t() {}\n");
        // Its own target folder: this workspace's is the test run's.
        let found = find(
            &dir.path().join("Cargo.toml"),
            Some(&dir.path().join("target")),
        )
        .expect("clippy runs on the planted workspace");
        let found: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "app: dev-dependency `dev-planted` is used by none of its tests, benches or \
                 examples: remove it from [dev-dependencies]",
                "app: dependency `planted` is used by neither its library nor its binaries: \
                 remove it from [dependencies], or move it to [dev-dependencies] if only tests \
                 use it",
            ]
        );
    }
}
