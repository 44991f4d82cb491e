"""A create whose first attempt reached AWS but whose answer was lost, on moto.

The lost answer is real, not mocked around the tool: a ``before-send`` hook on the tool's own
client lets moto execute the first attempt, then drops its answer with the connection error
botocore retries (ConnectionClosedError). botocore's standard mode sends the call again, and
moto either makes a second resource (APIs without an idempotency token) or answers with its
duplicate error. Resources are read back with the test's own clients.
"""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ConnectionClosedError
from botocore.retries import standard

from tests.resources.network import nodes
from tests.support.memory_state import MemoryState
from tests.support.stack import converge

REGION = "us-east-1"


class LoseFirstAnswer:
    """Let the first attempt of one operation execute, then lose its answer."""

    def __init__(self, aws, service: str, operation: str):
        self.sent = 0
        client = aws.client(service)
        self.event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
        # On the generic event and last: botocore calls handlers of a more specific event name
        # first, and moto's own before-send handler (generic) must execute the request first.
        client.meta.events.register_last("before-send", self)

    def __call__(self, request, event_name, **_kwargs):
        if event_name != self.event:
            return None
        self.sent += 1
        if self.sent == 1:
            raise ConnectionClosedError(endpoint_url=request.url)
        return None


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch):
    # botocore's backoff between attempts would sleep on wall time.
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


def _ids(service: str, name: str) -> list[str]:
    """Every live resource named ``name``, read with the test's own client."""
    by_name = [{"Name": "tag:Name", "Values": [name]}]
    if service == "vpc":
        return [v["VpcId"] for v in boto3.client("ec2", region_name=REGION).describe_vpcs(Filters=by_name)["Vpcs"]]
    if service == "eip":
        found = boto3.client("ec2", region_name=REGION).describe_addresses(Filters=by_name)["Addresses"]
        return [a["AllocationId"] for a in found]
    if service == "sg":
        found = boto3.client("ec2", region_name=REGION).describe_security_groups(Filters=by_name)["SecurityGroups"]
        return [g["GroupId"] for g in found]
    if service == "restapi":
        apis = boto3.client("apigateway", region_name=REGION).get_rest_apis()["items"]
        return [a["id"] for a in apis if a["name"] == name]
    client = boto3.client(service, region_name=REGION)
    if service == "logs":
        return [g["logGroupName"] for g in client.describe_log_groups(logGroupNamePrefix=name)["logGroups"]]
    if service == "rds":
        groups = client.describe_db_subnet_groups()["DBSubnetGroups"]
        return [g["DBSubnetGroupName"] for g in groups if g["DBSubnetGroupName"] == name]
    if service == "apigateway":
        return [k["id"] for k in client.get_api_keys(nameQuery=name)["items"] if k["name"] == name]
    raise AssertionError(service)


# (node, service, operation whose answer is lost, what the retry meets, read-back)
CASES = [
    ("vpc", "ec2", "CreateVpc", "a second VPC", "vpc"),
    ("eip.1", "ec2", "AllocateAddress", "a second address", "eip"),
    ("apigw.api_key", "apigateway", "CreateApiKey", "a second key", "apigateway"),
    ("apigw.rest_api", "apigateway", "CreateRestApi", "a second REST API", "restapi"),
    ("sg.nlb", "ec2", "CreateSecurityGroup", "InvalidGroup.Duplicate", "sg"),
    ("logs.api", "logs", "CreateLogGroup", "ResourceAlreadyExistsException", "logs"),
    ("rds.subnet_group", "rds", "CreateDBSubnetGroup", "DBSubnetGroupAlreadyExists", "rds"),
]


@pytest.mark.parametrize("key, service, operation, retry_meets, read", CASES, ids=[c[0] for c in CASES])
def test_a_lost_create_answer_leaves_exactly_one_resource(aws, clock, key, service, operation, retry_meets, read):
    lost = LoseFirstAnswer(aws, service, operation)
    state = MemoryState()
    run = converge(aws, state, nodes=nodes(key), clock=clock)
    assert lost.sent == 2, "the create must have been sent twice (first answer lost, then retried)"
    result = next(r for r in run.results if r.key == key)
    live = _ids(read, result.name)
    assert live == [result.id], f"{retry_meets}: {live}"
    assert state.doc.resource(key)["id"] == result.id
    assert result.action == "create"
    if retry_meets.startswith("a second"):
        # The copy made by the attempt whose answer was lost was found by its tags and deleted.
        assert len(result.duplicates_removed) == 1 and result.duplicates_removed[0] != result.id
    else:
        # The retry was refused as a duplicate: the first attempt's resource was adopted.
        assert result.duplicates_removed == []
    # Nothing else of the run was touched by the sweep, and a second run changes nothing.
    again = converge(aws, state, nodes=nodes(key), clock=clock)
    assert {r.action for r in again.results} == {"unchanged"}
    assert _ids(read, result.name) == [result.id]
