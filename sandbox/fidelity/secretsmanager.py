"""Secrets Manager in moto 5.2.5: the version dates and AWSCURRENT as AWS reports them.

docs/aws-behaviours.md A-42: moto answers every version's CreatedDate (and LastAccessedDate) with the time of
the ListSecretVersionIds call itself; AWS answers "The date and time this version of the secret
was created" (API reference, SecretVersionsListEntry). The rotation schedule reads the age of the
AWSCURRENT version from it (orchestrator/rotation.py), so here each version reports the creation
time moto recorded for it (GetSecretValue already does), to the millisecond as AWS reports it
(moto keeps whole seconds: a version made in the same second as a token change would read as
older than it).

docs/aws-behaviours.md A-43: after UpdateSecretVersionStage moves AWSCURRENT, moto's GetSecretValue without a
VersionId or VersionStage still answers the version that held it before (moto keeps a "default
version" only PutSecretValue and CreateSecret move); AWS answers AWSCURRENT ("If you don't specify
either a VersionStage or VersionId, Secrets Manager returns the AWSCURRENT version", API reference
GetSecretValue). ECS resolves a ``valueFrom`` secret that way, and so do the handlers.

docs/aws-behaviours.md D-SM-1: PutSecretValue with a ClientRequestToken that already names a
version holding other data answers **ResourceExistsException** ("if the secret data is different,
then the operation fails because you can't modify an existing version; you can only create new
ones"; the same data "succeeds but does nothing", API reference PutSecretValue). moto 5.2.5 does so
for every version but one staged AWSPENDING, which it overwrites in place (it keeps the AWSPENDING
version id RotateSecret makes before a rotation function has put a value in it, and fills that in,
as AWS does). Here a version staged AWSPENDING that already holds a value is refused like any
other; one without a value is still filled in. On by default (AWS always refuses);
``clock.switch(PENDING_OVERWRITE, True)`` gives a test moto's own overwrite back until the next
``clock.reset()``.

docs/aws-behaviours.md A-23: CreateSecret for a name held by a secret scheduled for deletion answers
**InvalidRequestException** ("You can't create this secret because a secret with this name is
already scheduled for deletion", API reference CreateSecret), whatever ClientRequestToken it
carries. moto 5.2.5 answers the scheduled secret itself when the token names one of its versions
with the same value (its idempotent-create path), as if it were live: a create sent again with a
derived version id (resources/security/secret.py ApiKeySecret) would adopt a secret on its way out.

docs/aws-behaviours.md A-50: DescribeSecret's ``VersionIdsToStages`` (and ListSecrets'
``SecretVersionsToStages``) lists "the versions of the secret that have staging labels attached.
Versions that don't have staging labels are considered deprecated and are not included in this
list" (API reference DescribeSecret). moto 5.2.5 lists every version, a deprecated one with no
labels. The API key secret puts back a version of its own that two values put by hand have
deprecated: only a version AWS lists can be moved to, so it is listed here as AWS lists it.
"""
from __future__ import annotations

import functools
import json
import time

from moto.secretsmanager.exceptions import InvalidRequestException, ResourceExistsException
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend

from sandbox.fidelity import clock
from sandbox.fidelity.patching import patch_once

_PATCHED = "_video_pipeline_fidelity"
_PATCHED_PENDING = "_video_pipeline_fidelity_pending"
# The switch that gives moto's overwrite of an AWSPENDING version back (off: as AWS, D-SM-1).
PENDING_OVERWRITE = "secretsmanager-pending-overwrite"


def _list_secret_version_ids(original):
    @functools.wraps(original)
    def list_secret_version_ids(self: SecretsManagerBackend, secret_id: str) -> str:
        answer = json.loads(original(self, secret_id))
        versions = self.secrets[secret_id].versions
        for entry in answer["Versions"]:
            created = versions.get(entry["VersionId"], {}).get("createdate")
            if created is not None:
                entry["CreatedDate"] = created
        return json.dumps(answer)

    return list_secret_version_ids


def _put_secret_value(original):
    @functools.wraps(original)
    def put_secret_value(self: SecretsManagerBackend, secret_id: str, *args, **kwargs):
        secret = self.secrets[secret_id] if secret_id in self.secrets else None
        before = set(secret.versions) if secret is not None else set()
        answer = original(self, secret_id, *args, **kwargs)
        made = self.secrets[secret_id].versions if secret is not None else {}
        for version_id in set(made) - before:
            made[version_id]["createdate"] = round(time.time(), 3)
        return answer

    return put_secret_value


def _refusing_to_rewrite_a_pending_version(original):
    """D-SM-1: a version staged AWSPENDING that holds a value is not rewritten: the same data
    changes nothing, other data answers ResourceExistsException (moto's own message)."""
    @functools.wraps(original)
    def put_secret_value(self: SecretsManagerBackend, secret_id: str, secret_string, secret_binary,
                         client_request_token, version_stages):
        secret = self.secrets.get(secret_id) if not clock.switched(PENDING_OVERWRITE) else None
        version = secret.versions.get(client_request_token) if isinstance(secret, FakeSecret) and client_request_token else None
        if version is not None and "AWSPENDING" in version.get("version_stages", []) \
                and (version.get("secret_string"), version.get("secret_binary")) != (None, None):
            if (version.get("secret_string"), version.get("secret_binary")) == (secret_string, secret_binary):
                return secret.to_short_dict(include_version_stages=True, version_id=client_request_token)
            raise ResourceExistsException(
                f"You can't use ClientRequestToken {client_request_token} because that value is already in use for a "
                f"version of secret {secret.arn}.")
        return original(self, secret_id=secret_id, secret_string=secret_string, secret_binary=secret_binary,
                        client_request_token=client_request_token, version_stages=version_stages)

    return put_secret_value


def _update_secret_version_stage(original):
    @functools.wraps(original)
    def update_secret_version_stage(self: SecretsManagerBackend, secret_id: str, version_stage: str,
                                    remove_from_version_id: str, move_to_version_id: str):
        answer = original(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            secret = self.secrets[secret_id]
            secret.default_version_id = move_to_version_id
            version = secret.versions[move_to_version_id]
            secret.secret_string = version.get("secret_string")
            secret.secret_binary = version.get("secret_binary")
        return answer

    return update_secret_version_stage


def _create_secret(original):
    @functools.wraps(original)
    def create_secret(self: SecretsManagerBackend, name: str, *args, **kwargs):
        held = self.secrets.get(name)
        if held is not None and held.is_deleted():
            raise InvalidRequestException(
                "You can't create this secret because a secret with this name is already scheduled for deletion.")
        return original(self, name, *args, **kwargs)

    return create_secret


def _labelled_versions_only(original):
    @functools.wraps(original)
    def form_version_ids_to_stages(self: FakeSecret) -> dict:
        return {version: stages for version, stages in original(self).items() if stages}

    return form_version_ids_to_stages


def _patch(name: str, build) -> None:
    patch_once(SecretsManagerBackend, name, build, _PATCHED)


def apply() -> None:
    _patch("create_secret", _create_secret)
    patch_once(FakeSecret, "_form_version_ids_to_stages", _labelled_versions_only, _PATCHED)
    _patch("list_secret_version_ids", _list_secret_version_ids)
    _patch("put_secret_value", _put_secret_value)
    patch_once(SecretsManagerBackend, "put_secret_value", _refusing_to_rewrite_a_pending_version, _PATCHED_PENDING)
    _patch("update_secret_version_stage", _update_secret_version_stage)
