"""Helpers shared by the network handler tests: node selection and read-backs with the test's client.

Read-backs go through the test's own boto3 client and select by our ownership tags, client-side
as well as in the filter: moto's describe_nat_gateways ignores tag filters (docs/aws-behaviours.md A-6).
"""
from __future__ import annotations

from orchestrator.config import EnvConfig
from orchestrator.stack import stack_nodes

AZS = ["us-east-1a", "us-east-1b"]
MANAGED_BY = "video-pipeline-infra"


def nodes(*keys: str):
    """The named stack nodes plus everything they depend on (refs and ``after``), in stack order."""
    every = {n.key: n for n in stack_nodes("dev", EnvConfig(), AZS)}
    wanted: set[str] = set()
    todo = list(keys)
    while todo:
        key = todo.pop()
        if key not in wanted:
            wanted.add(key)
            todo.extend(every[key].depends_on)
    return [n for n in every.values() if n.key in wanted]


def tags(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def ownership(name: str) -> dict[str, str]:
    return {"Name": name, "Environment": "dev", "ManagedBy": MANAGED_BY}


def _by_name(resources: list[dict]) -> dict[str, dict]:
    owned = [r for r in resources if tags(r).get("ManagedBy") == MANAGED_BY and tags(r).get("Environment") == "dev"]
    named = {tags(r)["Name"]: r for r in owned}
    assert len(named) == len(owned), f"two live resources share a Name: {sorted(tags(r)['Name'] for r in owned)}"
    return named


OWNED = [{"Name": "tag:ManagedBy", "Values": [MANAGED_BY]}]


def owned_vpc(ec2) -> dict:
    [vpc] = ec2.describe_vpcs(Filters=OWNED)["Vpcs"]
    return vpc


def owned_subnets(ec2) -> dict[str, dict]:
    return _by_name(ec2.describe_subnets(Filters=OWNED)["Subnets"])


def owned_internet_gateways(ec2) -> dict[str, dict]:
    return _by_name(ec2.describe_internet_gateways(Filters=OWNED)["InternetGateways"])


def owned_addresses(ec2) -> dict[str, dict]:
    return _by_name(ec2.describe_addresses(Filters=OWNED)["Addresses"])


def live_nat_gateways(ec2) -> dict[str, dict]:
    nats = ec2.describe_nat_gateways()["NatGateways"]
    return _by_name([n for n in nats if n["State"] in ("pending", "available")])


def owned_route_tables(ec2) -> dict[str, dict]:
    return _by_name(ec2.describe_route_tables(Filters=OWNED)["RouteTables"])


def recorded_id(state, key: str) -> str:
    return state.doc.resource(key)["id"]


def recorded_ids(state, keys) -> dict[str, str]:
    return {k: recorded_id(state, k) for k in keys}


def changed_fields(run) -> dict[str, set[str]]:
    """Per node key, the field names a plan would change (unchanged nodes left out)."""
    return {r.key: {d.field for d in r.changes} for r in run.results if r.action != "unchanged"}
