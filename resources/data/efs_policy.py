"""The EFS file-system policy: a resource policy on the file system (docs/configuration.md, EFS row).

One policy per file system, so the file system id is the policy's id. It carries no tags: the
ownership record lives on the file system, found by its creation token as for the mount targets
(B-EFS-2). IAM policy grammar applies, so documents are compared in IAM's canonical form.
"""
from __future__ import annotations

import json

from resources.aws.permissions import reads, writes
from resources.base import Change, Field, Handler, Observed
from resources.aws.consistency import consistency
from resources.data.efs import FILE_SYSTEM_ARN
from resources.data.efs import FILE_SYSTEM_AVAILABLE, FS_NOT_FOUND, find_file_systems_by_token, same_owner
from resources.base import tag_dict
from resources.security.iam_role import canonical_policy

POLICY_NOT_FOUND = "PolicyNotFound"
# PutFileSystemPolicy: "The maximum size of a file system policy is 20,000 characters" (EFS API
# reference, PutFileSystemPolicy, Policy).
POLICY_MAX = 20_000
# B-IAM-2: a policy naming a role made seconds ago can be refused as an invalid principal
# (InvalidPolicyException) until IAM has propagated the role. The document itself is the stack's
# own and checked by validate, so the refusal is waited out, for a bounded time.
PRINCIPAL_VISIBLE = consistency("efs-policy-principal-visible", {"InvalidPolicyException"}, timeout=2 * 60)


def policy_text(document: dict) -> str:
    return json.dumps(document, separators=(",", ":"))


class FileSystemPolicy(Handler):
    kind = "efs_file_system_policy"
    iam = (
        reads("elasticfilesystem:DescribeFileSystemPolicy", arns=(FILE_SYSTEM_ARN,)),
        writes("elasticfilesystem:PutFileSystemPolicy", "elasticfilesystem:DeleteFileSystemPolicy", arns=(FILE_SYSTEM_ARN,),
               tag="resource"),
    )
    # No tags of its own: the ownership record lives on the file system.
    taggable = False
    service = "efs"
    expected_seconds = 1
    poll_ceiling = 1
    # The file system gone is the policy gone; PolicyNotFound: the file system has none (the
    # default policy, full access for any client that can reach a mount target).
    not_found = frozenset({FS_NOT_FOUND, POLICY_NOT_FOUND})
    fields = {
        # The lookup of a lost state, through the file system (B-EFS-2); not compared.
        "creation_token": Field(str, create_only=True),
        "file_system_id": Field(str, Change.REPLACE, why="a policy belongs to one file system"),
        # PutFileSystemPolicy replaces the whole document, in place.
        "policy": Field(dict),
    }

    def validate(self, spec):
        problems = []
        policy = spec["policy"]
        if not isinstance(policy.get("Statement"), list) or not policy["Statement"]:
            problems.append("policy needs a Statement list")
        # An ARN not made yet (UNKNOWN in a plan) counts as long as a long ARN.
        elif len(json.dumps(policy, separators=(",", ":"), default=lambda _: "x" * 96)) > POLICY_MAX:
            problems.append(f"policy is longer than {POLICY_MAX} characters (PutFileSystemPolicy)")
        return problems

    def desired(self, spec):
        return {**spec, "policy": canonical_policy(spec["policy"])}

    def describe(self, resource_id):
        return self.client.describe_file_system_policy(FileSystemId=resource_id)

    def observe(self, raw):
        attrs = {"file_system_id": raw["FileSystemId"], "policy": canonical_policy(raw["Policy"])}
        return Observed(raw["FileSystemId"], attrs, {}, raw)

    def list_owned(self, spec):
        systems = find_file_systems_by_token(self.client, spec["creation_token"])
        found = [self.read(fs["FileSystemId"]) for fs in systems if same_owner(tag_dict(fs.get("Tags")), spec)]
        return [obs for obs in found if obs is not None]


    def create(self, spec, token):
        # PutFileSystemPolicy is idempotent (it replaces the document): a retried or killed run
        # simply puts it again.
        self._put(spec["file_system_id"], spec["policy"])
        return spec["file_system_id"]

    def _put(self, fs_id: str, policy: dict) -> None:
        FILE_SYSTEM_AVAILABLE.call(
            self.clock, PRINCIPAL_VISIBLE.call, self.clock, self.client.put_file_system_policy,
            FileSystemId=fs_id, Policy=policy_text(policy),
        )

    def update_fields(self, spec, obs, diffs):
        other = [d for d in diffs if d.field != "policy"]
        if other:
            super().update_fields(spec, obs, other)
        if len(other) < len(diffs):
            self._put(obs.id, spec["policy"])

    def delete(self, obs, spec=None):
        # The default policy again; the file system follows in the same teardown.
        self.client.delete_file_system_policy(FileSystemId=obs.id)
