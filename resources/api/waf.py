"""WAFv2 web ACL in front of the REST API's stage, and its association (docs/configuration.md, API
Gateway row; FSBP APIGateway.4).

The web ACL (scope REGIONAL, the scope of API Gateway stages) allows by default and blocks what
its rules match: the AWS managed rule groups the spec names (each rule with ``OverrideAction``
None: the group's own block actions apply) and a rate-based rule that blocks an IP address over
``rate_limit`` requests in 5 minutes. Its ARN is its id. Every change goes through UpdateWebACL,
which replaces the whole configuration and takes the LockToken of the last GetWebACL (optimistic
locking; WAFOptimisticLockException when someone changed it since: read again, retry). The
association is its own node: AssociateWebACL / GetWebACLForResource / DisassociateWebACL by the
stage's ARN, the id. A web ACL cannot be deleted while associated (WAFAssociatedItemException):
the association depends on the web ACL, so teardown disassociates first.

WAF's control plane allows one call a second to each Create/Update action per account and Region
(WAF developer guide, "AWS WAF quotas"): creates and updates are paced client-side to stay under it.
"""
from __future__ import annotations

import re

from botocore.exceptions import ClientError

from resources.api.common import find_rest_apis
from resources.aws import error_code
from resources.aws.permissions import arn, reads, writes
from resources.base import MANAGED_BY, Change, Field, Handler, Observed, ResourceError, owned_by, tag_dict, tag_list
from resources.aws.consistency import consistency
from resources.aws.pacing import Pace

NOT_FOUND = "WAFNonexistentItemException"
DUPLICATE = "WAFDuplicateItemException"
LOCK = "WAFOptimisticLockException"
SCOPE = "REGIONAL"
# CreateWebACL Name: 1-128 of [\w-] (WAF API reference, CreateWebACL).
WEB_ACL_NAME = re.compile(r"[\w-]{1,128}", re.ASCII)
# RateBasedStatement.Limit: 10 to 2,000,000,000 requests per evaluation window (WAF API reference).
RATE_LIMIT_RANGE = (10, 2_000_000_000)
RATE_RULE = "rate-limit-per-ip"
MANAGED_VENDOR = "AWS"
WAF_WRITE = Pace("WAFv2 Create/Update", 1.0)
# A web ACL or a stage just created can be refused for a while: "WAFUnavailableEntityException:
# AWS WAF couldn't retrieve the resource that you requested. If you've just created a resource
# that you're using in this operation, you might just need to wait a few minutes" (API reference).
NEW_ENTITY = consistency("waf-new-entity-visible", {"WAFUnavailableEntityException"}, timeout=300, max_delay=20)


def web_acl_rules(managed_groups: list[str], rate_limit: int | None, metric_prefix: str) -> list[dict]:
    """The rules of the web ACL as CreateWebACL / UpdateWebACL take them: the managed groups in
    the order given, then the rate-based rule (None: without one)."""
    rules = [{
        "Name": group, "Priority": i,
        "Statement": {"ManagedRuleGroupStatement": {"VendorName": MANAGED_VENDOR, "Name": group}},
        "OverrideAction": {"None": {}},
        "VisibilityConfig": visibility(f"{metric_prefix}-{group}"),
    } for i, group in enumerate(managed_groups)]
    if rate_limit is not None:
        rules.append({
            "Name": RATE_RULE, "Priority": len(managed_groups),
            "Statement": {"RateBasedStatement": {"Limit": rate_limit, "AggregateKeyType": "IP"}},
            "Action": {"Block": {}},
            "VisibilityConfig": visibility(f"{metric_prefix}-{RATE_RULE}"),
        })
    return rules


def visibility(metric: str) -> dict:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": metric[:128]}


def _enforced(rule: dict) -> bool:
    # A managed group whose override is Count only counts: not the protection asked for.
    override = rule.get("OverrideAction") or {}
    return not override or "None" in override


def observed_rules(rules: list[dict]) -> tuple[list[str], int | None]:
    """What the rules enforce: the AWS managed groups applied with their own actions, in
    priority order, and the limit of a rate-based rule per IP that blocks."""
    groups, limit = [], None
    for rule in sorted(rules or [], key=lambda r: r.get("Priority", 0)):
        statement = rule.get("Statement") or {}
        managed = statement.get("ManagedRuleGroupStatement")
        rate = statement.get("RateBasedStatement")
        if managed and managed.get("VendorName") == MANAGED_VENDOR and _enforced(rule):
            groups.append(managed["Name"])
        elif rate and rate.get("AggregateKeyType", "IP") == "IP" and "Block" in (rule.get("Action") or {}):
            limit = rate.get("Limit")
    return groups, limit


def web_acls_named(waf, name: str) -> list[str]:
    """The ARNs of the Region's web ACLs called ``name`` (one at most: names are unique in a
    scope)."""
    return [s["ARN"] for s in every_page(waf.list_web_acls, "WebACLs") if s["Name"] == name]


def logging_configurations(waf) -> list[dict]:
    """Every logging configuration of the Region's web ACLs."""
    return every_page(waf.list_logging_configurations, "LoggingConfigurations")


def every_page(call, items_key: str) -> list[dict]:
    """Every item of a WAF listing, page by page (NextMarker, at most 100 a page; botocore has
    no paginator for WAF's listings)."""
    found, params = [], {"Scope": SCOPE, "Limit": 100}
    while True:
        page = call(**params)
        found += page.get(items_key, [])
        if not page.get("NextMarker") or not page.get(items_key):
            return found
        params["NextMarker"] = page["NextMarker"]


def split_arn(arn: str) -> tuple[str, str]:
    """(name, id) of arn:aws:wafv2:REGION:ACCOUNT:regional/webacl/NAME/ID."""
    _, _, name, acl_id = arn.split(":", 5)[5].split("/")
    return name, acl_id


WEB_ACL_ARN = arn("wafv2", "regional/webacl/video-metadata-api-waf-{env}/*")
STAGE_ARN = "arn:{partition}:apigateway:{region}::/restapis/*/stages/{env}"


class WebAcl(Handler):
    kind = "waf_web_acl"
    iam = (
        reads("wafv2:ListWebACLs"),
        reads("wafv2:GetWebACL", "wafv2:ListTagsForResource", arns=(WEB_ACL_ARN,)),
        writes("wafv2:CreateWebACL", "wafv2:UpdateWebACL", "wafv2:DeleteWebACL", "wafv2:TagResource", "wafv2:UntagResource",
               arns=(WEB_ACL_ARN,)),
        # The web ACL's rules name AWS's managed rule groups.
        writes("wafv2:CreateWebACL", "wafv2:UpdateWebACL", arns=(arn("wafv2", "regional/managedruleset/*/*"),)),
    )
    service = "wafv2"
    poll_ceiling = 2
    not_found = frozenset({NOT_FOUND})
    fields = {
        "scope": Field(str, Change.REPLACE, why="a web ACL's scope is fixed at create"),
        "managed_rule_groups": Field(list),
        "rate_limit": Field((int, type(None))),
        "description": Field(str),
    }

    def validate(self, spec):
        problems = []
        if not WEB_ACL_NAME.fullmatch(spec["name"]):
            problems.append(f"web ACL name {spec['name']!r}: 1-128 letters, digits, '_' and '-'")
        low, high = RATE_LIMIT_RANGE
        limit = spec["rate_limit"]
        if limit is not None and not (isinstance(limit, int) and low <= limit <= high):
            problems.append(f"rate_limit {limit}: from {low} to {high} requests per 5 minutes")
        if spec["scope"] != SCOPE:
            problems.append(f"scope {spec['scope']!r}: {SCOPE} (API Gateway stages)")
        return problems

    def _metric_prefix(self, spec) -> str:
        return spec["name"]

    def describe(self, resource_id):
        name, acl_id = split_arn(resource_id)
        answer = self.client.get_web_acl(Name=name, Scope=SCOPE, Id=acl_id)
        return {**answer["WebACL"], "LockToken": answer["LockToken"]}

    def observe(self, raw):
        tags = self.tags_for(raw["ARN"], lambda: tag_dict(
            self.client.list_tags_for_resource(ResourceARN=raw["ARN"])["TagInfoForResource"].get("TagList")))
        groups, limit = observed_rules(raw.get("Rules"))
        attrs = {"scope": SCOPE, "managed_rule_groups": groups, "rate_limit": limit,
                 "description": raw.get("Description") or ""}
        return Observed(raw["ARN"], attrs, tags, raw)

    def list_owned(self, spec):
        # A web ACL's name is unique in its scope and Region (CreateWebACL: WAFDuplicateItemException).
        found = [self.read(arn) for arn in web_acls_named(self.client, spec["name"])]
        return [o for o in found if o is not None and owned_by(o.tags, spec)]

    def _config(self, spec) -> dict:
        return {
            "DefaultAction": {"Allow": {}},
            "Rules": web_acl_rules(spec["managed_rule_groups"], spec["rate_limit"], self._metric_prefix(spec)),
            "VisibilityConfig": visibility(self._metric_prefix(spec)),
            "Description": spec["description"],
        }

    def create(self, spec, token):
        # CreateWebACL has no idempotency token; the name is the key (a retry that finds its
        # first attempt's web ACL gets WAFDuplicateItemException: the engine adopts it by tags).
        WAF_WRITE.wait(self.clock)
        try:
            answer = self.client.create_web_acl(Name=spec["name"], Scope=SCOPE, Tags=tag_list(spec["tags"]), **self._config(spec))
        except ClientError as exc:
            if error_code(exc) == DUPLICATE and not any(owned_by(o.tags, spec) for o in self.list_owned(spec)):
                raise ResourceError(f"web ACL {spec['name']} exists but is not managed by {MANAGED_BY}") from None
            raise
        return answer["Summary"]["ARN"]

    def update_fields(self, spec, obs, diffs):
        # UpdateWebACL replaces the whole configuration; the lock token of the read it is based on.
        unknown = [d for d in diffs if d.field not in ("managed_rule_groups", "rate_limit", "description")]
        if unknown:
            super().update_fields(spec, obs, unknown)
        self._locked(obs, lambda name, acl_id, token: self.client.update_web_acl(
            Name=name, Scope=SCOPE, Id=acl_id, LockToken=token, **self._config(spec)))

    def _locked(self, obs, call) -> None:
        """``call`` with the lock token of ``obs``, then once more with a fresh one if someone
        changed the web ACL in between (WAFOptimisticLockException)."""
        name, acl_id = split_arn(obs.id)
        WAF_WRITE.wait(self.clock)
        try:
            call(name, acl_id, obs.raw["LockToken"])
        except ClientError as exc:
            if error_code(exc) != LOCK:
                raise
            fresh = self.describe(obs.id)
            WAF_WRITE.wait(self.clock)
            call(name, acl_id, fresh["LockToken"])

    def set_tags(self, obs, tags):
        self.client.tag_resource(ResourceARN=obs.id, Tags=tag_list(tags))

    def unset_tags(self, obs, keys):
        self.client.untag_resource(ResourceARN=obs.id, TagKeys=keys)

    def delete(self, obs, spec=None):
        self._locked(obs, lambda name, acl_id, token: self.client.delete_web_acl(
            Name=name, Scope=SCOPE, Id=acl_id, LockToken=token))

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.id, "name": obs.raw.get("Name")}


class WebAclAssociation(Handler):
    """The web ACL on the stage. No tags of its own (an association is not taggable): the node's
    spec has none, and it is ours when the web ACL it names is (``web_acl_name``)."""

    kind = "waf_web_acl_association"
    iam = (
        reads("wafv2:GetWebACLForResource", arns=(WEB_ACL_ARN, STAGE_ARN)),
        writes("wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", arns=(WEB_ACL_ARN, STAGE_ARN)),
        writes("apigateway:SetWebACL", arns=(STAGE_ARN,), implied_by="AssociateWebACL and DisassociateWebACL on a stage"),
    )
    taggable = False
    service = "wafv2"
    poll_ceiling = 2
    # GetWebACLForResource / DisassociateWebACL on a resource that is gone.
    not_found = frozenset({NOT_FOUND})
    fields = {
        "web_acl_arn": Field(str),
        "resource_arn": Field(str, Change.REPLACE, why="the association is the stage's"),
        # Literals for teardown without state, when the ARNs are unknown: the stage is found
        # through its REST API's name and tags, and only our web ACL is disassociated.
        "web_acl_name": Field(str, create_only=True),
        "rest_api_name": Field(str, create_only=True),
        "stage_name": Field(str, create_only=True),
    }

    def describe(self, resource_id):
        acl = self.client.get_web_acl_for_resource(ResourceArn=resource_id).get("WebACL")
        return {"ResourceArn": resource_id, "WebACL": acl} if acl else None

    def observe(self, raw):
        attrs = {"web_acl_arn": raw["WebACL"]["ARN"], "resource_arn": raw["ResourceArn"]}
        return Observed(raw["ResourceArn"], attrs, {}, raw)

    def list_owned(self, spec):
        arns = [spec["resource_arn"]]
        if not isinstance(spec["resource_arn"], str):
            arn_of = f"arn:{self.client.meta.partition}:apigateway:{self.client.meta.region_name}::/restapis/{{}}/stages/{spec['stage_name']}"
            apigateway = self.aws.client("apigateway")
            owner = {"tags": {**spec["tags"], "Environment": self.env, "ManagedBy": MANAGED_BY}}
            arns = [arn_of.format(api["id"]) for api in find_rest_apis(apigateway, spec["rest_api_name"], owner)]
        found = [self.read(arn) for arn in arns]
        return [o for o in found if o is not None and o.raw["WebACL"].get("Name") == spec["web_acl_name"]]

    def create(self, spec, token):
        # Associating again is harmless: AssociateWebACL sets the resource's one web ACL.
        NEW_ENTITY.call(self.clock, self.client.associate_web_acl, WebACLArn=spec["web_acl_arn"], ResourceArn=spec["resource_arn"])
        return spec["resource_arn"]

    def update_fields(self, spec, obs, diffs):
        if any(d.field == "web_acl_arn" for d in diffs):
            NEW_ENTITY.call(self.clock, self.client.associate_web_acl, WebACLArn=spec["web_acl_arn"], ResourceArn=obs.id)
        rest = [d for d in diffs if d.field != "web_acl_arn"]
        if rest:
            super().update_fields(spec, obs, rest)

    def delete(self, obs, spec=None):
        self.client.disassociate_web_acl(ResourceArn=obs.id)

    def outputs(self, obs):
        return {"id": obs.id, "web_acl_arn": obs.attrs["web_acl_arn"]}


# WAF's logs go only to a destination whose name starts with this (WAF developer guide,
# "Sending web ACL traffic logs to an Amazon CloudWatch Logs log group"; docs/aws-behaviours.md
# B-WAF-1): another name is refused as an invalid ARN.
LOG_GROUP_PREFIX = "aws-waf-logs-"


def log_group_name_of(arn: str) -> str:
    """The log group name in arn:aws:logs:REGION:ACCOUNT:log-group:NAME."""
    return arn.split(":log-group:", 1)[-1]


class WebAclLogging(Handler):
    """The web ACL's traffic logs to a CloudWatch Logs log group (FSBP WAF.11). One logging
    configuration per web ACL, read and removed by the web ACL's ARN (its id); not taggable, and
    ours when the web ACL it names is (``web_acl_name``), as for the association. Drift reads it
    with one GetLoggingConfiguration: logging switched off is the node missing, which the next
    reconcile puts back (PutLoggingConfiguration replaces the whole configuration)."""

    kind = "waf_logging"
    iam = (
        reads("wafv2:GetLoggingConfiguration", arns=(WEB_ACL_ARN,)),
        # bin/drift --all: every environment's logging from one listing (no resource).
        reads("wafv2:ListLoggingConfigurations"),
        writes("wafv2:PutLoggingConfiguration", "wafv2:DeleteLoggingConfiguration", arns=(WEB_ACL_ARN,)),
        # WAF sets up the delivery to the log group with the caller's permissions (WAF developer
        # guide, "Sending web ACL traffic logs to an Amazon CloudWatch Logs log group").
        writes("logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:PutResourcePolicy",
               "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
               implied_by="PutLoggingConfiguration and DeleteLoggingConfiguration to CloudWatch Logs"),
    )
    taggable = False
    service = "wafv2"
    poll_ceiling = 2
    # GetLoggingConfiguration / DeleteLoggingConfiguration of a web ACL without one.
    not_found = frozenset({NOT_FOUND})
    fields = {
        "web_acl_arn": Field(str, Change.REPLACE, why="a logging configuration is its web ACL's"),
        # The log group's ARN without the ":*" DescribeLogGroups adds (WAF refuses that form).
        "log_destination": Field(str),
        # A literal for teardown without state, when the web ACL's ARN is unknown.
        "web_acl_name": Field(str, create_only=True),
    }

    def validate(self, spec):
        destination = spec["log_destination"]
        if isinstance(destination, str) and not log_group_name_of(destination).startswith(LOG_GROUP_PREFIX):
            return [f"WAF log group {log_group_name_of(destination)!r}: its name must start with {LOG_GROUP_PREFIX}"]
        return []

    def describe(self, resource_id):
        return self.client.get_logging_configuration(ResourceArn=resource_id)["LoggingConfiguration"]

    def observe(self, raw):
        destinations = raw.get("LogDestinationConfigs") or [""]
        attrs = {"web_acl_arn": raw["ResourceArn"], "log_destination": destinations[0]}
        return Observed(raw["ResourceArn"], attrs, {}, raw)

    def known_id(self, spec):
        # Its id is the web ACL's ARN: once that is known, one GetLoggingConfiguration answers,
        # also when logging was switched off (no search by name after it).
        return spec["web_acl_arn"] if isinstance(spec["web_acl_arn"], str) else None

    def listed(self, spec):
        if self.shared.across is None:
            return None  # one walk: one GetLoggingConfiguration by the web ACL's ARN
        # bin/drift --all: the logging of every environment's web ACL from one listing.
        configs = self.shared.across.once(("wafv2", "list_logging_configurations"), lambda: logging_configurations(self.client))
        return {c["ResourceArn"]: c for c in configs}

    def list_owned(self, spec):
        arns = [spec["web_acl_arn"]]
        if not isinstance(spec["web_acl_arn"], str):
            # Teardown without state: the web ACL of that name, only when it carries the
            # environment's ownership tags (another's of the name keeps its logging).
            arns = [arn for arn in web_acls_named(self.client, spec["web_acl_name"]) if self._environments(arn)]
        return [o for o in (self.read(arn) for arn in arns) if o is not None]

    def _environments(self, web_acl_arn: str) -> bool:
        tags = tag_dict(self.client.list_tags_for_resource(ResourceARN=web_acl_arn)["TagInfoForResource"].get("TagList"))
        return tags.get("Environment") == self.env and tags.get("ManagedBy") == MANAGED_BY

    def create(self, spec, token):
        self._put(spec["web_acl_arn"], spec["log_destination"])
        return spec["web_acl_arn"]

    def update_fields(self, spec, obs, diffs):
        if any(d.field == "log_destination" for d in diffs):
            self._put(obs.id, spec["log_destination"])
        rest = [d for d in diffs if d.field != "log_destination"]
        if rest:
            super().update_fields(spec, obs, rest)

    def _put(self, web_acl_arn: str, destination: str) -> None:
        # A web ACL just created may be unavailable for a while, as for AssociateWebACL (D-WAF-1).
        WAF_WRITE.wait(self.clock)
        NEW_ENTITY.call(self.clock, self.client.put_logging_configuration, LoggingConfiguration={
            "ResourceArn": web_acl_arn, "LogDestinationConfigs": [destination]})

    def delete(self, obs, spec=None):
        self.client.delete_logging_configuration(ResourceArn=obs.id)
