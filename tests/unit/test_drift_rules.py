"""Drift ignore rules, their validation, fingerprints and what is new since the last check
(issue 14). Pure: no AWS, no moto."""
from __future__ import annotations

import pytest

from orchestrator.config import ChosenConfig, ConfigError, EnvConfig, choose_config, load_config, remember_config
from orchestrator.drift import DriftReport
from orchestrator.drift_rules import IgnoreRule, apply_rules, compare, fingerprint, rules_of
from orchestrator.report import render_drift
from orchestrator.stack import node_keys, stack_nodes
from state import StateDocument


def drifted(resource="ecs.service.worker", attribute="desired_count", expected=1, actual=3, **extra):
    return {"resource": resource, "kind": "ecs_service", "name": "video-worker-dev", "id": "arn:svc",
            "attribute": attribute, "expected": expected, "actual": actual, **extra}


def missing(resource="secret.api_key", id="arn:secret"):
    return {"resource": resource, "kind": "secret", "name": "api-keys-dev", "id": id}


def unmanaged(id="sg-0abc1234", kind="security_group"):
    return {"kind": kind, "id": id}


def document(**lists):
    return {"env": "dev", "region": "us-east-1", **{k: lists.get(k, []) for k in ("drifted", "missing", "unmanaged", "unchecked")}}


# -- matching -------------------------------------------------------------------------------------

def test_an_attribute_rule_matches_that_attribute_of_that_resource_only():
    rule = IgnoreRule(reason="autoscaling", resource="ecs.service.worker", attribute="desired_count")
    assert rule.matches("drifted", drifted())
    assert not rule.matches("drifted", drifted(attribute="image"))
    assert not rule.matches("drifted", drifted(resource="ecs.service.api"))
    # Knowing the count may change says nothing of the service being deleted.
    assert not rule.matches("missing", missing(resource="ecs.service.worker"))


def test_a_resource_rule_without_attribute_covers_every_attribute_and_its_absence_but_never_unchecked():
    rule = IgnoreRule(reason="r", resource="secret.api_key")
    assert rule.matches("drifted", drifted(resource="secret.api_key", attribute="tags.Team"))
    assert rule.matches("missing", missing())
    assert not rule.matches("unchecked", {"resource": "secret.api_key", "reason": "AccessDenied"})
    assert not rule.matches("unmanaged", unmanaged(id="secret.api_key"))


def test_globs_over_resources_attributes_and_unmanaged_ids_with_an_optional_kind():
    tags = IgnoreRule(reason="r", resource="subnet.*", attribute="tags.*")
    assert tags.matches("drifted", drifted(resource="subnet.private.2", attribute="tags.Owner"))
    assert not tags.matches("drifted", drifted(resource="subnet.private.2", attribute="map_public_ip"))
    bastion = IgnoreRule(reason="r", unmanaged="sg-0abc*", kind="security_group")
    assert bastion.matches("unmanaged", unmanaged())
    assert not bastion.matches("unmanaged", unmanaged(id="sg-0abd1234"))
    assert not bastion.matches("unmanaged", unmanaged(kind="network_interface"))
    arn = IgnoreRule(reason="r", unmanaged="arn:aws:logs:*:log-group:/by-hand/*")
    assert arn.matches("unmanaged", unmanaged(id="arn:aws:logs:us-east-1:1:log-group:/by-hand/x", kind="logs"))
    # Case matters: AWS identifiers are case-sensitive.
    assert not IgnoreRule(reason="r", unmanaged="SG-*").matches("unmanaged", unmanaged())


def test_ignored_entries_move_to_ignored_with_the_first_matching_rules_reason_and_leave_the_report_in_sync():
    report = DriftReport(drifted=[drifted(), drifted(attribute="image", expected="a", actual="b")],
                         unmanaged=[unmanaged(), unmanaged(id="sg-other")])
    rules = [IgnoreRule(reason="autoscaling owns the count", resource="ecs.service.worker", attribute="desired_count"),
             IgnoreRule(reason="later rule", resource="ecs.service.worker", attribute="desired_count"),
             IgnoreRule(reason="the bastion", unmanaged="sg-0abc*")]
    apply_rules(report, rules)
    assert [d["attribute"] for d in report.drifted] == ["image"]
    assert report.unmanaged == [unmanaged(id="sg-other")]
    assert report.ignored == [
        {"category": "drifted", **drifted(), "reason": "autoscaling owns the count",
         "rule": {"resource": "ecs.service.worker", "attribute": "desired_count"}},
        {"category": "unmanaged", **unmanaged(), "reason": "the bastion", "rule": {"unmanaged": "sg-0abc*"}},
    ]
    assert not report.in_sync
    report.drifted, report.unmanaged = [], []
    assert report.in_sync, "ignored entries alone are in sync"


def test_the_human_report_lists_what_was_ignored_and_why_even_in_sync():
    doc = {**document(), "in_sync": True,
           "ignored": [{"category": "unmanaged", **unmanaged(), "reason": "the bastion", "rule": {"unmanaged": "sg-0abc*"}}]}
    text = render_drift(doc)
    assert text.splitlines() == ["In sync: dev in us-east-1 matches the desired state (1 ignored by rule):",
                                 "  = ignored unmanaged security_group sg-0abc1234: the bastion"]


# -- validation: one line per problem, before any call ---------------------------------------------

def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("rule,fragment", [
    ('resource = "ecs.service.video-worker"\nreason = "r"', "resource 'ecs.service.video-worker' is not a node of the stack (did you mean ecs.service.worker?)"),
    ('resource = "nothing.*"\nreason = "r"', "resource pattern 'nothing.*' matches no node of the stack"),
    ('resource = "ecs.service.worker"', "drift.ignore[1]: reason is required"),
    ('resource = "ecs.service.worker"\nreason = "  "', "reason must be a non-empty string"),
    ('resource = "ecs.service.worker"\nreason = "r"\nattributes = "desired_count"', "unknown key 'attributes'"),
    ('unmanaged = 5\nreason = "r"', "unmanaged must be a non-empty string, got 5"),
    ('unmanaged = ["sg-*"]\nreason = "r"', "unmanaged must be a non-empty string, got ['sg-*']"),
    ('reason = "r"', "give exactly one of resource"),
    ('resource = "vpc"\nunmanaged = "sg-*"\nreason = "r"', "give exactly one of resource"),
    ('unmanaged = "sg-*"\nattribute = "x"\nreason = "r"', "attribute narrows a resource rule"),
    ('resource = "vpc"\nkind = "security_group"\nreason = "r"', "kind narrows an unmanaged rule"),
])
def test_a_bad_rule_is_one_line_naming_it(tmp_path, rule, fragment):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"[[environments.dev.drift.ignore]]\n{rule}\n"), "dev", node_keys())
    assert len(caught.value.lines) == 1, caught.value.lines
    assert fragment in caught.value.lines[0]
    assert "drift.ignore[1]" in caught.value.lines[0]


def test_every_bad_rule_gets_its_own_line_numbered_defaults_first(tmp_path):
    text = """
[[defaults.drift.ignore]]
unmanaged = "sg-0abc*"
reason = "the bastion"
[[environments.dev.drift.ignore]]
resource = "ecs.service.worker"
[[environments.dev.drift.ignore]]
resource = "ecs.service.nope"
reason = "r"
"""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), "dev", node_keys())
    assert [line.split(": ")[1] for line in caught.value.lines] == ["drift.ignore[2]", "drift.ignore[3]"]


@pytest.mark.parametrize("text,fragment", [
    ('[[drift.ignore]]\nresource = "vpc"\nreason = "r"', "drift rules go under [defaults.drift] or [environments.NAME.drift]"),
    ('[defaults]\ndrift = 3', "drift must be a table"),
    ('[defaults.drift]\nignore = "vpc"', "drift.ignore must be a list of tables"),
    ('[defaults.drift]\nignored = []', "unknown key 'drift.ignored'"),
])
def test_a_misplaced_or_mistyped_drift_table_is_one_line(tmp_path, text, fragment):
    with pytest.raises(Exception) as caught:
        load_config(write(tmp_path, text), "dev", node_keys())
    lines = getattr(caught.value, "lines", None) or [caught.value.user_message]
    assert len(lines) == 1 and fragment in lines[0], lines


def test_the_rules_of_defaults_and_of_the_environment_add_up(tmp_path):
    text = """
[[defaults.drift.ignore]]
unmanaged = "sg-0abc*"
reason = "the bastion"
[[environments.prod.drift.ignore]]
resource = "ecs.service.worker"
attribute = "desired_count"
reason = "autoscaling owns the count"
"""
    path = write(tmp_path, text)
    assert [r.reason for r in rules_of(load_config(path, "prod", node_keys()).drift)] == ["the bastion", "autoscaling owns the count"]
    assert [r.reason for r in rules_of(load_config(path, "dev", node_keys()).drift)] == ["the bastion"]


def test_node_keys_are_the_stacks():
    keys = node_keys()
    assert len(keys) == len(stack_nodes("dev", EnvConfig(), ["a", "b"])) and {"vpc", "secret.redis_auth.policy", "ecs.service.worker", "apigw.usage_plan", "subnet.isolated.2"} <= set(keys)


def test_a_resource_rule_is_judged_only_against_node_keys_the_caller_gives(tmp_path):
    # The configuration cannot build the stack (the stack is built from it): its caller gives the
    # keys. A caller that forgot them is told so, rather than the user being told of a bad rule.
    path = write(tmp_path, '[[environments.dev.drift.ignore]]\nresource = "ecs.service.worker"\nreason = "r"\n')
    assert rules_of(load_config(path, "dev", ["ecs.service.worker"]).drift)[0].resource == "ecs.service.worker"
    with pytest.raises(ConfigError, match="resource 'ecs.service.worker' is not a node of the stack"):
        load_config(path, "dev", ["vpc"])
    with pytest.raises(TypeError, match="node keys"):
        load_config(path, "dev")
    # Without a resource rule there is nothing to judge: the keys are not needed.
    assert load_config(write(tmp_path, '[[defaults.drift.ignore]]\nunmanaged = "sg-*"\nreason = "r"\n'), "dev").drift


# -- the recorded configuration carries the rules ---------------------------------------------------

def test_rules_are_recorded_with_the_configuration_and_used_without_config(tmp_path):
    path = write(tmp_path, '[[environments.prod.drift.ignore]]\nresource = "ecs.service.worker"\n'
                           'attribute = "desired_count"\nreason = "autoscaling owns the count"\n')
    given = ChosenConfig(load_config(path, "prod", node_keys()), "file", path)
    doc = StateDocument.new("prod", "us-east-1")
    remember_config(doc, given, succeeded=True)
    assert doc.config["values"]["drift"]["ignore"][0]["reason"] == "autoscaling owns the count"
    recorded = choose_config(None, doc, "prod", node_keys())
    assert recorded.origin == "recorded" and recorded.hash == given.hash
    assert rules_of(recorded.cfg.drift) == [IgnoreRule(reason="autoscaling owns the count",
                                                        resource="ecs.service.worker", attribute="desired_count")]


def test_without_rules_the_recorded_values_and_hash_are_what_they_were_before_rules_existed():
    values = ChosenConfig(EnvConfig(), "defaults", "defaults").values
    # A state recorded by the previous version stays "applied": no state write, the same hash.
    assert "drift" not in values
    assert ChosenConfig(EnvConfig(drift={"ignore": []}), "file", "c").hash == ChosenConfig(EnvConfig(), "file", "c").hash


def test_a_bad_rule_recorded_in_the_state_is_refused_in_one_line():
    doc = StateDocument.new("dev", "us-east-1")
    doc.config = {"values": {"drift": {"ignore": [{"resource": "vpc"}]}}, "hash": "sha256:x", "source": "c.toml"}
    with pytest.raises(ConfigError) as caught:
        choose_config(None, doc, "dev", node_keys())
    assert caught.value.lines == ["the configuration recorded in the state of dev: drift.ignore[1]: reason is required: "
                                  "say why this drift is expected, for whoever reads the report"]


# -- fingerprints and what is new ------------------------------------------------------------------

def test_a_fingerprint_names_the_finding_not_its_presentation():
    base = fingerprint("drifted", drifted())
    assert base.startswith("sha256:")
    assert fingerprint("drifted", drifted(name="renamed", kind="x")) == base
    assert fingerprint("drifted", dict(reversed(list(drifted().items())))) == base
    assert fingerprint("drifted", drifted(expected={"b": 1, "a": 2})) == fingerprint("drifted", drifted(expected={"a": 2, "b": 1}))
    # Drifting further is a new finding; so is the same attribute of another resource.
    assert fingerprint("drifted", drifted(actual=4)) != base
    assert fingerprint("drifted", drifted(resource="ecs.service.api")) != base
    assert fingerprint("unmanaged", unmanaged()) != fingerprint("unmanaged", unmanaged(id="sg-2"))
    assert fingerprint("missing", missing()) != fingerprint("unmanaged", {"kind": "secret", "id": "arn:secret"})
    # An unreadable resource is the same finding whatever the error's wording.
    assert fingerprint("unchecked", {"resource": "logs.api", "reason": "a"}) == fingerprint("unchecked", {"resource": "logs.api", "reason": "b"})


def test_the_first_check_finds_everything_new_the_next_nothing_then_only_what_appeared():
    first_doc = document(drifted=[drifted()], unmanaged=[unmanaged()])
    new, record = compare(None, first_doc, checked_at="t1")
    assert [n["category"] for n in new] == ["drifted", "unmanaged"]
    assert new[0] == {"category": "drifted", "fingerprint": fingerprint("drifted", drifted()), **drifted()}
    assert record["checked_at"] == "t1" and len(record["entries"]) == 2
    # The record keeps what identifies a finding, not the values.
    assert "actual" not in record["entries"][0]
    again, record = compare(record, first_doc, checked_at="t2")
    assert again == []
    more = document(drifted=[drifted()], unmanaged=[unmanaged()], missing=[missing()])
    third, record = compare(record, more, checked_at="t3")
    assert [(n["category"], n["resource"]) for n in third] == [("missing", "secret.api_key")]
    # Repaired, then back: new again.
    _, record = compare(record, document(), checked_at="t4")
    back, _ = compare(record, first_doc, checked_at="t5")
    assert len(back) == 2


def test_findings_of_a_resource_that_could_not_be_read_stay_remembered():
    _, record = compare(None, document(drifted=[drifted()]), checked_at="t1")
    blind = document(unchecked=[{"resource": "ecs.service.worker", "reason": "Throttling"}])
    new, record = compare(record, blind, checked_at="t2")
    assert [n["category"] for n in new] == ["unchecked"]
    read_again, _ = compare(record, document(drifted=[drifted()]), checked_at="t3")
    assert read_again == [], "the drift was known before the resource became unreadable"


def test_an_unreadable_record_makes_everything_new():
    new, _ = compare({"entries": "garbage"}, document(unmanaged=[unmanaged()]), checked_at="t")
    assert len(new) == 1


def test_the_human_report_marks_what_is_new():
    doc = {**document(drifted=[drifted()], unmanaged=[unmanaged()]), "in_sync": False, "ignored": [],
           "new": [{"category": "unmanaged", "fingerprint": fingerprint("unmanaged", unmanaged()), **unmanaged()}],
           "new_since": "t1"}
    lines = render_drift(doc).splitlines()
    assert lines[1].endswith("expected 1") and lines[2].endswith("sg-0abc1234 (new)")
    assert lines[-1] == "1 drifted, 1 unmanaged; 1 new since the last check."


def test_the_human_report_says_a_drifted_value_aws_will_not_change_back_is_not_for_a_reconcile():
    """docs/aws-behaviours.md D-RDS-1: a drift no reconcile repairs is reported with why, never as a promise."""
    why = "RDS cannot change the key of a master secret it already manages"
    doc = {**document(drifted=[drifted(attribute="master_user_secret_kms_key_id", expected="arn:k1", actual="arn:k2",
                                       not_repairable=why)]), "in_sync": False, "ignored": []}
    lines = render_drift(doc).splitlines()
    assert lines[1].endswith(f"expected arn:k1 (a reconcile cannot restore it: {why})"), lines[1]
    assert fingerprint("drifted", doc["drifted"][0]) == fingerprint("drifted", drifted(
        attribute="master_user_secret_kms_key_id", expected="arn:k1", actual="arn:k2"))
