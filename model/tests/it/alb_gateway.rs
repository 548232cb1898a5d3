//! ALB gateway rules: the load balancer's name, listener and subnets, and its path rules with
//! their weighted targets.

use model::{AlbGatewaySpec, AlbRuleSpec, AlbTargetSpec, NetworkSpec, StackSpec};

use crate::check_gateway;

fn alb(s: &mut StackSpec) -> &mut AlbGatewaySpec {
    s.alb_gateway
        .as_mut()
        .expect("the gateway example has an ALB")
}

fn rule(s: &mut StackSpec, i: usize) -> &mut AlbRuleSpec {
    &mut alb(s).rules[i]
}

fn target(service: &str, weight: u32) -> AlbTargetSpec {
    AlbTargetSpec {
        service: service.into(),
        weight,
    }
}

#[test]
fn load_balancer_names() {
    let rule = "is not a valid load balancer name: use 1-32 letters, digits and hyphens, not starting or ending with a hyphen or starting with `internal-`";
    let long = "a".repeat(33);
    for name in ["-gw", "gw-", "internal-gw", "g_w", "", long.as_str()] {
        let message = format!("`{name}` {rule}");
        check_gateway(
            |s| alb(s).name = name.into(),
            &[("albGateway.name", &message)],
        );
    }
    check_gateway(|s| alb(s).name = format!("Gw-{}", "1".repeat(29)), &[]);
}

#[test]
fn listener_port() {
    check_gateway(
        |s| alb(s).listener_port = 0,
        &[("albGateway.listenerPort", "port 0 is out of range 1-65535")],
    );
    check_gateway(|s| alb(s).listener_port = 8080, &[]);
}

#[test]
fn an_alb_needs_two_azs() {
    let message = "an ALB needs subnets in at least two AZs: set network.azCount to 2 or more (or list two subnetIds in different AZs)";
    check_gateway(
        |s| s.network = NetworkSpec::public_only("10.0.0.0/16", 1),
        &[("albGateway", message)],
    );
    let existing = |subnets: &[&str]| NetworkSpec::ExistingVpc {
        vpc_id: "vpc-0123456789abcdef0".into(),
        subnet_ids: subnets.iter().map(|s| (*s).into()).collect(),
        assign_public_ip: true,
    };
    check_gateway(
        |s| s.network = existing(&["subnet-12345678"]),
        &[("albGateway", message)],
    );
    check_gateway(
        |s| s.network = existing(&["subnet-12345678", "subnet-87654321"]),
        &[],
    );
}

#[test]
fn rule_count() {
    check_gateway(
        |s| alb(s).rules.clear(),
        &[("albGateway.rules", "an ALB gateway needs at least one rule")],
    );
    let many = |n: usize| {
        (0..n)
            .map(|i| AlbRuleSpec {
                name: format!("r{i}"),
                path_prefix: format!("/r{i}"),
                targets: vec![target("blue", 1)],
                rewrite_prefix: false,
            })
            .collect::<Vec<_>>()
    };
    check_gateway(|s| alb(s).rules = many(100), &[]);
    check_gateway(
        |s| alb(s).rules = many(101),
        &[(
            "albGateway.rules",
            "an ALB listener takes at most 100 rules, not 101",
        )],
    );
}

#[test]
fn rule_names_and_prefixes_are_unique() {
    check_gateway(
        |s| {
            rule(s, 2).name = "blue".into();
            rule(s, 2).path_prefix = "/green".into();
        },
        &[
            ("albGateway.rules[2].name", "duplicate rule name `blue`"),
            (
                "albGateway.rules[2].pathPrefix",
                "path prefix `/green` matches the same paths as albGateway.rules[1]",
            ),
        ],
    );
    check_gateway(
        |s| rule(s, 0).name = "a b".into(),
        &[(
            "albGateway.rules[0].name",
            "`a b` is not a valid ECS name: use 1-255 letters, digits, hyphens and underscores",
        )],
    );
}

#[test]
fn path_prefixes() {
    let rule_text = "is not a valid path prefix: start with `/`, then at most 125 letters, digits and _-.$/~\"'@:+& (no wildcards or spaces)";
    let long = format!("/{}", "p".repeat(126));
    for (prefix, shown) in [
        ("blue", "`blue`".to_owned()),
        ("/blue*", "`/blue*`".to_owned()),
        ("/blue?x", "`/blue?x`".to_owned()),
        ("/blue x", "`/blue x`".to_owned()),
        ("/blue%20", "`/blue%20`".to_owned()),
        ("/blü", "`/blü`".to_owned()),
        ("", "``".to_owned()),
        (long.as_str(), format!("`/{}…`", "p".repeat(79))),
    ] {
        let message = format!("{shown} {rule_text}");
        check_gateway(
            |s| rule(s, 0).path_prefix = prefix.into(),
            &[("albGateway.rules[0].pathPrefix", &message)],
        );
    }
    // `<prefix>/*` must fit the ALB's 128 characters; a trailing `/` is not counted.
    check_gateway(
        |s| rule(s, 0).path_prefix = format!("/{}/", "p".repeat(125)),
        &[],
    );
    check_gateway(|s| rule(s, 0).path_prefix = "/".into(), &[]);
    check_gateway(|s| rule(s, 0).path_prefix = "/v1/A_b-c.$~'@:+&".into(), &[]);
}

#[test]
fn prefixes_that_match_the_same_paths() {
    check_gateway(
        |s| rule(s, 2).path_prefix = "/blue/".into(),
        &[(
            "albGateway.rules[2].pathPrefix",
            "path prefix `/blue/` matches the same paths as albGateway.rules[0]",
        )],
    );
}

#[test]
fn target_count_and_weights() {
    check_gateway(
        |s| rule(s, 2).targets.clear(),
        &[(
            "albGateway.rules[2].targets",
            "a rule forwards to 1-5 services (an ALB forward's limit), not 0",
        )],
    );
    check_gateway(
        |s| {
            s.services
                .extend(["c", "d", "e", "f"].map(crate::plain_service));
            rule(s, 2).targets = ["blue", "green", "c", "d", "e", "f"]
                .map(|n| target(n, 1))
                .to_vec();
        },
        &[(
            "albGateway.rules[2].targets",
            "a rule forwards to 1-5 services (an ALB forward's limit), not 6",
        )],
    );
    check_gateway(
        |s| rule(s, 2).targets = vec![target("blue", 0), target("green", 0)],
        &[(
            "albGateway.rules[2].targets",
            "every weight is 0: at least one target needs a positive weight",
        )],
    );
    check_gateway(
        |s| rule(s, 2).targets = vec![target("blue", 0), target("green", 999)],
        &[],
    );
    check_gateway(
        |s| rule(s, 2).targets[1].weight = 1000,
        &[(
            "albGateway.rules[2].targets[1].weight",
            "weight 1000 is out of range 0-999",
        )],
    );
}

#[test]
fn targets_are_services_of_the_stack() {
    check_gateway(
        |s| rule(s, 0).targets[0].service = "purple".into(),
        &[(
            "albGateway.rules[0].targets[0].service",
            "service `purple` is not in this stack",
        )],
    );
    check_gateway(
        |s| rule(s, 2).targets[1].service = "red\u{1b}[2J".into(),
        &[(
            "albGateway.rules[2].targets[1].service",
            "service `red\\u{1b}[2J` is not in this stack",
        )],
    );
    check_gateway(
        |s| rule(s, 2).targets[1].service = "blue".into(),
        &[(
            "albGateway.rules[2].targets[1].service",
            "duplicate rule target `blue`",
        )],
    );
}
