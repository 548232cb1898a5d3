//! The network: a VPC the stack creates (CIDR, AZs, private subnets and NAT gateways, split
//! into its subnet layout) or an existing VPC and its subnets

use super::validator::Validator;
use crate::cidr::Ipv4Cidr;
use crate::rules;
use crate::spec::*;

/// Subnets of a VPC the stack creates, computed once during validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcLayout {
    pub cidr: Ipv4Cidr,
    /// One per AZ, in AZ order.
    pub public_subnets: Vec<Ipv4Cidr>,
    /// One per AZ when private subnets were asked for, else empty.
    pub private_subnets: Vec<Ipv4Cidr>,
    pub nat_gateways: u32,
}

impl Validator {
    pub(super) fn network(&mut self, n: &NetworkSpec) -> Option<VpcLayout> {
        match n {
            NetworkSpec::NewVpc {
                cidr,
                az_count,
                private_subnets,
                nat_gateways,
            } => self.new_vpc(cidr, *az_count, *private_subnets, *nat_gateways),
            NetworkSpec::ExistingVpc {
                vpc_id, subnet_ids, ..
            } => {
                self.existing_vpc(vpc_id, subnet_ids);
                None
            }
        }
    }

    /// The subnets of a VPC the stack creates, when its CIDR, AZ count and NAT gateways agree.
    fn new_vpc(
        &mut self,
        cidr: &str,
        az_count: u32,
        private_subnets: bool,
        nat_gateways: u32,
    ) -> Option<VpcLayout> {
        let parsed = self.vpc_cidr(cidr);
        let azs_ok = (1..=6).contains(&az_count);
        if !azs_ok {
            self.err(
                "network.azCount",
                format!("azCount {az_count} is out of range 1-6"),
            );
        }
        let nats_ok = self.nat_gateways(az_count, private_subnets, nat_gateways);
        let cidr = parsed?;
        if !azs_ok || !nats_ok {
            return None;
        }
        let count = az_count * if private_subnets { 2 } else { 1 };
        let Some(mut subnets) = cidr.split(count, 28) else {
            self.err(
                "network.cidr",
                format!("VPC CIDR `{cidr}` is too small for {count} subnets of at least /28"),
            );
            return None;
        };
        let private = subnets.split_off(az_count as usize);
        Some(VpcLayout {
            cidr,
            public_subnets: subnets,
            private_subnets: private,
            nat_gateways,
        })
    }

    fn vpc_cidr(&mut self, cidr: &str) -> Option<Ipv4Cidr> {
        match Ipv4Cidr::parse(cidr) {
            Ok(c) if !(16..=28).contains(&c.prefix()) => {
                self.err(
                    "network.cidr",
                    format!(
                        "VPC CIDR {} must have a prefix length of 16 to 28",
                        rules::quote(cidr)
                    ),
                );
                None
            }
            Ok(c) => Some(c),
            Err(m) => {
                self.err("network.cidr", m);
                None
            }
        }
    }

    /// Whether the NAT gateway count fits the private subnets and the AZs.
    fn nat_gateways(&mut self, az_count: u32, private_subnets: bool, nat_gateways: u32) -> bool {
        match (private_subnets, nat_gateways) {
            (false, 0) => true,
            (false, _) => {
                self.err(
                    "network.natGateways",
                    "NAT gateways need private subnets: set privateSubnets or use 0",
                );
                false
            }
            (true, 0) => {
                self.err(
                    "network.natGateways",
                    "private subnets need at least one NAT gateway, or tasks cannot pull images",
                );
                false
            }
            (true, n) if n > az_count => {
                self.err(
                    "network.natGateways",
                    format!("{n} NAT gateways for {az_count} AZs: use at most one per AZ"),
                );
                false
            }
            (true, _) => true,
        }
    }

    fn existing_vpc(&mut self, vpc_id: &str, subnet_ids: &[String]) {
        self.check("network.vpcId", rules::vpc_id(vpc_id));
        if subnet_ids.is_empty() {
            self.err(
                "network.subnetIds",
                "an existing VPC needs at least one subnet id",
            );
        }
        for (i, id) in subnet_ids.iter().enumerate() {
            self.check(format!("network.subnetIds[{i}]"), rules::subnet_id(id));
        }
        self.unique(
            "subnet id",
            subnet_ids
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("network.subnetIds[{i}]"), x.as_str())),
        );
    }
}
