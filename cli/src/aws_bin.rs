//! The AWS commands run in this crate's `meshtest-aws` binary, built on first use, so the
//! local path (`deploy --local`, `synth`, `list`) never compiles the AWS SDK
//!
//! The arguments are parsed once: xtask parses them (with the same clap definitions,
//! [`AwsCommand`]) and hands the parsed command over as JSON after [`PARSED_COMMAND`];
//! `meshtest-aws` run by hand parses its own.
//!
//! `MESHTEST_AWS_BIN` names a `meshtest-aws` to run instead of building one: the tests hand over
//! the binary their own build made (a build of `-p meshtest-cli` alone resolves other features and
//! would compile the SDK a second time), and a packager can ship a prebuilt one.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use deploy::report::Reporter;
use deploy::settings::env_var;

use crate::args::{AwsCommand, Outcome};
use crate::workspace::{target_dir, workspace_root};

/// The binary's name in `target/<profile>/`.
pub const AWS_BIN: &str = "meshtest-aws";

/// The variable that names a prebuilt `meshtest-aws`.
pub const AWS_BIN_VAR: &str = "MESHTEST_AWS_BIN";

/// The first argument of `meshtest-aws` when the second is an [`AwsCommand`] parsed already, as
/// JSON.
pub const PARSED_COMMAND: &str = "--parsed-command";

/// The command a `meshtest-aws` run is given: the JSON after [`PARSED_COMMAND`], or `None` when
/// its arguments are to be parsed.
pub fn parsed_command(
    mut args: impl Iterator<Item = std::ffi::OsString>,
) -> Result<Option<AwsCommand>> {
    let _program = args.next();
    if args.next().is_none_or(|first| first != PARSED_COMMAND) {
        return Ok(None);
    }
    let json = args
        .next()
        .with_context(|| format!("{PARSED_COMMAND} needs the command as JSON"))?;
    let json = json
        .to_str()
        .with_context(|| format!("{PARSED_COMMAND}: the command is not UTF-8"))?;
    let command = serde_json::from_str(json)
        .with_context(|| format!("{PARSED_COMMAND}: not a command of this meshtest-aws"))?;
    Ok(Some(command))
}

/// Builds `meshtest-aws` (cargo's progress shows the first time, when it compiles the AWS SDK)
/// and runs `command` in it; its exit code is the command's.
pub fn run(command: &AwsCommand, out: &dyn Reporter) -> Result<Outcome> {
    let binary = match env_var(AWS_BIN_VAR) {
        Some(given) => prebuilt(PathBuf::from(given))?,
        None => build(out)?,
    };
    let json = serde_json::to_string(command).context("cannot hand the command over")?;
    let status = Command::new(&binary)
        .args([PARSED_COMMAND, &json])
        .status()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    // The same exit code from xtask as from meshtest-aws: `--wait-until`'s are more than 0 and 1.
    match status.code() {
        Some(code) => Ok(Outcome::from_code(code)),
        None => bail!("{AWS_BIN} was stopped by a signal ({status})"),
    }
}

fn prebuilt(binary: PathBuf) -> Result<PathBuf> {
    if !binary.is_file() {
        bail!(
            "{AWS_BIN_VAR}={} is not a file: point it at a built {AWS_BIN}, or unset it to build one",
            binary.display()
        );
    }
    Ok(binary)
}

fn build(out: &dyn Reporter) -> Result<PathBuf> {
    let binary = target_dir().join("debug").join(AWS_BIN);
    let first_use = !binary.is_file();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "-p", "meshtest-cli", "--bin", AWS_BIN]);
    if first_use {
        out.note(format!(
            "building {AWS_BIN} (first AWS command: compiles the AWS SDK, once)"
        ));
    } else {
        // Already built: only pick up source changes, without cargo's progress lines.
        command.arg("--quiet");
    }
    let status = command.status().context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build of {AWS_BIN} failed ({status})");
    }
    Ok(binary)
}
