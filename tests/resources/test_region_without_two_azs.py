"""A region with fewer than two available AZs: one line, exit 1, nothing created, no state written.

moto models every region with at least two zones, so the region's zone list is cut down to one
in moto's own model (in-process), and the real command entry point runs against it.
"""
from __future__ import annotations

import boto3
import pytest
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

from orchestrator.cli import main

REGION = "us-east-1"


@pytest.fixture
def one_zone_region(moto_aws, monkeypatch):
    zones = RegionsAndZonesBackend.zones
    monkeypatch.setitem(zones, REGION, zones[REGION][:1])
    return zones[REGION][0].name


@pytest.mark.parametrize("extra", [(), ("--plan", "--json")])
def test_a_region_with_one_az_is_refused_in_one_line(one_zone_region, tmp_path, capsys, extra):
    code = main("reconcile", ["--env", "dev", "--state-dir", str(tmp_path), "--region", REGION, *extra])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [f"error: region {REGION} has 1 available AZ(s); the stack needs 2"]
    assert not (tmp_path / f"dev.{REGION}.json").exists()
    ec2 = boto3.client("ec2", region_name=REGION)
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": ["dev"]}])["Vpcs"] == []


def test_recorded_azs_are_not_chosen_again(one_zone_region, aws):
    from orchestrator.azs import choose_azs
    from orchestrator.config import EnvConfig
    from state import StateDocument

    doc = StateDocument.new("dev", REGION)
    doc.azs, doc.az_ids = ["us-east-1a", "us-east-1b"], ["use1-az6", "use1-az1"]
    # Chosen once and recorded: a region that lost a zone later does not re-plan the network.
    choice = choose_azs(aws, doc=doc, cfg=EnvConfig(), env="dev", region=REGION)
    assert (choice.names, choice.ids) == (["us-east-1a", "us-east-1b"], ["use1-az6", "use1-az1"])
    assert aws.calls.total == 0
