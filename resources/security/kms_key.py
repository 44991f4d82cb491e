"""The environment's customer-managed KMS key, with its alias and yearly rotation (FSBP KMS.4).

One key per environment encrypts its log groups and its secrets. The alias
(``alias/video-pipeline-ENV``) is an attribute of the key rather than a node of its own: an alias
carries no tags and exists only to name a key, and keeping it here makes the create crash-safe
(CreateKey is the one call of ``create``, its id is recorded at once; rotation and the alias
follow through ``update_fields`` on this run or the next) and gives a one-read adoption after
state loss (DescribeKey on the alias).

A key is never deleted at once: ScheduleKeyDeletion with a waiting period of 7-30 days
(``kms_deletion_window_days``). For the stack a key pending deletion is gone: every
cryptographic use of it is refused (KMSInvalidStateException) and AWS deletes it at the end of
the window without another call, so teardown does not wait for it. A reconcile that finds its
own key pending deletion (scheduled behind its back while log groups and secrets still use it,
or a teardown followed by a new reconcile within the window) restores it (CancelKeyDeletion,
then EnableKey: a cancelled key is Disabled) instead of creating a second key: every log event
and secret version encrypted under the old key stays readable only while that key lives, and a
second key would leave the first to be deleted with that data still depending on it.
"""
from __future__ import annotations

import json
import re

from botocore.exceptions import ClientError

from resources.aws import error_code, ignore_codes
from resources.aws.permissions import arn, reads, writes
from resources.base import Field, Handler, Observed, Refresh, Status, owned_by
from resources.security.iam_role import canonical_policy, policy_text
from resources.aws.shared_reads import describe_all, looking_first
from resources.aws.together import together

NOT_FOUND = "NotFoundException"
ALREADY_EXISTS = "AlreadyExistsException"
# Placeholders a key policy in the stack may use: the account and region are the caller's, known
# only once credentials are (the stack is built before any call).
ACCOUNT = "${AWS::AccountId}"
REGION = "${AWS::Region}"
# CreateAlias: "alias/" then 1-250 of letters, digits, / _ -; "alias/aws/" is reserved for AWS
# managed keys (KMS API reference, CreateAlias AliasName).
ALIAS_NAME = re.compile(r"alias/[a-zA-Z0-9/_-]{1,250}")
# ScheduleKeyDeletion PendingWindowInDays: 7 to 30 (KMS API reference).
DELETION_WINDOW = (7, 30)
# Key states (KMS API reference, KeyMetadata.KeyState). Disabled is a live key whose ``enabled``
# attribute differs; Unavailable / PendingImport need a person.
PENDING_STATES = ("Creating", "Updating")
GONE_STATES = ("PendingDeletion", "PendingReplicaDeletion")
# The order update_fields applies changes in: a disabled key refuses EnableKeyRotation
# (KMSInvalidStateException), so enabling comes first.
UPDATE_ORDER = ("enabled", "policy", "description", "rotation", "alias")


def kms_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())]


def has_alias(want, have) -> bool:
    # Other aliases someone adds to the key are theirs: ours being among them is in sync.
    return isinstance(have, list) and want in have


KEY_ARN = arn("kms", "key/*")


class KmsKey(Handler):
    kind = "kms_key"
    service = "kms"
    iam = (
        reads("kms:ListAliases", "kms:ListKeys"),
        reads("kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags",
              arns=(KEY_ARN,), tag="resource"),
        # A key is named by an id KMS assigns: made with the ownership tags (Tags needs TagResource
        # too), changed only while it carries them.
        writes("kms:CreateKey", tag="request"),
        writes("kms:TagResource", arns=(KEY_ARN,), tag="request"),
        writes("kms:PutKeyPolicy", "kms:UpdateKeyDescription", "kms:EnableKeyRotation", "kms:DisableKeyRotation",
               "kms:EnableKey", "kms:DisableKey", "kms:CancelKeyDeletion", "kms:ScheduleKeyDeletion",
               "kms:TagResource", "kms:UntagResource", arns=(KEY_ARN,), tag="resource"),
        # Authorized on the alias and its key in one statement: an alias has no tags to condition on.
        writes("kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias", arns=(arn("kms", "alias/video-pipeline-{env}"), KEY_ARN)),
    )
    poll_ceiling = 1
    # DescribeKey of an unknown key id or alias.
    not_found = frozenset({NOT_FOUND})
    fields = {
        "description": Field(str),
        "alias": Field(str, matches=has_alias),
        # FSBP KMS.4: automatic yearly rotation of the key material.
        "rotation": Field(bool),
        "enabled": Field(bool),
        "policy": Field(dict),
        # Used at teardown only (ScheduleKeyDeletion); AWS does not report it before.
        "deletion_window_days": Field(int, create_only=True),
    }

    def validate(self, spec):
        problems = []
        alias = spec["alias"]
        if not ALIAS_NAME.fullmatch(alias) or alias.startswith("alias/aws/"):
            problems.append(f"alias {alias!r}: alias/ then 1-250 letters, digits and / _ - (not alias/aws/)")
        low, high = DELETION_WINDOW
        if not low <= spec["deletion_window_days"] <= high:
            problems.append(f"deletion_window_days {spec['deletion_window_days']}: from {low} to {high} days")
        if len(spec["description"]) > 8192:
            problems.append("description: at most 8192 characters")
        return problems

    def desired(self, spec):
        text = json.dumps(spec["policy"])
        if ACCOUNT in text:
            text = text.replace(ACCOUNT, self.aws.account_id())
        return {**spec, "policy": canonical_policy(json.loads(text.replace(REGION, self.aws.region)))}

    # -- reads -------------------------------------------------------------------------------
    def describe(self, resource_id):
        return self.client.describe_key(KeyId=resource_id)["KeyMetadata"]

    def status(self, raw):
        state = raw.get("KeyState", "")
        if state in GONE_STATES:
            return Refresh(Status.GONE, f"pending deletion until {raw.get('DeletionDate')}")
        if state in PENDING_STATES:
            return Refresh(Status.PENDING, state)
        if state in ("Enabled", "Disabled"):
            return Refresh(Status.READY, state)
        return Refresh(Status.FAILED, f"key state {state}")

    def observe(self, raw):
        key = raw["KeyId"]
        # bin/drift --all, at a node's first look: the account's aliases are listed for every walk.
        across = self.shared.across if self.shared is not None and looking_first() else None
        aliases, rotation, policy = together(
            lambda: self._aliases(key, across),
            lambda: self.client.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"],
            lambda: canonical_policy(self.client.get_key_policy(KeyId=key, PolicyName="default")["Policy"]),
        )
        attrs = {
            "description": raw.get("Description") or "",
            "alias": sorted(aliases),
            "rotation": rotation,
            "enabled": raw["KeyState"] == "Enabled",
            "policy": policy,
        }
        return Observed(key, attrs, self.tags_for(raw["Arn"], lambda: self._tags(key)), raw)

    def _aliases(self, key: str, across) -> list[str]:
        if across is None:
            return [a["AliasName"] for page in self.client.get_paginator("list_aliases").paginate(KeyId=key)
                    for a in page["Aliases"]]
        # bin/drift --all: the aliases of every environment's key from one ListAliases (100 a
        # page, its largest) instead of one ListAliases per key.
        listed = across.once(("kms", "list_aliases"), lambda: describe_all(self.client, "list_aliases", "Aliases", 100))
        return [a["AliasName"] for a in listed if a.get("TargetKeyId") == key]

    def _tags(self, key: str) -> dict[str, str]:
        pages = self.client.get_paginator("list_resource_tags").paginate(KeyId=key)
        return {t["TagKey"]: t["TagValue"] for page in pages for t in page["Tags"]}

    def _by_alias(self, alias: str) -> dict | None:
        return self.lookup(alias)

    def _tagged(self, spec: dict) -> list[dict]:
        """Every customer-managed key carrying the node's ownership tags, live or pending deletion.
        KMS has no tag filter: the account's keys are listed and the tags of each read; the keys
        of AWS managed aliases (alias/aws/*) are skipped without a read. Used only when the alias
        does not name the key (a create whose answer was lost, a teardown's alias already gone)."""
        aws_managed = {a.get("TargetKeyId") for page in self.client.get_paginator("list_aliases").paginate()
                       for a in page["Aliases"] if a["AliasName"].startswith("alias/aws/")}
        found = []
        for page in self.client.get_paginator("list_keys").paginate():
            for key in page["Keys"]:
                if key["KeyId"] in aws_managed:
                    continue
                try:
                    tags = self._tags(key["KeyId"])
                except ClientError as exc:
                    # Another principal's key policy may deny us its tags; a key deleted meanwhile.
                    if error_code(exc) in ("AccessDeniedException", NOT_FOUND):
                        continue
                    raise
                if owned_by(tags, spec):
                    raw = self.lookup(key["KeyId"])
                    if raw is not None and raw.get("KeyManager") == "CUSTOMER":
                        found.append(raw)
        return found

    def list_owned(self, spec):
        raw = self._by_alias(spec["alias"])
        if raw is not None and self.status(raw).status is Status.READY:
            obs = self.observe(raw)
            if owned_by(obs.tags, spec):
                return [obs]
        return [self.observe(r) for r in self._tagged(spec) if self.status(r).status is Status.READY]

    # -- writes ------------------------------------------------------------------------------
    def _pending_deletion(self, spec: dict) -> dict | None:
        """Our key scheduled for deletion: the alias's first, else the last one scheduled."""
        raw = self._by_alias(spec["alias"])
        if raw is not None and raw.get("KeyState") == "PendingDeletion" and owned_by(self._tags(raw["KeyId"]), spec):
            return raw
        pending = [r for r in self._tagged(spec) if r.get("KeyState") == "PendingDeletion"]
        return max(pending, key=lambda r: str(r.get("DeletionDate")), default=None)

    def create(self, spec, token):
        restorable = self._pending_deletion(spec)
        if restorable is not None:
            # See the module docstring: the same key back, never a second one. A cancelled key is
            # Disabled; a run killed between the two calls finds it Disabled and enables it
            # through update_fields.
            self.client.cancel_key_deletion(KeyId=restorable["KeyId"])
            self.client.enable_key(KeyId=restorable["KeyId"])
            return restorable["KeyId"]
        # CreateKey has no idempotency token: a retried create whose answer was lost leaves a
        # second key with the node's tags, which the engine's duplicate clean-up schedules for
        # deletion. The policy is set in the call, so the key is never usable without it;
        # rotation and the alias follow through update_fields.
        key = self.client.create_key(
            Description=spec["description"],
            Policy=policy_text(spec["policy"]),
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Tags=kms_tags(spec["tags"]),
        )
        return key["KeyMetadata"]["KeyId"]

    def update_fields(self, spec, obs, diffs):
        for d in sorted(diffs, key=lambda d: UPDATE_ORDER.index(d.field) if d.field in UPDATE_ORDER else 99):
            if d.field == "enabled":
                (self.client.enable_key if d.expected else self.client.disable_key)(KeyId=obs.id)
            elif d.field == "policy":
                self.client.put_key_policy(KeyId=obs.id, PolicyName="default", Policy=policy_text(d.expected))
            elif d.field == "description":
                self.client.update_key_description(KeyId=obs.id, Description=d.expected)
            elif d.field == "rotation":
                (self.client.enable_key_rotation if d.expected else self.client.disable_key_rotation)(KeyId=obs.id)
            elif d.field == "alias":
                self._point_alias(d.expected, obs.id)
            else:
                super().update_fields(spec, obs, [d])

    def _point_alias(self, alias: str, key_id: str) -> None:
        try:
            self.client.create_alias(AliasName=alias, TargetKeyId=key_id)
        except ClientError as exc:
            if error_code(exc) != ALREADY_EXISTS:
                raise
            # The name is ours (alias/video-pipeline-ENV) but names another key: a key made
            # by an earlier run that lost its state, or a hand edit. It is pointed back here.
            self.client.update_alias(AliasName=alias, TargetKeyId=key_id)

    def set_tags(self, obs, tags):
        self.client.tag_resource(KeyId=obs.id, Tags=kms_tags(tags))

    def unset_tags(self, obs, keys):
        self.client.untag_resource(KeyId=obs.id, TagKeys=keys)

    def delete(self, obs, spec=None):
        # The alias first (AWS keeps an alias pointing at a key pending deletion, and the name
        # would be held), then the key with its waiting period. Either one already gone is done.
        alias = (spec or {}).get("alias")
        for name in sorted({*obs.attrs.get("alias", []), *([alias] if isinstance(alias, str) else [])}):
            if isinstance(alias, str) and name != alias:
                continue  # someone else's alias on our key: theirs to remove
            ignore_codes({NOT_FOUND}, self.client.delete_alias, AliasName=name)
        window = (spec or {}).get("deletion_window_days")
        self.client.schedule_key_deletion(
            KeyId=obs.id, PendingWindowInDays=window if isinstance(window, int) else DELETION_WINDOW[1]
        )

    def outputs(self, obs):
        arn = obs.raw["Arn"]
        return {"id": obs.id, "arn": arn, "account_id": arn.split(":")[4]}
