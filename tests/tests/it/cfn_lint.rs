//! The cfn-lint harness itself: it must report known problems, or every template test that
//! relies on it could pass without checking anything.

use meshtest_tests::{Finding, Level, LintReport, cfn_lint, parse_cfn_lint_json};
use serde_json::{Value, json};

/// Lints `template` and compares its findings, as sorted `"<rule> <level> <path>"` lines.
/// Returns the report for further checks, or `None` when cfn-lint is missing (printed as skipped).
fn check(label: &str, template: Value, expected: &[&str]) -> Option<LintReport> {
    let report = cfn_lint(&serde_json::to_string_pretty(&template).unwrap(), label)?;
    let mut actual: Vec<String> = report
        .findings()
        .iter()
        .map(|f| format!("{} {} {}", f.rule_id, f.level, f.path))
        .collect();
    actual.sort();
    assert_eq!(
        actual,
        expected,
        "findings for {label}: {:#?}",
        report.findings()
    );
    Some(report)
}

fn template(resources: Value) -> Value {
    json!({ "AWSTemplateFormatVersion": "2010-09-09", "Resources": resources })
}

fn assert_clean_fails(report: &LintReport) -> bool {
    std::panic::catch_unwind(|| report.assert_clean()).is_err()
}

#[test]
fn minimal_good_template_is_clean() {
    let vpc = template(json!({
        "Vpc": { "Type": "AWS::EC2::VPC", "Properties": { "CidrBlock": "10.0.0.0/16" } }
    }));
    let Some(report) = check("good", vpc, &[]) else {
        return;
    };
    report.assert_clean();
}

#[test]
fn wrong_property_type_is_an_error() {
    let bad = template(json!({
        "Vpc": { "Type": "AWS::EC2::VPC", "Properties": { "CidrBlock": ["10.0.0.0/16"] } },
        "Sg": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "web",
                "VpcId": { "Ref": "Vpc" },
                "SecurityGroupIngress": [
                    { "IpProtocol": "tcp", "FromPort": 80, "ToPort": "eighty", "CidrIp": "10.0.0.0/8" }
                ]
            }
        }
    }));
    let Some(report) = check(
        "wrong-type",
        bad,
        &[
            "E3012 error Resources/Sg/Properties/SecurityGroupIngress/0/ToPort",
            "E3012 error Resources/Vpc/Properties/CidrBlock",
        ],
    ) else {
        return;
    };
    assert!(assert_clean_fails(&report), "assert_clean accepted errors");
}

#[test]
fn missing_required_property_is_an_error() {
    let bad = template(json!({
        "Subnet": { "Type": "AWS::EC2::Subnet", "Properties": { "CidrBlock": "10.0.0.0/24" } }
    }));
    let Some(report) = check(
        "missing-required",
        bad,
        &["E3003 error Resources/Subnet/Properties"],
    ) else {
        return;
    };
    assert!(
        report.findings()[0]
            .message
            .contains("'VpcId' is a required property")
    );
    assert!(assert_clean_fails(&report), "assert_clean accepted errors");
}

#[test]
fn unparsable_template_is_an_error() {
    let Some(report) = cfn_lint("{\"Resources\": {", "broken") else {
        return;
    };
    let rules: Vec<&str> = report
        .findings()
        .iter()
        .map(|f| f.rule_id.as_str())
        .collect();
    assert_eq!(rules, ["E0000"], "{:#?}", report.findings());
    assert!(
        assert_clean_fails(&report),
        "assert_clean accepted a parse error"
    );
}

#[test]
fn app_mesh_end_of_support_warning_is_allowed() {
    let mesh = template(json!({
        "Mesh": {
            "Type": "AWS::AppMesh::Mesh",
            "Properties": { "MeshName": "demo", "Spec": { "EgressFilter": { "Type": "DROP_ALL" } } }
        }
    }));
    let Some(report) = check(
        "appmesh",
        mesh,
        &["W3696 warning Resources/Mesh/Properties"],
    ) else {
        return;
    };
    report.assert_clean();
}

#[test]
fn other_warnings_are_not_allowed() {
    let mut unused_parameter = template(json!({
        "Vpc": { "Type": "AWS::EC2::VPC", "Properties": { "CidrBlock": "10.0.0.0/16" } }
    }));
    unused_parameter["Parameters"] = json!({ "Unused": { "Type": "String" } });
    let Some(report) = check(
        "unused-parameter",
        unused_parameter,
        &["W2001 warning Parameters/Unused"],
    ) else {
        return;
    };
    assert!(
        assert_clean_fails(&report),
        "assert_clean accepted warning W2001"
    );
}

#[test]
fn informational_findings_are_reported_but_allowed() {
    let mut join = template(json!({
        "Vpc": { "Type": "AWS::EC2::VPC", "Properties": { "CidrBlock": "10.0.0.0/16" } }
    }));
    join["Outputs"] =
        json!({ "Id": { "Value": { "Fn::Join": ["", ["vpc ", { "Ref": "Vpc" }]] } } });
    let Some(report) = check("join", join, &["I1022 info Outputs/Id/Value/Fn::Join/0"]) else {
        return;
    };
    report.assert_clean();
}

fn ecs_service(deployment_configuration: Value) -> Value {
    json!({
        "Type": "AWS::ECS::Service",
        "Properties": {
            "Cluster": "demo",
            "TaskDefinition": "demo:1",
            "DeploymentController": { "Type": "ECS" },
            "DeploymentConfiguration": deployment_configuration
        }
    })
}

// SPEC §10: cfn-lint 1.58 divides floats for `multipleOf`, so it rejects valid percentages such
// as 33.3 under its property rule E3002, and the resource-level waiver the renderer writes
// silences exactly that. When cfn-lint fixes this, this test fails: drop the waiver then
// (cfn_render::deployment::cfn_lint_waiver).
#[test]
fn multiple_of_float_check_is_a_false_positive_that_metadata_waives() {
    let linear = |percent: Value| {
        ecs_service(json!({
            "Strategy": "LINEAR",
            "BakeTimeInMinutes": 2,
            "LinearConfiguration": { "StepPercent": percent, "StepBakeTimeInMinutes": 1 }
        }))
    };
    let path = "Resources/Web/Properties/DeploymentConfiguration/LinearConfiguration/StepPercent";
    let Some(report) = check(
        "multiple-of-33-3",
        template(json!({ "Web": linear(json!(33.3)) })),
        &[&format!("E3002 error {path}")],
    ) else {
        return;
    };
    assert_eq!(
        report.findings()[0].message,
        "33.3 is not a multiple of 0.1"
    );
    check(
        "multiple-of-20",
        template(json!({ "Web": linear(json!(20)) })),
        &[],
    );
    let mut waived = linear(json!(33.3));
    waived["Metadata"] = json!({ "cfn-lint": { "config": { "ignore_checks": ["E3002"] } } });
    check(
        "multiple-of-waived",
        template(json!({ "Web": waived })),
        &[],
    );
}

// SPEC §10: test traffic rules belong on the client alias; on the Service Connect service they
// are an unknown property.
#[test]
fn test_traffic_rules_beside_the_client_alias_are_an_error() {
    let rules = json!({ "Header": { "Name": "x-test", "Value": { "Exact": "1" } } });
    let mut service = ecs_service(json!({}));
    service["Properties"]["ServiceConnectConfiguration"] = json!({
        "Enabled": true,
        "Namespace": "demo",
        "Services": [{
            "PortName": "http",
            "ClientAliases": [{ "Port": 80 }],
            "TestTrafficRules": rules
        }]
    });
    check(
        "test-traffic-misplaced",
        template(json!({ "Web": service })),
        &[
            "E3002 error Resources/Web/Properties/ServiceConnectConfiguration/Services/0/TestTrafficRules",
        ],
    );
}

// The renderer keeps the error-rate alarm free of references to its service; this is the check
// that would catch it if it did not.
#[test]
fn dependency_cycle_is_an_error() {
    let mut service = ecs_service(json!({
        "Alarms": { "AlarmNames": [{ "Ref": "Alarm" }], "Enable": true, "Rollback": true }
    }));
    service["Properties"]["ServiceName"] = json!("web");
    let alarm = json!({
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "MetricName": "RequestCount",
            "Namespace": "AWS/ECS",
            "Dimensions": [{ "Name": "ServiceName", "Value": { "Fn::GetAtt": ["Web", "Name"] } }],
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanThreshold"
        }
    });
    let Some(report) = lint(template(json!({ "Web": service, "Alarm": alarm })), "cycle") else {
        return;
    };
    assert!(
        report.findings().iter().any(|f| f.rule_id == "E3004"),
        "{:#?}",
        report.findings()
    );
}

fn lint(template: Value, label: &str) -> Option<LintReport> {
    cfn_lint(&serde_json::to_string_pretty(&template).unwrap(), label)
}

fn finding(rule_id: &str, level: Level) -> Finding {
    Finding {
        rule_id: rule_id.into(),
        level,
        message: "message".into(),
        path: "Resources/X".into(),
        line: 1,
        column: 1,
    }
}

fn report(findings: Vec<Finding>) -> LintReport {
    LintReport {
        label: "hand-made".into(),
        findings,
    }
}

// The acceptance rule without cfn-lint, so it is checked even by plain `cargo test`.
#[test]
fn acceptance_rule() {
    fn check_clean(findings: Vec<Finding>, expected_clean: bool) {
        let summary: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
        let clean = !assert_clean_fails(&report(findings));
        assert_eq!(clean, expected_clean, "{summary:#?}");
    }
    check_clean(vec![], true);
    check_clean(vec![finding("W3696", Level::Warning)], true);
    check_clean(vec![finding("I3011", Level::Informational)], true);
    check_clean(vec![finding("E3012", Level::Error)], false);
    check_clean(vec![finding("W2001", Level::Warning)], false);
    // An allowed warning id is still an error when cfn-lint reports it as one.
    check_clean(vec![finding("W3696", Level::Error)], false);
    check_clean(
        vec![
            finding("W3696", Level::Warning),
            finding("W2001", Level::Warning),
        ],
        false,
    );
}

#[test]
#[should_panic(
    expected = "cfn-lint found 1 problem(s) in hand-made.template.json (allowed warnings: W3696):\n  \
                allowed warning W3696 at Resources/X (line 1, column 1): message\n  \
                PROBLEM error E3003 at Resources/X (line 1, column 1): message"
)]
fn assert_clean_lists_every_finding() {
    report(vec![
        finding("W3696", Level::Warning),
        finding("E3003", Level::Error),
    ])
    .assert_clean();
}

#[test]
fn parses_cfn_lint_json_output() {
    // Trimmed from real cfn-lint 1.58 output: paths mix keys and list indexes, and are null for
    // template-level problems.
    let output = r#"[
        {"Filename": "t.json", "Id": "x", "Level": "Error",
         "Location": {"End": {"ColumnNumber": 9, "LineNumber": 4},
                      "Path": ["Resources", "Sg", "Properties", "SecurityGroupIngress", 0, "ToPort"],
                      "Start": {"ColumnNumber": 3, "LineNumber": 4}},
         "Message": "'eighty' is not of type 'integer'", "ParentId": null,
         "Rule": {"Description": "d", "Id": "E3012", "ShortDescription": "s", "Source": "u"}},
        {"Filename": "t.json", "Id": "y", "Level": "Informational",
         "Location": {"End": {"ColumnNumber": 2, "LineNumber": 2}, "Path": null,
                      "Start": {"ColumnNumber": 1, "LineNumber": 2}},
         "Message": "m", "ParentId": null,
         "Rule": {"Description": "d", "Id": "I1002", "ShortDescription": "s", "Source": "u"}}
    ]"#;
    let findings = parse_cfn_lint_json(output).unwrap();
    assert_eq!(
        findings,
        [
            Finding {
                rule_id: "E3012".into(),
                level: Level::Error,
                message: "'eighty' is not of type 'integer'".into(),
                path: "Resources/Sg/Properties/SecurityGroupIngress/0/ToPort".into(),
                line: 4,
                column: 3,
            },
            Finding {
                rule_id: "I1002".into(),
                level: Level::Informational,
                message: "m".into(),
                path: String::new(),
                line: 2,
                column: 1,
            },
        ]
    );
    assert!(parse_cfn_lint_json("[]").unwrap().is_empty());
    assert!(parse_cfn_lint_json("Traceback (most recent call last):").is_err());
    assert!(parse_cfn_lint_json(r#"[{"Level": "Fatal"}]"#).is_err());
}
