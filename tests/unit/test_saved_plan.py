"""The saved plan's file (bin/reconcile --plan --out FILE): written whole and private, read back
only when it is one, unaltered; what --apply checks before its walk; the digest of a reading."""
from __future__ import annotations

import argparse
import json
import os
import stat
from pathlib import Path

import pytest

from orchestrator import saved_plan
from orchestrator.config import ChosenConfig, EnvConfig
from orchestrator.errors import UserError
from orchestrator.reconciler import NodeResult, observed_digest
from orchestrator.run import RunResult
from resources.base import FieldDiff, Observed
from state import StateDocument

REGION, ACCOUNT, LOCATION = "eu-west-1", "111122223333", "file://host/state"


def basis(doc=None, **changes) -> saved_plan.Basis:
    fields = dict(env="dev", region=REGION, account=ACCOUNT, location=LOCATION,
                  state_version=saved_plan.state_version(doc or StateDocument.new("dev", REGION, ACCOUNT)),
                  config=ChosenConfig(EnvConfig(), "file", "dev.toml"), allow_replace=frozenset({"vpc"}),
                  redeploy=frozenset(), rotate=frozenset())
    return saved_plan.Basis(**{**fields, **changes})


def a_run() -> RunResult:
    changed = NodeResult("logs.api", "log_group", "/ecs/api-dev", "update", id="/ecs/api-dev",
                         changes=[FieldDiff("retention_days", 90, 30)], observed="sha256:aa")
    created = NodeResult("secret.db", "secret", "db-dev", "create", observed="absent")
    return RunResult([changed, created], {})


def saved_file(tmp_path, run=None, applicable=True) -> str:
    args = argparse.Namespace(out=str(tmp_path / "plan.json"), json=True)
    saved_plan.save(args, basis(), run or a_run(), applicable=applicable)
    return args.out


def test_the_file_is_private_whole_and_reads_back_as_written(tmp_path):
    path = saved_file(tmp_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["plan.json"], "no temporary file left beside it"
    saved = saved_plan.read(path)
    assert (saved["env"], saved["region"], saved["account"], saved["state_location"]) == ("dev", REGION, ACCOUNT, LOCATION)
    assert saved["config"]["hash"] == ChosenConfig(EnvConfig(), "file", "dev.toml").hash
    assert saved["config"]["values"] == json.loads(json.dumps(ChosenConfig(EnvConfig(), "file", "x").values))
    assert saved["allow_replace"] == ["vpc"] and saved["refused"] == []
    assert [c["resource"] for c in saved["changes"]] == ["logs.api", "secret.db"]
    assert saved["observed"] == {"logs.api": {"id": "/ecs/api-dev", "digest": "sha256:aa"},
                                 "secret.db": {"id": None, "digest": "absent"}}


def test_a_plan_that_cannot_be_applied_is_saved_with_its_reasons(tmp_path):
    run = a_run()
    run.results[0].refusal = "impossible change"
    saved = saved_plan.read(saved_file(tmp_path, run, applicable=False))
    assert saved["refused"] == ["logs.api: impossible change"]


def _rewrite(path: str, change) -> None:
    body = json.loads(open(path).read())
    change(body)
    open(path, "w").write(json.dumps(body))


def _resealed(change):
    # A change made with the digest recomputed: the shape check must catch it by itself.
    def apply(body):
        change(body)
        body["digest"] = saved_plan._digest(body)
    return apply


BAD = {
    "not JSON": (lambda p: open(p, "w").write("{\"format\": "), "is not a saved plan of bin/reconcile: not JSON"),
    "a list": (lambda p: open(p, "w").write("[]"), "is not a saved plan of bin/reconcile (bin/reconcile --plan"),
    "another format": (lambda p: _rewrite(p, lambda b: b.update(format="terraform")), "is not a saved plan"),
    "a newer version": (lambda p: _rewrite(p, lambda b: b.update(version=2)),
                        "is a saved plan of format version 2; this tool reads version 1"),
    "a value edited": (lambda p: _rewrite(p, lambda b: b["config"]["values"].update(log_retention_days=7)),
                       "is corrupt: its content does not match its digest"),
    "the env edited": (lambda p: _rewrite(p, lambda b: b.update(env="prod")), "does not match its digest"),
    "a key missing": (lambda p: _rewrite(p, _resealed(lambda b: b.pop("observed"))),
                      "is corrupt: 'observed' is missing or not dict"),
    "a config key missing": (lambda p: _rewrite(p, _resealed(lambda b: b["config"].pop("hash"))),
                             "is corrupt: 'hash' is missing or not str"),
    "not UTF-8": (lambda p: open(p, "wb").write(b"\xff\xfe"), "not UTF-8 text"),
}


@pytest.mark.parametrize("spoil", BAD.values(), ids=BAD.keys())
def test_a_file_that_is_not_an_unaltered_saved_plan_is_refused_in_one_line(tmp_path, spoil):
    path = saved_file(tmp_path)
    spoil[0](path)
    with pytest.raises(UserError) as refused:
        saved_plan.read(path)
    assert spoil[1] in str(refused.value) and "\n" not in str(refused.value)


def test_a_saved_plan_for_another_place_is_refused(tmp_path):
    saved = saved_plan.read(saved_file(tmp_path))
    doc = StateDocument.new("dev", REGION, ACCOUNT)
    saved_plan.check_basis(saved, basis(), doc, "plan.json")  # the same place: accepted
    for key, value, what in (("region", "us-east-1", "region"), ("account", "999999999999", "AWS account"),
                             ("location", "s3://bucket/state", "state location")):
        with pytest.raises(UserError, match=f"plan.json was planned for {what} .*, this run is for {what} {value}"):
            saved_plan.check_basis(saved, basis(**{key: value}), doc, "plan.json")


def test_a_state_written_since_the_plan_makes_it_stale_and_says_why(tmp_path):
    doc = StateDocument.new("dev", REGION, ACCOUNT)
    saved = saved_plan.read(saved_file(tmp_path))
    doc.set_resource("vpc", id="vpc-1")
    with pytest.raises(saved_plan.StalePlan, match="the state of dev was written since the plan was made"):
        saved_plan.check_basis(saved, basis(doc), doc, "plan.json")
    # A plan made with the recorded configuration: a new one recorded since is named as such.
    saved["config"]["origin"] = "recorded"
    doc.config = {"values": {}, "hash": "sha256:other", "source": "other.toml"}
    with pytest.raises(saved_plan.StalePlan, match="the configuration recorded for dev changed since the plan"):
        saved_plan.check_basis(saved, basis(doc), doc, "plan.json")


def test_the_state_version_follows_the_document():
    doc = StateDocument.new("dev", REGION, ACCOUNT)
    before = saved_plan.state_version(doc)
    assert saved_plan.state_version(StateDocument.new("dev", REGION, ACCOUNT)) == before
    doc.outputs = {"VpcId": "vpc-1"}
    assert saved_plan.state_version(doc) != before


def test_a_reading_moved_is_named_created_gone_or_changed():
    saved = {"logs.api": {"id": "/ecs/api-dev", "digest": "sha256:aa"}, "secret.db": {"id": None, "digest": "absent"},
             "vpc": {"id": "vpc-1", "digest": "sha256:v"}, "sg.rds": {"id": "sg-1", "digest": "sha256:s"}}
    now = [NodeResult("logs.api", "log_group", "/ecs/api-dev", "unchanged", id="/ecs/api-dev", observed="sha256:bb"),
           NodeResult("secret.db", "secret", "db-dev", "unchanged", id="arn:db", observed="sha256:cc"),
           NodeResult("vpc", "vpc", "vpc-dev", "create", observed="absent"),
           NodeResult("sg.rds", "security_group", "rds-sg-dev", "unchanged", id="sg-2", observed="sha256:s2")]
    assert saved_plan.moved_resources(saved, now) == [
        "log_group /ecs/api-dev (/ecs/api-dev) changed since the plan was made",
        "secret db-dev (arn:db) was created since the plan was made",
        "vpc vpc-dev (vpc-1) is gone since the plan was made",
        "security_group rds-sg-dev is sg-2 now, the plan read sg-1",
    ]
    same = [NodeResult(k, "kind", k, "unchanged", id=v["id"], observed=v["digest"]) for k, v in saved.items()]
    assert saved_plan.moved_resources(saved, same) == []


def test_the_preview_check_refuses_a_different_change_even_with_the_same_readings(tmp_path):
    saved = saved_plan.read(saved_file(tmp_path))
    saved_plan.check_preview(saved, a_run())  # the same plan again: accepted
    other = a_run()
    other.results[0].changes = [FieldDiff("retention_days", 60, 30)]
    with pytest.raises(saved_plan.StalePlan, match="log_group /ecs/api-dev would now change differently from the plan"):
        saved_plan.check_preview(saved, other)


def test_a_reading_is_digested_from_its_id_attributes_and_tags_not_its_raw_answer():
    obs = Observed("sg-1", {"ingress": [{"from_port": 443}]}, {"Name": "a"}, raw={"ResponseMetadata": 1})
    same = Observed("sg-1", {"ingress": [{"from_port": 443}]}, {"Name": "a"}, raw={"ResponseMetadata": 2})
    assert observed_digest(obs) == observed_digest(same) and observed_digest(obs).startswith("sha256:")
    for moved in (Observed("sg-2", obs.attrs, obs.tags), Observed("sg-1", {"ingress": [{"from_port": 22}]}, obs.tags),
                  Observed("sg-1", obs.attrs, {"Name": "b"})):
        assert observed_digest(moved) != observed_digest(obs)
    assert observed_digest(None) == "absent"


def _args(**given) -> argparse.Namespace:
    flags = dict(env="dev", plan=False, out=None, apply=None, config=None, sandbox=False, allow_replace=[],
                 redeploy=[], rotate=[], given=None, json=False)
    return argparse.Namespace(**{**flags, **given})


@pytest.mark.parametrize("given, message", [
    (dict(out="p.json"), "--out FILE saves a plan: use it with --plan"),
    (dict(apply="p.json", plan=True), "--plan belongs to the plan"),
    (dict(apply="p.json", config="c.toml"), "--config belongs to the plan"),
    (dict(apply="p.json", rotate=["secret.db"]), "--rotate belongs to the plan"),
    (dict(plan=True, out="p.json", sandbox=True), "--out and --apply are for an environment"),
], ids=["out without plan", "apply with plan", "apply with config", "apply with rotate", "sandbox"])
def test_flags_that_do_not_go_with_a_saved_plan_are_refused(given, message):
    with pytest.raises(UserError, match=message):
        saved_plan.prepare(_args(**given))


def test_an_older_plan_at_the_out_path_is_gone_before_the_new_plan_starts(tmp_path):
    # A plan that then stops early (a held lock, no credentials) leaves nothing to apply there.
    older = saved_file(tmp_path)
    saved_plan.prepare(_args(plan=True, out=older))
    assert not Path(older).exists()
    saved_plan.prepare(_args(plan=True, out=str(tmp_path / "none-yet.json")))  # nothing there: fine


def test_apply_takes_the_plan_configuration_and_consents_and_refuses_another_env_or_a_refused_plan(tmp_path):
    path = saved_file(tmp_path)
    args = _args(apply=path)
    saved_plan.prepare(args)
    assert args.given.hash == saved_plan.read(path)["config"]["hash"] and args.given.source == "dev.toml"
    assert args.allow_replace == ["vpc"] and args.saved["env"] == "dev"
    with pytest.raises(UserError, match=f"{path} is a saved plan for environment dev, not prod"):
        saved_plan.prepare(_args(apply=path, env="prod"))
    refused = saved_file(tmp_path, applicable=False)
    with pytest.raises(UserError, match="holds a plan that cannot be applied"):
        saved_plan.prepare(_args(apply=refused))


def test_a_configuration_that_no_longer_reads_as_the_one_planned_is_refused(tmp_path):
    # As a newer tool reading the values differently would: their hash is not the planned one.
    path = saved_file(tmp_path)
    _rewrite(path, _resealed(lambda b: b["config"].update(hash="sha256:planned-by-another-version")))
    with pytest.raises(UserError, match="its configuration no longer reads as the one planned"):
        saved_plan.prepare(_args(apply=path))


def test_an_account_named_by_a_saved_plan_configuration_is_named_with_the_file():
    from orchestrator.cli import _require_account

    planned = ChosenConfig(EnvConfig(account_id=ACCOUNT), "file", "prod.toml")
    with pytest.raises(UserError, match=f"belongs to AWS account {ACCOUNT} \\(account_id in p.json\\), but these "
                                        "credentials are for account 999999999999"):
        _require_account(_args(apply="p.json", given=planned), "999999999999")
