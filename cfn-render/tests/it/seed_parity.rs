//! Each template holds every resource SPEC §2 names for its stack, with SPEC §3's changes

use model::examples;
use serde_json::{Value, json};
use state_store::BlueGreenState;

use crate::{bluegreen, ids_of_type, json as to_json, render};

/// Asserts the value at a JSON pointer into the template.
fn check(t: &Value, pointer: &str, expected: Value) {
    assert_eq!(t.pointer(pointer), Some(&expected), "at {pointer}");
}

fn props<'a>(t: &'a Value, id: &str) -> &'a Value {
    let r = &t["Resources"][id];
    assert!(r.is_object(), "resource {id} is missing");
    &r["Properties"]
}

fn cloud_map_arn(kind: &str, id: &str) -> Value {
    json!({ "Fn::Sub": format!("arn:${{AWS::Partition}}:servicediscovery:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/${{{id}}}") })
}

fn get_att(id: &str, attr: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attr] })
}

/// Every string anywhere in the template.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// SPEC §3.2-§3.4, shared by every stack: least-privilege ingress, no NAT, retention,
/// Container Insights, image and operator CIDR as parameters.
fn check_common(template: &cfn_render::Template, expected_public_ingress: &[(&str, u64)]) {
    let t = to_json(template);
    assert!(
        ids_of_type(template, "AWS::EC2::NatGateway").is_empty(),
        "no NAT gateways by default"
    );
    assert!(ids_of_type(template, "AWS::EC2::EIP").is_empty());
    assert_eq!(
        ids_of_type(template, "AWS::EC2::Subnet"),
        ["PublicSubnet1", "PublicSubnet2"]
    );
    check(
        &t,
        "/Resources/Cluster/Properties/ClusterSettings",
        json!([{"Name": "containerInsights", "Value": "enabled"}]),
    );
    for group in ids_of_type(template, "AWS::Logs::LogGroup") {
        check(
            &t,
            &format!("/Resources/{group}/Properties/RetentionInDays"),
            json!(14),
        );
    }
    for p in ["ServiceImage", "AllowedCidr"] {
        assert!(t["Parameters"][p].is_object(), "parameter {p}");
        assert!(
            t["Parameters"][p].get("Default").is_none(),
            "parameter {p} has no default"
        );
    }
    // Ingress: each rule opens one TCP port; the operator CIDR only reaches listener ports.
    let mut from_cidr = Vec::new();
    for id in ids_of_type(template, "AWS::EC2::SecurityGroupIngress") {
        let p = props(&t, &id);
        assert_eq!(p["IpProtocol"], "tcp", "{id}");
        assert_eq!(p["FromPort"], p["ToPort"], "{id} opens one port");
        assert_ne!(p["CidrIp"], "0.0.0.0/0", "{id}");
        if p["CidrIp"] == json!({"Ref": "AllowedCidr"}) {
            from_cidr.push((
                p["GroupId"]["Fn::GetAtt"][0].as_str().unwrap().to_owned(),
                p["FromPort"].as_u64().unwrap(),
            ));
        }
    }
    let expected: Vec<(String, u64)> = expected_public_ingress
        .iter()
        .map(|(g, p)| ((*g).to_owned(), *p))
        .collect();
    assert_eq!(from_cidr, expected);
    for id in ids_of_type(template, "AWS::EC2::SecurityGroup") {
        assert!(
            props(&t, &id).get("SecurityGroupIngress").is_none(),
            "{id}: ingress only as separate rules"
        );
    }
    // No operator address is hard-coded: the only CIDRs are the VPC's own and the egress/default routes.
    let mut all = Vec::new();
    strings(&t["Resources"], &mut all);
    let cidrs: Vec<&String> = all
        .iter()
        .filter(|s| s.contains('/') && s.split('/').next().unwrap().split('.').count() == 4)
        .collect();
    for c in cidrs {
        assert!(
            c.starts_with("10.0.") || c == "0.0.0.0/0",
            "unexpected CIDR {c}"
        );
    }
}

#[test]
fn serviceconnect_matches_the_seed_with_improvements() {
    let template = render(examples::serviceconnect("serviceconnect"));
    check_common(&template, &[("TaskSecurityGroup", 80)]);
    let t = to_json(&template);
    check(
        &t,
        "/Resources/Namespace/Type",
        json!("AWS::ServiceDiscovery::HttpNamespace"),
    );
    check(
        &t,
        "/Resources/Namespace/Properties/Name",
        json!("serviceconnect"),
    );
    check(
        &t,
        "/Resources/Cluster/Properties/ClusterName",
        json!("serviceconnect"),
    );
    // SPEC §3.1: the namespace is passed by ARN, to the cluster and to every service.
    check(
        &t,
        "/Resources/Cluster/Properties/ServiceConnectDefaults",
        json!({"Namespace": cloud_map_arn("namespace", "Namespace")}),
    );
    for (colour, id) in [("blue", "Blue"), ("green", "Green")] {
        let sc = &props(&t, &format!("{id}Service"))["ServiceConnectConfiguration"];
        assert_eq!(sc["Namespace"], cloud_map_arn("namespace", "Namespace"));
        assert_eq!(
            sc["Services"],
            json!([{"PortName": "expressjs", "DiscoveryName": colour,
                    "ClientAliases": [{"Port": 80, "DnsName": format!("{colour}.serviceconnect")}]}])
        );
        assert_eq!(
            sc["LogConfiguration"]["Options"]["awslogs-group"],
            json!({"Ref": format!("{id}ServiceConnectLogGroup")})
        );
        let td = props(&t, &format!("{id}TaskDefinition"));
        assert_eq!(
            (td["Cpu"].as_str(), td["Memory"].as_str()),
            (Some("256"), Some("512"))
        );
        let app = &td["ContainerDefinitions"][0];
        assert_eq!(
            app["PortMappings"],
            json!([{"ContainerPort": 80, "Protocol": "tcp", "Name": "expressjs", "AppProtocol": "http"}])
        );
        assert_eq!(app["Image"], json!({"Ref": "ServiceImage"}));
        assert_eq!(app["LogConfiguration"]["LogDriver"], "awslogs");
        let service = props(&t, &format!("{id}Service"));
        assert_eq!(service["DesiredCount"], 1);
        assert_eq!(
            service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"],
            "ENABLED"
        );
    }
}

fn check_mesh_services(t: &Value, namespace: &str) {
    check(
        t,
        "/Resources/Namespace/Type",
        json!("AWS::ServiceDiscovery::PrivateDnsNamespace"),
    );
    check(t, "/Resources/Namespace/Properties/Name", json!(namespace));
    check(
        t,
        "/Resources/Namespace/Properties/Vpc",
        json!({"Ref": "Vpc"}),
    );
    check(
        t,
        "/Resources/Mesh/Properties/Spec/EgressFilter/Type",
        json!("DROP_ALL"),
    );
    for (colour, id, other) in [("blue", "Blue", "green"), ("green", "Green", "blue")] {
        let td = props(t, &format!("{id}TaskDefinition"));
        assert_eq!(
            td["ProxyConfiguration"],
            json!({"Type": "APPMESH", "ContainerName": "envoy", "ProxyConfigurationProperties": [
                {"Name": "AppPorts", "Value": "80"},
                {"Name": "EgressIgnoredIPs", "Value": "169.254.170.2,169.254.169.254"},
                {"Name": "IgnoredUID", "Value": "1337"},
                {"Name": "ProxyEgressPort", "Value": "15001"},
                {"Name": "ProxyIngressPort", "Value": "15000"}]})
        );
        let (app, envoy) = (
            &td["ContainerDefinitions"][0],
            &td["ContainerDefinitions"][1],
        );
        assert_eq!(
            app["DependsOn"],
            json!([{"ContainerName": "envoy", "Condition": "HEALTHY"}])
        );
        assert!(app["HealthCheck"]["Command"].is_array());
        assert_eq!(
            envoy["Image"],
            "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.24.0.0-prod"
        );
        assert_eq!(envoy["User"], "1337");
        assert_eq!(
            envoy["Ulimits"],
            json!([{"Name": "nofile", "SoftLimit": 15000, "HardLimit": 15000}])
        );
        let ports: Vec<u64> = envoy["PortMappings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["ContainerPort"].as_u64().unwrap())
            .collect();
        assert_eq!(ports, [9901, 15000, 15001]);
        assert!(
            envoy["HealthCheck"]["Command"][1]
                .as_str()
                .unwrap()
                .contains("localhost:9901")
        );
        let node_arn = json!({"Fn::Sub": format!(
            "arn:${{AWS::Partition}}:appmesh:${{AWS::Region}}:${{AWS::AccountId}}:mesh/{namespace}/virtualNode/{colour}")});
        assert_eq!(
            envoy["Environment"],
            json!([{"Name": "APPMESH_RESOURCE_ARN", "Value": node_arn}])
        );
        let discovery = props(t, &format!("{id}DiscoveryService"));
        assert_eq!(
            discovery["DnsConfig"],
            json!({"DnsRecords": [{"Type": "A", "TTL": 60}], "RoutingPolicy": "MULTIVALUE"})
        );
        assert!(discovery["HealthCheckCustomConfig"].is_object());
        assert_eq!(
            props(t, &format!("{id}Service"))["ServiceRegistries"],
            json!([{"RegistryArn": cloud_map_arn("service", &format!("{id}DiscoveryService"))}])
        );
        let node = &props(t, &format!("{id}VirtualNode"))["Spec"];
        assert_eq!(
            node["Listeners"][0]["PortMapping"],
            json!({"Port": 80, "Protocol": "http"})
        );
        assert_eq!(node["Listeners"][0]["HealthCheck"]["IntervalMillis"], 5000);
        assert_eq!(node["Listeners"][0]["HealthCheck"]["Path"], "/");
        assert_eq!(
            node["Backends"],
            json!([{"VirtualService": {"VirtualServiceName": format!("{other}.{namespace}")}}])
        );
        assert_eq!(node["Logging"]["AccessLog"]["File"]["Path"], "/dev/stdout");
        assert_eq!(
            node["ServiceDiscovery"]["AWSCloudMap"]["NamespaceName"],
            namespace
        );
        let vs = props(t, &format!("{id}{}VirtualService", capitalise(namespace)));
        assert_eq!(vs["VirtualServiceName"], format!("{colour}.{namespace}"));
        assert_eq!(
            vs["Spec"]["Provider"]["VirtualNode"]["VirtualNodeName"],
            get_att(&format!("{id}VirtualNode"), "VirtualNodeName")
        );
    }
    check(
        t,
        "/Resources/RouterVirtualRouter/Properties/VirtualRouterName",
        json!("router"),
    );
    check(
        t,
        "/Resources/RouterVirtualService/Properties/VirtualServiceName",
        json!("router"),
    );
    let gw = props(t, "VirtualGateway");
    assert_eq!(gw["VirtualGatewayName"], "virtual-gateway");
    assert_eq!(
        gw["Spec"]["Listeners"][0]["PortMapping"],
        json!({"Port": 9080, "Protocol": "http"})
    );
    assert_eq!(
        gw["Spec"]["Listeners"][0]["HealthCheck"]["IntervalMillis"],
        10000
    );
    let gw_td = props(t, "VirtualGatewayTaskDefinition");
    assert_eq!(
        gw_td["ContainerDefinitions"].as_array().unwrap().len(),
        1,
        "the gateway runs only Envoy"
    );
    let gw_arn = format!(
        "arn:${{AWS::Partition}}:appmesh:${{AWS::Region}}:${{AWS::AccountId}}:mesh/{namespace}/virtualGateway/virtual-gateway"
    );
    assert_eq!(
        gw_td["ContainerDefinitions"][0]["Environment"][0]["Value"],
        json!({"Fn::Sub": gw_arn})
    );
    let policy =
        &props(t, "VirtualGatewayTaskRole")["Policies"][0]["PolicyDocument"]["Statement"][0];
    assert_eq!(
        policy["Action"],
        json!(["appmesh:StreamAggregatedResources"])
    );
    assert_eq!(policy["Resource"], json!([{"Fn::Sub": gw_arn}]));
    let lb = props(t, "VirtualGatewayLoadBalancer");
    assert_eq!(
        (lb["Type"].as_str(), lb["Scheme"].as_str()),
        (Some("network"), Some("internet-facing"))
    );
    let listener = props(t, "VirtualGatewayListener");
    assert_eq!(
        (listener["Port"].as_u64(), listener["Protocol"].as_str()),
        (Some(80), Some("TCP"))
    );
    let tg = props(t, "VirtualGatewayTargetGroup");
    assert_eq!(
        (tg["Port"].as_u64(), tg["TargetType"].as_str()),
        (Some(9080), Some("ip"))
    );
    check(
        t,
        "/Outputs/GatewayLoadBalancerDnsName/Value",
        get_att("VirtualGatewayLoadBalancer", "DNSName"),
    );
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

fn check_split(t: &Value, route_id: &str, route_name: &str) {
    let route = props(t, route_id);
    assert_eq!(route["RouteName"], route_name);
    assert_eq!(
        route["Spec"]["HttpRoute"]["Action"]["WeightedTargets"],
        json!([{"VirtualNode": get_att("BlueVirtualNode", "VirtualNodeName"), "Weight": 50},
               {"VirtualNode": get_att("GreenVirtualNode", "VirtualNodeName"), "Weight": 50}])
    );
}

/// (route name, prefix, target virtual service logical id) of every gateway route.
fn gateway_routes(template: &cfn_render::Template) -> Vec<(String, String, String)> {
    let t = to_json(template);
    ids_of_type(template, "AWS::AppMesh::GatewayRoute")
        .iter()
        .map(|id| {
            let p = props(&t, id);
            let route = &p["Spec"]["HttpRoute"];
            (
                p["GatewayRouteName"].as_str().unwrap().to_owned(),
                route["Match"]["Prefix"].as_str().unwrap().to_owned(),
                route["Action"]["Target"]["VirtualService"]["VirtualServiceName"]["Fn::GetAtt"][0]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn appmesh_matches_the_seed_with_improvements() {
    let template = render(examples::appmesh("appmesh"));
    check_common(
        &template,
        &[
            ("TaskSecurityGroup", 80),
            ("VirtualGatewayLoadBalancerSecurityGroup", 80),
        ],
    );
    let t = to_json(&template);
    check_mesh_services(&t, "appmesh");
    check_split(&t, "RouterSplitRoute", "split");
    let routes: Vec<(String, String, String)> = gateway_routes(&template);
    let expected = [
        ("blue", "/blue", "BlueAppmeshVirtualService"),
        ("green", "/green", "GreenAppmeshVirtualService"),
        ("split", "/split", "RouterVirtualService"),
    ];
    assert_eq!(
        routes,
        expected.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
    assert!(t["Resources"].get("BlueGreenStateParameter").is_none());
}

#[test]
fn bluegreen_is_appmesh_with_one_route_and_state() {
    let template = bluegreen(&BlueGreenState::bootstrap());
    check_common(
        &template,
        &[
            ("TaskSecurityGroup", 80),
            ("VirtualGatewayLoadBalancerSecurityGroup", 80),
        ],
    );
    let t = to_json(&template);
    check_mesh_services(&t, "bluegreen");
    check_split(&t, "RouterBluegreenRoute", "bluegreen");
    assert_eq!(
        gateway_routes(&template),
        [(
            "all".to_owned(),
            "/".to_owned(),
            "RouterVirtualService".to_owned()
        )]
    );
    check(
        &t,
        "/Resources/BlueGreenStateParameter/Type",
        json!("AWS::SSM::Parameter"),
    );
}

#[test]
fn gateway_url_names_a_listener_port_other_than_80() {
    let url = |port: u32| {
        let mut spec = examples::appmesh("appmesh");
        if let Some(g) = spec.mesh.as_mut().and_then(|m| m.gateway.as_mut()) {
            g.load_balancer_port = port;
        }
        to_json(&render(spec))["Outputs"]["GatewayUrl"]["Value"].clone()
    };
    assert_eq!(
        url(80),
        json!({"Fn::Sub": "http://${VirtualGatewayLoadBalancer.DNSName}"})
    );
    assert_eq!(
        url(8080),
        json!({"Fn::Sub": "http://${VirtualGatewayLoadBalancer.DNSName}:8080"})
    );
}

#[test]
fn gateway_load_balancer_is_the_only_way_in_to_the_gateway() {
    let t = to_json(&render(examples::appmesh("appmesh")));
    let rule = props(
        &t,
        "TaskSecurityGroupFromVirtualGatewayLoadBalancerSecurityGroupPort9080",
    );
    assert_eq!(
        rule["SourceSecurityGroupId"],
        get_att("VirtualGatewayLoadBalancerSecurityGroup", "GroupId")
    );
    assert_eq!(rule["FromPort"], 9080);
    let egress = &props(&t, "VirtualGatewayLoadBalancerSecurityGroup")["SecurityGroupEgress"];
    assert_eq!(
        egress[0]["DestinationSecurityGroupId"],
        get_att("TaskSecurityGroup", "GroupId")
    );
    assert_eq!(egress[0]["FromPort"], 9080);
}

/// A service's `local` block is for the local rehearsal only: the template is the same with it.
#[test]
fn a_local_program_does_not_render() {
    let plain = render(examples::serviceconnect("serviceconnect"));
    let mut spec = examples::serviceconnect("serviceconnect");
    spec.services[1].local = Some(model::LocalSpec {
        command: vec!["python3".into(), "app.py".into()],
        working_directory: Some("svc".into()),
        environment: [("GREETING".to_owned(), "hi".to_owned())].into(),
        health_check_path: Some("/health".into()),
        stop_timeout_seconds: Some(5),
        versions: Default::default(),
    });
    assert_eq!(render(spec).to_json_pretty(), plain.to_json_pretty());
}
