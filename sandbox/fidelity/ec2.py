"""EC2: DescribeSecurityGroupRules reports the description of a rule whose source is a group.

AWS returns every rule's Description whatever its source (EC2 API reference, SecurityGroupRule:
"Description: the security group rule description"). moto 5.2.5 reads it from the CIDR range
only, so a rule authorized with ``UserIdGroupPairs=[{"GroupId": …, "Description": …}]`` comes
back without it and the security group handler would "fix" the description on every run.
ModifySecurityGroupRules in moto stores a new description on the rule's ip_range even for a
group source, so that one is read first.
"""
from __future__ import annotations

from moto.ec2.models.security_groups import SecurityGroupRule


def _description(self) -> str | None:
    return self.ip_range.get("Description") or self.source_group.get("Description")


def apply() -> None:
    SecurityGroupRule.description = property(_description)
