"""EC2: the network interfaces AWS creates for a NAT gateway and an EFS mount target say whose they are.

AWS writes the owner into the interface it creates for a service and marks it requester-managed
(EC2 user guide "Requester-managed network interfaces"): a NAT gateway's is described
``Interface for NAT Gateway nat-…``, a mount target's ``EFS mount target for fs-… (fsmt-…)``.
moto 5.2.5 creates both with an empty description, ``RequesterManaged`` false, so the drift
check (which lists the VPC's interfaces to find what runs there unmanaged, docs/aws-behaviours.md C-TAG-1)
could not tell them from an interface somebody attached by hand.
"""
from __future__ import annotations

import functools

from moto.ec2.models.nat_gateways import NatGateway
from moto.efs.models import EFSBackend

from sandbox.fidelity.patching import patch_once

_PATCHED = "_video_pipeline_fidelity_interfaces"


def _nat_init(original):
    @functools.wraps(original)
    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._eni.description = f"Interface for NAT Gateway {self.id}"
        self._eni.requester_managed = True
        self._eni.interface_type = "nat_gateway"

    return init


def _create_mount_target(original):
    @functools.wraps(original)
    def create(self, *args, **kwargs):
        target = original(self, *args, **kwargs)
        eni = self.ec2_backend.get_network_interface(target.network_interface_id)
        eni.description = f"EFS mount target for {target.file_system_id} ({target.mount_target_id})"
        eni.requester_managed = True
        return target

    return create


def _patch(cls, name: str, build) -> None:
    patch_once(cls, name, build, _PATCHED)


def apply() -> None:
    _patch(NatGateway, "__init__", _nat_init)
    _patch(EFSBackend, "create_mount_target", _create_mount_target)
