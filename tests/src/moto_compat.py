# Starts moto's server (the same `main` the moto_server script runs) after two small patches to
# moto's CloudFormation emulation, so meshtest's real templates deploy on it. Both patches only
# touch what moto gets wrong; everything else is moto as installed.
#
# 1. moto's AWS::ElasticLoadBalancingV2::LoadBalancer ignores `Type`, so every load balancer is
#    an application load balancer and a network load balancer's TCP listener is refused.
# 2. moto's CloudFormation cannot delete AWS::EC2::RouteTable, Route, SubnetRouteTableAssociation,
#    VPCGatewayAttachment or InternetGateway, so deleting any stack with a VPC fails with
#    DependencyViolation. Here deleting a stack's VPC first removes those leftovers from it,
#    which is what CloudFormation itself would have done earlier in the delete.
import sys

from moto.elbv2 import models as elbv2_models

def _create_load_balancer_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    backend = elbv2_models.elbv2_backends[account_id][region_name]
    return backend.create_load_balancer(
        resource_name,
        properties.get("SecurityGroups"),
        properties.get("Subnets"),
        scheme=properties.get("Scheme", "internet-facing"),
        loadbalancer_type=properties.get("Type", "application"),
    )


elbv2_models.FakeLoadBalancer.create_from_cloudformation_json = classmethod(
    _create_load_balancer_from_cfn
)

from moto.ec2.models import vpcs as ec2_vpcs  # noqa: E402

_delete_vpc_from_cfn = ec2_vpcs.VPC.delete_from_cloudformation_json.__func__


def _delete_vpc_with_leftovers(cls, resource_name, cloudformation_json, account_id, region_name):
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account_id][region_name]
    for gateway in list(backend.internet_gateways.values()):
        if gateway.vpc is not None and gateway.vpc.id == resource_name:
            backend.detach_internet_gateway(gateway.id, resource_name)
            backend.delete_internet_gateway(gateway.id)
    for table in list(backend.route_tables.values()):
        if table.vpc_id == resource_name and table.main_association_id is None:
            for association_id in list(table._associations):
                backend.disassociate_route_table(association_id)
            backend.delete_route_table(table.id)
    return _delete_vpc_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name)


ec2_vpcs.VPC.delete_from_cloudformation_json = classmethod(_delete_vpc_with_leftovers)

from moto.server import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
