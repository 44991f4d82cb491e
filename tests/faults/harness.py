"""What the fault tests check after a crash or a storm: one of each resource, every one of them
recorded in the state, nothing left in the account after teardown.

Everything is read with the test's own clients straight from moto, never through the proxy and
never through the tool's state (the state is only compared against).
"""
from __future__ import annotations

import json
import re
import signal
from pathlib import Path

from tests.e2e.inventory import counts, full_inventory
from tests.e2e.test_full_stack import FULL_STACK
from tests.support import command_server
from tests.support.commands import REGION, command_environment, command_line

ENV = "dev"


def start(command: str, *args: str, endpoint: str, state_dir: Path, workdir: Path,
          env: dict[str, str] | None = None):
    """A bin/ command as a process of its own, so the proxy can SIGKILL it mid-call."""
    return command_server.start(command_line(command, *args), {**command_environment(endpoint, state_dir, workdir), **(env or {})},
                                workdir)


def killed_create(proxy, k: int, state_dir: Path, workdir: Path, env: dict[str, str] | None = None,
                  args: tuple[str, ...] = (), sig: int = signal.SIGKILL) -> tuple[int, str]:
    """`bin/reconcile` (with ``args``) SIGKILLed right after its k-th mutating call (one worker,
    so k names the same call on every run): its pid and that call. With ``sig`` SIGINT (a
    Ctrl-C) or SIGTERM the run must end by itself with exit 1, not with a traceback."""
    proc = start("reconcile", "--env", ENV, "--parallelism", "1", *args, endpoint=proxy.endpoint, state_dir=state_dir,
                 workdir=workdir, env=env)
    proxy.kill_after(k, proc.pid, sig)
    _, stderr = proc.communicate(timeout=300)
    expected = -signal.SIGKILL if sig == signal.SIGKILL else 1
    assert proc.returncode == expected, (
        f"k={k}: the run ended with exit {proc.returncode} (expected {expected} after signal {sig}): {stderr[-1500:]}")
    assert "Traceback" not in stderr, f"k={k}: an interrupted run printed a traceback: {stderr[-3000:]}"
    killed = proxy.killed_call
    proxy.reset()
    return proc.pid, f"{killed.service} {killed.operation}"


# A configuration unlike the defaults in settings every layer of the stack has, none of which
# changes the calls of a create (the values travel in the calls made anyway): what an interrupted
# first create was asked for, which the next plain run must finish with.
ASKED_CONFIG = """
[environments.dev]
api_desired_count = 3
log_retention_days = 60
db_backup_retention_days = 14
redis_snapshot_retention_days = 3
"""


def write_asked_config(workdir: Path, text: str = ASKED_CONFIG) -> str:
    path = workdir / "asked.toml"
    path.write_text(text)
    return str(path)


def assert_asked_settings(reader, state_dir: Path, context: str, *, protected: bool = False) -> None:
    """The settings of ASKED_CONFIG (and deletion protection when ``protected``) as AWS has them,
    and the configuration recorded in the state as the file's, no longer pending."""
    service = reader("ecs").describe_services(cluster=f"video-processing-{ENV}", services=[f"metadata-api-{ENV}"])["services"]
    assert [s["desiredCount"] for s in service] == [3], f"{context}: API service desired count {service}"
    groups = reader("logs").describe_log_groups(logGroupNamePrefix=f"/ecs/video-processing-{ENV}/")["logGroups"]
    assert groups and {g.get("retentionInDays") for g in groups} == {60}, f"{context}: log retention {groups}"
    db = reader("rds").describe_db_instances(DBInstanceIdentifier=f"rds-postgresql-{ENV}")["DBInstances"][0]
    assert db["BackupRetentionPeriod"] == 14, f"{context}: backup retention {db['BackupRetentionPeriod']}"
    assert db["DeletionProtection"] is protected, f"{context}: RDS deletion protection {db['DeletionProtection']}"
    group = reader("elasticache").describe_replication_groups(ReplicationGroupId=f"redis-{ENV}")["ReplicationGroups"][0]
    assert group["SnapshotRetentionLimit"] == 3, f"{context}: Redis snapshot retention {group['SnapshotRetentionLimit']}"
    state = json.loads(state_file(state_dir).read_text())
    assert state["config"]["source"].endswith("asked.toml") and not state.get("pending_config"), (
        f"{context}: the state records {state.get('config')} / pending {state.get('pending_config')}")


def state_file(state_dir: Path) -> Path:
    return state_dir / f"{ENV}.{REGION}.json"


def _recorded(inventory_id: str, state_ids: set[str]) -> bool:
    """The state keeps ARNs where the inventory shows names (ECS, ELBv2, Secrets Manager)."""
    for sid in state_ids:
        if sid == inventory_id or inventory_id in re.split(r"[:/]", sid):
            return True
        # secret ARNs end in NAME-xxxxxx
        if sid.startswith("arn:aws:secretsmanager:") and sid.rsplit(":", 1)[-1].rsplit("-", 1)[0] == inventory_id:
            return True
    return False


def unrecorded(inventory: dict[str, list[str]], state_dir: Path) -> dict[str, list[str]]:
    """Live resources of the environment whose id the state does not hold (orphans of a crash).

    Mount targets are recorded through their file system, the state's id for them."""
    state = json.loads(state_file(state_dir).read_text())
    state_ids = {r["id"] for r in state["resources"].values() if r.get("id")}
    missing = {kind: [i for i in ids if not _recorded(i, state_ids)] for kind, ids in inventory.items() if kind != "mount_target"}
    return {kind: ids for kind, ids in missing.items() if ids}


def live_customer_keys(kms) -> int:
    # A key behind an ``alias/aws/*`` alias is AWS managed (aws/secretsmanager, which RDS uses
    # for its master secret); moto reports the one it makes for RDS as CUSTOMER.
    aws_managed = {a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"] if a["AliasName"].startswith("alias/aws/")}
    metas = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in kms.list_keys()["Keys"]]
    return sum(m["KeyManager"] == "CUSTOMER" and m["KeyState"] != "PendingDeletion" and m["KeyId"] not in aws_managed
               for m in metas)


# One stack as the whole account counts it: RDS's own master secret besides; the VPC's default
# security group and ACL are every VPC's (moto's default VPC too), counted by the inventory only.
ONE_STACK_IN_ACCOUNT = {
    **{k: n for k, n in FULL_STACK.items() if k not in ("default_security_group", "default_network_acl")},
    "rds_managed_secret": 1,
}


def account_counts(client) -> dict[str, int]:
    """Everything of the stack's kinds in the whole account, tagged or not, moto's defaults aside:
    a resource created without (or before) its tags is a leak the ownership-tag inventory misses."""
    ec2 = client("ec2")
    default_vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["IsDefault"]}
    apigw, efs, elb = client("apigateway"), client("efs"), client("elbv2")
    ecs, rds, cache = client("ecs"), client("rds"), client("elasticache")
    secrets = client("secretsmanager").list_secrets(IncludePlannedDeletion=False)["SecretList"]
    return {
        "vpc": sum(not v["IsDefault"] for v in ec2.describe_vpcs()["Vpcs"]),
        "subnet": sum(s["VpcId"] not in default_vpcs for s in ec2.describe_subnets()["Subnets"]),
        "internet_gateway": sum(not any(a.get("VpcId") in default_vpcs for a in g.get("Attachments", []))
                                for g in ec2.describe_internet_gateways()["InternetGateways"]),
        "elastic_ip": len(ec2.describe_addresses()["Addresses"]),
        "nat_gateway": sum(n["State"] not in ("deleted", "deleting", "failed") for n in ec2.describe_nat_gateways()["NatGateways"]),
        "route_table": sum(r["VpcId"] not in default_vpcs and not any(a.get("Main") for a in r.get("Associations", []))
                           for r in ec2.describe_route_tables()["RouteTables"]),
        "security_group": sum(g["GroupName"] != "default" for g in ec2.describe_security_groups()["SecurityGroups"]),
        "secret": sum(not s["Name"].startswith("rds!") for s in secrets),
        # the master password RDS manages for the instance (ManageMasterUserPassword), gone with it
        "rds_managed_secret": sum(s["Name"].startswith("rds!") for s in secrets),
        "db_instance": len(rds.describe_db_instances()["DBInstances"]),
        "db_subnet_group": len(rds.describe_db_subnet_groups()["DBSubnetGroups"]),
        "replication_group": sum(g["Status"] != "deleting" for g in cache.describe_replication_groups()["ReplicationGroups"]),
        "cache_subnet_group": sum(g["CacheSubnetGroupName"] != "default" for g in cache.describe_cache_subnet_groups()["CacheSubnetGroups"]),
        "file_system": len(efs.describe_file_systems()["FileSystems"]),
        "access_point": len(efs.describe_access_points()["AccessPoints"]),
        "mount_target": sum(len(efs.describe_mount_targets(FileSystemId=f["FileSystemId"])["MountTargets"])
                            for f in efs.describe_file_systems()["FileSystems"]),
        "iam_role": sum(not r["Path"].startswith("/aws-service-role/") for r in client("iam").list_roles()["Roles"]),
        "log_group": len(client("logs").describe_log_groups()["logGroups"]),
        "ecs_cluster": sum(c["status"] == "ACTIVE" for c in ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"])["clusters"]),
        # a deleted service stays listed, INACTIVE, for a while (as in AWS)
        "ecs_service": sum(s["status"] == "ACTIVE" for c in ecs.list_clusters()["clusterArns"]
                           for arns in [ecs.list_services(cluster=c)["serviceArns"]] if arns
                           for s in ecs.describe_services(cluster=c, services=arns)["services"]),
        "task_definition": len(ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]),
        "load_balancer": len(elb.describe_load_balancers()["LoadBalancers"]),
        "target_group": len(elb.describe_target_groups()["TargetGroups"]),
        "rest_api": len(apigw.get_rest_apis()["items"]),
        "api_key": len(apigw.get_api_keys()["items"]),
        "usage_plan": len(apigw.get_usage_plans()["items"]),
        "vpc_link": len(apigw.get_vpc_links()["items"]),
        # issue 15: a key scheduled for deletion (teardown) counts as gone; flow logs of any VPC.
        "kms_key": live_customer_keys(client("kms")),
        "flow_log": len(ec2.describe_flow_logs()["FlowLogs"]),
        "web_acl": len(client("wafv2").list_web_acls(Scope="REGIONAL")["WebACLs"]),
        "waf_logging": len(client("wafv2").list_logging_configurations(Scope="REGIONAL")["LoggingConfigurations"]),
        # moto has no ListResourcesForWebACL: every stage of every API is asked for its web ACL.
        "web_acl_association": sum(
            bool(client("wafv2").get_web_acl_for_resource(
                ResourceArn=f"arn:aws:apigateway:{apigw.meta.region_name}::/restapis/{api['id']}/stages/{stage['stageName']}"
            ).get("WebACL"))
            for api in apigw.get_rest_apis()["items"] for stage in apigw.get_stages(restApiId=api["id"])["item"]),
        # issue 15: resource policies on any secret of the account, RDS's own aside.
        "secret_policy": sum(not s["Name"].startswith("rds!") and bool(
            client("secretsmanager").get_resource_policy(SecretId=s["ARN"]).get("ResourcePolicy")) for s in secrets),
    }


class _ReadOnce:
    """A client whose reads (describe_*, get_*, list_*) are each made once per set of arguments."""

    def __init__(self, client, answers: dict):
        self._client, self._answers = client, answers

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not name.startswith(("describe_", "get_", "list_")):
            return attr

        def read(**kwargs):
            key = (self._client.meta.service_model.service_name, name, json.dumps(kwargs, sort_keys=True))
            if key not in self._answers:
                self._answers[key] = attr(**kwargs)
            return self._answers[key]

        return read


def read_once(reader):
    """The test's clients for one check: the account is read at one moment (nothing changes it
    meanwhile), and the ownership-tag inventory and the account counts ask moto many of the same
    questions (every VPC, subnet, secret...): each is asked once."""
    answers: dict = {}
    return lambda service: _ReadOnce(reader(service), answers)


def assert_one_of_each(reader, state_dir: Path, context: str) -> None:
    """The whole stack exactly once, every resource in the state, nothing else in the account."""
    reader = read_once(reader)
    inventory = full_inventory(reader, ENV)
    found = counts(inventory)
    wrong = {kind: (n, FULL_STACK.get(kind)) for kind, n in found.items() if n != FULL_STACK.get(kind)}
    assert wrong == {}, f"{context}: duplicates or missing resources by ownership tags, (found, expected): {wrong}"
    orphans = unrecorded(inventory, state_dir)
    assert orphans == {}, f"{context}: live resources the state does not know: {orphans}"
    account = account_counts(reader)
    expected = ONE_STACK_IN_ACCOUNT
    beyond = {kind: (n, expected.get(kind)) for kind, n in account.items() if n != expected.get(kind)}
    assert beyond == {}, f"{context}: the account holds other counts than the environment, (found, expected): {beyond}"


def assert_nothing_left(reader, context: str) -> None:
    reader = read_once(reader)
    left = {kind: ids for kind, ids in full_inventory(reader, ENV).items() if ids}
    assert left == {}, f"{context}: teardown left the environment's resources: {left}"
    anywhere = {kind: n for kind, n in account_counts(reader).items() if n}
    assert anywhere == {}, f"{context}: teardown left resources in the account: {anywhere}"
