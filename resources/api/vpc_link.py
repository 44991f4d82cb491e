"""VPC link: how the REST API's private integration reaches the internal Network Load Balancer."""
from __future__ import annotations

from resources.api.common import NOT_FOUND, ApiGatewayHandler, api_grants, list_all, named_and_owned, patch
from resources.aws.permissions import arn, writes
from resources.base import Change, Field, Observed, OnFailed, Refresh, Status


def status_of(link: dict) -> Refresh:
    status = link.get("status", "PENDING")
    if status == "AVAILABLE":
        return Refresh(Status.READY, status)
    if status == "FAILED":
        return Refresh(Status.FAILED, link.get("statusMessage") or status)
    if status == "DELETING":
        return Refresh(Status.DELETING, status)
    return Refresh(Status.PENDING, status)


def observe_vpc_link(link: dict) -> Observed:
    attrs = {"description": link.get("description", ""), "target_arns": sorted(link.get("targetArns", []))}
    return Observed(link["id"], attrs, dict(link.get("tags") or {}), link)


class VpcLink(ApiGatewayHandler):
    kind = "vpc_link"
    iam = api_grants("/vpclinks") + (
        # API Gateway makes the link's VPC endpoint service for the NLB with the caller's permissions.
        writes("ec2:CreateVpcEndpointServiceConfiguration", "ec2:DeleteVpcEndpointServiceConfigurations",
               "ec2:ModifyVpcEndpointServicePermissions", arns=(arn("ec2", "vpc-endpoint-service/*"),),
               implied_by="POST /vpclinks and DELETE /vpclinks/{id}"),
        writes("ec2:DescribeVpcEndpointServiceConfigurations", "elasticloadbalancing:DescribeLoadBalancers",
               implied_by="POST /vpclinks"),
    )
    # bin/drift --all: one listing for every environment (base.Handler.account_listing).
    account_listing = ("get_vpc_links", "items", "id", 500)
    arn_path = "/vpclinks/{id}"
    # A link to an NLB takes minutes: Terraform's acceptance test with its NLB ran 704-750 s
    # (hashicorp/terraform-provider-aws#10407, #18382), and "more than 8 minutes" made Terraform
    # raise its timeouts to 20 min (#10405). Typical is an estimate.
    expected_seconds = 300
    create_timeout = 20 * 60
    # UpdateVpcLink (the description) is done at once; but a run that finds a link still PENDING,
    # created by a run that stopped, waits for it with this timeout: the create's.
    update_timeout = 20 * 60
    delete_timeout = 20 * 60
    poll_ceiling = 15
    not_found = frozenset({NOT_FOUND})
    # C-VPCL-1: a link that ends FAILED still exists and holds its NLB, and AWS never removes it.
    # It holds no data: a run deletes it and creates a new one (the engine's on_failed).
    on_failed = OnFailed.REPLACE
    # A FAILED link is never removed by AWS and keeps its NLB (C-VPCL-1): one found by its tags
    # (the state was lost) is adopted so that the engine deletes it before making the new one.
    replace_beside = False
    fields = {
        "description": Field(str),
        # UpdateVpcLink patches name and description only.
        "target_arns": Field(list, Change.REPLACE, why="the target of a VPC link is fixed at creation"),
    }

    def desired(self, spec):
        return {**spec, "target_arns": sorted(spec["target_arns"], key=str)}

    def describe(self, resource_id):
        return self.client.get_vpc_link(vpcLinkId=resource_id)

    def observe(self, raw):
        return observe_vpc_link(raw)

    def status(self, raw):
        return status_of(raw)

    def list_owned(self, spec):
        # Names are not unique: the tags tell ours. FAILED links are listed (teardown deletes
        # them, C-VPCL-1); DELETING ones are on their way out.
        links = [link for link in list_all(self.client, "get_vpc_links") if status_of(link).status is not Status.DELETING]
        return [observe_vpc_link(link) for link in named_and_owned(links, spec)]

    def create(self, spec, token):
        # CreateVpcLink has no idempotency token: the find by name and tags before it is the guard.
        link = self.client.create_vpc_link(
            name=spec["name"], description=spec["description"], targetArns=spec["target_arns"], tags=spec["tags"]
        )
        return link["id"]

    def update_fields(self, spec, obs, diffs):
        for d in diffs:
            if d.field == "description":
                self.client.update_vpc_link(vpcLinkId=obs.id, patchOperations=[patch("/description", d.expected)])
            else:
                super().update_fields(spec, obs, [d])

    def delete(self, obs, spec=None):
        self.client.delete_vpc_link(vpcLinkId=obs.id)
