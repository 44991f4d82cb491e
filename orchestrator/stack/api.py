"""The video metadata REST API: private integration through a VPC link to the internal NLB."""
from __future__ import annotations

from orchestrator.config import EnvConfig
from orchestrator.spec import Join, Node, Ref
from orchestrator.stack.common import spec_factory
from resources.apigateway import ApiKey, RestApi, Stage, UsagePlan, VpcLink


def _method(path: str, verb: str, port: int, with_id: bool) -> dict:
    method = {
        "authorization_type": "NONE",
        "api_key_required": True,
        "request_parameters": {"method.request.path.id": True} if with_id else {},
        "integration": {
            "type": "HTTP_PROXY",
            "http_method": verb,
            "uri": Join("http://", Ref("elb.nlb", "dns_name"), f":{port}{path}"),
            "connection_type": "VPC_LINK",
            "connection_id": Ref("apigw.vpc_link"),
            "request_parameters": {"integration.request.path.id": "method.request.path.id"} if with_id else {},
        },
    }
    return method


def api_nodes(env: str, cfg: EnvConfig) -> list[Node]:

    spec = spec_factory(env, cfg)
    port = cfg.api_port
    routes = {
        "/videos": {"GET": _method("/videos", "GET", port, False), "POST": _method("/videos", "POST", port, False)},
        "/videos/{id}": {"GET": _method("/videos/{id}", "GET", port, True)},
    }
    return [
        Node("apigw.vpc_link", VpcLink, spec(
            f"vpc-link-{env}", description=f"API Gateway to the internal NLB of {env}", target_arns=[Ref("elb.nlb", "arn")],
        )),
        Node("apigw.rest_api", RestApi, spec(
            f"video-metadata-api-{env}", description="Video metadata API of the StreamTech video pipeline",
            endpoint_type="REGIONAL", api_key_source="HEADER", routes=routes,
        )),
        Node("apigw.stage", Stage, spec(
            f"api-stage-{env}", rest_api_id=Ref("apigw.rest_api"), stage_name=env,
            rest_api_name=f"video-metadata-api-{env}",  # for teardown without state
            # A new deployment whenever the routes the REST API serves change.
            deployed_config=Ref("apigw.rest_api", "config_hash"),
        )),
        Node("apigw.api_key", ApiKey, spec(f"api-key-{env}", description=f"Clients of the {env} video metadata API", enabled=True)),
        Node("apigw.usage_plan", UsagePlan, spec(
            f"usage-plan-{env}", description=f"Throttling for the {env} video metadata API",
            throttle={"rateLimit": cfg.api_throttle_rate, "burstLimit": cfg.api_throttle_burst},
            api_stages=[{"apiId": Ref("apigw.rest_api"), "stage": Ref("apigw.stage", "stage_name")}],
            api_key_ids=[Ref("apigw.api_key")],
        )),
    ]
