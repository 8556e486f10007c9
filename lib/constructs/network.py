"""Network: a private-only VPC for the fraud-detection Lambda.

No internet gateway and no NAT: the function reaches DynamoDB through a gateway endpoint (free)
and every other AWS API its code calls through interface endpoints with private DNS. Its security
group allows HTTPS out to exactly those two destinations and nothing in.
"""
from __future__ import annotations

import ipaddress

from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import (
    VpcSecurityGroupIngressRule,
)
from constructs import Construct

from lib.config import StackConfig

HTTPS = 443


def private_subnet_cidrs(vpc_cidr: str, count: int) -> list[str]:
    """The first `count` subnets, 16 per VPC (a /16 gives /20s: plenty of ENI addresses)."""
    network = ipaddress.ip_network(vpc_cidr)
    subnets = network.subnets(new_prefix=network.prefixlen + 4)
    return [str(next(subnets)) for _ in range(count)]


class Network(Construct):
    def __init__(self, scope: Construct, id_: str, *, config: StackConfig) -> None:
        super().__init__(scope, id_)
        self.vpc = Vpc(
            self,
            "vpc",
            cidr_block=config.vpc_cidr,
            enable_dns_support=True,  # both needed for private DNS on interface endpoints
            enable_dns_hostnames=True,
            tags={"Name": config.name("fraud-vpc")},
        )
        # The default security group would otherwise allow all traffic between its members.
        DefaultSecurityGroup(
            self, "default-sg", vpc_id=self.vpc.id, tags={"Name": config.name("fraud-vpc-default")}
        )

        route_table = RouteTable(
            self, "private-routes", vpc_id=self.vpc.id, tags={"Name": config.name("fraud-private")}
        )
        self.subnets: list[Subnet] = []
        # Zones are named in config, so the set never grows when AWS adds a zone to the region.
        zones = config.zones
        cidrs = private_subnet_cidrs(config.vpc_cidr, len(zones))
        for index, (zone, cidr) in enumerate(zip(zones, cidrs)):
            subnet = Subnet(
                self,
                f"private-{index}",
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": config.name(f"fraud-private-{index + 1}")},
            )
            RouteTableAssociation(
                self, f"private-{index}-routes", subnet_id=subnet.id, route_table_id=route_table.id
            )
            self.subnets.append(subnet)

        self.function_security_group = SecurityGroup(
            self,
            "function-sg",
            name=config.name("fraud-detection-lambda"),
            description="Fraud detection Lambda: HTTPS out to VPC endpoints only",
            vpc_id=self.vpc.id,
            tags={"Name": config.name("fraud-detection-lambda")},
        )
        endpoint_security_group = SecurityGroup(
            self,
            "endpoint-sg",
            name=config.name("fraud-vpc-endpoints"),
            description="Interface endpoints: HTTPS in from the fraud detection Lambda",
            vpc_id=self.vpc.id,
            tags={"Name": config.name("fraud-vpc-endpoints")},
        )

        self.dynamodb_endpoint = VpcEndpoint(
            self,
            "dynamodb-endpoint",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{config.region}.dynamodb",
            vpc_endpoint_type="Gateway",
            route_table_ids=[route_table.id],
            tags={"Name": config.name("fraud-dynamodb-endpoint")},
        )
        self.interface_endpoints: dict[str, VpcEndpoint] = {}
        for service in config.interface_endpoint_services:
            self.interface_endpoints[service] = VpcEndpoint(
                self,
                f"{service}-endpoint",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{config.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[subnet.id for subnet in self.subnets],
                security_group_ids=[endpoint_security_group.id],
                tags={"Name": config.name(f"fraud-{service}-endpoint")},
            )

        # Separate rule resources: the two groups reference each other without a cycle.
        VpcSecurityGroupEgressRule(
            self,
            "function-to-endpoints",
            security_group_id=self.function_security_group.id,
            referenced_security_group_id=endpoint_security_group.id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            description="HTTPS to the interface endpoints",
        )
        VpcSecurityGroupEgressRule(
            self,
            "function-to-dynamodb",
            security_group_id=self.function_security_group.id,
            prefix_list_id=self.dynamodb_endpoint.prefix_list_id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            description="HTTPS to DynamoDB through the gateway endpoint",
        )
        VpcSecurityGroupIngressRule(
            self,
            "endpoints-from-function",
            security_group_id=endpoint_security_group.id,
            referenced_security_group_id=self.function_security_group.id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            description="HTTPS from the fraud detection Lambda",
        )

    @property
    def subnet_ids(self) -> list[str]:
        return [subnet.id for subnet in self.subnets]
