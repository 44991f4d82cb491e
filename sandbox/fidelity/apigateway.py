"""API Gateway, as AWS documents it where moto 5.2.5 differs.

1. A private integration's VPC link is kept and returned. moto drops PutIntegration's
   ``connectionId`` (the VPC link of a ``connectionType`` ``VPC_LINK`` integration) and never
   returns it from GetIntegration, GetMethod or GetResources(embed=methods). AWS stores it and
   returns it in every Integration (API reference, Integration.connectionId). Without it a
   private integration can never be seen as converged.
2. Tags of every taggable resource, not only stages (docs/aws-behaviours.md A-38). AWS's TagResource, UntagResource and
   GetTags take the ARN of a REST API, API key, usage plan, VPC link or stage (API reference,
   TagResource: resourceArn; "Tagging your API Gateway resources"). moto routes only stage
   ARNs: for the others the request matches no route and the answer is a 404 page, so a tag
   key the tool no longer wants could never be removed from them.
3. Logging needs the account's CloudWatch role (docs/aws-behaviours.md C-APIGW-1). UpdateStage that turns
   execution logging on (``…/logging/loglevel`` ERROR or INFO) or sets access logging
   (``/accessLogSettings/…``) while the account has no ``cloudwatchRoleArn`` is refused with
   BadRequestException "CloudWatch Logs role ARN must be set in account settings to enable
   logging" (developer guide, "Set up CloudWatch logging for REST APIs"). moto accepts it.
4. GetUsage (docs/aws-behaviours.md A-49). moto has no route for it (404 "Not yet implemented").
   AWS answers a usage plan's requests per API key and UTC day, from ``startDate`` to ``endDate``
   ("YYYY-MM-DD", both included), as ``values``: key id -> one ``[used, remaining]`` pair a day.
   moto meters nothing, so the layer counts what a test records with ``record_usage``; every
   other day reads 0 (remaining: 0, the stack's plans have no quota).
"""
from __future__ import annotations

import json
import re
from datetime import date, timedelta
from urllib.parse import unquote

from moto.apigateway import exceptions, models, responses, urls

# arn:aws:apigateway:REGION::/restapis/ID, /apikeys/ID, /usageplans/ID, /vpclinks/ID
TAGGABLE_ARN = re.compile(r"arn:[^:]+:apigateway:[^:]+::/(restapis|apikeys|usageplans|vpclinks)/([^/]+)")
BACKEND_MAPS = {"restapis": "apis", "apikeys": "keys", "usageplans": "usage_plans", "vpclinks": "vpc_links"}


def apply() -> None:
    _keep_connection_id()
    _tags_of_every_resource()
    _logging_needs_the_account_role()
    _usage_by_key_and_day()


def record_usage(plan_id: str, key_id: str, day: str, count: int = 1, *,
                 account: str = "123456789012", region: str = "us-east-1") -> None:
    """Count ``count`` requests with the key through the plan on ``day`` ("YYYY-MM-DD", UTC), as
    API Gateway would after clients called the API (kept on moto's backend, reset with it)."""
    backend = models.apigateway_backends[account][region]
    usage = backend.__dict__.setdefault("_fidelity_usage", {})
    usage[(plan_id, key_id, day)] = usage.get((plan_id, key_id, day), 0) + count


def _usage_by_key_and_day() -> None:
    urls.url_paths.setdefault("{0}/usageplans/(?P<usage_plan_id>[^/]+)/usage$", responses.APIGatewayResponse.dispatch)

    def get_usage(self):
        plan_id = self.path.split("/")[2]
        self.backend.get_usage_plan(plan_id)  # NotFoundException "Invalid Usage Plan ID specified"
        start, end = self._get_param("startDate"), self._get_param("endDate")
        try:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
        except (TypeError, ValueError):
            raise exceptions.BadRequestException("startDate and endDate must be dates such as 2016-01-01") from None
        if last < first:
            raise exceptions.BadRequestException("The end date must not be before the start date")
        keys = list(self.backend.usage_plan_keys.get(plan_id, {}))
        wanted = self._get_param("keyId")
        if wanted:
            keys = [k for k in keys if k == wanted]
        counted = self.backend.__dict__.get("_fidelity_usage", {})
        days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
        values = {k: [[counted.get((plan_id, k, d), 0), 0] for d in days] for k in keys}
        return json.dumps({"usagePlanId": plan_id, "startDate": start, "endDate": end, "values": values})

    responses.APIGatewayResponse.get_usage = get_usage


def _turns_logging_on(op: dict) -> bool:
    path, value = op.get("path", ""), str(op.get("value", ""))
    if op.get("op") != "replace":
        return False
    return path.startswith("/accessLogSettings/") or (path.endswith("/logging/loglevel") and value.upper() != "OFF")


def _logging_needs_the_account_role() -> None:
    update_stage = models.APIGatewayBackend.update_stage
    if getattr(update_stage, "_video_pipeline_fidelity", False):
        return

    def update_stage_checking_the_account(self, function_id, stage_name, patch_operations):
        if not self.account.cloudwatch_role_arn and any(_turns_logging_on(op) for op in patch_operations or []):
            raise exceptions.BadRequestException("CloudWatch Logs role ARN must be set in account settings to enable logging")
        return update_stage(self, function_id, stage_name, patch_operations)

    update_stage_checking_the_account._video_pipeline_fidelity = True
    models.APIGatewayBackend.update_stage = update_stage_checking_the_account


def _keep_connection_id() -> None:
    put_integration = responses.APIGatewayResponse.put_integration
    to_json = models.Integration.to_json

    def put_integration_keeping_connection_id(self):
        status, headers, _body = put_integration(self)
        parts = self.path.split("/")  # /restapis/{api}/resources/{resource}/methods/{verb}/integration
        integration = self.backend.get_integration(parts[2], parts[4], parts[6])
        integration.connection_id = self._get_param("connectionId")
        return status, headers, json.dumps(integration.to_json())

    def to_json_with_connection_id(self):
        out = to_json(self)
        out["connectionId"] = getattr(self, "connection_id", None)
        return out

    responses.APIGatewayResponse.put_integration = put_integration_keeping_connection_id
    models.Integration.to_json = to_json_with_connection_id


def _tags_of_every_resource() -> None:
    urls.url_paths.setdefault(
        "{0}/tags/arn:(?P<partition>[^/]+):apigateway:(?P<region_name>[^/]+)::/(?P<kind>restapis|apikeys|usageplans|vpclinks)/(?P<resource_id>[^/]+)$",
        responses.APIGatewayResponse.dispatch,
    )
    originals = {name: getattr(responses.APIGatewayResponse, name) for name in ("get_tags", "tag_resource", "untag_resource")}

    def target(self):
        """The model object a non-stage ARN names, else None (stages keep moto's own code)."""
        match = TAGGABLE_ARN.fullmatch(unquote(self.path.split("/tags/", 1)[1]))
        if not match:
            return None
        found = getattr(self.backend, BACKEND_MAPS[match[1]]).get(match[2])
        if found is None:
            raise exceptions.NotFoundException(f"Invalid resource identifier specified: {match[2]}")
        return found

    def get_tags(self):
        obj = target(self)
        return originals["get_tags"](self) if obj is None else json.dumps({"tags": obj.tags or {}})

    def tag_resource(self):
        obj = target(self)
        if obj is None:
            return originals["tag_resource"](self)
        obj.tags = {**(obj.tags or {}), **(self._get_param("tags") or {})}
        return json.dumps({})

    def untag_resource(self):
        obj = target(self)
        if obj is None:
            return originals["untag_resource"](self)
        keys = self.querystring.get("tagKeys") or []
        obj.tags = {k: v for k, v in (obj.tags or {}).items() if k not in keys}
        return json.dumps({})

    responses.APIGatewayResponse.get_tags = get_tags
    responses.APIGatewayResponse.tag_resource = tag_resource
    responses.APIGatewayResponse.untag_resource = untag_resource
