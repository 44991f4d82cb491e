"""The REST API's stage, named after the environment, and the deployment it serves.

A deployment is an immutable snapshot of the REST API. Its description records the REST API's
``config_hash`` at deploy time, so the stage knows whether it serves the current routes: when
the hash differs (routes changed, or the stage was pointed at another deployment by hand) a new
deployment is made and the stage re-pointed at it.

The stage also carries the security baseline of docs/configuration.md's API Gateway row: execution
logging at ERROR or INFO and detailed CloudWatch metrics on every method (methodSettings ``*/*``,
FSBP APIGateway.1), access logging in JSON to the environment's encrypted log group, and X-Ray
tracing (FSBP APIGateway.3). CreateStage takes only ``tracingEnabled``; the method settings and
the access log settings are UpdateStage patch operations, so a create is followed by one
UpdateStage (the engine's diff after the create) carrying all of them.
"""
from __future__ import annotations

import re

from resources.api.common import (
    ApiGatewayHandler,
    CONCURRENT_MODIFICATION,
    NOT_FOUND,
    api_grants,
    api_paths,
    find_rest_apis,
    get_or_none,
    patch,
)
from resources.aws.pacing import CREATE_DEPLOYMENT
from resources.aws.permissions import writes
from resources.base import Change, Field, Observed, owned_by

# B-AG-1: alphanumerics, hyphens and underscores, at most 128 characters (moto accepts anything, A-30).
STAGE_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
DESCRIPTION_PREFIX = "video-pipeline-infra "


def stage_id(api_id: str, stage_name: str) -> str:
    return f"{api_id}/{stage_name}"


def split_stage_id(resource_id: str) -> tuple[str, str]:
    api_id, _, stage_name = resource_id.partition("/")
    return api_id, stage_name


def deployment_description(config: str) -> str:
    return f"{DESCRIPTION_PREFIX}{config}"


def deployed_config(description: str | None) -> str | None:
    """The config hash a deployment of ours carries; None for a deployment made by someone else."""
    if description and description.startswith(DESCRIPTION_PREFIX):
        return description[len(DESCRIPTION_PREFIX):]
    return None


# Execution logging levels FSBP APIGateway.1 accepts (OFF fails it).
LOG_LEVELS = ("ERROR", "INFO")
# "The access log format must include at least $context.requestId or $context.extendedRequestId"
# (API Gateway developer guide, "Set up CloudWatch logging for REST APIs"; AWS refuses others).
REQUEST_ID_VARIABLES = ("$context.requestId", "$context.extendedRequestId")
# methodSettings key for every resource and method.
ALL_METHODS = "*/*"
STAGE_SETTINGS = ("log_level", "metrics_enabled", "data_trace", "tracing_enabled", "access_log_destination", "access_log_format")


def stage_settings_patch(spec: dict, fields: set[str]) -> list[dict]:
    """The UpdateStage patch operations that set ``fields`` of the stage's settings."""
    paths = {
        "log_level": ("/*/*/logging/loglevel", spec["log_level"]),
        "metrics_enabled": ("/*/*/metrics/enabled", spec["metrics_enabled"]),
        "data_trace": ("/*/*/logging/dataTrace", spec["data_trace"]),
        "tracing_enabled": ("/tracingEnabled", spec["tracing_enabled"]),
        "access_log_destination": ("/accessLogSettings/destinationArn", spec["access_log_destination"]),
        "access_log_format": ("/accessLogSettings/format", spec["access_log_format"]),
    }
    return [patch(*paths[f]) for f in STAGE_SETTINGS if f in fields]


# GetStage does not say which REST API the stage belongs to: describe adds it under this key.
API_ID = "restApiId"


class Stage(ApiGatewayHandler):
    kind = "api_stage"
    # The stage and its deployments live under their REST API: /restapis/{id}/stages, /deployments.
    iam = api_grants("/restapis") + (writes("apigateway:POST", arns=api_paths("/restapis/*")),)
    arn_path = "/restapis/{id}"  # the id is "{api}/{stage}": /restapis/{api}/stages/{stage}
    expected_seconds = 2
    poll_ceiling = 2
    # GetStage / DeleteStage on an unknown stage, or on a REST API that is gone.
    not_found = frozenset({NOT_FOUND})
    fields = {
        "rest_api_id": Field(str, Change.REPLACE, why="a stage belongs to one REST API"),
        "stage_name": Field(str, Change.REPLACE, why="the stage name is its id"),
        # A literal, for lookups where the REST API's id is unknown (teardown without state).
        "rest_api_name": Field(str, create_only=True),
        # The REST API's config_hash: a new deployment whenever it changes.
        "deployed_config": Field(str),
        # docs/configuration.md, API Gateway row (FSBP APIGateway.1, .3).
        "log_level": Field(str),
        "metrics_enabled": Field(bool),
        # Full request and response bodies in the execution logs: off, they may hold secrets.
        "data_trace": Field(bool),
        "tracing_enabled": Field(bool),
        # The access log group's ARN (without ":*") and the JSON line written per request.
        "access_log_destination": Field(str),
        "access_log_format": Field(str),
    }

    def arn(self, resource_id):
        api_id, stage_name = split_stage_id(resource_id)
        return super().arn(f"{api_id}/stages/{stage_name}")

    def validate(self, spec):
        name = spec["stage_name"]
        if isinstance(name, str) and not STAGE_NAME.fullmatch(name):
            return [f"stage name {name!r} must be 1-128 letters, digits, '-' or '_'"]  # B-AG-1
        problems = []
        if spec["log_level"] not in LOG_LEVELS:
            problems.append(f"log_level {spec['log_level']!r}: one of {', '.join(LOG_LEVELS)} (FSBP APIGateway.1)")
        fmt = spec["access_log_format"]
        if isinstance(fmt, str) and not any(v in fmt for v in REQUEST_ID_VARIABLES):
            problems.append("access_log_format must contain $context.requestId or $context.extendedRequestId")
        return problems

    def describe(self, resource_id):
        api_id, stage_name = split_stage_id(resource_id)
        return {**self.client.get_stage(restApiId=api_id, stageName=stage_name), API_ID: api_id}

    def observe(self, raw):
        api_id, config = raw[API_ID], None
        if raw.get("deploymentId"):
            # Only the stage's own deploymentId: moto crashes on an unknown deployment id.
            # A child of the REST API: one gone serves no config of ours.
            deployment = get_or_none(self.client.get_deployment, restApiId=api_id, deploymentId=raw["deploymentId"])
            config = deployed_config((deployment or {}).get("description"))
        settings = (raw.get("methodSettings") or {}).get(ALL_METHODS) or {}
        access = raw.get("accessLogSettings") or {}
        attrs = {
            "rest_api_id": api_id, "stage_name": raw["stageName"], "deployed_config": config,
            # AWS leaves out what was never set: logging OFF, metrics and data trace off.
            "log_level": settings.get("loggingLevel", "OFF"),
            "metrics_enabled": bool(settings.get("metricsEnabled", False)),
            "data_trace": bool(settings.get("dataTraceEnabled", False)),
            "tracing_enabled": bool(raw.get("tracingEnabled", False)),
            "access_log_destination": access.get("destinationArn"),
            "access_log_format": access.get("format"),
        }
        return Observed(stage_id(api_id, raw["stageName"]), attrs, dict(raw.get("tags") or {}), raw)

    def list_owned(self, spec):
        api_ids = [spec["rest_api_id"]]
        if not isinstance(spec["rest_api_id"], str):
            # In teardown the REST API's id is unknown: its name and tags find it.
            api_ids = [a["id"] for a in find_rest_apis(self.client, spec["rest_api_name"], spec)]
        found = [self.read(stage_id(api_id, spec["stage_name"])) for api_id in api_ids]
        return [obs for obs in found if obs is not None and owned_by(obs.tags, spec)]

    def _deploy(self, spec) -> str:
        CREATE_DEPLOYMENT.wait(self.clock)
        deployment = CONCURRENT_MODIFICATION.call(
            self.clock, self.client.create_deployment,
            restApiId=spec["rest_api_id"], description=deployment_description(spec["deployed_config"]),
        )
        return deployment["id"]

    def create(self, spec, token):
        # CreateDeployment(stageName=…) would create the stage without tags: deploy first, then
        # create the stage with its tags in the create call.
        deployment_id = self._deploy(spec)
        # The method and access log settings follow in one UpdateStage (the diff after create).
        self.client.create_stage(
            restApiId=spec["rest_api_id"], stageName=spec["stage_name"], deploymentId=deployment_id, tags=spec["tags"],
            tracingEnabled=spec["tracing_enabled"],
        )
        return stage_id(spec["rest_api_id"], spec["stage_name"])

    def update_fields(self, spec, obs, diffs):
        settings = {d.field for d in diffs if d.field in STAGE_SETTINGS}
        if settings:
            # One UpdateStage for every setting (C-APIGW-1: execution and access logging need the
            # account's CloudWatch role, which the stage's node waits for).
            CONCURRENT_MODIFICATION.call(
                self.clock, self.client.update_stage, restApiId=spec["rest_api_id"], stageName=spec["stage_name"],
                patchOperations=stage_settings_patch(spec, settings),
            )
        for d in diffs:
            if d.field in STAGE_SETTINGS:
                continue
            if d.field == "deployed_config":
                deployment_id = self._deploy(spec)
                CONCURRENT_MODIFICATION.call(
                    self.clock, self.client.update_stage, restApiId=spec["rest_api_id"], stageName=spec["stage_name"],
                    patchOperations=[patch("/deploymentId", deployment_id)],
                )
            else:
                super().update_fields(spec, obs, [d])

    def delete(self, obs, spec=None):
        # Deleting the REST API would remove the stage too; the stage goes first in teardown.
        self.client.delete_stage(restApiId=obs.attrs["rest_api_id"], stageName=obs.attrs["stage_name"])

    def outputs(self, obs):
        return self._outputs(obs.attrs["rest_api_id"], obs.attrs["stage_name"])

    def planned_outputs(self, spec):
        # All follow from the REST API's id and the stage's name: known once that API exists.
        return self._outputs(spec["rest_api_id"], spec["stage_name"]) if isinstance(spec["rest_api_id"], str) else {}

    def _outputs(self, api_id: str, stage_name: str) -> dict:
        region = self.client.meta.region_name
        return {
            "id": stage_id(api_id, stage_name),
            "stage_name": stage_name,
            # What WAF associates a web ACL with (AssociateWebACL ResourceArn).
            "arn": self.arn(stage_id(api_id, stage_name)),
            "invoke_url": f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage_name}",
        }
