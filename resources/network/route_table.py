"""Route table with its routes and subnet associations, reconciled as sets.

Routes and associations are part of the route table's desired state rather than nodes of their
own: the diff sees a route added by hand (revoked), a route pointing at a replaced NAT
(replaced) and a subnet moved to another table (moved back) in one read.
"""
from __future__ import annotations

from botocore.exceptions import ClientError

from resources.aws import done_if_landed, error_code, ignore_codes
from resources.aws.permissions import writes
from resources.base import Change, Field, Observed, tag_dict
from resources.aws.consistency import DEPENDENCIES_DRAIN, EC2_NEW_RESOURCE
from resources.network.ec2 import Ec2Handler, ec2_grants, in_vpc_filters

NOT_FOUND = "InvalidRouteTableID.NotFound"
ROUTE_NOT_FOUND = "InvalidRoute.NotFound"
ASSOCIATION_NOT_FOUND = "InvalidAssociationID.NotFound"
ROUTE_EXISTS = "RouteAlreadyExists"
ALREADY_ASSOCIATED = "Resource.AlreadyAssociated"
TARGET_KEYS = ("GatewayId", "NatGatewayId", "TransitGatewayId", "VpcPeeringConnectionId", "NetworkInterfaceId")


def route_target(route: dict) -> str | None:
    return next((route[k] for k in TARGET_KEYS if route.get(k)), None)


def observe_route_table(rt: dict) -> Observed:
    routes = sorted(
        (
            {"destination": r["DestinationCidrBlock"], "target": route_target(r)}
            for r in rt.get("Routes", [])
            # The local route comes with the table and propagated routes belong to a VGW.
            if r.get("GatewayId") != "local" and r.get("Origin") != "EnableVgwRoutePropagation" and r.get("DestinationCidrBlock")
        ),
        key=lambda r: r["destination"],
    )
    subnets = sorted(a["SubnetId"] for a in rt.get("Associations", []) if a.get("SubnetId") and not a.get("Main"))
    attrs = {"vpc_id": rt["VpcId"], "routes": routes, "subnet_ids": subnets}
    return Observed(rt["RouteTableId"], attrs, tag_dict(rt.get("Tags")), rt)


def target_argument(target: str) -> dict:
    return {"NatGatewayId": target} if target.startswith("nat-") else {"GatewayId": target}


class RouteTable(Ec2Handler):
    kind = "route_table"
    resource_type = "route-table"
    iam = ec2_grants("route-table", ("ec2:DescribeRouteTables",), creates=("ec2:CreateRouteTable",), parents=("vpc",),
                     changes=("ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute", "ec2:AssociateRouteTable",
                              "ec2:ReplaceRouteTableAssociation", "ec2:DeleteRouteTable"),
                     touches=("subnet", "natgateway", "internet-gateway")) + (
        # Named by its association's id alone, which names no resource IAM could scope it to.
        writes("ec2:DisassociateRouteTable"),)
    describe_call, items_key, ids_param = "describe_route_tables", "RouteTables", "RouteTableIds"
    not_found = frozenset({NOT_FOUND})
    id_key = "RouteTableId"
    expected_seconds = 1
    poll_ceiling = 2
    fields = {
        "vpc_id": Field(str, Change.REPLACE, why="a route table never leaves its VPC"),
        "routes": Field(list),
        "subnet_ids": Field(list),
    }

    def observe(self, item):
        return observe_route_table(item)

    def listing_filters(self, spec):
        return in_vpc_filters(self, spec)

    def desired(self, spec):
        routes = sorted(spec["routes"], key=lambda r: r["destination"])
        return {**spec, "routes": routes, "subnet_ids": sorted(spec["subnet_ids"], key=str)}

    def create(self, spec, token):
        # Routes and associations follow through update_fields once the table is visible.
        rt = self.client.create_route_table(
            VpcId=spec["vpc_id"], ClientToken=token, TagSpecifications=self.tag_specifications(spec)
        )
        return rt["RouteTable"]["RouteTableId"]

    def update_fields(self, spec, obs, diffs):
        for d in diffs:
            if d.field == "routes":
                self._converge_routes(obs.id, d.expected, d.actual or [])
            elif d.field == "subnet_ids":
                self._converge_associations(obs, set(d.expected), set(d.actual or []))
            else:
                super().update_fields(spec, obs, [d])

    def _converge_routes(self, rt_id: str, expected: list[dict], actual: list[dict]) -> None:
        want = {r["destination"]: r["target"] for r in expected}
        have = {r["destination"]: r["target"] for r in actual}
        call = lambda fn, **kw: EC2_NEW_RESOURCE.call(self.clock, fn, RouteTableId=rt_id, **kw)  # noqa: E731
        for dest, target in sorted(want.items()):
            if dest not in have:
                try:
                    call(self.client.create_route, DestinationCidrBlock=dest, **target_argument(target))
                except ClientError as exc:
                    # A retried CreateRoute whose first attempt landed: set the target either way.
                    if error_code(exc) != ROUTE_EXISTS:
                        raise
                    call(self.client.replace_route, DestinationCidrBlock=dest, **target_argument(target))
            elif have[dest] != target:
                # A route to a deleted NAT is a blackhole until replaced.
                call(self.client.replace_route, DestinationCidrBlock=dest, **target_argument(target))
        for dest in sorted(set(have) - set(want)):
            ignore_codes({ROUTE_NOT_FOUND}, self.client.delete_route, RouteTableId=rt_id, DestinationCidrBlock=dest)

    def _converge_associations(self, obs: Observed, want: set[str], have: set[str]) -> None:
        for subnet_id in sorted(want - have):
            # A subnet has one association: if another table holds it, move it (AWS answers
            # Resource.AlreadyAssociated to a second associate; moto accepts it, A-8).
            current = self.client.describe_route_tables(
                Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
            )["RouteTables"]
            held = [
                a["RouteTableAssociationId"]
                for t in current
                for a in t.get("Associations", [])
                if a.get("SubnetId") == subnet_id
            ]
            if held and self._replace_association(held[0], obs.id):
                continue
            EC2_NEW_RESOURCE.call(
                self.clock, done_if_landed, {ALREADY_ASSOCIATED}, lambda s=subnet_id: self._holds(obs.id, s),
                self.client.associate_route_table, RouteTableId=obs.id, SubnetId=subnet_id,
            )
        for assoc in obs.raw.get("Associations", []):
            if assoc.get("SubnetId") in have - want and not assoc.get("Main"):
                ignore_codes(
                    {ASSOCIATION_NOT_FOUND},
                    self.client.disassociate_route_table,
                    AssociationId=assoc["RouteTableAssociationId"],
                )

    def _holds(self, rt_id: str, subnet_id: str) -> bool:
        current = self.client.describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
        )["RouteTables"]
        return [t["RouteTableId"] for t in current] == [rt_id]

    def _replace_association(self, association_id: str, rt_id: str) -> bool:
        """Move a subnet's association here; False when the other table let go of it meanwhile
        (InvalidAssociationID.NotFound: tables are reconciled in parallel)."""
        answer = ignore_codes(
            {ASSOCIATION_NOT_FOUND},
            self.client.replace_route_table_association,
            AssociationId=association_id,
            RouteTableId=rt_id,
        )
        return answer is not None

    def delete(self, obs, spec=None):
        for assoc in obs.raw.get("Associations", []):
            if not assoc.get("Main"):
                ignore_codes(
                    {ASSOCIATION_NOT_FOUND},
                    self.client.disassociate_route_table,
                    AssociationId=assoc["RouteTableAssociationId"],
                )
        DEPENDENCIES_DRAIN.call(self.clock, self.client.delete_route_table, RouteTableId=obs.id)
