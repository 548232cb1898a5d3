//! Loading stacks from JSON: round trips, defaults, unknown fields, and validation after parsing.

use model::{
    AppProtocol, ClusterSpec, DiscoverySpec, ImageSpec, LoadError, LogSpec, NetworkSpec, PortSpec,
    ServiceConnectSpec, ServiceSpec, Stack, StackSpec,
};
use serde_json::{Value, json};

use crate::{appmesh, bluegreen, gateway, rollout, serviceconnect};
use model::JsonError;

fn load(value: &Value) -> Result<Stack, LoadError> {
    Stack::from_json(&serde_json::to_string_pretty(value).unwrap())
}

/// The serde error when `value` fails to parse; panics if it parsed.
fn json_error(value: &Value) -> String {
    match load(value) {
        Err(LoadError::Json(e)) => e.to_string(),
        Ok(stack) => panic!("expected a JSON error, but it loaded: {:?}", stack.spec()),
        Err(e) => panic!("expected a JSON error, got {e:?}"),
    }
}

#[test]
fn every_example_round_trips_through_json() {
    for spec in [
        serviceconnect(),
        appmesh(),
        bluegreen(),
        gateway(),
        rollout(),
    ] {
        let text = serde_json::to_string_pretty(&spec).unwrap();
        let stack = Stack::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        assert_eq!(stack.spec(), &spec);
    }
}

#[test]
fn optional_fields_round_trip_through_json() {
    // The examples leave these at their defaults; a user's file may not.
    let mut spec = serviceconnect();
    spec.network = NetworkSpec::ExistingVpc {
        vpc_id: "vpc-0123456789abcdef0".into(),
        subnet_ids: vec!["subnet-12345678".into(), "subnet-87654321".into()],
        assign_public_ip: true,
    };
    spec.cluster.container_insights = false;
    spec.logs.retention_days = 365;
    let svc = &mut spec.services[0];
    svc.image = ImageSpec::Uri {
        uri: "public.ecr.aws/x/demo:1".into(),
    };
    svc.environment.insert("RUST_LOG".into(), "debug".into());
    svc.health_check = None;
    svc.public = false;
    svc.port.app_protocol = Some(AppProtocol::Grpc);
    svc.service_connect.as_mut().unwrap().dns_name = Some("blue-svc".into());
    let value = serde_json::to_value(&spec).unwrap();
    assert_eq!(value["network"]["kind"], "existingVpc");
    assert_eq!(
        value["services"][0]["image"],
        json!({ "kind": "uri", "uri": "public.ecr.aws/x/demo:1" })
    );
    assert_eq!(load(&value).expect("valid").spec(), &spec);
}

#[test]
fn serviceconnect_json_form() {
    // Documents the JSON format for users: review this snapshot when the model changes.
    insta::assert_json_snapshot!("serviceconnect_spec", serviceconnect());
}

#[test]
fn minimal_json_takes_the_documented_defaults() {
    let stack = load(&json!({
        "name": "mini",
        "network": { "kind": "newVpc", "cidr": "10.1.0.0/16", "azCount": 2 },
        "cluster": { "name": "mini", "discovery": { "kind": "serviceConnect", "namespace": "mini" } },
        "services": [{
            "name": "api",
            "version": "1",
            "port": { "containerPort": 8080, "name": "http", "appProtocol": "http" },
            "cpu": 256,
            "memoryMib": 512,
            "desiredCount": 1,
            "serviceConnect": { "discoveryName": "api", "clientAliasPort": 80 }
        }]
    }))
    .expect("valid");
    let expected = StackSpec {
        name: "mini".into(),
        description: None,
        network: NetworkSpec::public_only("10.1.0.0/16", 2),
        cluster: ClusterSpec {
            name: "mini".into(),
            container_insights: true,
            discovery: DiscoverySpec::ServiceConnect {
                namespace: "mini".into(),
            },
        },
        services: vec![ServiceSpec {
            name: "api".into(),
            image: ImageSpec::Parameter,
            version: "1".into(),
            port: PortSpec {
                container_port: 8080,
                name: "http".into(),
                app_protocol: Some(AppProtocol::Http),
            },
            environment: Default::default(),
            cpu: 256,
            memory_mib: 512,
            desired_count: 1,
            health_check: None,
            service_connect: Some(ServiceConnectSpec {
                discovery_name: "api".into(),
                client_alias_port: 80,
                dns_name: None,
                test_traffic: None,
            }),
            app_mesh: None,
            public: false,
            backends: vec![],
            deployment: Default::default(),
            local: None,
        }],
        mesh: None,
        blue_green: None,
        alb_gateway: None,
        logs: LogSpec {
            retention_days: 14,
            kms_key_arn: None,
        },
    };
    assert_eq!(stack.spec(), &expected);
}

#[test]
fn sidecar_defaults_are_the_seed_settings() {
    // A sidecar given only its virtual node gets the seed's Envoy image, UID and ports.
    let mut value = serde_json::to_value(appmesh()).unwrap();
    for svc in value["services"].as_array_mut().unwrap() {
        let node = svc["appMesh"]["virtualNode"].clone();
        svc["appMesh"] = json!({ "virtualNode": node });
    }
    let gateway = value["mesh"]["gateway"].as_object_mut().unwrap();
    gateway.remove("envoyImage");
    assert_eq!(load(&value).expect("valid").spec(), &appmesh());
}

/// Adds `field` to the object at JSON `pointer` in `base`'s JSON form; returns the load error.
fn with_unknown_field(base: StackSpec, pointer: &str, field: &str) -> String {
    let mut value = serde_json::to_value(base).unwrap();
    let object = value
        .pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at `{pointer}`"));
    object.insert(field.to_owned(), json!(1));
    json_error(&value)
}

#[test]
fn unknown_fields_are_rejected_by_name() {
    // A typo must not silently fall back to a default: every object denies unknown fields,
    // including the internally tagged ones (`network`, `discovery`, and `image` whose unit
    // variant `parameter` needs a workaround for serde-rs/serde#2123).
    let sc_cases = [
        ("", "colour"),
        ("/network", "azcount"),
        ("/cluster", "insights"),
        ("/cluster/discovery", "prefix"),
        ("/logs", "days"),
        ("/services/0", "memory"),
        ("/services/0/image", "uri"),
        ("/services/0/port", "protocol"),
        ("/services/0/healthCheck", "path"),
        ("/services/1/serviceConnect", "alias"),
    ];
    let mesh_cases = [
        ("/services/0/appMesh", "sidecarPort"),
        ("/mesh", "routers"),
        ("/mesh/gateway", "port"),
        ("/mesh/gateway/routes/0", "rewrite"),
        ("/mesh/virtualNodes/0", "listeners"),
        ("/mesh/virtualRouters/0", "listener"),
        ("/mesh/virtualRouters/0/routes/0", "weights"),
        ("/mesh/virtualRouters/0/routes/0/targets/0", "node"),
        ("/mesh/virtualServices/0", "providers"),
        ("/blueGreen", "stateName"),
    ];
    let cases = sc_cases
        .map(|c| (serviceconnect(), c))
        .into_iter()
        .chain(mesh_cases.map(|c| (bluegreen(), c)));
    for (base, (pointer, field)) in cases {
        let message = with_unknown_field(base, pointer, field);
        assert!(
            message.contains(&format!("unknown field `{field}`")),
            "{pointer}/{field}: {message}"
        );
    }
}

#[test]
fn missing_fields_and_bad_variants_are_serde_errors() {
    let mut value = serde_json::to_value(serviceconnect()).unwrap();
    value["services"][0].as_object_mut().unwrap().remove("cpu");
    assert!(json_error(&value).contains("missing field `cpu`"));

    let mut value = serde_json::to_value(serviceconnect()).unwrap();
    value["network"]["kind"] = json!("defaultVpc");
    assert!(json_error(&value).contains("unknown variant `defaultVpc`"));

    let mut value = serde_json::to_value(serviceconnect()).unwrap();
    value["services"][0]["port"]["appProtocol"] = json!("tcp");
    assert!(json_error(&value).contains("unknown variant `tcp`"));

    // The Display names the cause so a CLI can print it as is.
    let err = Stack::from_json("{").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("stack description is not valid JSON for the model: EOF"),
        "{err}"
    );
}

#[test]
fn json_with_problems_reports_validation_errors() {
    let mut value = serde_json::to_value(serviceconnect()).unwrap();
    value["network"]["cidr"] = json!("10.0.0.0/8");
    value["services"][1]["port"]["name"] = json!("HTTP");
    value["services"][1]["backends"] = json!(["purple"]);
    let errors = match load(&value) {
        Err(LoadError::Invalid(errors)) => errors,
        other => panic!("expected validation errors, got {other:?}"),
    };
    let pairs: Vec<(&str, &str)> = errors
        .0
        .iter()
        .map(|e| (e.path.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            (
                "network.cidr",
                "VPC CIDR `10.0.0.0/8` must have a prefix length of 16 to 28"
            ),
            (
                "services[1].port.name",
                "`HTTP` is not a valid Service Connect name: use 1-64 lowercase letters, digits, hyphens and underscores, not starting with a hyphen"
            ),
            (
                "services[1].backends[0]",
                "backend `purple` is not a service in this stack"
            ),
        ]
    );
    // `LoadError::Invalid` prints the same report as `ValidationErrors`.
    assert_eq!(
        Stack::from_json(&value.to_string())
            .unwrap_err()
            .to_string(),
        errors.to_string()
    );
}

/// The located JSON error for `text`; panics if it loaded or failed validation instead.
fn located(text: &str) -> JsonError {
    match Stack::from_json(text) {
        Err(LoadError::Json(e)) => e,
        Ok(_) => panic!("expected a JSON error, but it loaded"),
        Err(e) => panic!("expected a JSON error, got {e}"),
    }
}

/// `(path, message)` of the JSON error after `edit` on `base`'s JSON form.
fn path_and_message(base: StackSpec, edit: impl FnOnce(&mut Value)) -> (String, String) {
    let mut value = serde_json::to_value(base).unwrap();
    edit(&mut value);
    let e = located(&serde_json::to_string_pretty(&value).unwrap());
    (e.path, e.message)
}

#[track_caller]
fn check_json(base: StackSpec, edit: impl FnOnce(&mut Value), path: &str, message: &str) {
    assert_eq!(
        path_and_message(base, edit),
        (path.to_owned(), message.to_owned())
    );
}

#[test]
fn type_errors_name_the_field() {
    check_json(
        serviceconnect(),
        |v| v["services"][0]["cpu"] = json!("256"),
        "services[0].cpu",
        r#"invalid type: string "256", expected u32"#,
    );
    check_json(
        serviceconnect(),
        |v| v["services"][1]["port"]["appProtocol"] = json!("tcp"),
        "services[1].port.appProtocol",
        "unknown variant `tcp`, expected one of `http`, `http2`, `grpc`",
    );
    check_json(
        rollout(),
        |v| v["services"][1]["deployment"]["linear"]["stepPercent"] = json!(33.33),
        "services[1].deployment.linear.stepPercent",
        "33.33 is not a percentage on the 0.1 grid (e.g. 20 or 33.3)",
    );
    // The Display leads with the path and ends with the position, for a CLI to print as is.
    let text = serde_json::to_string(&serviceconnect())
        .unwrap()
        .replace(r#""cpu":256"#, r#""cpu":"256""#);
    let e = located(&text);
    let column = text.find(r#""256""#).unwrap() + 5;
    assert_eq!(
        e.to_string(),
        format!(
            r#"services[0].cpu: invalid type: string "256", expected u32 (line 1 column {column})"#
        )
    );
}

#[test]
fn integers_are_shown_as_written() {
    let text = serde_json::to_string_pretty(&serviceconnect()).unwrap();
    for big in ["99999999999999999999", "-99999999999999999999"] {
        let e = located(&text.replacen(r#""cpu": 256"#, &format!(r#""cpu": {big}"#), 1));
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            (
                "services[0].cpu",
                format!("invalid value: integer `{big}`, expected u32").as_str()
            )
        );
    }
    // Within u64 serde already shows the integer.
    let e = located(&text.replacen(r#""cpu": 256"#, r#""cpu": 4294967296"#, 1));
    assert_eq!(
        e.message,
        "invalid value: integer `4294967296`, expected u32"
    );
}

#[test]
fn providers_say_what_they_expect() {
    check_json(
        appmesh(),
        |v| v["mesh"]["virtualServices"][0]["provider"] = json!({}),
        "mesh.virtualServices[0].provider",
        r#"a provider needs one of `virtualNode` or `virtualRouter`, e.g. {"virtualNode": "blue"}"#,
    );
    check_json(
        appmesh(),
        |v| {
            v["mesh"]["virtualServices"][2]["provider"] =
                json!({ "virtualNode": "blue", "virtualRouter": "router" })
        },
        "mesh.virtualServices[2].provider",
        "a provider is either `virtualNode` or `virtualRouter`, not both: keep one",
    );
    check_json(
        appmesh(),
        |v| v["mesh"]["virtualServices"][0]["provider"] = json!({ "virtualGateway": "g" }),
        "mesh.virtualServices[0].provider.virtualGateway",
        "unknown field `virtualGateway`, expected `virtualNode` or `virtualRouter`",
    );
}

#[test]
fn hostile_text_in_json_errors_is_cut_and_escaped() {
    let kind = format!("{}\u{1b}]0;owned\u{7}", "k".repeat(1_000_000));
    let (path, message) =
        path_and_message(serviceconnect(), |v| v["network"]["kind"] = json!(kind));
    assert_eq!(path, "network.kind");
    assert_eq!(
        message,
        format!(
            "unknown variant `{}…`, expected `newVpc` or `existingVpc`",
            "k".repeat(80)
        )
    );
    let (_, message) = path_and_message(serviceconnect(), |v| {
        v["services"][0]["cpu"] = json!("\u{1b}[2J\u{0}")
    });
    assert_eq!(
        message,
        r#"invalid type: string "\u{1b}[2J\0", expected u32"#
    );
}

#[test]
fn text_that_is_not_one_json_document() {
    let e = located("{");
    assert_eq!((e.path.as_str(), e.line, e.column), ("", 1, 1));
    assert_eq!(
        e.to_string(),
        "EOF while parsing an object (line 1 column 1)"
    );
    let text = format!("{} x", serde_json::to_string(&serviceconnect()).unwrap());
    let e = located(&text);
    assert_eq!(
        (e.path.as_str(), e.message.as_str()),
        ("", "trailing characters")
    );
}

#[test]
fn stack_spec_from_json_parses_without_validating() {
    let mut spec = serviceconnect();
    spec.services.clear();
    let text = serde_json::to_string(&spec).unwrap();
    assert_eq!(StackSpec::from_json(&text), Ok(spec));
}
