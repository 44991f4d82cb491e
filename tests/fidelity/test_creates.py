"""Creates that take AWS's time (sandbox/fidelity/creates.py) and ``--sandbox-speed``
(clock.use_speed): docs/aws-behaviours.md A-35, A-6, A-13, A-16; T-1.1. The wall clock
is a FakeClock: nothing sleeps."""
from __future__ import annotations

import boto3
import botocore.exceptions
import pytest

from bench.durations import slow_seconds
from orchestrator.cli import main
from resources.aws.clock import FakeClock
from sandbox.fidelity import clock

REGION = "us-east-1"
SPEED = 60


@pytest.fixture
def wall(moto_aws):
    """The wall clock the scaled layer clock reads, at SPEED; given back instant afterwards."""
    fake = FakeClock()
    clock.use_speed(SPEED, wall=fake.now)
    yield fake
    clock.reset()


def waits(waiter, **kwargs) -> bool:
    try:
        waiter.wait(**kwargs, WaiterConfig={"Delay": 0, "MaxAttempts": 1})
        return True
    except botocore.exceptions.WaiterError:
        return False


def test_the_creation_durations_are_aws_timings_figures_the_benchmark_uses_too():
    """One source of truth for AWS's figures: T-1.1 / T-4.2 p50."""
    assert clock.DURATIONS["rds.create"] == slow_seconds("rds", "CreateDBInstance") == 840
    assert clock.DURATIONS["elasticache.create"] == slow_seconds("elasticache", "CreateReplicationGroup") == 480
    assert clock.DURATIONS["ec2.nat_gateway"] == slow_seconds("ec2", "CreateNatGateway") == 105


def test_the_scaled_clock_runs_speed_times_faster_than_the_wall():
    fake = FakeClock(start=1000.0)
    scaled = clock.ScaledClock(SPEED, wall=fake.now)
    assert scaled.now() == 0.0
    fake.sleep(14)
    assert scaled.now() == 14 * SPEED
    with pytest.raises(ValueError):
        clock.ScaledClock(0)


def test_an_rds_instance_is_creating_without_an_endpoint_for_its_duration_over_the_speed(wall):
    """A-13: CreateDBInstance answers "creating", no Endpoint while creating."""
    rds = boto3.client("rds", region_name=REGION)
    answer = rds.create_db_instance(DBInstanceIdentifier="db", Engine="postgres", DBInstanceClass="db.t3.medium",
                                    AllocatedStorage=20, MasterUsername="app", MasterUserPassword="secret-password",
                                    MultiAZ=True)["DBInstance"]
    assert answer["DBInstanceStatus"] == "creating" and "Endpoint" not in answer
    wall.sleep(clock.DURATIONS["rds.create"] / SPEED - 0.5)
    [db] = rds.describe_db_instances(DBInstanceIdentifier="db")["DBInstances"]
    assert db["DBInstanceStatus"] == "creating" and "Endpoint" not in db
    assert not waits(rds.get_waiter("db_instance_available"), DBInstanceIdentifier="db")
    wall.sleep(0.5)
    [db] = rds.describe_db_instances(DBInstanceIdentifier="db")["DBInstances"]
    assert db["DBInstanceStatus"] == "available" and db["Endpoint"]["Address"]
    assert waits(rds.get_waiter("db_instance_available"), DBInstanceIdentifier="db")


def test_a_replication_group_and_its_members_are_creating_for_its_duration_over_the_speed(wall):
    """A-16: the group and its member clusters are "creating" until the group is created."""
    ec = boto3.client("elasticache", region_name=REGION)
    answer = ec.create_replication_group(ReplicationGroupId="redis", ReplicationGroupDescription="d", Engine="redis",
                                         CacheNodeType="cache.t3.micro", NumCacheClusters=2)["ReplicationGroup"]
    assert answer["Status"] == "creating"
    wall.sleep(clock.DURATIONS["elasticache.create"] / SPEED - 0.5)
    assert ec.describe_replication_groups(ReplicationGroupId="redis")["ReplicationGroups"][0]["Status"] == "creating"
    assert {c["CacheClusterStatus"] for c in ec.describe_cache_clusters()["CacheClusters"]} == {"creating"}
    wall.sleep(0.5)
    assert waits(ec.get_waiter("replication_group_available"), ReplicationGroupId="redis")
    assert {c["CacheClusterStatus"] for c in ec.describe_cache_clusters()["CacheClusters"]} == {"available"}


def test_a_nat_gateway_is_pending_for_its_duration_over_the_speed(wall):
    """A-6 / B-EC2-3: pending -> available, ~105 s on AWS."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]
    assert nat["State"] == "pending"
    wall.sleep(clock.DURATIONS["ec2.nat_gateway"] / SPEED - 0.25)
    assert not waits(ec2.get_waiter("nat_gateway_available"), NatGatewayIds=[nat["NatGatewayId"]])
    wall.sleep(0.25)
    assert waits(ec2.get_waiter("nat_gateway_available"), NatGatewayIds=[nat["NatGatewayId"]])


def test_an_ecs_deployment_takes_its_duration_over_the_speed(wall):
    """The day-2 states run on the same scaled clock: a new service's deployment is IN_PROGRESS
    for ``ecs.deployment`` / speed of wall time."""
    from tests.fidelity.test_ecs import describe, fargate_service

    ecs, ec2 = boto3.client("ecs", region_name=REGION), boto3.client("ec2", region_name=REGION)
    fargate_service(ecs, ec2, desired=2)
    wall.sleep(clock.DURATIONS["ecs.deployment"] / SPEED - 0.5)
    assert describe(ecs)["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    wall.sleep(0.5)
    assert describe(ecs)["deployments"][0]["rolloutState"] == "COMPLETED"


def test_a_controlled_clock_alone_leaves_creates_available_at_once(moto_aws, on_the_clock):
    """The switch is off unless the sandbox's speed (or a test) turns it on: the handler and
    end-to-end suites create whole stacks on a controlled clock and expect them ready."""
    rds = boto3.client("rds", region_name=REGION)
    db = rds.create_db_instance(DBInstanceIdentifier="db", Engine="postgres", DBInstanceClass="db.t3.medium",
                                AllocatedStorage=20, MasterUsername="app", MasterUserPassword="secret-password")
    assert db["DBInstance"]["DBInstanceStatus"] == "available"


@pytest.mark.parametrize(("argv", "message"), [
    (["--sandbox-speed", "60"], "--sandbox-speed needs --sandbox"),
    (["--sandbox", "--sandbox-speed", "0"], "--sandbox-speed must be a positive number, not 0"),
    (["--sandbox", "--sandbox-speed", "-5"], "--sandbox-speed must be a positive number, not -5"),
    (["--sandbox", "--sandbox-speed", "fast"], "argument --sandbox-speed: invalid float value: 'fast'"),
])
def test_a_bad_sandbox_speed_is_one_line_and_exit_1(capsys, argv, message):
    assert main("reconcile", ["--env", "dev", *argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_the_speed_reaches_the_embedded_servers_clock(moto_aws):
    """``--sandbox-speed`` is ``embedded_server(speed=...)``: the layer's clock is scaled while the
    server runs and instant again after it."""
    from sandbox.server import embedded_server

    with embedded_server(speed=SPEED):
        assert isinstance(clock._state.source, clock.ScaledClock) and clock._state.source.speed == SPEED
        assert clock.switched("pending-creates")
    assert not clock.controlled() and not clock.switched("pending-creates")
