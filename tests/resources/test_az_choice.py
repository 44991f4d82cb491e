"""The stack's AZs (docs/aws-behaviours.md C-AZ-1): chosen by AZ ID among those that offer the DB
class, the cache node type and Fargate; recorded by ID and name and never chosen again; read back
from the live subnets after a lost state; a region where fewer than two fit is refused in one line.

moto's us-east-1: us-east-1a is use1-az6, 1b use1-az1, 1c use1-az2, 1e use1-az3 (which, as on AWS,
lacks the current instance types). The fidelity layer's RDS answer (sandbox/fidelity/rds_orderable.py)
makes one AZ stop offering a class for one test.
"""
from __future__ import annotations

import json

import boto3
import pytest

from orchestrator.cli import main
from orchestrator.run import apply_stack
from sandbox.fidelity import clock as layer_clock
from tests.resources.network import nodes
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge

REGION = "us-east-1"
SUBNETS = ("subnet.private.1", "subnet.private.2")


@pytest.fixture
def withhold():
    """``withhold(db_class, zone_id)``: that AZ no longer offers the class, for this test only."""
    marks = []

    def mark(db_class: str, zone_id: str) -> None:
        marks.append(f"{db_class}@{zone_id}")
        layer_clock.fail("rds-orderable", marks[-1])

    yield mark
    for key in marks:
        layer_clock.unfail("rds-orderable", key)


def plan(tmp_path, capsys, *extra: str) -> tuple[int, str, str]:
    code = main("reconcile", ["--env", "dev", "--state-dir", str(tmp_path), "--region", REGION, "--plan", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_az_that_does_not_offer_the_db_class_is_skipped_and_the_plan_says_why(moto_aws, tmp_path, capsys, withhold):
    withhold("db.t3.medium", "use1-az6")  # us-east-1a, the first by name
    code, out, _ = plan(tmp_path, capsys)
    assert code == 2
    assert out.splitlines()[0] == (
        "AZs use1-az1 (us-east-1b), use1-az2 (us-east-1c): offer db.t3.medium, cache.t3.micro and Fargate")
    code, out, _ = plan(tmp_path, capsys, "--json")
    assert json.loads(out)["azs"] == {
        "zones": [{"id": "use1-az1", "name": "us-east-1b"}, {"id": "use1-az2", "name": "us-east-1c"}],
        "why": "offer db.t3.medium, cache.t3.micro and Fargate"}


def test_the_choice_is_recorded_by_id_and_kept_when_the_offering_changes(aws, clock, withhold):
    state = MemoryState()
    converge(aws, state, nodes=nodes(*SUBNETS), clock=clock)
    assert (state.doc.azs, state.doc.az_ids) == (["us-east-1a", "us-east-1b"], ["use1-az6", "use1-az1"])

    withhold("db.t3.medium", "use1-az6")
    before = dict(aws.calls.counts)
    again = converge(aws, state, nodes=nodes(*SUBNETS), clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert (state.doc.azs, state.doc.az_ids) == (["us-east-1a", "us-east-1b"], ["use1-az6", "use1-az1"])
    assert aws.calls.counts.get(("rds", "DescribeOrderableDBInstanceOptions")) == \
        before.get(("rds", "DescribeOrderableDBInstanceOptions"))  # a recorded choice is not judged again


def test_a_lost_state_reads_the_azs_back_from_the_subnets_by_id(aws, clock, withhold):
    state = MemoryState()
    converge(aws, state, nodes=nodes(*SUBNETS), clock=clock)
    state.lose()
    withhold("db.t3.medium", "use1-az6")  # a fresh choice would no longer take us-east-1a
    mutating = aws.calls.mutating
    converge(aws, state, nodes=nodes(*SUBNETS), clock=clock)
    assert aws.calls.mutating == mutating
    assert (state.doc.azs, state.doc.az_ids) == (["us-east-1a", "us-east-1b"], ["use1-az6", "use1-az1"])


def test_a_state_that_recorded_names_only_gains_the_ids_and_nothing_moves(aws, clock):
    state = MemoryState()
    converge(aws, state, nodes=nodes(*SUBNETS), clock=clock)
    legacy = json.loads(state.doc.to_json())
    legacy.pop("az_ids")
    state.doc = type(state.doc).from_json(json.dumps(legacy), env="dev", region=REGION)
    assert state.doc.az_ids == []
    mutating = aws.calls.mutating
    # A whole apply: its plan finds nothing to do and ends the run, and the IDs are still recorded.
    run = apply_stack(aws, env="dev", doc=state.doc, save=state.save, nodes=nodes(*SUBNETS), clock=clock.as_clock())
    assert run.ok and set(actions(run).values()) == {"unchanged"} and aws.calls.mutating == mutating
    assert (state.doc.azs, state.doc.az_ids) == (["us-east-1a", "us-east-1b"], ["use1-az6", "use1-az1"])


@pytest.mark.parametrize("extra", [(), ("--plan",)])
def test_fewer_than_two_azs_that_offer_everything_is_one_line_and_nothing_is_created(
        moto_aws, tmp_path, capsys, withhold, extra):
    for zone_id in ("use1-az6", "use1-az1", "use1-az2", "use1-az4"):
        withhold("db.t3.medium", zone_id)  # only use1-az5 (us-east-1f) offers it; use1-az3 lacks t3
    code = main("reconcile", ["--env", "dev", "--state-dir", str(tmp_path), "--region", REGION, *extra])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        "error: only 1 AZ(s) of us-east-1 offer db.t3.medium, cache.t3.micro and Fargate, the stack needs 2: "
        "use1-az6 (us-east-1a) lacks db.t3.medium; use1-az1 (us-east-1b) lacks db.t3.medium; "
        "use1-az2 (us-east-1c) lacks db.t3.medium; use1-az4 (us-east-1d) lacks db.t3.medium; "
        "use1-az3 (us-east-1e) lacks db.t3.medium, cache.t3.micro; nothing was changed"]
    assert not (tmp_path / f"dev.{REGION}.json").exists()
    ec2 = boto3.client("ec2", region_name=REGION)
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": ["dev"]}])["Vpcs"] == []
