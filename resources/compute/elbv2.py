"""The internal Network Load Balancer in front of the metadata service, and its target group.

Names are unique per account and region for both, and literal in the spec, so a lost state and
a teardown find them by name; the ownership tags are then checked with DescribeTags (ELBv2
returns tags only through that separate call).
"""
from __future__ import annotations

import dataclasses

from botocore.exceptions import ClientError

from resources.aws import error_code, ignore_codes
from resources.aws.permissions import arn, reads, service_linked_role, writes
from resources.base import Change, Field, FieldDiff, Handler, Observed, OnFailed, Refresh, ResourceError, Status, owned_by, tag_dict, tag_list
from resources.aws.consistency import consistency
from resources.aws.shared_reads import chunks
from resources.aws.together import together

TG_NOT_FOUND = "TargetGroupNotFound"
LB_NOT_FOUND = "LoadBalancerNotFound"
LISTENER_NOT_FOUND = "ListenerNotFound"
ENFORCE_PRIVATE_LINK = "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"

# DeleteTargetGroup answers ResourceInUse while a listener or rule still forwards to the group;
# the listeners go with their load balancer, which teardown deletes first, but the release is
# not instantaneous on AWS.
TARGET_GROUP_RELEASED = consistency(
    "elbv2-target-group-released", {"ResourceInUse"}, timeout=5 * 60, first_delay=2.0, max_delay=15.0
)


class ElbHandler(Handler):
    service = "elbv2"

    def tags_of(self, arn: str) -> dict[str, str]:
        [description] = self.client.describe_tags(ResourceArns=[arn])["TagDescriptions"]
        return tag_dict(description["Tags"])

    def observe_listed_item(self, raw, items, across):
        # bin/drift --all: the tags of every listed resource of this kind, 20 ARNs a DescribeTags
        # (its maximum), one read for every environment's walk instead of one per resource.
        _, _, id_key, _ = self.account_listing

        def fetch() -> dict[str, dict[str, str]]:
            arns = sorted(i[id_key] for i in items)
            return {d["ResourceArn"]: tag_dict(d["Tags"]) for part in chunks(arns, 20)
                    for d in self.client.describe_tags(ResourceArns=part)["TagDescriptions"]}

        try:
            tags = across.once((self.service, "describe_tags", id_key), fetch)
        except ClientError as exc:
            if error_code(exc) not in self.not_found:
                raise
            return self.observe(raw)  # one of them deleted since the listing: each its own read
        arn = raw[id_key]
        # Not among them (listed, then deleted before the tags were read): its own read.
        return self._observe(raw, tags[arn] if arn in tags else self.tags_of(arn))

    def set_tags(self, obs, tags):
        self.client.add_tags(ResourceArns=[obs.id], Tags=tag_list(tags))

    def unset_tags(self, obs, keys):
        self.client.remove_tags(ResourceArns=[obs.id], TagKeys=keys)

    def by_name(self, spec: dict, call, key: str) -> list[dict]:
        """The resources of this name (none when the name is free); ownership is checked by the caller."""
        try:
            return call(Names=[spec["name"]])[key]
        except ClientError as exc:
            # A lookup by name, not a read by id: AWS answers the kind's not-found code for a
            # name nobody holds, which means "none listed" here.
            if error_code(exc) in self.not_found:
                return []
            raise

    # Names are unique per account and region: a failed one of ours holds the name, so a new
    # one cannot be made beside it.
    replace_beside = False

    def refuse_taken_name(self, spec: dict, exc: ClientError | None = None) -> ResourceError:
        # list_owned found nothing of ours under this name, so whoever holds it is not us.
        why = f" ({error_code(exc)})" if exc is not None else ""
        return ResourceError(
            f"{self.kind} {spec['name']}: the name is taken by a resource without this environment's tags"
            f"{why}; rename or delete it"
        )

    def require_free_name(self, spec: dict, call, key: str) -> None:
        """Create is called only when nothing of ours holds the name. CreateTargetGroup and
        CreateLoadBalancer are idempotent on AWS (the same name and settings answer the existing
        resource, which is also what makes a retried create safe), so a holder must be refused
        before the call, or its ARN would come back as ours."""
        if self.by_name(spec, call, key):
            raise self.refuse_taken_name(spec)


# -- target group --------------------------------------------------------------------------

class TargetGroup(ElbHandler):
    kind = "elbv2_target_group"
    iam = (
        reads("elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTags"),
        writes("elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:ModifyTargetGroup",
               "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
               arns=(arn("elasticloadbalancing", "targetgroup/{name}/*"),)),
    )
    # bin/drift --all: one listing for every environment (base.Handler.account_listing).
    account_listing = ("describe_target_groups", "TargetGroups", "TargetGroupArn", 400)
    expected_seconds = 1
    poll_ceiling = 2
    not_found = frozenset({TG_NOT_FOUND})
    # Target groups have no lifecycle state: they exist or not (status: ready).
    fields = {
        "vpc_id": Field(str, Change.REPLACE, why="a target group never leaves its VPC"),
        # ModifyTargetGroup changes the health check only.
        "protocol": Field(str, Change.REPLACE, why="set at creation only"),
        "port": Field(int, Change.REPLACE, why="set at creation only"),
        "target_type": Field(str, Change.REPLACE, why="set at creation only"),
        "health_check": Field(dict),
    }

    def describe(self, resource_id):
        return next(iter(self.client.describe_target_groups(TargetGroupArns=[resource_id])["TargetGroups"]), None)

    def observe(self, raw):
        # Two reads: the default diff compares tags too, and ELBv2 has them only in DescribeTags.
        arn = raw["TargetGroupArn"]
        return self._observe(raw, self.tags_for(arn, lambda: self.tags_of(arn)))

    def _observe(self, tg: dict, tags: dict[str, str]) -> Observed:
        attrs = {
            "vpc_id": tg["VpcId"],
            "protocol": tg["Protocol"],
            "port": tg["Port"],
            "target_type": tg["TargetType"],
            "health_check": {
                "protocol": tg["HealthCheckProtocol"],
                "interval_seconds": tg["HealthCheckIntervalSeconds"],
                "healthy_threshold": tg["HealthyThresholdCount"],
                "unhealthy_threshold": tg["UnhealthyThresholdCount"],
            },
        }
        return Observed(tg["TargetGroupArn"], attrs, tags, tg)

    # Target group names are unique, but nothing refers to one by name: a replacement (a new
    # port) is made beside the old one under the other of two names, the listener and the
    # service are re-pointed to it, then the old one is deleted (a group in use by a listener
    # cannot be deleted: ResourceInUse).
    replace_beside = True
    BESIDE_SUFFIX = "-b"

    def beside_name(self, spec, old):
        name = spec["name"]
        return name + self.BESIDE_SUFFIX if old.raw.get("TargetGroupName") == name else name

    def validate(self, spec):
        longest = spec["name"] + self.BESIDE_SUFFIX
        # CreateTargetGroup: at most 32 characters (ValidationError), the name of a replacement included.
        return [f"name {longest!r} (a replacement's name) is longer than 32 characters"] if len(longest) > 32 else []

    def list_owned(self, spec):
        found = [self.observe(tg) for name in (spec["name"], spec["name"] + self.BESIDE_SUFFIX)
                 for tg in self.by_name({**spec, "name": name}, self.client.describe_target_groups, "TargetGroups")]
        return [obs for obs in found if owned_by(obs.tags, spec)]

    def create(self, spec, token):
        # CreateTargetGroup has no token: the name is the idempotency key (the same name and
        # settings return the same group on AWS).
        hc = spec["health_check"]
        self.require_free_name(spec, self.client.describe_target_groups, "TargetGroups")
        try:
            tg = self.client.create_target_group(
                Name=spec["name"],
                Protocol=spec["protocol"],
                Port=spec["port"],
                VpcId=spec["vpc_id"],
                TargetType=spec["target_type"],
                HealthCheckProtocol=hc["protocol"],
                HealthCheckIntervalSeconds=hc["interval_seconds"],
                HealthyThresholdCount=hc["healthy_threshold"],
                UnhealthyThresholdCount=hc["unhealthy_threshold"],
                Tags=tag_list(spec["tags"]),
            )
        except ClientError as exc:
            if error_code(exc) == "DuplicateTargetGroupName":
                raise self.refuse_taken_name(spec, exc) from exc
            raise
        return tg["TargetGroups"][0]["TargetGroupArn"]

    def update_fields(self, spec, obs, diffs):
        for d in diffs:
            if d.field == "health_check":
                hc = d.expected
                self.client.modify_target_group(
                    TargetGroupArn=obs.id,
                    HealthCheckProtocol=hc["protocol"],
                    HealthCheckIntervalSeconds=hc["interval_seconds"],
                    HealthyThresholdCount=hc["healthy_threshold"],
                    UnhealthyThresholdCount=hc["unhealthy_threshold"],
                )
            else:
                super().update_fields(spec, obs, [d])

    def delete(self, obs, spec=None):
        TARGET_GROUP_RELEASED.call(self.clock, self.client.delete_target_group, TargetGroupArn=obs.id)

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.id, "name": obs.raw["TargetGroupName"]}


# -- load balancer -------------------------------------------------------------------------

def lb_status_of(lb: dict) -> Refresh:
    state = lb["State"]
    code = state["Code"]
    if code == "failed":
        return Refresh(Status.FAILED, state.get("Reason") or code)
    if code == "provisioning":
        return Refresh(Status.PENDING, code)
    # active_impaired still routes traffic (an AZ is impaired on AWS's side): nothing to wait for.
    return Refresh(Status.READY, code)


def forward_target(listener: dict) -> str | None:
    """The one target group a listener's forward action sends to, else None (so the diff shows it)."""
    actions = listener.get("DefaultActions") or []
    if len(actions) != 1 or actions[0]["Type"] != "forward":
        return None
    action = actions[0]
    if action.get("TargetGroupArn"):
        return action["TargetGroupArn"]
    groups = action.get("ForwardConfig", {}).get("TargetGroups", [])
    return groups[0]["TargetGroupArn"] if len(groups) == 1 else None


def normal_listeners(listeners: list[dict]) -> list[dict]:
    return sorted(listeners, key=lambda listener: listener["port"])


SECURITY_FIELDS = ("security_group_ids", "private_link_inbound_rules")
CROSS_ZONE = "load_balancing.cross_zone.enabled"
DELETION_PROTECTION = "deletion_protection.enabled"
# spec key -> load balancer attribute.
ATTRIBUTE_FIELDS = {"cross_zone": CROSS_ZONE, "deletion_protection": DELETION_PROTECTION}


def forward(target_group_arn: str) -> list[dict]:
    return [{"Type": "forward", "TargetGroupArn": target_group_arn}]


class LoadBalancer(ElbHandler):
    kind = "elbv2_load_balancer"
    iam = (
        reads("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
              "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeTags"),
        writes("elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:ModifyLoadBalancerAttributes",
               "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
               "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
               "elasticloadbalancing:CreateListener", arns=(arn("elasticloadbalancing", "loadbalancer/*/{name}/*"),)),
        writes("elasticloadbalancing:CreateListener", "elasticloadbalancing:ModifyListener",
               "elasticloadbalancing:DeleteListener", "elasticloadbalancing:AddTags",
               arns=(arn("elasticloadbalancing", "listener/*/{name}/*/*"),)),
        service_linked_role("elasticloadbalancing.amazonaws.com", "CreateLoadBalancer in a fresh account"),
    )
    # bin/drift --all: one listing for every environment (base.Handler.account_listing).
    account_listing = ("describe_load_balancers", "LoadBalancers", "LoadBalancerArn", 400)
    # NLB provisioning: 2m22s, 2m37s, 2m41s in public Terraform apply logs (aws_lb "Creation
    # complete after"), T-1.1.
    expected_seconds = 150
    create_timeout = 20 * 60
    delete_timeout = 10 * 60
    poll_ceiling = 10
    not_found = frozenset({LB_NOT_FOUND})
    # A load balancer AWS reports "failed" never finished provisioning (e.g. too few free
    # addresses in a subnet) and carries no traffic; it holds nothing the spec does not make
    # again (listeners, groups: the target group is its own node, and an internal NLB has no
    # Elastic IPs). The engine deletes it and creates a new one. While a VPC link still uses
    # it, AWS refuses the delete (ResourceInUse) and the run says so.
    on_failed = OnFailed.REPLACE
    fields = {
        "scheme": Field(str, Change.REPLACE, why="set at creation only"),
        "type": Field(str, Change.REPLACE, why="another type is another load balancer"),
        # SetSubnets, in place.
        "subnet_ids": Field(list),
        # SetSecurityGroups, in place, except for an NLB made without any (classify).
        "security_group_ids": Field(list),
        # CreateListener / ModifyListener / DeleteListener, in place.
        "listeners": Field(list),
        # Load balancer attributes (ModifyLoadBalancerAttributes, in place; CreateLoadBalancer
        # takes none, so they follow the create). docs/configuration.md load balancer row: cross-zone on
        # (FSBP has no control for it on an NLB, ELB.9 is for Classic ones), and deletion
        # protection as the environment's deletion_protection says (FSBP ELB.6).
        "cross_zone": Field(bool),
        "deletion_protection": Field(bool),
    }

    def desired(self, spec):
        return {
            **spec,
            "subnet_ids": sorted(spec["subnet_ids"], key=str),
            "security_group_ids": sorted(spec["security_group_ids"], key=str),
            "listeners": normal_listeners(spec["listeners"]),
        }

    def classify(self, diff, obs):
        diff = super().classify(diff, obs)
        if diff.field == "security_group_ids" and obs.attrs["type"] == "network" and not diff.actual:
            # An NLB created without security groups can never be given any (ELB guide,
            # "Update the security groups for your Network Load Balancer").
            return dataclasses.replace(
                diff, change=Change.REPLACE, why="an NLB created without security groups cannot be given any"
            )
        return diff

    def describe(self, resource_id):
        return next(iter(self.client.describe_load_balancers(LoadBalancerArns=[resource_id])["LoadBalancers"]), None)

    def observe(self, raw):
        # Three reads: the load balancer, its tags (DescribeTags only) and its listeners.
        arn = raw["LoadBalancerArn"]
        return self._observe(raw, self.tags_for(arn, lambda: self.tags_of(arn)))

    def _observe(self, lb: dict, tags: dict[str, str]) -> Observed:
        arn = lb["LoadBalancerArn"]
        listeners, attributes = together(
            lambda: [listener for page in self.client.get_paginator("describe_listeners").paginate(LoadBalancerArn=arn)
                     for listener in page["Listeners"]],
            lambda: self._attributes(arn),
        )
        attrs = {
            "scheme": lb["Scheme"],
            "type": lb["Type"],
            "subnet_ids": sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", [])),
            "security_group_ids": sorted(lb.get("SecurityGroups") or []),
            "listeners": normal_listeners([
                {"port": listener["Port"], "protocol": listener["Protocol"], "target_group_arn": forward_target(listener)}
                for listener in listeners
            ]),
            "cross_zone": attributes.get(CROSS_ZONE) == "true",
            "deletion_protection": attributes.get(DELETION_PROTECTION) == "true",
        }
        return Observed(arn, attrs, tags, {**lb, "Listeners": listeners, "Attributes": attributes})

    def _attributes(self, arn: str) -> dict[str, str]:
        answer = self.client.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
        return {a["Key"]: a["Value"] for a in answer}

    def list_owned(self, spec):
        lbs = self.by_name(spec, self.client.describe_load_balancers, "LoadBalancers")
        tagged = [(lb, self.tags_of(lb["LoadBalancerArn"])) for lb in lbs]
        return [self._observe(lb, tags) for lb, tags in tagged if owned_by(tags, spec)]

    def implied_diffs(self, spec, obs):
        enforce = obs.raw.get(ENFORCE_PRIVATE_LINK)
        # AWS reports the setting only for load balancers that have security groups; where it
        # is not reported there is nothing to turn off.
        if spec["type"] == "network" and spec["security_group_ids"] and enforce not in (None, "off"):
            return [FieldDiff("private_link_inbound_rules", "off", enforce)]
        return []

    def create(self, spec, token):
        # CreateLoadBalancer has no token: the name is the idempotency key on AWS. Listeners
        # and the PrivateLink setting follow through update_fields once it is active.
        # Security groups now or never: an NLB created without them cannot be given any.
        groups = {"SecurityGroups": spec["security_group_ids"]} if spec["security_group_ids"] else {}
        self.require_free_name(spec, self.client.describe_load_balancers, "LoadBalancers")
        try:
            lb = self.client.create_load_balancer(
                Name=spec["name"],
                Type=spec["type"],
                Scheme=spec["scheme"],
                Subnets=spec["subnet_ids"],
                IpAddressType="ipv4",
                Tags=tag_list(spec["tags"]),
                **groups,
            )
        except ClientError as exc:
            if error_code(exc) == "DuplicateLoadBalancerName":
                raise self.refuse_taken_name(spec, exc) from exc
            raise
        return lb["LoadBalancers"][0]["LoadBalancerArn"]

    def update_fields(self, spec, obs, diffs):
        fields = {d.field for d in diffs}
        other = [d for d in diffs if d.field not in ("subnet_ids", "listeners", *SECURITY_FIELDS, *ATTRIBUTE_FIELDS)]
        if other:
            super().update_fields(spec, obs, other)
        if "subnet_ids" in fields:
            self.client.set_subnets(LoadBalancerArn=obs.id, Subnets=spec["subnet_ids"])
        if fields & set(SECURITY_FIELDS):
            # One call sets both the groups and the PrivateLink setting.
            self._set_security_groups(spec, obs)
        if "listeners" in fields:
            self._converge_listeners(obs, spec["listeners"])
        changed = [ATTRIBUTE_FIELDS[f] for f in sorted(fields & set(ATTRIBUTE_FIELDS))]
        if changed:
            # One call for both attributes.
            self.client.modify_load_balancer_attributes(LoadBalancerArn=obs.id, Attributes=[
                {"Key": key, "Value": "true" if spec[field] else "false"}
                for field, key in ATTRIBUTE_FIELDS.items() if key in changed
            ])

    def _set_security_groups(self, spec: dict, obs: Observed) -> None:
        extra = {}
        if spec["type"] == "network":
            # API Gateway's REST VPC link reaches this NLB through PrivateLink. With inbound rules
            # enforced on PrivateLink traffic (the default), the rules are judged against the
            # client's own private address rather than the endpoint's (ELB guide, "Update the
            # security groups for your Network Load Balancer", Considerations): API Gateway's
            # addresses are not ours to name, and nlb-sg admits only the VPC CIDR, so the API
            # would be refused. Off: PrivateLink traffic, which only the VPC link's endpoint
            # service (made and used by API Gateway) carries, skips the inbound rules; traffic
            # from inside the VPC is still held to nlb-sg.
            extra[ENFORCE_PRIVATE_LINK] = "off"
        self.client.set_security_groups(LoadBalancerArn=obs.id, SecurityGroups=spec["security_group_ids"], **extra)

    def _converge_listeners(self, obs: Observed, expected: list[dict]) -> None:
        want = {listener["port"]: listener for listener in expected}
        have = {listener["Port"]: listener for listener in obs.raw["Listeners"]}
        for port, listener in sorted(want.items()):
            current = have.get(port)
            if current is None:
                self.client.create_listener(
                    LoadBalancerArn=obs.id, Port=port, Protocol=listener["protocol"],
                    DefaultActions=forward(listener["target_group_arn"]),
                )
            elif current["Protocol"] != listener["protocol"] or forward_target(current) != listener["target_group_arn"]:
                self.client.modify_listener(
                    ListenerArn=current["ListenerArn"], Protocol=listener["protocol"],
                    DefaultActions=forward(listener["target_group_arn"]),
                )
        for port in sorted(set(have) - set(want)):
            # A listener is a child of the load balancer: one deleted by someone else meanwhile
            # (ListenerNotFound) must not stop the others.
            ignore_codes({LISTENER_NOT_FOUND}, self.client.delete_listener, ListenerArn=have[port]["ListenerArn"])

    # On when the environment's deletion_protection is (FSBP ELB.6), and anyone may turn it on
    # (console, another tool): DeleteLoadBalancer then answers OperationNotPermitted, and
    # teardown must not have deleted the rest by then. Read from AWS, never from the spec.
    has_protection = True

    def protection(self, obs):
        # Gone since it was found (another teardown deleted it): nothing protects it, and the
        # delete that follows counts it as done.
        attributes = ignore_codes(self.not_found, self._attributes, obs.id) or {}
        if attributes.get(DELETION_PROTECTION) == "true":
            return "deletion protection is on (load balancer attribute deletion_protection.enabled)"
        return None

    def delete(self, obs, spec=None):
        # Its listeners go with it; deleting a load balancer that is already gone succeeds.
        self.client.delete_load_balancer(LoadBalancerArn=obs.id)

    def status(self, raw):
        return lb_status_of(raw)

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.id, "dns_name": obs.raw["DNSName"], "name": obs.raw["LoadBalancerName"]}
