"""VPC flow log of all traffic to a CloudWatch Logs log group (FSBP EC2.6), in declarations.

A flow log cannot be changed after it is created (VPC user guide, "Work with flow logs": "you
can't change its configuration"): every field is a replacement. CreateFlowLogs takes a
ClientToken (EC2 idempotency, B-EC2-2) and the tags in TagSpecifications ("vpc-flow-log").
Per-resource failures do not raise: they come back in ``Unsuccessful`` of a 200 answer, for
CreateFlowLogs and DeleteFlowLogs alike (EC2 API reference), and are read here.
"""
from __future__ import annotations

from resources.base import Change, Field, Observed, Refresh, ResourceError, Status, create_params, read_attrs, tag_dict
from resources.aws.permissions import pass_role
from resources.network.ec2 import Ec2Handler, ec2_grants

NOT_FOUND = "InvalidFlowLogId.NotFound"
FIXED = "a flow log's configuration cannot be changed after it is created"
# The values AWS accepts, and how a refusal says so.
ALLOWED = {"traffic_type": (("ACCEPT", "REJECT", "ALL"), "one of ACCEPT, REJECT, ALL"),
           "max_aggregation_interval": ((60, 600), "60 or 600 seconds")}


def unsuccessful(answer: dict, allowed: frozenset[str] = frozenset()) -> None:
    errors = [u for u in answer.get("Unsuccessful") or [] if (u.get("Error") or {}).get("Code") not in allowed]
    if errors:
        shown = "; ".join(f"{u.get('ResourceId')}: {u['Error'].get('Code')}: {u['Error'].get('Message')}" for u in errors)
        raise ResourceError(f"flow log: {shown}")


class FlowLog(Ec2Handler):
    kind = "flow_log"
    resource_type = "vpc-flow-log"
    iam = ec2_grants("vpc-flow-log", ("ec2:DescribeFlowLogs",), creates=("ec2:CreateFlowLogs",), parents=("vpc",),
                     changes=("ec2:DeleteFlowLogs",)) + (
        # CreateFlowLogs hands the flow-logs role to the service.
        pass_role("vpc-flow-logs-role-{env}", "vpc-flow-logs.amazonaws.com", "ec2:CreateFlowLogs"),)
    describe_call, items_key, ids_param, id_key = "describe_flow_logs", "FlowLogs", "FlowLogIds", "FlowLogId"
    not_found = frozenset({NOT_FOUND})
    poll_ceiling = 2
    # Each field but the VPC under the one name DescribeFlowLogs answers and CreateFlowLogs takes.
    fields = {
        "vpc_id": Field(str, Change.REPLACE, why=FIXED, aws="ResourceId"),
        "traffic_type": Field(str, Change.REPLACE, why=FIXED, aws="TrafficType", create=True),
        "log_group_name": Field(str, Change.REPLACE, why=FIXED, aws="LogGroupName", create=True),
        "role_arn": Field(str, Change.REPLACE, why=FIXED, aws="DeliverLogsPermissionArn", create=True),
        "max_aggregation_interval": Field(int, Change.REPLACE, why=FIXED, aws="MaxAggregationInterval", create=True),
    }

    def validate(self, spec):
        return [f"{key} {spec[key]!r}: {said}" for key, (values, said) in ALLOWED.items() if spec[key] not in values]

    def status(self, raw):
        # ACTIVE is the only FlowLogStatus AWS documents for a live flow log.
        state = raw.get("FlowLogStatus", "ACTIVE")
        return Refresh(Status.READY if state == "ACTIVE" else Status.PENDING, raw.get("FlowLogStatus", ""))

    def observe(self, item):
        return Observed(item[self.id_key], read_attrs(self.fields, item), tag_dict(item.get("Tags")), item)

    def create(self, spec, token):
        # The same token answers the same flow log on a retry (B-EC2-2).
        answer = self.client.create_flow_logs(
            ResourceType="VPC", ResourceIds=[spec["vpc_id"]], LogDestinationType="cloud-watch-logs",
            ClientToken=token[:64], TagSpecifications=self.tag_specifications(spec), **create_params(self.fields, spec))
        unsuccessful(answer)
        [flow_log_id] = answer["FlowLogIds"]
        return flow_log_id

    def delete(self, obs, spec=None):
        unsuccessful(self.client.delete_flow_logs(FlowLogIds=[obs.id]), allowed=frozenset({NOT_FOUND}))
