"""Secrets Manager secrets: a value generated inside the create call, and a copy of an API key.

The secret values are the most sensitive data the tool touches: they exist only inside the call
that writes or compares them, and never reach a log line, an exception, ``Observed`` or the
outputs (which are written to the state file).
"""
from __future__ import annotations

import json
import re
import secrets
import string
import uuid

from botocore.exceptions import ClientError

from resources.aws import error_code
from resources.aws.permissions import arn, key_use_through_secrets_manager, reads, writes
from resources.base import MANAGED_BY, Field, Handler, Observed, Refresh, ResourceError, Status, owned_by, tag_dict, tag_list
from resources.aws.consistency import consistency

NOT_FOUND = "ResourceNotFoundException"
# The name is held by a secret scheduled for deletion (AWS keeps it 7-30 days): AWS answers
# InvalidRequestException, moto ResourceExistsException (docs/aws-behaviours.md A-23).
NAME_TAKEN = ("ResourceExistsException", "InvalidRequestException")
# B-SM-2: a force delete is asynchronous; "if you delete a secret and then immediately create a
# secret with the same name, use appropriate back off and retry logic".
SECRET_NAME_RELEASED = consistency("secret-name-released", NAME_TAKEN, timeout=120)
# B-SM-1: ASCII letters, digits and /_+=.@-, 1-512 characters.
SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
ALPHABETS = {"alphanumeric": string.ascii_letters + string.digits}
# Which API key's value an ApiKeySecret holds: the key id, never the value.
API_KEY_TAG = "ApiKeyId"
# Of the ids of the versions holding an API key's value (held_version).
VERSION_NAMESPACE = uuid.UUID("6f2b1c0e-4a55-4f0e-9a7e-2d1c9b7e5a10")


def find_secret_by_name(sm, name: str, *, include_deleted: bool = False) -> dict | None:
    """By exact name through ListSecrets: a name ending in a hyphen and six characters (any
    six-letter environment) can read as a partial ARN to DescribeSecret (B-SM-1), a filter
    cannot. The name filter matches prefixes, so the exact name is checked here."""
    pages = sm.get_paginator("list_secrets").paginate(
        Filters=[{"Key": "name", "Values": [name]}], IncludePlannedDeletion=include_deleted
    )
    return next((s for page in pages for s in page["SecretList"] if s["Name"] == name), None)


def secret_name_problems(name: str) -> list[str]:
    if not SECRET_NAME.fullmatch(name):
        return [f"secret name {name!r}: 1-512 ASCII letters, digits and /_+=.@-"]  # B-SM-1
    return []


def secret_name_of(arn: str) -> str:
    """The name in a secret's ARN (…:secret:NAME-AbCdEf: Secrets Manager adds six characters)."""
    return arn.split(":secret:", 1)[-1][:-7]


def held_version(name: str, key_id: str) -> str:
    """The id of the version holding API key ``key_id``'s value in secret ``name``: the same for
    every write of it (a ClientRequestToken, 32-64 characters)."""
    return str(uuid.uuid5(VERSION_NAMESPACE, f"{name}/{key_id}"))


def versions_to_stages(raw: dict) -> dict[str, list[str]]:
    # DescribeSecret says VersionIdsToStages, ListSecrets SecretVersionsToStages.
    return raw.get("VersionIdsToStages") or raw.get("SecretVersionsToStages") or {}


def current_version(raw: dict) -> str | None:
    return next((v for v, stages in versions_to_stages(raw).items() if "AWSCURRENT" in stages), None)


# Secrets Manager adds six random characters to a secret's name in its ARN.
SECRET_ARN = arn("secretsmanager", "secret:{name}-??????")


class _Secret(Handler):
    service = "secretsmanager"
    iam = (
        reads("secretsmanager:ListSecrets"),
        reads("secretsmanager:DescribeSecret", arns=(SECRET_ARN,)),
        # The value is read to compare it and to rotate it: never by drift.
        writes("secretsmanager:CreateSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
               "secretsmanager:UpdateSecret", "secretsmanager:UpdateSecretVersionStage", "secretsmanager:TagResource",
               "secretsmanager:UntagResource", "secretsmanager:DeleteSecret", arns=(SECRET_ARN,)),
        key_use_through_secrets_manager("secretsmanager:CreateSecret, GetSecretValue and PutSecretValue"),
    )
    # bin/drift --all: one listing for every environment (base.Handler.account_listing). ListSecrets
    # has what observe reads (Description, KmsKeyId, Tags); secrets scheduled for deletion are
    # left out of it, so one of those is read by id and seen going (B-SM-2).
    account_listing = ("list_secrets", "SecretList", "ARN", 100)
    poll_ceiling = 1
    # DescribeSecret by ARN or name. DeleteSecret with ForceDeleteWithoutRecovery does not answer
    # it for a missing secret on AWS (B-SM-2); moto and older behaviour may.
    not_found = frozenset({NOT_FOUND})
    fields = {
        "description": Field((str, type(None))),
        # The environment's KMS key (ARN), or None for the aws/secretsmanager key. UpdateSecret
        # with KmsKeyId changes it in place (SecretsManager re-encrypts the labelled versions).
        "kms_key_id": Field((str, type(None))),
    }

    def validate(self, spec):
        return secret_name_problems(spec["name"])

    def desired(self, spec):
        return {**spec, "description": spec["description"] or ""}

    # A plan reads the environment's secrets in one ListSecrets (its name filter takes 10
    # values, each a prefix: the ARNs pick the exact ones). One scheduled for deletion is not
    # listed and is read by id (B-SM-2).
    batch_size = 10

    def describe_many(self, ids):
        names = [secret_name_of(arn) for arn in ids]
        pages = self.client.get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": names}])
        return {s["ARN"]: s for page in pages for s in page["SecretList"] if s["ARN"] in ids}

    def describe(self, resource_id):
        found = self.client.describe_secret(SecretId=resource_id)
        found.pop("ResponseMetadata", None)
        return found

    def status(self, raw):
        # A secret scheduled for deletion (DeletedDate) still answers DescribeSecret and holds
        # its name for 7-30 days (B-SM-2), but it is on its way out, not a live secret.
        if raw.get("DeletedDate"):
            return Refresh(Status.DELETING, "scheduled for deletion")
        return Refresh(Status.READY)

    def observe(self, raw):
        # DescribeSecret leaves KmsKeyId out for the AWS managed key: None in the spec's terms.
        attrs = {"description": raw.get("Description") or "", "kms_key_id": raw.get("KmsKeyId")}
        return Observed(raw["ARN"], attrs, tag_dict(raw.get("Tags")), raw)

    def list_owned(self, spec):
        # The name is unique among live secrets; ownership is still checked.
        secret = find_secret_by_name(self.client, spec["name"])
        return [self.observe(secret)] if secret and owned_by(tag_dict(secret.get("Tags")), spec) else []

    def _create(self, spec: dict, token: str, secret_string: str, tags: dict[str, str]) -> str:
        # ClientRequestToken makes a retried create idempotent (botocore would fill a random
        # one, B-SM-3); the reconciler's find by name before create covers a lost answer.
        described = {"Description": spec["description"]} if spec["description"] else {}
        if spec["kms_key_id"]:
            described["KmsKeyId"] = spec["kms_key_id"]
        request = dict(Name=spec["name"], SecretString=secret_string, ClientRequestToken=token, Tags=tag_list(tags), **described)
        try:
            return self.client.create_secret(**request)["ARN"]
        except ClientError as exc:
            if error_code(exc) not in NAME_TAKEN:
                raise
        held = self._release_name(spec)
        return held or SECRET_NAME_RELEASED.call(self.clock, self.client.create_secret, **request)["ARN"]

    def _release_name(self, spec: dict) -> str | None:
        """Free a name held by our secret scheduled for deletion; a live one of ours is adopted."""
        held = find_secret_by_name(self.client, spec["name"], include_deleted=True)
        if held is None:  # a force delete was finishing
            return None
        if not owned_by(tag_dict(held.get("Tags")), spec):
            raise ResourceError(f"secret {spec['name']} exists but is not managed by {MANAGED_BY}")
        if not held.get("DeletedDate"):
            return held["ARN"]
        # Restoring would bring back an old value: the desired state is a fresh secret.
        self.client.delete_secret(SecretId=held["ARN"], ForceDeleteWithoutRecovery=True)
        return None

    def update_fields(self, spec, obs, diffs):
        for d in diffs:
            if d.field == "description":
                # Without SecretString, UpdateSecret changes metadata only: no new version.
                self.client.update_secret(SecretId=obs.id, Description=d.expected)
            elif d.field == "kms_key_id":
                # Without SecretString: the key changes, no new version is made. None goes back
                # to the AWS managed key, which UpdateSecret names by its alias.
                self.client.update_secret(SecretId=obs.id, KmsKeyId=d.expected or "alias/aws/secretsmanager")
            else:
                super().update_fields(spec, obs, [d])

    def set_tags(self, obs, tags):
        self.client.tag_resource(SecretId=obs.id, Tags=tag_list(tags))

    def unset_tags(self, obs, keys):
        self.client.untag_resource(SecretId=obs.id, TagKeys=keys)

    def delete(self, obs, spec=None):
        # No recovery window, so the same name can be created again at once (docs/usage.md
        # "Teardown"); force-deleting a missing secret is not an error on AWS either (B-SM-2).
        self.client.delete_secret(SecretId=obs.id, ForceDeleteWithoutRecovery=True)

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.id, "name": obs.raw["Name"]}


class GeneratedSecret(_Secret):
    """A random value made inside the create call (a Redis AUTH token): AWS is its only copy.

    The value is never read back: a secret that exists is the desired state; its value is
    whatever the create made (or a rotation put there since).
    """

    kind = "generated_secret"
    fields = {
        **_Secret.fields,
        # How the value is made, at creation only: the value is never read back to compare.
        "json_key": Field(str, create_only=True),
        "length": Field(int, create_only=True),
        "alphabet": Field(str, create_only=True),
    }

    def validate(self, spec):
        problems = super().validate(spec)
        if spec["alphabet"] not in ALPHABETS:
            problems.append(f"alphabet {spec['alphabet']!r} is not one of {', '.join(ALPHABETS)}")
        if isinstance(spec["length"], int) and spec["length"] < 1:
            problems.append("length must be a positive integer")
        return problems

    def create(self, spec, token):
        return self._create(spec, token, generated_document(spec), spec["tags"])


def generated_document(spec: dict) -> str:
    """A new random value as the secret's JSON document: at create, and for each rotation
    (orchestrator/rotation.py). Made and written in the same call; never returned anywhere else."""
    alphabet = ALPHABETS[spec["alphabet"]]
    value = "".join(secrets.choice(alphabet) for _ in range(spec["length"]))
    return json.dumps({spec["json_key"]: value})


class ApiKeySecret(_Secret):
    """The value of an API Gateway API key, under one JSON key, for the clients of the API.

    Every version the tool writes has an id derived from the secret's name and the key's id
    (``held_version``), so which key the secret holds is read from its metadata alone: the
    ``ApiKeyId`` tag names the key, and AWSCURRENT is the version written for it. A value
    replaced by hand is a new version with another id, seen without reading either value: a
    drift check needs no secretsmanager:GetSecretValue nor the API key's value (docs/drift.md).
    A secret written before ids were derived shows one in-place change, once: its value is
    written again under the derived id.
    """

    kind = "api_key_secret"
    fields = {
        **_Secret.fields,
        # Chosen at creation (the stack's constant "api_key"): the value is not read back, and a
        # document rewritten by hand is a new version, which api_key_id shows.
        "json_key": Field(str, create_only=True),
        # The key whose value AWSCURRENT holds: a new key, or a version made by hand (None), is
        # a new version (PutSecretValue), in place.
        "api_key_id": Field(str),
    }

    @property
    def apigateway(self):
        return self.aws.client("apigateway")

    def _api_key_value(self, key_id: str) -> str | None:
        try:
            return self.apigateway.get_api_key(apiKey=key_id, includeValue=True)["value"]
        except ClientError as exc:
            if error_code(exc) == "NotFoundException":
                return None
            raise

    def observe(self, raw):
        obs = super().observe(raw)
        key_id = obs.tags.get(API_KEY_TAG)
        holds = key_id is not None and current_version(raw) == held_version(raw["Name"], key_id)
        obs.attrs["api_key_id"] = key_id if holds else None
        return obs

    def _secret_string(self, spec: dict) -> str:
        value = self._api_key_value(spec["api_key_id"])
        if value is None:
            raise ResourceError(f"secret {spec['name']}: API key {spec['api_key_id']} does not exist")
        return json.dumps({spec["json_key"]: value})

    def create(self, spec, token):
        # The derived id rather than the run's token: a retried create sends it again all the same.
        tags = {**spec["tags"], API_KEY_TAG: spec["api_key_id"]}
        return self._create(spec, held_version(spec["name"], spec["api_key_id"]), self._secret_string(spec), tags)

    def update_fields(self, spec, obs, diffs):
        rest = [d for d in diffs if d.field not in ("json_key", "api_key_id")]
        if len(rest) < len(diffs):
            self._hold(spec, obs)
        if rest:
            super().update_fields(spec, obs, rest)

    def _hold(self, spec: dict, obs: Observed) -> None:
        """AWSCURRENT made the version written for ``spec``'s key. One AWS lists (a value put by
        hand since made it AWSPREVIOUS) is moved back to; otherwise PutSecretValue under the derived
        id writes it, or, for a version of ours two values by hand have deprecated (not listed,
        docs/aws-behaviours.md A-50), changes nothing but answers its labels, and it is moved back
        to as well. A retry or a run killed between the calls lands on the same version."""
        version = held_version(spec["name"], spec["api_key_id"])
        current = current_version(obs.raw)
        staged = version == current
        if not staged and version not in versions_to_stages(obs.raw):
            answer = self.client.put_secret_value(SecretId=obs.id, SecretString=self._secret_string(spec),
                                                  ClientRequestToken=version)
            staged = "AWSCURRENT" in answer.get("VersionStages", [])
        if not staged:
            moved_from = {"RemoveFromVersionId": current} if current else {}
            self.client.update_secret_version_stage(SecretId=obs.id, VersionStage="AWSCURRENT", MoveToVersionId=version,
                                                    **moved_from)
        self.client.tag_resource(SecretId=obs.id, Tags=tag_list({API_KEY_TAG: spec["api_key_id"]}))
