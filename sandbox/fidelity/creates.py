"""Creates that take AWS's time: RDS ``creating``, ElastiCache ``creating``, NAT ``pending``.

moto answers every create with the resource already available (docs/aws-behaviours.md A-35: "Nothing
is ever pending in moto"; A-6, A-13, A-16). On AWS:

- RDS CreateDBInstance answers ``creating`` and the instance has no Endpoint until it is created
  (A-13); a Multi-AZ PostgreSQL instance takes ~14 min (T-1.1, ``rds.create``).
- ElastiCache CreateReplicationGroup answers ``creating``, and so do its member clusters, for
  ~7-9 min (A-16; T-1.1, ``elasticache.create``).
- EC2 CreateNatGateway answers ``pending``, ``available`` ~105 s later (A-6, B-EC2-3;
  T-1.1, ``ec2.nat_gateway``).

Off by default, also with a controlled clock: the handler and end-to-end suites create whole
stacks on the layer's clock and expect them ready. ``clock.switch(SWITCH, True)`` turns it on;
``--sandbox-speed`` does (``clock.use_speed``), so a person watches the progress view wait for
these resources as on AWS, the durations scaled down by the speed factor.
"""
from __future__ import annotations

from typing import Any

from moto.ec2.models.nat_gateways import NatGatewayBackend
from moto.elasticache.models import ElastiCacheBackend
from moto.rds.models import DBInstance, RDSBackend

from sandbox.fidelity import clock
from sandbox.fidelity.elasticache import _patch

SWITCH = "pending-creates"
_MARK = "_fidelity_creates"


def on() -> bool:
    return clock.controlled() and clock.switched(SWITCH)


def _born(model: Any) -> None:
    """Record the layer's "now" on a model just created (only when the behaviour is on)."""
    if on():
        model._fidelity_created = clock.now()


def creating(model: Any, duration: str) -> bool:
    """Whether ``model`` is still being created at the layer's "now"."""
    born = getattr(model, "_fidelity_created", None)
    return born is not None and clock.elapsed(born) < clock.duration(duration)


# -- RDS ------------------------------------------------------------------------------------------

def _rds_status(db: Any) -> None:
    if getattr(db, "_fidelity_created", None) is None:
        return
    if creating(db, "rds.create"):
        db.status = "creating"
    else:
        db._fidelity_created = None
        if db.status == "creating":
            db.status = "available"


def _rds_create(original):
    def create_db_instance(self: RDSBackend, *args, **kwargs):
        db = original(self, *args, **kwargs)
        _born(db)
        _rds_status(db)
        return db

    return create_db_instance


def _rds_describe(original):
    def describe_db_instances(self: RDSBackend, *args, **kwargs):
        found = original(self, *args, **kwargs)
        for db in found:
            _rds_status(db)
        return found

    return describe_db_instances


def _rds_endpoint(original: property) -> property:
    def endpoint(self: DBInstance):
        # "no Endpoint while creating".
        return None if getattr(self, "status", None) == "creating" else original.fget(self)

    return property(endpoint)


# -- ElastiCache ----------------------------------------------------------------------------------

def _group_status(backend: ElastiCacheBackend, group: Any) -> None:
    if getattr(group, "_fidelity_created", None) is None:
        return
    members = [m["cache_cluster_id"] for g in group.node_groups for m in g["node_group_members"]]
    clusters = [backend.cache_clusters[m] for m in members if m in backend.cache_clusters]
    if creating(group, "elasticache.create"):
        status = "creating"
    else:
        group._fidelity_created = None
        status = "available"
    if group.status in ("creating", "available"):
        group.status = status
    for cluster in clusters:  # the members are created with their group
        cluster.cache_cluster_status = status


def _ec_create(original):
    def create_replication_group(self: ElastiCacheBackend, *args, **kwargs):
        group = original(self, *args, **kwargs)
        _born(group)
        _group_status(self, group)
        return group

    return create_replication_group


def _ec_reading(original):
    def reading(self: ElastiCacheBackend, *args, **kwargs):
        for group in list(self.replication_groups.values()):
            _group_status(self, group)
        return original(self, *args, **kwargs)

    return reading


# -- NAT gateways -------------------------------------------------------------------------------

def _nat_state(nat: Any) -> None:
    if getattr(nat, "_fidelity_created", None) is None:
        return
    if creating(nat, "ec2.nat_gateway"):
        nat.state = "pending"
    else:
        nat._fidelity_created = None
        if nat.state == "pending":
            nat.state = "available"


def _nat_create(original):
    def create_nat_gateway(self: NatGatewayBackend, *args, **kwargs):
        nat = original(self, *args, **kwargs)
        _born(nat)
        _nat_state(nat)
        return nat

    return create_nat_gateway


def _nat_describe(original):
    def describe_nat_gateways(self: NatGatewayBackend, *args, **kwargs):
        for nat in list(self.nat_gateways.values()):
            _nat_state(nat)
        return original(self, *args, **kwargs)

    return describe_nat_gateways


def apply() -> None:
    _patch(RDSBackend, "create_db_instance", _rds_create, marker=_MARK)
    _patch(RDSBackend, "describe_db_instances", _rds_describe, marker=_MARK)
    if not getattr(DBInstance.endpoint.fget, _MARK, False):
        DBInstance.endpoint = _rds_endpoint(DBInstance.endpoint)
        setattr(DBInstance.endpoint.fget, _MARK, True)
    _patch(ElastiCacheBackend, "create_replication_group", _ec_create, marker=_MARK)
    _patch(ElastiCacheBackend, "describe_replication_groups", _ec_reading, marker=_MARK)
    _patch(ElastiCacheBackend, "describe_cache_clusters", _ec_reading, marker=_MARK)
    _patch(NatGatewayBackend, "create_nat_gateway", _nat_create, marker=_MARK)
    _patch(NatGatewayBackend, "describe_nat_gateways", _nat_describe, marker=_MARK)
