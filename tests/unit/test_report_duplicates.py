"""What a run says about copies it deleted: human rendering and the JSON entries."""
from __future__ import annotations

from orchestrator.reconciler import NodeResult
from orchestrator.report import change_entries, duplicate_entries, render_changes


def results():
    return [
        NodeResult("vpc", "vpc", "vpc-dev", "create", id="vpc-2", duplicates_removed=["vpc-1"]),
        NodeResult("igw", "internet_gateway", "igw-dev", "unchanged", id="igw-1", duplicates_removed=["igw-0", "igw-9"]),
        NodeResult("eip.1", "elastic_ip", "eip-1-dev", "unchanged", id="eipalloc-1"),
    ]


def test_the_human_rendering_names_every_removed_copy_and_the_kept_one():
    lines = render_changes(results(), past=True).splitlines()
    assert "x removed duplicate vpc vpc-dev: vpc-1 (kept vpc-2)" in lines
    assert "x removed duplicate internet_gateway igw-dev: igw-0, igw-9 (kept igw-1)" in lines
    assert lines[-1] == "1 created."


def test_json_lists_removed_copies_in_the_change_entry_and_for_unchanged_resources_too():
    [entry] = change_entries(results())
    assert entry["resource"] == "vpc" and entry["duplicates_removed"] == ["vpc-1"]
    assert duplicate_entries(results()) == [
        {"resource": "vpc", "kind": "vpc", "name": "vpc-dev", "id": "vpc-2", "removed": ["vpc-1"]},
        {"resource": "igw", "kind": "internet_gateway", "name": "igw-dev", "id": "igw-1", "removed": ["igw-0", "igw-9"]},
    ]
    assert duplicate_entries(results()[2:]) == []
