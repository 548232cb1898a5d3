//! Network rules: the new VPC's CIDR, AZs and NAT gateways, and an existing VPC's ids.

use model::{NetworkSpec, Stack};

use crate::{check, serviceconnect};

fn new_vpc(cidr: &str, az_count: u32, private_subnets: bool, nat_gateways: u32) -> NetworkSpec {
    NetworkSpec::NewVpc {
        cidr: cidr.to_owned(),
        az_count,
        private_subnets,
        nat_gateways,
    }
}

fn existing_vpc(vpc_id: &str, subnet_ids: &[&str]) -> NetworkSpec {
    NetworkSpec::ExistingVpc {
        vpc_id: vpc_id.to_owned(),
        subnet_ids: subnet_ids.iter().map(|s| (*s).to_owned()).collect(),
        assign_public_ip: true,
    }
}

#[test]
fn cidr_without_slash() {
    check(
        |s| s.network = new_vpc("10.0.0.0", 2, false, 0),
        &[(
            "network.cidr",
            "`10.0.0.0` is not a CIDR block: expected a.b.c.d/n",
        )],
    );
}

#[test]
fn cidr_with_bad_address() {
    check(
        |s| s.network = new_vpc("10.0.0.300/16", 2, false, 0),
        &[(
            "network.cidr",
            "`10.0.0.300/16` is not a CIDR block: `10.0.0.300` is not an IPv4 address",
        )],
    );
    check(
        |s| s.network = new_vpc("10.0/16", 2, false, 0),
        &[(
            "network.cidr",
            "`10.0/16` is not a CIDR block: `10.0` is not an IPv4 address",
        )],
    );
}

#[test]
fn cidr_with_bad_prefix_length() {
    for cidr in ["10.0.0.0/33", "10.0.0.0/x", "10.0.0.0/"] {
        let message = format!("`{cidr}` is not a CIDR block: prefix length must be 0 to 32");
        check(
            |s| s.network = new_vpc(cidr, 2, false, 0),
            &[("network.cidr", &message)],
        );
    }
}

#[test]
fn cidr_with_host_bits_set() {
    check(
        |s| s.network = new_vpc("10.0.1.0/16", 2, false, 0),
        &[(
            "network.cidr",
            "`10.0.1.0/16` has host bits set: did you mean `10.0.0.0/16`?",
        )],
    );
}

#[test]
fn vpc_prefix_outside_16_to_28() {
    for cidr in ["10.0.0.0/8", "10.0.0.0/15", "10.0.0.0/29"] {
        let message = format!("VPC CIDR `{cidr}` must have a prefix length of 16 to 28");
        check(
            |s| s.network = new_vpc(cidr, 2, false, 0),
            &[("network.cidr", &message)],
        );
    }
    // The bounds themselves are allowed (a /28 holds one /28 subnet).
    check(|s| s.network = new_vpc("10.0.0.0/16", 2, false, 0), &[]);
    check(|s| s.network = new_vpc("10.0.0.0/28", 1, false, 0), &[]);
}

#[test]
fn vpc_too_small_for_its_subnets() {
    check(
        |s| s.network = new_vpc("10.0.0.0/28", 2, false, 0),
        &[(
            "network.cidr",
            "VPC CIDR `10.0.0.0/28` is too small for 2 subnets of at least /28",
        )],
    );
    // Private subnets double the count: 4 subnets of a /27 would be /29s.
    check(
        |s| s.network = new_vpc("10.0.0.0/27", 2, true, 1),
        &[(
            "network.cidr",
            "VPC CIDR `10.0.0.0/27` is too small for 4 subnets of at least /28",
        )],
    );
}

#[test]
fn az_count_out_of_range() {
    for az_count in [0, 7] {
        let message = format!("azCount {az_count} is out of range 1-6");
        check(
            |s| s.network = new_vpc("10.0.0.0/16", az_count, false, 0),
            &[("network.azCount", &message)],
        );
    }
    check(|s| s.network = new_vpc("10.0.0.0/16", 6, true, 6), &[]);
}

#[test]
fn nat_gateways_without_private_subnets() {
    check(
        |s| s.network = new_vpc("10.0.0.0/16", 2, false, 1),
        &[(
            "network.natGateways",
            "NAT gateways need private subnets: set privateSubnets or use 0",
        )],
    );
}

#[test]
fn private_subnets_without_nat_gateways() {
    check(
        |s| s.network = new_vpc("10.0.0.0/16", 2, true, 0),
        &[(
            "network.natGateways",
            "private subnets need at least one NAT gateway, or tasks cannot pull images",
        )],
    );
}

#[test]
fn more_nat_gateways_than_azs() {
    check(
        |s| s.network = new_vpc("10.0.0.0/16", 2, true, 3),
        &[(
            "network.natGateways",
            "3 NAT gateways for 2 AZs: use at most one per AZ",
        )],
    );
    check(|s| s.network = new_vpc("10.0.0.0/16", 2, true, 2), &[]);
}

#[test]
fn existing_vpc_is_accepted_without_a_layout() {
    let mut spec = serviceconnect();
    spec.network = existing_vpc(
        "vpc-0123456789abcdef0",
        &["subnet-12345678", "subnet-0123456789abcdef0"],
    );
    let stack = Stack::new(spec).expect("valid");
    assert_eq!(stack.vpc(), None);
}

#[test]
fn existing_vpc_with_bad_vpc_id() {
    for id in [
        "vpc-xyz",
        "vpc-1234567",
        "vpc-ABCDEF12",
        "subnet-12345678",
        "",
    ] {
        let message = format!("`{id}` is not a valid id: expected vpc- and 8 or 17 hex digits");
        check(
            |s| s.network = existing_vpc(id, &["subnet-12345678"]),
            &[("network.vpcId", &message)],
        );
    }
}

#[test]
fn existing_vpc_with_bad_subnet_id() {
    check(
        |s| {
            s.network = existing_vpc(
                "vpc-12345678",
                &["subnet-12345678", "sub-12345678", "subnet-1234567g"],
            )
        },
        &[
            (
                "network.subnetIds[1]",
                "`sub-12345678` is not a valid id: expected subnet- and 8 or 17 hex digits",
            ),
            (
                "network.subnetIds[2]",
                "`subnet-1234567g` is not a valid id: expected subnet- and 8 or 17 hex digits",
            ),
        ],
    );
}

#[test]
fn existing_vpc_without_subnets() {
    check(
        |s| s.network = existing_vpc("vpc-12345678", &[]),
        &[(
            "network.subnetIds",
            "an existing VPC needs at least one subnet id",
        )],
    );
}

#[test]
fn existing_vpc_with_duplicate_subnet_ids() {
    check(
        |s| {
            s.network = existing_vpc(
                "vpc-12345678",
                &["subnet-12345678", "subnet-87654321", "subnet-12345678"],
            )
        },
        &[(
            "network.subnetIds[2]",
            "duplicate subnet id `subnet-12345678`",
        )],
    );
}
