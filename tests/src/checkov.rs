//! Running the pinned checkov over rendered templates and reading its verdict per template
//!
//! checkov takes seconds just to start (it imports every framework it knows), so templates are
//! checked in one run over a directory, and the results are sorted back to their templates.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use crate::{Tool, python_tool};

/// One check on one resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckResult {
    /// The template's label, e.g. `gateway`.
    pub template: String,
    pub check_id: String,
    /// `Type.LogicalId`, e.g. `AWS::Logs::LogGroup.BlueLogGroup`.
    pub resource: String,
    /// The reason a skip gives (empty for passed and failed checks).
    pub comment: String,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} on {}",
            self.template, self.check_id, self.resource
        )?;
        if !self.comment.is_empty() {
            write!(f, " ({})", self.comment)?;
        }
        Ok(())
    }
}

/// What checkov said about a set of templates.
#[derive(Debug, Clone, Default)]
pub struct CheckovReport {
    pub passed: Vec<CheckResult>,
    pub failed: Vec<CheckResult>,
    pub skipped: Vec<CheckResult>,
}

impl CheckovReport {
    /// The part of the report about one template.
    pub fn template(&self, label: &str) -> CheckovReport {
        let only = |results: &[CheckResult]| {
            results
                .iter()
                .filter(|r| r.template == label)
                .cloned()
                .collect()
        };
        CheckovReport {
            passed: only(&self.passed),
            failed: only(&self.failed),
            skipped: only(&self.skipped),
        }
    }

    /// Panics listing every failed check with its resource unless there is none.
    pub fn assert_clean(&self) {
        if self.failed.is_empty() {
            return;
        }
        let listing: String = self.failed.iter().map(|r| format!("\n  {r}")).collect();
        panic!(
            "checkov failed {} check(s): fix the renderer, or skip the check on the resource \
             with the reason (cfn_render::checkov):{listing}",
            self.failed.len()
        );
    }
}

/// Checks `templates` (label, template JSON) with the pinned checkov, or returns `None` (printed
/// as skipped) when checkov is not installed.
pub fn checkov(templates: &[(String, String)]) -> Option<CheckovReport> {
    let exe = python_tool(Tool::Checkov)?;
    Some(run_checkov(&exe, templates))
}

/// Runs the checkov at `exe` once over all `templates`; panics when checkov itself fails or when
/// it did not read every template.
pub fn run_checkov(exe: &Path, templates: &[(String, String)]) -> CheckovReport {
    let dir = tempfile::Builder::new()
        .prefix("meshtest-checkov-")
        .tempdir()
        .expect("create a temporary directory for the templates");
    let scan = dir.path().join("templates");
    std::fs::create_dir(&scan).expect("create the template directory");
    let mut labels = BTreeSet::new();
    for (label, json) in templates {
        assert!(
            crate::is_file_stem(label) && labels.insert(label.as_str()),
            "checkov label {label:?} must be a unique plain file name stem (letters, digits, - _ .)"
        );
        std::fs::write(scan.join(format!("{label}.template.json")), json)
            .expect("write a template to the temporary directory");
    }
    // The two variables keep checkov from asking the network for a newer version or for the
    // platform's check mapping (no internet in tests); `run_isolated` keeps out .checkov.yaml.
    let mut command = Command::new(exe);
    command
        .args([
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--compact",
            "--skip-download",
            "--directory",
        ])
        .arg(&scan)
        .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")
        .env("BC_SKIP_MAPPING", "TRUE");
    let output = crate::run_isolated(&mut command, exe, dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = parse_checkov_json(&stdout, &labels).unwrap_or_else(|err| {
        panic!("checkov output is not what the harness reads ({err}); stdout:\n{stdout}\nstderr:\n{stderr}")
    });
    // checkov exits 1 when a check failed and 0 when none did; anything else is checkov failing.
    let expected = i32::from(!report.failed.is_empty());
    assert_eq!(
        output.status.code(),
        Some(expected),
        "checkov exit status {} does not match its {} failed check(s); stderr:\n{stderr}",
        output.status,
        report.failed.len()
    );
    report
}

#[derive(Deserialize)]
struct RawOutput {
    results: RawResults,
    summary: RawSummary,
}

#[derive(Deserialize)]
struct RawResults {
    #[serde(default)]
    passed_checks: Vec<RawCheck>,
    #[serde(default)]
    failed_checks: Vec<RawCheck>,
    #[serde(default)]
    skipped_checks: Vec<RawCheck>,
    #[serde(default)]
    parsing_errors: Vec<String>,
}

#[derive(Deserialize)]
struct RawSummary {
    parsing_errors: u64,
}

#[derive(Deserialize)]
struct RawCheck {
    check_id: String,
    resource: String,
    file_path: String,
    check_result: RawCheckResult,
}

#[derive(Deserialize)]
struct RawCheckResult {
    #[serde(default)]
    suppress_comment: Option<String>,
}

/// Parses `checkov --output json` for one framework and sorts the results to the templates in
/// `labels` (files `<label>.template.json`). Every template must have been read: a template
/// checkov did not recognise would otherwise pass with no checks at all.
pub fn parse_checkov_json(stdout: &str, labels: &BTreeSet<&str>) -> Result<CheckovReport, String> {
    // With nothing it recognised, checkov prints only a bare summary, without `results`.
    let raw: RawOutput = serde_json::from_str(stdout).map_err(|err| err.to_string())?;
    if raw.summary.parsing_errors > 0 || !raw.results.parsing_errors.is_empty() {
        return Err(format!(
            "checkov could not parse {:?}",
            raw.results.parsing_errors
        ));
    }
    let label_of = |check: &RawCheck| -> Result<String, String> {
        let file = check.file_path.rsplit('/').next().unwrap_or_default();
        file.strip_suffix(".template.json")
            .filter(|label| labels.contains(label))
            .map(str::to_owned)
            .ok_or_else(|| format!("result for unknown file {}", check.file_path))
    };
    let convert = |checks: Vec<RawCheck>| -> Result<Vec<CheckResult>, String> {
        let mut results = checks
            .into_iter()
            .map(|check| {
                Ok(CheckResult {
                    template: label_of(&check)?,
                    comment: check.check_result.suppress_comment.unwrap_or_default(),
                    check_id: check.check_id,
                    resource: check.resource,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        results.sort();
        Ok(results)
    };
    let report = CheckovReport {
        passed: convert(raw.results.passed_checks)?,
        failed: convert(raw.results.failed_checks)?,
        skipped: convert(raw.results.skipped_checks)?,
    };
    let mut unread: BTreeSet<&str> = labels.clone();
    for result in report
        .passed
        .iter()
        .chain(&report.failed)
        .chain(&report.skipped)
    {
        unread.remove(result.template.as_str());
    }
    if !unread.is_empty() {
        return Err(format!("checkov ran no check on {unread:?}"));
    }
    Ok(report)
}

/// The checkov skips a template's resources carry, as (resource, check id) per template; the
/// resource is named as checkov names it (`Type.LogicalId`).
pub fn skips_in(template: &serde_json::Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut skips = BTreeMap::new();
    let resources = template["Resources"].as_object().into_iter().flatten();
    for (id, resource) in resources {
        let entries = resource["Metadata"]["checkov"]["skip"].as_array();
        for entry in entries.into_iter().flatten() {
            let name = format!("{}.{id}", resource["Type"].as_str().unwrap_or_default());
            skips
                .entry(name)
                .or_insert_with(BTreeSet::new)
                .insert(entry["id"].as_str().unwrap_or_default().to_owned());
        }
    }
    skips
}
