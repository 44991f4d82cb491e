"""The proxy's faults look to botocore like AWS's own: throttling and 5xx are retried, a kill
lands after the call executed and before its answer."""
from __future__ import annotations

import signal
import subprocess
import sys

import boto3
import botocore.config
import botocore.retries.standard
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from tests.support.commands import REGION

# One read call per service the stack uses, and the code its throttling answer must parse to.
READS = [
    ("ec2", "describe_vpcs", {}, "RequestLimitExceeded"),
    ("rds", "describe_db_instances", {}, "Throttling"),
    ("elasticache", "describe_cache_clusters", {}, "Throttling"),
    ("iam", "list_roles", {}, "Throttling"),
    ("elbv2", "describe_load_balancers", {}, "Throttling"),
    ("sts", "get_caller_identity", {}, "Throttling"),
    ("ecs", "list_clusters", {}, "ThrottlingException"),
    ("logs", "describe_log_groups", {}, "ThrottlingException"),
    ("secretsmanager", "list_secrets", {}, "ThrottlingException"),
    ("apigateway", "get_rest_apis", {}, "TooManyRequestsException"),
    ("efs", "describe_file_systems", {}, "ThrottlingException"),
]


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """botocore's retries wait without sleeping here (the backoff is botocore's, not under test)."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


def client(proxy, service, attempts):
    config = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": attempts})
    return boto3.client(service, endpoint_url=proxy.endpoint, region_name=REGION, config=config,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.mark.parametrize("service,operation,kwargs,code", READS, ids=[r[0] for r in READS])
def test_throttling_answer_parses_to_the_service_code_and_is_retried(fresh, proxy, service, operation, kwargs, code):
    proxy.reset(throttle=1.0)
    with pytest.raises(ClientError) as err:
        getattr(client(proxy, service, attempts=3), operation)(**kwargs)
    assert err.value.response["Error"]["Code"] == code
    # standard mode retried it: three attempts, all throttled, none reached moto
    assert err.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert proxy.outcomes() == {"throttled": 3}
    assert fresh.calls() == []


def test_server_errors_are_retried_until_one_goes_through(fresh, proxy):
    proxy.reset(seed=3, server_error=0.5)
    ec2 = client(proxy, "ec2", attempts=10)
    for _ in range(10):
        ec2.describe_vpcs()
    outcomes = proxy.outcomes()
    assert outcomes["forwarded"] == 10 and outcomes["server_error"] > 0
    assert len(fresh.calls()) == 10


def test_lost_response_executes_the_call_and_botocore_retries_it(fresh, proxy, reader):
    proxy.reset(lost_response=1.0)
    with pytest.raises((ClientError, ConnectionClosedError)):
        client(proxy, "ec2", attempts=2).create_vpc(CidrBlock="10.9.0.0/16")
    # both attempts executed and neither answer arrived: the API has no idempotency token
    assert sum(not v["IsDefault"] for v in reader("ec2").describe_vpcs()["Vpcs"]) == 2
    assert sum(proxy.outcomes()[o] for o in ("lost_response", "dropped")) == 2


def test_kill_after_lands_after_the_call_executed_and_before_its_answer(fresh, proxy, reader):
    script = (
        "import boto3, sys\n"
        f"ec2 = boto3.client('ec2', endpoint_url={proxy.endpoint!r}, region_name={REGION!r},"
        " aws_access_key_id='testing', aws_secret_access_key='testing')\n"
        "ec2.describe_vpcs()\n"
        "for cidr in ('10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16'):\n"
        "    ec2.create_vpc(CidrBlock=cidr)\n"
        "    print(cidr, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    proxy.kill_after(2, proc.pid)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert out.split() == ["10.1.0.0/16"]  # the second create never got its answer
    assert proxy.killed_call.operation == "CreateVpc"
    cidrs = {v["CidrBlock"] for v in reader("ec2").describe_vpcs()["Vpcs"] if not v["IsDefault"]}
    assert cidrs == {"10.1.0.0/16", "10.2.0.0/16"}
