//! cfn-lint over every template the renderer produces: zero errors, no warning but W3696; the
//! list of those templates (`every_variant`) is what checkov checks too (`checkov.rs`)

use cfn_render::RenderOptions;
use meshtest_tests::Level;
use model::{
    AccessLogsSpec, CanarySpec, DeploymentSpec, HookTargetType, HookTimeoutAction, HookTimeoutSpec,
    LifecycleHookSpec, LifecycleStage, LinearSpec, NetworkSpec, Percent, Stack, StackSpec,
    StrategyKind,
    examples::{self, AppBuild},
};
use serde_json::Value;
use state_store::BlueGreenState;

pub fn template(spec: StackSpec) -> Value {
    let stack = Stack::new(spec).expect("stack validates");
    let template = cfn_render::render(&stack, &RenderOptions::default()).expect("stack renders");
    serde_json::from_str(&template.to_json_pretty()).expect("template is JSON")
}

fn lint(label: &str, template: &Value) -> Option<meshtest_tests::LintReport> {
    meshtest_tests::cfn_lint(&serde_json::to_string_pretty(template).unwrap(), label)
}

fn check(label: &str, spec: StackSpec) {
    if let Some(report) = lint(label, &template(spec)) {
        report.assert_clean();
    }
}

const STRATEGIES: [StrategyKind; 3] = [
    StrategyKind::Linear,
    StrategyKind::Canary,
    StrategyKind::BlueGreen,
];

fn rollout(strategy: StrategyKind) -> StackSpec {
    examples::rollout(
        "rollout",
        &examples::RolloutInputs {
            version: 2,
            strategy,
        },
    )
}

/// `rollout` with `web`'s deployment edited.
fn rollout_with(edit: impl FnOnce(&mut DeploymentSpec)) -> StackSpec {
    let mut spec = rollout(StrategyKind::Linear);
    let web = spec.services.iter_mut().find(|s| s.name == "web").unwrap();
    edit(&mut web.deployment);
    spec
}

/// Every app `cargo xtask` lists (the registry, `model::examples::APPS`), in each of its
/// variants: a new app is covered as soon as it is registered.
pub fn app_variants() -> Vec<(String, StackSpec)> {
    let mut variants = Vec::new();
    for app in examples::APPS {
        let name = app.name;
        match app.build {
            AppBuild::Plain(build) => variants.push((name.to_string(), build(name))),
            AppBuild::BlueGreen(build) => variants.push((
                name.to_string(),
                build(name, &versions(&BlueGreenState::bootstrap())),
            )),
            AppBuild::Strategy(build) => {
                variants.push((name.to_string(), build(name, StrategyKind::Rolling)));
                for strategy in STRATEGIES {
                    variants.push((
                        format!("{name}-{}", strategy.cli_name()),
                        build(name, strategy),
                    ));
                }
            }
            AppBuild::Rollout(build) => {
                for strategy in STRATEGIES {
                    let inputs = examples::RolloutInputs {
                        version: 2,
                        strategy,
                    };
                    variants.push((
                        format!("{name}-{}", strategy.cli_name()),
                        build(name, &inputs),
                    ));
                }
            }
        }
    }
    variants
}

/// The apps' variants and every other shape the tests here lint: the templates checkov checks.
pub fn every_variant() -> Vec<(String, StackSpec)> {
    let bootstrap = BlueGreenState::bootstrap();
    let v2 = bootstrap.deploy(2).unwrap();
    let mut variants = app_variants();
    variants.extend([
        (
            "rollout-hooks-private".to_string(),
            rollout_with_hooks_and_private_subnets(),
        ),
        ("rollout-hook-role".to_string(), rollout_with_hook_role()),
        ("bluegreen-v2".to_string(), bluegreen(&v2)),
        (
            "bluegreen-v3".to_string(),
            bluegreen(&v2.deploy(3).unwrap()),
        ),
        (
            "serviceconnect-private".to_string(),
            with_private_network(examples::serviceconnect("serviceconnect")),
        ),
        (
            "appmesh-private".to_string(),
            with_private_network(examples::appmesh("appmesh")),
        ),
        (
            "appmesh-existing-vpc".to_string(),
            appmesh_in_existing_vpc(),
        ),
        (
            "gateway-private".to_string(),
            with_private_network(examples::gateway("gateway")),
        ),
        // `migrate appmesh --strategy linear`: the gateway's services shift at the ALB.
        ("appmesh-migrated-linear".to_string(), appmesh_migrated()),
    ]);
    for (strategy, tenths) in FALSE_POSITIVES {
        variants.push((
            format!("{}-{tenths}-tenths", strategy.cli_name()),
            with_percent(strategy, tenths),
        ));
    }
    variants
}

#[test]
fn every_app_and_variant() {
    for (label, spec) in app_variants() {
        check(&label, spec);
    }
}

#[test]
fn rollout_with_lifecycle_hooks_and_private_subnets() {
    check(
        "rollout-hooks-private",
        rollout_with_hooks_and_private_subnets(),
    );
}

fn rollout_with_hooks_and_private_subnets() -> StackSpec {
    let spec = rollout_with(|d| {
        d.lifecycle_hooks = vec![
            LifecycleHookSpec {
                target_type: HookTargetType::AwsLambda,
                stages: vec![LifecycleStage::PostTestTrafficShift],
                hook_target_arn: Some(
                    "arn:aws:lambda:us-east-1:123456789012:function:smoke-test".into(),
                ),
                role_arn: Some("arn:aws:iam::123456789012:role/ecs-lifecycle-hooks".into()),
                create_role: false,
                timeout: Some(HookTimeoutSpec {
                    minutes: 10,
                    action: HookTimeoutAction::Rollback,
                }),
                local_command: None,
            },
            LifecycleHookSpec {
                target_type: HookTargetType::Pause,
                stages: vec![LifecycleStage::PostProductionTrafficShift],
                hook_target_arn: None,
                role_arn: None,
                create_role: false,
                timeout: Some(HookTimeoutSpec {
                    minutes: 60,
                    action: HookTimeoutAction::Continue,
                }),
                local_command: None,
            },
        ];
        if let Some(a) = d.alarms.as_mut() {
            a.names.push("existing-alarm".into());
        }
    });
    with_private_network(spec)
}

#[test]
fn rollout_with_a_lambda_hook_role_the_stack_creates() {
    check("rollout-hook-role", rollout_with_hook_role());
}

/// A Lambda hook with `createRole`: the template carries the role ECS assumes to invoke it.
fn rollout_with_hook_role() -> StackSpec {
    rollout_with(|d| {
        d.lifecycle_hooks = vec![LifecycleHookSpec {
            target_type: HookTargetType::AwsLambda,
            stages: vec![LifecycleStage::PostTestTrafficShift],
            hook_target_arn: Some(
                "arn:aws:lambda:us-east-1:123456789012:function:smoke-test".into(),
            ),
            role_arn: None,
            create_role: true,
            timeout: Some(HookTimeoutSpec {
                minutes: 10,
                action: HookTimeoutAction::Rollback,
            }),
            local_command: None,
        }];
    })
}

/// Every metric series any of these templates reads is one AWS publishes: a query on a set the
/// metric is not published on fails here, naming the metric and the set.
#[test]
fn every_variant_reads_only_published_metric_series() {
    let mut read = 0;
    for (label, spec) in every_variant() {
        let stack = Stack::new(spec).expect("stack validates");
        let t = cfn_render::render(&stack, &RenderOptions::default()).expect("stack renders");
        let series =
            cfn_render::metric_series::metric_series(&t).unwrap_or_else(|e| panic!("{label}: {e}"));
        let bad: Vec<String> = cfn_render::metric_series::unpublished(&series)
            .iter()
            .map(|u| u.to_string())
            .collect();
        assert!(bad.is_empty(), "{label}:\n{}", bad.join("\n"));
        read += series.len();
    }
    assert!(
        read > 0,
        "no template read any series: the check checked nothing"
    );
}

/// Two of the percentages SPEC §10 lists as cfn-lint false positives, as (strategy, tenths); the
/// renderer's copy of cfn-lint's float check is tested over the whole grid in cfn-render.
const FALSE_POSITIVES: [(StrategyKind, u32); 2] =
    [(StrategyKind::Linear, 333), (StrategyKind::Canary, 3)];

fn with_percent(strategy: StrategyKind, tenths: u32) -> StackSpec {
    rollout_with(|d| {
        d.strategy = strategy;
        d.linear = (strategy == StrategyKind::Linear).then_some(LinearSpec {
            step_percent: Percent::from_tenths(tenths),
            step_bake_time_minutes: 1,
        });
        d.canary = (strategy == StrategyKind::Canary).then_some(CanarySpec {
            canary_percent: Percent::from_tenths(tenths),
            canary_bake_time_minutes: 1,
        });
    })
}

/// The waived percentages lint clean; without the waiver, cfn-lint's float `multipleOf` check is
/// the one and only finding, so the waiver hides nothing else on the service.
#[test]
fn multiple_of_false_positives_are_waived_and_nothing_else() {
    for (strategy, tenths) in FALSE_POSITIVES {
        let label = format!("{}-{tenths}-tenths", strategy.cli_name());
        let mut t = template(with_percent(strategy, tenths));
        let Some(report) = lint(&label, &t) else {
            return;
        };
        report.assert_clean();
        let web = t["Resources"]["WebService"].as_object_mut().unwrap();
        assert!(web.remove("Metadata").is_some(), "{label} is waived");
        let report = lint(&format!("{label}-unwaived"), &t).unwrap();
        let findings: Vec<String> = report
            .findings()
            .iter()
            .filter(|f| f.level != Level::Informational)
            .map(|f| format!("{} {} {}", f.rule_id, f.path, f.message))
            .collect();
        let field = match strategy {
            StrategyKind::Linear => "LinearConfiguration/StepPercent",
            _ => "CanaryConfiguration/CanaryPercent",
        };
        let percent = Percent::from_tenths(tenths);
        assert_eq!(
            findings,
            [format!(
                "E3002 Resources/WebService/Properties/DeploymentConfiguration/{field} {percent} is not a multiple of 0.1"
            )],
            "{label}"
        );
    }
}

/// The colours' versions and the state JSON the stack writes, for `state`.
fn versions(state: &BlueGreenState) -> model::BlueGreenVersions {
    let v = state.versions();
    model::BlueGreenVersions {
        blue: v.blue,
        green: v.green,
        state_json: state.to_json(),
    }
}

fn bluegreen(state: &BlueGreenState) -> StackSpec {
    examples::bluegreen("bluegreen", &versions(state))
}

/// `appmesh` migrated with `--strategy linear`: blue and green behind the ALB deploy LINEAR.
fn appmesh_migrated() -> StackSpec {
    let options = model::migrate::MigrateOptions {
        gateway_strategy: Some(StrategyKind::Linear),
        ..Default::default()
    };
    model::migrate::migrate_with(&examples::appmesh("appmesh"), &options)
        .expect("appmesh migrates")
        .spec
}

#[test]
fn appmesh_migrated_with_a_strategy_shifts_at_the_alb() {
    let template = template(appmesh_migrated());
    for service in ["Blue", "Green"] {
        let advanced = &template["Resources"][format!("{service}Service")]["Properties"]["LoadBalancers"]
            [0]["AdvancedConfiguration"];
        assert_eq!(
            advanced["AlternateTargetGroupArn"]["Ref"],
            format!("{service}AlternateTargetGroup"),
            "{advanced}"
        );
        assert!(
            advanced["TestListenerRule"]["Ref"].is_string(),
            "{advanced}"
        );
    }
    if let Some(report) = lint("appmesh-migrated-linear", &template) {
        report.assert_clean();
    }
}

fn with_private_network(mut spec: StackSpec) -> StackSpec {
    spec.network = NetworkSpec::NewVpc {
        cidr: "10.0.0.0/16".into(),
        az_count: 3,
        private_subnets: true,
        nat_gateways: 2,
    };
    spec
}

#[test]
fn bluegreen_walkthrough() {
    let bootstrap = BlueGreenState::bootstrap();
    let v2 = bootstrap.deploy(2).unwrap();
    let v3 = v2.deploy(3).unwrap();
    check("bluegreen-v2", bluegreen(&v2));
    check("bluegreen-v3", bluegreen(&v3));
}

#[test]
fn serviceconnect_with_private_subnets_and_nat() {
    let spec = with_private_network(examples::serviceconnect("serviceconnect"));
    check("serviceconnect-private", spec);
}

#[test]
fn appmesh_with_private_subnets_and_nat() {
    check(
        "appmesh-private",
        with_private_network(examples::appmesh("appmesh")),
    );
}

#[test]
fn appmesh_in_an_existing_vpc() {
    check("appmesh-existing-vpc", appmesh_in_existing_vpc());
}

fn appmesh_in_existing_vpc() -> StackSpec {
    let mut spec = examples::appmesh("appmesh");
    spec.network = NetworkSpec::ExistingVpc {
        vpc_id: "vpc-0123456789abcdef0".into(),
        subnet_ids: vec!["subnet-11111111".into(), "subnet-22222222".into()],
        assign_public_ip: true,
    };
    spec
}

#[test]
fn gateway_with_private_subnets_and_nat() {
    check(
        "gateway-private",
        with_private_network(examples::gateway("gateway")),
    );
}

const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn access_logs() -> Option<AccessLogsSpec> {
    Some(AccessLogsSpec {
        bucket: "meshtest-access-logs".into(),
        prefix: Some("meshtest/gateway".into()),
    })
}

/// The two apps with a load balancer, with log encryption and access logs turned on.
pub fn with_options() -> Vec<(String, StackSpec)> {
    let mut gateway = examples::gateway("gateway");
    gateway.logs.kms_key_arn = Some(KMS_KEY.into());
    gateway.alb_gateway.as_mut().unwrap().access_logs = access_logs();
    let mut appmesh = examples::appmesh("appmesh");
    appmesh.logs.kms_key_arn = Some(KMS_KEY.into());
    appmesh
        .mesh
        .as_mut()
        .unwrap()
        .gateway
        .as_mut()
        .unwrap()
        .access_logs = access_logs();
    vec![
        ("gateway-with-options".into(), gateway),
        ("appmesh-with-options".into(), appmesh),
    ]
}

#[test]
fn log_encryption_and_access_logs() {
    for (label, spec) in with_options() {
        check(&label, spec);
    }
}
