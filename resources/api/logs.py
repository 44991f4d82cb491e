"""The log group API Gateway writes a stage's execution logs to, made by the stack beforehand.

API Gateway names it itself, ``API-Gateway-Execution-Logs_{restApiId}/{stageName}``, and creates
it on the first request it logs if it does not exist: then unencrypted, kept forever and owned by
nobody (left behind by a teardown). The stack creates it first (the stage's node waits for it),
with the environment's KMS key and the configured retention like every other log group
(docs/configuration.md "logs" row), and deletes it on teardown. API Gateway then writes into it as it is.

The group's name depends on the REST API's id, so the node's name (and its Name tag) is a fixed
one and the handler derives the group's name from ``rest_api_id`` and ``stage_name``. Without
state the REST API is found by its name and tags (``rest_api_name``), like the stage.
"""
from __future__ import annotations


import re

from resources.api.common import find_rest_apis
from resources.base import MANAGED_BY, Change, Field
from resources.security.log_group import LogGroup, log_group_grants

PREFIX = "API-Gateway-Execution-Logs_"
NAME = re.compile(re.escape(PREFIX) + r"(?P<api>[^/]+)/(?P<stage>.+)")


def execution_log_group_name(rest_api_id: str, stage_name: str) -> str:
    return f"{PREFIX}{rest_api_id}/{stage_name}"


class ApiExecutionLogGroup(LogGroup):
    kind = "apigateway_execution_log_group"
    # API Gateway's name for it: its REST API's id, then the stage, named after the environment.
    iam = log_group_grants(PREFIX + "*/{env}")
    fields = {
        **LogGroup.fields,
        "rest_api_id": Field(str, Change.REPLACE, why="API Gateway names the group after the REST API's id"),
        "stage_name": Field(str, Change.REPLACE, why="API Gateway names the group after the stage"),
        "rest_api_name": Field(str, create_only=True),
    }

    def _named(self, spec: dict) -> dict:
        return {**spec, "name": execution_log_group_name(spec["rest_api_id"], spec["stage_name"])}

    def validate(self, spec):
        # The derived name is API Gateway's own; the node's name only names the node.
        return []

    def observe(self, raw):
        obs = super().observe(raw)
        parts = NAME.fullmatch(obs.id)
        obs.attrs["rest_api_id"] = parts["api"] if parts else None
        obs.attrs["stage_name"] = parts["stage"] if parts else None
        return obs

    def known_id(self, spec):
        # Named after the REST API's id: known once that API exists.
        return self._named(spec)["name"] if isinstance(spec["rest_api_id"], str) else None

    def across_prefix(self, prefix):
        # Named by the REST API's id, not the environment: every API's groups share PREFIX.
        return PREFIX

    def list_owned(self, spec):
        if isinstance(spec["rest_api_id"], str):
            return super().list_owned(self._named(spec))
        # Teardown without state: the REST API's id from its name and ownership tags.
        owner = {"tags": {**spec["tags"], "Environment": self.env, "ManagedBy": MANAGED_BY}}
        apis = find_rest_apis(self.aws.client("apigateway"), spec["rest_api_name"], owner)
        found = []
        for api in apis:
            found += super().list_owned(self._named({**spec, "rest_api_id": api["id"]}))
        return found

    def create(self, spec, token):
        return super().create(self._named(spec), token)

    def planned_outputs(self, spec):
        # Named after the REST API's id: known only when that API exists already.
        return super().planned_outputs(self._named(spec)) if isinstance(spec["rest_api_id"], str) else {}
