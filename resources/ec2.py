"""What every EC2 network handler shares: tags in the create call, tag filters, not-found codes."""
from __future__ import annotations

from typing import ClassVar

from resources.aws import describe_one
from resources.base import Handler, Observed, owned_by, tag_list
from resources.consistency import EC2_NEW_RESOURCE

OWNERSHIP_KEYS = ("Name", "Environment", "ManagedBy")


def ownership_filters(spec: dict) -> list[dict]:
    return [{"Name": f"tag:{k}", "Values": [spec["tags"][k]]} for k in OWNERSHIP_KEYS]


class Ec2Handler(Handler):
    """An EC2 resource kind described by one Describe* call: get by id and find by tags are
    the same for all of them, only the names differ."""

    service = "ec2"
    resource_type: ClassVar[str]  # the TagSpecifications ResourceType
    describe: ClassVar[str]  # e.g. "describe_subnets"
    items_key: ClassVar[str]  # e.g. "Subnets"
    ids_param: ClassVar[str]  # e.g. "SubnetIds"
    not_found: ClassVar[str]  # e.g. "InvalidSubnetID.NotFound"

    def observe(self, item: dict) -> Observed:
        raise NotImplementedError

    def get(self, resource_id):
        call = getattr(self.client, self.describe)
        item = describe_one(call, self.items_key, self.not_found, **{self.ids_param: [resource_id]})
        return self.observe(item) if item else None

    def find_by_tags(self, spec):
        items = getattr(self.client, self.describe)(Filters=ownership_filters(spec))[self.items_key]
        return self.owned([self.observe(i) for i in items], spec)

    def tag_specifications(self, spec: dict) -> list[dict]:
        return [{"ResourceType": self.resource_type, "Tags": tag_list(spec["tags"])}]

    def set_tags(self, obs: Observed, tags: dict[str, str]) -> None:
        EC2_NEW_RESOURCE.call(self.clock, self.client.create_tags, Resources=[obs.id], Tags=tag_list(tags))

    def owned(self, observed: list[Observed], spec: dict) -> list[Observed]:
        # Some describe calls ignore tag filters in emulators and a filter typo would match
        # everything: the ownership record is always checked here as well.
        return [o for o in observed if owned_by(o.tags, spec)]
