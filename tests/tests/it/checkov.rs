//! checkov over every rendered template: no failed check, each skip needed and explained, and
//! the model options that turn the skipped checks on really do
//!
//! All templates go to checkov in one run (it takes seconds to start), shared by the tests here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use meshtest_tests::checkov::{CheckResult, CheckovReport, parse_checkov_json, skips_in};
use meshtest_tests::{Tool, python_tool};
use serde_json::Value;

use crate::templates::{every_variant, template, with_options};

/// The suffix of a template checked again with its checkov metadata removed.
const UNSKIPPED: &str = "-unskipped";
fn without_checkov_metadata(mut template: Value) -> Value {
    for resource in template["Resources"].as_object_mut().unwrap().values_mut() {
        if let Some(metadata) = resource.get_mut("Metadata").and_then(Value::as_object_mut) {
            metadata.remove("checkov");
        }
    }
    template
}

struct Run {
    report: CheckovReport,
    /// The rendered templates by label, as rendered (without the unskipped copies).
    templates: BTreeMap<String, Value>,
}

/// The one checkov run, or `None` (printed as skipped for each caller) without checkov.
fn run() -> Option<&'static Run> {
    static RUN: OnceLock<Run> = OnceLock::new();
    let exe = python_tool(Tool::Checkov)?;
    Some(RUN.get_or_init(|| {
        let templates: BTreeMap<String, Value> = every_variant()
            .into_iter()
            .chain(with_options())
            .map(|(label, spec)| (label, template(spec)))
            .collect();
        let mut files: Vec<(String, String)> = Vec::new();
        for (label, t) in &templates {
            files.push((label.clone(), t.to_string()));
            let unskipped = without_checkov_metadata(t.clone());
            files.push((format!("{label}{UNSKIPPED}"), unskipped.to_string()));
        }
        let report = meshtest_tests::checkov::run_checkov(&exe, &files);
        Run { report, templates }
    }))
}

fn pairs(results: &[CheckResult]) -> BTreeSet<(String, String)> {
    results
        .iter()
        .map(|r| (r.resource.clone(), r.check_id.clone()))
        .collect()
}

fn skip_pairs(template: &Value) -> BTreeSet<(String, String)> {
    skips_in(template)
        .into_iter()
        .flat_map(|(resource, ids)| ids.into_iter().map(move |id| (resource.clone(), id)))
        .collect()
}

#[test]
fn every_template_passes_with_its_skips_explained() {
    let Some(run) = run() else {
        return;
    };
    for (label, t) in &run.templates {
        let report = run.report.template(label);
        report.assert_clean();
        assert_eq!(
            pairs(&report.skipped),
            skip_pairs(t),
            "{label}: checkov skipped other checks than the template's metadata lists"
        );
        for skip in &report.skipped {
            assert!(skip.comment.len() > 40, "{label}: no real reason in {skip}");
        }
        println!(
            "checkov {label}: {} passed, {} skipped",
            report.passed.len(),
            report.skipped.len()
        );
    }
}

/// Without its metadata a template fails exactly the checks it skips: no skip is stale, and no
/// skip hides a finding it does not name.
#[test]
fn each_skip_is_needed_and_hides_nothing_else() {
    let Some(run) = run() else {
        return;
    };
    let mut skipped_ids = BTreeSet::new();
    for (label, t) in &run.templates {
        let unskipped = run.report.template(&format!("{label}{UNSKIPPED}"));
        let expected = skip_pairs(t);
        assert_eq!(pairs(&unskipped.failed), expected, "{label}");
        skipped_ids.extend(expected.into_iter().map(|(_, id)| id));
    }
    // What the apps skip as a whole: a new skip in the renderer shows up here for review.
    let expected: BTreeSet<String> = ["CKV_AWS_103", "CKV_AWS_158", "CKV_AWS_2", "CKV_AWS_91"]
        .map(String::from)
        .into();
    assert_eq!(skipped_ids, expected);
}

/// With `logs.kmsKeyArn` and the gateways' `accessLogs` set, log encryption and access logs
/// pass instead of being skipped; only the HTTP listener's checks stay skipped.
#[test]
fn options_turn_encryption_and_access_logs_on() {
    let Some(run) = run() else {
        return;
    };
    for (label, _) in with_options() {
        let report = run.report.template(&label);
        report.assert_clean();
        let skipped: BTreeSet<&str> = report.skipped.iter().map(|r| r.check_id.as_str()).collect();
        let allowed: BTreeSet<&str> = ["CKV_AWS_2", "CKV_AWS_103"].into();
        assert!(skipped.is_subset(&allowed), "{label}: {skipped:?}");
        let passed = |id: &str| report.passed.iter().filter(|r| r.check_id == id).count();
        let log_groups = run.templates[&label]["Resources"]
            .as_object()
            .unwrap()
            .values()
            .filter(|r| r["Type"] == "AWS::Logs::LogGroup")
            .count();
        assert!(log_groups > 0);
        assert_eq!(passed("CKV_AWS_158"), log_groups, "{label}");
        assert_eq!(passed("CKV_AWS_91"), 1, "{label}");
    }
}

// The harness without checkov, so it is checked by plain `cargo test` too.

fn result(template: &str, check_id: &str) -> CheckResult {
    CheckResult {
        template: template.into(),
        check_id: check_id.into(),
        resource: "AWS::Logs::LogGroup.WebLogGroup".into(),
        comment: String::new(),
    }
}

#[test]
#[should_panic(
    expected = "checkov failed 1 check(s): fix the renderer, or skip the check on \
                           the resource with the reason (cfn_render::checkov):\n  \
                           web CKV_AWS_158 on AWS::Logs::LogGroup.WebLogGroup"
)]
fn assert_clean_lists_every_failed_check() {
    CheckovReport {
        failed: vec![result("web", "CKV_AWS_158")],
        passed: vec![result("web", "CKV_AWS_66")],
        skipped: vec![],
    }
    .assert_clean();
}

#[test]
fn parses_checkov_json_output() {
    // Trimmed from real checkov 3.3.30 output for one template.
    let output = r#"{
        "check_type": "cloudformation",
        "results": {
            "passed_checks": [{"check_id": "CKV_AWS_66", "resource": "AWS::Logs::LogGroup.WebLogGroup",
                "file_path": "/web.template.json", "check_result": {"result": "PASSED"}}],
            "failed_checks": [{"check_id": "CKV_AWS_91", "resource": "AWS::ElasticLoadBalancingV2::LoadBalancer.GatewayLoadBalancer",
                "file_path": "/web.template.json", "check_result": {"result": "FAILED", "evaluated_keys": []}}],
            "skipped_checks": [{"check_id": "CKV_AWS_158", "resource": "AWS::Logs::LogGroup.WebLogGroup",
                "file_path": "/web.template.json", "check_result": {"result": "SKIPPED", "suppress_comment": "why"}}],
            "parsing_errors": []
        },
        "summary": {"passed": 1, "failed": 1, "skipped": 1, "parsing_errors": 0, "resource_count": 2}
    }"#;
    let web: BTreeSet<&str> = ["web"].into();
    let report = parse_checkov_json(output, &web).unwrap();
    assert_eq!(report.passed, [result("web", "CKV_AWS_66")]);
    assert_eq!(report.failed[0].check_id, "CKV_AWS_91");
    assert_eq!(report.skipped[0].comment, "why");
    let two: BTreeSet<&str> = ["web", "other"].into();
    assert_eq!(
        parse_checkov_json(output, &two).unwrap_err(),
        r#"checkov ran no check on {"other"}"#
    );
    // What checkov prints when it recognised no template at all.
    let bare =
        r#"{"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}"#;
    assert!(parse_checkov_json(bare, &web).is_err());
    let unknown = output.replace("/web.template.json", "/x.json");
    assert!(parse_checkov_json(&unknown, &web).is_err());
}
