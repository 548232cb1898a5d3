//! Stack, cluster, log and service rules: names, ports, sizes, environment, health checks,
//! Service Connect and service backends.

use std::collections::BTreeMap;

use model::rules::quote;
use model::{
    DiscoverySpec, HealthCheckSpec, ImageSpec, RESERVED_ENV, ServiceConnectSpec, reserved_env,
};

use crate::{check, check_sc, plain_service};

const SC_NAME_RULE: &str = "is not a valid Service Connect name: use 1-64 lowercase letters, digits, hyphens and underscores, not starting with a hyphen";

fn sc_name_message(name: &str) -> String {
    format!("`{name}` {SC_NAME_RULE}")
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn bad_stack_name() {
    let long = format!("a{}", "b".repeat(128));
    for name in ["1stack", "my_stack", "my stack", "", long.as_str()] {
        let message = format!(
            "{} is not a valid stack name: start with a letter, then up to 127 letters, digits and hyphens",
            quote(name)
        );
        check(|s| s.name = name.to_owned(), &[("name", &message)]);
    }
    check(|s| s.name = format!("a{}", "b".repeat(127)), &[]);
}

#[test]
fn description_too_long() {
    check(
        |s| s.description = Some("x".repeat(1025)),
        &[("description", "description is longer than 1024 characters")],
    );
    check(|s| s.description = Some("x".repeat(1024)), &[]);
}

#[test]
fn log_retention_not_allowed_by_cloudwatch() {
    for days in [0, 2, 10, 10_000] {
        let message = format!(
            "CloudWatch Logs does not accept {days} days: use one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"
        );
        check(
            |s| s.logs.retention_days = days,
            &[("logs.retentionDays", &message)],
        );
    }
    check(|s| s.logs.retention_days = 3653, &[]);
}

#[test]
fn stack_without_services() {
    check_sc(
        |s| s.services.clear(),
        &[("services", "a stack needs at least one service")],
    );
}

#[test]
fn bad_cluster_name() {
    check(
        |s| s.cluster.name = "my cluster".to_owned(),
        &[(
            "cluster.name",
            "`my cluster` is not a valid ECS name: use 1-255 letters, digits, hyphens and underscores",
        )],
    );
}

#[test]
fn bad_namespace() {
    let rule = "is not a valid DNS name: use dot-separated labels of 1-63 lowercase letters, digits and hyphens";
    for ns in ["Upper", "under_score", "-lead", "trail-", "a..b", ""] {
        let message = format!("`{ns}` {rule}");
        check(
            |s| {
                s.cluster.discovery = DiscoverySpec::PrivateDns {
                    namespace: ns.to_owned(),
                }
            },
            &[("cluster.discovery.namespace", &message)],
        );
        check_sc(
            |s| {
                s.cluster.discovery = DiscoverySpec::ServiceConnect {
                    namespace: ns.to_owned(),
                }
            },
            &[("cluster.discovery.namespace", &message)],
        );
    }
    check(
        |s| {
            s.cluster.discovery = DiscoverySpec::PrivateDns {
                namespace: "mesh.internal".to_owned(),
            }
        },
        &[],
    );
}

#[test]
fn bad_ecs_service_name() {
    for name in ["bad name", "blue.svc", &"a".repeat(256)] {
        let message = format!(
            "{} is not a valid ECS name: use 1-255 letters, digits, hyphens and underscores",
            quote(name)
        );
        check_sc(
            |s| s.services.push(plain_service(name)),
            &[("services[2].name", &message)],
        );
    }
}

#[test]
fn service_name_without_alphanumerics_for_logical_ids() {
    check_sc(
        |s| s.services.push(plain_service("--")),
        &[(
            "services[2].name",
            "`--` has no letters or digits to build a CloudFormation logical id from",
        )],
    );
}

#[test]
fn bad_cloud_map_service_name_under_private_dns() {
    // Under privateDns each service is a Cloud Map service: one lowercase DNS label.
    check(
        |s| s.services.push(plain_service("Purple")),
        &[(
            "services[2].name",
            "`Purple` is not a valid Cloud Map service name: use 1-63 lowercase letters, digits, hyphens and underscores",
        )],
    );
    // The same name is fine where Service Connect does the discovery.
    check_sc(|s| s.services.push(plain_service("Purple")), &[]);
}

#[test]
fn duplicate_service_names() {
    check_sc(
        |s| s.services.push(plain_service("blue")),
        &[("services[2].name", "duplicate service name `blue`")],
    );
}

#[test]
fn bad_image_uri() {
    let rule = "is not a valid image reference: 1-255 characters, no spaces";
    for uri in ["my image", "", &"i".repeat(256)] {
        let message = format!("{} {rule}", quote(uri));
        check_sc(
            |s| {
                s.services[0].image = ImageSpec::Uri {
                    uri: uri.to_owned(),
                }
            },
            &[("services[0].image.uri", &message)],
        );
    }
    check_sc(
        |s| {
            s.services[0].image = ImageSpec::Uri {
                uri: "public.ecr.aws/x/demo:1".to_owned(),
            }
        },
        &[],
    );
}

#[test]
fn bad_version() {
    for version in [String::new(), "v".repeat(129)] {
        check_sc(
            |s| s.services[1].version = version,
            &[("services[1].version", "version must be 1-128 characters")],
        );
    }
}

#[test]
fn container_port_out_of_range() {
    for port in [0, 70_000] {
        let message = format!("port {port} is out of range 1-65535");
        check_sc(
            |s| s.services[0].port.container_port = port,
            &[("services[0].port.containerPort", &message)],
        );
    }
}

#[test]
fn bad_service_connect_port_name() {
    for name in ["Express", "-express", "express.js", "", &"p".repeat(65)] {
        check_sc(
            |s| s.services[0].port.name = name.to_owned(),
            &[("services[0].port.name", &sc_name_message(name))],
        );
    }
    check_sc(|s| s.services[0].port.name = "express_js-2".to_owned(), &[]);
}

#[test]
fn bad_service_connect_discovery_name() {
    for name in ["Blue", "-blue", "blue.x"] {
        check_sc(
            |s| {
                s.services[0]
                    .service_connect
                    .as_mut()
                    .unwrap()
                    .discovery_name = name.to_owned()
            },
            &[(
                "services[0].serviceConnect.discoveryName",
                &sc_name_message(name),
            )],
        );
    }
}

#[test]
fn duplicate_service_connect_discovery_names() {
    check_sc(
        |s| {
            s.services[1]
                .service_connect
                .as_mut()
                .unwrap()
                .discovery_name = "blue".to_owned()
        },
        &[(
            "services[1].serviceConnect.discoveryName",
            "duplicate Service Connect discovery name `blue`",
        )],
    );
}

#[test]
fn bad_client_alias_dns_name() {
    check_sc(
        |s| s.services[0].service_connect.as_mut().unwrap().dns_name = Some("blue_svc".to_owned()),
        &[(
            "services[0].serviceConnect.dnsName",
            "`blue_svc` is not a valid DNS name: use dot-separated labels of 1-63 lowercase letters, digits and hyphens",
        )],
    );
    check_sc(
        |s| s.services[0].service_connect.as_mut().unwrap().dns_name = Some("blue-svc".to_owned()),
        &[],
    );
}

#[test]
fn client_alias_port_out_of_range() {
    for port in [0, 70_000] {
        let message = format!("port {port} is out of range 1-65535");
        check_sc(
            |s| {
                s.services[1]
                    .service_connect
                    .as_mut()
                    .unwrap()
                    .client_alias_port = port
            },
            &[("services[1].serviceConnect.clientAliasPort", &message)],
        );
    }
}

#[test]
fn service_connect_on_a_private_dns_cluster() {
    check(
        |s| {
            s.services[0].service_connect = Some(ServiceConnectSpec {
                discovery_name: "blue".to_owned(),
                client_alias_port: 80,
                dns_name: None,
                test_traffic: None,
            });
        },
        &[(
            "services[0].serviceConnect",
            "Service Connect needs cluster.discovery of kind serviceConnect",
        )],
    );
}

#[test]
fn bad_env_var_name() {
    for key in ["1BAD", "BAD-NAME", "BAD NAME", ""] {
        let message = format!("`{key}` is not a valid environment variable name");
        let path = format!("services[0].environment.{key}");
        check_sc(
            |s| s.services[0].environment = env(&[(key, "x")]),
            &[(&path, &message)],
        );
    }
    check_sc(
        |s| s.services[0].environment = env(&[("RUST_LOG", "info"), ("_X1", "")]),
        &[],
    );
}

/// Every name the task definition or the local runtime sets itself is refused with its reason,
/// rather than stored in the model and silently overwritten on the task.
#[test]
fn reserved_env_names_are_refused_with_their_reason() {
    let names: Vec<&str> = RESERVED_ENV.iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        [
            "SERVICE_NAME",
            "SERVICE_VERSION",
            "SERVICE_PORT",
            "SERVICE_NAMESPACE",
            "PROPAGATE_HEADERS",
            "SERVICE_HOST",
            "HTTP_PROXY",
            "http_proxy",
            "NO_PROXY",
            "no_proxy",
            "MESHTEST_LOCAL_*",
        ]
    );
    let keys = names
        .iter()
        .map(|n| n.replace('*', "TOKEN"))
        .chain(["MESHTEST_LOCAL_".to_owned(), "MESHTEST_LOCAL_X".to_owned()]);
    for key in keys {
        let reason = reserved_env(&key).expect("reserved").reason;
        let path = format!("services[1].environment.{key}");
        let message = format!("`{key}` is reserved: {reason}");
        check_sc(
            |s| s.services[1].environment = env(&[("A", "1"), (&key, "x")]),
            &[(&path, &message)],
        );
    }
    assert_eq!(
        reserved_env("HTTP_PROXY").map(|r| r.reason),
        Some(
            "the local runtime sets it to its egress proxy, where the Service Connect names resolve"
        )
    );
    // Close names that nothing sets stay the user's.
    for key in [
        "SERVICE",
        "Http_Proxy",
        "MESHTEST_LOCALX",
        "DOWNSTREAM_ALLOW",
        "FAULT_RATE",
    ] {
        assert_eq!(reserved_env(key), None, "{key}");
        check_sc(|s| s.services[1].environment = env(&[(key, "x")]), &[]);
    }
}

/// What the local runtime sets on a task is all in the list: a task's environment holds no
/// name a user could set that the runtime would then overwrite.
#[test]
fn the_reserved_list_covers_what_the_task_definition_sets() {
    let stack = model::Stack::new(crate::rollout()).expect("valid");
    for svc in &stack.spec().services {
        for key in model::app_environment(&stack, svc).keys() {
            assert!(reserved_env(key).is_some(), "{key} is set but not reserved");
        }
    }
}

/// A control character in a version or an environment value would forge status and diff lines;
/// a hostile key is shown escaped in the field path too.
#[test]
fn versions_and_environment_refuse_control_characters() {
    for bad in ["1\n2", "2\r", "\u{1b}[2J3"] {
        check_sc(
            |s| s.services[1].version = bad.to_owned(),
            &[(
                "services[1].version",
                &format!(
                    "version {} has control characters (such as a newline or ESC): use printable text",
                    quote(bad)
                ),
            )],
        );
        check_sc(
            |s| s.services[0].environment = env(&[("MODE", bad)]),
            &[(
                "services[0].environment.MODE",
                &format!(
                    "the value of `MODE` {} has control characters (such as a newline or ESC): use printable text",
                    quote(bad)
                ),
            )],
        );
    }
    check_sc(
        |s| s.services[0].environment = env(&[("A\nB", "x")]),
        &[(
            "services[0].environment.A\\nB",
            "`A\\nB` is not a valid environment variable name",
        )],
    );
    check_sc(|s| s.services[1].version = "1.2.3-rc 1".to_owned(), &[]);
}

#[test]
fn fargate_memory_not_offered_for_the_cpu() {
    check_sc(
        |s| s.services[0].memory_mib = 4096,
        &[(
            "services[0].memoryMib",
            "Fargate does not offer 4096 MiB with 256 CPU units: use 512 to 2048 MiB in steps of 512",
        )],
    );
    check_sc(
        |s| (s.services[1].cpu, s.services[1].memory_mib) = (1024, 2500),
        &[(
            "services[1].memoryMib",
            "Fargate does not offer 2500 MiB with 1024 CPU units: use 2048 to 8192 MiB in steps of 1024",
        )],
    );
    check_sc(
        |s| (s.services[1].cpu, s.services[1].memory_mib) = (4096, 30_720),
        &[],
    );
}

#[test]
fn fargate_cpu_not_offered() {
    // The CPU is what is wrong, so the path names `cpu`, not `memoryMib`.
    check_sc(
        |s| s.services[0].cpu = 300,
        &[(
            "services[0].cpu",
            "Fargate does not offer 300 CPU units: use one of 256, 512, 1024, 2048, 4096, 8192, 16384",
        )],
    );
}

#[test]
fn desired_count_out_of_range() {
    check_sc(
        |s| s.services[0].desired_count = 1001,
        &[(
            "services[0].desiredCount",
            "desiredCount 1001 is out of range 0-1000",
        )],
    );
    check_sc(|s| s.services[0].desired_count = 0, &[]);
}

fn health_check(s: &mut model::StackSpec) -> &mut HealthCheckSpec {
    s.services[0]
        .health_check
        .as_mut()
        .expect("the examples have health checks")
}

#[test]
fn bad_health_check_command() {
    let message = r#"command must be ["CMD", program, args...] or ["CMD-SHELL", script]"#;
    let commands: [&[&str]; 4] = [&[], &["CMD"], &["CMD-SHELL"], &["sh", "-c", "true"]];
    for command in commands {
        check_sc(
            |s| health_check(s).command = command.iter().map(|c| (*c).to_owned()).collect(),
            &[("services[0].healthCheck.command", message)],
        );
    }
    check_sc(
        |s| {
            health_check(s).command = vec!["CMD-SHELL".into(), "curl -f localhost || exit 1".into()]
        },
        &[],
    );
}

#[test]
fn health_check_bounds() {
    let p = "services[0].healthCheck";
    check_sc(
        |s| health_check(s).interval_seconds = 4,
        &[(
            &format!("{p}.intervalSeconds"),
            "interval 4 is out of range 5-300",
        )],
    );
    check_sc(
        |s| health_check(s).interval_seconds = 301,
        &[(
            &format!("{p}.intervalSeconds"),
            "interval 301 is out of range 5-300",
        )],
    );
    check_sc(
        |s| health_check(s).timeout_seconds = 1,
        &[(
            &format!("{p}.timeoutSeconds"),
            "timeout 1 is out of range 2-120",
        )],
    );
    check_sc(
        |s| health_check(s).timeout_seconds = 121,
        &[(
            &format!("{p}.timeoutSeconds"),
            "timeout 121 is out of range 2-120",
        )],
    );
    check_sc(
        |s| health_check(s).retries = 0,
        &[(&format!("{p}.retries"), "retries 0 is out of range 1-10")],
    );
    check_sc(
        |s| health_check(s).retries = 11,
        &[(&format!("{p}.retries"), "retries 11 is out of range 1-10")],
    );
    check_sc(
        |s| health_check(s).start_period_seconds = 301,
        &[(
            &format!("{p}.startPeriodSeconds"),
            "start period 301 is out of range 0-300",
        )],
    );
    // All bounds are inclusive.
    check_sc(
        |s| {
            *health_check(s) = HealthCheckSpec {
                command: vec!["CMD".into(), "true".into()],
                interval_seconds: 300,
                timeout_seconds: 120,
                retries: 10,
                start_period_seconds: 0,
            };
        },
        &[],
    );
}

#[test]
fn dangling_service_backend() {
    check_sc(
        |s| s.services[0].backends = vec!["green".into(), "purple".into()],
        &[(
            "services[0].backends[1]",
            "backend `purple` is not a service in this stack",
        )],
    );
}

#[test]
fn service_is_its_own_backend() {
    check_sc(
        |s| s.services[0].backends = vec!["green".into(), "blue".into()],
        &[(
            "services[0].backends[1]",
            "service `blue` cannot be its own backend",
        )],
    );
}

#[test]
fn duplicate_service_connect_client_aliases() {
    check_sc(
        |s| {
            s.services[1].service_connect.as_mut().unwrap().dns_name =
                Some("blue.serviceconnect".to_owned())
        },
        &[(
            "services[1].serviceConnect",
            "duplicate Service Connect client alias `blue.serviceconnect:80`",
        )],
    );
}

#[test]
fn hostile_names_are_cut_and_escaped_in_messages() {
    let rule = "is not a valid ECS name: use 1-255 letters, digits, hyphens and underscores";
    let huge = format!("{}\u{1b}]0;owned\u{7}", "x".repeat(1_000_000));
    let message = format!("`{}…` {rule}", "x".repeat(80));
    check_sc(
        |s| s.services.push(plain_service(&huge)),
        &[("services[2].name", &message)],
    );
    let message = format!("`a\\u{{1b}}[2J\\n\\u{{7}}\\u{{0}}` {rule}");
    check_sc(
        |s| s.services.push(plain_service("a\u{1b}[2J\n\u{7}\0")),
        &[("services[2].name", &message)],
    );
    // A reference echoes the user's text the same way.
    let message = format!(
        "backend `{}…` is not a service in this stack",
        "x".repeat(80)
    );
    check_sc(
        |s| s.services[0].backends = vec![huge.clone()],
        &[("services[0].backends[0]", &message)],
    );
}
