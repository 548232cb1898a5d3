//! VPC, subnets, routes, NAT gateways and the tasks' security group with least-privilege ingress

use std::collections::BTreeSet;

use model::{NetworkSpec, Stack};

use crate::template::{Expr, Resource, Template, obj, props};
use crate::{ALLOWED_CIDR_PARAMETER, RenderError};

/// Logical id of the security group every task of the stack uses.
pub const TASK_SECURITY_GROUP: &str = "TaskSecurityGroup";

/// What the other renderers need to know about the network.
#[derive(Debug, Clone)]
pub struct NetRefs {
    pub vpc_id: Expr,
    /// Where tasks run.
    pub task_subnets: Vec<Expr>,
    /// Where an internet-facing load balancer goes.
    pub public_subnets: Vec<Expr>,
    pub assign_public_ip: bool,
    /// Default routes a task needs before it can pull its image.
    pub egress_routes: Vec<String>,
}

/// Container ports the operator CIDR may reach directly on task IPs.
pub fn public_ports(stack: &Stack) -> BTreeSet<u32> {
    stack
        .spec()
        .services
        .iter()
        .filter(|s| s.public)
        .map(|s| s.port.container_port)
        .collect()
}

fn tags(name: String) -> Expr {
    Expr::List(vec![obj([("Key", "Name".into()), ("Value", name.into())])])
}

pub fn render(
    t: &mut Template,
    stack: &Stack,
    public_ports: &BTreeSet<u32>,
) -> Result<NetRefs, RenderError> {
    let net = match &stack.spec().network {
        NetworkSpec::NewVpc { .. } => new_vpc(t, stack)?,
        NetworkSpec::ExistingVpc {
            vpc_id,
            subnet_ids,
            assign_public_ip,
        } => {
            let subnets: Vec<Expr> = subnet_ids.iter().map(|s| Expr::str(s.as_str())).collect();
            NetRefs {
                vpc_id: Expr::str(vpc_id.as_str()),
                task_subnets: subnets.clone(),
                public_subnets: subnets,
                assign_public_ip: *assign_public_ip,
                egress_routes: Vec::new(),
            }
        }
    };
    task_security_group(t, stack, &net, public_ports)?;
    Ok(net)
}

fn new_vpc(t: &mut Template, stack: &Stack) -> Result<NetRefs, RenderError> {
    let name = stack.name();
    let layout = stack
        .vpc()
        .unwrap_or_else(|| unreachable!("validated NewVpc stacks have a layout"));
    t.add(
        "Vpc",
        Resource::new(
            "AWS::EC2::VPC",
            props([
                ("CidrBlock", layout.cidr.to_string().into()),
                // Private DNS namespaces and Service Connect names need VPC DNS.
                ("EnableDnsHostnames", true.into()),
                ("EnableDnsSupport", true.into()),
                ("Tags", tags(name.to_owned())),
            ]),
        ),
    )?;
    t.add(
        "InternetGateway",
        Resource::new(
            "AWS::EC2::InternetGateway",
            props([("Tags", tags(name.to_owned()))]),
        ),
    )?;
    t.add(
        "VpcGatewayAttachment",
        Resource::new(
            "AWS::EC2::VPCGatewayAttachment",
            props([
                ("VpcId", Expr::r#ref("Vpc")),
                ("InternetGatewayId", Expr::r#ref("InternetGateway")),
            ]),
        ),
    )?;
    let mut public = Vec::new();
    let mut public_routes = Vec::new();
    for (i, cidr) in layout.public_subnets.iter().enumerate() {
        let id = format!("PublicSubnet{}", i + 1);
        let via = DefaultRoute {
            target: ("GatewayId", Expr::r#ref("InternetGateway")),
            // A route to an internet gateway fails until the gateway is attached to the VPC.
            depends_on: Some("VpcGatewayAttachment"),
        };
        let name = format!("{name}/public-{}", i + 1);
        public_routes.push(subnet(t, &id, i, &cidr.to_string(), true, name, via)?);
        public.push(Expr::r#ref(id));
    }
    if layout.private_subnets.is_empty() {
        return Ok(NetRefs {
            vpc_id: Expr::r#ref("Vpc"),
            task_subnets: public.clone(),
            public_subnets: public,
            assign_public_ip: true,
            egress_routes: public_routes,
        });
    }
    for k in 1..=layout.nat_gateways {
        t.add(
            format!("NatGateway{k}Eip"),
            Resource::new("AWS::EC2::EIP", props([("Domain", "vpc".into())]))
                .depends_on(["VpcGatewayAttachment"]),
        )?;
        t.add(
            format!("NatGateway{k}"),
            Resource::new(
                "AWS::EC2::NatGateway",
                props([
                    (
                        "AllocationId",
                        Expr::get_att(format!("NatGateway{k}Eip"), "AllocationId"),
                    ),
                    ("SubnetId", Expr::r#ref(format!("PublicSubnet{k}"))),
                    ("Tags", tags(format!("{name}/nat-{k}"))),
                ]),
            ),
        )?;
    }
    let mut private = Vec::new();
    let mut private_routes = Vec::new();
    for (i, cidr) in layout.private_subnets.iter().enumerate() {
        let id = format!("PrivateSubnet{}", i + 1);
        let nat = i as u32 % layout.nat_gateways + 1;
        let via = DefaultRoute {
            target: ("NatGatewayId", Expr::r#ref(format!("NatGateway{nat}"))),
            depends_on: None,
        };
        let name = format!("{name}/private-{}", i + 1);
        private_routes.push(subnet(t, &id, i, &cidr.to_string(), false, name, via)?);
        private.push(Expr::r#ref(id));
    }
    Ok(NetRefs {
        vpc_id: Expr::r#ref("Vpc"),
        task_subnets: private,
        public_subnets: public,
        assign_public_ip: false,
        egress_routes: private_routes,
    })
}

/// Where a subnet's `0.0.0.0/0` route goes.
struct DefaultRoute {
    target: (&'static str, Expr),
    depends_on: Option<&'static str>,
}

/// A subnet in AZ number `az`, with its own route table and default route; returns the route's
/// logical id (tasks wait for it before they can pull images).
fn subnet(
    t: &mut Template,
    id: &str,
    az: usize,
    cidr: &str,
    public: bool,
    name: String,
    via: DefaultRoute,
) -> Result<String, RenderError> {
    let az = u32::try_from(az).unwrap_or_else(|_| unreachable!("validated: at most 6 AZs"));
    t.add(
        id,
        Resource::new(
            "AWS::EC2::Subnet",
            props([
                ("VpcId", Expr::r#ref("Vpc")),
                ("CidrBlock", cidr.into()),
                (
                    "AvailabilityZone",
                    Expr::Select(az, Box::new(Expr::GetAzs(String::new()))),
                ),
                ("MapPublicIpOnLaunch", public.into()),
                ("Tags", tags(name)),
            ]),
        ),
    )?;
    t.add(
        format!("{id}RouteTable"),
        Resource::new(
            "AWS::EC2::RouteTable",
            props([("VpcId", Expr::r#ref("Vpc"))]),
        ),
    )?;
    t.add(
        format!("{id}RouteTableAssociation"),
        Resource::new(
            "AWS::EC2::SubnetRouteTableAssociation",
            props([
                ("RouteTableId", Expr::r#ref(format!("{id}RouteTable"))),
                ("SubnetId", Expr::r#ref(id)),
            ]),
        ),
    )?;
    let route = format!("{id}DefaultRoute");
    t.add(
        &route,
        Resource::new(
            "AWS::EC2::Route",
            props([
                ("RouteTableId", Expr::r#ref(format!("{id}RouteTable"))),
                ("DestinationCidrBlock", "0.0.0.0/0".into()),
                via.target,
            ]),
        )
        .depends_on(via.depends_on),
    )?;
    Ok(route)
}

/// One ingress rule into `group` on one TCP port.
pub fn ingress(
    t: &mut Template,
    id: &str,
    group: &str,
    port: u32,
    source: (&str, Expr),
    description: &str,
) -> Result<(), RenderError> {
    t.add(
        id,
        Resource::new(
            "AWS::EC2::SecurityGroupIngress",
            props([
                ("GroupId", Expr::get_att(group, "GroupId")),
                ("IpProtocol", "tcp".into()),
                ("FromPort", port.into()),
                ("ToPort", port.into()),
                (source.0, source.1),
                ("Description", description.into()),
            ]),
        ),
    )
}

/// The tasks' security group: the operator CIDR reaches only public service ports, and tasks
/// reach each other only on service ports. Outbound stays open for image pulls and AWS APIs.
fn task_security_group(
    t: &mut Template,
    stack: &Stack,
    net: &NetRefs,
    public_ports: &BTreeSet<u32>,
) -> Result<(), RenderError> {
    t.add(
        TASK_SECURITY_GROUP,
        Resource::new(
            "AWS::EC2::SecurityGroup",
            props([
                (
                    "GroupDescription",
                    format!("meshtest {}: tasks", stack.name()).into(),
                ),
                ("VpcId", net.vpc_id.clone()),
                (
                    "SecurityGroupEgress",
                    Expr::List(vec![obj([
                        ("IpProtocol", "-1".into()),
                        ("CidrIp", "0.0.0.0/0".into()),
                        (
                            "Description",
                            "outbound: image pulls, AWS APIs, mesh peers".into(),
                        ),
                    ])]),
                ),
            ]),
        ),
    )?;
    for port in public_ports {
        ingress(
            t,
            &format!("{TASK_SECURITY_GROUP}FromAllowedCidrPort{port}"),
            TASK_SECURITY_GROUP,
            *port,
            ("CidrIp", Expr::r#ref(ALLOWED_CIDR_PARAMETER)),
            "operator CIDR to a public service port",
        )?;
    }
    let service_ports: BTreeSet<u32> = stack
        .spec()
        .services
        .iter()
        .map(|s| s.port.container_port)
        .collect();
    for port in service_ports {
        ingress(
            t,
            &format!("{TASK_SECURITY_GROUP}FromSelfPort{port}"),
            TASK_SECURITY_GROUP,
            port,
            (
                "SourceSecurityGroupId",
                Expr::get_att(TASK_SECURITY_GROUP, "GroupId"),
            ),
            "tasks of this stack to a service port",
        )?;
    }
    Ok(())
}
