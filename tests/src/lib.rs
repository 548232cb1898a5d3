//! Shared helpers for the cross-crate tests and for every crate's tests that need one helper
//! another crate's tests need too (a dev-dependency, never a normal one): finding the pinned
//! Python tools, running cfn-lint (here) and checkov (`checkov`), a moto server (`moto`), the
//! workspace's built executables (`built`), a loopback port nothing listens on (`net`), webhook
//! receivers over HTTP and HTTPS with a private CA made in the test (`webhook`).
//!
//! The Python tools (cfn-lint, moto, checkov) are installed at pinned versions by `cargo xtask
//! test`, which passes their paths in `MESHTEST_CFN_LINT`, `MESHTEST_MOTO_SERVER` and
//! `MESHTEST_CHECKOV` (SPEC §6). A tool
//! on `PATH` is deliberately ignored: lint results depend on the cfn-lint version, and a test
//! that passes only on machines with some other version installed proves nothing.

pub mod built;
pub mod checkov;
pub mod moto;
pub mod net;
pub mod webhook;

use std::ffi::OsString;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// The cfn-lint warnings a rendered template may carry and still count as clean.
///
/// W3696: App Mesh reached end of support on 2026-09-30, so every App Mesh resource warns; the
/// `appmesh` and `bluegreen` stacks must still render those resources (SPEC §1).
pub const ALLOWED_WARNINGS: &[&str] = &["W3696"];

/// The workspace root, for tests that read workspace files or run cargo on the workspace.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("the tests crate sits one level below the workspace root")
        .to_path_buf()
}

/// A Python tool that `cargo xtask test` installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    CfnLint,
    MotoServer,
    Checkov,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::CfnLint => "cfn-lint",
            Tool::MotoServer => "moto_server",
            Tool::Checkov => "checkov",
        }
    }

    /// The environment variable through which `cargo xtask test` passes the tool's path.
    pub fn env_var(self) -> &'static str {
        match self {
            Tool::CfnLint => "MESHTEST_CFN_LINT",
            Tool::MotoServer => "MESHTEST_MOTO_SERVER",
            Tool::Checkov => "MESHTEST_CHECKOV",
        }
    }
}

/// The path of a pinned Python tool, or `None` after printing that the calling test is skipped.
///
/// With `CI` set a missing tool panics instead: CI must never go green by skipping.
pub fn python_tool(tool: Tool) -> Option<PathBuf> {
    let test = current_test_name();
    match locate_tool(
        tool,
        std::env::var_os(tool.env_var()),
        is_ci(std::env::var_os("CI")),
        &test,
    ) {
        ToolLookup::Found(path) => Some(path),
        ToolLookup::Fail(message) => panic!("{message}"),
        ToolLookup::Skip(line) => {
            // libtest captures `println!`/`eprintln!` of passing tests, so the skip would be
            // invisible in a normal run; writing to the stderr handle bypasses the capture.
            // The `println!` copy keeps the line in captured output too (e.g. --nocapture logs).
            let _ = writeln!(std::io::stderr(), "{line}");
            println!("{line}");
            None
        }
    }
}

/// What `python_tool` decided, separated from the process environment so it can be tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolLookup {
    Found(PathBuf),
    /// The line to print for a skipped test.
    Skip(String),
    /// The panic message for CI.
    Fail(String),
}

/// Decides where `tool` is from the value of its environment variable.
pub fn locate_tool(tool: Tool, env_value: Option<OsString>, ci: bool, test: &str) -> ToolLookup {
    let name = tool.name();
    let var = tool.env_var();
    let problem = match env_value.filter(|value| !value.is_empty()) {
        None => format!("{name} not found ({var} is not set)"),
        Some(value) => {
            let path = PathBuf::from(value);
            if path.is_file() {
                return ToolLookup::Found(path);
            }
            format!(
                "{name} not found ({var} points at {}, which is not a file)",
                path.display()
            )
        }
    };
    if ci {
        ToolLookup::Fail(format!(
            "{problem}: run the suite with cargo xtask test, which installs it"
        ))
    } else {
        ToolLookup::Skip(format!(
            "SKIPPED {test}: {problem} (run cargo xtask test to install it)"
        ))
    }
}

/// Whether the `CI` variable asks for CI behaviour; `CI=false` and `CI=0` are common ways of
/// saying no, so they do not count.
pub fn is_ci(value: Option<OsString>) -> bool {
    match value {
        None => false,
        Some(value) => !matches!(value.to_str(), Some("" | "0" | "false" | "FALSE" | "False")),
    }
}

fn current_test_name() -> String {
    // libtest names each test's thread after the test; with --test-threads=1 tests may run on
    // the main thread, and then there is no better name to give.
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "this test".to_string(),
    }
}

/// How serious a cfn-lint finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum Level {
    Error,
    Warning,
    Informational,
}

impl Level {
    /// The bit cfn-lint sets in its exit code when it reports a finding of this level.
    fn exit_bit(self) -> i32 {
        match self {
            Level::Error => 2,
            Level::Warning => 4,
            Level::Informational => 8,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Informational => "info",
        })
    }
}

/// One cfn-lint finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule_id: String,
    pub level: Level,
    pub message: String,
    /// Where in the template, e.g. `Resources/Vpc/Properties/CidrBlock`; empty when cfn-lint
    /// gives no path (template-level problems such as a parse error).
    pub path: String,
    pub line: u32,
    pub column: u32,
}

impl Finding {
    /// Whether `assert_clean` lets this finding through.
    pub fn is_allowed(&self) -> bool {
        match self.level {
            Level::Error => false,
            Level::Warning => ALLOWED_WARNINGS.contains(&self.rule_id.as_str()),
            Level::Informational => true,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(template)"
        } else {
            &self.path
        };
        write!(
            f,
            "{} {} at {path} (line {}, column {}): {}",
            self.level, self.rule_id, self.line, self.column, self.message
        )
    }
}

/// What cfn-lint said about one template.
#[derive(Debug, Clone)]
pub struct LintReport {
    pub label: String,
    pub findings: Vec<Finding>,
}

impl LintReport {
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Panics listing every finding unless there are no errors and no warnings beyond
    /// [`ALLOWED_WARNINGS`]; prints the allowed findings so they stay visible.
    pub fn assert_clean(&self) {
        let blocking = self.findings.iter().filter(|f| !f.is_allowed()).count();
        if blocking > 0 {
            let mut listing = String::new();
            for finding in &self.findings {
                let mark = if finding.is_allowed() {
                    "  allowed "
                } else {
                    "  PROBLEM "
                };
                listing.push_str(&format!("\n{mark}{finding}"));
            }
            panic!(
                "cfn-lint found {blocking} problem(s) in {}.template.json \
                 (allowed warnings: {}):{listing}",
                self.label,
                ALLOWED_WARNINGS.join(", ")
            );
        }
        for finding in &self.findings {
            println!("cfn-lint {}: {finding}", self.label);
        }
    }
}

/// Runs a pinned tool in `dir`, which is also its HOME, so no configuration file of the user or
/// the project changes what it checks; panics when the tool cannot start.
pub(crate) fn run_isolated(command: &mut Command, exe: &Path, dir: &Path) -> std::process::Output {
    command
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "could not run {}: {err}; rerun cargo xtask test to reinstall it",
                exe.display()
            )
        })
}

/// Whether `label` can name a template file in a temporary directory as it is.
pub(crate) fn is_file_stem(label: &str) -> bool {
    !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Lints a template with the pinned cfn-lint, or returns `None` (printed as skipped) when
/// cfn-lint is not installed. `label` names the template file in messages, e.g. `appmesh`.
pub fn cfn_lint(template_json: &str, label: &str) -> Option<LintReport> {
    let exe = python_tool(Tool::CfnLint)?;
    Some(run_cfn_lint(&exe, template_json, label))
}

/// Runs the cfn-lint at `exe` over `template_json`; panics when cfn-lint itself fails.
pub fn run_cfn_lint(exe: &Path, template_json: &str, label: &str) -> LintReport {
    assert!(
        is_file_stem(label),
        "cfn-lint label {label:?} must be a plain file name stem (letters, digits, - _ .)"
    );
    let dir = tempfile::Builder::new()
        .prefix("meshtest-cfn-lint-")
        .tempdir()
        .expect("create a temporary directory for the template");
    let file_name = format!("{label}.template.json");
    std::fs::write(dir.path().join(&file_name), template_json)
        .expect("write the template to the temporary directory");

    // The temporary directory is both cwd and HOME so that no .cfnlintrc from the project or
    // the user changes which rules run; the region is fixed because some rules are regional.
    // Informational rules are off by default; they are turned on to be printed, never to fail.
    let mut command = Command::new(exe);
    command
        .args([
            "--format",
            "json",
            "--regions",
            "us-east-1",
            "--include-checks",
            "I",
            "--",
        ])
        .arg(&file_name);
    let output = run_isolated(&mut command, exe, dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let Some(code) = output.status.code() else {
        panic!("cfn-lint was killed ({}); stderr:\n{stderr}", output.status);
    };
    // cfn-lint's exit code is a bit set: 2 error, 4 warning, 8 informational; 1 means cfn-lint
    // itself crashed, and anything above 15 is not a lint result at all.
    if code & 1 != 0 || code > 15 {
        panic!("cfn-lint failed with exit code {code}; stderr:\n{stderr}\nstdout:\n{stdout}");
    }
    let findings = parse_cfn_lint_json(&stdout).unwrap_or_else(|err| {
        panic!("cfn-lint printed output that is not its JSON format ({err}); stdout:\n{stdout}\nstderr:\n{stderr}")
    });
    // The exit code and the findings come from different code paths in cfn-lint; if they
    // disagree, the parsing here has dropped something and the report cannot be trusted.
    let expected_code = findings.iter().fold(0, |bits, f| bits | f.level.exit_bit());
    assert_eq!(
        code, expected_code,
        "cfn-lint exit code {code} does not match its findings {findings:#?}; stderr:\n{stderr}"
    );
    LintReport {
        label: label.to_string(),
        findings,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawFinding {
    level: Level,
    location: RawLocation,
    message: String,
    rule: RawRule,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawLocation {
    start: RawPosition,
    path: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPosition {
    line_number: u32,
    column_number: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRule {
    id: String,
}

/// Parses `cfn-lint --format json` output (a JSON array of findings).
pub fn parse_cfn_lint_json(stdout: &str) -> Result<Vec<Finding>, serde_json::Error> {
    let raw: Vec<RawFinding> = serde_json::from_str(stdout)?;
    Ok(raw
        .into_iter()
        .map(|raw| Finding {
            rule_id: raw.rule.id,
            level: raw.level,
            message: raw.message,
            path: raw
                .location
                .path
                .unwrap_or_default()
                .iter()
                .map(|segment| match segment {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/"),
            line: raw.location.start.line_number,
            column: raw.location.start.column_number,
        })
        .collect())
}
