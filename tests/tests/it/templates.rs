//! cfn-lint over every template the renderer produces: zero errors, no warning but W3696

use cfn_render::RenderOptions;
use meshtest_tests::Level;
use model::{
    CanarySpec, DeploymentSpec, HookTargetType, HookTimeoutAction, HookTimeoutSpec,
    LifecycleHookSpec, LifecycleStage, LinearSpec, NetworkSpec, Percent, Stack, StackSpec,
    StrategyKind, examples,
};
use serde_json::Value;
use state_store::BlueGreenState;

fn template(spec: StackSpec) -> Value {
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

/// Every app `cargo xtask` lists, in each of its variants: a new app fails here until it is linted.
#[test]
fn every_app_and_variant() {
    for app in examples::APPS {
        match *app {
            "serviceconnect" => check(app, examples::serviceconnect(app)),
            "appmesh" => check(app, examples::appmesh(app)),
            "bluegreen" => check(app, bluegreen(&BlueGreenState::bootstrap())),
            "gateway" => check(app, examples::gateway(app)),
            "rollout" => {
                for strategy in STRATEGIES {
                    check(
                        &format!("rollout-{}", strategy.cli_name()),
                        rollout(strategy),
                    );
                }
            }
            other => panic!("app `{other}` has no cfn-lint test: add it to every_app_and_variant"),
        }
    }
}

#[test]
fn rollout_with_lifecycle_hooks_and_private_subnets() {
    let mut spec = rollout_with(|d| {
        d.lifecycle_hooks = vec![
            LifecycleHookSpec {
                target_type: HookTargetType::AwsLambda,
                stages: vec![LifecycleStage::PostTestTrafficShift],
                hook_target_arn: Some(
                    "arn:aws:lambda:us-east-1:123456789012:function:smoke-test".into(),
                ),
                role_arn: Some("arn:aws:iam::123456789012:role/ecs-lifecycle-hooks".into()),
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
    spec.network = private_network();
    check("rollout-hooks-private", spec);
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

fn bluegreen(state: &BlueGreenState) -> StackSpec {
    let v = state.versions();
    let inputs = examples::BlueGreenInputs {
        blue_version: v.blue,
        green_version: v.green,
        state_json: state.to_json(),
    };
    examples::bluegreen("bluegreen", &inputs)
}

fn private_network() -> NetworkSpec {
    NetworkSpec::NewVpc {
        cidr: "10.0.0.0/16".into(),
        az_count: 3,
        private_subnets: true,
        nat_gateways: 2,
    }
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
    let mut spec = examples::serviceconnect("serviceconnect");
    spec.network = private_network();
    check("serviceconnect-private", spec);
}

#[test]
fn appmesh_with_private_subnets_and_nat() {
    let mut spec = examples::appmesh("appmesh");
    spec.network = private_network();
    check("appmesh-private", spec);
}

#[test]
fn appmesh_in_an_existing_vpc() {
    let mut spec = examples::appmesh("appmesh");
    spec.network = NetworkSpec::ExistingVpc {
        vpc_id: "vpc-0123456789abcdef0".into(),
        subnet_ids: vec!["subnet-11111111".into(), "subnet-22222222".into()],
        assign_public_ip: true,
    };
    check("appmesh-existing-vpc", spec);
}

#[test]
fn gateway_with_private_subnets_and_nat() {
    let mut spec = examples::gateway("gateway");
    spec.network = private_network();
    check("gateway-private", spec);
}
