"""Route table handler on moto: tables, their routes and their subnet associations, read back with the test's own client."""
from __future__ import annotations

from tests.resources.network import (
    changed_fields, live_nat_gateways, nodes, owned_internet_gateways, owned_route_tables, owned_subnets,
    owned_vpc, ownership, recorded_id, tags,
)
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge, destroy

TABLES = {
    "rt.public": "public-rt-dev",
    "rt.private.1": "private-rt-1-dev",
    "rt.private.2": "private-rt-2-dev",
    "rt.isolated": "isolated-rt-dev",
}


def rt_nodes():
    return nodes(*TABLES)


def routes(rt: dict) -> dict[str, str]:
    """Destination → target, without the local route every table comes with."""
    out = {}
    for r in rt["Routes"]:
        if r.get("GatewayId") == "local":
            continue
        out[r["DestinationCidrBlock"]] = r.get("GatewayId") or r.get("NatGatewayId")
    return out


def associated(rt: dict) -> set[str]:
    return {a["SubnetId"] for a in rt.get("Associations", []) if a.get("SubnetId") and not a.get("Main")}


def tables_holding(ec2, subnet_id: str) -> list[str]:
    found = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["RouteTables"]
    return [t["RouteTableId"] for t in found]


def converged(aws, clock):
    state = MemoryState()
    converge(aws, state, nodes=rt_nodes(), clock=clock)
    return state


def test_create_public_private_and_isolated_tables_then_second_run_changes_nothing(aws, ec2, clock):
    state = MemoryState()
    run = converge(aws, state, nodes=rt_nodes(), clock=clock)
    assert set(actions(run).values()) == {"create"} and set(TABLES) <= set(actions(run))
    vpc_id = owned_vpc(ec2)["VpcId"]
    igw_id = owned_internet_gateways(ec2)["igw-dev"]["InternetGatewayId"]
    subnet = {name: s["SubnetId"] for name, s in owned_subnets(ec2).items()}
    nat = {name: n["NatGatewayId"] for name, n in live_nat_gateways(ec2).items()}
    tables = owned_route_tables(ec2)
    assert set(tables) == set(TABLES.values())

    public = tables["public-rt-dev"]
    assert routes(public) == {"0.0.0.0/0": igw_id}
    assert associated(public) == {subnet["public-subnet-1-dev"], subnet["public-subnet-2-dev"]}
    for i in (1, 2):
        private = tables[f"private-rt-{i}-dev"]
        assert routes(private) == {"0.0.0.0/0": nat[f"nat-gateway-{i}-dev"]}
        assert associated(private) == {subnet[f"private-subnet-{i}-dev"]}
    isolated = tables["isolated-rt-dev"]
    assert routes(isolated) == {}  # no way out of the VPC
    assert associated(isolated) == {subnet["isolated-subnet-1-dev"], subnet["isolated-subnet-2-dev"]}
    for key, name in TABLES.items():
        assert tables[name]["VpcId"] == vpc_id
        assert tags(tables[name]) == ownership(name)
        assert recorded_id(state, key) == tables[name]["RouteTableId"]

    before = aws.calls.mutating
    again = converge(aws, state, nodes=rt_nodes(), clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before


def test_deleted_behind_our_back_is_recreated_with_its_associations(aws, ec2, clock):
    state = converged(aws, clock)
    old = recorded_id(state, "rt.isolated")
    for assoc in ec2.describe_route_tables(RouteTableIds=[old])["RouteTables"][0]["Associations"]:
        ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
    ec2.delete_route_table(RouteTableId=old)

    run = converge(aws, state, nodes=rt_nodes(), clock=clock)
    assert actions(run)["rt.isolated"] == "create"
    assert {a for k, a in actions(run).items() if k != "rt.isolated"} == {"unchanged"}
    isolated = owned_route_tables(ec2)["isolated-rt-dev"]
    assert isolated["RouteTableId"] != old
    assert associated(isolated) == {recorded_id(state, "subnet.isolated.1"), recorded_id(state, "subnet.isolated.2")}
    assert routes(isolated) == {}
    assert recorded_id(state, "rt.isolated") == isolated["RouteTableId"]


def test_route_added_by_hand_is_removed(aws, ec2, clock):
    state = converged(aws, clock)
    isolated_id = recorded_id(state, "rt.isolated")
    ec2.create_route(RouteTableId=isolated_id, DestinationCidrBlock="10.9.0.0/16", GatewayId=recorded_id(state, "igw"))

    plan = converge(aws, state, nodes=rt_nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"rt.isolated": {"routes"}}
    [change] = [r for r in plan.results if r.key == "rt.isolated"][0].changes
    assert change.expected == [] and change.actual == [{"destination": "10.9.0.0/16", "target": recorded_id(state, "igw")}]

    run = converge(aws, state, nodes=rt_nodes(), clock=clock)
    assert actions(run)["rt.isolated"] == "update"
    assert routes(ec2.describe_route_tables(RouteTableIds=[isolated_id])["RouteTables"][0]) == {}


def test_default_route_pointed_at_the_other_nat_is_put_back(aws, ec2, clock):
    state = converged(aws, clock)
    private_id = recorded_id(state, "rt.private.1")
    nat_1, nat_2 = recorded_id(state, "nat.1"), recorded_id(state, "nat.2")
    ec2.replace_route(RouteTableId=private_id, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_2)

    plan = converge(aws, state, nodes=rt_nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"rt.private.1": {"routes"}}
    [change] = [r for r in plan.results if r.key == "rt.private.1"][0].changes
    assert (change.expected, change.actual) == (
        [{"destination": "0.0.0.0/0", "target": nat_1}], [{"destination": "0.0.0.0/0", "target": nat_2}])

    converge(aws, state, nodes=rt_nodes(), clock=clock)
    assert routes(ec2.describe_route_tables(RouteTableIds=[private_id])["RouteTables"][0]) == {"0.0.0.0/0": nat_1}


def test_subnet_moved_to_another_table_by_hand_is_moved_back(aws, ec2, clock):
    state = converged(aws, clock)
    private_subnet = recorded_id(state, "subnet.private.1")
    public_id, private_id = recorded_id(state, "rt.public"), recorded_id(state, "rt.private.1")
    [holder] = ec2.describe_route_tables(RouteTableIds=[private_id])["RouteTables"][0]["Associations"]
    ec2.replace_route_table_association(AssociationId=holder["RouteTableAssociationId"], RouteTableId=public_id)
    assert tables_holding(ec2, private_subnet) == [public_id]

    plan = converge(aws, state, nodes=rt_nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"rt.private.1": {"subnet_ids"}, "rt.public": {"subnet_ids"}}

    # One table at a time: with both at once the move can race (the test after this one).
    converge(aws, state, nodes=rt_nodes(), clock=clock, parallelism=1)
    assert tables_holding(ec2, private_subnet) == [private_id]
    public = ec2.describe_route_tables(RouteTableIds=[public_id])["RouteTables"][0]
    assert associated(public) == {recorded_id(state, "subnet.public.1"), recorded_id(state, "subnet.public.2")}
    assert set(actions(converge(aws, state, nodes=rt_nodes(), clock=clock)).values()) == {"unchanged"}


def test_subnet_moved_back_while_the_other_table_lets_go_of_it_at_the_same_moment(aws, ec2, clock):
    # In a full run rt.public (dropping the extra subnet) and rt.private.1 (taking it back) are
    # reconciled in parallel. If rt.public disassociates the subnet between rt.private.1's lookup
    # of the current holder and its ReplaceRouteTableAssociation, the replace answers
    # InvalidAssociationID.NotFound. The race is made deterministic here: rt.public's step is
    # played by the test's client right after rt.private.1's holder lookup.
    state = converged(aws, clock)
    private_subnet = recorded_id(state, "subnet.private.1")
    public_id, private_id = recorded_id(state, "rt.public"), recorded_id(state, "rt.private.1")
    [holder] = ec2.describe_route_tables(RouteTableIds=[private_id])["RouteTables"][0]["Associations"]
    ec2.replace_route_table_association(AssociationId=holder["RouteTableAssociationId"], RouteTableId=public_id)
    let_go_after_lookup(aws.client("ec2"), ec2, private_subnet)

    converge(aws, state, nodes=nodes("rt.private.1"), clock=clock)
    assert tables_holding(ec2, private_subnet) == [private_id]


def let_go_after_lookup(client, ec2, subnet_id: str) -> None:
    """After ``client`` looks up which table holds ``subnet_id``, that table disassociates it (once)."""
    lookup = {"pending": False, "done": False}

    def before(params, **_):
        names = {f["Name"] for f in params.get("Filters", [])}
        lookup["pending"] = "association.subnet-id" in names and not lookup["done"]

    def after(parsed, **_):
        if not lookup["pending"]:
            return
        lookup["pending"], lookup["done"] = False, True
        for table in parsed.get("RouteTables", []):
            for assoc in table.get("Associations", []):
                if assoc.get("SubnetId") == subnet_id:
                    ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])

    client.meta.events.register("provide-client-params.ec2.DescribeRouteTables", before)
    client.meta.events.register("after-call.ec2.DescribeRouteTables", after)


def test_private_route_follows_a_nat_replaced_behind_our_back(aws, ec2, clock):
    state = converged(aws, clock)
    old_nat = recorded_id(state, "nat.2")
    # AWS frees the EIP with the NAT (the fidelity layer too, docs/aws-behaviours.md A-5).
    ec2.delete_nat_gateway(NatGatewayId=old_nat)

    run = converge(aws, state, nodes=rt_nodes(), clock=clock)
    assert actions(run)["nat.2"] == "create" and actions(run)["rt.private.2"] == "update"
    new_nat = recorded_id(state, "nat.2")
    assert new_nat != old_nat
    private = ec2.describe_route_tables(RouteTableIds=[recorded_id(state, "rt.private.2")])["RouteTables"][0]
    assert routes(private) == {"0.0.0.0/0": new_nat}


def test_recreate_after_teardown_sends_fresh_client_tokens(aws, ec2, clock):
    # Same rule as for NATs (test_nat_gateway): a CreateRouteTable token reused for the rebuilt
    # VPC's table answers IdempotentParameterMismatch on AWS. moto ignores it, so compare tokens.
    sent: list[str] = []
    aws.client("ec2").meta.events.register(
        "provide-client-params.ec2.CreateRouteTable", lambda params, **_: sent.append(params["ClientToken"])
    )
    state = converged(aws, clock)
    destroy(aws, state, nodes=rt_nodes(), clock=clock)
    converge(aws, state, nodes=rt_nodes(), clock=clock)
    assert len(sent) == 2 * len(TABLES)
    assert set(sent[:len(TABLES)]).isdisjoint(sent[len(TABLES):]), "rebuilt route tables reuse the torn-down tables' tokens"
