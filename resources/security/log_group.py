"""CloudWatch Logs log group, one per ECS service, with a retention period.

A log group's name is unique in the account and region, so the name is its id. Log groups have
no tag filter on describe: ownership is read with ListTagsForResource.
"""
from __future__ import annotations

import re

from botocore.exceptions import ClientError

from resources.aws import error_code
from resources.aws.permissions import Grant, arn, reads, writes
from resources.base import MANAGED_BY, Field, Handler, Observed, ResourceError, owned_by
from resources.aws.consistency import consistency
from resources.aws.shared_reads import describe_all

NOT_FOUND = "ResourceNotFoundException"
ALREADY_EXISTS = "ResourceAlreadyExistsException"
# B-LOG-1: moto accepts any name (docs/aws-behaviours.md A-25), AWS only these.
LOG_GROUP_NAME = re.compile(r"[.\-_/#A-Za-z0-9]{1,512}")
KMS_KEY_USABLE = consistency("kms-key-usable-by-logs", {"AccessDeniedException", "InvalidParameterException"}, timeout=120)


def find_log_group_by_name(logs, name: str) -> dict | None:
    # The prefix also matches longer names ("/x/api" and "/x/api-2"): keep the exact one.
    pages = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name)
    return next((g for page in pages for g in page["logGroups"] if g["logGroupName"] == name), None)


def log_group_arn(group: dict) -> str:
    # "arn" ends with ":*" (it names the streams too); tagging and IAM policies that append
    # ":log-stream:*" want the log group's own ARN.
    return group.get("logGroupArn") or group["arn"].removesuffix(":*")


def log_group_grants(name: str) -> tuple[Grant, ...]:
    """A log group's permissions: the listing takes no resource; the rest acts on the group named
    ``name`` (and its streams, ``:*``, the form some actions are authorized on)."""
    groups = (arn("logs", f"log-group:{name}"), arn("logs", f"log-group:{name}:*"))
    return (
        reads("logs:DescribeLogGroups"),
        reads("logs:ListTagsForResource", arns=groups),
        writes("logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:AssociateKmsKey",
               "logs:DisassociateKmsKey", "logs:TagResource", "logs:UntagResource", "logs:DeleteLogGroup", arns=groups),
    )


class LogGroup(Handler):
    kind = "log_group"
    service = "logs"
    iam = log_group_grants("{name}")
    poll_ceiling = 1
    # The name is the id; a log group has no lifecycle: it exists, it is ready. DescribeLogGroups
    # by prefix answers an empty list for a missing one; DeleteLogGroup answers this code.
    not_found = frozenset({NOT_FOUND})
    stateful = "every log event it holds"
    fields = {
        # None: kept forever (DeleteRetentionPolicy). The allowed values (B-LOG-1) are checked
        # with the configuration.
        "retention_days": Field((int, type(None))),
        # The environment's KMS key (its ARN), or None for CloudWatch Logs' own encryption. Set
        # in CreateLogGroup; AssociateKmsKey / DisassociateKmsKey change it in place (prowler:
        # cloudwatch_log_group_kms_encryption_enabled).
        "kms_key_id": Field((str, type(None))),
    }

    def validate(self, spec):
        if not LOG_GROUP_NAME.fullmatch(spec["name"]):
            return [f"log group name {spec['name']!r}: 1-512 letters, digits and . - _ / #"]  # B-LOG-1
        return []

    def describe(self, resource_id):
        return find_log_group_by_name(self.client, resource_id)

    def observe(self, raw):
        arn = log_group_arn(raw)
        tags = self.tags_for(arn, lambda: self.client.list_tags_for_resource(resourceArn=arn)["tags"])
        attrs = {"retention_days": raw.get("retentionInDays"), "kms_key_id": raw.get("kmsKeyId")}
        return Observed(raw["logGroupName"], attrs, tags, raw)

    # A plan reads all of the environment's groups in one DescribeLogGroups (logGroupIdentifiers,
    # up to 50 names; docs/aws-behaviours.md A-48 for moto).
    batch_size = 50

    def describe_many(self, ids):
        groups = describe_all(self.client, "describe_log_groups", "logGroups", logGroupIdentifiers=ids)
        return {g["logGroupName"]: g for g in groups if g["logGroupName"] in ids}

    def known_id(self, spec):
        # The name is the id: a group recorded under another name (an API's execution logs once
        # the API was made again under a new id) is not this node's resource any more.
        return spec["name"]

    def listed(self, spec):
        if self.shared.across is None:
            return None  # one walk: the groups are read together by name (batch_size)
        # bin/drift --all: the path without the environment's name (/ecs/video-processing-)
        # lists the groups of every environment at once, one listing for all their walks.
        prefix = spec["name"].rsplit("/", 1)[0] + "/" if "/" in spec["name"] else spec["name"]
        prefix = self.across_prefix(prefix)
        groups = self.shared.across.once(
            ("describe_log_groups", prefix),
            # 50: DescribeLogGroups' largest page.
            lambda: describe_all(self.client, "describe_log_groups", "logGroups", 50, logGroupNamePrefix=prefix),
        )
        return {g["logGroupName"]: g for g in groups}

    def across_prefix(self, prefix: str) -> str:
        """The part of ``prefix`` every environment's groups of this node share."""
        return prefix[:prefix.rindex(self.env)] if self.env in prefix else prefix

    def list_owned(self, spec):
        found = self.read(spec["name"])
        return [found] if found and owned_by(found.tags, spec) else []

    def create(self, spec, token):
        # CreateLogGroup has no idempotency token; the name is the key. Retention follows
        # through update_fields (the create call cannot set it).
        encrypted = {"kmsKeyId": spec["kms_key_id"]} if spec["kms_key_id"] else {}
        try:
            # A key just created or given its policy can be refused for a short while
            # (AccessDeniedException / InvalidParameterException: "the specified KMS key does not
            # exist or is not allowed to be used"): KMS is eventually consistent.
            KMS_KEY_USABLE.call(self.clock, self.client.create_log_group,
                                logGroupName=spec["name"], tags=spec["tags"], **encrypted)
        except ClientError as exc:
            if error_code(exc) == ALREADY_EXISTS:
                raise ResourceError(
                    f"log group {spec['name']} exists but is not managed by {MANAGED_BY} (no ownership tags)"
                ) from None
            raise
        return spec["name"]

    def update_fields(self, spec, obs, diffs):
        for d in diffs:
            if d.field == "retention_days" and d.expected is not None:
                self.client.put_retention_policy(logGroupName=obs.id, retentionInDays=d.expected)
            elif d.field == "retention_days":
                self.client.delete_retention_policy(logGroupName=obs.id)
            elif d.field == "kms_key_id" and d.expected:
                # Takes effect for data ingested from then on; earlier data stays readable.
                KMS_KEY_USABLE.call(self.clock, self.client.associate_kms_key, logGroupName=obs.id, kmsKeyId=d.expected)
            elif d.field == "kms_key_id":
                self.client.disassociate_kms_key(logGroupName=obs.id)
            else:
                super().update_fields(spec, obs, [d])

    def set_tags(self, obs, tags):
        self.client.tag_resource(resourceArn=log_group_arn(obs.raw), tags=tags)

    def unset_tags(self, obs, keys):
        self.client.untag_resource(resourceArn=log_group_arn(obs.raw), tagKeys=keys)

    def delete(self, obs, spec=None):
        self.client.delete_log_group(logGroupName=obs.id)

    def planned_outputs(self, spec):
        # The name is the id, and the ARN follows from it, the region and the account.
        account, region = self.aws.account_id(), self.aws.region
        arn = f"arn:{self.client.meta.partition}:logs:{region}:{account}:log-group:{spec['name']}"
        return {"id": spec["name"], "name": spec["name"], "arn": arn, "region": region, "account_id": account}

    def outputs(self, obs):
        arn = log_group_arn(obs.raw)
        return {"id": obs.id, "name": obs.id, "arn": arn, "region": self.aws.region, "account_id": arn.split(":")[4]}
