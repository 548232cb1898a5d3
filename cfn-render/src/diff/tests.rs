//! Unit tests of the template diff: one small pair of templates per behaviour, checked as text

use serde_json::json;

use super::*;

/// Diffs `old` against `new` and compares the text output exactly.
fn check(old: Value, new: Value, expected: &str) {
    let diff = TemplateDiff::between(&old, &new);
    let text = diff.to_text();
    assert_eq!(text, expected, "actual text:\n{text}");
}

fn role(service: &str) -> Value {
    json!({"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": service}}
        ]}
    }})
}

#[test]
fn identical_templates_have_no_differences() {
    let t = json!({"Resources": {"Log": {"Type": "AWS::Logs::LogGroup", "Properties": {}}}});
    check(t.clone(), t, "no differences\n");
    assert!(TemplateDiff::between(&Value::Null, &json!({})).is_empty());
}

#[test]
fn no_stack_yet_shows_everything_added() {
    check(
        Value::Null,
        json!({
            "Parameters": {"Image": {"Type": "String"}},
            "Resources": {"Log": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}}},
            "Outputs": {"Name": {"Value": {"Ref": "Log"}}}
        }),
        "Parameters\n\
         [+] Parameter Image\n \
         └─ [+] {\"Type\":\"String\"}\n\
         \n\
         Resources\n\
         [+] AWS::Logs::LogGroup Log\n\
         \n\
         Outputs\n\
         [+] Output Name\n \
         └─ [+] {\"Value\":{\"Ref\":\"Log\"}}\n",
    );
}

#[test]
fn removed_resource() {
    check(
        json!({"Resources": {"Log": {"Type": "AWS::Logs::LogGroup"}}}),
        json!({"Resources": {}}),
        "Resources\n[-] AWS::Logs::LogGroup Log\n",
    );
}

#[test]
fn modified_property_shows_old_and_new_at_the_leaf() {
    let td = |version: &str| {
        json!({"Resources": {"Td": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
            "Cpu": "256",
            "ContainerDefinitions": [{"Name": "app", "Environment": [
                {"Name": "SERVICE_NAME", "Value": "green"},
                {"Name": "SERVICE_VERSION", "Value": version}
            ]}]
        }}}})
    };
    check(
        td("1"),
        td("2"),
        "Resources\n\
         [~] AWS::ECS::TaskDefinition Td\n \
         └─ [~] ContainerDefinitions[0].Environment[1].Value\n     \
         ├─ [-] \"1\"\n     \
         └─ [+] \"2\"\n",
    );
}

#[test]
fn added_and_removed_keys_and_lists_of_another_length() {
    check(
        json!({"Resources": {"Sg": {"Type": "AWS::X::Y", "Properties": {"A": 1, "L": [1]}}}}),
        json!({"Resources": {"Sg": {"Type": "AWS::X::Y", "Properties": {"B": true, "L": [1, 2]}, "DependsOn": ["Z"]}}}),
        "Resources\n\
         [~] AWS::X::Y Sg\n \
         ├─ [+] (DependsOn)\n \
         │   └─ [+] [\"Z\"]\n \
         ├─ [-] A\n \
         │   └─ [-] 1\n \
         ├─ [+] B\n \
         │   └─ [+] true\n \
         └─ [~] L\n     \
         ├─ [-] [1]\n     \
         └─ [+] [1,2]\n",
    );
}

#[test]
fn intrinsics_are_compared_whole() {
    check(
        json!({"Resources": {"S": {"Type": "AWS::X::Y", "Properties": {"Arn": {"Fn::GetAtt": ["A", "Arn"]}}}}}),
        json!({"Resources": {"S": {"Type": "AWS::X::Y", "Properties": {"Arn": {"Fn::Sub": "arn:${A}"}}}}}),
        "Resources\n\
         [~] AWS::X::Y S\n \
         └─ [~] Arn\n     \
         ├─ [-] {\"Fn::GetAtt\":[\"A\",\"Arn\"]}\n     \
         └─ [+] {\"Fn::Sub\":\"arn:${A}\"}\n",
    );
}

#[test]
fn type_change_and_replacement_marks() {
    let old = json!({"Resources": {
        "Ns": {"Type": "AWS::ServiceDiscovery::HttpNamespace", "Properties": {"Name": "a"}},
        "Svc": {"Type": "AWS::ECS::Service", "Properties": {"ServiceName": "blue", "DesiredCount": 1}}
    }});
    let new = json!({"Resources": {
        "Ns": {"Type": "AWS::ServiceDiscovery::PrivateDnsNamespace", "Properties": {"Name": "a"}},
        "Svc": {"Type": "AWS::ECS::Service", "Properties": {"ServiceName": "azure", "DesiredCount": 2}}
    }});
    let mut diff = TemplateDiff::between(&old, &new);
    diff.apply_replacements(&[
        ReplacementMark {
            logical_id: "Svc".into(),
            replacement: Replacement::True,
            recreating_properties: ["ServiceName".to_string()].into(),
        },
        ReplacementMark {
            logical_id: "Ns".into(),
            replacement: Replacement::Conditional,
            recreating_properties: BTreeSet::new(),
        },
        ReplacementMark {
            logical_id: "NotInDiff".into(),
            replacement: Replacement::True,
            recreating_properties: BTreeSet::new(),
        },
    ]);
    assert_eq!(
        diff.to_text(),
        "Resources\n\
         [~] AWS::ServiceDiscovery::PrivateDnsNamespace Ns may be replaced\n \
         └─ [~] Type\n     \
         ├─ [-] AWS::ServiceDiscovery::HttpNamespace\n     \
         └─ [+] AWS::ServiceDiscovery::PrivateDnsNamespace\n\
         [~] AWS::ECS::Service Svc replace\n \
         ├─ [~] DesiredCount\n \
         │   ├─ [-] 1\n \
         │   └─ [+] 2\n \
         └─ [~] ServiceName (requires replacement)\n     \
         ├─ [-] \"blue\"\n     \
         └─ [+] \"azure\"\n"
    );
}

#[test]
fn iam_statement_changes_are_listed_in_the_security_section() {
    check(
        json!({"Resources": {"R": role("ecs-tasks.amazonaws.com")}}),
        json!({"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}
            ]},
            "Policies": [{"PolicyName": "mesh", "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": ["appmesh:StreamAggregatedResources"],
                 "Resource": {"Fn::Sub": "arn:${AWS::Partition}:appmesh:${AWS::Region}:${AWS::AccountId}:mesh/m/*"}}
            ]}}]
        }}}}),
        "Security changes\n\
         IAM statements\n\
         [+] R Policies[mesh]: Allow appmesh:StreamAggregatedResources on arn:${AWS::Partition}:appmesh:${AWS::Region}:${AWS::AccountId}:mesh/m/*\n\
         \n\
         Resources\n\
         [~] AWS::IAM::Role R\n \
         ├─ [-] AssumeRolePolicyDocument.Version\n \
         │   └─ [-] \"2012-10-17\"\n \
         └─ [+] Policies\n     \
         └─ [+] [{\"PolicyDocument\":{\"Statement\":[{\"Action\":[\"appmesh:StreamAggregatedResources\"],\"Effect\":\"Allow\",\"Resource\":{\"Fn::Sub\":\"arn:${AWS::Partition}:appmesh:${AWS::Region}:${AWS::AccountId}:mesh/m/*\"}}]},\"PolicyName\":\"mesh\"}]\n",
    );
    // A removed role takes its trust statement with it.
    let diff = TemplateDiff::between(
        &json!({"Resources": {"R": role("ecs-tasks.amazonaws.com")}}),
        &json!({"Resources": {}}),
    );
    assert_eq!(
        diff.security.iam_statements,
        [IamStatementChange {
            kind: ChangeKind::Removed,
            resource: "R".into(),
            document: "AssumeRolePolicyDocument".into(),
            effect: "Allow".into(),
            actions: "sts:AssumeRole".into(),
            resources: "*".into(),
            principal: "{\"Service\":\"ecs-tasks.amazonaws.com\"}".into(),
        }]
    );
}

#[test]
fn security_group_rule_changes_cover_rule_resources_and_inline_rules() {
    let old = json!({"Resources": {
        "Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"SecurityGroupIngress": [
            {"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}
        ]}},
        "FromCidr": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
            "GroupId": {"Fn::GetAtt": ["Sg", "GroupId"]}, "IpProtocol": "tcp",
            "FromPort": 0, "ToPort": 65535, "CidrIp": {"Ref": "AllowedCidr"}
        }}
    }});
    let new = json!({"Resources": {
        "Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {}},
        "FromCidr": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
            "GroupId": {"Fn::GetAtt": ["Sg", "GroupId"]}, "IpProtocol": "tcp",
            "FromPort": 80, "ToPort": 80, "CidrIp": {"Ref": "AllowedCidr"}
        }},
        "Out": {"Type": "AWS::EC2::SecurityGroupEgress", "Properties": {
            "GroupId": {"Ref": "Sg"}, "IpProtocol": "tcp", "FromPort": 443, "ToPort": 444,
            "DestinationSecurityGroupId": {"Ref": "Other"}
        }}
    }});
    let diff = TemplateDiff::between(&old, &new);
    let text = diff.to_text();
    let section: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "Security group rules")
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        section,
        [
            "Security group rules",
            "[+] FromCidr ingress to ${Sg.GroupId} tcp 80 from ${AllowedCidr}",
            "[+] Out egress from ${Sg} tcp 443-444 to ${Other}",
            "[-] FromCidr ingress to ${Sg.GroupId} tcp all from ${AllowedCidr}",
            "[-] Sg ingress to ${Sg} all all from 0.0.0.0/0",
        ]
    );
}

#[test]
fn parameters_outputs_and_description() {
    check(
        json!({"Description": "a", "Parameters": {"P": {"Type": "String", "Default": "x"}},
               "Outputs": {"O": {"Value": "1"}}}),
        json!({"Description": "b", "Parameters": {"P": {"Type": "String"}},
               "Outputs": {}}),
        "Template\n\
         [~] Description\n \
         ├─ [-] \"a\"\n \
         └─ [+] \"b\"\n\
         \n\
         Parameters\n\
         [~] Parameter P\n \
         ├─ [-] {\"Default\":\"x\",\"Type\":\"String\"}\n \
         └─ [+] {\"Type\":\"String\"}\n\
         \n\
         Outputs\n\
         [-] Output O\n \
         └─ [-] {\"Value\":\"1\"}\n",
    );
}

#[test]
fn json_form_names_every_field() {
    let diff = TemplateDiff::between(
        &json!({"Resources": {"A": {"Type": "T", "Properties": {"X": 1}}}}),
        &json!({"Resources": {"A": {"Type": "T", "Properties": {"X": 2}}}}),
    );
    assert_eq!(
        serde_json::to_value(&diff).unwrap(),
        json!({
            "security": {"iam_statements": [], "security_group_rules": []},
            "parameters": [],
            "resources": [{"logical_id": "A", "type": "T", "kind": "modified",
                           "properties": [{"path": "X", "kind": "modified", "old": 1, "new": 2}]}],
            "outputs": [],
            "other": []
        })
    );
}

/// The gateway app with blue and green shifting LINEAR at the ALB, as rendered.
fn shifting_gateway() -> Value {
    let spec = model::examples::gateway_with("gateway", model::StrategyKind::Linear);
    let stack = model::Stack::new(spec).expect("valid");
    crate::render(&stack, &crate::RenderOptions::default())
        .expect("renders")
        .to_json_value()
}

/// Sets the weights of `rule`'s forward as ECS leaves them after a deployment.
fn moved(mut template: Value, rule: &str, weights: [u32; 2]) -> Value {
    let groups = template
        .pointer_mut(&format!(
            "/Resources/{rule}/Properties/Actions/0/ForwardConfig/TargetGroups"
        ))
        .and_then(Value::as_array_mut)
        .expect("a weighted forward");
    for (group, weight) in groups.iter_mut().zip(weights) {
        group["Weight"] = json!(weight);
    }
    template
}

#[test]
fn weights_ecs_moved_on_its_rules_are_no_change() {
    let rendered = shifting_gateway();
    let deployed = moved(
        moved(rendered.clone(), "GatewayBlueRule", [0, 100]),
        "GatewayBlueTestRule",
        [0, 100],
    );
    check(deployed.clone(), rendered.clone(), "no differences\n");
    // The rule's own change is still shown, without the weights.
    let mut new = rendered;
    new["Resources"]["GatewayBlueRule"]["Properties"]["Priority"] = json!(9);
    let diff = TemplateDiff::between(&deployed, &new);
    assert_eq!(diff.resources.len(), 1);
    let paths: Vec<&str> = diff.resources[0]
        .properties
        .iter()
        .map(|p| p.path.as_str())
        .collect();
    assert_eq!(paths, ["Priority"]);
}

#[test]
fn weights_of_rules_ecs_does_not_own_are_changes() {
    // `/split` forwards to both colours with the model's weights: the template owns them.
    let spec = model::examples::gateway("gateway");
    let stack = model::Stack::new(spec).expect("valid");
    let rendered = crate::render(&stack, &crate::RenderOptions::default())
        .expect("renders")
        .to_json_value();
    let changed = moved(rendered.clone(), "GatewaySplitRule", [10, 90]);
    let diff = TemplateDiff::between(&changed, &rendered);
    assert_eq!(diff.resources.len(), 1);
    assert_eq!(diff.resources[0].logical_id, "GatewaySplitRule");
}
