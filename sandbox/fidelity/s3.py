"""S3 in moto 5.2.5, made to answer as AWS documents where the state bucket needs it.

docs/aws-behaviours.md B-S3-1: a request carrying ``ExpectedBucketOwner`` (the
``x-amz-expected-bucket-owner`` header) on a bucket another account owns fails with HTTP 403
AccessDenied (S3 user guide, "Verifying bucket ownership with bucket owner condition"); moto
ignores the header. Reproduced for every bucket and object request: the header is compared with
the account moto created the bucket in. A bucket that does not exist keeps moto's own answer.

docs/aws-behaviours.md A-47: moto applies a bucket policy's Deny statements with ``Principal: *``
to every request and ignores their conditions, so the standard TLS-only statement (Deny ``s3:*``
when ``aws:SecureTransport`` is false) refuses everything. Requests to the sandbox stand for
requests to AWS's HTTPS endpoints (botocore's default), for which ``aws:SecureTransport`` is true
(IAM user guide, "AWS global condition context keys"): a statement that applies only when it is
false is left out of moto's evaluation. Other conditions are left as moto treats them.
"""
from __future__ import annotations

import functools
import json

from moto.iam.access_control import IAMPolicy
from moto.s3.models import FakeBucket, s3_backends
from moto.s3.responses import S3Response

from sandbox.fidelity.patching import patch_once

_PATCHED = "_video_pipeline_fidelity_s3"
HEADER = "x-amz-expected-bucket-owner"
ACCESS_DENIED = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                 "<Message>Access Denied</Message></Error>")


def _expected_owner(request) -> str | None:
    # Flask's headers are case-insensitive; the in-process mock's are a plain dict.
    return next((v for k, v in dict(request.headers).items() if k.lower() == HEADER), None)


def _owner_checked(original):
    @functools.wraps(original)
    def respond(self: S3Response, request, full_url: str, *args, **kwargs):
        expected = _expected_owner(request)
        if expected:
            name = self.parse_bucket_name_from_url(request, full_url)
            # Bucket names are global: the owner of one made in another account too (the name
            # freed and taken by someone else, the case the header is for).
            owner = s3_backends.bucket_accounts.get(name) if name else None
            if owner is not None and owner[1] != expected:
                # The answer itself, not moto's S3ClientError: moto serializes those by the
                # operation it has not worked out yet at this point.
                return 403, {"content-type": "application/xml"}, ACCESS_DENIED
        return original(self, request, full_url, *args, **kwargs)

    return respond


def _only_over_plain_http(statement: dict) -> bool:
    condition = statement.get("Condition") or {}
    if set(condition) != {"Bool"}:
        return False
    values = {k.lower(): v for k, v in condition["Bool"].items()}
    value = values.get("aws:securetransport")
    return set(values) == {"aws:securetransport"} and [str(v).lower() for v in
                                                       (value if isinstance(value, list) else [value])] == ["false"]


def _permission_over_tls(original):
    @functools.wraps(original)
    def get_permission(self: FakeBucket, action: str, resource: str):
        if self.policy is None:
            return original(self, action, resource)
        policy = json.loads(self.policy)
        statements = policy.get("Statement", [])
        statements = statements if isinstance(statements, list) else [statements]
        kept = [s for s in statements if not _only_over_plain_http(s)]
        if len(kept) == len(statements):
            return original(self, action, resource)
        # moto's own evaluation (FakeBucket.get_permission) of the policy without those
        # statements; the stored policy is never changed, GetBucketPolicy still answers it whole.
        return IAMPolicy(json.dumps({**policy, "Statement": kept})).is_action_permitted(action, resource)

    return get_permission


def apply() -> None:
    # Both moto entry points (bucket and object requests) raise S3ClientError inside the
    # try that turns it into the XML error answer.
    patch_once(S3Response, "_bucket_response", _owner_checked, _PATCHED)
    patch_once(S3Response, "_key_response", _owner_checked, _PATCHED)
    patch_once(FakeBucket, "get_permission", _permission_over_tls, _PATCHED)
