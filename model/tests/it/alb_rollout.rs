//! Native strategies behind the ALB gateway (issue 21): the production rule, the test rule and
//! the infrastructure role the model derives, and the cross-field rules on them.

use model::{
    AlbShift, AlbTargetSpec, InfrastructureRole, Stack, StackSpec, StrategyKind, TestTrafficRule,
    TestTrafficSpec,
};

use crate::{check_from, gateway};

/// The gateway example without `/split`, blue deploying `strategy`.
fn shifting(strategy: StrategyKind) -> StackSpec {
    let mut s = gateway();
    let gw = s.alb_gateway.as_mut().expect("gateway has an ALB");
    gw.rules.retain(|r| r.name != "split");
    s.services[0].deployment.strategy = strategy;
    s
}

fn test_traffic(s: &mut StackSpec, header: &str, value: &str) {
    s.services[0]
        .service_connect
        .as_mut()
        .expect("blue is in Service Connect")
        .test_traffic = Some(TestTrafficSpec {
        header: header.into(),
        value: value.into(),
    });
}

#[test]
fn a_weighted_rule_across_services_cannot_forward_to_a_shifting_service() {
    check_from(
        gateway(),
        |s| s.services[0].deployment.strategy = StrategyKind::Linear,
        &[(
            "albGateway.rules[2].targets",
            "rule `split` forwards to several services with weights, but `blue` (services[0]) deploys LINEAR: ECS shifts a service between its two target groups on its production rule only, so this rule would keep sending `blue`'s share to the target group ECS drains; forward this rule to one service, or deploy `blue` ROLLING",
        )],
    );
}

#[test]
fn one_production_rule_per_service() {
    check_from(
        shifting(StrategyKind::Canary),
        |s| {
            let gw = s.alb_gateway.as_mut().expect("an ALB");
            gw.rules[1].targets = vec![AlbTargetSpec {
                service: "blue".into(),
                weight: 1,
            }];
        },
        &[(
            "albGateway.rules[1]",
            "`blue` (services[0]) deploys CANARY and already has its production rule albGateway.rules[0]: ECS shifts one production listener rule per service (AdvancedConfiguration.ProductionListenerRule), and this rule's weights would stay on the old target group; forward one rule to `blue`",
        )],
    );
}

#[test]
fn the_test_rule_header_fits_an_alb_condition() {
    let long = "x".repeat(41);
    check_from(
        shifting(StrategyKind::BlueGreen),
        |s| test_traffic(s, &long, "yes"),
        &[(
            "services[0].serviceConnect.testTraffic.header",
            "the test rule of a service behind the ALB matches this header, and an ALB header condition takes a name of at most 40 characters, not 41: use a shorter header",
        )],
    );
    let value = "the test rule of a service behind the ALB matches this value, and in an ALB header condition `*` and `?` are wildcards: use a value without them";
    for bad in ["ye*", "y?s"] {
        check_from(
            shifting(StrategyKind::BlueGreen),
            |s| test_traffic(s, "x-canary", bad),
            &[("services[0].serviceConnect.testTraffic.value", value)],
        );
    }
    check_from(
        shifting(StrategyKind::BlueGreen),
        |s| test_traffic(s, &"x".repeat(40), &"v".repeat(128)),
        &[],
    );
}

#[test]
fn test_rules_count_against_the_listener_limit() {
    let many = |s: &mut StackSpec, n: usize| {
        let gw = s.alb_gateway.as_mut().expect("an ALB");
        let template = gw.rules[1].clone();
        for i in 0..n {
            let mut r = template.clone();
            r.name = format!("extra{i}");
            r.path_prefix = format!("/extra{i}");
            gw.rules.push(r);
        }
        test_traffic(s, "x-canary", "yes");
    };
    // 2 rules + 97 = 99, plus blue's test rule: 100.
    check_from(shifting(StrategyKind::Linear), |s| many(s, 97), &[]);
    check_from(
        shifting(StrategyKind::Linear),
        |s| many(s, 98),
        &[(
            "albGateway.rules",
            "an ALB listener takes at most 100 rules, not 100 plus 1 test rules of services that shift traffic: use fewer rules, or drop a service's serviceConnect.testTraffic",
        )],
    );
}

#[test]
fn the_infrastructure_role_arn_is_a_role_arn() {
    check_from(
        shifting(StrategyKind::Linear),
        |s| {
            s.alb_gateway
                .as_mut()
                .expect("an ALB")
                .infrastructure_role_arn = Some("arn:aws:iam::123456789012:user/me".into());
        },
        &[(
            "albGateway.infrastructureRoleArn",
            "`arn:aws:iam::123456789012:user/me` is not an IAM role ARN: expected arn:aws:iam::<account>:role/<name>",
        )],
    );
}

#[test]
fn the_model_derives_the_production_rule_test_rule_and_role() {
    let mut spec = shifting(StrategyKind::Linear);
    test_traffic(&mut spec, "x-canary", "yes");
    let stack = Stack::new(spec.clone()).expect("valid");
    let blue = stack.service("blue").expect("blue");
    assert_eq!(
        stack.alb_shift(blue),
        Some(AlbShift {
            production_rule: 0,
            test_rule: Some(TestTrafficRule {
                header: "x-canary".into(),
                value: Some("yes".into()),
            }),
            role: InfrastructureRole::Created,
        })
    );
    // green deploys ROLLING: nothing shifts.
    assert_eq!(
        stack.alb_shift(stack.service("green").expect("green")),
        None
    );

    spec.alb_gateway
        .as_mut()
        .expect("an ALB")
        .infrastructure_role_arn = Some("arn:aws:iam::123456789012:role/ecs-infra".into());
    spec.services[0]
        .service_connect
        .as_mut()
        .expect("sc")
        .test_traffic = None;
    let stack = Stack::new(spec).expect("valid");
    assert_eq!(
        stack.alb_shift(stack.service("blue").expect("blue")),
        Some(AlbShift {
            production_rule: 0,
            test_rule: None,
            role: InfrastructureRole::Arn("arn:aws:iam::123456789012:role/ecs-infra".into()),
        })
    );
}

#[test]
fn a_service_behind_the_alb_shifts_without_service_connect() {
    check_from(
        shifting(StrategyKind::BlueGreen),
        |s| {
            // green calls blue over Service Connect; blue's own registration is not needed
            // for the ALB to shift it.
            s.services[1].backends.clear();
            s.services[0].service_connect = None;
        },
        &[],
    );
}

/// A service `name` behind the gateway on its own rule `/name`, as green is.
fn behind(s: &mut StackSpec, name: &str, rule: &str) {
    let mut svc = s.services[1].clone();
    svc.name = name.into();
    if let Some(sc) = svc.service_connect.as_mut() {
        sc.discovery_name = name.into();
    }
    s.services.push(svc);
    let gw = s.alb_gateway.as_mut().expect("an ALB");
    let mut r = gw.rules[1].clone();
    r.name = rule.into();
    r.path_prefix = format!("/{rule}");
    r.targets = vec![AlbTargetSpec {
        service: name.into(),
        weight: 1,
    }];
    gw.rules.push(r);
}

#[test]
fn a_service_cannot_take_the_logical_id_of_anothers_alternate_target_group() {
    check_from(
        shifting(StrategyKind::Linear),
        |s| behind(s, "blue-alternate", "ba"),
        &[(
            "services[2].name",
            "`blue-alternate` and `blue` (services[0].name) would both be the CloudFormation logical id `BlueAlternateTargetGroup` (the target group of `blue-alternate` and the alternate target group of `blue`, which deploys LINEAR): rename one of them",
        )],
    );
    // Deploying ROLLING, blue has no alternate target group: nothing collides.
    check_from(
        shifting(StrategyKind::Rolling),
        |s| behind(s, "blue-alternate", "ba"),
        &[],
    );
}

#[test]
fn a_rule_cannot_take_the_logical_id_of_anothers_test_rule() {
    let mut base = shifting(StrategyKind::Canary);
    test_traffic(&mut base, "x-canary", "yes");
    check_from(
        base.clone(),
        |s| behind(s, "teal", "blue-test"),
        &[(
            "albGateway.rules[2].name",
            "`blue-test` and `blue` (albGateway.rules[0].name) would both be the CloudFormation logical id `GatewayBlueTestRule` (the listener rule of `blue-test` and the test listener rule of `blue`, for `blue`'s test traffic): rename one of them",
        )],
    );
    // Without a test traffic rule blue has no test listener rule.
    check_from(
        shifting(StrategyKind::Canary),
        |s| behind(s, "teal", "blue-test"),
        &[],
    );
}

#[test]
fn names_that_differ_only_in_punctuation_make_one_logical_id() {
    check_from(
        shifting(StrategyKind::Linear),
        |s| behind(s, "teal", "blue_"),
        &[(
            "albGateway.rules[2].name",
            "`blue_` and `blue` (albGateway.rules[0].name) would both be the CloudFormation logical id `GatewayBlueRule` (the listener rule of `blue_` and the listener rule of `blue`): rename one of them",
        )],
    );
}

#[test]
fn the_services_behind_the_gateway_fit_the_target_groups_of_one_load_balancer() {
    let many = |s: &mut StackSpec, n: usize| {
        for i in 0..n {
            behind(s, &format!("s{i}"), &format!("r{i}"));
            let deployment = s.services[0].deployment.clone();
            s.services.last_mut().expect("just added").deployment = deployment;
        }
    };
    // blue (2 target groups), green (1) and 48 more shifting services (96): 99.
    check_from(shifting(StrategyKind::Linear), |s| many(s, 48), &[]);
    check_from(
        shifting(StrategyKind::Linear),
        |s| many(s, 49),
        &[(
            "albGateway.rules",
            "the services behind the gateway need 101 target groups (51 services, 50 of them with an alternate target group to shift traffic), and an Application Load Balancer takes at most 100: put fewer services behind the gateway, or deploy some of them ROLLING",
        )],
    );
}
