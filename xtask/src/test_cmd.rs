//! `cargo xtask test`: install pinned Python tools under target/, check for unused dependencies
//! (`unused_deps`) and run the whole suite
//!
//! cfn-lint, moto and checkov come from PyPI at the versions pinned in `tools/requirements.txt`,
//! installed into a virtual environment at `target/py-tools` (SPEC §6). The venv is rebuilt
//! only when the requirements or the Python interpreter change, so a warm run costs a few
//! milliseconds before `cargo test` starts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

mod unused_deps;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Extra arguments passed to `cargo test`
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub cargo_args: Vec<String>,
}

const VENV_DIR: &str = "target/py-tools";
const REQUIREMENTS: &str = "tools/requirements.txt";
const STAMP_FILE: &str = "meshtest-requirements.stamp";

pub fn run(args: &TestArgs) -> Result<()> {
    let root = meshtest_cli::workspace::workspace_root();
    let tools = ensure_python_tools(&root)?;
    let unused = check_unused_dependencies(&root)?;
    run_cargo_test(&root, &tools, &args.cargo_args)?;
    // After the tests, so one verdict does not hide the other.
    if unused > 0 {
        bail!("{unused} unused dependencies (listed before the tests): remove them, then rerun");
    }
    Ok(())
}

/// Runs the unused-dependency check on the workspace and prints what it finds; returns how
/// many it found.
fn check_unused_dependencies(root: &Path) -> Result<usize> {
    println!("checking for unused dependencies (cargo clippy, unused_crate_dependencies) ...");
    let started = Instant::now();
    let unused = unused_deps::find(&root.join("Cargo.toml"), None)?;
    for finding in &unused {
        println!("error: {finding}");
    }
    println!(
        "{} unused dependencies ({:.1}s)",
        unused.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(unused.len())
}

/// Paths of the installed tools, handed to the tests through the environment.
#[derive(Debug)]
struct PythonTools {
    cfn_lint: PathBuf,
    moto_server: PathBuf,
    checkov: PathBuf,
}

impl PythonTools {
    fn in_venv(venv: &Path) -> PythonTools {
        PythonTools {
            cfn_lint: venv.join("bin/cfn-lint"),
            moto_server: venv.join("bin/moto_server"),
            checkov: venv.join("bin/checkov"),
        }
    }

    /// Each tool with the variable that hands its path to the tests.
    fn env(&self) -> [(&'static str, &Path); 3] {
        [
            ("MESHTEST_CFN_LINT", &self.cfn_lint),
            ("MESHTEST_MOTO_SERVER", &self.moto_server),
            ("MESHTEST_CHECKOV", &self.checkov),
        ]
    }
}

fn ensure_python_tools(root: &Path) -> Result<PythonTools> {
    let venv = root.join(VENV_DIR);
    let requirements_path = root.join(REQUIREMENTS);
    let requirements = std::fs::read_to_string(&requirements_path).with_context(|| {
        format!(
            "read {}: restore it from git (it pins cfn-lint, moto and checkov)",
            requirements_path.display()
        )
    })?;
    let python_version = python3_version()?;
    let wanted_stamp = stamp(&requirements, &python_version);
    let stamp_path = venv.join(STAMP_FILE);
    let tools = PythonTools::in_venv(&venv);

    let current_stamp = std::fs::read_to_string(&stamp_path).ok();
    if current_stamp.as_deref() == Some(wanted_stamp.as_str()) && venv_works(&venv, &tools) {
        println!("cfn-lint, moto and checkov are up to date in {VENV_DIR}");
        return Ok(tools);
    }

    let why = if venv.exists() {
        "requirements or python3 changed, or the last install did not finish"
    } else {
        "first run, about two minutes"
    };
    println!("installing cfn-lint, moto and checkov into {VENV_DIR} ({why}) ...");
    let started = Instant::now();
    // The stamp goes first, so an install that is interrupted halfway is redone next time.
    match std::fs::remove_file(&stamp_path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            return Err(err).with_context(|| format!("remove {}", stamp_path.display()));
        }
    }
    // A fresh venv rather than pip on top of the old one: a pin removed from the requirements
    // must not linger, or the suite would pass here and fail on a clean machine.
    run_step(
        "python3 -m venv",
        Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg("--clear")
            .arg(&venv),
        &format!(
            "on Debian install venv support with `apt-get install -y python3-venv`, or run \
             `python3 -m venv --clear {}` by hand to see why",
            venv.display()
        ),
    )?;
    let venv_python = venv.join("bin/python");
    run_step(
        "pip install",
        Command::new(&venv_python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ])
            .arg(&requirements_path)
            // A user-level pip setting would make pip refuse to install into a venv.
            .env_remove("PIP_USER"),
        &format!(
            "check that PyPI is reachable, then run `{} -m pip install -r {}` by hand to see why",
            venv_python.display(),
            requirements_path.display()
        ),
    )?;
    for (_, tool) in tools.env() {
        if !tool.is_file() {
            bail!(
                "pip finished but {} is missing: check the pins in {REQUIREMENTS}",
                tool.display()
            );
        }
    }
    std::fs::write(&stamp_path, &wanted_stamp)
        .with_context(|| format!("write {}", stamp_path.display()))?;
    println!(
        "installed cfn-lint, moto and checkov in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(tools)
}

/// `python3 --version`, which also proves python3 is there at all.
fn python3_version() -> Result<String> {
    let output = Command::new("python3")
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(output) if output.status.success() => {
            // Python 2 printed its version to stderr; 3 prints to stdout. Take whichever.
            let text = [output.stdout, output.stderr].concat();
            Ok(String::from_utf8_lossy(&text).trim().to_string())
        }
        Ok(output) => bail!(
            "python3 --version failed ({}): fix the python3 on PATH, then rerun cargo xtask test",
            output.status
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "python3 not found on PATH: install it (on Debian: apt-get install -y python3 \
             python3-venv), then rerun cargo xtask test"
        ),
        Err(err) => Err(err).context("run python3 --version"),
    }
}

/// Whether the venv's interpreter still runs: a venv points at the interpreter that created
/// it, and breaks silently when that one is removed or upgraded in place.
fn venv_works(venv: &Path, tools: &PythonTools) -> bool {
    tools.env().iter().all(|(_, tool)| tool.is_file())
        && Command::new(venv.join("bin/python"))
            .args(["-c", ""])
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}

/// The stamp content: changes whenever the requirements text or the interpreter version does.
fn stamp(requirements: &str, python_version: &str) -> String {
    format!(
        "requirements fnv1a64 {:016x}\n{python_version}\n",
        fnv1a64(requirements.as_bytes())
    )
}

/// FNV-1a: stable across Rust releases (unlike `DefaultHasher`) and needs no dependency; the
/// stamp only has to notice edits, not resist attacks.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs one install step with inherited output; on failure says what to do by hand.
fn run_step(step: &str, command: &mut Command, hint: &str) -> Result<()> {
    let status = command
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("start {step} (`{}`): {hint}", show(command)))?;
    if !status.success() {
        bail!("{step} failed ({status}): {hint}");
    }
    Ok(())
}

fn show(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_cargo_test(root: &Path, tools: &PythonTools, extra: &[String]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    // The whole suite's verdict is the point, so a failing test binary must not hide the
    // results of the binaries after it.
    command.args(["test", "--no-fail-fast"]);
    if !selects_packages(extra) {
        command.arg("--workspace");
    }
    command.args(extra).current_dir(root);
    for (var, tool) in tools.env() {
        command.env(var, tool);
    }
    // `CARGO` is a long toolchain path; the short form is what a person would retype.
    let shown = format!(
        "cargo {}",
        show(&command).split_once(' ').map_or("", |(_, args)| args)
    );
    println!("running {shown}");
    let status = command
        .status()
        .with_context(|| format!("start `{shown}`: is cargo on PATH?"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status}): see the test output above");
    }
    Ok(())
}

/// Whether the extra arguments pick packages themselves. `--workspace` would override a
/// `-p`, so it is left out then; arguments after `--` belong to the test binaries.
fn selects_packages(extra: &[String]) -> bool {
    extra
        .iter()
        .take_while(|arg| arg.as_str() != "--")
        .any(|arg| {
            arg == "-p"
                || arg == "--package"
                || arg == "--manifest-path"
                || arg.starts_with("--package=")
                || arg.starts_with("--manifest-path=")
                || (arg.starts_with("-p") && !arg.starts_with("--"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_selection() {
        fn check(args: &[&str], expected: bool) {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(selects_packages(&args), expected, "{args:?}");
        }
        check(&[], false);
        check(&["--release"], false);
        check(&["-p", "state-store"], true);
        check(&["-pstate-store"], true);
        check(&["--package", "model"], true);
        check(&["--package=model"], true);
        check(&["--manifest-path", "model/Cargo.toml"], true);
        check(&["--exclude", "demo-app"], false);
        check(&["--", "-p"], false);
        check(&["--lib", "--", "--package"], false);
    }

    #[test]
    fn stamp_changes_with_requirements_and_python() {
        let base = stamp("cfn-lint==1.58.0\n", "Python 3.11.7");
        assert_eq!(base, stamp("cfn-lint==1.58.0\n", "Python 3.11.7"));
        assert_ne!(base, stamp("cfn-lint==1.58.1\n", "Python 3.11.7"));
        assert_ne!(base, stamp("cfn-lint==1.58.0\n", "Python 3.12.1"));
    }

    #[test]
    fn fnv1a64_reference_values() {
        // Published FNV-1a 64-bit test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
