"""EFS handlers on moto: file system, mount targets, access point; read back with the test's own client.

The vpc and the private subnets come from converging the network nodes; the efs security group
is made here with the test's own ec2 client and replaces the Ref to sg.efs. moto answers every
EFS resource ``available`` at once (docs/aws-behaviours.md A-20/A-22): the creating / in-use paths run
against a Stubber on the handler's own client, with a FakeClock; an "error" state is set in
moto's backend, and the engine's failed policy is what the run shows.
"""
from __future__ import annotations

import dataclasses

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.efs.models import efs_backends

from orchestrator.config import EnvConfig
from orchestrator.reconciler import Reconciler
from orchestrator.run import reconcile_stack
from orchestrator.spec import resolve
from orchestrator.stack.data import efs_nodes
from orchestrator.stack.network import network_nodes
from orchestrator.waiting import wait_for
from resources.base import FieldDiff, Observed, ResourceError, Status
from resources.aws.clock import FakeClock
from resources.data.efs import AccessPoint, FileSystem, MountTargets, lifecycle_status
from tests.conftest import REGION
from tests.resources.network import changed_fields, ownership, recorded_id, recorded_ids, tags
from tests.support.stubs import stubbed_aws
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge, destroy
from orchestrator import lifecycle

AZS = ["us-east-1a", "us-east-1b"]
TOKEN = "video-pipeline-infra-efs-dev"
EFS_KEYS = ("efs.file_system", "efs.mount_targets", "efs.access_point")
LIFECYCLE = [{"TransitionToIA": "AFTER_14_DAYS"}, {"TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"}]


@pytest.fixture
def efs(moto_aws):
    return boto3.client("efs", region_name=REGION)


def network():
    return [n for n in network_nodes("dev", EnvConfig(), AZS) if n.key in ("vpc", "subnet.private.1", "subnet.private.2")]


def file_system_nodes(sg_id: str):
    """The stack's EFS nodes, with the Ref to sg.efs replaced by a group made by the test."""
    return [
        dataclasses.replace(n, spec={**n.spec, "security_group_ids": [sg_id]}) if n.key == "efs.mount_targets" else n
        for n in efs_nodes("dev", EnvConfig(), len(AZS))
        # The file-system policy names the task role: tests/resources/test_efs_policy.py.
        if n.key != "efs.policy"
    ]


@dataclasses.dataclass
class Env:
    state: MemoryState
    nodes: list
    sg_id: str
    vpc_id: str

    def subnet(self, i: int) -> str:
        return recorded_id(self.state, f"subnet.private.{i}")


def security_group(ec2, vpc_id: str, name: str) -> str:
    return ec2.create_security_group(VpcId=vpc_id, GroupName=name, Description=name)["GroupId"]


@pytest.fixture
def env(aws, ec2, clock) -> Env:
    """vpc and private subnets converged, efs-sg made by hand; the EFS nodes not yet."""
    state = MemoryState()
    converge(aws, state, nodes=network(), clock=clock)
    vpc_id = recorded_id(state, "vpc")
    sg_id = security_group(ec2, vpc_id, "efs-sg-dev")
    return Env(state, network() + file_system_nodes(sg_id), sg_id, vpc_id)


@pytest.fixture
def built(aws, clock, env) -> Env:
    converge(aws, env.state, nodes=env.nodes, clock=clock)
    return env


def our_file_system(efs) -> dict:
    [fs] = efs.describe_file_systems(CreationToken=TOKEN)["FileSystems"]
    return fs


def mount_targets(efs, fs_id: str) -> dict[str, dict]:
    """Subnet → mount target, each with its security groups."""
    out = {}
    for mt in efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]:
        mt["SecurityGroups"] = efs.describe_mount_target_security_groups(MountTargetId=mt["MountTargetId"])["SecurityGroups"]
        out[mt["SubnetId"]] = mt
    return out


def as_set(policies: list[dict]) -> set[str]:
    return {repr(sorted(p.items())) for p in policies}


# -- the standard case list ------------------------------------------------------------------

def test_create_encrypted_bursting_file_system_mounted_in_each_private_subnet_then_second_run_changes_nothing(
    aws, ec2, efs, clock, env
):
    run = converge(aws, env.state, nodes=env.nodes, clock=clock)
    assert {k: actions(run)[k] for k in EFS_KEYS} == dict.fromkeys(EFS_KEYS, "create")

    fs = our_file_system(efs)
    assert fs["Encrypted"] is True
    assert fs["PerformanceMode"] == "generalPurpose"
    assert fs["ThroughputMode"] == "bursting"
    assert fs["LifeCycleState"] == "available"
    assert tags(fs) == ownership("efs-dev")
    policies = efs.describe_lifecycle_configuration(FileSystemId=fs["FileSystemId"])["LifecyclePolicies"]
    assert as_set(policies) == as_set(LIFECYCLE) and len(policies) == 2

    targets = mount_targets(efs, fs["FileSystemId"])
    assert set(targets) == {env.subnet(1), env.subnet(2)}
    assert sorted(mt["AvailabilityZoneName"] for mt in targets.values()) == AZS
    for mt in targets.values():
        assert mt["SecurityGroups"] == [env.sg_id]
        assert mt["VpcId"] == env.vpc_id and mt["LifeCycleState"] == "available"

    [ap] = efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"]
    assert ap["PosixUser"] == {"Uid": 1000, "Gid": 1000}
    assert ap["RootDirectory"] == {
        "Path": "/video-processing", "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "750"}}
    assert tags(ap) == ownership("efs-ap-dev")

    assert recorded_ids(env.state, EFS_KEYS) == {
        "efs.file_system": fs["FileSystemId"], "efs.mount_targets": fs["FileSystemId"], "efs.access_point": ap["AccessPointId"]}
    assert env.state.doc.resource("efs.file_system")["outputs"]["arn"] == fs["FileSystemArn"]
    assert env.state.doc.resource("efs.access_point")["outputs"]["arn"] == ap["AccessPointArn"]

    before = aws.calls.mutating
    again = converge(aws, env.state, nodes=env.nodes, clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before


def test_lifecycle_policy_removed_by_hand_is_restored(aws, efs, clock, built):
    fs_id = recorded_id(built.state, "efs.file_system")
    efs.put_lifecycle_configuration(FileSystemId=fs_id, LifecyclePolicies=[])

    plan = converge(aws, built.state, nodes=built.nodes, clock=clock, plan=True)
    assert changed_fields(plan) == {"efs.file_system": {"lifecycle_policies"}}
    converge(aws, built.state, nodes=built.nodes, clock=clock)
    assert as_set(efs.describe_lifecycle_configuration(FileSystemId=fs_id)["LifecyclePolicies"]) == as_set(LIFECYCLE)


def test_mount_target_deleted_by_hand_is_recreated_in_its_subnet(aws, efs, clock, built):
    fs_id = recorded_id(built.state, "efs.file_system")
    before = mount_targets(efs, fs_id)
    efs.delete_mount_target(MountTargetId=before[built.subnet(1)]["MountTargetId"])

    plan = converge(aws, built.state, nodes=built.nodes, clock=clock, plan=True)
    assert changed_fields(plan) == {"efs.mount_targets": {"subnet_ids"}}
    run = converge(aws, built.state, nodes=built.nodes, clock=clock)
    assert actions(run)["efs.mount_targets"] == "update"
    after = mount_targets(efs, fs_id)
    assert set(after) == {built.subnet(1), built.subnet(2)}
    assert after[built.subnet(1)]["MountTargetId"] != before[built.subnet(1)]["MountTargetId"]
    assert after[built.subnet(1)]["SecurityGroups"] == [built.sg_id]
    # The other mount target is left alone.
    assert after[built.subnet(2)]["MountTargetId"] == before[built.subnet(2)]["MountTargetId"]


def test_every_mount_target_deleted_by_hand_counts_as_absent_and_is_created_again(aws, efs, clock, built):
    fs_id = recorded_id(built.state, "efs.file_system")
    for mt in mount_targets(efs, fs_id).values():
        efs.delete_mount_target(MountTargetId=mt["MountTargetId"])

    run = converge(aws, built.state, nodes=built.nodes, clock=clock)
    assert actions(run)["efs.mount_targets"] == "create"
    assert actions(run)["efs.file_system"] == "unchanged"
    assert set(mount_targets(efs, fs_id)) == {built.subnet(1), built.subnet(2)}


def test_mount_target_security_groups_changed_by_hand_are_restored(aws, ec2, efs, clock, built):
    fs_id = recorded_id(built.state, "efs.file_system")
    other = security_group(ec2, built.vpc_id, "someone-elses-sg")
    mt = mount_targets(efs, fs_id)[built.subnet(2)]
    efs.modify_mount_target_security_groups(MountTargetId=mt["MountTargetId"], SecurityGroups=[other])

    asked = aws.calls.counts[("efs", "DescribeMountTargetSecurityGroups")]
    plan = converge(aws, built.state, nodes=built.nodes, clock=clock, plan=True)
    assert changed_fields(plan) == {"efs.mount_targets": {"security_group_ids"}}
    # The plan's first look read them from the VPC's network interfaces (one listing), not one
    # call per mount target.
    assert aws.calls.counts[("efs", "DescribeMountTargetSecurityGroups")] == asked
    [change] = next(r for r in plan.results if r.key == "efs.mount_targets").changes
    # The mount targets disagree: the diff shows each subnet's groups.
    assert change.actual == {built.subnet(1): [built.sg_id], built.subnet(2): [other]}

    converge(aws, built.state, nodes=built.nodes, clock=clock)
    assert {s: m["SecurityGroups"] for s, m in mount_targets(efs, fs_id).items()} == {
        built.subnet(1): [built.sg_id], built.subnet(2): [built.sg_id]}


def test_access_point_tag_removed_by_hand_is_restored(aws, efs, clock, built):
    ap_id = recorded_id(built.state, "efs.access_point")
    efs.untag_resource(ResourceId=ap_id, TagKeys=["Environment"])
    plan = converge(aws, built.state, nodes=built.nodes, clock=clock, plan=True)
    assert changed_fields(plan) == {"efs.access_point": {"tags.Environment"}}
    converge(aws, built.state, nodes=built.nodes, clock=clock)
    [ap] = efs.describe_access_points(AccessPointId=ap_id)["AccessPoints"]
    assert tags(ap) == ownership("efs-ap-dev")


def test_file_system_deleted_behind_our_back_is_recreated_with_its_mount_targets_and_access_point(aws, efs, clock, built):
    old = recorded_id(built.state, "efs.file_system")
    efs.delete_access_point(AccessPointId=recorded_id(built.state, "efs.access_point"))
    for mt in mount_targets(efs, old).values():
        efs.delete_mount_target(MountTargetId=mt["MountTargetId"])
    efs.delete_file_system(FileSystemId=old)

    run = converge(aws, built.state, nodes=built.nodes, clock=clock)
    assert {k: actions(run)[k] for k in EFS_KEYS} == dict.fromkeys(EFS_KEYS, "create")
    fs = our_file_system(efs)
    assert fs["FileSystemId"] != old
    assert recorded_ids(built.state, EFS_KEYS)["efs.mount_targets"] == fs["FileSystemId"]
    assert set(mount_targets(efs, fs["FileSystemId"])) == {built.subnet(1), built.subnet(2)}
    [ap] = efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"]
    assert recorded_id(built.state, "efs.access_point") == ap["AccessPointId"]


def efs_actions(run) -> dict[str, str]:
    # Teardown walks the nodes given with their dependencies: the network goes too.
    return {k: a for k, a in actions(run).items() if k in EFS_KEYS}


def test_teardown_without_state_finds_everything_from_token_and_tags(aws, efs, clock, built):
    built.state.lose()
    run = destroy(aws, built.state, nodes=built.nodes, clock=clock)
    assert efs_actions(run) == dict.fromkeys(EFS_KEYS, "delete")
    assert efs.describe_file_systems(CreationToken=TOKEN)["FileSystems"] == []
    assert efs.describe_access_points()["AccessPoints"] == []


def test_access_point_of_another_environment_is_neither_adopted_nor_deleted(aws, efs, clock, env):
    converge(aws, env.state, nodes=env.nodes, clock=clock)
    fs_id = recorded_id(env.state, "efs.file_system")
    foreign = efs.create_access_point(
        FileSystemId=fs_id, Tags=[{"Key": k, "Value": v} for k, v in {**ownership("efs-ap-dev"), "Environment": "prod"}.items()]
    )["AccessPointId"]
    env.state.lose()
    run = converge(aws, env.state, nodes=env.nodes, clock=clock)
    assert actions(run)["efs.access_point"] == "unchanged"
    assert recorded_id(env.state, "efs.access_point") != foreign
    # Teardown looks it up the same way, with every Ref unknown: only ours is found to delete.
    node = next(n for n in env.nodes if n.key == "efs.access_point")
    found = AccessPoint(aws, env="dev", clock=clock.as_clock()).list_owned(resolve(node.spec, {}))
    assert [o.id for o in found] == [recorded_id(env.state, "efs.access_point")]


# -- create conflicts (moto) -------------------------------------------------------------------

def file_system_spec(handler: FileSystem) -> dict:
    node = next(n for n in efs_nodes("dev", EnvConfig(), len(AZS)) if n.key == "efs.file_system")
    return handler.desired(node.spec)


def test_file_system_already_existing_under_our_token_is_found_by_the_token(aws, efs, clock):
    # A create whose answer was lost: AWS answers FileSystemAlreadyExists on the retry, and
    # moto's error carries no FileSystemId.
    handler = FileSystem(aws, env="dev", clock=clock.as_clock())
    spec = file_system_spec(handler)
    made = efs.create_file_system(CreationToken=TOKEN, Encrypted=True,
                                  Tags=[{"Key": k, "Value": v} for k, v in spec["tags"].items()])
    assert handler.create(spec, "reconciler-token") == made["FileSystemId"]
    assert len(efs.describe_file_systems()["FileSystems"]) == 1


def test_our_token_held_by_a_file_system_without_our_tags_fails_with_a_clear_message(aws, efs, clock, env):
    efs.create_file_system(CreationToken=TOKEN, Tags=[{"Key": "Name", "Value": "someone-else"}])
    run = reconcile_stack(aws, env="dev", doc=env.state.doc, save=env.state.save, clock=clock.as_clock(), nodes=env.nodes)
    failure = run.failures["efs.file_system"]
    assert TOKEN in failure.reason and "tags" in failure.reason
    assert len(efs.describe_file_systems()["FileSystems"]) == 1
    # Its dependents never ran.
    assert {"efs.mount_targets", "efs.access_point"} <= set(run.failures)


# -- AWS behaviour moto cannot show (Stubber, FakeClock) ---------------------------------------

FS_ID = "fs-0123456789abcdef0"
SUBNET = "subnet-0a0a0a0a0a0a0a0a0"
SUBNET_B = "subnet-0b0b0b0b0b0b0b0b0"
SG = "sg-0a0a0a0a0a0a0a0a0"


@pytest.fixture
def stubbed():
    yield from stubbed_aws("efs")


def fs_answer(state: str) -> dict:
    return {
        "OwnerId": "123456789012", "CreationToken": TOKEN, "FileSystemId": FS_ID,
        "FileSystemArn": f"arn:aws:elasticfilesystem:{REGION}:123456789012:file-system/{FS_ID}",
        "CreationTime": "2026-01-01T00:00:00Z", "LifeCycleState": state, "NumberOfMountTargets": 0,
        "SizeInBytes": {"Value": 0}, "PerformanceMode": "generalPurpose", "Encrypted": True,
        "ThroughputMode": "bursting", "Tags": [{"Key": k, "Value": v} for k, v in ownership("efs-dev").items()],
    }


def mt_answer(state: str, mt_id: str = "fsmt-0a0a0a0a", subnet: str = SUBNET) -> dict:
    return {"MountTargetId": mt_id, "FileSystemId": FS_ID, "SubnetId": subnet, "LifeCycleState": state}


def test_file_system_creating_then_available_is_ready_after_short_polls(stubbed, fake):
    aws, stubber = stubbed
    for state in ("creating", "creating", "available"):
        stubber.add_response("describe_file_systems", {"FileSystems": [fs_answer(state)]}, {"FileSystemId": FS_ID})
    handler = FileSystem(aws, env="dev", clock=fake.as_clock())
    result = wait_for(lambda: handler.refresh(FS_ID), Status.READY, what="efs", timeout=FileSystem.create_timeout,
                      ceiling=FileSystem.poll_ceiling, clock=fake.as_clock())
    assert result.status is Status.READY
    assert fake.sleeps == [1.0, 1.5]


def test_mount_target_creation_waits_for_the_file_system_to_be_available(stubbed, fake):
    aws, stubber = stubbed
    params = {"FileSystemId": FS_ID, "SubnetId": SUBNET, "SecurityGroups": [SG]}
    for _ in range(2):
        # B-EFS-1: the file system is still `creating`.
        stubber.add_client_error("create_mount_target", "IncorrectFileSystemLifeCycleState", http_status_code=409,
                                 expected_params=params)
    stubber.add_response("create_mount_target", mt_answer("creating"), params)
    handler = MountTargets(aws, env="dev", clock=fake.as_clock())
    spec = {"name": "efs-mount-targets-dev", "tags": {}, "creation_token": TOKEN, "file_system_id": FS_ID,
            "subnet_ids": [SUBNET], "security_group_ids": [SG]}
    assert handler.create(spec, "token") == FS_ID
    assert fake.sleeps == [1.0, 2.0]


def mount_target_spec(subnets: list[str]) -> dict:
    return {"name": "efs-mount-targets-dev", "tags": {}, "creation_token": TOKEN, "file_system_id": FS_ID,
            "subnet_ids": subnets, "security_group_ids": [SG]}


def test_mount_target_made_by_an_attempt_whose_answer_was_lost_counts_as_created(stubbed, fake):
    aws, stubber = stubbed
    # botocore retried a CreateMountTarget whose first answer was lost: the retry is refused.
    stubber.add_client_error("create_mount_target", "MountTargetConflict", http_status_code=409,
                             expected_params={"FileSystemId": FS_ID, "SubnetId": SUBNET, "SecurityGroups": [SG]})
    stubber.add_response("describe_mount_targets", {"MountTargets": [mt_answer("creating")]}, {"FileSystemId": FS_ID})
    handler = MountTargets(aws, env="dev", clock=fake.as_clock())
    assert handler.create(mount_target_spec([SUBNET]), "token") == FS_ID
    stubber.assert_no_pending_responses()


def test_mount_target_conflict_with_another_subnet_of_the_az_is_an_error(stubbed, fake):
    aws, stubber = stubbed
    stubber.add_client_error("create_mount_target", "MountTargetConflict", http_status_code=409)
    stubber.add_response("describe_mount_targets", {"MountTargets": [mt_answer("available", subnet=SUBNET_B)]},
                         {"FileSystemId": FS_ID})
    handler = MountTargets(aws, env="dev", clock=fake.as_clock())
    with pytest.raises(ClientError, match="MountTargetConflict"):
        handler.create(mount_target_spec([SUBNET]), "token")


def test_mount_targets_creating_are_pending_then_ready_then_deleting_and_gone_once_deleted(stubbed, fake):
    aws, stubber = stubbed
    answers = [
        [mt_answer("creating"), mt_answer("available", "fsmt-0b0b0b0b", SUBNET_B)],
        [mt_answer("available"), mt_answer("available", "fsmt-0b0b0b0b", SUBNET_B)],
        # An update in progress: one is removed while the other serves.
        [mt_answer("available"), mt_answer("deleting", "fsmt-0b0b0b0b", SUBNET_B)],
        [mt_answer("deleting"), mt_answer("deleted", "fsmt-0b0b0b0b", SUBNET_B)],
        [],
    ]
    for targets in answers:
        stubber.add_response("describe_mount_targets", {"MountTargets": targets}, {"FileSystemId": FS_ID})
    handler = MountTargets(aws, env="dev", clock=fake.as_clock())
    assert [handler.refresh(FS_ID).status for _ in answers] == [
        Status.PENDING, Status.READY, Status.PENDING, Status.DELETING, Status.GONE]


def test_mount_targets_of_a_file_system_already_gone_are_gone(stubbed, fake):
    aws, stubber = stubbed
    stubber.add_client_error("describe_mount_targets", "FileSystemNotFound", http_status_code=404,
                             expected_params={"FileSystemId": FS_ID})
    assert MountTargets(aws, env="dev", clock=fake.as_clock()).refresh(FS_ID).status is Status.GONE


def test_file_system_in_use_is_retried_on_delete_while_mount_targets_drain(stubbed, fake):
    aws, stubber = stubbed
    for _ in range(2):
        stubber.add_client_error("delete_file_system", "FileSystemInUse", http_status_code=409,
                                 expected_params={"FileSystemId": FS_ID})
    stubber.add_response("delete_file_system", {}, {"FileSystemId": FS_ID})
    FileSystem(aws, env="dev", clock=fake.as_clock()).delete(Observed(FS_ID, {}, {}))
    assert fake.sleeps == [2.0, 4.0]


def test_file_system_already_gone_counts_as_deleted(stubbed, fake):
    aws, stubber = stubbed
    stubber.add_client_error("delete_file_system", "FileSystemNotFound", http_status_code=404,
                             expected_params={"FileSystemId": FS_ID})
    # The engine's remove: FileSystemNotFound is the kind's not-found, so the delete is done.
    lifecycle.remove(FileSystem(aws, env="dev", clock=fake.as_clock()), Observed(FS_ID, {}, {}))
    assert fake.sleeps == []


def test_throughput_mode_changed_by_hand_is_switched_back(stubbed, fake):
    # moto does not implement UpdateFileSystem.
    aws, stubber = stubbed
    stubber.add_response("update_file_system", fs_answer("updating"), {"FileSystemId": FS_ID, "ThroughputMode": "bursting"})
    handler = FileSystem(aws, env="dev", clock=fake.as_clock())
    obs = Observed(FS_ID, {}, {}, fs_answer("available"))
    lifecycle.update(handler, file_system_spec(handler), obs, [FieldDiff("throughput_mode", "bursting", "elastic")])
    assert fake.sleeps == []


def efs_backend():
    return efs_backends[DEFAULT_ACCOUNT_ID][REGION]


def test_errored_file_system_is_reported_and_kept_for_a_person(aws, efs, clock, built):
    # It holds the data: the engine's on_failed "stop" refuses it in the plan and in the run,
    # and never deletes it; its dependents are not attempted.
    fs_id = recorded_id(built.state, "efs.file_system")
    efs_backend().file_systems_by_id[fs_id].life_cycle_state = "error"

    plan = reconcile_stack(aws, env="dev", doc=built.state.doc, save=built.state.save, clock=clock.as_clock(),
                           nodes=built.nodes, plan=True)
    [result] = [r for r in plan.results if r.key == "efs.file_system"]
    assert result.action == "replace" and "is failed (error)" in result.refusal
    assert [(d.field, d.change.name) for d in result.changes] == [("status", "IMPOSSIBLE")]

    run = reconcile_stack(aws, env="dev", doc=built.state.doc, save=built.state.save, clock=clock.as_clock(),
                          nodes=built.nodes)
    reason = run.failures["efs.file_system"].reason
    assert fs_id in reason and "is failed (error)" in reason and "tear the environment down" in reason
    assert {"efs.mount_targets", "efs.access_point"} <= set(run.failures)
    assert [fs["FileSystemId"] for fs in efs.describe_file_systems()["FileSystems"]] == [fs_id]
    assert len(mount_targets(efs, fs_id)) == 2


def test_mount_target_in_error_is_replaced_with_the_whole_set_and_the_file_system_kept(
    aws, efs, clock, built
):
    # A mount target holds no data: the engine's on_failed "replace" deletes the set (the node)
    # and creates it again, in the same subnets with the same groups.
    fs_id = recorded_id(built.state, "efs.file_system")
    before = mount_targets(efs, fs_id)
    efs_backend().mount_targets_by_id[before[built.subnet(1)]["MountTargetId"]].life_cycle_state = "error"

    plan = converge(aws, built.state, nodes=built.nodes, clock=clock, plan=True)
    [result] = [r for r in plan.results if r.key == "efs.mount_targets"]
    assert result.action == "replace" and result.refusal is None
    assert [(d.field, d.change.name) for d in result.changes] == [("status", "REPLACE")]

    run = converge(aws, built.state, nodes=built.nodes, clock=clock)
    assert {k: actions(run)[k] for k in EFS_KEYS} == {
        "efs.file_system": "unchanged", "efs.mount_targets": "replace", "efs.access_point": "unchanged"}
    after = mount_targets(efs, fs_id)
    assert set(after) == {built.subnet(1), built.subnet(2)}
    assert {m["MountTargetId"] for m in after.values()}.isdisjoint(m["MountTargetId"] for m in before.values())
    assert all(m["LifeCycleState"] == "available" and m["SecurityGroups"] == [built.sg_id] for m in after.values())
    assert recorded_id(built.state, "efs.mount_targets") == fs_id == our_file_system(efs)["FileSystemId"]
    assert set(actions(converge(aws, built.state, nodes=built.nodes, clock=clock)).values()) == {"unchanged"}


def test_mount_targets_in_error_found_after_state_loss_are_replaced_in_the_same_run(aws, efs, clock, built):
    fs_id = recorded_id(built.state, "efs.file_system")
    [one, _] = mount_targets(efs, fs_id).values()
    efs_backend().mount_targets_by_id[one["MountTargetId"]].life_cycle_state = "error"
    built.state.lose()
    run = converge(aws, built.state, nodes=built.nodes, clock=clock)
    assert actions(run)["efs.mount_targets"] == "replace"
    assert {m["LifeCycleState"] for m in mount_targets(efs, fs_id).values()} == {"available"}


@pytest.mark.parametrize("state, status", [
    ("creating", Status.PENDING), ("available", Status.READY), ("updating", Status.PENDING),
    ("deleting", Status.DELETING), ("deleted", Status.GONE), ("error", Status.FAILED),
])
def test_lifecycle_states_map_to_statuses(state, status):
    assert lifecycle_status(state).status is status



def test_groups_of_a_mount_target_still_creating_are_shown_unread_and_left_alone(stubbed, fake):
    aws, stubber = stubbed
    targets = [mt_answer("available"), mt_answer("creating", "fsmt-0b0b0b0b", SUBNET_B)]
    stubber.add_response("describe_mount_targets", {"MountTargets": targets}, {"FileSystemId": FS_ID})
    stubber.add_response("describe_mount_target_security_groups", {"SecurityGroups": [SG]},
                         {"MountTargetId": "fsmt-0a0a0a0a"})
    # No network interface yet, so no groups to read.
    stubber.add_client_error("describe_mount_target_security_groups", "IncorrectMountTargetState", http_status_code=409,
                             expected_params={"MountTargetId": "fsmt-0b0b0b0b"})
    handler = MountTargets(aws, env="dev", clock=fake.as_clock())
    obs = handler.read(FS_ID)
    assert obs.attrs["security_group_ids"] == {SUBNET: [SG], SUBNET_B: None}

    spec = handler.desired({"name": "efs-mount-targets-dev", "tags": {"Name": "efs-mount-targets-dev"}, "creation_token": TOKEN,
                            "file_system_id": FS_ID, "subnet_ids": [SUBNET_B, SUBNET], "security_group_ids": [SG]})
    diffs = lifecycle.diff(handler, spec, obs)
    assert [d.field for d in diffs] == ["security_group_ids"]
    lifecycle.update(handler, spec, obs, diffs)  # no call: the creating one is modified once it is available


@pytest.mark.parametrize("change, rule", [
    ({"creation_token": "t" * 65}, "creation_token must be 1-64 characters"),  # B-EFS-2
    ({"lifecycle_policies": [{"TransitionToIA": "AFTER_14_DAYS", "TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"}]},
     "each lifecycle policy holds exactly one transition"),  # B-EFS-3
])
def test_file_system_values_aws_refuses_are_refused_before_any_call(aws, change, rule):
    node = next(n for n in efs_nodes("dev", EnvConfig(), len(AZS)) if n.key == "efs.file_system")
    state = MemoryState()
    engine = Reconciler(aws, env="dev", state=state.doc, save=state.save, clock=FakeClock().as_clock())
    before = aws.calls.total
    with pytest.raises(ResourceError, match=rule):
        engine.reconcile(dataclasses.replace(node, spec={**node.spec, **change}))
    assert aws.calls.total == before
