"""Everything an environment owns, read with the test's own clients (never the tool's state)."""
from __future__ import annotations


def _tags(resource: dict) -> dict:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def _owned(resources: list[dict], env: str) -> list[dict]:
    return [
        r for r in resources
        if _tags(r).get("Environment") == env and _tags(r).get("ManagedBy") == "video-pipeline-infra"
    ]


def network_inventory(ec2, env: str) -> dict[str, list[dict]]:
    nats = [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] not in ("deleted", "deleting", "failed")]
    return {
        "vpc": _owned(ec2.describe_vpcs()["Vpcs"], env),
        "subnet": _owned(ec2.describe_subnets()["Subnets"], env),
        "internet_gateway": _owned(ec2.describe_internet_gateways()["InternetGateways"], env),
        "elastic_ip": _owned(ec2.describe_addresses()["Addresses"], env),
        "nat_gateway": _owned(nats, env),
        "route_table": _owned(ec2.describe_route_tables()["RouteTables"], env),
    }


def counts(inventory: dict[str, list]) -> dict[str, int]:
    return {kind: len(items) for kind, items in inventory.items()}
