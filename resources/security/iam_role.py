"""IAM role with its trust policy, inline policies and attached managed policies.

A role name is unique in the account, so the name is the id. Policies are compared in one
canonical form: IAM answers URL-encoded JSON text (boto3 decodes it, an emulator may not) and
keeps "Action": "x" and "Action": ["x"] apart although they mean the same.
"""
from __future__ import annotations

import json
import re
import urllib.parse

from botocore.exceptions import ClientError

from resources.aws import error_code, ignore_codes
from resources.aws.permissions import reads, writes
from resources.base import MANAGED_BY, Field, Handler, Observed, ResourceError, owned_by, tag_dict, tag_list

NOT_FOUND = "NoSuchEntity"
ALREADY_EXISTS = "EntityAlreadyExists"
# B-IAM-1: 1-64 of [\w+=,.@-] (ASCII word characters); moto checks neither (docs/aws-behaviours.md A-24).
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
# Elements that take one value or a list of values with the same meaning.
LIST_ELEMENTS = ("Action", "NotAction", "Resource", "NotResource")
# Placeholders a policy in the stack may use for the caller's account and region, known only once
# credentials are (the stack is built before any call). The same ones the KMS key policy uses
# (resources/security/kms_key.py), filled in by the handler's ``desired`` from the cached account id.
ACCOUNT = "${AWS::AccountId}"
REGION = "${AWS::Region}"
# IAM policy grammar, "Condition operators": each condition key has a type, and the operator must
# be of that type. ARN-typed keys (aws:SourceArn, aws:PrincipalArn, *Arn service keys) take the
# ARN operators; String operators on them "work" but bypass ARN matching (docs/configuration.md IAM row).
ARN_OPERATORS = ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike")
STRING_OPERATORS = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
                    "StringLike", "StringNotLike")
# Global keys of type String that name an account (aws:SourceAccount, aws:PrincipalAccount …).
STRING_KEYS = ("aws:sourceaccount", "aws:principalaccount", "aws:resourceaccount", "aws:sourceorgid",
               "aws:principalorgid", "aws:resourceorgid")


def _mentions(value, marker: str) -> bool:
    if isinstance(value, str):
        return marker in value
    if isinstance(value, dict):
        return any(_mentions(v, marker) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, marker) for v in value)
    return False


def fill_placeholders(value, account: str, region: str):
    """``value`` with ${AWS::AccountId} and ${AWS::Region} replaced in every string (values not
    known yet, UNKNOWN in a plan, are left as they are)."""
    if isinstance(value, str):
        return value.replace(ACCOUNT, account).replace(REGION, region)
    if isinstance(value, dict):
        return {k: fill_placeholders(v, account, region) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_placeholders(v, account, region) for v in value]
    return value


def _operator_base(operator: str) -> str:
    # "ForAnyValue:StringLike" and "ArnLikeIfExists" are the same operator types.
    base = operator.split(":")[-1]
    return base[: -len("IfExists")] if base.endswith("IfExists") else base


def policy_problems(document: dict, what: str) -> list[str]:
    """IAM.1/IAM.21-style rules the stack holds its own policies to, before any call: no Allow of
    "*" actions on "*" resources; a condition key of ARN type under an ARN operator, an account key
    under a String operator."""
    problems = []
    for statement in _statements(document):
        if not isinstance(statement, dict):
            continue
        sid = statement.get("Sid") or "a statement"
        problems += _allow_problems(statement, sid, what)
        problems += _condition_problems(statement, sid, what)
    return problems


def _statements(document) -> list:
    # A policy's Statement may be one statement or a list of them.
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return statements if isinstance(statements, list) else [statements]


def _allow_problems(statement: dict, sid: str, what: str) -> list[str]:
    """An Allow of every action on every resource (FSBP IAM.1), or of every action of a service."""
    problems = []
    actions, resources = statement.get("Action", []), statement.get("Resource", [])
    actions = actions if isinstance(actions, list) else [actions]
    resources = resources if isinstance(resources, list) else [resources]
    if statement.get("Effect") == "Allow" and "*" in actions and "*" in resources:
        problems.append(f"{what}: {sid} allows every action on every resource (FSBP IAM.1)")
    # FSBP IAM.21: no wildcard of a whole service ("s3:*") in a policy the stack makes.
    wild = sorted(a for a in actions if isinstance(a, str) and a.endswith(":*"))
    if statement.get("Effect") == "Allow" and wild:
        problems.append(f"{what}: {sid} allows every action of a service ({', '.join(wild)}; FSBP IAM.21)")
    return problems


def _condition_problems(statement: dict, sid: str, what: str) -> list[str]:
    """A condition key under an operator of another type than its own (ARN or String)."""
    problems = []
    for operator, tests in (statement.get("Condition") or {}).items():
        base = _operator_base(operator)
        for key in tests if isinstance(tests, dict) else {}:
            low = key.lower()
            if low.endswith("arn") and base not in ARN_OPERATORS:
                problems.append(f"{what}: {sid}: condition key {key} is an ARN: use ArnEquals or ArnLike, not {operator}")
            elif low in STRING_KEYS and base not in STRING_OPERATORS:
                problems.append(f"{what}: {sid}: condition key {key} is a string: use StringEquals, not {operator}")
    return problems


def _values(value) -> list:
    # key=str: in a plan, a resource ARN not created yet is an UNKNOWN placeholder.
    return sorted(value, key=str) if isinstance(value, list) else [value]


def canonical_statement(statement: dict) -> dict:
    out = dict(statement)
    for key in LIST_ELEMENTS:
        if key in out:
            out[key] = _values(out[key])
    for key in ("Principal", "NotPrincipal"):
        if isinstance(out.get(key), dict):  # "Principal": "*" stays as it is
            out[key] = {kind: _values(ids) for kind, ids in out[key].items()}
    if "Condition" in out:
        out["Condition"] = {op: {k: _values(v) for k, v in tests.items()} for op, tests in out["Condition"].items()}
    return out


def canonical_policy(document) -> dict:
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return {**document, "Statement": [canonical_statement(s) for s in statements]}


def policy_text(document: dict) -> str:
    return json.dumps(document, separators=(",", ":"))


def same_name(a: str | None, b: str) -> bool:
    # B-IAM-1: role names are not distinguished by case.
    return a is not None and a.lower() == b.lower()


# The shared-reads key of the account's roles with their policies (also seeded by drift --all).
ROLE_DETAILS = ("iam", "get_account_authorization_details", "Role")
ROLE_LIST = ("iam", "list_roles")
ROLE_ARN = "arn:{partition}:iam::{account}:role/{name}"


class IamRole(Handler):
    kind = "iam_role"
    service = "iam"
    iam = (
        # ListRoles and GetAccountAuthorizationDetails list the account (one call for every role).
        reads("iam:ListRoles", "iam:GetAccountAuthorizationDetails"),
        reads("iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
              arns=(ROLE_ARN,)),
        writes("iam:CreateRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy",
               "iam:DeleteRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:DeleteRole", arns=(ROLE_ARN,)),
        # Only AWS's managed service-role policies are attached (RDS monitoring, API Gateway logging).
        writes("iam:AttachRolePolicy", "iam:DetachRolePolicy", arns=(ROLE_ARN,),
               condition={"ArnLike": {"iam:PolicyARN": "arn:{partition}:iam::aws:policy/service-role/*"}}),
    )
    poll_ceiling = 1
    # The name is the id (GetRole, DeleteRole); a role has no lifecycle: it exists, it is ready.
    not_found = frozenset({NOT_FOUND})
    fields = {
        "description": Field((str, type(None))),
        "assume_role_policy": Field(dict),
        "inline_policies": Field(dict),
        "managed_policy_arns": Field(list),
    }

    def validate(self, spec):
        problems = []
        if not ROLE_NAME.fullmatch(spec["name"]):
            problems.append(f"role name {spec['name']!r}: 1-64 letters, digits and _+=,.@-")  # B-IAM-1
        problems += policy_problems(spec["assume_role_policy"], "trust policy")
        for name, document in sorted(spec["inline_policies"].items()):
            problems += policy_problems(document, f"policy {name}")
        return problems

    def desired(self, spec):
        policies = {"assume_role_policy": spec["assume_role_policy"], "inline_policies": spec["inline_policies"]}
        # The account is asked only of a stack that names it (one cached GetCallerIdentity a run).
        if _mentions(policies, ACCOUNT) or _mentions(policies, REGION):
            account = self.aws.account_id() if _mentions(policies, ACCOUNT) else ACCOUNT
            policies = fill_placeholders(policies, account, self.aws.region)
        return {
            **spec,
            "description": spec["description"] or "",
            "assume_role_policy": canonical_policy(policies["assume_role_policy"]),
            "inline_policies": {k: canonical_policy(v) for k, v in policies["inline_policies"].items()},
            "managed_policy_arns": sorted(spec["managed_policy_arns"], key=str),
        }

    def describe(self, resource_id):
        return self.client.get_role(RoleName=resource_id)["Role"]

    def observe(self, raw, detail: dict | None = None):
        """``detail``: the role's entry in GetAccountAuthorizationDetails, which holds its inline
        and attached policies (one listing for every role of a walk); else they are read here."""
        role, name = raw, raw["RoleName"]
        if detail is not None:
            inline = {p["PolicyName"]: canonical_policy(p["PolicyDocument"]) for p in detail.get("RolePolicyList", [])}
            attached = [p["PolicyArn"] for p in detail.get("AttachedManagedPolicies", [])]
        else:
            inline_names = [
                n for page in self.client.get_paginator("list_role_policies").paginate(RoleName=name) for n in page["PolicyNames"]
            ]
            inline = {
                n: canonical_policy(self.client.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"])
                for n in inline_names
            }
            attached = [
                p["PolicyArn"]
                for page in self.client.get_paginator("list_attached_role_policies").paginate(RoleName=name)
                for p in page["AttachedPolicies"]
            ]
        attrs = {
            "description": role.get("Description") or "",
            "assume_role_policy": canonical_policy(role["AssumeRolePolicyDocument"]),
            "inline_policies": inline,
            "managed_policy_arns": sorted(attached),
        }
        return Observed(name, attrs, tag_dict(role.get("Tags")), role)

    noun = "IAM role"

    def known_id(self, spec):
        # The name is the identity. A role of that name is ours if the state recorded it or it
        # carries our ownership tags; anything else is someone else's role (the engine says so).
        return spec["name"]

    def listed(self, spec):
        """GetRole for every role of the walk (of every environment under ``bin/drift --all``)
        from two account-wide listings: ListRoles has the description but no tags (IAM's listings
        leave Tags out), GetAccountAuthorizationDetails the tags, trust policy and policies but
        no description. A role in one and not the other (deleted between them) is left out: the
        engine asks for it by name."""
        def merge() -> dict[str, dict]:
            roles = {}
            for listed in self.shared.account(ROLE_LIST, self._list_roles).values():
                detail = self._detail(listed["RoleName"])
                if detail is not None:
                    roles[listed["RoleName"]] = {**listed, "Tags": detail.get("Tags", []),
                                                 "AssumeRolePolicyDocument": detail["AssumeRolePolicyDocument"]}
            return roles

        # Merged once for every role node of the walk (of every walk under --all), not per node.
        return self.shared.account(("iam", "roles_listed"), merge)

    def observe_listed_item(self, raw, items, across):
        # The policies from the walk's GetAccountAuthorizationDetails, no per-role reads.
        return self.observe(raw, self._detail(raw["RoleName"]))

    def _list_roles(self) -> dict[str, dict]:
        pages = self.client.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 1000})
        return {r["RoleName"].lower(): r for page in pages for r in page["Roles"]}

    def _detail(self, name: str) -> dict | None:
        """The role's policies from one GetAccountAuthorizationDetails listing of the walk: the
        stack's roles and their policies in one or two calls instead of about eighteen
        (ListRolePolicies, GetRolePolicy, ListAttachedRolePolicies per role)."""
        if self.shared is None:
            return None

        def fetch() -> dict[str, dict]:
            pages = self.client.get_paginator("get_account_authorization_details").paginate(
                Filter=["Role"], PaginationConfig={"PageSize": 1000})
            return {r["RoleName"].lower(): r for page in pages for r in page["RoleDetailList"]}

        return self.shared.account(ROLE_DETAILS, fetch).get(name.lower())

    def list_owned(self, spec):
        # Teardown: never a role that does not carry our ownership record.
        role = self.lookup(spec["name"])
        return [self.observe(role)] if role and owned_by(tag_dict(role.get("Tags")), spec) else []

    def create(self, spec, token):
        # CreateRole has no idempotency token; the name is the key. Inline and managed
        # policies follow through update_fields.
        described = {"Description": spec["description"]} if spec["description"] else {}
        try:
            self.client.create_role(
                RoleName=spec["name"],
                AssumeRolePolicyDocument=policy_text(spec["assume_role_policy"]),
                Tags=tag_list(spec["tags"]),
                **described,
            )
        except ClientError as exc:
            if error_code(exc) == ALREADY_EXISTS:  # e.g. the same name in another case
                raise ResourceError(f"IAM role {spec['name']} exists but is not managed by {MANAGED_BY}") from None
            raise
        return spec["name"]

    def update_fields(self, spec, obs, diffs):
        name = obs.id
        for d in diffs:
            if d.field == "assume_role_policy":
                self.client.update_assume_role_policy(RoleName=name, PolicyDocument=policy_text(d.expected))
            elif d.field == "description":
                self.client.update_role(RoleName=name, Description=d.expected)
            elif d.field == "inline_policies":
                have = d.actual or {}
                for policy, document in sorted(d.expected.items()):
                    if have.get(policy) != document:
                        self.client.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=policy_text(document))
                # Policies are children of the role: one removed by someone else meanwhile
                # (NoSuchEntity) is done, and must not stop the others.
                for policy in sorted(set(have) - set(d.expected)):
                    ignore_codes({NOT_FOUND}, self.client.delete_role_policy, RoleName=name, PolicyName=policy)
            elif d.field == "managed_policy_arns":
                want, have = set(d.expected), set(d.actual or [])
                for arn in sorted(want - have):
                    self.client.attach_role_policy(RoleName=name, PolicyArn=arn)
                for arn in sorted(have - want):
                    ignore_codes({NOT_FOUND}, self.client.detach_role_policy, RoleName=name, PolicyArn=arn)
            else:
                super().update_fields(spec, obs, [d])

    def set_tags(self, obs, tags):
        self.client.tag_role(RoleName=obs.id, Tags=tag_list(tags))

    def unset_tags(self, obs, keys):
        self.client.untag_role(RoleName=obs.id, TagKeys=keys)

    def delete(self, obs, spec=None):
        # DeleteRole answers DeleteConflict while policies are still attached or embedded. The
        # policies are children: one already gone (NoSuchEntity, also when the whole role is)
        # must not stop the others; the role's own NoSuchEntity is the engine's "already gone".
        for policy in obs.attrs["inline_policies"]:
            ignore_codes({NOT_FOUND}, self.client.delete_role_policy, RoleName=obs.id, PolicyName=policy)
        for arn in obs.attrs["managed_policy_arns"]:
            ignore_codes({NOT_FOUND}, self.client.detach_role_policy, RoleName=obs.id, PolicyArn=arn)
        self.client.delete_role(RoleName=obs.id)

    def planned_outputs(self, spec):
        # CreateRole with the default path "/": the ARN is the account's and the name's.
        arn = f"arn:{self.client.meta.partition}:iam::{self.aws.account_id()}:role/{spec['name']}"
        return {"id": spec["name"], "name": spec["name"], "arn": arn}

    def outputs(self, obs):
        return {"id": obs.id, "name": obs.id, "arn": obs.raw["Arn"]}
