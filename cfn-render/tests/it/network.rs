//! Network variants the model allows beyond the default: private subnets with NAT, existing VPCs

use model::{NetworkSpec, examples};
use serde_json::json;

use crate::{ids_of_type, json as to_json, render};

fn check(
    network: NetworkSpec,
    expected_subnets: &[&str],
    expected_nats: &[&str],
    public_ip: &str,
) -> serde_json::Value {
    let mut spec = examples::appmesh("appmesh");
    spec.network = network;
    let template = render(spec);
    assert_eq!(ids_of_type(&template, "AWS::EC2::Subnet"), expected_subnets);
    assert_eq!(
        ids_of_type(&template, "AWS::EC2::NatGateway"),
        expected_nats
    );
    let t = to_json(&template);
    assert_eq!(
        t["Resources"]["BlueService"]["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
            ["AssignPublicIp"],
        public_ip
    );
    t
}

#[test]
fn private_subnets_route_through_nat_and_keep_the_load_balancer_public() {
    let t = check(
        NetworkSpec::NewVpc {
            cidr: "10.1.0.0/16".into(),
            az_count: 2,
            private_subnets: true,
            nat_gateways: 1,
        },
        &[
            "PrivateSubnet1",
            "PrivateSubnet2",
            "PublicSubnet1",
            "PublicSubnet2",
        ],
        &["NatGateway1"],
        "DISABLED",
    );
    let r = &t["Resources"];
    assert_eq!(
        r["BlueService"]["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"],
        json!([{"Ref": "PrivateSubnet1"}, {"Ref": "PrivateSubnet2"}])
    );
    assert_eq!(
        r["VirtualGatewayLoadBalancer"]["Properties"]["Subnets"],
        json!([{"Ref": "PublicSubnet1"}, {"Ref": "PublicSubnet2"}])
    );
    // Both private subnets share the single NAT gateway.
    for i in [1, 2] {
        assert_eq!(
            r[format!("PrivateSubnet{i}DefaultRoute")]["Properties"]["NatGatewayId"],
            json!({"Ref": "NatGateway1"})
        );
    }
    assert_eq!(
        r["PrivateSubnet2"]["Properties"]["CidrBlock"],
        "10.1.192.0/18"
    );
}

#[test]
fn existing_vpc_uses_the_given_ids() {
    let t = check(
        NetworkSpec::ExistingVpc {
            vpc_id: "vpc-0123456789abcdef0".into(),
            subnet_ids: vec!["subnet-11111111".into(), "subnet-22222222".into()],
            assign_public_ip: true,
        },
        &[],
        &[],
        "ENABLED",
    );
    let r = &t["Resources"];
    assert!(r.get("Vpc").is_none());
    assert_eq!(
        r["TaskSecurityGroup"]["Properties"]["VpcId"],
        "vpc-0123456789abcdef0"
    );
    assert_eq!(r["Namespace"]["Properties"]["Vpc"], "vpc-0123456789abcdef0");
    assert_eq!(
        r["VirtualGatewayLoadBalancer"]["Properties"]["Subnets"],
        json!(["subnet-11111111", "subnet-22222222"])
    );
    assert!(r["BlueService"].get("DependsOn").is_none());
}
