"""docs/configuration.md, the API Gateway row (issue 15), on moto with the fidelity layer.

Each setting is read back with the test's own boto3 clients after a reconcile, switched off
behind the tool's back, seen in the plan (what bin/drift reports: drift is the plan's diff) and
put back by the next reconcile. FSBP control ids as docs/configuration.md gives them:

    APIGateway.1 execution logging (ERROR/INFO), metrics   test_stage_logging_metrics_and_tracing_...
    APIGateway.3 X-Ray tracing                              test_stage_logging_metrics_and_tracing_...
    access logs to an encrypted log group, execution log group owned and encrypted
                                                             test_log_groups_are_encrypted_...
    C-APIGW-1 account CloudWatch role                       test_account_role_..., test_someone_elses_...,
              shared by the environments                    test_account_..._handed_...
    APIGateway.4 WAF web ACL and its association            test_web_acl_...
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import json

import boto3
import pytest

from orchestrator.config import EnvConfig
from orchestrator.spec import Node
from orchestrator.stack.api import api_security_nodes
from resources.shared.apigateway_account import PUSH_TO_CLOUDWATCH_POLICY, ApiGatewayCloudWatchRole
from resources.security.iam_role import IamRole, canonical_policy
from sandbox.fidelity import logs_kms
from tests.resources.apigateway_support import KEYS, REGION, WAF, make_nlb, network_nodes, nodes, rest_api, substitute
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge, destroy

ROLE = "apigateway-cloudwatch-role-dev"
ACCOUNT = "123456789012"  # moto's
ACL = "video-metadata-api-waf-dev"
ACCESS = "/aws/apigateway/video-metadata-api-dev/access"


def changed(run) -> dict[str, set[str]]:
    return {r.key: {d.field for d in r.changes} for r in run.results if r.action != "unchanged"}


@pytest.fixture
def clients(moto_aws):
    return {s: boto3.client(s, region_name=REGION) for s in ("apigateway", "logs", "iam", "wafv2", "kms")}


@pytest.fixture
def stack(aws, clock):
    state = MemoryState()
    converge(aws, state, nodes=network_nodes(), clock=clock)
    nlb = make_nlb(state)
    api_state = MemoryState()

    def every(cfg: EnvConfig = EnvConfig()):
        return nodes(nlb, *KEYS, *WAF, cfg=cfg)

    return api_state, every


def stage(apigw) -> dict:
    return apigw.get_stage(restApiId=rest_api(apigw)["id"], stageName="dev")


def mutating(aws, before) -> dict[str, int]:
    now = aws.calls.counts
    return {f"{s} {op}": now[(s, op)] - before[(s, op)] for (s, op) in now
            if now[(s, op)] != before[(s, op)] and not op.startswith(("Describe", "Get", "List"))}


def test_stage_logging_metrics_and_tracing_are_set_switched_off_seen_and_restored(aws, clients, stack, clock):
    state, every = stack
    before = collections.Counter(aws.calls.counts)
    converge(aws, state, nodes=every(), clock=clock)
    made = mutating(aws, before)
    # The kill sweep's count of the new calls (the rest is the API's and the key's).
    assert {k: made[k] for k in ("apigateway UpdateStage", "apigateway UpdateAccount", "wafv2 CreateWebACL",
                                 "wafv2 AssociateWebACL", "wafv2 PutLoggingConfiguration", "logs CreateLogGroup",
                                 "iam CreateRole")} == {
        "apigateway UpdateStage": 1, "apigateway UpdateAccount": 1, "wafv2 CreateWebACL": 1, "wafv2 PutLoggingConfiguration": 1,
        "wafv2 AssociateWebACL": 1, "logs CreateLogGroup": 3, "iam CreateRole": 1}
    apigw, logs = clients["apigateway"], clients["logs"]
    s = stage(apigw)
    settings = s["methodSettings"]["*/*"]
    assert settings["loggingLevel"] == "ERROR" and settings["metricsEnabled"] is True  # APIGateway.1
    assert settings["dataTraceEnabled"] is False
    assert s["tracingEnabled"] is True  # APIGateway.3
    group = logs.describe_log_groups(logGroupNamePrefix=ACCESS)["logGroups"][0]
    assert s["accessLogSettings"]["destinationArn"] == group["arn"].removesuffix(":*")
    fields = json.loads(s["accessLogSettings"]["format"])
    assert {"requestId", "ip", "httpMethod", "path", "status", "responseLatency"} <= set(fields)

    apigw.update_stage(restApiId=rest_api(apigw)["id"], stageName="dev", patchOperations=[
        {"op": "replace", "path": "/*/*/logging/loglevel", "value": "OFF"},
        {"op": "replace", "path": "/*/*/metrics/enabled", "value": "false"},
        {"op": "replace", "path": "/tracingEnabled", "value": "false"},
        {"op": "remove", "path": "/accessLogSettings"},
    ])
    plan = converge(aws, state, nodes=every(), clock=clock, plan=True)
    assert changed(plan) == {"apigw.stage": {"log_level", "metrics_enabled", "tracing_enabled",
                                             "access_log_destination", "access_log_format"}}
    converge(aws, state, nodes=every(), clock=clock)
    s = stage(apigw)
    assert (s["methodSettings"]["*/*"]["loggingLevel"], s["methodSettings"]["*/*"]["metricsEnabled"], s["tracingEnabled"]) == ("ERROR", True, True)
    assert s["accessLogSettings"]["destinationArn"] == group["arn"].removesuffix(":*")
    assert changed(converge(aws, state, nodes=every(), clock=clock, plan=True)) == {}

    # Configuration: INFO, no detailed metrics, no tracing.
    converge(aws, state, nodes=every(EnvConfig(api_log_level="INFO", api_detailed_metrics=False, api_tracing=False)), clock=clock)
    s = stage(apigw)
    assert (s["methodSettings"]["*/*"]["loggingLevel"], s["methodSettings"]["*/*"]["metricsEnabled"], s["tracingEnabled"]) == ("INFO", False, False)


def test_log_groups_are_encrypted_with_retention_switched_off_seen_restored_and_torn_down(aws, clients, stack, clock):
    state, every = stack
    converge(aws, state, nodes=every(), clock=clock)
    logs, apigw = clients["logs"], clients["apigateway"]
    key_arn = clients["kms"].describe_key(KeyId="alias/video-pipeline-dev")["KeyMetadata"]["Arn"]
    execution = f"API-Gateway-Execution-Logs_{rest_api(apigw)['id']}/dev"
    for name in (ACCESS, execution):
        [group] = [g for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name]
        assert (group.get("kmsKeyId"), group.get("retentionInDays")) == (key_arn, 365), name
    logs.disassociate_kms_key(logGroupName=execution)
    logs.delete_retention_policy(logGroupName=ACCESS)
    plan = converge(aws, state, nodes=every(), clock=clock, plan=True)
    assert changed(plan) == {"logs.api_execution": {"kms_key_id"}, "logs.api_access": {"retention_days"}}
    converge(aws, state, nodes=every(), clock=clock)
    assert logs.describe_log_groups(logGroupNamePrefix=execution)["logGroups"][0].get("kmsKeyId") == key_arn
    assert logs.describe_log_groups(logGroupNamePrefix=ACCESS)["logGroups"][0].get("retentionInDays") == 365

    # Adopted after state loss: nothing made twice.
    state.lose()
    before = aws.calls.mutating
    assert set(actions(converge(aws, state, nodes=every(), clock=clock)).values()) == {"unchanged"}
    assert aws.calls.mutating == before

    destroy(aws, state, nodes=every(), clock=clock)
    names = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    assert ACCESS not in names and execution not in names


def test_account_role_is_set_when_unset_switched_off_seen_restored_and_removed_when_unused(aws, clients, stack, clock):
    state, every = stack
    converge(aws, state, nodes=every(), clock=clock)
    apigw, iam = clients["apigateway"], clients["iam"]
    role = iam.get_role(RoleName=ROLE)["Role"]
    assert apigw.get_account()["cloudwatchRoleArn"] == role["Arn"]
    [statement] = canonical_policy(role["AssumeRolePolicyDocument"])["Statement"]
    assert statement["Principal"] == {"Service": ["apigateway.amazonaws.com"]}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": [role["Arn"].split(":")[4]]}}
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]] == [PUSH_TO_CLOUDWATCH_POLICY]

    apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ""}])
    assert changed(converge(aws, state, nodes=every(), clock=clock, plan=True)) == {"iam.apigw_cloudwatch_role": {"account_role_set"}}
    converge(aws, state, nodes=every(), clock=clock)
    assert apigw.get_account()["cloudwatchRoleArn"] == role["Arn"]

    # Teardown: no other stage of the region logs, so the setting is reset and the role deleted.
    destroy(aws, state, nodes=every(), clock=clock)
    assert not apigw.get_account().get("cloudwatchRoleArn")
    assert ROLE not in {r["RoleName"] for r in iam.list_roles()["Roles"]}


def test_account_role_trusting_every_account_is_seen_and_brought_back_to_this_account(aws, clients, stack, clock):
    """A role made before its trust had the confused-deputy guard (or widened by hand) converges:
    the plan shows its trust policy, the reconcile puts aws:SourceAccount back."""
    state, every = stack
    converge(aws, state, nodes=every(), clock=clock)
    iam = clients["iam"]
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    assert changed(converge(aws, state, nodes=every(), clock=clock, plan=True)) == {"iam.apigw_cloudwatch_role": {"assume_role_policy"}}
    converge(aws, state, nodes=every(), clock=clock)
    [statement] = canonical_policy(iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"])["Statement"]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": [ACCOUNT]}}
    assert changed(converge(aws, state, nodes=every(), clock=clock, plan=True)) == {}


def other_logging_stage(apigw) -> None:
    api = apigw.create_rest_api(name="theirs")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    deployment = apigw.create_deployment(restApiId=api)["id"]
    apigw.create_stage(restApiId=api, stageName="live", deploymentId=deployment)
    apigw.update_stage(restApiId=api, stageName="live", patchOperations=[
        {"op": "replace", "path": "/*/*/logging/loglevel", "value": "INFO"}])


def test_account_role_is_kept_while_another_api_logs_through_it(aws, clients, stack, clock):
    state, every = stack
    converge(aws, state, nodes=every(), clock=clock)
    apigw, iam = clients["apigateway"], clients["iam"]
    other_logging_stage(apigw)
    destroy(aws, state, nodes=every(), clock=clock)
    arn = iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    assert apigw.get_account()["cloudwatchRoleArn"] == arn


def test_someone_elses_account_role_is_never_overwritten_nor_drift(aws, clients, stack, clock):
    state, every = stack
    apigw, iam = clients["apigateway"], clients["iam"]
    theirs = iam.create_role(RoleName="their-apigw-logs", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": theirs}])
    before = collections.Counter(aws.calls.counts)
    converge(aws, state, nodes=every(), clock=clock)
    assert "apigateway UpdateAccount" not in mutating(aws, before)
    assert apigw.get_account()["cloudwatchRoleArn"] == theirs
    assert changed(converge(aws, state, nodes=every(), clock=clock, plan=True)) == {}
    destroy(aws, state, nodes=every(), clock=clock)
    # Ours goes (the account does not name it); theirs and the setting stay.
    assert apigw.get_account()["cloudwatchRoleArn"] == theirs
    assert ROLE not in {r["RoleName"] for r in iam.list_roles()["Roles"]}


# The first, whose role the account names, with a hyphen in its name: its role name is not
# "apigateway-cloudwatch-role-eu-" followed by the others'.
ENVS = ("eu-a", "b", "c")


def role_node(env: str) -> Node:
    """The account role node of ``env`` alone (its trust names the account, a literal here)."""
    [node] = [n for n in api_security_nodes(env, EnvConfig()) if n.key == "iam.apigw_cloudwatch_role"]
    return dataclasses.replace(node, spec=substitute(node.spec, {("logs.api_access", "account_id"): ACCOUNT}))


@pytest.fixture
def three_roles(aws, clients, clock):
    """The role of environments eu-a, b and c; the account names eu-a's (the first one made)."""
    states = {env: MemoryState() for env in ENVS}
    for env in ENVS:
        converge(aws, states[env], env=env, nodes=[role_node(env)], clock=clock)
    arns = {env: clients["iam"].get_role(RoleName=f"apigateway-cloudwatch-role-{env}")["Role"]["Arn"] for env in ENVS}
    assert clients["apigateway"].get_account()["cloudwatchRoleArn"] == arns["eu-a"]
    return states, arns


def live_roles(iam) -> set[str]:
    return {r["Arn"] for r in iam.list_roles()["Roles"]}


@pytest.mark.parametrize("order", list(itertools.permutations(ENVS)), ids="/".join)
def test_account_role_names_a_surviving_environments_role_in_every_teardown_order(aws, clients, clock, three_roles, order):
    states, arns = three_roles
    apigw, iam = clients["apigateway"], clients["iam"]
    for i, env in enumerate(order):
        destroy(aws, states[env], env=env, nodes=[role_node(env)], clock=clock)
        survivors = order[i + 1:]
        named = apigw.get_account().get("cloudwatchRoleArn")
        if survivors:
            # A live role of an environment still there, and their drift is clean.
            assert named in {arns[s] for s in survivors} and named in live_roles(iam), (env, named)
            for s in survivors:
                assert changed(converge(aws, states[s], env=s, nodes=[role_node(s)], clock=clock, plan=True)) == {}
        else:
            # The last one, and no stage logs: reset, and every role gone.
            assert not named and not live_roles(iam) & set(arns.values())


def test_account_handed_to_a_role_while_it_is_deleted_is_handed_on(aws, clients, clock, three_roles, monkeypatch):
    """b's teardown read the account (naming eu-a's role) before eu-a's concurrent teardown handed it to
    b; b deletes its role after that: it must hand the account on, not leave it naming b's."""
    states, arns = three_roles
    apigw, iam = clients["apigateway"], clients["iam"]
    delete = IamRole.delete

    def handed_over_meanwhile(self, obs, spec=None):
        if obs.id == "apigateway-cloudwatch-role-b":
            apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": arns["b"]}])
        delete(self, obs, spec)

    monkeypatch.setattr(IamRole, "delete", handed_over_meanwhile)
    destroy(aws, states["b"], env="b", nodes=[role_node("b")], clock=clock)
    named = apigw.get_account()["cloudwatchRoleArn"]
    assert named in {arns["eu-a"], arns["c"]} and named in live_roles(iam)


def test_account_is_not_handed_to_a_role_deleted_since_it_was_listed(aws, clients, clock, three_roles, monkeypatch):
    """An heir deleted between the listing and the hand-over (its own teardown read the account
    before) is passed over for the next one."""
    states, arns = three_roles
    apigw, iam = clients["apigateway"], clients["iam"]
    heirs = ApiGatewayCloudWatchRole._heirs
    gone = ("apigateway-cloudwatch-role-b", arns["b"])

    def b_listed_then_deleted(self, obs):
        listed = heirs(self, obs)
        assert listed[0] == gone
        destroy(aws, states["b"], env="b", nodes=[role_node("b")], clock=clock)
        return listed

    monkeypatch.setattr(ApiGatewayCloudWatchRole, "_heirs", b_listed_then_deleted)
    destroy(aws, states["eu-a"], env="eu-a", nodes=[role_node("eu-a")], clock=clock)
    assert apigw.get_account()["cloudwatchRoleArn"] == arns["c"]
    assert arns["c"] in live_roles(iam)


def test_account_names_the_kept_role_again_when_every_heir_went_meanwhile(aws, clients, clock, three_roles, monkeypatch):
    """Both heirs deleted between the listing and the hand-over while another API logs: eu-a's role
    is kept and named again, never a deleted one."""
    states, arns = three_roles
    apigw, iam = clients["apigateway"], clients["iam"]
    other_logging_stage(apigw)
    heirs = ApiGatewayCloudWatchRole._heirs

    def listed_then_deleted(self, obs):
        listed = heirs(self, obs)
        for env in ("b", "c"):
            destroy(aws, states[env], env=env, nodes=[role_node(env)], clock=clock)
        return listed

    monkeypatch.setattr(ApiGatewayCloudWatchRole, "_heirs", listed_then_deleted)
    destroy(aws, states["eu-a"], env="eu-a", nodes=[role_node("eu-a")], clock=clock)
    assert apigw.get_account()["cloudwatchRoleArn"] == arns["eu-a"]
    assert arns["eu-a"] in live_roles(iam)


def web_acl(wafv2) -> dict:
    [summary] = [a for a in wafv2.list_web_acls(Scope="REGIONAL")["WebACLs"] if a["Name"] == ACL]
    return wafv2.get_web_acl(Name=ACL, Scope="REGIONAL", Id=summary["Id"])


def test_web_acl_and_association_are_set_switched_off_seen_restored_and_torn_down(aws, clients, stack, clock):
    state, every = stack
    converge(aws, state, nodes=every(), clock=clock)
    apigw, wafv2 = clients["apigateway"], clients["wafv2"]
    got = web_acl(wafv2)
    acl = got["WebACL"]
    rules = {r["Name"]: r for r in acl["Rules"]}
    assert acl["DefaultAction"] == {"Allow": {}}
    for group in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"):
        assert rules[group]["Statement"] == {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": group}}
        assert rules[group]["OverrideAction"] == {"None": {}}
    assert rules["rate-limit-per-ip"]["Statement"]["RateBasedStatement"]["Limit"] == 2000
    assert rules["rate-limit-per-ip"]["Action"] == {"Block": {}}
    tags = {t["Key"]: t["Value"] for t in wafv2.list_tags_for_resource(ResourceARN=acl["ARN"])["TagInfoForResource"]["TagList"]}
    assert tags["Name"] == ACL and tags["Environment"] == "dev"
    stage_arn = f"arn:aws:apigateway:{REGION}::/restapis/{rest_api(apigw)['id']}/stages/dev"
    assert wafv2.get_web_acl_for_resource(ResourceArn=stage_arn)["WebACL"]["ARN"] == acl["ARN"]

    # Switched off: the common rules only counted, the rate rule gone, the stage disassociated.
    weakened = [{**rules["AWSManagedRulesCommonRuleSet"], "OverrideAction": {"Count": {}}}, rules["AWSManagedRulesKnownBadInputsRuleSet"]]
    wafv2.update_web_acl(Name=ACL, Scope="REGIONAL", Id=acl["Id"], LockToken=got["LockToken"], DefaultAction={"Allow": {}},
                         Rules=weakened, VisibilityConfig=acl["VisibilityConfig"])
    wafv2.disassociate_web_acl(ResourceArn=stage_arn)
    plan = converge(aws, state, nodes=every(), clock=clock, plan=True)
    assert changed(plan)["waf.web_acl"] == {"managed_rule_groups", "rate_limit"}
    # A disassociated stage has no association: drift lists it missing, the plan creates it.
    assert actions(plan)["waf.association"] == "create"
    converge(aws, state, nodes=every(), clock=clock)
    restored = {r["Name"]: r for r in web_acl(wafv2)["WebACL"]["Rules"]}
    assert restored["AWSManagedRulesCommonRuleSet"]["OverrideAction"] == {"None": {}}
    assert restored["rate-limit-per-ip"]["Statement"]["RateBasedStatement"]["Limit"] == 2000
    assert wafv2.get_web_acl_for_resource(ResourceArn=stage_arn)["WebACL"]["ARN"] == acl["ARN"]
    assert changed(converge(aws, state, nodes=every(), clock=clock, plan=True)) == {}

    converge(aws, state, nodes=every(EnvConfig(api_waf_rate_limit=500)), clock=clock)
    assert {r["Name"]: r for r in web_acl(wafv2)["WebACL"]["Rules"]}["rate-limit-per-ip"]["Statement"]["RateBasedStatement"]["Limit"] == 500

    # Without state: the association and the web ACL are found by name and tags and removed.
    state.lose()
    down = destroy(aws, state, nodes=every(), clock=clock)
    assert actions(down)["waf.association"] == "delete" and actions(down)["waf.web_acl"] == "delete"
    assert [a for a in wafv2.list_web_acls(Scope="REGIONAL")["WebACLs"] if a["Name"] == ACL] == []


WAF_LOGS = "aws-waf-logs-video-metadata-api-dev"


def logging_reads(aws, run) -> int:
    before = aws.calls.counts[("wafv2", "GetLoggingConfiguration")]
    run()
    return aws.calls.counts[("wafv2", "GetLoggingConfiguration")] - before


def test_web_acl_logs_to_its_encrypted_group_switched_off_seen_restored_and_both_torn_down(aws, clients, stack, clock):
    """FSBP WAF.11: the web ACL logs to aws-waf-logs-…, on the environment's key (the layer checks
    the key policy admits the group, D-LOG-1) and retained like the API's logs."""
    state, every = stack
    with logs_kms.key_policy_checked():
        assert converge(aws, state, nodes=every(), clock=clock).ok
    wafv2, logs = clients["wafv2"], clients["logs"]
    acl = web_acl(wafv2)["WebACL"]["ARN"]
    [group] = [g for g in logs.describe_log_groups(logGroupNamePrefix=WAF_LOGS)["logGroups"] if g["logGroupName"] == WAF_LOGS]
    key_arn = clients["kms"].describe_key(KeyId="alias/video-pipeline-dev")["KeyMetadata"]["Arn"]
    assert (group.get("kmsKeyId"), group.get("retentionInDays")) == (key_arn, EnvConfig().api_log_retention_days)
    logging = wafv2.get_logging_configuration(ResourceArn=acl)["LoggingConfiguration"]
    assert logging["LogDestinationConfigs"] == [group["arn"].removesuffix(":*")]

    # Switched off behind the tool's back: drift (the plan's diff) has it missing. One read of the
    # logging, in sync or not.
    reads = logging_reads(aws, lambda: converge(aws, state, nodes=every(), clock=clock, plan=True))
    assert reads == 1
    wafv2.delete_logging_configuration(ResourceArn=acl)
    plan = converge(aws, state, nodes=every(), clock=clock, plan=True)
    assert {k: v for k, v in actions(plan).items() if v != "unchanged"} == {"waf.logging": "create"}
    assert logging_reads(aws, lambda: converge(aws, state, nodes=every(), clock=clock, plan=True)) == 1
    converge(aws, state, nodes=every(), clock=clock)
    assert wafv2.get_logging_configuration(ResourceArn=acl)["LoggingConfiguration"]["LogDestinationConfigs"] == logging["LogDestinationConfigs"]
    assert changed(converge(aws, state, nodes=every(), clock=clock, plan=True)) == {}

    # Teardown without state removes the logging and its group with the web ACL.
    state.lose()
    down = destroy(aws, state, nodes=every(), clock=clock)
    assert actions(down)["waf.logging"] == "delete" and actions(down)["logs.waf"] == "delete"
    assert wafv2.list_logging_configurations(Scope="REGIONAL")["LoggingConfigurations"] == []
    assert logs.describe_log_groups(logGroupNamePrefix=WAF_LOGS)["logGroups"] == []


@pytest.mark.parametrize("limit", [9, 2_000_000_001])
def test_rate_limits_waf_refuses_are_refused_before_any_call(limit):
    from orchestrator.config import ConfigError, validate_config

    with pytest.raises(ConfigError) as refused:
        validate_config({"api_waf_rate_limit": limit, "api_log_level": "OFF"})
    assert len(refused.value.lines) == 2
    assert any("api_waf_rate_limit" in line and "from 10 to 2000000000" in line for line in refused.value.lines)
