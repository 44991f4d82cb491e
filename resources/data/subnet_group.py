"""DB and cache subnet groups: the same resource in two services, one handler shape.

Both are named (unique per account and region, stored lower-case), tagged in the create call,
changed with one modify call that takes the full subnet list, and refused by their service
while a database or cache still lives in them.
"""
from __future__ import annotations

import contextlib
from typing import ClassVar

from botocore.exceptions import ClientError

from resources.aws import error_code
from resources.base import Field, Handler, Observed, ResourceError, owned_by, tag_dict, tag_list
from resources.aws.consistency import EC2_NEW_RESOURCE, Consistency


def require_two_azs(aws, clock, what: str, subnet_ids: list[str]) -> None:
    """B-RDS-7: a DB subnet group must cover at least two AZs (DBSubnetGroupDoesNotCoverEnoughAZs).

    moto does not check it (docs/aws-behaviours.md A-12), so the rule is enforced here, before the call.
    """
    subnets = EC2_NEW_RESOURCE.call(clock, aws.client("ec2").describe_subnets, SubnetIds=list(subnet_ids))["Subnets"]
    azs = sorted({s["AvailabilityZone"] for s in subnets})
    if len(azs) < 2:
        raise ResourceError(
            f"{what}: its subnets cover {len(azs)} Availability Zone(s) ({', '.join(azs) or 'none'}); "
            "AWS requires at least two (DBSubnetGroupDoesNotCoverEnoughAZs)"
        )


@contextlib.contextmanager
def name_taken_is_explained(kind: str, name: str, codes: set[str]):
    """Create by unique name: a name that exists but failed the ownership check (or is still
    being deleted) is reported in one line instead of a bare AlreadyExists code."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in codes:
            raise ResourceError(
                f"{kind} {name} already exists without this environment's ownership tags, or is still being "
                "deleted; delete or tag it by hand, or wait"
            ) from exc
        raise


class SubnetGroupHandler(Handler):
    expected_seconds = 2
    poll_ceiling = 2
    # The service's spelling of the same things.
    noun: ClassVar[str]  # "DBSubnetGroup" / "CacheSubnetGroup": parameter and response keys
    api: ClassVar[str]  # "db_subnet_group" / "cache_subnet_group": boto3 method names
    arn_key: ClassVar[str]
    already_exists: ClassVar[str]
    released: ClassVar[Consistency]  # retried while a database or cache still holds the group

    def _call(self, verb: str, suffix: str = ""):
        """``_call("create")`` is create_db_subnet_group or create_cache_subnet_group."""
        return getattr(self.client, f"{verb}_{self.api}{suffix}")

    fields = {"description": Field(str), "subnet_ids": Field(list)}

    def describe(self, resource_id):
        found = self._call("describe", "s")(**{f"{self.noun}Name": resource_id})[f"{self.noun}s"]
        return found[0] if found else None

    def desired(self, spec):
        return {**spec, "subnet_ids": sorted(spec["subnet_ids"], key=str)}

    def observe(self, group: dict) -> Observed:
        attrs = {
            "description": group[f"{self.noun}Description"],
            "subnet_ids": sorted(s["SubnetIdentifier"] for s in group.get("Subnets", [])),
        }
        arn = group[self.arn_key]
        tags = self.tags_for(arn, lambda: tag_dict(self.client.list_tags_for_resource(ResourceName=arn)["TagList"]))
        return Observed(group[f"{self.noun}Name"], attrs, tags, group)

    def list_owned(self, spec):
        # Names are unique per account and region (stored lower-case): the name is the lookup.
        obs = self.read(spec["name"].lower())
        return [obs] if obs and owned_by(obs.tags, spec) else []

    def create(self, spec, token):
        # No idempotency token in either API: the name is unique, and found before create.
        require_two_azs(self.aws, self.clock, f"{self.kind} {spec['name']}", spec["subnet_ids"])
        with name_taken_is_explained(self.kind, spec["name"], {self.already_exists}):
            group = self._call("create")(**{
                f"{self.noun}Name": spec["name"],
                f"{self.noun}Description": spec["description"],
                "SubnetIds": spec["subnet_ids"],
                "Tags": tag_list(spec["tags"]),
            })
        return group[self.noun][f"{self.noun}Name"]

    def update_fields(self, spec, obs, diffs):
        # One call sets both: the modify call requires the full subnet list every time.
        require_two_azs(self.aws, self.clock, f"{self.kind} {spec['name']}", spec["subnet_ids"])
        self._call("modify")(**{
            f"{self.noun}Name": obs.id, f"{self.noun}Description": spec["description"], "SubnetIds": spec["subnet_ids"],
        })

    def set_tags(self, obs, tags):
        self.client.add_tags_to_resource(ResourceName=obs.raw[self.arn_key], Tags=tag_list(tags))

    def unset_tags(self, obs, keys):
        self.client.remove_tags_from_resource(ResourceName=obs.raw[self.arn_key], TagKeys=keys)

    def delete(self, obs, spec=None):
        self.released.call(self.clock, self._call("delete"), **{f"{self.noun}Name": obs.id})

    def planned_outputs(self, spec):
        # The name is the id, as AWS stores it (lower-case).
        return {"id": spec["name"].lower(), "name": spec["name"].lower()}

    def outputs(self, obs):
        return {"id": obs.id, "name": obs.id}
