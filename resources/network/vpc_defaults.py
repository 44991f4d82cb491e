"""What every VPC comes with and cannot lose: its default security group and default network ACL.

Neither can be created nor deleted (they go with the VPC), so "create" takes the VPC's own one
over (tags it with the node's ownership record) and "delete" hands it back (removes those tags):
for the engine, the resource is ours exactly while it carries them. What the tool owns is their
rules:

- the default security group keeps no rule at all (FSBP EC2.2): nothing uses it, and a rule
  there would apply to anything launched in the VPC without a group of its own;
- the default network ACL, which every subnet of the stack uses, admits nothing on TCP or UDP
  ports 22 and 3389 from outside the VPC (FSBP EC2.21). See ``default_acl_entries`` for why the
  entries are what they are.
"""
from __future__ import annotations

import ipaddress

from resources.aws import done_if_landed
from resources.base import MANAGED_BY, Change, Field, Observed, Refresh, Status, tag_dict, tag_list
from resources.aws.consistency import EC2_NEW_RESOURCE
from resources.network.ec2 import OWNERSHIP_KEYS, Ec2Handler, ec2_grants, in_vpc_filters
from resources.network.security_group import SecurityGroup

ACL_NOT_FOUND = "InvalidNetworkAclID.NotFound"
ACL_ENTRY_NOT_FOUND = "InvalidNetworkAclEntry.NotFound"
# AWS's own last rule of every ACL (deny everything): it cannot be changed or deleted.
DEFAULT_DENY_RULE = 32767
# Protocol numbers as AWS reports them in a network ACL entry.
ALL, ICMP, TCP, UDP = "-1", "1", "6", "17"
ANYWHERE = "0.0.0.0/0"
# FSBP EC2.21 (AWS Config rule nacl-no-unrestricted-ssh-rdp): no ACL entry may allow TCP or UDP
# ports 22 or 3389 from 0.0.0.0/0 or ::/0.
REMOTE_ADMIN_PORTS = (22, 3389)


def held(raw: dict) -> Refresh:
    """Ours while it carries our ownership record; handed back (untagged) it is gone to us."""
    if tag_dict(raw.get("Tags")).get("ManagedBy") == MANAGED_BY:
        return Refresh(Status.READY)
    return Refresh(Status.GONE, "not taken over")


def _take_over(handler: Ec2Handler, resource_id: str, spec: dict) -> str:
    # The VPC is new: EC2 may not show its default members to the next call yet (B-EC2-1).
    EC2_NEW_RESOURCE.call(handler.clock, handler.client.create_tags, Resources=[resource_id], Tags=tag_list(spec["tags"]))
    return resource_id


def _hand_back(handler: Ec2Handler, obs: Observed, spec: dict | None) -> None:
    keys = set(OWNERSHIP_KEYS) | set((spec or {}).get("tags") or {})
    handler.client.delete_tags(Resources=[obs.id], Tags=[{"Key": k} for k in sorted(keys)])


class DefaultSecurityGroup(SecurityGroup):
    """The VPC's default security group, every rule revoked (FSBP EC2.2). AWS gives it an
    inbound rule from itself and an outbound rule to anywhere (VPC user guide, "Default security
    groups for your VPCs")."""

    kind = "default_security_group"
    fields = {
        "vpc_id": Field(str, Change.REPLACE, why="the default security group belongs to its VPC"),
        "ingress": Field(list),
        "egress": Field(list),
    }

    def validate(self, spec):
        return []

    def status(self, raw):
        return held(raw)

    def create(self, spec, token):
        groups = EC2_NEW_RESOURCE.call(
            self.clock, self.client.describe_security_groups,
            Filters=[{"Name": "vpc-id", "Values": [spec["vpc_id"]]}, {"Name": "group-name", "Values": ["default"]}],
        )["SecurityGroups"]
        [group] = groups
        return _take_over(self, group["GroupId"], spec)

    def delete(self, obs, spec=None):
        # DeleteSecurityGroup refuses a default group (CannotDelete); it goes with the VPC. Its
        # rules stay revoked.
        _hand_back(self, obs, spec)


def acl_entry(rule_number: int, protocol: str, cidr_block: str, action: str = "allow",
              port_range: tuple[int, int] | None = None) -> dict:
    """One network ACL entry in the normal form the handler compares."""
    icmp = [-1, -1] if protocol == ICMP else None
    ports = list(port_range) if port_range and protocol in (TCP, UDP) else None
    return {"rule_number": rule_number, "protocol": protocol, "cidr_block": cidr_block, "action": action,
            "port_range": ports, "icmp": icmp}


def _ranges_without(excluded: tuple[int, ...]) -> list[tuple[int, int]]:
    ranges, start = [], 0
    for port in sorted(excluded):
        if start <= port - 1:
            ranges.append((start, port - 1))
        start = port + 1
    return ranges + [(start, 65535)]


def default_acl_entries(vpc_cidr: str) -> dict[str, list[dict]]:
    """Inbound: everything from the VPC itself; from anywhere else every TCP and UDP port but 22
    and 3389, and ICMP. Outbound: everything (AWS's default).

    Why this shape (network ACLs are stateless and evaluated in rule-number order, lowest
    first, first match wins):
    - Inside the VPC every flow is kept: ECS tasks to RDS 5432, Redis 6379 and EFS 2049 in
      other subnets and their replies, NLB health checks and forwarded traffic to the tasks.
    - Replies from the internet reach the NAT gateways (public subnets) on the NAT's ports
      1024-65535 and, translated back, the tasks (private subnets) on their ephemeral ports;
      the API Gateway VPC link reaches the NLB through PrivateLink. Allowing every port but the
      two remote-administration ones keeps all of it, whatever port a peer picks.
    - EC2.21 is judged per entry: an "allow all" entry covers 22 and 3389 even behind a deny
      entry with a lower number, so the allows from anywhere leave those ports out instead.
      A reply to a NAT connection that happened to use port 22 or 3389 as its source port is
      refused: that is what any EC2.21-compliant ACL does.
    - ICMP (all types) keeps path MTU discovery working (type 3 code 4).
    - Protocols other than TCP, UDP and ICMP from outside the VPC are not needed by the stack.
    """
    ingress = [acl_entry(100, ALL, vpc_cidr)]
    number = 110
    for protocol in (TCP, UDP):
        for ports in _ranges_without(REMOTE_ADMIN_PORTS):
            ingress.append(acl_entry(number, protocol, ANYWHERE, port_range=ports))
            number += 10
    ingress.append(acl_entry(number, ICMP, ANYWHERE))
    return {"ingress": ingress, "egress": [acl_entry(100, ALL, ANYWHERE)]}


def observe_entry(entry: dict) -> dict:
    ports = entry.get("PortRange")
    icmp = entry.get("IcmpTypeCode") or {}  # moto 5.2.5 leaves it out; AWS reports it (-1/-1: all)
    return {
        "rule_number": entry["RuleNumber"],
        "protocol": str(entry["Protocol"]),
        "cidr_block": entry.get("CidrBlock") or entry.get("Ipv6CidrBlock"),
        "action": entry["RuleAction"],
        "port_range": [ports["From"], ports["To"]] if ports and entry["Protocol"] in (TCP, UDP) else None,
        "icmp": [icmp.get("Type", -1), icmp.get("Code", -1)] if entry["Protocol"] == ICMP else None,
    }


def entry_request(acl_id: str, egress: bool, entry: dict) -> dict:
    request = {
        "NetworkAclId": acl_id, "RuleNumber": entry["rule_number"], "Protocol": entry["protocol"],
        "RuleAction": entry["action"], "Egress": egress,
    }
    cidr = entry["cidr_block"]
    request["Ipv6CidrBlock" if ":" in cidr else "CidrBlock"] = cidr
    if entry["port_range"]:
        request["PortRange"] = {"From": entry["port_range"][0], "To": entry["port_range"][1]}
    if entry["icmp"]:
        request["IcmpTypeCode"] = {"Type": entry["icmp"][0], "Code": entry["icmp"][1]}
    return request


def opens_remote_admin(entry: dict) -> bool:
    """True when the entry would fail FSBP EC2.21: it allows TCP/UDP 22 or 3389 from anywhere."""
    if entry["action"] != "allow" or entry["cidr_block"] not in (ANYWHERE, "::/0"):
        return False
    if entry["protocol"] == ALL:
        return True
    if entry["protocol"] not in (TCP, UDP):
        return False
    low, high = entry["port_range"] or (0, 65535)
    return any(low <= port <= high for port in REMOTE_ADMIN_PORTS)


class DefaultNetworkAcl(Ec2Handler):
    kind = "default_network_acl"
    resource_type = "network-acl"
    # The take-over tags it like a create (ec2_grants' request-tag grant): AWS made it untagged.
    iam = ec2_grants("network-acl", ("ec2:DescribeNetworkAcls",),
                     changes=("ec2:CreateNetworkAclEntry", "ec2:ReplaceNetworkAclEntry", "ec2:DeleteNetworkAclEntry"))
    describe_call, items_key, ids_param = "describe_network_acls", "NetworkAcls", "NetworkAclIds"
    id_key = "NetworkAclId"
    not_found = frozenset({ACL_NOT_FOUND})
    poll_ceiling = 2
    fields = {
        "vpc_id": Field(str, Change.REPLACE, why="the default network ACL belongs to its VPC"),
        "ingress": Field(list),
        "egress": Field(list),
    }

    def validate(self, spec):
        problems = []
        for direction in ("ingress", "egress"):
            numbers = [e.get("rule_number") for e in spec[direction]]
            if len(set(numbers)) != len(numbers):
                problems.append(f"{direction}: rule numbers must be unique")
            for entry in spec[direction]:
                if not isinstance(entry.get("rule_number"), int) or not 1 <= entry["rule_number"] <= 32766:
                    problems.append(f"{direction}: rule number {entry.get('rule_number')!r} is not from 1 to 32766")
                if entry.get("action") not in ("allow", "deny"):
                    problems.append(f"{direction} rule {entry.get('rule_number')}: action must be allow or deny")
                try:
                    ipaddress.ip_network(entry.get("cidr_block"), strict=True)
                except (TypeError, ValueError):
                    problems.append(f"{direction} rule {entry.get('rule_number')}: {entry.get('cidr_block')!r} is not a CIDR block")
                    continue
                if direction == "ingress" and opens_remote_admin(entry):
                    problems.append(f"ingress rule {entry['rule_number']} allows port 22 or 3389 from anywhere (FSBP EC2.21)")
        return problems

    def desired(self, spec):
        out = {**spec}
        for direction in ("ingress", "egress"):
            out[direction] = sorted(spec[direction], key=lambda e: e["rule_number"])
        return out

    def status(self, raw):
        return held(raw)

    def listing_filters(self, spec):
        return in_vpc_filters(self, spec)

    def observe(self, acl):
        attrs = {"vpc_id": acl["VpcId"]}
        for direction in ("ingress", "egress"):
            entries = [e for e in acl.get("Entries", [])
                       if e["Egress"] is (direction == "egress") and e["RuleNumber"] != DEFAULT_DENY_RULE]
            attrs[direction] = sorted((observe_entry(e) for e in entries), key=lambda e: e["rule_number"])
        return Observed(acl["NetworkAclId"], attrs, tag_dict(acl.get("Tags")), acl)

    def create(self, spec, token):
        acls = EC2_NEW_RESOURCE.call(
            self.clock, self.client.describe_network_acls,
            Filters=[{"Name": "vpc-id", "Values": [spec["vpc_id"]]}, {"Name": "default", "Values": ["true"]}],
        )["NetworkAcls"]
        [acl] = acls
        return _take_over(self, acl["NetworkAclId"], spec)

    def update_fields(self, spec, obs, diffs):
        for d in diffs:
            if d.field in ("ingress", "egress"):
                self._converge(obs, d.field == "egress", d.expected, d.actual or [])
            else:
                super().update_fields(spec, obs, [d])

    def _converge(self, obs: Observed, egress: bool, want: list[dict], have: list[dict]) -> None:
        have_by = {e["rule_number"]: e for e in have}
        want_by = {e["rule_number"]: e for e in want}
        # New entries first, changed ones next, extra ones last: the ACL never passes through a
        # state that refuses more than both the old and the new one.
        for number in sorted(want_by.keys() - have_by.keys()):
            # A retried create whose first attempt landed is answered NetworkAclEntryAlreadyExists:
            # done when the entry now reads as wanted.
            done_if_landed(
                {"NetworkAclEntryAlreadyExists"}, lambda n=number: self._entry(obs.id, egress, n) == want_by[n],
                self.client.create_network_acl_entry, **entry_request(obs.id, egress, want_by[number]),
            )
        for number in sorted(want_by.keys() & have_by.keys()):
            if want_by[number] != have_by[number]:
                self.client.replace_network_acl_entry(**entry_request(obs.id, egress, want_by[number]))
        for number in sorted(have_by.keys() - want_by.keys()):
            self.client.delete_network_acl_entry(NetworkAclId=obs.id, RuleNumber=number, Egress=egress)

    def _entry(self, acl_id: str, egress: bool, number: int) -> dict | None:
        acl = self.client.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]
        return next((observe_entry(e) for e in acl.get("Entries", [])
                     if e["Egress"] is egress and e["RuleNumber"] == number), None)

    def delete(self, obs, spec=None):
        # DeleteNetworkAcl refuses the default ACL; it goes with the VPC. Its entries stay.
        _hand_back(self, obs, spec)
