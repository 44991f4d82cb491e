from resources.base import MANAGED_BY, owned_by, ownership_tags, tag_dict, tag_list, tags_diff


def test_ownership_tags_cannot_be_overridden_by_default_tags():
    tags = ownership_tags("vpc-dev", "dev", {"Name": "x", "ManagedBy": "someone", "CostCenter": "video"})
    assert tags == {"Name": "vpc-dev", "Environment": "dev", "ManagedBy": MANAGED_BY, "CostCenter": "video"}


def test_tag_diff_names_missing_and_changed_keys_and_leaves_foreign_tags_alone():
    desired = {"Name": "vpc-dev", "Environment": "dev", "ManagedBy": MANAGED_BY}
    actual = {"Name": "renamed", "ManagedBy": MANAGED_BY, "aws:cloudformation:stack-name": "x", "Owner": "ops"}
    diffs = tags_diff(desired, actual)
    assert [(d.field, d.expected, d.actual) for d in diffs] == [
        ("tags.Environment", "dev", None), ("tags.Name", "vpc-dev", "renamed")]
    assert tags_diff(desired, {**desired, "Owner": "ops"}) == []


def test_ownership_needs_all_three_keys():
    spec = {"tags": ownership_tags("vpc-dev", "dev")}
    assert owned_by(ownership_tags("vpc-dev", "dev", {"Extra": "1"}), spec)
    assert not owned_by({"Name": "vpc-dev", "Environment": "dev"}, spec)
    assert not owned_by({**spec["tags"], "Environment": "prod"}, spec)


def test_tag_list_round_trip_is_sorted():
    tags = {"b": "2", "a": "1"}
    assert tag_list(tags) == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert tag_dict(tag_list(tags)) == tags
