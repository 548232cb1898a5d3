//! The post-App-Mesh stacks (`gateway`, `rollout`): ALB rules, least-privilege ingress, ECS-native
//! deployment settings, the error-rate alarm and the cfn-lint waiver, asserted property by property

use cfn_render::deployment::cfn_lint_rejects_multiple_of_tenth;
use cfn_render::{Template, alb};
use model::{
    AlbRuleSpec, AlbTargetSpec, CanarySpec, DeploymentSpec, HookTargetType, HookTimeoutAction,
    HookTimeoutSpec, LifecycleHookSpec, LifecycleStage, LinearSpec, Percent, StackSpec,
    StrategyKind, examples,
};
use serde_json::{Value, json};

use crate::{ids_of_type, json as to_json, render, rollout};

/// Asserts the value at a JSON pointer into the template.
fn check(t: &Value, pointer: &str, expected: Value) {
    assert_eq!(t.pointer(pointer), Some(&expected), "at {pointer}");
}

fn rollout_spec(edit: impl FnOnce(&mut DeploymentSpec)) -> StackSpec {
    let mut spec = examples::rollout("rollout", &examples::RolloutInputs::default());
    let web = spec.services.iter_mut().find(|s| s.name == "web").unwrap();
    edit(&mut web.deployment);
    spec
}

/// Every logical id an expression refers to (`Ref`, `Fn::GetAtt`, `Fn::Sub` placeholders).
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("Ref", Value::String(id)) => out.push(id.clone()),
                    ("Fn::GetAtt", Value::Array(a)) => out.push(a[0].as_str().unwrap().into()),
                    ("Fn::Sub", Value::String(text)) => out.extend(
                        text.split("${")
                            .skip(1)
                            .map(|r| r[..r.find(['}', '.']).unwrap()].to_owned()),
                    ),
                    _ => references(x, out),
                }
            }
        }
        _ => {}
    }
}

#[test]
fn gateway_rules_go_longest_prefix_first_with_weights_and_rewrite() {
    let t = to_json(&render(examples::gateway("gateway")));
    let tg = |s: &str| json!({"TargetGroupArn": {"Ref": alb::target_group_id(s)}, "Weight": 0});
    let weighted = |s: &str, w: u32| {
        let mut v = tg(s);
        v["Weight"] = json!(w);
        v
    };
    // /green and /split are longer than /blue; equal lengths go by rule name.
    for (rule, priority, patterns, groups, prefix) in [
        (
            "GatewayGreenRule",
            1,
            ["/green", "/green/*"],
            vec![weighted("green", 1)],
            "green",
        ),
        (
            "GatewaySplitRule",
            2,
            ["/split", "/split/*"],
            vec![weighted("blue", 50), weighted("green", 50)],
            "split",
        ),
        (
            "GatewayBlueRule",
            3,
            ["/blue", "/blue/*"],
            vec![weighted("blue", 1)],
            "blue",
        ),
    ] {
        let p = &t["Resources"][rule]["Properties"];
        assert_eq!(p["Priority"], json!(priority), "{rule}");
        assert_eq!(
            p["ListenerArn"],
            json!({"Ref": "GatewayListener"}),
            "{rule}"
        );
        assert_eq!(
            p["Conditions"],
            json!([{"Field": "path-pattern", "PathPatternConfig": {"Values": patterns}}]),
            "{rule}"
        );
        assert_eq!(
            p["Actions"],
            json!([{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]),
            "{rule}"
        );
        assert_eq!(
            p["Transforms"],
            json!([{"Type": "url-rewrite", "UrlRewriteConfig": {"Rewrites": [
                {"Regex": format!("^/{prefix}/?(.*)$"), "Replace": "/$1"}
            ]}}]),
            "{rule}"
        );
    }
    assert_eq!(
        ids_of_type(
            &render(examples::gateway("gateway")),
            "AWS::ElasticLoadBalancingV2::ListenerRule"
        )
        .len(),
        3
    );
    check(
        &t,
        "/Resources/GatewayListener/Properties/DefaultActions/0/FixedResponseConfig/StatusCode",
        json!("404"),
    );
    check(
        &t,
        "/Resources/GatewayListener/Properties/Protocol",
        json!("HTTP"),
    );
    check(
        &t,
        "/Resources/GatewayLoadBalancer/Properties/Type",
        json!("application"),
    );
    check(
        &t,
        "/Resources/GatewayLoadBalancer/Properties/Scheme",
        json!("internet-facing"),
    );
    check(
        &t,
        "/Resources/GatewayLoadBalancer/Properties/Subnets",
        json!([{"Ref": "PublicSubnet1"}, {"Ref": "PublicSubnet2"}]),
    );
    check(
        &t,
        "/Outputs/GatewayUrl/Value",
        json!({"Fn::Sub": "http://${GatewayLoadBalancer.DNSName}"}),
    );
}

#[test]
fn rule_paths_and_rewrites() {
    fn check_rule(prefix: &str, patterns: &[&str], rewrite: (&str, &str)) {
        assert_eq!(alb::path_patterns(prefix), patterns, "{prefix}");
        let (regex, replace) = alb::prefix_rewrite(prefix);
        assert_eq!((regex.as_str(), replace.as_str()), rewrite, "{prefix}");
    }
    check_rule("/split", &["/split", "/split/*"], ("^/split/?(.*)$", "/$1"));
    check_rule(
        "/split/",
        &["/split", "/split/*"],
        ("^/split/?(.*)$", "/$1"),
    );
    check_rule(
        "/api/v1",
        &["/api/v1", "/api/v1/*"],
        ("^/api/v1/?(.*)$", "/$1"),
    );
    check_rule(
        "/a.b+c",
        &["/a.b+c", "/a.b+c/*"],
        (r"^/a\.b\+c/?(.*)$", "/$1"),
    );
    check_rule("/", &["/*"], ("^/?(.*)$", "/$1"));

    // `/` catches everything and has nothing to rewrite, so it carries no transform and comes last.
    let t = to_json(&rollout(1, StrategyKind::Linear));
    let p = &t["Resources"]["RolloutFrontRule"]["Properties"];
    assert_eq!(
        p["Conditions"][0]["PathPatternConfig"]["Values"],
        json!(["/*"])
    );
    assert!(p.get("Transforms").is_none());
    let mut spec = examples::gateway("gateway");
    let gw = spec.alb_gateway.as_mut().unwrap();
    gw.rules.push(AlbRuleSpec {
        name: "all".into(),
        path_prefix: "/".into(),
        targets: vec![AlbTargetSpec {
            service: "blue".into(),
            weight: 1,
        }],
        rewrite_prefix: true,
    });
    let t = to_json(&render(spec));
    check(
        &t,
        "/Resources/GatewayAllRule/Properties/Priority",
        json!(4),
    );
    assert!(
        t["Resources"]["GatewayAllRule"]["Properties"]
            .get("Transforms")
            .is_none()
    );
}

#[test]
fn allowed_cidr_reaches_only_the_gateway_listener_port() {
    let mut spec = examples::gateway("gateway");
    spec.alb_gateway.as_mut().unwrap().listener_port = 8080;
    for (template, sg, listener_port) in [
        (
            render(examples::gateway("gateway")),
            "GatewaySecurityGroup",
            80,
        ),
        (render(spec), "GatewaySecurityGroup", 8080),
        (rollout(1, StrategyKind::Linear), "RolloutSecurityGroup", 80),
    ] {
        let t = to_json(&template);
        let mut from_cidr = Vec::new();
        let mut from_lb = Vec::new();
        for id in ids_of_type(&template, "AWS::EC2::SecurityGroupIngress") {
            let p = &t["Resources"][&id]["Properties"];
            assert_eq!(p["FromPort"], p["ToPort"], "{id} opens one port");
            if p.get("CidrIp").is_some() {
                assert_eq!(p["CidrIp"], json!({"Ref": "AllowedCidr"}), "{id}");
                from_cidr.push((p["GroupId"].clone(), p["FromPort"].clone()));
            }
            if p["SourceSecurityGroupId"] == json!({"Fn::GetAtt": [sg, "GroupId"]}) {
                from_lb.push((p["GroupId"].clone(), p["FromPort"].clone()));
            }
        }
        let group = |id: &str| json!({"Fn::GetAtt": [id, "GroupId"]});
        assert_eq!(from_cidr, [(group(sg), json!(listener_port))]);
        assert_eq!(from_lb, [(group("TaskSecurityGroup"), json!(80))]);
        let p = &t["Resources"][sg]["Properties"];
        assert!(
            p.get("SecurityGroupIngress").is_none(),
            "ingress only as rules"
        );
        assert_eq!(
            p["SecurityGroupEgress"],
            json!([{
                "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                "DestinationSecurityGroupId": group("TaskSecurityGroup"),
                "Description": "to the services behind the gateway"
            }])
        );
        if listener_port != 80 {
            check(
                &t,
                "/Outputs/GatewayUrl/Value",
                json!({"Fn::Sub": "http://${GatewayLoadBalancer.DNSName}:8080"}),
            );
            check(
                &t,
                "/Resources/GatewayListener/Properties/Port",
                json!(8080),
            );
        }
    }
}

#[test]
fn services_behind_the_gateway_register_after_their_rules() {
    let t = to_json(&render(examples::gateway("gateway")));
    for (service, rules) in [
        ("blue", ["GatewayBlueRule", "GatewaySplitRule"]),
        ("green", ["GatewayGreenRule", "GatewaySplitRule"]),
    ] {
        let id = cfn_render::logical_id(&[service, "Service"]);
        let r = &t["Resources"][&id];
        let tg = alb::target_group_id(service);
        assert_eq!(
            r["Properties"]["LoadBalancers"],
            json!([{"ContainerName": "app", "ContainerPort": 80, "TargetGroupArn": {"Ref": tg}}])
        );
        assert_eq!(r["Properties"]["HealthCheckGracePeriodSeconds"], json!(30));
        let deps: Vec<&str> = r["DependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        for rule in rules {
            assert!(deps.contains(&rule), "{id} waits for {rule}: {deps:?}");
        }
        let p = &t["Resources"][&tg]["Properties"];
        assert_eq!(p["TargetType"], "ip");
        assert_eq!(p["Protocol"], "HTTP");
        assert_eq!(p["Port"], 80);
        assert_eq!(p["VpcId"], json!({"Ref": "Vpc"}));
        assert_eq!(p["HealthCheckPath"], "/");
        assert_eq!(p["Matcher"], json!({"HttpCode": "200"}));
        assert_eq!(
            p["TargetGroupAttributes"],
            json!([{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
        );
    }
    // `web` is not behind the gateway: no load balancer, no grace period.
    let t = to_json(&rollout(1, StrategyKind::Linear));
    assert!(
        t["Resources"]["WebService"]["Properties"]
            .get("LoadBalancers")
            .is_none()
    );
    assert!(
        t["Resources"]["WebService"]["Properties"]
            .get("HealthCheckGracePeriodSeconds")
            .is_none()
    );
}

#[test]
fn each_strategy_renders_its_fields() {
    for (strategy, name, linear, canary) in [
        (
            StrategyKind::Linear,
            "LINEAR",
            Some(json!({"StepPercent": 20, "StepBakeTimeInMinutes": 1})),
            None,
        ),
        (
            StrategyKind::Canary,
            "CANARY",
            None,
            Some(json!({"CanaryPercent": 10, "CanaryBakeTimeInMinutes": 2})),
        ),
        (StrategyKind::BlueGreen, "BLUE_GREEN", None, None),
    ] {
        let t = to_json(&rollout(3, strategy));
        let web = &t["Resources"]["WebService"]["Properties"];
        assert_eq!(
            web["DeploymentController"],
            json!({"Type": "ECS"}),
            "{name}"
        );
        let c = &web["DeploymentConfiguration"];
        assert_eq!(c["Strategy"], name);
        assert_eq!(c["BakeTimeInMinutes"], 2, "{name}");
        assert_eq!(c.get("LinearConfiguration"), linear.as_ref(), "{name}");
        assert_eq!(c.get("CanaryConfiguration"), canary.as_ref(), "{name}");
        assert_eq!(
            c["DeploymentCircuitBreaker"],
            json!({"Enable": true, "Rollback": true})
        );
        check(&t, "/Outputs/WebVersion/Value", json!("3"));
        // `front` keeps the rolling default.
        assert!(
            t["Resources"]["FrontService"]["Properties"]
                .get("DeploymentController")
                .is_none()
        );
        assert!(t["Outputs"].get("FrontVersion").is_none());
    }
    // An unset bake time is ECS's 15 minutes, spelled out.
    let t = to_json(&render(rollout_spec(|d| d.bake_time_minutes = None)));
    check(
        &t,
        "/Resources/WebService/Properties/DeploymentConfiguration/BakeTimeInMinutes",
        json!(15),
    );
}

#[test]
fn error_rate_alarm_is_wired_to_the_service_without_a_cycle() {
    let template = rollout(1, StrategyKind::Linear);
    let t = to_json(&template);
    assert_eq!(
        ids_of_type(&template, "AWS::CloudWatch::Alarm"),
        ["WebErrorRateAlarm"]
    );
    check(
        &t,
        "/Resources/WebService/Properties/DeploymentConfiguration/Alarms",
        json!({"AlarmNames": [{"Ref": "WebErrorRateAlarm"}], "Enable": true, "Rollback": true}),
    );
    let alarm = &t["Resources"]["WebErrorRateAlarm"];
    let mut refs = Vec::new();
    references(alarm, &mut refs);
    assert_eq!(refs, ["AWS::StackName"], "the alarm refers to no resource");
    assert!(alarm.get("DependsOn").is_none());
    let p = &alarm["Properties"];
    assert_eq!(
        p["AlarmName"],
        json!({"Fn::Sub": "${AWS::StackName}-web-error-rate"})
    );
    assert_eq!(p["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(p["Threshold"], 10);
    assert_eq!(p["TreatMissingData"], "notBreaching");
    assert_eq!(p["EvaluationPeriods"], 1);
    assert_eq!(p["DatapointsToAlarm"], 1);
    let dims = json!([
        {"Name": "ClusterName", "Value": "rollout"},
        {"Name": "ServiceName", "Value": "front"},
        {"Name": "TargetDiscoveryName", "Value": "web"}
    ]);
    for (i, code) in ["2XX", "3XX", "4XX", "5XX"].iter().enumerate() {
        let q = &p["Metrics"][i];
        assert_eq!(q["Id"], format!("code{}_1", code.to_lowercase()));
        let m = &q["MetricStat"];
        assert_eq!(m["Metric"]["Namespace"], "AWS/ECS");
        assert_eq!(
            m["Metric"]["MetricName"],
            format!("HTTPCode_Target_{code}_Count")
        );
        assert_eq!(m["Metric"]["Dimensions"], dims);
        assert_eq!(m["Stat"], "Sum");
        assert_eq!(m["Period"], 60);
        assert_eq!(q["ReturnData"], false);
    }
    let expressions: Vec<(&Value, &Value, &Value)> = p["Metrics"].as_array().unwrap()[4..]
        .iter()
        .map(|q| (&q["Id"], &q["Expression"], &q["ReturnData"]))
        .collect();
    assert_eq!(
        expressions,
        [
            (
                &json!("errors"),
                &json!("FILL(code5xx_1, 0)"),
                &json!(false)
            ),
            (
                &json!("responses"),
                &json!(
                    "FILL(code2xx_1, 0) + FILL(code3xx_1, 0) + FILL(code4xx_1, 0) + FILL(code5xx_1, 0)"
                ),
                &json!(false)
            ),
            (
                &json!("errorRate"),
                &json!("IF(responses > 0, 100 * errors / responses, 0)"),
                &json!(true)
            ),
        ]
    );
}

#[test]
fn error_rate_alarm_sums_every_caller_or_watches_all_clients() {
    // Two callers: one dimension set each, summed.
    let t = to_json(&render(crate::metric_catalog::two_callers()));
    let p = &t["Resources"]["WebErrorRateAlarm"]["Properties"];
    assert_eq!(
        p["Metrics"][8]["Expression"],
        "FILL(code5xx_1, 0) + FILL(code5xx_2, 0)"
    );
    assert_eq!(
        p["Metrics"][9]["Expression"],
        "FILL(code2xx_1, 0) + FILL(code3xx_1, 0) + FILL(code4xx_1, 0) + FILL(code5xx_1, 0) + \
         FILL(code2xx_2, 0) + FILL(code3xx_2, 0) + FILL(code4xx_2, 0) + FILL(code5xx_2, 0)"
    );
    let callers: Vec<&Value> = p["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.pointer("/MetricStat/Metric/Dimensions/1/Value"))
        .collect();
    assert_eq!(
        callers,
        [&json!("front"); 4]
            .into_iter()
            .chain([&json!("back"); 4])
            .collect::<Vec<_>>()
    );
    // No caller in the stack: every Service Connect client of `web` counts.
    let t = to_json(&render(crate::metric_catalog::no_caller()));
    let p = &t["Resources"]["WebErrorRateAlarm"]["Properties"];
    for i in 0..4 {
        assert_eq!(
            p["Metrics"][i]["MetricStat"]["Metric"]["Dimensions"],
            json!([{"Name": "TargetDiscoveryName", "Value": "web"}])
        );
    }
    assert_eq!(p["Metrics"].as_array().unwrap().len(), 7);
}

#[test]
fn test_traffic_rule_is_on_the_client_alias() {
    let t = to_json(&rollout(1, StrategyKind::Linear));
    let sc = "/Resources/WebService/Properties/ServiceConnectConfiguration/Services/0";
    check(
        &t,
        &format!("{sc}/ClientAliases/0/TestTrafficRules"),
        json!({"Header": {"Name": "x-amzn-ecs-blue-green-test", "Value": {"Exact": "true"}}}),
    );
    assert!(t.pointer(&format!("{sc}/TestTrafficRules")).is_none());
    let front = "/Resources/FrontService/Properties/ServiceConnectConfiguration/Services/0";
    assert!(
        t.pointer(&format!("{front}/ClientAliases/0/TestTrafficRules"))
            .is_none()
    );
}

/// front's app container passes on the headers of web's rule: ECS's default and the custom one.
#[test]
fn a_caller_propagates_the_test_headers_of_its_backends() {
    let mut spec = rollout_spec(|_| {});
    let web = spec.services.iter_mut().find(|s| s.name == "web").unwrap();
    web.service_connect.as_mut().unwrap().test_traffic = Some(model::TestTrafficSpec {
        header: "x-canary".into(),
        value: "yes".into(),
    });
    let t = to_json(&render(spec));
    let env = |task: &str| {
        let defs = &t["Resources"][task]["Properties"]["ContainerDefinitions"];
        defs[0]["Environment"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["Name"] == "PROPAGATE_HEADERS")
            .map(|e| e["Value"].clone())
    };
    assert_eq!(
        env("FrontTaskDefinition"),
        Some(json!("x-amzn-ecs-blue-green-test,x-canary"))
    );
    // web calls nothing: demo-app's default.
    assert_eq!(env("WebTaskDefinition"), None);
}

#[test]
fn default_deployment_renders_as_the_seed_did() {
    let template = render(rollout_spec(|d| *d = DeploymentSpec::default()));
    let t = to_json(&template);
    let front = &t["Resources"]["FrontService"]["Properties"];
    let web = &t["Resources"]["WebService"]["Properties"];
    assert_eq!(
        web["DeploymentConfiguration"],
        front["DeploymentConfiguration"]
    );
    assert_eq!(
        web["DeploymentConfiguration"],
        json!({
            "MaximumPercent": 200, "MinimumHealthyPercent": 100,
            "DeploymentCircuitBreaker": {"Enable": true, "Rollback": true}
        })
    );
    assert!(web.get("DeploymentController").is_none());
    assert!(ids_of_type(&template, "AWS::CloudWatch::Alarm").is_empty());
    assert!(t["Outputs"].get("WebVersion").is_none());
    assert!(t["Resources"]["WebService"].get("Metadata").is_none());
    // Rolling with only the circuit breaker changed: no strategy, controller or bake time.
    let t = to_json(&render(rollout_spec(|d| {
        *d = DeploymentSpec::default();
        d.circuit_breaker.rollback = false;
    })));
    check(
        &t,
        "/Resources/WebService/Properties/DeploymentConfiguration",
        json!({
            "MaximumPercent": 200, "MinimumHealthyPercent": 100,
            "DeploymentCircuitBreaker": {"Enable": true, "Rollback": false}
        }),
    );
}

fn waiver(t: &Template) -> Option<Value> {
    to_json(t)["Resources"]["WebService"]
        .get("Metadata")
        .cloned()
}

#[test]
fn percentages_render_exactly_and_only_cfn_lint_false_positives_are_waived() {
    let linear = |tenths| {
        render(rollout_spec(|d| {
            d.linear = Some(LinearSpec {
                step_percent: Percent::from_tenths(tenths),
                step_bake_time_minutes: 1,
            })
        }))
    };
    let t = linear(333);
    assert!(t.to_json_pretty().contains("\"StepPercent\": 33.3\n"));
    let expected = json!({"cfn-lint": {"config": {"ignore_checks": ["E3002"]}}});
    assert_eq!(waiver(&t), Some(expected.clone()));
    assert_eq!(waiver(&linear(200)), None);
    assert!(
        linear(200)
            .to_json_pretty()
            .contains("\"StepPercent\": 20\n")
    );
    assert_eq!(waiver(&linear(105)), None, "10.5 passes cfn-lint's check");
    let canary = |tenths| {
        render(rollout_spec(|d| {
            d.strategy = StrategyKind::Canary;
            d.linear = None;
            d.canary = Some(CanarySpec {
                canary_percent: Percent::from_tenths(tenths),
                canary_bake_time_minutes: 2,
            })
        }))
    };
    assert!(
        canary(3)
            .to_json_pretty()
            .contains("\"CanaryPercent\": 0.3\n")
    );
    assert_eq!(waiver(&canary(3)), Some(expected));
    assert_eq!(waiver(&canary(5)), None);
    // Only the service with the percentage carries the waiver.
    assert!(
        to_json(&linear(333))["Resources"]["FrontService"]
            .get("Metadata")
            .is_none()
    );
}

#[test]
fn cfn_lint_float_check_is_reproduced_exactly() {
    let rejects = |tenths| cfn_lint_rejects_multiple_of_tenth(Percent::from_tenths(tenths));
    // SPEC §10's examples.
    for tenths in [333, 101, 33, 3, 7, 23] {
        assert!(rejects(tenths), "{tenths} tenths");
    }
    for tenths in [200, 100, 50, 1, 5, 330, 1000, 105] {
        assert!(!rejects(tenths), "{tenths} tenths");
    }
    // Python's `int(x / 0.1) != x / 0.1` over 0.1..=100.0 rejects 348 values (counted with the
    // same expression in cfn-lint 1.58's interpreter); whole numbers never.
    assert_eq!((1..=1000).filter(|t| rejects(*t)).count(), 348);
    assert!((1..=100).all(|p| !rejects(p * 10)));
}

#[test]
fn lifecycle_hooks_render_as_the_schema_names_them() {
    let t = to_json(&render(rollout_spec(|d| {
        d.lifecycle_hooks = vec![
            LifecycleHookSpec {
                target_type: HookTargetType::AwsLambda,
                stages: vec![
                    LifecycleStage::PostTestTrafficShift,
                    LifecycleStage::PostScaleUp,
                ],
                hook_target_arn: Some(
                    "arn:aws:lambda:us-east-1:123456789012:function:check".into(),
                ),
                role_arn: Some("arn:aws:iam::123456789012:role/ecs-hooks".into()),
                create_role: false,
                timeout: Some(HookTimeoutSpec {
                    minutes: 10,
                    action: HookTimeoutAction::Rollback,
                }),
                local_command: Some(vec!["true".into()]),
            },
            LifecycleHookSpec {
                target_type: HookTargetType::Pause,
                stages: vec![LifecycleStage::PreProductionTrafficShift],
                hook_target_arn: None,
                role_arn: None,
                create_role: false,
                // Within CloudFormation's 36-hour limit at each of the five steps.
                timeout: Some(HookTimeoutSpec {
                    minutes: 60,
                    action: HookTimeoutAction::Continue,
                }),
                local_command: None,
            },
        ];
    })));
    check(
        &t,
        "/Resources/WebService/Properties/DeploymentConfiguration/LifecycleHooks",
        json!([
            {
                "LifecycleStages": ["POST_TEST_TRAFFIC_SHIFT", "POST_SCALE_UP"],
                "TargetType": "AWS_LAMBDA",
                "HookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:check",
                "RoleArn": "arn:aws:iam::123456789012:role/ecs-hooks",
                "TimeoutConfiguration": {"Action": "ROLLBACK", "TimeoutInMinutes": 10}
            },
            {
                "LifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
                "TargetType": "PAUSE",
                "TimeoutConfiguration": {"Action": "CONTINUE", "TimeoutInMinutes": 60}
            }
        ]),
    );
}

/// A Lambda hook with `createRole`: the stack renders the role ECS assumes to invoke it.
pub fn lambda_hook_with_created_role(d: &mut DeploymentSpec) {
    d.lifecycle_hooks = vec![
        LifecycleHookSpec {
            target_type: HookTargetType::Pause,
            stages: vec![LifecycleStage::PostScaleUp],
            hook_target_arn: None,
            role_arn: None,
            create_role: false,
            timeout: Some(HookTimeoutSpec {
                minutes: 30,
                action: HookTimeoutAction::Continue,
            }),
            local_command: None,
        },
        LifecycleHookSpec {
            target_type: HookTargetType::AwsLambda,
            stages: vec![LifecycleStage::PostTestTrafficShift],
            hook_target_arn: Some("arn:aws:lambda:us-east-1:123456789012:function:smoke".into()),
            role_arn: None,
            create_role: true,
            timeout: Some(HookTimeoutSpec {
                minutes: 10,
                action: HookTimeoutAction::Rollback,
            }),
            local_command: None,
        },
    ];
}

#[test]
fn a_lambda_hook_with_create_role_gets_a_role_that_invokes_only_its_function() {
    let template = render(rollout_spec(lambda_hook_with_created_role));
    let t = to_json(&template);
    // One role, for the Lambda hook (the second), named after the service and the hook.
    let roles: Vec<String> = ids_of_type(&template, "AWS::IAM::Role")
        .into_iter()
        .filter(|id| id.contains("Hook"))
        .collect();
    assert_eq!(roles, ["WebHook2Role"]);
    let p = &t["Resources"]["WebHook2Role"]["Properties"];
    assert_eq!(
        p["AssumeRolePolicyDocument"],
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ecs.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]})
    );
    assert_eq!(
        p["Policies"],
        json!([{"PolicyName": "invoke-lifecycle-hook", "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": ["arn:aws:lambda:us-east-1:123456789012:function:smoke"]
            }]
        }}])
    );
    assert!(p.get("ManagedPolicyArns").is_none());
    check(
        &t,
        "/Resources/WebService/Properties/DeploymentConfiguration/LifecycleHooks/1",
        json!({
            "LifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
            "TargetType": "AWS_LAMBDA",
            "HookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:smoke",
            "RoleArn": {"Fn::GetAtt": ["WebHook2Role", "Arn"]},
            "TimeoutConfiguration": {"Action": "ROLLBACK", "TimeoutInMinutes": 10}
        }),
    );
    // A hook with `roleArn` gets no role of its own.
    let t = render(rollout_spec(|d| {
        lambda_hook_with_created_role(d);
        let h = &mut d.lifecycle_hooks[1];
        h.create_role = false;
        h.role_arn = Some("arn:aws:iam::123456789012:role/hooks".into());
    }));
    assert!(!t.resources.contains_key("WebHook2Role"));
    check(
        &to_json(&t),
        "/Resources/WebService/Properties/DeploymentConfiguration/LifecycleHooks/1/RoleArn",
        json!("arn:aws:iam::123456789012:role/hooks"),
    );
}
