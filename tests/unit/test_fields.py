"""One table per field (resources/base.py Field): a handler declares each field's AWS key, pending
key, modify and create parameters once, and its reads and call parameters are derived from them."""
from __future__ import annotations

import pytest

from resources.base import (
    Change, Field, FieldDiff, create_params, modify_params, not_modifiable, read_attrs, read_pending,
)
from resources.data.elasticache import ReplicationGroup
from resources.data.rds import DbInstance
from resources.network.nat_gateway import NatGateway

FIELDS = {
    "size": Field(int, aws="AllocatedStorage", pending=True, modify=True, create=True),
    "zone": Field(str, aws="Subnet.Zone", pending="ZoneName", create="ZoneName"),
    "flag": Field(bool, aws="Flag", absent=False, pending=True, modify="EnableFlag"),
    "count": Field(int, aws=lambda raw: len(raw.get("Members", []))),
    "snapshot": Field(bool, create_only=True),
}


def test_read_attrs_reads_each_declared_field_in_the_tables_order():
    raw = {"AllocatedStorage": 20, "Subnet": {"Zone": "a"}, "Flag": True, "Members": [1, 2], "Other": 1}
    attrs = read_attrs(FIELDS, raw)
    assert list(attrs.items()) == [("size", 20), ("zone", "a"), ("flag", True), ("count", 2)]


def test_a_key_left_out_or_a_holder_that_is_none_reads_as_absent():
    assert read_attrs(FIELDS, {}) == {"size": None, "zone": None, "flag": False, "count": 0}
    assert read_attrs(FIELDS, {"Subnet": None})["zone"] is None
    assert read_attrs(FIELDS, {"Subnet": {}})["zone"] is None
    # A key present with None is read as None, not as the absent value (dict.get's meaning).
    assert read_attrs(FIELDS, {"Flag": None})["flag"] is None


def test_read_pending_names_the_fields_the_block_lists_false_and_zero_included():
    assert read_pending(FIELDS, {"AllocatedStorage": 30, "ZoneName": "b", "Flag": False, "Iops": 3000}) == {
        "size": 30, "zone": "b", "flag": False}
    assert read_pending(FIELDS, {"Flag": 0}) == {"flag": 0}
    assert read_pending(FIELDS, None) == {} == read_pending(FIELDS, {})


def test_create_params_pass_the_spec_values_as_is_under_the_declared_names():
    spec = {"size": 20, "zone": "a", "flag": True, "count": 2, "snapshot": False}
    assert create_params(FIELDS, spec) == {"AllocatedStorage": 20, "ZoneName": "a"}


def test_modify_params_name_each_change_and_a_callable_makes_its_own():
    fields = {**FIELDS, "list": Field(list, modify=lambda d: {"Config": {"Add": sorted(set(d.expected) - set(d.actual))}})}
    diffs = [FieldDiff("size", 30, 20), FieldDiff("flag", False, True), FieldDiff("list", ["x", "y"], ["y"])]
    assert modify_params(fields, diffs) == {"AllocatedStorage": 30, "EnableFlag": False, "Config": {"Add": ["x"]}}


def test_not_modifiable_is_every_diff_of_a_field_without_modify_or_of_no_field():
    diffs = [FieldDiff("size", 30, 20), FieldDiff("zone", "b", "a"), FieldDiff("unknown", 1, 2)]
    assert [d.field for d in not_modifiable(FIELDS, diffs)] == ["zone", "unknown"]


@pytest.mark.parametrize("aws", ["Subnet.Zone", lambda raw: 1, None])
def test_true_is_refused_where_aws_is_not_a_plain_key(aws):
    with pytest.raises(TypeError, match="not a plain key"):
        Field(int, aws=aws, modify=True)


@pytest.mark.parametrize("handler", [DbInstance, ReplicationGroup, NatGateway], ids=lambda h: h.kind)
def test_every_compared_field_is_read_and_every_in_place_one_has_a_modify(handler):
    # A field compared but never read would differ on every run; one AWS changes in place
    # without a modify would be refused by update_fields ("cannot update in place").
    compared = {k: f for k, f in handler.fields.items() if not f.create_only}
    assert [k for k, f in compared.items() if f.aws is None] == []
    in_place = [k for k, f in compared.items() if f.change in (Change.IN_PLACE, Change.DOWNTIME)]
    assert [k for k in in_place if handler.fields[k].modify is None] == []
    # And none AWS cannot change in place is sent to a modify call.
    assert [k for k, f in compared.items() if f.change in (Change.REPLACE, Change.IMPOSSIBLE) and f.modify is not None] == []
