"""VPC: private subnets in two zones, no NAT, endpoints, and a security group allowing HTTPS out only."""
from __future__ import annotations

import ipaddress

from stack_helpers import CONFIG, Stack


def test_vpc_has_dns_support_and_hostnames(stack: Stack) -> None:
    (vpc,) = stack.of_type("aws_vpc").values()
    assert vpc["cidr_block"] == CONFIG.vpc_cidr
    assert vpc["enable_dns_support"] is True
    assert vpc["enable_dns_hostnames"] is True


def test_private_subnets_in_two_zones(stack: Stack) -> None:
    subnets = list(stack.of_type("aws_subnet").values())
    assert len(subnets) == 2
    assert sorted(s["availability_zone"] for s in subnets) == ["us-east-1a", "us-east-1b"]
    assert all(s["map_public_ip_on_launch"] is False for s in subnets)
    vpc = ipaddress.ip_network(CONFIG.vpc_cidr)
    networks = [ipaddress.ip_network(s["cidr_block"]) for s in subnets]
    assert all(n.subnet_of(vpc) for n in networks)
    assert not networks[0].overlaps(networks[1])


def test_no_internet_path(stack: Stack) -> None:
    for resource_type in ("aws_nat_gateway", "aws_internet_gateway", "aws_eip", "aws_route"):
        assert not stack.of_type(resource_type), resource_type
    (route_table,) = stack.of_type("aws_route_table").values()
    assert not route_table.get("route")


def test_default_security_group_is_locked_down(stack: Stack) -> None:
    (default_sg,) = stack.of_type("aws_default_security_group").values()
    assert not default_sg.get("ingress") and not default_sg.get("egress")


def test_gateway_endpoint_for_dynamodb(stack: Stack) -> None:
    endpoint = stack.body("aws_vpc_endpoint", vpc_endpoint_type="Gateway")
    assert endpoint["service_name"] == f"com.amazonaws.{CONFIG.region}.dynamodb"
    (route_table_logical,) = stack.of_type("aws_route_table")
    assert endpoint["route_table_ids"] == [f"${{aws_route_table.{route_table_logical}.id}}"]


def test_interface_endpoints_with_private_dns_for_detection_apis(stack: Stack) -> None:
    interfaces = [
        body for body in stack.of_type("aws_vpc_endpoint").values()
        if body["vpc_endpoint_type"] == "Interface"
    ]
    # CONTRACTS.md: detection calls DynamoDB (gateway endpoint) and SQS, nothing else.
    assert sorted(b["service_name"] for b in interfaces) == [f"com.amazonaws.{CONFIG.region}.sqs"]
    for body in interfaces:
        assert body["private_dns_enabled"] is True
        assert len(body["subnet_ids"]) == 2


def test_function_security_group_allows_only_https_out_to_endpoints(stack: Stack) -> None:
    function_sg = stack.ref("aws_security_group", "id", name="fraud-detection-lambda-unittest")
    endpoint_sg = stack.ref("aws_security_group", "id", name="fraud-vpc-endpoints-unittest")
    gateway_logical, _ = stack.find("aws_vpc_endpoint", vpc_endpoint_type="Gateway")

    for body in stack.of_type("aws_security_group").values():
        assert not body.get("ingress") and not body.get("egress"), "rules are separate resources"

    egress = [b for b in stack.of_type("aws_vpc_security_group_egress_rule").values()]
    assert all(rule["security_group_id"] == function_sg for rule in egress)
    assert all(
        (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == ("tcp", 443, 443)
        for rule in egress
    )
    destinations = {rule.get("referenced_security_group_id") or rule.get("prefix_list_id") for rule in egress}
    assert destinations == {endpoint_sg, f"${{aws_vpc_endpoint.{gateway_logical}.prefix_list_id}}"}
    assert not any("cidr_ipv4" in rule or "cidr_ipv6" in rule for rule in egress)

    (ingress,) = stack.of_type("aws_vpc_security_group_ingress_rule").values()
    assert ingress["security_group_id"] == endpoint_sg
    assert ingress["referenced_security_group_id"] == function_sg
    assert (ingress["from_port"], ingress["to_port"]) == (443, 443)


def test_only_detection_runs_in_the_vpc(stack: Stack) -> None:
    function_sg = stack.ref("aws_security_group", "id", name="fraud-detection-lambda-unittest")
    subnet_ids = sorted(f"${{aws_subnet.{logical}.id}}" for logical in stack.of_type("aws_subnet"))
    in_vpc = {
        body["function_name"]: body["vpc_config"]
        for body in stack.of_type("aws_lambda_function").values()
        if body.get("vpc_config")
    }
    assert list(in_vpc) == ["fraud-detection-unittest"]
    vpc_config = in_vpc["fraud-detection-unittest"]
    assert sorted(vpc_config["subnet_ids"]) == subnet_ids
    assert vpc_config["security_group_ids"] == [function_sg]
