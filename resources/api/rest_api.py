"""The video metadata REST API, with its resources, methods and integrations as one desired state.

``routes`` maps each path to its methods, each with its integration; it is read back with ONE
GetResources(embed=methods) call, which returns every resource with its methods and their
integrations (API reference, GetResources response syntax). Paths the spec leaves implicit
("/videos" under "/videos/{id}") are part of the desired state with no methods, so a resource
added by hand is seen, and removed, like any other drift.
"""
from __future__ import annotations

import hashlib
import json

from resources.api.common import (
    ApiGatewayHandler,
    CONCURRENT_MODIFICATION,
    NOT_FOUND,
    api_grants,
    api_paths,
    find_rest_apis,
    list_all,
    patch,
)
from resources.aws.pacing import CREATE_REST_API, DELETE_REST_API
from resources.aws import ignore_codes
from resources.aws.permissions import writes
from resources.base import Field, FieldDiff, Observed

ROOT = "/"


# -- normal form -------------------------------------------------------------------------------
def parent_path(path: str) -> str:
    return path.rsplit("/", 1)[0] or ROOT


def depth(path: str) -> int:
    return 0 if path == ROOT else path.count("/")


def normal_integration(i: dict) -> dict:
    return {
        "type": i["type"],
        "http_method": i.get("http_method"),
        "uri": i.get("uri"),
        "connection_type": i.get("connection_type", "INTERNET"),
        "connection_id": i.get("connection_id"),
        "request_parameters": dict(i.get("request_parameters") or {}),
    }


def normal_method(m: dict) -> dict:
    return {
        "authorization_type": m.get("authorization_type", "NONE"),
        "api_key_required": bool(m.get("api_key_required", False)),
        "request_parameters": dict(m.get("request_parameters") or {}),
        "integration": normal_integration(m["integration"]) if m.get("integration") else None,
    }


def normal_routes(routes: dict) -> dict:
    out = {path: {verb.upper(): normal_method(m) for verb, m in methods.items()} for path, methods in routes.items()}
    for path in list(out):
        while path != ROOT and (path := parent_path(path)) != ROOT:
            out.setdefault(path, {})
    return dict(sorted(out.items()))


def observe_method(m: dict) -> dict:
    """AWS's method in the spec's shape: defaults AWS adds (timeoutInMillis, cacheNamespace,
    passthroughBehavior, method responses) are not ours and are dropped."""
    i = m.get("methodIntegration")
    integration = None
    if i:
        integration = {
            "type": i.get("type"),
            "http_method": i.get("httpMethod"),
            "uri": i.get("uri"),
            "connection_type": i.get("connectionType", "INTERNET"),
            "connection_id": i.get("connectionId"),
            "request_parameters": i.get("requestParameters") or {},
        }
    return normal_method({
        "authorization_type": m.get("authorizationType"),
        "api_key_required": m.get("apiKeyRequired"),
        "request_parameters": m.get("requestParameters"),
        "integration": integration,
    })


def observe_routes(resources: list[dict]) -> dict:
    routes = {}
    for r in resources:
        methods = r.get("resourceMethods") or {}
        if r["path"] != ROOT or methods:  # the root always exists; it is ours only with methods
            routes[r["path"]] = {verb: observe_method(m) for verb, m in methods.items()}
    return dict(sorted(routes.items()))


def config_hash(routes: dict) -> str:
    # default=repr: in a plan a route's target may not be known yet (the VPC link it names is
    # being replaced): its placeholder hashes too, so the stage still shows its redeployment.
    return hashlib.sha256(json.dumps(routes, sort_keys=True, default=repr).encode()).hexdigest()


def routes_diff(want: dict, have: dict) -> list[FieldDiff]:
    diffs = []
    for path in sorted(set(want) | set(have)):
        if path not in have or path not in want:
            diffs.append(FieldDiff(f"routes.{path}", want.get(path), have.get(path)))
            continue
        for verb in sorted(set(want[path]) | set(have[path])):
            if want[path].get(verb) != have[path].get(verb):
                diffs.append(FieldDiff(f"routes.{path}.{verb}", want[path].get(verb), have[path].get(verb)))
    return diffs


class RestApi(ApiGatewayHandler):
    kind = "rest_api"
    # Its resources, methods and integrations are under /restapis/{id}/ too: POST, PUT, DELETE.
    iam = api_grants("/restapis") + (writes("apigateway:PUT", "apigateway:POST", arns=api_paths("/restapis/*")),)
    # bin/drift --all: one listing for every environment (base.Handler.account_listing).
    account_listing = ("get_rest_apis", "items", "id", 500)
    arn_path = "/restapis/{id}"
    expected_seconds = 2
    poll_ceiling = 2
    not_found = frozenset({NOT_FOUND})
    fields = {
        "description": Field(str),
        "endpoint_type": Field(str),
        "api_key_source": Field(str),
        # path -> {verb: method with its integration}; diffed per path and verb (routes_diff).
        # Compared route by route, method by method (routes.PATH.VERB in the plan).
        "routes": Field(dict, expand=routes_diff),
    }

    def desired(self, spec):
        return {**spec, "routes": normal_routes(spec["routes"])}

    def describe(self, resource_id):
        # Usable as soon as it exists (no status): the base status is ready.
        return self.client.get_rest_api(restApiId=resource_id)

    def observe(self, api):
        resources = list_all(self.client, "get_resources", restApiId=api["id"], embed=["methods"])
        attrs = {
            "description": api.get("description", ""),
            "endpoint_type": (api.get("endpointConfiguration", {}).get("types") or ["EDGE"])[0],
            "api_key_source": api.get("apiKeySource", "HEADER"),
            "routes": observe_routes(resources),
        }
        return Observed(api["id"], attrs, dict(api.get("tags") or {}), {"api": api, "resources": resources})

    def list_owned(self, spec):
        # Names are not unique: a namesake without our tags is not ours.
        return [self.observe(api) for api in find_rest_apis(self.client, spec["name"], spec)]

    def create(self, spec, token):
        # No idempotency token; resources and methods follow through update_fields.
        CREATE_REST_API.wait(self.clock)
        api = self.client.create_rest_api(
            name=spec["name"],
            description=spec["description"],
            endpointConfiguration={"types": [spec["endpoint_type"]]},
            apiKeySource=spec["api_key_source"],
            tags=spec["tags"],
        )
        return api["id"]

    def update_fields(self, spec, obs, diffs):
        fields = {d.field: d for d in diffs}
        ops = []
        if "description" in fields:
            ops.append(patch("/description", spec["description"]))
        if "api_key_source" in fields:
            ops.append(patch("/apiKeySource", spec["api_key_source"]))
        if "endpoint_type" in fields:
            ops.append(patch(f"/endpointConfiguration/types/{fields['endpoint_type'].actual}", spec["endpoint_type"]))
        if ops:
            CONCURRENT_MODIFICATION.call(self.clock, self.client.update_rest_api, restApiId=obs.id, patchOperations=ops)
        if any(f.startswith("routes") for f in fields):
            RouteConverger(self.client, self.clock, obs).converge(spec["routes"])

    def delete(self, obs, spec=None):
        # Only ever an id just found: moto crashes on deleting an unknown REST API.
        DELETE_REST_API.wait(self.clock)
        self.client.delete_rest_api(restApiId=obs.id)

    def outputs(self, obs):
        # The stage redeploys when this changes.
        return {"id": obs.id, "config_hash": config_hash(obs.attrs["routes"])}

    def outputs_after_update(self, spec, obs):
        # A plan that changes routes shows the stage's redeployment too.
        return {"config_hash": config_hash(spec["routes"])}


class RouteConverger:
    """Applies the routes diff to one REST API, from the resources its last read returned.

    Every resource id used as a parent comes from that read or from the create call that just
    made it: CreateResource under an unverified parent corrupts moto's API (A-29), and a second
    resource or method at the same place is a ConflictException on AWS (B-AG-3).
    """

    def __init__(self, client, clock, obs: Observed):
        self.client, self.clock, self.api_id = client, clock, obs.id
        self.ids = {r["path"]: r["id"] for r in obs.raw["resources"]}
        self.have = obs.attrs["routes"]

    def _call(self, fn, **kwargs):
        return CONCURRENT_MODIFICATION.call(self.clock, fn, restApiId=self.api_id, **kwargs)

    def _ignoring_not_found(self, fn, **kwargs):
        # A child (resource, method) already gone is what a delete wanted: the others go on.
        return CONCURRENT_MODIFICATION.call(self.clock, ignore_codes, {NOT_FOUND}, fn, restApiId=self.api_id, **kwargs)

    def converge(self, want: dict) -> None:
        for path in sorted(want, key=lambda p: (depth(p), p)):  # parents first
            if path not in self.ids:
                created = self._call(
                    self.client.create_resource, parentId=self.ids[parent_path(path)], pathPart=path.rsplit("/", 1)[1]
                )
                self.ids[path] = created["id"]
            self._converge_methods(path, want[path], self.have.get(path, {}))
        if ROOT not in want:
            self._converge_methods(ROOT, {}, self.have.get(ROOT, {}))
        strays = [p for p in self.ids if p not in want and p != ROOT]
        for path in sorted(strays, key=lambda p: (-depth(p), p)):  # children first
            self._ignoring_not_found(self.client.delete_resource, resourceId=self.ids[path])

    def _converge_methods(self, path: str, want: dict, have: dict) -> None:
        resource_id = self.ids[path]
        for verb, method in sorted(want.items()):
            current = have.get(verb)
            if current == method:
                continue
            same_method = current is not None and {**current, "integration": None} == {**method, "integration": None}
            if current is not None and not same_method:
                # PutMethod on an existing method is a ConflictException on AWS: replace it whole.
                self._ignoring_not_found(self.client.delete_method, resourceId=resource_id, httpMethod=verb)
            if not same_method:
                self._call(
                    self.client.put_method, resourceId=resource_id, httpMethod=verb,
                    authorizationType=method["authorization_type"], apiKeyRequired=method["api_key_required"],
                    requestParameters=method["request_parameters"],
                )
            if method["integration"] is not None:
                self._put_integration(resource_id, verb, method["integration"])
        for verb in sorted(set(have) - set(want)):
            self._ignoring_not_found(self.client.delete_method, resourceId=resource_id, httpMethod=verb)

    def _put_integration(self, resource_id: str, verb: str, i: dict) -> None:
        # PutIntegration replaces an existing integration.
        optional = {"connectionId": i["connection_id"]} if i["connection_id"] else {}
        self._call(
            self.client.put_integration, resourceId=resource_id, httpMethod=verb, type=i["type"],
            integrationHttpMethod=i["http_method"], uri=i["uri"], connectionType=i["connection_type"],
            requestParameters=i["request_parameters"], **optional,
        )
