"""The resource policy of a secret the stack owns (docs/configuration.md "secrets" row).

One policy per secret, so the secret's ARN is the policy's id. It carries no tags: the ownership
record lives on the secret, found by its name after a state loss (the node's name is the
secret's). IAM policy grammar applies, so documents are compared in IAM's canonical form.

What the policy says (orchestrator/stack/security.py ``secret_policy``): only the roles that read
the secret, and the principals that administer the environment (``secret_admin_principals``; by
default the environment's role, else the account), may GetSecretValue; every other principal is
denied. Nothing in it depends on who runs the tool, so every run, as any principal, wants the same
document. PutResourcePolicy is called with BlockPublicPolicy, so Secrets Manager refuses a
document that would open the secret wider.
"""
from __future__ import annotations

import json

from resources.aws.permissions import reads, writes
from resources.base import Change, Field, Handler, Observed, owned_by, tag_dict
from resources.aws.consistency import consistency
from resources.security.secret import SECRET_ARN
from resources.security.iam_role import ACCOUNT, REGION, canonical_policy, fill_placeholders, policy_problems, policy_text
from resources.security.secret import NOT_FOUND, find_secret_by_name

# PutResourcePolicy ResourcePolicy: 1-20480 characters (Secrets Manager API reference).
POLICY_MAX = 20_480
# B-IAM-2: a policy naming a role made seconds ago is refused as malformed ("This resource policy
# contains an unsupported principal") until IAM has propagated the role; the document is the
# stack's own and checked by validate, so the refusal is waited out, for a bounded time.
PRINCIPAL_VISIBLE = consistency("secret-policy-principal-visible", {"MalformedPolicyDocumentException"}, timeout=2 * 60)


def _mentions(value, marker: str) -> bool:
    return marker in json.dumps(value, default=lambda _: "")


class SecretPolicy(Handler):
    kind = "secret_policy"
    # No tags of its own: the ownership record lives on the secret.
    taggable = False
    service = "secretsmanager"
    iam = (
        reads("secretsmanager:GetResourcePolicy", arns=(SECRET_ARN,)),
        writes("secretsmanager:PutResourcePolicy", "secretsmanager:DeleteResourcePolicy", arns=(SECRET_ARN,)),
    )
    expected_seconds = 1
    poll_ceiling = 1
    # The secret gone is the policy gone; a secret without a policy is answered without
    # ResourcePolicy (describe: None).
    not_found = frozenset({NOT_FOUND})
    fields = {
        "secret_arn": Field(str, Change.REPLACE, why="a policy belongs to one secret"),
        # PutResourcePolicy replaces the whole document, in place.
        "policy": Field(dict),
    }

    def validate(self, spec):
        problems = []
        policy = spec["policy"]
        if not isinstance(policy.get("Statement"), list) or not policy["Statement"]:
            return ["policy needs a Statement list"]
        problems += policy_problems(policy, "policy")
        # An ARN not made yet (UNKNOWN in a plan) counts as long as a long ARN.
        if len(json.dumps(policy, separators=(",", ":"), default=lambda _: "x" * 96)) > POLICY_MAX:
            problems.append(f"policy is longer than {POLICY_MAX} characters (PutResourcePolicy)")
        return problems

    def desired(self, spec):
        policy = spec["policy"]
        if _mentions(policy, ACCOUNT) or _mentions(policy, REGION):
            policy = fill_placeholders(policy, self.aws.account_id(), self.aws.region)
        return {**spec, "policy": canonical_policy(policy)}

    def describe(self, resource_id):
        answer = self.client.get_resource_policy(SecretId=resource_id)
        # No ResourcePolicy: the secret has none, which is this resource not existing.
        return answer if answer.get("ResourcePolicy") else None

    def observe(self, raw):
        attrs = {"secret_arn": raw["ARN"], "policy": canonical_policy(raw["ResourcePolicy"])}
        return Observed(raw["ARN"], attrs, {}, raw)

    def list_owned(self, spec):
        # One ListSecrets by name (the secret's handler's own lookup), then the policy.
        secret = find_secret_by_name(self.client, spec["name"])
        if secret is None or not owned_by(tag_dict(secret.get("Tags")), spec):
            return []
        found = self.read(secret["ARN"])
        return [found] if found is not None else []


    def create(self, spec, token):
        # PutResourcePolicy replaces the document: a retried or killed run puts it again.
        self._put(spec["secret_arn"], spec["policy"])
        return spec["secret_arn"]

    def _put(self, arn: str, policy: dict) -> None:
        PRINCIPAL_VISIBLE.call(
            self.clock, self.client.put_resource_policy,
            SecretId=arn, ResourcePolicy=policy_text(policy), BlockPublicPolicy=True,
        )

    def update_fields(self, spec, obs, diffs):
        other = [d for d in diffs if d.field != "policy"]
        if other:
            super().update_fields(spec, obs, other)
        if len(other) < len(diffs):
            self._put(obs.id, spec["policy"])

    def delete(self, obs, spec=None):
        # The secret follows in the same teardown; an environment kept, a policy removed.
        self.client.delete_resource_policy(SecretId=obs.id)
