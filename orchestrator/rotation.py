"""Rotating the Redis AUTH token and the API key without downtime (docs/configuration.md "secret
rotation"; FSBP SecretsManager.1 and .4). The API key's protocol is ApiKeyRotation's docstring;
the AUTH token's follows.

The tool rotates, not a Secrets Manager rotation Lambda (docs/configuration.md "Secret rotation"): the new token
must reach ElastiCache and the ECS tasks, and the tool is what already deploys both.

The protocol is Secrets Manager's own (createSecret, setSecret, finishSecret; docs/aws-behaviours.md B-SM-4)
with ElastiCache's two-step token change (B-EC-7). Its progress lives in AWS, so a run killed at
any step is resumed by the next one from what AWS shows:

  (a) PutSecretValue: a new random token, staged AWSPENDING only (a ClientRequestToken derived
      from the secret and its AWSCURRENT version: a retry makes no second version, B-SM-3; when
      that id is already a version's, after AWSCURRENT was moved back by hand or a rotation was
      cancelled, the next id derived from them is used, D-SM-1);
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
from datetime import datetime, timedelta, timezone
from typing import Callable

import structlog
from botocore.exceptions import ClientError

from orchestrator.errors import UserError
from orchestrator.spec import resolve
from orchestrator.waiting import wait_for
from resources.api.common import NOT_FOUND, list_all, patch
from resources.api.keys import NEXT, PREVIOUS, RETIRE_AFTER, ROTATION_OF, ApiKey, family
from resources.aws import error_code, ignore_codes
from resources.aws.permissions import api_paths, arn, reads, writes
from resources.base import Change, FieldDiff, ResourceError, Status, tag_list
from resources.data.elasticache import GROUP_BUSY, ReplicationGroup, read_auth_token
from resources.security.secret import generated_document


# Rotating the AUTH token and the API key: when the current value was made (drift reads it too),
# the new value, the group's token and the key's companions.
SECRETS = (arn("secretsmanager", "secret:redis-auth-{env}-??????"), arn("secretsmanager", "secret:api-keys-{env}-??????"))
IAM = (
    reads("secretsmanager:ListSecretVersionIds", arns=SECRETS),
    reads("elasticache:ListTagsForResource", arns=(arn("elasticache", "replicationgroup:redis-{env}"),)),
    reads("apigateway:GET", arns=api_paths("/apikeys", "/apikeys/*", "/usageplans/*")),
    writes("secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage", "secretsmanager:TagResource",
           arns=SECRETS),
    writes("elasticache:ModifyReplicationGroup", "elasticache:AddTagsToResource",
           arns=(arn("elasticache", "replicationgroup:redis-{env}"),)),
    writes("apigateway:POST", arns=api_paths("/apikeys", "/usageplans/*")),
    writes("apigateway:PATCH", "apigateway:DELETE", arns=api_paths("/apikeys/*", "/usageplans/*")),
    writes("apigateway:PUT", arns=api_paths("/tags/*")),
)

PENDING, CURRENT = "AWSPENDING", "AWSCURRENT"
# On the replication group: the secret version its token was SET to (a version id, not a secret);
# "setting:<version>:<AuthTokenLastModifiedDate>" while the SET is on its way (see _set).
SET_TAG = "AuthTokenSecretVersion"
ROTATION_NAMESPACE = uuid.UUID("0b7f6f4e-4a51-4f0e-9a1c-5d2f3e8c7a61")
# D-SM-1: PutSecretValue with a ClientRequestToken that already names a version holding other data
# answers ResourceExistsException. How many ids derived from one AWSCURRENT are tried: each taken
# one is a version an earlier rotation from that same AWSCURRENT left behind.
VERSION_ID_ATTEMPTS = 20
VERSION_TAKEN = "ResourceExistsException"


@dataclass(frozen=True)
class Rotatable:
    """A secret the tool rotates: ``secret`` is the node --rotate names (or its name); the plan
    shows the change on the node ROTATABLE is keyed by."""

    secret: str
    kind: str  # "redis_auth" | "api_key"
    group: str | None = None  # redis_auth: the replication group that takes the token
    usage_plan: str | None = None  # api_key: the usage plan that holds the keys


# Keyed by the node whose plan shows the change "rotation": the AUTH token's secret (its versions
# are the rotation's state), the API key (its companions are, resources/api/keys.py). The
# RDS master secret is rotated by RDS itself (ManageMasterUserPassword).
ROTATABLE = {
    "secret.redis_auth": Rotatable("secret.redis_auth", "redis_auth", group="redis.replication_group"),
    "apigw.api_key": Rotatable("secret.api_key", "api_key", usage_plan="apigw.usage_plan"),
}


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

    def diff(self, key: str, h, obs, versions: Callable[[str], Versions] | None = None) -> FieldDiff | None:
        """``h``, ``obs``: the node's handler and what it read (one more read for the AUTH token's
        versions, ``versions(arn)`` when the caller read them ahead; the API key's companions came
        with the key). None for a node the tool does not rotate."""
        if key not in ROTATABLE:
            return None
        if ROTATABLE[key].kind == "api_key":
            return self._api_key_diff(key, obs)
        return self._versions_diff(key, (versions or (lambda arn: self.versions_of(h, arn)))(obs.id))

    @staticmethod
    def versions_of(h, secret_arn: str) -> Versions:
        return read_versions(h.client, secret_arn)

    @staticmethod
    def reads_versions(key: str) -> bool:
        """The node's diff reads its secret's versions (ListSecretVersionIds): worth reading ahead."""
        return key in ROTATABLE and ROTATABLE[key].kind != "api_key"

    def _due(self, key: str, created: datetime | None, shown: str, new: str) -> FieldDiff | None:
        age = (self.now() - created).total_seconds() / 86400 if created else 0.0
        shown = f"{shown}, {age:.0f} days old"
        if key in self.forced:
            return FieldDiff("rotation", new, shown, Change.IN_PLACE, "asked for with --rotate")
        if self.max_age_days and age > self.max_age_days:
            return FieldDiff("rotation", f"at most {self.max_age_days} days old", shown, Change.IN_PLACE,
                             "secret_rotation_days (FSBP SecretsManager.4)")
        return None

    def _api_key_diff(self, key: str, obs) -> FieldDiff | None:
        family = obs.raw.get("family", [])
        new = [k for k in family if k["name"] == obs.raw["name"] + NEXT or k["name"] == obs.raw["name"]]
        if new:
            return FieldDiff("rotation", "finished", f"in progress: new key {new[0]['id']}", Change.IN_PLACE,
                             "an earlier run stopped; it resumes")
        previous = next((k for k in family if k["name"] == obs.raw["name"] + PREVIOUS), None)
        if previous is not None:
            retire = retire_after(previous)
            if retire is None:  # retired by hand, or not by this tool: never deleted
                return None
            until = retire.isoformat(timespec="seconds")
            if self.now() >= retire:
                return FieldDiff("rotation", f"previous key {previous['id']} deleted",
                                 f"previous key {previous['id']} kept, its grace period ended {until}", Change.IN_PLACE,
                                 "api_key_rotation_grace_hours is over")
            if key in self.forced:
                return FieldDiff("rotation", "a new key", f"previous key {previous['id']} in its grace period until {until}",
                                 Change.IN_PLACE, "asked for with --rotate")
            return None
        return self._due(key, obs.raw.get("createdDate"), f"key {obs.id}", "a new key")

    def _versions_diff(self, key: str, versions: Versions) -> FieldDiff | None:
        if versions.pending is not None:
            step = "(b) ROTATE" if versions.pending.id != getattr(versions.current, "id", None) else "(d) redeploy"
            return FieldDiff("rotation", "finished", f"in progress: {PENDING} on version {versions.pending.id}",
                             Change.IN_PLACE, f"an earlier run stopped; it resumes from step {step}")
        if versions.current is None:
            return None
        return self._due(key, versions.current.created, f"{CURRENT} version {versions.current.id}", "a new token")


def pending_version_id(secret_arn: str, current_id: str, attempt: int = 0) -> str:
    """The ClientRequestToken of a rotation from ``current_id``: the same for a retry (B-SM-3);
    ``attempt`` counts the ids found taken (D-SM-1). The first is the one rotations always used."""
    seed = f"{secret_arn}/{current_id}" + (f"/{attempt}" if attempt else "")
    return str(uuid.uuid5(ROTATION_NAMESPACE, seed))


def retire_after(key: dict) -> datetime | None:
    text = (key.get("tags") or {}).get(RETIRE_AFTER)
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def rotate_keys(names: list[str], node_names: dict[str, str]) -> frozenset[str]:
    """The nodes whose rotation ``--rotate`` asks for: each named by its secret's node key or
    name (or the API key's); anything else is bad input, refused in one line before any call.
    ``node_names``: node key -> name."""
    aliases = {}
    for key, what in ROTATABLE.items():
        for alias in (key, what.secret, node_names.get(key), node_names.get(what.secret)):
            if alias:
                aliases[alias] = key
    unknown = [n for n in names if n not in aliases]
    if unknown:
        known = ", ".join(f"{what.secret} ({node_names.get(what.secret, '?')})" for what in ROTATABLE.values())
        raise UserError(f"--rotate {unknown[0]}: not a secret this tool rotates; one of {known}")
    return frozenset(aliases[n] for n in names)


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
                                    "cannot be changed")
            pending = self._put_pending(versions.current)
        if pending.id != versions.current.id:
            self._rotate(pending)
            self.sm.update_secret_version_stage(
                SecretId=self.secret_arn, VersionStage=CURRENT, MoveToVersionId=pending.id,
                RemoveFromVersionId=versions.current.id)
            self.log.info("rotation_promoted", version=pending.id, previous=versions.current.id)

    def _put_pending(self, current: Version) -> Version:
        value = generated_document(self.secret_spec)
        for attempt in range(VERSION_ID_ATTEMPTS):
            token = pending_version_id(self.secret_arn, current.id, attempt)
            try:
                self.sm.put_secret_value(SecretId=self.secret_arn, SecretString=value, ClientRequestToken=token,
                                         VersionStages=[PENDING])
            except ClientError as exc:
                if error_code(exc) != VERSION_TAKEN:
                    raise
                # D-SM-1: an earlier rotation from this AWSCURRENT made that version (AWSCURRENT
                # moved back by hand since, or AWSPENDING removed): never rewritten, the next id.
                self.log.info("rotation_version_id_taken", version=token)
                continue
            self.log.info("rotation_pending_created", version=token)
            pending = read_versions(self.sm, self.secret_arn).pending
            if pending is None or pending.id != token:
                raise ResourceError(f"secret {self.secret_arn}: version {token} is not staged {PENDING} after PutSecretValue")
            return pending
        raise ResourceError(f"secret {self.secret_arn}: the {VERSION_ID_ATTEMPTS} version ids of a rotation from {CURRENT} "
                            f"version {current.id} are all taken; move {CURRENT} to the newest version, then rotate again")

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


@dataclass
class ApiKeyRotation:
    """An API key's value cannot change: a second key takes over (docs/configuration.md "Secret rotation").

    ``begin``, before the walk: (a) CreateApiKey "NAME-next" (tag RotationOf: the old key's id);
    (b) CreateUsagePlanKey: the plan accepts both; (c) the new key takes the name (TagResource,
    then UpdateApiKey); (d) the old one becomes "NAME-previous" with RetireAfter (now + the grace
    period; its tags before its name, so that no NAME-previous ever lacks its RetireAfter). The walk then points the secret at the new key (the secret node's own update: a new
    AWSCURRENT version). ``finish``, in a reconcile after RetireAfter: DeleteUsagePlanKey and
    DeleteApiKey of the previous key. Every step is found again from the keys' names and tags,
    so a run killed anywhere is resumed by the next one.
    """

    aws: object
    clock: object
    env: str
    name: str
    owner_tags: dict
    usage_plan_id: str
    grace_hours: int
    now: Callable[[], datetime] = utc_now
    readers: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self):
        # Previous keys ``finish`` found past their grace period but still in use.
        self.kept: list[str] = []
        self.keys = ApiKey(self.aws, env=self.env, clock=self.clock)
        self.client = self.keys.client
        self.secret_arn = f"api key {self.name}"  # what messages name
        self.log = structlog.get_logger().bind(kind="api_key_rotation", name=self.name)

    def _family(self) -> list[dict]:
        return family(list_all(self.client, "get_api_keys", nameQuery=self.name), self.name, self.owner_tags)

    def begin(self) -> None:
        keys = self._family()
        named = [k for k in keys if k["name"] == self.name]
        new = sorted((k for k in keys if k["name"] == self.name + NEXT), key=lambda k: k["id"])
        previous = [k for k in keys if k["name"] == self.name + PREVIOUS]
        if not new and len(named) == 1:
            if previous and self._grace_period_over(previous[0]):
                return  # only the previous key's removal is left: finish
            new = [self._create_next(named[0])]
        for extra in new[1:]:
            # CreateApiKey has no idempotency token: a create retried after a lost answer.
            ignore_codes({NOT_FOUND}, self.client.delete_api_key, apiKey=extra["id"])
        if new:
            named = self._give_name(new[0]["id"])
        if len(named) == 2:
            self._retire_old(named)

    def _grace_period_over(self, previous: dict) -> bool:
        """True when the previous rotation's key is past its RetireAfter; raises while it is in
        its grace period: one rotation at a time."""
        retire = retire_after(previous)
        if retire is not None and self.now() >= retire:
            return True
        until = f"until {retire.isoformat(timespec='seconds')}" if retire else f"(no {RETIRE_AFTER} tag: delete it by hand)"
        raise ResourceError(f"api_key {self.name}: the previous key {previous['id']} is in its grace period "
                            f"{until}; rotate again once it is deleted")

    def _create_next(self, current: dict) -> dict:
        """(a) The key that takes over, "NAME-next", tagged with the id of the one it replaces."""
        made = self.client.create_api_key(
            name=self.name + NEXT, description=current.get("description", ""), enabled=True,
            tags={**self.owner_tags, "Name": self.name + NEXT, ROTATION_OF: current["id"]})
        self.log.info("rotation_key_created", id=made["id"])
        return {"id": made["id"], "name": self.name + NEXT}  # the answer's value is dropped

    def _give_name(self, key: str) -> list[dict]:
        """(b) and (c): the usage plan accepts the new key, which then takes the name; answers
        the keys carrying the name now."""
        linked = {k["id"] for k in list_all(self.client, "get_usage_plan_keys", usagePlanId=self.usage_plan_id)}
        if key not in linked:
            self.client.create_usage_plan_key(usagePlanId=self.usage_plan_id, keyId=key, keyType="API_KEY")
        self.client.tag_resource(resourceArn=self.keys.arn(key), tags={"Name": self.name})
        self.client.update_api_key(apiKey=key, patchOperations=[patch("/name", self.name)])
        self.log.info("rotation_key_named", id=key)
        return [k for k in self._family() if k["name"] == self.name]

    def _retire_old(self, named: list[dict]) -> None:
        """(d) Of the two keys carrying the name, the one the other replaces becomes "NAME-previous"."""
        newer = [k for k in named if (k.get("tags") or {}).get(ROTATION_OF) in {m["id"] for m in named}]
        if len(newer) != 1:
            raise ResourceError(f"api_key {self.name}: two keys carry its name and neither replaces the other: "
                                f"{', '.join(sorted(k['id'] for k in named))}")
        [old] = [k for k in named if k["id"] != newer[0]["id"]]
        # The tags first: a run stopped before the rename finds two keys with the name
        # again (RotationOf tells them apart), never a NAME-previous without its RetireAfter.
        retire = retire_after(old) or self.now() + timedelta(hours=self.grace_hours)
        self.client.tag_resource(resourceArn=self.keys.arn(old["id"]), tags={
            "Name": self.name + PREVIOUS, RETIRE_AFTER: retire.isoformat(timespec="seconds")})
        self.client.update_api_key(apiKey=old["id"], patchOperations=[patch("/name", self.name + PREVIOUS)])
        self.log.info("rotation_key_retired", id=old["id"], until=retire.isoformat(timespec="seconds"))

    def finish(self) -> bool:
        """Deletes the previous key once its grace period is over and no client used it lately;
        True when it did. A key still in use is kept (``kept``) and looked at again next run."""
        removed = False
        for key in self._family():
            retire = retire_after(key) if key["name"] == self.name + PREVIOUS else None
            if retire is None or self.now() < retire:
                continue
            used_on = self._days_used(key["id"], retire)
            if used_on:
                # A client still sends the old key: deleting it now would lock that client out.
                self.kept.append(key["id"])
                self.log.warning("rotation_previous_key_kept", id=key["id"], used_on=used_on,
                                 reason="clients still used it in the grace period; the next reconcile looks again")
                continue
            ignore_codes({NOT_FOUND}, self.client.delete_usage_plan_key, usagePlanId=self.usage_plan_id, keyId=key["id"])
            ignore_codes({NOT_FOUND}, self.client.delete_api_key, apiKey=key["id"])
            self.log.info("rotation_previous_key_deleted", id=key["id"])
            removed = True
        return removed

    def _days_used(self, key_id: str, retire: datetime) -> list[str]:
        """The UTC days on which API Gateway counted requests with the key (GetUsage of the usage
        plan) in the last ``grace_hours`` (docs/aws-behaviours.md C-APIGW-2). GetUsage counts by
        day, and on the rotation's own day clients used the old key before they switched: the
        window starts the day after it (with a grace of 24 hours or more, never after today)."""
        now = self.now()
        rotated = retire - timedelta(hours=self.grace_hours)
        first = max(rotated.date() + timedelta(days=1), (now - timedelta(hours=self.grace_hours)).date())
        usage = self.client.get_usage(usagePlanId=self.usage_plan_id, keyId=key_id,
                                      startDate=first.isoformat(), endDate=now.date().isoformat())
        days = usage.get("items", {}).get(key_id, [])
        return [(first + timedelta(days=i)).isoformat() for i, (used, _left) in enumerate(days) if used]


def planned_rotations(aws, results: list, nodes: list, *, env: str, clock, grace_hours: float,
                      now: Callable[[], datetime]) -> dict[str, "RedisAuthRotation | ApiKeyRotation"]:
    """The rotations a plan's ``results`` show, whose other resources exist (a replication group
    this run creates takes the current token; a usage plan it creates, the current key)."""
    by_result = {r.key: r for r in results}
    by_key = {n.key: n for n in nodes}
    found = {}
    for key, what in ROTATABLE.items():
        secret = by_result.get(key)
        if secret is None or key not in by_key or not any(d.field == "rotation" for d in secret.changes):
            continue
        partner = by_result.get(what.usage_plan if what.kind == "api_key" else what.group)
        if partner is None or partner.id is None or partner.action not in ("unchanged", "update"):
            if what.kind != "api_key":
                structlog.get_logger().warning("rotation_postponed", secret=secret.id,
                                               detail=f"{what.group} is not there yet; the next run rotates")
            continue
        spec = resolve(by_key[key].spec, {})
        if what.kind == "api_key":
            found[key] = ApiKeyRotation(aws, clock, env, spec["name"], spec["tags"], partner.id, grace_hours, now)
        else:
            found[key] = RedisAuthRotation(aws, clock, env, secret.id, partner.id, spec, token_readers(key, nodes))
    return found


def token_readers(secret_key: str, nodes: list) -> frozenset[str]:
    """The ECS services whose tasks read the secret: ECS resolves a ``valueFrom`` when a task
    starts, so the services of the task definitions that name it start tasks with the new token
    only once redeployed."""
    graph = {n.key: (n.depends_on, n.handler.kind) for n in nodes}
    task_definitions = {k for k, (deps, kind) in graph.items() if secret_key in deps and kind == "ecs_task_definition"}
    return frozenset(k for k, (deps, kind) in graph.items() if deps & task_definitions and kind == "ecs_service")
