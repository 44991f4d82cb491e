"""VPC link: how the REST API's private integration reaches the internal Network Load Balancer."""
from __future__ import annotations

from resources.apigateway_common import NOT_FOUND, ApiGatewayHandler, get_or_none, list_all, named_and_owned, patch
from resources.aws import ignore_codes
from resources.base import Observed, Refresh, Status

# A link being deleted, or one that failed (e.g. the NLB was not ready), is not a live link.
LIVE_STATUSES = ("PENDING", "AVAILABLE")


def find_vpc_link_by_id(client, link_id: str) -> dict | None:
    return get_or_none(client.get_vpc_link, vpcLinkId=link_id)


def vpc_link_status(client, link_id: str) -> Refresh:
    link = find_vpc_link_by_id(client, link_id)
    return Refresh(Status.GONE) if link is None else status_of(link)


def status_of(link: dict) -> Refresh:
    status = link.get("status", "PENDING")
    if status == "AVAILABLE":
        return Refresh(Status.READY, status)
    if status == "FAILED":
        return Refresh(Status.FAILED, link.get("statusMessage", status))
    return Refresh(Status.PENDING, status)  # PENDING, or DELETING while a delete is waited for


def observe_vpc_link(link: dict) -> Observed:
    attrs = {"description": link.get("description", ""), "target_arns": sorted(link.get("targetArns", []))}
    return Observed(link["id"], attrs, dict(link.get("tags") or {}), link)


class VpcLink(ApiGatewayHandler):
    kind = "vpc_link"
    arn_path = "/vpclinks/{id}"
    # A link to an NLB takes minutes: Terraform's acceptance test with its NLB ran 704-750 s
    # (hashicorp/terraform-provider-aws#10407, #18382), and "more than 8 minutes" made Terraform
    # raise its timeouts to 20 min (#10405). Typical is an estimate.
    expected_seconds = 300
    create_timeout = 20 * 60
    delete_timeout = 20 * 60
    poll_ceiling = 15
    # UpdateVpcLink patches name and description only; the target is fixed at creation.
    replace_fields = frozenset({"target_arns"})

    def desired(self, spec):
        return {**spec, "target_arns": sorted(spec["target_arns"], key=str)}

    def get(self, resource_id):
        link = find_vpc_link_by_id(self.client, resource_id)
        return observe_vpc_link(link) if link and link.get("status") in LIVE_STATUSES else None

    def find_by_tags(self, spec):
        links = [link for link in list_all(self.client, "get_vpc_links") if link.get("status") in LIVE_STATUSES]
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
        ignore_codes({NOT_FOUND}, self.client.delete_vpc_link, vpcLinkId=obs.id)

    def status(self, raw):
        return status_of(raw)

    def refresh(self, resource_id):
        return vpc_link_status(self.client, resource_id)
