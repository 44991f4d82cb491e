"""The configuration an environment remembers: which one a run uses, what the state keeps, the
tag keys it retires, and every handler rule applied before the first AWS call (issue 10)."""
from __future__ import annotations

import dataclasses
import functools
import json

import pytest

from orchestrator.config import (
    ChosenConfig, ConfigError, EnvConfig, LOG_RETENTION_DAYS, choose_config, load_config, remember_config,
    retired_tag_keys, validate_config,
)
from orchestrator.errors import UserError
from orchestrator.reconciler import Reconciler
from orchestrator.report import render_changes
from orchestrator.run import check_specs
from orchestrator.spec import Node
from orchestrator.stack import stack_nodes
from resources.aws import Aws
from resources.aws.clock import FakeClock
from resources.compute.ecs import FARGATE_MEMORY
from state import StateDocument
from tests.support.memory_state import MemoryState


def chosen(origin="file", source="c.toml", **values) -> ChosenConfig:
    return ChosenConfig(EnvConfig(**values), origin, source)


# -- validation: everything at once, before any call ------------------------------------------

def test_every_bad_key_is_reported_at_once_one_line_each():
    with pytest.raises(ConfigError) as caught:
        validate_config({"db_monitoring_interval": 7, "redis_num_nodes": 9, "api_cpu": "256", "vcp_cidr": "x",
                         "tags": {"Name": "x"}})
    lines = caught.value.lines
    assert len(lines) == 5, lines
    assert any("db_monitoring_interval = 7 is not allowed (allowed: 0, 1, 5, 10, 15, 30, 60" in line for line in lines)
    assert any("redis_num_nodes = 9 is not allowed (from 2 to 6)" in line for line in lines)
    assert any("api_cpu must be an integer" in line for line in lines)
    assert any("unknown key 'vcp_cidr'" in line for line in lines)
    assert any("tags.Name is set by the tool" in line for line in lines)
    assert all("\n" not in line for line in lines)


def test_enhanced_monitoring_is_on_by_default_and_takes_only_the_intervals_rds_accepts():
    # FSBP RDS.6: AWS Config's rds-enhanced-monitoring-enabled is NON_COMPLIANT at 0.
    assert EnvConfig().db_monitoring_interval == 60
    assert all(validate_config({"db_monitoring_interval": v}).db_monitoring_interval == v for v in (0, 1, 5, 10, 15, 30, 60))
    with pytest.raises(UserError, match=r"allowed: 0, 1, 5, 10, 15, 30, 60"):
        validate_config({"db_monitoring_interval": 2})


def boundary_configs():
    """Each value the configuration check accepts at its edges, one key at a time."""
    edges = {
        "vpc_cidr": ["10.0.0.0/16", "192.168.4.0/24"], "db_allocated_storage": [20, 65536],
        "db_backup_retention_days": [1, 35], "db_engine_version": ["11", "19.9"], "redis_num_nodes": [2, 6],
        "redis_engine_version": ["5.0.6", "6.x", "7.1"], "log_retention_days": [LOG_RETENTION_DAYS[0], LOG_RETENTION_DAYS[-1]],
        "api_port": [1, 65535], "api_desired_count": [0, 100], "api_throttle_rate": [0.001, 10000.0],
        "api_throttle_burst": [1, 5000], "db_final_snapshot": [True], "deletion_protection": [True],
        "tags": [{"CostCenter": "video", "a b:c/d=e+f-g@h": ""}],
        # issue 15, data services and load balancer
        "db_monitoring_interval": [0, 1, 60], "db_log_exports": [[], ["upgrade"]],
        "db_auto_minor_version_upgrade": [False], "redis_snapshot_retention_days": [1, 35],
        "redis_snapshot_window": ["00:00-01:00", "23:30-00:30"], "redis_auto_minor_version_upgrade": [False],
        "efs_backup": [False], "lb_cross_zone": [False],
    }
    for key, values in edges.items():
        for value in values:
            yield {key: value}
    for cpu, memories in FARGATE_MEMORY.items():
        yield {"api_cpu": cpu, "api_memory": min(memories)}
        yield {"worker_cpu": cpu, "worker_memory": max(memories)}


@pytest.mark.parametrize("values", list(boundary_configs()), ids=lambda v: ",".join(f"{k}={v[k]}" for k in v))
def test_no_handler_refuses_a_value_the_configuration_check_accepts(values):
    # check_specs makes no AWS call: no emulator is needed to prove it.
    cfg = validate_config(values)
    check_specs(offline_reconciler("prod-eu-1"), stack_nodes("prod-eu-1", cfg, ["us-east-1a", "us-east-1b"]))


@functools.cache
def offline_aws() -> Aws:
    return Aws("us-east-1")


def offline_reconciler(env: str) -> Reconciler:
    return Reconciler(offline_aws(), env=env, state=MemoryState().doc, save=lambda: None, clock=FakeClock().as_clock())


def test_a_handler_rule_stops_the_run_before_any_call_listing_every_node():
    from resources.security.log_group import LogGroup

    nodes = [Node(f"logs.{i}", LogGroup, {"name": name, "tags": {}, "retention_days": 30, "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k"})
             for i, name in enumerate(["bad name!", "/fine", "also bad?"])]
    with pytest.raises(ConfigError) as caught:
        check_specs(offline_reconciler("dev"), nodes)
    assert len(caught.value.lines) == 2 and "bad name!" in caught.value.lines[0]


# -- which configuration a run uses ------------------------------------------------------------

def test_file_wins_then_pending_then_recorded_then_defaults():
    doc = StateDocument.new("dev", "us-east-1")
    assert choose_config(None, doc, "dev").origin == "defaults"
    assert choose_config(None, StateDocument.new("prod", "us-east-1"), "prod").cfg.deletion_protection is True
    doc.config = chosen(source="a.toml", log_retention_days=90).record()
    used = choose_config(None, doc, "dev")
    assert (used.origin, used.source, used.cfg.log_retention_days) == ("recorded", "a.toml", 90)
    doc.pending_config = chosen(source="b.toml", log_retention_days=14).record()
    used = choose_config(None, doc, "dev")
    assert (used.origin, used.source, used.cfg.log_retention_days) == ("pending", "b.toml", 14)
    given = chosen(source="c.toml", log_retention_days=7)
    assert choose_config(given, doc, "dev") is given


def test_a_recorded_configuration_is_validated_like_a_file():
    doc = StateDocument.new("dev", "us-east-1")
    record = chosen().record()
    record["values"]["log_retention_days"] = 31
    doc.config = record
    with pytest.raises(UserError, match="recorded in the state of dev: log_retention_days = 31"):
        choose_config(None, doc, "dev")


def test_success_records_failure_keeps_pending_and_nothing_changes_when_equal():
    doc = StateDocument.new("dev", "us-east-1")
    first = chosen(source="a.toml", api_desired_count=3)
    remember_config(doc, first, succeeded=True)
    assert doc.config == first.record() and doc.pending_config is None
    assert doc.config["hash"].startswith("sha256:") and doc.config["values"]["api_desired_count"] == 3

    before = doc.to_json()
    remember_config(doc, dataclasses.replace(first, origin="recorded"), succeeded=True)
    assert doc.to_json() == before, "a run with the same configuration writes nothing new"

    second = chosen(source="b.toml", api_desired_count=5)
    remember_config(doc, second, succeeded=False)
    assert doc.config == first.record() and doc.pending_config == second.record()
    remember_config(doc, second, succeeded=True)
    assert doc.config == second.record() and doc.pending_config is None


def test_a_failed_run_keeps_the_replacements_it_was_allowed_for_the_plain_run_that_finishes_it():
    """A run killed half way through a consented replacement (the VPC, the database gone with it)
    is finished by the next plain run, not stopped to ask again with the environment half gone;
    a success, or a run asked for with --config, drops the consent."""
    doc = StateDocument.new("dev", "us-east-1")
    remember_config(doc, chosen(source="a.toml"), succeeded=True)
    asked = chosen(source="b.toml", vpc_cidr="10.1.0.0/16")
    remember_config(doc, asked, succeeded=False, consented=frozenset({"vpc"}))
    resumed = choose_config(None, StateDocument.from_json(doc.to_json(), env="dev", region="us-east-1"), "dev")
    assert (resumed.origin, resumed.cfg, resumed.consented) == ("pending", asked.cfg, frozenset({"vpc"}))
    assert choose_config(asked, doc, "dev").consented == frozenset()
    remember_config(doc, resumed, succeeded=True, consented=resumed.consented)
    assert doc.pending_config is None and choose_config(None, doc, "dev").consented == frozenset()


def test_the_hash_is_of_the_values_only():
    assert chosen(source="a.toml").hash == chosen(origin="recorded", source="b.toml").hash
    assert chosen(log_retention_days=90).hash != chosen().hash


def test_retired_tag_keys_are_the_ones_an_earlier_configuration_set():
    doc = StateDocument.new("dev", "us-east-1")
    assert retired_tag_keys(doc, EnvConfig()) == frozenset()
    doc.config = chosen(tags={"CostCenter": "video", "Team": "media"}).record()
    doc.pending_config = chosen(tags={"Project": "x"}).record()
    assert retired_tag_keys(doc, EnvConfig(tags={"CostCenter": "video"})) == {"Team", "Project"}


# -- the state keeps it ------------------------------------------------------------------------

def test_state_round_trip_and_version_one_files_read_as_having_none():
    doc = StateDocument.new("dev", "us-east-1")
    doc.config = chosen(log_retention_days=90).record()
    again = StateDocument.from_json(doc.to_json(), env="dev", region="us-east-1")
    assert again.config == doc.config and again.pending_config is None
    old = json.loads(StateDocument.new("dev", "us-east-1").to_json())
    old["schema_version"] = 1
    migrated = StateDocument.from_json(json.dumps(old), env="dev", region="us-east-1")
    assert migrated.config is None and json.loads(migrated.to_json())["schema_version"] == 2


def test_a_malformed_config_record_is_a_corrupt_state():
    from state import CorruptStateError

    data = json.loads(StateDocument.new("dev", "us-east-1").to_json())
    data["config"] = {"values": [], "hash": "x", "source": "y"}
    with pytest.raises(CorruptStateError, match="'config' must be an object"):
        StateDocument.from_json(json.dumps(data), env="dev", region="us-east-1")


def test_the_state_refuses_a_secret_in_a_config_record():
    doc = StateDocument.new("dev", "us-east-1")
    record = chosen().record()
    record["values"]["password"] = "x"
    with pytest.raises(ValueError, match="secret"):
        doc.config = record


# -- a failed run tells the truth --------------------------------------------------------------

def test_a_failed_run_never_says_the_environment_matches():
    text = render_changes([], past=True, failed=True)
    assert "matches" not in text and "The run failed" in text
    assert render_changes([], past=True) == "No changes. The environment matches the desired state."


def test_defaults_of_a_missing_file_stay_one_line(tmp_path):
    with pytest.raises(UserError) as caught:
        load_config(str(tmp_path / "missing.toml"), "dev")
    assert "\n" not in caught.value.user_message
