"""The AWS managed IAM policies the stack attaches exist in every account, as on AWS.

moto builds all ~1,400 AWS managed policies at every reset (about 2 s) or, with
MOTO_IAM_LOAD_MANAGED_POLICIES=false (the tests' and the e2e server's setting), none: then
AttachRolePolicy answers NoSuchEntity for a policy AWS has (docs/aws-behaviours.md A-24). AWS
managed policies "are created and administered by AWS" and are available in every account (IAM
user guide, "AWS managed policies"). This patch keeps moto's setting for the others and always
provides the few the stack attaches, built from moto's own copy of their documents:

- arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole, for the RDS monitoring
  role (docs/configuration.md RDS row, FSBP RDS.6).
- arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs, for the role API
  Gateway logs through (docs/configuration.md API Gateway row, docs/aws-behaviours.md C-APIGW-1).
"""
from __future__ import annotations

import functools
import json

from moto.iam.models import AWSManagedPolicy, IAMBackend

# The stack's AWS managed policies, by name (moto's data is keyed by name).
STACK_POLICIES = ("AmazonRDSEnhancedMonitoringRole", "AmazonAPIGatewayPushToCloudWatchLogs")
_PATCHED = "_video_pipeline_fidelity"


@functools.cache
def _documents() -> dict[str, dict]:
    # Parsed once per process: moto's data file holds every AWS managed policy.
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    every = json.loads(aws_managed_policies_data)
    return {name: every[name] for name in STACK_POLICIES}


def _init_aws_policies(original):
    @functools.wraps(original)
    def init(self: IAMBackend):
        loaded = original(self)
        have = {p.name for p in loaded}
        return loaded + [
            AWSManagedPolicy.from_data(name, self.account_id, self.region_name, data)
            for name, data in _documents().items() if name not in have
        ]

    setattr(init, _PATCHED, True)
    return init


def apply() -> None:
    if not getattr(IAMBackend._init_aws_policies, _PATCHED, False):
        IAMBackend._init_aws_policies = _init_aws_policies(IAMBackend._init_aws_policies)
