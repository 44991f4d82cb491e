"""`bin/state init`'s settings of a state bucket, merged into what the bucket already has: a team's
bucket is never made weaker than it was. Versioning and the public access block are only ever
switched on; an existing default encryption (SSE-KMS above all) is kept, SSE-S3 set only where
there is none; the team's lifecycle rules and bucket policy statements are kept, ours added or
updated by their own ID / Sid. Everything is read first and refused before any write, so a
refusal changes nothing."""
from __future__ import annotations

import json

from .errors import StateError
from .s3 import _code

# Noncurrent versions (earlier states, renewed and released locks) kept this long.
NONCURRENT_DAYS = 90
LIFECYCLE_ID = "video-pipeline-state-history"
TLS_SID = "VideoPipelineStateTlsOnly"
# Storage classes GetObject cannot read without a restore first: a state moved there is lost to
# every run until someone restores it. The other classes (Standard-IA, One Zone-IA, Intelligent-
# Tiering's default tiers, Glacier Instant Retrieval) are read at once: only their cost differs.
UNREADABLE_CLASSES = {"GLACIER", "DEEP_ARCHIVE"}


class BucketSettingsError(StateError):
    """A setting of the bucket init cannot merge with: one line each (`lines`), nothing changed."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


def _read(call, missing: str, **kwargs) -> dict | None:
    """The answer of a Get call, None when S3 says the setting was never made."""
    try:
        return call(**kwargs)
    except Exception as exc:
        if _code(exc) == missing:
            return None
        raise


def lifecycle_id(prefix: str) -> str:
    # One rule per state prefix: two locations in one bucket keep a rule each.
    return f"{LIFECYCLE_ID}:{prefix}" if prefix else LIFECYCLE_ID


def our_lifecycle_rule(prefix: str) -> dict:
    return {
        "ID": lifecycle_id(prefix), "Status": "Enabled", "Filter": {"Prefix": f"{prefix}/" if prefix else ""},
        # Every renewal of a lock and every state write leaves a noncurrent version: keep the
        # newest 100 and any younger than NONCURRENT_DAYS, drop delete markers left alone.
        "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS, "NewerNoncurrentVersions": 100},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }


def _rule_prefix(rule: dict) -> str | None:
    """The key prefix a rule applies to; None when it needs a tag (state objects have none)."""
    filt = rule.get("Filter")
    if filt is None:
        return rule.get("Prefix", "")  # the older rule-level Prefix
    if "Tag" in filt or (filt.get("And") or {}).get("Tags"):
        return None
    return filt.get("Prefix", (filt.get("And") or {}).get("Prefix", ""))


def _harmful(rule: dict) -> str | None:
    """What a rule does to the current state objects that would lose them, or None."""
    expiration = rule.get("Expiration") or {}
    if "Days" in expiration or "Date" in expiration:
        return "expires current objects (it would delete the state)"
    for transition in rule.get("Transitions") or []:
        if transition.get("StorageClass") in UNREADABLE_CLASSES:
            return (f"moves current objects to {transition['StorageClass']} (the state could not be read "
                    "without a restore)")
    return None


def merged_lifecycle(bucket: str, prefix: str, rules: list[dict]) -> list[dict]:
    """The team's rules, ours added or replaced by its ID; refused when a rule of the team's
    would expire the state objects or move them where they cannot be read."""
    base = f"{prefix}/" if prefix else ""
    ours = our_lifecycle_rule(prefix)
    problems = []
    for rule in rules:
        scope = _rule_prefix(rule)
        if rule.get("ID") == ours["ID"] or rule.get("Status") != "Enabled" or scope is None:
            continue
        # Overlapping prefixes: the rule covers some state objects (or all of them).
        if not (base.startswith(scope) or scope.startswith(base)):
            continue
        why = _harmful(rule)
        if why:
            problems.append(f"state bucket {bucket}: lifecycle rule {rule.get('ID', '(no ID)')!r} {why} under "
                            f"{base or 'the whole bucket'!r}: narrow its prefix or remove that action, then rerun "
                            "bin/state init; nothing was changed")
    if problems:
        raise BucketSettingsError(problems)
    return [r for r in rules if r.get("ID") != ours["ID"]] + [ours]


def tls_statement(bucket: str, partition: str = "aws") -> dict:
    return {"Sid": TLS_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def denies_plain_http(statement: dict, bucket: str, partition: str = "aws") -> bool:
    """Whether a statement (ours or one the team wrote) denies every S3 action on the bucket and
    its objects to everyone when the request is not over TLS."""
    ours = tls_statement(bucket, partition)
    condition = {k.lower(): v for k, v in ((statement.get("Condition") or {}).get("Bool") or {}).items()}
    return (statement.get("Effect") == "Deny"
            and statement.get("Principal") in ("*", {"AWS": "*"})
            and "s3:*" in _as_list(statement.get("Action"))
            and set(ours["Resource"]) <= set(_as_list(statement.get("Resource")))
            and [str(v).lower() for v in _as_list(condition.get("aws:securetransport"))] == ["false"])


def merged_policy(bucket: str, policy: dict | None, partition: str = "aws") -> dict | None:
    """The bucket policy with the TLS-only statement in it (the others kept); None when it has
    one already (nothing to write)."""
    policy = dict(policy or {"Version": "2012-10-17", "Statement": []})
    statements = _as_list(policy.get("Statement", []))
    if any(denies_plain_http(s, bucket, partition) for s in statements):
        return None
    policy["Statement"] = [s for s in statements if s.get("Sid") != TLS_SID] + [tls_statement(bucket, partition)]
    return policy


def prepare_bucket(s3, bucket: str, prefix: str, *, existing: bool = False) -> dict:
    """Bring an existing bucket up to the state's requirements without weakening anything. All
    reads first; a refusal (BucketSettingsError) writes nothing. Returns what was done.

    The state's lifecycle rule covers its prefix; with no prefix it would cover the whole bucket,
    so on a bucket that was there already (``existing``: the team's other objects) it is not
    added: expiring their old versions is not the tool's to decide."""
    block = (_read(s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration", Bucket=bucket)
             or {}).get("PublicAccessBlockConfiguration", {})
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    encryption = (_read(s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError", Bucket=bucket)
                  or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    rules = (_read(s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", Bucket=bucket)
             or {}).get("Rules", [])
    policy_text = (_read(s3.get_bucket_policy, "NoSuchBucketPolicy", Bucket=bucket) or {}).get("Policy")
    partition = s3.meta.partition  # botocore's, from the client's region

    ours = not (existing and not prefix)
    lifecycle = merged_lifecycle(bucket, prefix, rules) if ours else rules
    policy = merged_policy(bucket, json.loads(policy_text) if policy_text else None, partition)
    algorithm = next((r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in encryption
                      if r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")), None)

    # Writes: only what turns something on or adds ours; all four blocks on is never weaker.
    if not all(block.get(k) for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                      "RestrictPublicBuckets")):
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
    if versioning != "Enabled":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    if algorithm is None:
        algorithm = "AES256"
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}, "BucketKeyEnabled": True}]})
    if lifecycle != rules:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle})
    if policy is not None:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return {"encryption": algorithm, "lifecycle_rule": lifecycle_id(prefix) if ours else None}
