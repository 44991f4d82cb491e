"""The project's moto server (``python -m sandbox.serve``: moto + the fidelity layer) as a subprocess.

It is the end-to-end suites' server (tests.support.moto_server: started on a free port, reset,
stopped), with its request recording off (a file write per request would weigh on every timed
call; the latency layer counts the calls), plus what the benchmark needs: a warm-up and the
account's quotas raised.
"""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.support.moto_server import MotoServer as _SuiteServer

ROOT = Path(__file__).resolve().parents[1]
WARM_UP = (
    ("sts", "get_caller_identity"), ("ec2", "describe_availability_zones"), ("rds", "describe_db_instances"),
    ("elasticache", "describe_replication_groups"), ("efs", "describe_file_systems"), ("ecs", "list_clusters"),
    ("elbv2", "describe_load_balancers"), ("apigateway", "get_rest_apis"), ("iam", "list_roles"),
    ("logs", "describe_log_groups"), ("secretsmanager", "list_secrets"),
)
# Service Quotas codes (sandbox/fidelity/quotas.py): Elastic IPs (each environment holds 2), VPCs
# and internet gateways per Region, NAT gateways per AZ. A new account's 5 each would stop the
# third environment; the orchestrator refuses a create that would pass them.
RAISED_QUOTAS = {"L-0263D0A3": 1000, "L-F678F1CE": 1000, "L-A4707A72": 1000, "L-FE5A380F": 1000}


class MotoServer(_SuiteServer):
    def __init__(self, workdir: Path):
        # moto records whenever MOTO_ENABLE_RECORDING is non-empty ("false" included).
        super().__init__(workdir, extra_env={"MOTO_ENABLE_RECORDING": ""})

    def raise_quotas(self, applied: dict[str, int] = RAISED_QUOTAS) -> None:
        """Increases granted in us-east-1, until the next reset (``POST /fidelity/quotas``)."""
        request = urllib.request.Request(self.endpoint + "/fidelity/quotas", data=json.dumps({"applied": applied}).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=30).read()

    def warm(self, region: str) -> None:
        """One read per service of the stack, straight to moto (not through the latency layer).

        moto builds a service's backend on its first request after a start or reset (EC2's takes
        seconds); that is the emulator's cold start, not AWS time, so it is paid before a timed run.
        """
        import boto3

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        )
        for service, operation in WARM_UP:
            getattr(session.client(service, endpoint_url=self.endpoint), operation)()
