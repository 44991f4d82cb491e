"""The role API Gateway writes execution and access logs with, and the account setting naming it.

API Gateway logs to CloudWatch through one role per account and region (GetAccount / UpdateAccount
``cloudwatchRoleArn``), shared by every REST and WebSocket API there (docs/aws-behaviours.md C-APIGW-1;
developer guide "Set up CloudWatch logging for REST APIs"). Without it, UpdateStage refuses to
turn execution or access logging on. This node is an IAM role (trusted by apigateway.amazonaws.com
for this account only, with the AWS managed policy AmazonAPIGatewayPushToCloudWatchLogs) plus one
more field, ``account_role_set``: whether the account setting names a role.

The account setting belongs to the whole region, not to this stack:

- it is set to this role only when it is unset (or already this role): someone else's role is
  never overwritten, and then counts as in sync (their role already lets API Gateway log);
- drift reports it unset (switched off behind the tool's back); reconcile sets it again;
- it is reference-counted across the environments of this tool: every environment whose role
  exists holds a reference (found by name and ownership tags, as IAM is account-wide), and so
  does every API of the region that logs through it — a REST API stage (GetRestApis, GetStages)
  or WebSocket API stage (apigatewayv2 GetApis, GetStages) with execution or access logging on;
- teardown deletes the role and, when the account names it, first hands the setting to another
  environment's role (one being torn down at the same time counts until its role is deleted:
  that teardown hands it on again, also when it was handed the setting while deleting). With no
  other environment left and no stage logging, the setting is reset (UpdateAccount
  cloudwatchRoleArn "", as Terraform's aws_api_gateway_account reset_on_delete does) before the
  role goes, so it never names a deleted role. With no other environment but a stage logging,
  role and setting are left alone (C-APIGW-1), the role still tagged as this environment's (the
  next reconcile adopts it, drift --all shows it) and the teardown logs why it was kept.
"""
from __future__ import annotations

import structlog

from resources.aws import ignore_codes
from resources.aws.permissions import api_paths, pass_role, reads, writes
from resources.base import MANAGED_BY, Field, Refresh, Status, tag_dict
from resources.aws.consistency import consistency
from resources.security.iam_role import NOT_FOUND, IamRole, same_name

PUSH_TO_CLOUDWATCH_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
# UpdateAccount checks that API Gateway can assume the role: a role just created (or its trust
# policy just changed) is refused for a few seconds ("The role ARN does not have required
# permissions set to API Gateway"), IAM being eventually consistent (IAM user guide, "Changes
# that I make are not always immediately visible").
ROLE_USABLE = consistency("apigateway-account-role-usable", {"BadRequestException"}, timeout=60)
# The account's setting as GetAccount answers it, kept in the role's raw description.
ACCOUNT_ROLE = "ApiGatewayAccountCloudwatchRoleArn"
# Every environment's role is this followed by the environment's name (orchestrator/stack/api.py).
ROLE_PREFIX = "apigateway-cloudwatch-role-"

log = structlog.get_logger()


OTHER_ROLES = f"arn:{{partition}}:iam::{{account}}:role/{ROLE_PREFIX}*"


class ApiGatewayCloudWatchRole(IamRole):
    kind = "apigateway_cloudwatch_role"
    # The account's setting names one role for every environment: an environment's teardown reads
    # the others' roles (their names share a prefix) and hands the setting on to one of them,
    # after reading which stages of the region log through it (REST and WebSocket APIs).
    iam = IamRole.iam + (
        reads("apigateway:GET", arns=api_paths("/account", "/restapis", "/restapis/*", "/apis", "/apis/*")),
        writes("apigateway:PATCH", arns=api_paths("/account")),
        writes("iam:GetRole", "iam:ListRoleTags", arns=(OTHER_ROLES,)),
        pass_role(ROLE_PREFIX + "*", "apigateway.amazonaws.com", "PATCH /account with cloudwatchRoleArn"),
    )
    fields = {
        **IamRole.fields,
        # True: the account's cloudwatchRoleArn names a role (this one, or someone else's).
        "account_role_set": Field(bool),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Roles a teardown of this run left in place because the account names them.
        self._kept: set[str] = set()

    def _account_role(self) -> str | None:
        return self.aws.client("apigateway").get_account().get("cloudwatchRoleArn") or None

    def describe(self, resource_id):
        if resource_id in self._kept:
            # Left for the account on purpose: gone as far as this teardown is concerned.
            return None
        return super().describe(resource_id)

    def status(self, raw):
        return Refresh(Status.READY)

    def observe(self, raw, detail=None):
        obs = super().observe(raw, detail)
        # ``detail`` comes only with a find answered from the walk's listings (at the start of
        # the node's step): the account's setting is then one GetAccount for the whole run
        # (every environment of bin/drift --all); any read after a write asks again.
        account_role = (self.shared.account(("apigateway", "get_account"), self._account_role)
                        if detail is not None and self.shared is not None else self._account_role())
        obs.raw[ACCOUNT_ROLE] = account_role
        obs.attrs["account_role_set"] = account_role is not None
        return obs

    def update_fields(self, spec, obs, diffs):
        rest = [d for d in diffs if d.field != "account_role_set"]
        if rest:
            super().update_fields(spec, obs, rest)
        if any(d.field == "account_role_set" and d.expected for d in diffs):
            # Only ever from unset (a set one is in sync): never someone else's role replaced.
            if self._account_role() is None:
                self._name_in_account(obs.raw["Arn"])

    def delete(self, obs, spec=None):
        arn = obs.raw.get("Arn")
        if self._account_role() == arn:
            users = self._release(obs)
            if users:
                # C-APIGW-1: other APIs of the region log through it; not ours to take away.
                log.warning("apigateway_account_role_kept", role=obs.id, used_by=users[:5],
                            reason="the API Gateway account's cloudwatchRoleArn names it, these stages log and no other environment has a role to take it")
                self._kept.add(obs.id)
                return
        super().delete(obs, spec)
        # Another environment's teardown running at the same time may have handed the account to
        # this role after the read above (to it this role was still a live heir): hand it on again,
        # so that the setting never names a deleted role while another environment has one.
        if self._account_role() == arn:
            self._release(obs)

    def _release(self, obs) -> list[str]:
        """Turn the account's setting, which names this role, away from it: to another
        environment's role, else to none when no stage logs. Returns the stages that log through
        it when neither could be done (the setting is then left as it is)."""
        if self._hand_over(obs):
            return []
        users = self._logging_stages()
        if not users:
            self.aws.client("apigateway").update_account(
                patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ""}])
        return users

    def _hand_over(self, obs) -> str | None:
        """Name another environment's role in the account's setting; its ARN, or None when no
        other environment of this tool has one. Every environment of this tool in the account
        holds a reference while its role exists, also one being torn down right now: its own
        teardown hands the setting on again when it deletes that role."""
        heirs = self._heirs(obs)
        for name, heir in heirs:
            self._name_in_account(heir)
            # Deleted between the listing and the hand-over (its teardown read the account before
            # it named this heir, so it will not hand it on): the next one.
            if ignore_codes({NOT_FOUND}, self.client.get_role, RoleName=name) is not None:
                log.info("apigateway_account_role_handed_over", role=obs.id, to=heir)
                return heir
        if heirs:
            # Every heir went meanwhile: the setting names this role again, as before.
            self._name_in_account(obs.raw["Arn"])
        return None

    def _name_in_account(self, arn: str) -> None:
        ROLE_USABLE.call(
            self.clock, self.aws.client("apigateway").update_account,
            patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": arn}],
        )

    def _heirs(self, obs) -> list[tuple[str, str]]:
        """(name, ARN) of the other environments' roles of this kind: this node's name with
        another environment's, carrying this tool's ownership record."""
        iam = self.client
        heirs = []
        for page in iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                name = role["RoleName"]
                if not name.startswith(ROLE_PREFIX) or same_name(obs.id, name):
                    continue
                try:
                    tags = tag_dict(iam.list_role_tags(RoleName=name)["Tags"])
                except iam.exceptions.NoSuchEntityException:
                    continue  # deleted meanwhile
                if tags.get("ManagedBy") == MANAGED_BY and tags.get("Name") == name:
                    heirs.append((name, role["Arn"]))
        return sorted(heirs)

    def _logging_stages(self) -> list[str]:
        """The stages of the region that log through the account's role: REST API stages with
        execution logging (any method's loggingLevel other than OFF) or access logging, and
        WebSocket API stages with either (HTTP APIs log without the account role)."""
        v1, v2 = self.aws.client("apigateway"), self.aws.client("apigatewayv2")
        found = []
        for api in (a for page in v1.get_paginator("get_rest_apis").paginate() for a in page.get("items", [])):
            # An API deleted meanwhile (this teardown deletes its own) logs nothing.
            stages = ignore_codes({"NotFoundException"}, v1.get_stages, restApiId=api["id"]) or {}
            for stage in stages.get("item", []):
                levels = {s.get("loggingLevel", "OFF") for s in (stage.get("methodSettings") or {}).values()}
                if levels - {"OFF"} or stage.get("accessLogSettings"):
                    found.append(f"{api['id']}/{stage['stageName']}")
        for api in v2.get_apis().get("Items", []):
            if api.get("ProtocolType") != "WEBSOCKET":
                continue
            for stage in v2.get_stages(ApiId=api["ApiId"]).get("Items", []):
                routes = [stage.get("DefaultRouteSettings") or {}, *(stage.get("RouteSettings") or {}).values()]
                if {r.get("LoggingLevel", "OFF") for r in routes} - {"OFF"} or stage.get("AccessLogSettings"):
                    found.append(f"{api['ApiId']}/{stage['StageName']}")
        return found
