from orchestrator.reconciler import NodeResult
from orchestrator.report import change_entries, render_changes
from orchestrator.spec import UNKNOWN
from resources.base import Change, FieldDiff


def results():
    return [
        NodeResult("vpc", "vpc", "vpc-dev", "unchanged", id="vpc-1"),
        NodeResult("igw", "internet_gateway", "igw-dev", "update", id="igw-1",
                   changes=[FieldDiff("vpc_id", "vpc-1", None)]),
        NodeResult("subnet.public.1", "subnet", "public-subnet-1-dev", "replace", id="subnet-1",
                   changes=[FieldDiff("cidr_block", "10.0.0.0/20", "10.0.9.0/24", Change.REPLACE)]),
        NodeResult("nat.1", "nat_gateway", "nat-gateway-1-dev", "create",
                   changes=[FieldDiff("subnet_id", UNKNOWN, None)]),
    ]


def test_plan_lines_show_symbol_kind_name_and_old_to_new():
    text = render_changes(results(), past=False)
    assert text.splitlines() == [
        "~ update internet_gateway igw-dev (igw-1)",
        "    vpc_id: null → vpc-1",
        "-/+ replace subnet public-subnet-1-dev (subnet-1)",
        "    cidr_block: 10.0.9.0/24 → 10.0.0.0/20  (forces replacement)",
        "+ create nat_gateway nat-gateway-1-dev",
        "1 to create, 1 to update, 1 to replace.",
    ]


def test_nothing_to_do_says_so():
    assert render_changes(results()[:1], past=False) == "No changes. The environment matches the desired state."


def test_json_entries_are_plain_json_with_unknowns_spelled_out():
    entries = change_entries(results())
    assert [e["action"] for e in entries] == ["update", "replace", "create"]
    assert entries[2]["changes"] == [{"field": "subnet_id", "old": None, "new": "(known after apply)", "replace": False, "change": "in place"}]
