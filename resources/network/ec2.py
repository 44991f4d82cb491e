"""What every EC2 network handler shares: tags in the create call, tag filters, not-found codes."""
from __future__ import annotations

from typing import ClassVar

from resources.aws.permissions import Grant, arn, reads, writes
from resources.base import Handler, Observed, Status, owned_by, tag_list
from resources.aws.consistency import EC2_NEW_RESOURCE
from resources.aws.ownership import environment_filters, vpc_filters
from resources.aws.shared_reads import listing

OWNERSHIP_KEYS = ("Name", "Environment", "ManagedBy")


def ownership_filters(spec: dict) -> list[dict]:
    return [{"Name": f"tag:{k}", "Values": [spec["tags"][k]]} for k in OWNERSHIP_KEYS]


def in_vpc_filters(handler: "Ec2Handler", spec: dict) -> list[dict]:
    # A plan for a new environment has no VPC id yet (UNKNOWN): list by ownership instead.
    vpc = spec.get("vpc_id")
    return vpc_filters(vpc) if isinstance(vpc, str) else environment_filters(handler.env)


def ec2_grants(resource_type: str, describes: tuple[str, ...], creates: tuple[str, ...] = (), parents: tuple[str, ...] = (),
               changes: tuple[str, ...] = (), touches: tuple[str, ...] = ()) -> tuple[Grant, ...]:
    """An EC2 kind's permissions. EC2's describes take no resource ("*"); everything else is scoped
    by the ownership tags: a create must set them (TagSpecifications), on the new resource and
    the ``parents`` it names (a subnet's VPC: one statement, IAM authorizes both for the call); a
    change or a delete acts on what carries them, and on the ``touches`` it names (a route
    table's subnets and gateways)."""
    own = (ec2_arn(resource_type),)
    made = (writes(*creates, arns=own + tuple(map(ec2_arn, parents)), tag="request"),) if creates else ()
    return (reads(*describes), *made,
            writes("ec2:CreateTags", arns=own, tag="request"),
            writes(*changes, "ec2:CreateTags", "ec2:DeleteTags", arns=own + tuple(map(ec2_arn, touches)), tag="resource"))


def ec2_arn(resource_type: str) -> str:
    return arn("ec2", f"{resource_type}/*")


class Ec2Handler(Handler):
    """An EC2 resource kind described by one Describe* call: read by id and list-owned are
    the same for all of them, only the names differ."""

    service = "ec2"
    resource_type: ClassVar[str]  # the TagSpecifications ResourceType
    describe_call: ClassVar[str]  # e.g. "describe_subnets"
    items_key: ClassVar[str]  # e.g. "Subnets"
    ids_param: ClassVar[str]  # e.g. "SubnetIds"
    id_key: ClassVar[str]  # e.g. "SubnetId"
    # The EC2 API is eventually consistent (B-EC2-1): a describe right after a modify can show
    # the old value for a few seconds.
    read_after_write_lag = 30.0
    def listing_filters(self, spec: dict) -> list[dict]:
        """What one listing of this kind covers: everything the environment owns; kinds that
        live in the VPC list the VPC instead, which the drift check's unmanaged search reuses."""
        return environment_filters(self.env)

    def live(self, item: dict) -> bool:
        # Deleted NATs stay listed for about an hour (B-EC2-3).
        return self.status(item).status not in (Status.DELETING, Status.GONE)

    def listed(self, spec):
        # One Describe* of the environment (or the VPC) per walk answers every node of the kind.
        items = listing(self.shared, self.client, self.describe_call, self.items_key, self.listing_filters(spec))
        return {i[self.id_key]: i for i in items}

    def observe(self, item: dict) -> Observed:
        raise NotImplementedError

    def describe(self, resource_id):
        items = getattr(self.client, self.describe_call)(**{self.ids_param: [resource_id]})[self.items_key]
        return items[0] if items else None

    def list_owned(self, spec):
        items = getattr(self.client, self.describe_call)(Filters=ownership_filters(spec))[self.items_key]
        return self.owned([self.observe(i) for i in items if self.live(i)], spec)

    def tag_specifications(self, spec: dict) -> list[dict]:
        return [{"ResourceType": self.resource_type, "Tags": tag_list(spec["tags"])}]

    def set_tags(self, obs: Observed, tags: dict[str, str]) -> None:
        EC2_NEW_RESOURCE.call(self.clock, self.client.create_tags, Resources=[obs.id], Tags=tag_list(tags))

    def unset_tags(self, obs: Observed, keys: list[str]) -> None:
        # Only the keys: DeleteTags with a Value would spare a tag whose value someone changed.
        self.client.delete_tags(Resources=[obs.id], Tags=[{"Key": k} for k in keys])

    def owned(self, observed: list[Observed], spec: dict) -> list[Observed]:
        # Some describe calls ignore tag filters in emulators and a filter typo would match
        # everything: the ownership record is always checked here as well.
        return [o for o in observed if owned_by(o.tags, spec)]
