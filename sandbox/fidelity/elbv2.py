"""Elastic Load Balancing v2, as AWS documents it, where moto 5.2.5 differs.

CreateLoadBalancer and CreateTargetGroup are idempotent (API reference: "If you attempt to
create multiple load balancers with the same settings, each call succeeds", and the same for
target groups): a call repeated with the same name and settings answers the existing resource,
a call with the same name and other settings fails with DuplicateLoadBalancerName /
DuplicateTargetGroupName. This is what makes a create retried by botocore after a lost answer
safe on AWS. moto makes a second load balancer with the same name, and refuses a repeated target
group outright.

CreateListener is idempotent in the same way (API reference, CreateListener: "If you attempt to
create multiple listeners with the same settings, each call succeeds"); another listener on a
port already taken fails with DuplicateListener. moto compares the port as given on the wire (a
string) with the ports it holds (integers), so a repeated call makes a second listener on the
same port, which AWS never has.
"""
from __future__ import annotations

from moto.elbv2.exceptions import DuplicateListenerError, DuplicateLoadBalancerName
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

    create_listener = ELBv2Backend.create_listener

    def idempotent_listener(self, load_balancer_arn, protocol, port, *args, **kwargs):
        balancer = self.load_balancers.get(load_balancer_arn)
        actions = kwargs.get("actions", args[2] if len(args) > 2 else None)
        for listener in (balancer.listeners.values() if balancer else ()):
            if str(listener.port) == str(port):
                same = listener.protocol == (protocol or "").upper() and [a.data for a in listener.default_actions] == actions
                if same:
                    return listener
                raise DuplicateListenerError()
        return create_listener(self, load_balancer_arn, protocol, port, *args, **kwargs)

    ELBv2Backend.create_listener = idempotent_listener
    ELBv2Backend.create_load_balancer = idempotent_load_balancer
    ELBv2Backend.create_target_group = idempotent_target_group
