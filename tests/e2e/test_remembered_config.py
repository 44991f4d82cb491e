"""Day two on an existing environment: the configuration it remembers, teardown's protection
read from AWS, tags the tool no longer wants, and a failed run that tells the truth (issue 10).

Every case runs the real bin/ commands against the moto server and reads AWS back with the
test's own clients."""
from __future__ import annotations

import json

from tests.e2e.inventory import full_inventory
from tests.e2e.test_full_stack import FULL_STACK

ENV = "dev"
FULL_STACK_SIZE = sum(FULL_STACK.values())


def write_config(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def inventory_counts(reader) -> dict[str, int]:
    return {kind: len(ids) for kind, ids in full_inventory(reader, ENV).items()}


def state_of(state_dir) -> dict:
    [path] = state_dir.glob(f"{ENV}.*.json")
    return json.loads(path.read_text())


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:") or "[error" in line]


CHANGED = """
[defaults]
log_retention_days = 90
redis_node_type = "cache.t3.small"
api_throttle_rate = 50.0
api_throttle_burst = 80
api_desired_count = 3
worker_desired_count = 2
"""


def test_runs_without_config_use_the_one_the_environment_was_reconciled_with(cli, server, reader, state_dir, tmp_path):
    path = write_config(tmp_path, "changed.toml", CHANGED)
    first = cli("reconcile", "--env", ENV, "--config", path, "--json")
    assert first.code == 0, first.stderr
    assert first.json["config"]["origin"] == "file"
    recorded = state_of(state_dir)["config"]
    assert recorded["source"] == path and recorded["hash"] == first.json["config"]["hash"]
    assert recorded["values"]["redis_node_type"] == "cache.t3.small"
    assert recorded["values"]["log_retention_days"] == 90

    server.clear_recording()
    again = cli("reconcile", "--env", ENV, "--json")
    assert again.code == 0, again.stderr
    assert again.json["config"] == {"origin": "recorded", "source": path, "hash": recorded["hash"]}
    assert again.json["changes"] == []
    assert server.mutating_calls() == []
    plan = cli("reconcile", "--env", ENV, "--plan")
    assert plan.code == 0, plan.stdout + plan.stderr
    drift = cli("drift", "--env", ENV, "--json")
    assert drift.code == 0, drift.stdout + drift.stderr
    assert drift.json["in_sync"] is True and drift.json["config"]["origin"] == "recorded"
    assert server.mutating_calls() == []
    # What AWS holds is still the configured value, not the default.
    logs = reader("logs").describe_log_groups(logGroupNamePrefix=f"/ecs/video-processing-{ENV}/")["logGroups"]
    assert {g["retentionInDays"] for g in logs} == {90}
    group = reader("elasticache").describe_replication_groups(ReplicationGroupId=f"redis-{ENV}")["ReplicationGroups"][0]
    assert group["CacheNodeType"] == "cache.t3.small"

    # --config says what the environment should become: the defaults file changes it back.
    defaults = write_config(tmp_path, "defaults.toml", "[defaults]\n")
    plan_back = cli("reconcile", "--env", ENV, "--config", defaults, "--plan", "--json")
    assert plan_back.code == 2
    assert any(c["resource"] == "logs.api" for c in plan_back.json["changes"]), plan_back.json["changes"]
    assert state_of(state_dir)["config"]["hash"] == recorded["hash"], "a plan records nothing"


def test_a_live_environment_without_a_recorded_configuration_is_never_judged_or_reconciled_against_defaults(
        cli, server, reader, state_dir, tmp_path):
    assert cli("reconcile", "--env", ENV).code == 0
    state = state_of(state_dir)
    # A state written before configurations were recorded (schema 1) has none.
    del state["config"]
    state["schema_version"] = 1
    legacy = json.dumps(state)
    next(state_dir.glob(f"{ENV}.*.json")).write_text(legacy)
    server.clear_recording()
    for command in (("drift", "--env", ENV, "--json"), ("reconcile", "--env", ENV), ("reconcile", "--env", ENV, "--plan")):
        refused = cli(*command)
        assert refused.code == 1, (command, refused.stderr)
        lines = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "no configuration is recorded" in lines[0] and "--config FILE" in lines[0], refused.stderr
        assert "Traceback" not in refused.stderr
    assert server.mutating_calls() == [], "a refused run changed AWS"
    assert next(state_dir.glob(f"{ENV}.*.json")).read_text() == legacy, "a refused run wrote the state"
    # The way the line says: an empty file means the defaults; the run records it.
    empty = write_config(tmp_path, "empty.toml", "")
    again = cli("reconcile", "--env", ENV, "--json", "--config", empty)
    assert again.code == 0 and again.json["config"]["origin"] == "file", again.stderr
    assert state_of(state_dir)["schema_version"] == 2 and state_of(state_dir)["config"]["source"] == empty
    assert cli("drift", "--env", ENV).code == 0


PROTECTED = "[environments.dev]\ndeletion_protection = true\n"


def test_teardown_of_a_protected_environment_deletes_nothing_whatever_the_flags(cli, server, reader, state_dir, tmp_path):
    protected = write_config(tmp_path, "protected.toml", PROTECTED)
    assert cli("reconcile", "--env", ENV, "--config", protected).code == 0
    before = inventory_counts(reader)
    assert sum(before.values()) == FULL_STACK_SIZE

    unprotected = write_config(tmp_path, "unprotected.toml", "[environments.dev]\ndeletion_protection = false\n")
    attempts = {
        "no --config (the recorded configuration is protected)": (),
        "--config saying unprotected (AWS says protected)": ("--config", unprotected),
    }
    for what, extra in attempts.items():
        server.clear_recording()
        down = cli("teardown", "--env", ENV, "--yes", *extra)
        assert down.code == 1, f"{what}: {down.stdout} {down.stderr}"
        assert error_lines(down.stderr)[0].startswith(f"error: refusing to tear down {ENV}"), (what, down.stderr)
        assert "nothing was deleted" in down.stderr
        assert server.mutating_calls() == [], what
        assert inventory_counts(reader) == before, what

    # A lost state knows no configuration: the protection read from AWS still refuses.
    for path in state_dir.glob(f"{ENV}.*"):
        path.unlink()
    server.clear_recording()
    down = cli("teardown", "--env", ENV, "--yes")
    assert down.code == 1, down.stderr
    assert f"rds-postgresql-{ENV}" in down.stderr and "deletion protection is on" in down.stderr
    assert server.mutating_calls() == []
    assert inventory_counts(reader) == before


def test_teardown_takes_the_final_snapshot_the_recorded_configuration_asks_for(cli, reader, tmp_path):
    path = write_config(tmp_path, "snapshot.toml", "[defaults]\ndb_final_snapshot = true\n")
    assert cli("reconcile", "--env", ENV, "--config", path).code == 0
    down = cli("teardown", "--env", ENV, "--yes")
    assert down.code == 0, down.stderr
    snapshots = reader("rds").describe_db_snapshots(DBInstanceIdentifier=f"rds-postgresql-{ENV}")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"].startswith(f"rds-postgresql-{ENV}-final-") for s in snapshots] == [True]
    assert {k: v for k, v in full_inventory(reader, ENV).items() if v} == {}


def tag_keys_by_resource(reader) -> dict[str, dict[str, str]]:
    """The tags of every resource of the environment that carries tags, read kind by kind."""
    ec2, inv = reader("ec2"), full_inventory(reader, ENV)
    out = {}
    for kind in ("vpc", "subnet", "internet_gateway", "route_table", "security_group", "nat_gateway", "elastic_ip"):
        for rid in inv[kind]:
            tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [rid]}])["Tags"]
            out[rid] = {t["Key"]: t["Value"] for t in tags}
    rds = reader("rds")
    db = rds.describe_db_instances(DBInstanceIdentifier=f"rds-postgresql-{ENV}")["DBInstances"][0]
    out["db"] = {t["Key"]: t["Value"] for t in db["TagList"]}
    sm = reader("secretsmanager")
    for name in inv["secret"]:
        out[name] = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=name).get("Tags", [])}
    logs = reader("logs")
    for group in logs.describe_log_groups(logGroupNamePrefix=f"/ecs/video-processing-{ENV}/")["logGroups"]:
        out[group["logGroupName"]] = logs.list_tags_for_resource(resourceArn=group["arn"].removesuffix(":*"))["tags"]
    efs = reader("efs")
    for fs in inv["file_system"]:
        out[fs] = {t["Key"]: t["Value"] for t in efs.describe_file_systems(FileSystemId=fs)["FileSystems"][0]["Tags"]}
    iam = reader("iam")
    for role in inv["iam_role"]:
        out[role] = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role)["Tags"]}
    ecs = reader("ecs")
    cluster = ecs.describe_clusters(clusters=[f"video-processing-{ENV}"], include=["TAGS"])["clusters"][0]
    out["cluster"] = {t["key"]: t["value"] for t in cluster.get("tags", [])}
    for service in (f"metadata-api-{ENV}", f"video-worker-{ENV}"):
        arn = ecs.describe_services(cluster=f"video-processing-{ENV}", services=[service])["services"][0]["serviceArn"]
        out[arn] = {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=arn)["tags"]}
    cache = reader("elasticache")
    group = cache.describe_replication_groups(ReplicationGroupId=f"redis-{ENV}")["ReplicationGroups"][0]
    out[group["ARN"]] = {t["Key"]: t["Value"] for t in cache.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]}
    elb = reader("elbv2")
    arns = [lb["LoadBalancerArn"] for lb in elb.describe_load_balancers(Names=[f"api-nlb-{ENV}"])["LoadBalancers"]]
    arns += [tg["TargetGroupArn"] for tg in elb.describe_target_groups(Names=[f"api-tg-{ENV}"])["TargetGroups"]]
    for described in elb.describe_tags(ResourceArns=arns)["TagDescriptions"]:
        out[described["ResourceArn"]] = {t["Key"]: t["Value"] for t in described["Tags"]}
    apigw = reader("apigateway")
    for kind in ("rest_api", "api_key", "usage_plan", "vpc_link"):
        path = {"rest_api": "restapis", "api_key": "apikeys", "usage_plan": "usageplans", "vpc_link": "vpclinks"}[kind]
        for rid in inv[kind]:
            out[rid] = apigw.get_tags(resourceArn=f"arn:aws:apigateway:us-east-1::/{path}/{rid}")["tags"]
    return out


def test_a_tag_key_removed_from_the_configuration_is_removed_from_every_resource(cli, reader, tmp_path):
    both = write_config(tmp_path, "both.toml", '[defaults.tags]\nCostCenter = "video"\nTeam = "media"\n')
    assert cli("reconcile", "--env", ENV, "--config", both).code == 0
    tagged = tag_keys_by_resource(reader)
    assert len(tagged) > 35 and all(t.get("Team") == "media" for t in tagged.values()), tagged
    # A tag someone else set on the VPC, with a key the tool never set, must survive.
    vpc = full_inventory(reader, ENV)["vpc"][0]
    reader("ec2").create_tags(Resources=[vpc], Tags=[{"Key": "Owner", "Value": "networking"}])

    one = write_config(tmp_path, "one.toml", '[defaults.tags]\nCostCenter = "video"\n')
    plan = cli("reconcile", "--env", ENV, "--config", one, "--plan")
    assert plan.code == 2 and "tags.Team: media → null" in plan.stdout, plan.stdout
    result = cli("reconcile", "--env", ENV, "--config", one, "--json")
    assert result.code == 0, result.stderr
    after = tag_keys_by_resource(reader)
    assert [rid for rid, tags in after.items() if "Team" in tags] == []
    assert all(tags.get("CostCenter") == "video" for tags in after.values())
    assert after[vpc]["Owner"] == "networking"
    assert cli("drift", "--env", ENV).code == 0
    assert cli("reconcile", "--env", ENV, "--plan").code == 0


def test_bad_values_are_all_refused_before_any_request(cli, server, tmp_path):
    path = write_config(tmp_path, "bad.toml", "[defaults]\ndb_monitoring_interval = 7\nredis_num_nodes = 9\napi_port = 0\n")
    server.clear_recording()
    result = cli("reconcile", "--env", ENV, "--config", path)
    assert result.code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines), lines
    assert "db_monitoring_interval = 7 is not allowed (allowed: 0, 1, 5, 10, 15, 30, 60" in lines[0]
    assert "redis_num_nodes = 9" in result.stderr and "api_port = 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.calls() == []


def test_a_failed_run_names_its_root_cause_first_and_keeps_the_last_outputs(cli, reader, tmp_path):
    first = cli("reconcile", "--env", ENV, "--json")
    assert first.code == 0, first.stderr
    outputs = first.json["outputs"]
    # Someone replaces the database by one that is not ours, under the same name.
    rds = reader("rds")
    name = f"rds-postgresql-{ENV}"
    rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
    rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="someone", MasterUserPassword="not-ours-123")
    failed = cli("reconcile", "--env", ENV)
    assert failed.code == 1
    assert "matches the desired state" not in failed.stdout
    # Its master user cannot change in place: the plan refuses it, so nothing was changed.
    assert "Refused" in failed.stdout and "nothing was changed" in failed.stdout
    errors = error_lines(failed.stderr)
    assert errors[0].startswith("error: rds.instance:") and name in errors[0], failed.stderr
    assert len(errors) <= 2, errors
    as_json = cli("reconcile", "--env", ENV, "--json")
    assert as_json.code == 1
    assert as_json.json["failed"][0]["resource"] == "rds.instance"
    assert as_json.json["failed"][0]["status"] == "refused"
    assert as_json.json["outputs"]["RdsEndpoint"] == outputs["RdsEndpoint"]
    assert all(as_json.json["outputs"][k] == v for k, v in outputs.items())
