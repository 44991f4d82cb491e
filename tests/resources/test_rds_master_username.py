"""The RDS master user name (docs/aws-behaviours.md B-RDS-4): 1-16 letters, digits or underscores,
a letter first, not a name the engine keeps for itself. moto accepts any name, so each rule is
the handler's, and a plan refuses a bad name with one line before its first AWS call."""
from __future__ import annotations

import dataclasses

import pytest

from orchestrator.config import ConfigError, EnvConfig
from orchestrator.run import reconcile_stack
from orchestrator.stack.data import rds_nodes
from resources.aws import Aws
from resources.data.rds import DbInstance
from tests.support.memory_state import MemoryState

REGION = "us-east-1"
SHAPE = "master_username must be 1-16 letters, digits or _, a letter first"


def db_spec(**changes) -> dict:
    _, db, *_ = rds_nodes("dev", EnvConfig(), 2)
    return {**db.spec, **changes}


def problems_for(name: str, engine: str = "postgres") -> list[str]:
    return DbInstance(Aws(REGION), env="dev").validate(db_spec(master_username=name, engine=engine))


@pytest.mark.parametrize("name, problem", [
    ("a" * 17, SHAPE),                       # 17 characters
    ("", SHAPE),                             # none
    ("1admin", SHAPE),                       # a digit first
    ("_admin", SHAPE),                       # an underscore first
    ("video-admin", SHAPE),                  # a hyphen
    ("vidéo", SHAPE),                        # a letter outside ASCII
    ("admin", "master_username 'admin' is reserved by the postgres engine; choose another name"),
    ("Admin", "master_username 'Admin' is reserved by the postgres engine; choose another name"),
    ("rdsadmin", "master_username 'rdsadmin' is reserved by the postgres engine; choose another name"),
    ("pg_owner", "master_username 'pg_owner' is reserved by the postgres engine; choose another name"),
    ("PG_monitor", "master_username 'PG_monitor' is reserved by the postgres engine; choose another name"),
])
def test_each_rule_refuses_a_name_with_one_problem(name, problem):
    assert problems_for(name) == [problem]


@pytest.mark.parametrize("name", ["videoadmin", "postgres", "a", "a" * 16, "A_1", "administrator", "pgadmin", "rds_admin_2"])
def test_names_aws_accepts_are_accepted(name):
    # "postgres" is the console's default; "administrator" and "pgadmin" only look like reserved names.
    assert problems_for(name) == []


def test_rdsadmin_is_reserved_whatever_the_engine():
    assert problems_for("rdsadmin", engine="mysql") == [
        "master_username 'rdsadmin' is reserved by the mysql engine; choose another name"]
    # "admin" is PostgreSQL's: MySQL takes it.
    assert problems_for("admin", engine="mysql") == []


@pytest.mark.parametrize("name", ["admin", "pg_owner", "a" * 17])
def test_a_plan_refuses_a_bad_name_with_one_line_before_any_call(moto_aws, name):
    aws = Aws(REGION)
    nodes = [dataclasses.replace(n, spec={**n.spec, "master_username": name}) if n.key == "rds.instance" else n
             for n in rds_nodes("dev", EnvConfig(), 2)]
    with pytest.raises(ConfigError) as caught:
        reconcile_stack(aws, env="dev", doc=MemoryState().doc, save=lambda: None, plan=True, nodes=nodes)
    [line] = caught.value.lines
    assert line.startswith("db_instance rds-postgresql-dev: master_username") and "\n" not in line
    assert name in line or "1-16 letters" in line
    assert aws.calls.total == 0
