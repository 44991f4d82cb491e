"""Helpers for the API Gateway handler tests: the api nodes wired to an NLB the test made itself.

The NLB belongs to another handler (elb.nlb): the tests make one with their own elbv2 client in
the private subnets the network nodes converge, and put its ARN and DNS name in place of the
refs. The refs between API Gateway nodes stay: the reconciler resolves them within one run.
The network nodes run along with the api nodes (unchanged after the first run) so that the
stack outputs, which start with VpcId, resolve.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import boto3

from orchestrator.config import EnvConfig
from orchestrator.spec import Join, Node, Ref
from orchestrator.stack.api import api_nodes
from orchestrator.stack.security import key_nodes
from tests.resources import network

REGION = "us-east-1"
MANAGED_BY = "video-pipeline-infra"
KEYS = ["apigw.vpc_link", "apigw.rest_api", "apigw.stage", "apigw.api_key", "apigw.usage_plan"]
# What the stage needs since issue 15 (its logs, the account's CloudWatch role, their key): always
# converged with it. The web ACL, its association and its logging only when asked for.
STAGE_NEEDS = ["kms.key", "logs.api_access", "logs.api_execution", "iam.apigw_cloudwatch_role"]
WAF = ["waf.web_acl", "waf.association", "logs.waf", "waf.logging"]


@dataclass(frozen=True)
class Nlb:
    arn: str
    dns_name: str


NETWORK = ("subnet.private.1", "subnet.private.2")


def network_nodes() -> list[Node]:
    return network.nodes(*NETWORK)


def make_nlb(state) -> Nlb:
    subnets = [state.doc.resource(k)["id"] for k in NETWORK]
    lb = boto3.client("elbv2", region_name=REGION).create_load_balancer(
        Name="api-nlb-dev", Subnets=subnets, Scheme="internal", Type="network"
    )["LoadBalancers"][0]
    return Nlb(lb["LoadBalancerArn"], lb["DNSName"])


def substitute(value, literals: dict[tuple[str, str], str]):
    if isinstance(value, Ref):
        return literals.get((value.node, value.attr), value)
    if isinstance(value, Join):
        return Join(*(substitute(p, literals) for p in value.parts))
    if isinstance(value, dict):
        return {k: substitute(v, literals) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, literals) for v in value]
    return value


def nodes(nlb: Nlb, *keys: str, cfg: EnvConfig | None = None) -> list[Node]:
    literals = {("elb.nlb", "arn"): nlb.arn, ("elb.nlb", "dns_name"): nlb.dns_name}
    cfg = cfg or EnvConfig()
    every = [dataclasses.replace(n, spec=substitute(n.spec, literals)) for n in api_nodes("dev", cfg) + key_nodes("dev", cfg)]
    wanted = set(keys or KEYS)
    if "apigw.stage" in wanted:
        wanted |= set(STAGE_NEEDS)
    return network_nodes() + [n for n in every if n.key in wanted]


def ownership(name: str) -> dict[str, str]:
    return {"Name": name, "Environment": "dev", "ManagedBy": MANAGED_BY}


def only(items: list[dict], name: str) -> dict:
    [item] = [i for i in items if i.get("name") == name]
    return item


def rest_api(apigw) -> dict:
    return only(apigw.get_rest_apis()["items"], "video-metadata-api-dev")


def resources_by_path(apigw, api_id: str) -> dict[str, dict]:
    return {r["path"]: r for r in apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]}


def usage_plan(apigw) -> dict:
    return only(apigw.get_usage_plans()["items"], "usage-plan-dev")


def api_key(apigw) -> dict:
    return only(apigw.get_api_keys(nameQuery="api-key-dev")["items"], "api-key-dev")


def vpc_link(apigw) -> dict:
    return only(apigw.get_vpc_links()["items"], "vpc-link-dev")


def stage_deployment(apigw, api_id: str) -> dict:
    stage = apigw.get_stage(restApiId=api_id, stageName="dev")
    return apigw.get_deployment(restApiId=api_id, deploymentId=stage["deploymentId"])


def api_actions(run) -> dict[str, str]:
    return {r.key: r.action for r in run.results if r.key.startswith("apigw.")}


def api_outputs(run) -> dict[str, dict]:
    return {r.key: r.outputs for r in run.results if r.key.startswith("apigw.")}


def changed_fields(run) -> dict[str, set[str]]:
    return {r.key: {d.field for d in r.changes} for r in run.results if r.action != "unchanged"}
