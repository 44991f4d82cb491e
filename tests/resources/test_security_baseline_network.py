"""docs/configuration.md, rows VPC, keys and logs, on moto: each read back with the test's own boto3
clients after a reconcile, switched off behind the tool's back, seen by the plan (what drift
reports), and restored by the next reconcile; then torn down.

FSBP EC2.6 (flow logs), EC2.2 (default security group), EC2.21 (network ACL and 22/3389),
KMS.4 (key rotation), and log groups / secrets encrypted with the environment's key.
"""
from __future__ import annotations

import json

import boto3
import pytest

from orchestrator.config import ConfigError, EnvConfig, validate_config
from orchestrator.stack import stack_nodes
from resources.network.vpc_defaults import default_acl_entries, opens_remote_admin
from tests.conftest import REGION
from tests.resources.network import AZS, changed_fields, owned_vpc, ownership, recorded_id
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge, destroy

ALIAS = "alias/video-pipeline-dev"
KEYS = ("kms.key", "logs.flow", "iam.flow_logs_role", "vpc.flow_log", "sg.default", "nacl.default",
        "logs.api", "logs.worker", "secret.redis_auth")
LOG_GROUPS = {"logs.api": "/ecs/video-processing-dev/metadata-api", "logs.worker": "/ecs/video-processing-dev/video-worker",
              "logs.flow": "/vpc/video-pipeline-dev/flow-logs"}


def nodes(cfg: EnvConfig | None = None):
    every = {n.key: n for n in stack_nodes("dev", cfg or EnvConfig(), AZS)}
    wanted, todo = set(), list(KEYS)
    while todo:
        key = todo.pop()
        if key not in wanted:
            wanted.add(key)
            todo.extend(every[key].depends_on)
    return [n for n in every.values() if n.key in wanted]


@pytest.fixture
def c(moto_aws):
    return {s: boto3.client(s, region_name=REGION) for s in ("ec2", "kms", "logs", "iam", "secretsmanager")}


def converged(aws, clock, cfg=None):
    state = MemoryState()
    converge(aws, state, nodes=nodes(cfg), clock=clock)
    return state


def key_arn(c) -> str:
    return c["kms"].describe_key(KeyId=ALIAS)["KeyMetadata"]["Arn"]


def log_group(c, name: str) -> dict:
    return next(g for g in c["logs"].describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name)


def flow_logs(c, vpc_id: str) -> list[dict]:
    return c["ec2"].describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]


def default_sg(c, vpc_id: str) -> dict:
    [group] = c["ec2"].describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                         {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    return group


def default_acl(c, vpc_id: str) -> dict:
    [acl] = c["ec2"].describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                    {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
    return acl


def listed(value) -> list:
    # IAM and KMS keep a single value or a one-element list as sent: both mean the same.
    return value if isinstance(value, list) else [value]


def tagmap(item: dict) -> dict:
    return {t["Key"]: t["Value"] for t in item.get("Tags") or []}


def opens_22_or_3389(entry: dict) -> bool:
    """The FSBP EC2.21 check, written from the control's text against the raw entry."""
    if entry["Egress"] or entry["RuleAction"] != "allow" or entry.get("CidrBlock") != "0.0.0.0/0":
        return False
    if entry["Protocol"] == "-1":
        return True
    if entry["Protocol"] not in ("6", "17"):
        return False
    ports = entry.get("PortRange") or {"From": 0, "To": 65535}
    return any(ports["From"] <= p <= ports["To"] for p in (22, 3389))


def test_every_row_is_read_back_after_a_reconcile_and_a_second_run_changes_nothing(aws, c, clock):
    state = MemoryState()
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert {k: actions(run)[k] for k in KEYS} == dict.fromkeys(KEYS, "create")
    vpc = owned_vpc(c["ec2"])["VpcId"]

    # keys (FSBP KMS.4): customer managed, rotation on, the alias, the policy.
    meta = c["kms"].describe_key(KeyId=ALIAS)["KeyMetadata"]
    assert (meta["KeyManager"], meta["KeyState"]) == ("CUSTOMER", "Enabled")
    assert recorded_id(state, "kms.key") == meta["KeyId"]
    assert c["kms"].get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] is True
    tags = {t["TagKey"]: t["TagValue"] for t in c["kms"].list_resource_tags(KeyId=meta["KeyId"])["Tags"]}
    assert tags == ownership("kms-key-dev")
    policy = json.loads(c["kms"].get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert listed(by_sid["AccountAdministers"]["Principal"]["AWS"]) == ["arn:aws:iam::123456789012:root"]
    logs_use = by_sid["CloudWatchLogsEncrypts"]
    assert listed(logs_use["Principal"]["Service"]) == [f"logs.{REGION}.amazonaws.com"]
    # This environment's log groups only, never every group of the account.
    assert listed(logs_use["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]) == sorted(
        f"arn:aws:logs:{REGION}:123456789012:log-group:{name}" for name in (
            "/ecs/video-processing-dev/*", "/aws/rds/instance/rds-postgresql-dev/*",
            "/aws/apigateway/video-metadata-api-dev/*", "API-Gateway-Execution-Logs_*/dev",
            "/vpc/video-pipeline-dev/flow-logs", "aws-waf-logs-video-metadata-api-dev"))
    # The secrets are encrypted through the account's statement (below): no other statement.
    assert set(by_sid) == {"AccountAdministers", "CloudWatchLogsEncrypts"}
    assert "${" not in json.dumps(policy)

    # logs: every log group encrypted with the key, retention from config.
    for key, name in LOG_GROUPS.items():
        group = log_group(c, name)
        assert group["kmsKeyId"] == meta["Arn"], key
        assert group["retentionInDays"] == (365 if key == "logs.flow" else 30)
    # secrets: encrypted with the key.
    assert c["secretsmanager"].describe_secret(SecretId="redis-auth-dev")["KmsKeyId"] == meta["Arn"]

    # VPC (FSBP EC2.6): all traffic to the flow log group through its role.
    [flow] = flow_logs(c, vpc)
    assert (flow["TrafficType"], flow["LogGroupName"], flow["LogDestinationType"]) == (
        "ALL", LOG_GROUPS["logs.flow"], "cloud-watch-logs")
    role = c["iam"].get_role(RoleName="vpc-flow-logs-role-dev")["Role"]
    assert flow["DeliverLogsPermissionArn"] == role["Arn"]
    assert tagmap(flow) == ownership("vpc-flow-log-dev")
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert listed(trust["Principal"]["Service"]) == ["vpc-flow-logs.amazonaws.com"]
    assert {op: {k: listed(v) for k, v in tests.items()} for op, tests in trust["Condition"].items()} == {
        "StringEquals": {"aws:SourceAccount": ["123456789012"]},
        "ArnLike": {"aws:SourceArn": [f"arn:aws:ec2:{REGION}:123456789012:vpc-flow-log/*"]},
    }
    inline = c["iam"].get_role_policy(RoleName="vpc-flow-logs-role-dev", PolicyName="flow-logs")["PolicyDocument"]
    resources = {r for s in inline["Statement"] for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])}
    assert "*" not in resources and log_group(c, LOG_GROUPS["logs.flow"])["logGroupArn"] in resources

    # VPC (FSBP EC2.2): the default security group has no rule at all.
    group = default_sg(c, vpc)
    assert (group["IpPermissions"], group["IpPermissionsEgress"]) == ([], [])
    assert tagmap(group) == ownership("default-sg-dev")

    # VPC (FSBP EC2.21): no entry of the default ACL (every subnet's) admits 22/3389 from anywhere,
    # while the VPC itself and NAT return traffic on ephemeral ports still get in.
    acl = default_acl(c, vpc)
    assert not [e for e in acl["Entries"] if opens_22_or_3389(e)]
    inbound = [e for e in acl["Entries"] if not e["Egress"] and e["RuleAction"] == "allow"]
    assert any(e["CidrBlock"] == "10.0.0.0/16" and e["Protocol"] == "-1" for e in inbound)
    for port in (443, 1024, 32768, 65535):
        assert any(e["Protocol"] == "6" and e["CidrBlock"] == "0.0.0.0/0" and e["PortRange"]["From"] <= port <= e["PortRange"]["To"]
                   for e in inbound), port
    assert any(e["Egress"] and e["Protocol"] == "-1" and e["CidrBlock"] == "0.0.0.0/0" and e["RuleAction"] == "allow"
               for e in acl["Entries"])

    before = aws.calls.mutating
    again = converge(aws, state, nodes=nodes(), clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before


def _flow_log_deleted(c, vpc):
    [flow] = flow_logs(c, vpc)
    c["ec2"].delete_flow_logs(FlowLogIds=[flow["FlowLogId"]])


def _rule_added_to_default_sg(c, vpc):
    c["ec2"].authorize_security_group_ingress(GroupId=default_sg(c, vpc)["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])


def _acl_opened_to_ssh(c, vpc):
    c["ec2"].create_network_acl_entry(NetworkAclId=default_acl(c, vpc)["NetworkAclId"], RuleNumber=50, Protocol="6",
                                      RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0", PortRange={"From": 22, "To": 22})


def _log_group_disassociated(c, vpc):
    c["logs"].disassociate_kms_key(logGroupName=LOG_GROUPS["logs.worker"])


def _rotation_off(c, vpc):
    # DisableKeyRotation takes a key id or ARN, not an alias (KMS API reference).
    c["kms"].disable_key_rotation(KeyId=c["kms"].describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyId"])


def _key_disabled(c, vpc):
    c["kms"].disable_key(KeyId=c["kms"].describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyId"])


def _alias_deleted(c, vpc):
    c["kms"].delete_alias(AliasName=ALIAS)


def _secret_back_on_the_aws_key(c, vpc):
    c["secretsmanager"].update_secret(SecretId="redis-auth-dev", KmsKeyId="alias/aws/secretsmanager")


def _flow_log_group_retention_cut(c, vpc):
    c["logs"].put_retention_policy(logGroupName=LOG_GROUPS["logs.flow"], retentionInDays=1)


SWITCHED_OFF = {
    "flow log deleted": (_flow_log_deleted, "vpc.flow_log", None),
    "rule added to the default security group": (_rule_added_to_default_sg, "sg.default", {"ingress"}),
    "default ACL opened to 22": (_acl_opened_to_ssh, "nacl.default", {"ingress"}),
    "log group disassociated from the key": (_log_group_disassociated, "logs.worker", {"kms_key_id"}),
    "key rotation off": (_rotation_off, "kms.key", {"rotation"}),
    "key disabled": (_key_disabled, "kms.key", {"enabled"}),
    "alias deleted": (_alias_deleted, "kms.key", {"alias"}),
    "secret on the AWS managed key": (_secret_back_on_the_aws_key, "secret.redis_auth", {"kms_key_id"}),
    "flow log retention cut": (_flow_log_group_retention_cut, "logs.flow", {"retention_days"}),
}


@pytest.mark.parametrize("how", SWITCHED_OFF)
def test_each_row_switched_off_is_reported_then_restored(aws, c, clock, how):
    switch_off, key, fields = SWITCHED_OFF[how]
    state = converged(aws, clock)
    vpc = owned_vpc(c["ec2"])["VpcId"]
    switch_off(c, vpc)

    plan = converge(aws, state, nodes=nodes(), plan=True, clock=clock)
    if fields is None:  # gone: the plan creates it again, drift lists it as missing
        assert actions(plan)[key] == "create"
        assert {k for k, a in actions(plan).items() if a != "unchanged"} == {key}
    else:
        assert changed_fields(plan) == {key: fields}
    converge(aws, state, nodes=nodes(), clock=clock)
    assert set(actions(converge(aws, state, nodes=nodes(), plan=True, clock=clock)).values()) == {"unchanged"}

    # Read back: the row holds again.
    meta = c["kms"].describe_key(KeyId=ALIAS)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled"
    assert c["kms"].get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] is True
    assert [f["TrafficType"] for f in flow_logs(c, vpc)] == ["ALL"]
    group = default_sg(c, vpc)
    assert (group["IpPermissions"], group["IpPermissionsEgress"]) == ([], [])
    assert not [e for e in default_acl(c, vpc)["Entries"] if opens_22_or_3389(e)]
    for name in LOG_GROUPS.values():
        assert log_group(c, name)["kmsKeyId"] == meta["Arn"]
    assert log_group(c, LOG_GROUPS["logs.flow"])["retentionInDays"] == 365
    assert c["secretsmanager"].describe_secret(SecretId="redis-auth-dev")["KmsKeyId"] == meta["Arn"]


def test_a_key_scheduled_for_deletion_behind_our_back_is_restored_not_replaced(aws, c, clock):
    state = converged(aws, clock)
    key_id = recorded_id(state, "kms.key")
    c["kms"].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)

    plan = converge(aws, state, nodes=nodes(), plan=True, clock=clock)
    assert actions(plan)["kms.key"] == "create"  # drift: missing
    converge(aws, state, nodes=nodes(), clock=clock)
    # The same key, enabled again: the log groups and secrets encrypted with it stay readable.
    assert recorded_id(state, "kms.key") == key_id
    assert c["kms"].describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyId"] == key_id
    assert c["kms"].describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert [k["KeyId"] for k in c["kms"].list_keys()["Keys"]] == [key_id]


def test_teardown_schedules_the_key_hands_back_the_defaults_and_a_new_reconcile_takes_the_key_back(aws, c, clock):
    cfg = EnvConfig(kms_deletion_window_days=9)
    state = converged(aws, clock, cfg)
    key_id = recorded_id(state, "kms.key")
    vpc = owned_vpc(c["ec2"])["VpcId"]
    destroy(aws, state, nodes=nodes(cfg), clock=clock, cfg=cfg)

    meta = c["kms"].describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    # 9 days from now, as configured (moto dates it from the wall clock).
    assert (meta["DeletionDate"] - meta["CreationDate"]).days in (8, 9)
    assert ALIAS not in [a["AliasName"] for a in c["kms"].list_aliases()["Aliases"]]
    assert c["ec2"].describe_flow_logs()["FlowLogs"] == []
    assert c["logs"].describe_log_groups()["logGroups"] == []
    assert [r["RoleName"] for r in c["iam"].list_roles()["Roles"]] == []
    assert not c["ec2"].describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"]

    converge(aws, state, nodes=nodes(), clock=clock)
    assert recorded_id(state, "kms.key") == key_id
    assert c["kms"].describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyState"] == "Enabled"


def test_teardown_leaves_the_default_members_of_a_vpc_untagged(aws, c, clock):
    """The default security group and ACL go with the VPC: teardown only hands them back."""
    from tests.resources.network import nodes as network_subset

    chosen = network_subset("sg.default", "nacl.default")
    state = MemoryState()
    converge(aws, state, nodes=chosen, clock=clock)
    vpc = owned_vpc(c["ec2"])["VpcId"]
    assert tagmap(default_sg(c, vpc))["ManagedBy"] == "video-pipeline-infra"
    # Only the two nodes torn down: the VPC stays, so its default members can be read.
    destroy(aws, state, nodes=[n for n in chosen if n.key in ("sg.default", "nacl.default")], clock=clock)
    assert tagmap(default_sg(c, vpc)) == {}
    assert tagmap(default_acl(c, vpc)) == {}


def test_the_default_acl_entries_never_open_22_or_3389_from_anywhere():
    entries = default_acl_entries("10.0.0.0/16")
    assert not [e for e in entries["ingress"] if opens_remote_admin(e)]
    covered = {p for e in entries["ingress"] if e["protocol"] == "6" and e["cidr_block"] == "0.0.0.0/0"
               for p in range(e["port_range"][0], e["port_range"][1] + 1)}
    assert covered == set(range(65536)) - {22, 3389}


def test_configuration_keys_are_checked_before_any_call():
    assert (EnvConfig().flow_log_retention_days, EnvConfig().kms_deletion_window_days) == (365, 30)
    with pytest.raises(ConfigError) as err:
        validate_config({"flow_log_retention_days": 13, "kms_deletion_window_days": 6})
    assert len(err.value.lines) == 2
    assert "flow_log_retention_days = 13" in err.value.lines[0]
    assert "kms_deletion_window_days = 6" in err.value.lines[1]
    validate_config({"flow_log_retention_days": 90, "kms_deletion_window_days": 7})
