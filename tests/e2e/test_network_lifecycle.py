"""The real bin/ commands against a moto server subprocess: create, no-op, plan, teardown."""
from __future__ import annotations

import pytest

from orchestrator.config import EnvConfig
from orchestrator.stack import stack_nodes
from tests.e2e.conftest import via_bin_for
from tests.e2e.inventory import counts, network_inventory

NODES = len(stack_nodes("dev", EnvConfig(), ["us-east-1a", "us-east-1b"]))
# Tag-after-create calls of every service: resources must carry their tags from the create call.
TAGGING_CALLS = {"CreateTags", "TagResource", "AddTagsToResource", "AddTags", "TagRole", "TagLogGroup"}
FULL_NETWORK = {"vpc": 1, "subnet": 6, "internet_gateway": 1, "elastic_ip": 2, "nat_gateway": 2, "route_table": 4}
NOTHING = dict.fromkeys(FULL_NETWORK, 0)


def test_reconcile_creates_the_network_layer(cli, reader, server):
    result = cli("reconcile", "--env", "dev", "--json")
    assert result.code == 0, result.stderr
    doc = result.json
    assert doc["env"] == "dev" and doc["region"] == "us-east-1"
    assert len(doc["changes"]) == NODES and {c["action"] for c in doc["changes"]} == {"create"}
    ec2 = reader("ec2")
    inv = network_inventory(ec2, "dev")
    assert counts(inv) == FULL_NETWORK
    [vpc] = inv["vpc"]
    assert doc["outputs"]["VpcId"] == vpc["VpcId"]
    assert set(doc["outputs"]) >= {"VpcId", "EcsClusterName", "RdsEndpoint", "RedisEndpoint",
                                   "EfsFileSystemId", "ApiEndpoint", "DbSecretArn"}
    # Two AZs, each with one subnet of every tier.
    by_az = {}
    for subnet in inv["subnet"]:
        tier = next(t["Value"] for t in subnet["Tags"] if t["Key"] == "Name").split("-")[0]
        by_az.setdefault(subnet["AvailabilityZone"], set()).add(tier)
    assert len(by_az) == 2 and all(tiers == {"public", "private", "isolated"} for tiers in by_az.values())
    # Every NAT sits in a public subnet, one per AZ.
    public = {s["SubnetId"]: s["AvailabilityZone"] for s in inv["subnet"] if "public" in str(s["Tags"])}
    assert sorted(public[n["SubnetId"]] for n in inv["nat_gateway"]) == sorted(by_az)
    # Every tag was set in the create call itself, in every service, but for the VPC's default
    # security group and network ACL: AWS makes them with the VPC, and the stack takes them over
    # by tagging them (FSBP EC2.2, EC2.21) — exactly one CreateTags each.
    calls = server.mutating_calls()
    tagged = [c for c in calls if c.operation in TAGGING_CALLS]
    assert [(c.service, c.operation) for c in tagged] == [("ec2", "CreateTags")] * 2, tagged
    assert {c.operation for c in calls if c.service == "ec2"} <= {
        "CreateVpc", "ModifyVpcAttribute", "CreateSubnet", "CreateInternetGateway", "AttachInternetGateway",
        "AllocateAddress", "CreateNatGateway", "CreateRouteTable", "CreateRoute", "AssociateRouteTable",
        "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupEgress", "ModifySecurityGroupRules", "CreateFlowLogs", "CreateTags",
        "RevokeSecurityGroupIngress", "CreateNetworkAclEntry", "ReplaceNetworkAclEntry"}


def test_second_run_and_plan_make_no_mutating_call(cli, server):
    assert cli("reconcile", "--env", "dev").code == 0
    server.clear_recording()
    second = cli("reconcile", "--env", "dev", "--json")
    assert second.code == 0, second.stderr
    assert second.json["changes"] == []
    assert server.calls(), "the second run must read AWS"
    assert server.mutating_calls() == []
    server.clear_recording()
    plan = cli("reconcile", "--env", "dev", "--plan")
    assert plan.code == 0, plan.stderr
    assert "No changes" in plan.stdout
    assert server.mutating_calls() == []


def test_plan_of_a_new_environment_exits_2_and_changes_nothing(cli, reader, server, state_dir):
    plan = cli("reconcile", "--env", "stage", "--plan", "--json")
    assert plan.code == 2, plan.stderr
    assert len(plan.json["changes"]) == NODES
    assert server.mutating_calls() == []
    assert counts(network_inventory(reader("ec2"), "stage")) == NOTHING
    assert not (state_dir / "stage.us-east-1.json").exists()
    human = cli("reconcile", "--env", "stage", "--plan")
    assert human.code == 2
    assert "+ create vpc vpc-stage" in human.stdout and f"{NODES} to create." in human.stdout


def test_teardown_leaves_nothing_and_a_second_teardown_exits_0(cli, reader):
    assert cli("reconcile", "--env", "dev").code == 0
    assert cli("reconcile", "--env", "other").code == 0
    down = cli("teardown", "--env", "dev", "--yes", "--json")
    assert down.code == 0, down.stderr
    assert len(down.json["deleted"]) == NODES
    ec2 = reader("ec2")
    assert counts(network_inventory(ec2, "dev")) == NOTHING
    # Another environment in the same account and region is untouched.
    assert counts(network_inventory(ec2, "other")) == FULL_NETWORK
    again = cli("teardown", "--env", "dev", "--yes", "--json")
    assert again.code == 0, again.stderr
    assert again.json["deleted"] == []


def test_teardown_without_a_state_file_finds_everything_by_tags(cli, reader, state_dir):
    assert cli("reconcile", "--env", "dev").code == 0
    for path in state_dir.iterdir():
        path.unlink()
    down = cli("teardown", "--env", "dev", "--yes")
    assert down.code == 0, down.stderr
    assert counts(network_inventory(reader("ec2"), "dev")) == NOTHING


def test_reconcile_after_state_loss_adopts_everything(cli, reader, server, state_dir, tmp_path):
    first = cli("reconcile", "--env", "dev", "--json")
    assert first.code == 0
    for path in state_dir.iterdir():
        path.unlink()
    server.clear_recording()
    # Without its configuration a live environment is left as it is (test_environment_identity);
    # with it (here the defaults it was made with: an empty file), everything is adopted.
    defaults = tmp_path / "defaults.toml"
    defaults.write_text("")
    again = cli("reconcile", "--env", "dev", "--json", "--config", str(defaults))
    assert again.code == 0, again.stderr
    assert again.json["changes"] == []
    assert server.mutating_calls() == []
    assert again.json["outputs"]["VpcId"] == first.json["outputs"]["VpcId"]
    assert counts(network_inventory(reader("ec2"), "dev")) == FULL_NETWORK


def test_reconcile_teardown_reconcile(cli, reader):
    assert cli("reconcile", "--env", "dev").code == 0
    assert cli("teardown", "--env", "dev", "--yes").code == 0
    again = cli("reconcile", "--env", "dev", "--json")
    assert again.code == 0, again.stderr
    assert counts(network_inventory(reader("ec2"), "dev")) == FULL_NETWORK


def test_teardown_refuses_without_yes_and_without_a_terminal(cli, reader, server):
    assert cli("reconcile", "--env", "dev").code == 0
    server.clear_recording()
    refused = cli("teardown", "--env", "dev")
    assert refused.code == 1
    assert refused.stderr.strip().count("\n") == 0 and "--yes" in refused.stderr
    assert server.mutating_calls() == []
    assert counts(network_inventory(reader("ec2"), "dev")) == FULL_NETWORK


BAD_NAMES = {f"{command}-{env}": (command, env) for command in ("reconcile", "teardown")
             for env in ["Dev_1", "-dev", "prod;rm", "../etc", "", "a" * 64, "dev-", "de--v", "1dev"]}


# In-process (via "main") with the environment of a bin/ command; two through the real command.
@pytest.mark.parametrize("via, command, env", via_bin_for({"reconcile-Dev_1", "teardown-../etc"}, BAD_NAMES))
def test_bad_environment_names_get_one_line_and_no_aws_call(run, quiet_server, via, command, env):
    server = quiet_server
    result = run(via, command, "--env", env, "--yes" if command == "teardown" else "--json")
    assert result.code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid environment name")
    assert "Traceback" not in result.stderr
    assert server.calls() == []


def test_missing_credentials_get_one_line(cli, server):
    result = cli("reconcile", "--env", "dev", drop=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    assert result.code == 1
    assert result.stderr.strip() == (
        "error: no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )
    assert server.calls() == []


def test_missing_region_gets_one_line(cli, server):
    result = cli("reconcile", "--env", "dev", drop=("AWS_REGION",))
    assert result.code == 1
    assert result.stderr.strip() == "error: no AWS region: pass --region or set AWS_REGION"


def test_usage_errors_exit_1_not_2(cli):
    # argparse's own exit code 2 would read as "changes pending" to a script using --plan.
    result = cli("reconcile", "--env", "dev", "--no-such-flag")
    assert result.code == 1
    assert len(result.stderr.strip().splitlines()) == 1


def test_corrupt_state_is_refused_and_left_untouched(cli, server, state_dir):
    state_dir.mkdir(parents=True)
    path = state_dir / "dev.us-east-1.json"
    path.write_bytes(b"{not json")
    result = cli("reconcile", "--env", "dev")
    assert result.code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "corrupt" in result.stderr
    assert path.read_bytes() == b"{not json"
    assert server.mutating_calls() == []


def test_a_production_like_environment_refuses_teardown_before_any_change(cli, server):
    result = cli("teardown", "--env", "prod", "--yes")
    assert result.code == 1
    assert result.stderr.strip().startswith("error: refusing to tear down prod: deletion_protection is on")
    # Only the credentials check that opens the state (which may hold the configuration).
    assert [c.operation for c in server.calls()] == ["GetCallerIdentity"]


def test_config_can_lift_the_protection(cli, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[environments.prod]\ndeletion_protection = false\n")
    assert cli("teardown", "--env", "prod", "--yes", "--config", str(config)).code == 0
