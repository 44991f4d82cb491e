"""RDS DescribeOrderableDBInstanceOptions for postgres (sandbox/fidelity/rds_orderable.py,
docs/aws-behaviours.md C-AZ-1): the AZs that offer a class, never one EC2 lacks its type in."""
from __future__ import annotations

import boto3

from sandbox.fidelity import clock as layer_clock


def zones(rds, **kw) -> list[set[str]]:
    options = rds.describe_orderable_db_instance_options(Engine="postgres", Vpc=True, **kw)["OrderableDBInstanceOptions"]
    return [{az["Name"] for az in o["AvailabilityZones"]} for o in options]


def test_a_class_is_offered_where_ec2_offers_its_type_and_one_az_can_stop_offering_it(moto_aws):
    rds = boto3.client("rds", region_name="us-east-1")
    every = zones(rds, DBInstanceClass="db.t3.medium", EngineVersion="17.6")
    # us-east-1e is use1-az3, which lacks the t3 types on AWS (EC2 DescribeInstanceTypeOfferings).
    assert every == [{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"}]
    layer_clock.fail("rds-orderable", "db.t3.medium@use1-az6")
    try:
        assert zones(rds, DBInstanceClass="db.t3.medium", EngineVersion="17.6") == [every[0] - {"us-east-1a"}]
        assert zones(rds, DBInstanceClass="db.m5.large", EngineVersion="17.6") == every  # another class: unchanged
    finally:
        layer_clock.unfail("rds-orderable", "db.t3.medium@use1-az6")
    assert zones(rds, DBInstanceClass="db.t3.medium", EngineVersion="17.6") == every


def test_a_class_rds_does_not_offer_for_postgres_is_not_orderable_even_where_ec2_has_the_type(moto_aws):
    rds = boto3.client("rds", region_name="us-east-1")
    assert zones(rds, DBInstanceClass="db.c5.large") == []  # EC2 offers c5.large; RDS has no db.c5
    assert zones(rds, DBInstanceClass="db.zz9.large") == []
