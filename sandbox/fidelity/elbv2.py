"""Elastic Load Balancing v2, as AWS documents it, where moto 5.2.5 differs.

CreateLoadBalancer and CreateTargetGroup are idempotent (API reference: "If you attempt to
create multiple load balancers with the same settings, each call succeeds", and the same for
target groups): a call repeated with the same name and settings answers the existing resource,
a call with the same name and other settings fails with DuplicateLoadBalancerName /
DuplicateTargetGroupName. This is what makes a create retried by botocore after a lost answer
safe on AWS. moto makes a second load balancer with the same name, and refuses a repeated target
group outright.
"""
from __future__ import annotations

from moto.elbv2.exceptions import DuplicateLoadBalancerName
from moto.elbv2.models import ELBv2Backend


def _same_subnets(lb, subnet_ids, subnet_mappings) -> bool:
    wanted = set(subnet_ids or []) | {m["SubnetId"] for m in subnet_mappings or []}
    return {s.id for s in lb.subnets} == wanted


def apply() -> None:
    create_load_balancer = ELBv2Backend.create_load_balancer
    create_target_group = ELBv2Backend.create_target_group

    def idempotent_load_balancer(self, name, security_groups, subnet_ids, subnet_mappings=None,
                                 scheme="internet-facing", loadbalancer_type=None, *args, **kwargs):
        for lb in self.load_balancers.values():
            if lb.name == name:
                same = (lb.type == (loadbalancer_type or "application") and lb.scheme == scheme
                        and _same_subnets(lb, subnet_ids, subnet_mappings))
                if same:
                    return lb
                raise DuplicateLoadBalancerName()
        return create_load_balancer(self, name, security_groups, subnet_ids, subnet_mappings, scheme,
                                    loadbalancer_type, *args, **kwargs)

    def idempotent_target_group(self, name, **kwargs):
        for tg in self.target_groups.values():
            if (tg.name == name and tg.vpc_id == kwargs.get("vpc_id") and tg.protocol == kwargs.get("protocol")
                    and str(tg.port) == str(kwargs.get("port"))):
                return tg
        return create_target_group(self, name, **kwargs)

    ELBv2Backend.create_load_balancer = idempotent_load_balancer
    ELBv2Backend.create_target_group = idempotent_target_group
