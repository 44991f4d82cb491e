"""Rotating the Redis AUTH token without downtime (spec/security.md "secret rotation"; FSBP
SecretsManager.1 and .4).

The tool rotates, not a Secrets Manager rotation Lambda (README "Secret rotation"): the new token
must reach ElastiCache and the ECS tasks, and the tool is what already deploys both.

The protocol is Secrets Manager's own (createSecret, setSecret, finishSecret; aws-notes B-SM-4)
with ElastiCache's two-step token change (B-EC-7). Its progress lives in AWS, so a run killed at
any step is resumed by the next one from what AWS shows:

  (a) PutSecretValue: a new random token, staged AWSPENDING only (a ClientRequestToken derived
      from the secret and its AWSCURRENT version: a retry makes no second version, B-SM-3);
  (b) ModifyReplicationGroup ROTATE with it: the group accepts the old and the new token;
  (c) UpdateSecretVersionStage: AWSCURRENT moves to the new version (AWSPREVIOUS to the old);
  (d) the ECS services whose tasks read the token redeploy (ECS resolves ``valueFrom`` when a
      task starts), verified like any deploy by the reconcile walk: a rolled-back deploy stops
      the rotation here, while the old token is still accepted;
  (e) ModifyReplicationGroup SET with the new token: the old one is no longer accepted; the
      group's tag ``AuthTokenSecretVersion`` names the secret version it was SET to;
  (f) AWSPENDING is removed: the rotation is over.

Resume: no AWSPENDING → nothing in progress; AWSPENDING on a version other than AWSCURRENT →
from (b) (skipped when the group's AuthTokenLastModifiedDate is after that version was made: the
tool is the token's only writer, so that change was this ROTATE; B-EC-7 says a second ROTATE
would drop the old token clients still use); AWSPENDING on AWSCURRENT → from (d), (e) skipped
when the tag already names that version.

No token value is logged, kept or shown: messages name the secret ARN and version ids.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import structlog

from orchestrator.errors import UserError
from orchestrator.waiting import wait_for
from resources.base import Change, FieldDiff, ResourceError, Status, tag_list
from resources.elasticache import GROUP_BUSY, ReplicationGroup, read_auth_token
from resources.secret import generated_document

PENDING, CURRENT = "AWSPENDING", "AWSCURRENT"
# On the replication group: the secret version its token was SET to (a version id, not a secret);
# "setting:<version>:<AuthTokenLastModifiedDate>" while the SET is on its way (see _set).
SET_TAG = "AuthTokenSecretVersion"
ROTATION_NAMESPACE = uuid.UUID("0b7f6f4e-4a51-4f0e-9a1c-5d2f3e8c7a61")


@dataclass(frozen=True)
class Rotatable:
    """A secret the tool rotates, and the replication group that takes its token."""

    secret: str
    group: str


# The RDS master secret is rotated by RDS itself (ManageMasterUserPassword); the API key is not
# rotated by the tool yet (README "Secret rotation").
ROTATABLE = {"secret.redis_auth": Rotatable("secret.redis_auth", "redis.replication_group")}


@dataclass(frozen=True)
class Version:
    id: str
    created: datetime


@dataclass(frozen=True)
class Versions:
    current: Version | None
    pending: Version | None

    @property
    def in_progress(self) -> bool:
        return self.pending is not None


def read_versions(sm, secret_id: str) -> Versions:
    """AWSCURRENT and AWSPENDING, with when each version was made (ListSecretVersionIds has no
    paginator in botocore: NextToken by hand)."""
    found: dict[str, Version] = {}
    kwargs: dict = {"SecretId": secret_id}
    while True:
        page = sm.list_secret_version_ids(**kwargs)
        for v in page.get("Versions", []):
            for stage in v.get("VersionStages", []):
                if stage in (CURRENT, PENDING):
                    found[stage] = Version(v["VersionId"], v["CreatedDate"])
        if not page.get("NextToken"):
            return Versions(found.get(CURRENT), found.get(PENDING))
        kwargs["NextToken"] = page["NextToken"]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class RotationPolicy:
    """When a rotatable secret shows the synthetic change ``rotation`` in a plan or a drift check:
    asked for (--rotate), due by age (``secret_rotation_days``, 0 never), or in progress."""

    max_age_days: int = 90
    forced: frozenset[str] = frozenset()
    now: Callable[[], datetime] = utc_now

    def diff(self, key: str, sm, secret_arn: str) -> FieldDiff | None:
        versions = read_versions(sm, secret_arn)
        if versions.pending is not None:
            step = "(b) ROTATE" if versions.pending.id != getattr(versions.current, "id", None) else "(d) redeploy"
            return FieldDiff("rotation", "finished", f"in progress: {PENDING} on version {versions.pending.id}",
                             Change.IN_PLACE, f"an earlier run stopped; it resumes from step {step}")
        if versions.current is None:
            return None
        age = (self.now() - versions.current.created).total_seconds() / 86400
        shown = f"{CURRENT} version {versions.current.id}, {age:.0f} days old"
        if key in self.forced:
            return FieldDiff("rotation", "a new token", shown, Change.IN_PLACE, "asked for with --rotate")
        if self.max_age_days and age > self.max_age_days:
            return FieldDiff("rotation", f"at most {self.max_age_days} days old", shown, Change.IN_PLACE,
                             "secret_rotation_days (FSBP SecretsManager.4)")
        return None


def rotate_keys(names: list[str], secret_names: dict[str, str]) -> frozenset[str]:
    """The secret nodes ``--rotate`` names (node key or secret name); anything else is bad input,
    refused in one line before any call. ``secret_names``: node key -> secret name."""
    by_name = {name: key for key, name in secret_names.items() if key in ROTATABLE}
    unknown = [n for n in names if n not in ROTATABLE and n not in by_name]
    if unknown:
        known = ", ".join(f"{k} ({secret_names.get(k, '?')})" for k in sorted(ROTATABLE))
        raise UserError(f"--rotate {unknown[0]}: not a secret this tool rotates; one of {known}")
    return frozenset(n if n in ROTATABLE else by_name[n] for n in names)


@dataclass
class RedisAuthRotation:
    """Steps (a)-(c) in ``begin``, (e)-(f) in ``finish``; (d) is the reconcile walk's redeploy."""

    aws: object
    clock: object
    env: str
    secret_arn: str
    group_id: str
    secret_spec: dict
    readers: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self):
        self.sm = self.aws.client("secretsmanager")
        self.group = ReplicationGroup(self.aws, env=self.env, clock=self.clock)
        self.log = structlog.get_logger().bind(kind="secret_rotation", secret=self.secret_arn, group=self.group_id)

    # -- (a) (b) (c) ----------------------------------------------------------------------------
    def begin(self) -> None:
        versions = read_versions(self.sm, self.secret_arn)
        if versions.current is None:
            raise ResourceError(f"secret {self.secret_arn} has no {CURRENT} version to rotate from")
        pending = versions.pending
        if pending is None:
            # B-EC-7: a token change needs in-transit encryption; refused before the new version.
            if not self._settled().get("TransitEncryptionEnabled"):
                raise ResourceError(f"replication_group {self.group_id} has no in-transit encryption: its AUTH token "
                                    "cannot be changed (B-EC-7)")
            pending = self._put_pending(versions.current)
        if pending.id != versions.current.id:
            self._rotate(pending)
            self.sm.update_secret_version_stage(
                SecretId=self.secret_arn, VersionStage=CURRENT, MoveToVersionId=pending.id,
                RemoveFromVersionId=versions.current.id)
            self.log.info("rotation_promoted", version=pending.id, previous=versions.current.id)

    def _put_pending(self, current: Version) -> Version:
        # Deterministic per rotation: the same secret and AWSCURRENT give the same token, so a
        # retried PutSecretValue whose first answer was lost makes no second version (B-SM-3).
        token = str(uuid.uuid5(ROTATION_NAMESPACE, f"{self.secret_arn}/{current.id}"))
        self.sm.put_secret_value(SecretId=self.secret_arn, SecretString=generated_document(self.secret_spec),
                                 ClientRequestToken=token, VersionStages=[PENDING])
        self.log.info("rotation_pending_created", version=token)
        pending = read_versions(self.sm, self.secret_arn).pending
        if pending is None or pending.id != token:
            raise ResourceError(f"secret {self.secret_arn}: version {token} is not staged {PENDING} after PutSecretValue")
        return pending

    def _rotate(self, pending: Version) -> None:
        group = self._settled()
        changed = group.get("AuthTokenLastModifiedDate")
        if changed is not None and changed > pending.created:
            return  # B-EC-7: this version's ROTATE was applied by the run that stopped
        token = self._token(pending.id)
        GROUP_BUSY.call(self.clock, self.aws.client("elasticache").modify_replication_group,
                        ReplicationGroupId=self.group_id, AuthToken=token, AuthTokenUpdateStrategy="ROTATE",
                        ApplyImmediately=True)
        self.log.info("rotation_token_added", version=pending.id)
        self._settled()

    # -- (e) (f) --------------------------------------------------------------------------------
    def finish(self) -> bool:
        """True when this call ended a rotation; False when none was in progress."""
        versions = read_versions(self.sm, self.secret_arn)
        if versions.pending is None:
            return False
        if versions.current is None or versions.pending.id != versions.current.id:
            raise ResourceError(f"secret {self.secret_arn}: {PENDING} version {versions.pending.id} is not {CURRENT}; "
                                "the rotation resumes from step (b) on the next run")
        self._set(versions.current)
        self.sm.update_secret_version_stage(SecretId=self.secret_arn, VersionStage=PENDING,
                                            RemoveFromVersionId=versions.current.id)
        self.log.info("rotation_finished", version=versions.current.id)
        return True

    def _set(self, current: Version) -> None:
        group = self._settled()
        arn = group["ARN"]
        ec = self.aws.client("elasticache")
        tag = {t["Key"]: t["Value"] for t in ec.list_tags_for_resource(ResourceName=arn)["TagList"]}.get(SET_TAG, "")
        if tag == current.id:
            return
        changed = group.get("AuthTokenLastModifiedDate")
        stamp = f"{changed.timestamp():.3f}" if changed else "0"
        if tag.startswith(f"setting:{current.id}:") and stamp != tag.rsplit(":", 1)[1]:
            pass  # the stopped run's SET changed the token since it wrote the tag: applied
        else:
            # Written before the SET with the token's last change (the ROTATE): a run stopped
            # after the SET finds a later change and does not SET twice.
            ec.add_tags_to_resource(ResourceName=arn, Tags=tag_list({SET_TAG: f"setting:{current.id}:{stamp}"}))
            GROUP_BUSY.call(self.clock, ec.modify_replication_group, ReplicationGroupId=self.group_id,
                            AuthToken=self._token(current.id), AuthTokenUpdateStrategy="SET", ApplyImmediately=True)
            self.log.info("rotation_token_set", version=current.id)
            self._settled()
        ec.add_tags_to_resource(ResourceName=arn, Tags=tag_list({SET_TAG: current.id}))

    # -- plumbing -------------------------------------------------------------------------------
    def _token(self, version_id: str) -> str:
        return read_auth_token(self.sm, self.secret_arn, version_id=version_id,
                               what=f"the AUTH token secret {self.secret_arn} version {version_id}")

    def _settled(self) -> dict:
        """The group once ``available`` (a change of ours or anyone's may be going, C-EC-1)."""
        h = self.group
        wait_for(lambda: h.refresh(self.group_id), Status.READY, what=f"replication_group {self.group_id}",
                 timeout=h.update_timeout, ceiling=h.poll_ceiling, clock=self.clock)
        group = h.lookup(self.group_id)
        if group is None:
            raise ResourceError(f"replication_group {self.group_id} disappeared during the rotation")
        return group
