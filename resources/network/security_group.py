"""Security groups with their ingress and egress rules, reconciled as sets.

Rules are part of the group's desired state rather than nodes of their own: one read of
DescribeSecurityGroupRules shows a rule added by hand (revoked), a rule removed by hand
(authorized again) and a description edited by hand (modified back). A rule is identified by
(protocol, from_port, to_port, source); its description is compared as well.
"""
from __future__ import annotations

import re

from botocore.exceptions import ClientError

from resources.aws import done_if_landed, error_code, ignore_codes
from resources.base import MANAGED_BY, Change, Field, Observed, ResourceError, tag_dict
from resources.aws.consistency import DEPENDENCIES_DRAIN, EC2_NEW_RESOURCE
from resources.network.ec2 import Ec2Handler, ec2_grants, in_vpc_filters
from resources.aws.shared_reads import chunks, describe_all

NOT_FOUND = "InvalidGroup.NotFound"
RULE_NOT_FOUND = "InvalidPermission.NotFound"
RULE_DUPLICATE = "InvalidPermission.Duplicate"
DUPLICATE = "InvalidGroup.Duplicate"
# B-SG-1: names and descriptions up to 255 characters of this set; a name cannot start with
# "sg-" (it would read as a group id). moto checks none of it (docs/aws-behaviours.md A-9).
SG_TEXT = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}")
DIRECTIONS = ("ingress", "egress")


def rules_of_groups(ec2, group_ids: list[str]) -> list[dict]:
    return describe_all(ec2, "describe_security_group_rules", "SecurityGroupRules",
                        Filters=[{"Name": "group-id", "Values": group_ids}])


def security_group_rules(ec2, group_id: str) -> list[dict]:
    return rules_of_groups(ec2, [group_id])


def rule_key(rule: dict) -> tuple:
    return (rule["protocol"], rule["from_port"], rule["to_port"], str(rule["source"]))


def normal_rule(protocol: str, from_port, to_port, source, description) -> dict:
    # "-1" (all traffic) has no ports: AWS reports FromPort/ToPort -1 or leaves them out.
    all_ports = protocol == "-1"
    return {
        "protocol": protocol,
        "from_port": -1 if all_ports else from_port,
        "to_port": -1 if all_ports else to_port,
        "source": source,
        "description": description or "",
    }


def observe_rule(rule: dict) -> dict:
    source = (
        rule.get("CidrIpv4")
        or rule.get("CidrIpv6")
        or rule.get("PrefixListId")
        or (rule.get("ReferencedGroupInfo") or {}).get("GroupId")
    )
    return normal_rule(rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort"), source, rule.get("Description"))


def observe_security_group(group: dict, rules: list[dict]) -> Observed:
    attrs = {"vpc_id": group["VpcId"], "description": group.get("Description", "")}
    for direction in DIRECTIONS:
        mine = [r for r in rules if r["IsEgress"] is (direction == "egress")]
        attrs[direction] = sorted((observe_rule(r) for r in mine), key=rule_key)
    raw = {**group, "SecurityGroupRules": rules}
    return Observed(group["GroupId"], attrs, tag_dict(group.get("Tags")), raw)


def source_fields(source: str) -> dict:
    """The source of a rule as ModifySecurityGroupRules names it."""
    if source.startswith("sg-"):
        return {"ReferencedGroupId": source}
    if source.startswith("pl-"):
        return {"PrefixListId": source}
    return {"CidrIpv6": source} if ":" in source else {"CidrIpv4": source}


def ip_permission(rule: dict) -> dict:
    """A rule as AuthorizeSecurityGroupIngress/Egress takes it."""
    perm = {"IpProtocol": rule["protocol"]}
    if rule["protocol"] != "-1":
        perm.update(FromPort=rule["from_port"], ToPort=rule["to_port"])
    described = {"Description": rule["description"]} if rule["description"] else {}
    source = source_fields(rule["source"])
    if "ReferencedGroupId" in source:
        perm["UserIdGroupPairs"] = [{"GroupId": rule["source"], **described}]
    elif "PrefixListId" in source:
        perm["PrefixListIds"] = [{"PrefixListId": rule["source"], **described}]
    elif "CidrIpv6" in source:
        perm["Ipv6Ranges"] = [{"CidrIpv6": rule["source"], **described}]
    else:
        perm["IpRanges"] = [{"CidrIp": rule["source"], **described}]
    return perm


def sg_text_problem(what: str, value: str) -> str | None:
    if not isinstance(value, str) or not SG_TEXT.fullmatch(value):
        return f"{what} {value!r}: 1-255 characters of letters, digits, spaces and ._-:/()#,@[]+=&;{{}}!$*"  # B-SG-1
    return None


class SecurityGroup(Ec2Handler):
    kind = "security_group"
    resource_type = "security-group"
    iam = ec2_grants("security-group", ("ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"),
                     creates=("ec2:CreateSecurityGroup",), parents=("vpc",),
                     changes=("ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
                              "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
                              "ec2:ModifySecurityGroupRules", "ec2:DeleteSecurityGroup"),
                     touches=("security-group-rule",))
    describe_call, items_key, ids_param = "describe_security_groups", "SecurityGroups", "GroupIds"
    not_found = frozenset({NOT_FOUND})
    id_key = "GroupId"
    expected_seconds = 2
    poll_ceiling = 2
    # AWS cannot change a group's VPC or its description: only a new group can.
    fields = {
        "vpc_id": Field(str, Change.REPLACE, why="a security group never leaves its VPC"),
        "description": Field(str, Change.REPLACE, why="a security group's description is fixed"),
        "ingress": Field(list),
        "egress": Field(list),
    }

    def validate(self, spec):
        problems = [sg_text_problem("name", spec["name"]), sg_text_problem("description", spec["description"])]
        if spec["name"].startswith("sg-"):
            problems.append(f"name {spec['name']!r} cannot start with 'sg-'")  # B-SG-1
        return [p for p in problems if p]

    def desired(self, spec):
        out = {**spec}
        for direction in DIRECTIONS:
            rules = (normal_rule(**r) for r in spec[direction])
            out[direction] = sorted(rules, key=rule_key)
        return out

    def observe(self, group: dict) -> Observed:
        return observe_security_group(group, security_group_rules(self.client, group["GroupId"]))

    def listing_filters(self, spec):
        return in_vpc_filters(self, spec)

    def observe_listed_item(self, group, items, across):
        # The rules of every listed group in one read too, instead of one read per group
        # (bin/drift --all seeds them under the same key, inventory._seed_group_rules).
        ids = tuple(sorted(g["GroupId"] for g in items))
        rules = self.shared.once(("describe_security_group_rules", ids),
                                 lambda: [r for part in chunks(list(ids)) for r in rules_of_groups(self.client, part)])
        return observe_security_group(group, [r for r in rules if r["GroupId"] == group["GroupId"]])

    def create(self, spec, token):
        # CreateSecurityGroup has no idempotency token (B-EC2-2): find-by-tags before create is
        # what prevents a second group. Rules follow through update_fields, including the
        # revocation of the allow-all egress rule AWS adds to every new group.
        try:
            group = self.client.create_security_group(
                GroupName=spec["name"],
                Description=spec["description"],
                VpcId=spec["vpc_id"],
                TagSpecifications=self.tag_specifications(spec),
            )
        except ClientError as exc:
            if error_code(exc) == DUPLICATE:  # names are unique in a VPC, whatever the case (B-SG-1)
                raise ResourceError(f"security group {spec['name']} exists but is not managed by {MANAGED_BY}") from None
            raise
        return group["GroupId"]

    def update_fields(self, spec, obs, diffs):
        for d in diffs:
            if d.field in DIRECTIONS:
                self._converge_rules(obs, d.field, d.expected)
            else:
                super().update_fields(spec, obs, [d])

    def _converge_rules(self, obs: Observed, direction: str, expected: list[dict]) -> None:
        egress = direction == "egress"
        have = {rule_key(observe_rule(r)): r for r in obs.raw["SecurityGroupRules"] if r["IsEgress"] is egress}
        want = {rule_key(r): r for r in expected}
        authorize, revoke = (
            (self.client.authorize_security_group_egress, self.client.revoke_security_group_egress)
            if egress
            else (self.client.authorize_security_group_ingress, self.client.revoke_security_group_ingress)
        )
        # New rules first, then the extra ones go: a rule whose source changed never leaves a
        # moment with neither. A just-created source group may not be visible yet (B-EC2-1).
        missing = [ip_permission(r) for k, r in sorted(want.items()) if k not in have]
        if missing:
            # A retried authorize whose first attempt landed is answered InvalidPermission.Duplicate.
            def landed() -> bool:
                now = {rule_key(observe_rule(r)) for r in security_group_rules(self.client, obs.id) if r["IsEgress"] is egress}
                return all(k in now for k in want if k not in have)

            EC2_NEW_RESOURCE.call(
                self.clock, done_if_landed, {RULE_DUPLICATE}, landed, authorize, GroupId=obs.id, IpPermissions=missing
            )
        # A description is fixed in place: revoke + authorize would drop the rule for a moment.
        relabel = [
            {
                "SecurityGroupRuleId": have[k]["SecurityGroupRuleId"],
                "SecurityGroupRule": {
                    "IpProtocol": r["protocol"], "FromPort": r["from_port"], "ToPort": r["to_port"],
                    **source_fields(r["source"]), "Description": r["description"],
                },
            }
            for k, r in sorted(want.items())
            if k in have and observe_rule(have[k])["description"] != r["description"]
        ]
        if relabel:
            self.client.modify_security_group_rules(GroupId=obs.id, SecurityGroupRules=relabel)
        extra = [r["SecurityGroupRuleId"] for k, r in sorted(have.items()) if k not in want]
        if extra:
            ignore_codes({RULE_NOT_FOUND}, revoke, GroupId=obs.id, SecurityGroupRuleIds=extra)

    def delete(self, obs, spec=None):
        # A group referenced by another group's rule answers DependencyViolation on AWS (moto
        # deletes it anyway, A-9): the reversed graph deletes the referencing groups first. ENIs
        # of RDS, Redis, EFS mount targets and Fargate tasks linger for minutes after those go.
        DEPENDENCIES_DRAIN.call(self.clock, self.client.delete_security_group, GroupId=obs.id)
