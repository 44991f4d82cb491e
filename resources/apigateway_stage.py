"""The REST API's stage, named after the environment, and the deployment it serves.

A deployment is an immutable snapshot of the REST API. Its description records the REST API's
``config_hash`` at deploy time, so the stage knows whether it serves the current routes: when
the hash differs (routes changed, or the stage was pointed at another deployment by hand) a new
deployment is made and the stage re-pointed at it.
"""
from __future__ import annotations

import re

from resources.apigateway_common import (
    CONCURRENT_MODIFICATION,
    NOT_FOUND,
    ApiGatewayHandler,
    find_rest_apis,
    get_or_none,
    patch,
)
from resources.pacing import CREATE_DEPLOYMENT
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


# GetStage does not say which REST API the stage belongs to: describe adds it under this key.
API_ID = "restApiId"


class Stage(ApiGatewayHandler):
    kind = "api_stage"
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
    }

    def arn(self, resource_id):
        api_id, stage_name = split_stage_id(resource_id)
        return super().arn(f"{api_id}/stages/{stage_name}")

    def validate(self, spec):
        name = spec["stage_name"]
        if isinstance(name, str) and not STAGE_NAME.fullmatch(name):
            return [f"stage name {name!r} must be 1-128 letters, digits, '-' or '_' (B-AG-1)"]
        return []

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
        attrs = {"rest_api_id": api_id, "stage_name": raw["stageName"], "deployed_config": config}
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
        self.client.create_stage(
            restApiId=spec["rest_api_id"], stageName=spec["stage_name"], deploymentId=deployment_id, tags=spec["tags"]
        )
        return stage_id(spec["rest_api_id"], spec["stage_name"])

    def update_fields(self, spec, obs, diffs):
        for d in diffs:
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
        api_id, stage_name = obs.attrs["rest_api_id"], obs.attrs["stage_name"]
        region = self.client.meta.region_name
        return {
            "id": obs.id,
            "stage_name": stage_name,
            "invoke_url": f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage_name}",
        }
