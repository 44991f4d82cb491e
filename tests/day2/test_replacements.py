"""Replacements on a running environment (issue 13): a change AWS cannot make in place.

A stateless resource is replaced without asking: beside the old one where AWS allows two (the
target group of a new port: made first, the listener and the service pointed at it, the old one
deleted last), else deleted first with what depends on it. A replacement that loses data (the
VPC, which takes the database, Redis and the file system's mount targets with it) is refused
unless ``--allow-replace`` names it, and refused anyway while deletion protection is on: the
plan never promises what the apply cannot do. A part the configuration switches off (the WAF)
is deleted; switched on again, made again.
"""
from __future__ import annotations

import dataclasses

import boto3
import pytest

from tests.conftest import REGION
from tests.day2.environment import ENV, Day2Env, changes, running_environment


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with running_environment(tmp_path_factory) as running:
        yield running


def settled(env: Day2Env) -> None:
    """A second apply makes no call and drift is clean."""
    again = env.apply(env.cfg)
    assert again.ok and env.last_calls == {}, env.last_calls
    report = env.drift()
    assert report.in_sync, dataclasses.asdict(report)


def target_groups() -> dict[str, int]:
    elbv2 = boto3.client("elbv2", region_name=REGION)
    return {tg["TargetGroupName"]: tg["Port"] for tg in elbv2.describe_target_groups()["TargetGroups"]}


def test_a_new_port_replaces_the_target_group_beside_the_old_one_and_repoints_what_uses_it(env: Day2Env):
    before = target_groups()
    assert before == {f"api-tg-{ENV}": 80}
    wanted = dataclasses.replace(env.cfg, api_port=8080)
    plan = env.plan(wanted)
    [tg] = [r for r in plan.results if r.key == "elb.target_group"]
    assert (tg.action, tg.replacement, tg.refusal, tg.data_lost) == ("replace", "beside", None, {})
    assert changes(plan)["ecs.service.api"] == {"task_definition": "IN_PLACE", "load_balancers": "IN_PLACE"}
    assert changes(plan)["elb.nlb"] == {"listeners": "IN_PLACE"}

    run = env.apply(wanted)
    assert run.ok and run.refused == [], run.failures
    # Made first under the other name, the listener and the service pointed at it, the old one
    # deleted last (a group a listener uses cannot be deleted: ResourceInUse).
    assert env.last_calls["elbv2 CreateTargetGroup"] == 1 and env.last_calls["elbv2 DeleteTargetGroup"] == 1
    assert env.last_calls["ecs UpdateService"] == 1
    assert target_groups() == {f"api-tg-{ENV}-b": 8080}
    elbv2 = boto3.client("elbv2", region_name=REGION)
    new_arn = env.doc.resource("elb.target_group")["id"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=env.doc.resource("elb.nlb")["id"])["Listeners"]
    assert listener["DefaultActions"][0]["TargetGroupArn"] == new_arn and listener["Port"] == 8080
    service = boto3.client("ecs", region_name=REGION).describe_services(
        cluster=f"video-processing-{ENV}", services=[f"metadata-api-{ENV}"])["services"][0]
    assert [lb["targetGroupArn"] for lb in service["loadBalancers"]] == [new_arn]
    assert "deposed" not in env.doc.resource("elb.target_group")
    settled(env)

    # Back to the first port: the replacement takes the first name again.
    assert env.apply(dataclasses.replace(env.cfg, api_port=80)).ok
    assert target_groups() == {f"api-tg-{ENV}": 80}
    settled(env)


def env_vpcs() -> list[dict]:
    ec2 = boto3.client("ec2", region_name=REGION)
    return ec2.describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": [ENV]}])["Vpcs"]


def test_the_waf_switched_off_is_deleted_and_switched_on_is_made_again(env: Day2Env):
    wafv2 = boto3.client("wafv2", region_name=REGION)
    assert [a["Name"] for a in wafv2.list_web_acls(Scope="REGIONAL")["WebACLs"]] == [f"video-metadata-api-waf-{ENV}"]
    off = dataclasses.replace(env.cfg, api_waf=False)
    # Switched off in the configuration, not reconciled yet: drift says the web ACL is still there.
    report = env.drift(off)
    assert sorted((d["resource"], d["attribute"], d["actual"]) for d in report.drifted) == [
        ("waf.association", "exists", True), ("waf.logging", "exists", True), ("waf.web_acl", "exists", True)]
    plan = env.plan(off)
    # Its log group holds data: kept until teardown, as an export log group no longer exported.
    assert {r.key: r.action for r in plan.results if r.action != "unchanged"} == {
        "waf.web_acl": "delete", "waf.association": "delete", "waf.logging": "delete"}
    assert env.apply(off).ok
    assert env.last_calls == {"wafv2 DisassociateWebACL": 1, "wafv2 DeleteLoggingConfiguration": 1, "wafv2 DeleteWebACL": 1}
    assert wafv2.list_web_acls(Scope="REGIONAL")["WebACLs"] == []
    assert env.doc.resource("waf.web_acl") is None and env.doc.resource("waf.association") is None
    assert env.doc.resource("waf.logging") is None and env.doc.resource("logs.waf") is not None
    settled(env)
    assert env.apply(dataclasses.replace(env.cfg, api_waf=True)).ok
    assert env.last_calls == {"wafv2 CreateWebACL": 1, "wafv2 AssociateWebACL": 1, "wafv2 PutLoggingConfiguration": 1}
    settled(env)


def test_a_replacement_that_loses_data_is_refused_without_consent_before_any_call(env: Day2Env):
    wanted = dataclasses.replace(env.cfg, vpc_cidr="10.1.0.0/16")
    plan = env.plan(wanted)
    assert [r.key for r in plan.refused] == ["vpc"]
    [vpc] = plan.refused
    assert vpc.replacement == "delete_first"
    assert set(vpc.data_lost) == {"rds.instance", "redis.replication_group", "logs.api_execution"}
    assert "--allow-replace vpc" in vpc.refusal
    # Everything in the VPC is shown going with it.
    inside = {r.key for r in plan.results if r.replaced_with == "vpc"}
    assert {"subnet.isolated.1", "rds.instance", "ecs.service.api", "elb.nlb"} <= inside and "kms.key" not in inside
    run = env.apply(wanted)
    assert [r.key for r in run.refused] == ["vpc"] and env.last_calls == {}


def test_consent_does_not_override_deletion_protection(env: Day2Env):
    protected = dataclasses.replace(env.cfg, deletion_protection=True)
    assert env.apply(protected).ok
    wanted = dataclasses.replace(protected, vpc_cidr="10.1.0.0/16")
    run = env.apply(wanted, allow_replace=frozenset({"vpc"}))
    [vpc] = run.refused
    assert "deletion protection" in vpc.refusal and f"rds-postgresql-{ENV}" in vpc.refusal
    assert env.last_calls == {}
    assert env.apply(dataclasses.replace(env.cfg, deletion_protection=False)).ok


def test_a_consented_replacement_killed_half_way_resumes_and_leaves_one_of_everything(env: Day2Env):
    old_vpc = env.doc.resource("vpc")["id"]
    wanted = dataclasses.replace(env.cfg, vpc_cidr="10.1.0.0/16")
    ec2 = env.aws.client("ec2")

    def killed(**_):
        raise KeyboardInterrupt("killed at CreateVpc")

    ec2.meta.events.register("before-call.ec2.CreateVpc", killed)
    try:
        with pytest.raises(KeyboardInterrupt):
            env.apply(wanted, allow_replace=frozenset({"vpc"}))
    finally:
        ec2.meta.events.unregister("before-call.ec2.CreateVpc", killed)
    assert env_vpcs() == []  # deleted first, the new one not made yet

    # The next run: the deleted ones are creates now; nothing is refused, nothing needs consent.
    run = env.apply(wanted, allow_replace=frozenset({"vpc"}))
    assert run.ok and run.refused == [], run.failures
    [vpc] = env_vpcs()
    assert vpc["CidrBlock"] == "10.1.0.0/16" and vpc["VpcId"] != old_vpc
    # A database never moves to another VPC: this one was made anew in the new one.
    [db] = boto3.client("rds", region_name=REGION).describe_db_instances()["DBInstances"]
    assert db["DBSubnetGroup"]["VpcId"] == vpc["VpcId"]
    settled(env)


def test_a_replacement_killed_before_the_old_one_is_deleted_deletes_it_next_run(env: Day2Env):
    elbv2 = env.aws.client("elbv2")
    wanted = dataclasses.replace(env.cfg, api_port=8081)

    def killed(**_):
        raise KeyboardInterrupt("killed at DeleteTargetGroup")

    event = f"before-call.{elbv2.meta.service_model.service_id.hyphenize()}.DeleteTargetGroup"
    elbv2.meta.events.register(event, killed)
    try:
        with pytest.raises(KeyboardInterrupt):
            env.apply(wanted)
    finally:
        elbv2.meta.events.unregister(event, killed)
    assert sorted(target_groups().values()) == [80, 8081]  # both: the old one not deleted yet
    old = env.doc.resource("elb.target_group")["deposed"]
    plan = env.plan(wanted)
    [tg] = [r for r in plan.results if r.key == "elb.target_group"]
    assert tg.action == "unchanged" and tg.deposed == old  # the plan says what is left to do
    report = env.drift(wanted)
    assert [(d["resource"], d["attribute"], d["actual"]) for d in report.drifted] == [("elb.target_group", "old_copies", old)]
    assert report.unmanaged == []  # named once, as what it is
    assert env.apply(wanted).ok
    assert env.last_calls == {"elbv2 DeleteTargetGroup": 1}
    assert list(target_groups().values()) == [8081]
    settled(env)
