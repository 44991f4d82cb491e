"""The VPC flow log's ClientToken (docs/aws-behaviours.md B-EC2-2): a create whose answer was lost is
sent again with the same token, and AWS answers the flow log the first attempt made instead of a
second one or FlowLogAlreadyExists. moto ignores the token; the fidelity layer honours it as AWS
does (sandbox/fidelity/ec2_flow_logs.py)."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from structlog.testing import capture_logs

from orchestrator.reconciler import idempotency_token
from resources.network.flow_log import FlowLog
from tests.resources.network import nodes
from tests.resources.test_lost_create_answers import LoseFirstAnswer, no_retry_sleep  # noqa: F401
from tests.support.memory_state import MemoryState
from tests.support.stack import converge

REGION = "us-east-1"
KEY = "vpc.flow_log"


def flow_logs(vpc_id: str) -> list[str]:
    found = boto3.client("ec2", region_name=REGION).describe_flow_logs(
        Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
    return [f["FlowLogId"] for f in found]


def test_a_lost_create_answer_is_answered_by_the_retry_with_the_same_flow_log(aws, clock):
    lost = LoseFirstAnswer(aws, "ec2", "CreateFlowLogs")
    state = MemoryState()
    with capture_logs() as logs:
        run = converge(aws, state, nodes=nodes(KEY), clock=clock)
    assert lost.sent == 2, "the create must have been sent twice (first answer lost, then retried)"
    result = next(r for r in run.results if r.key == KEY)
    assert result.action == "create" and flow_logs(state.doc.resource("vpc")["id"]) == [result.id]
    # The retry itself named the flow log: nothing was refused, adopted or swept away.
    assert [e["event"] for e in logs if e["event"] == "create_retry_adopted"] == []
    assert result.duplicates_removed == []
    again = converge(aws, state, nodes=nodes(KEY), clock=clock)
    assert {r.action for r in again.results} == {"unchanged"}


@pytest.fixture
def made(aws, clock):
    """The flow log's dependencies converged; its spec resolved and a token for it."""
    state = MemoryState()
    converge(aws, state, nodes=[n for n in nodes(KEY) if n.key != KEY], clock=clock)
    doc = state.doc
    node = next(n for n in nodes(KEY) if n.key == KEY)
    role = boto3.client("iam", region_name=REGION).get_role(RoleName=doc.resource("iam.flow_logs_role")["id"])["Role"]
    spec = {**node.spec, "vpc_id": doc.resource("vpc")["id"], "log_group_name": doc.resource("logs.flow")["id"],
            "role_arn": role["Arn"]}
    return FlowLog(aws, env="dev", clock=clock.as_clock()), spec


def test_the_next_run_resending_the_recorded_token_gets_the_flow_log_made(made):
    handler, spec = made
    token = idempotency_token("123456789012", REGION, "dev", KEY, 1, spec)
    first = handler.create(spec, token)
    # A run killed after the create call sends the token its intent recorded again.
    assert handler.create(spec, token) == first
    assert flow_logs(spec["vpc_id"]) == [first]


def test_the_same_token_with_other_parameters_is_refused(made):
    handler, spec = made
    token = idempotency_token("123456789012", REGION, "dev", KEY, 1, spec)
    handler.create(spec, token)
    with pytest.raises(ClientError) as caught:
        handler.create({**spec, "traffic_type": "REJECT"}, token)
    assert caught.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
    # The engine never meets it: another spec is another token.
    assert idempotency_token("123456789012", REGION, "dev", KEY, 1, {**spec, "traffic_type": "REJECT"}) != token
