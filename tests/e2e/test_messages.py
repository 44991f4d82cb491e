"""What a user reads, through the real bin/ commands against the moto server: a misspelt
configuration key, a corrupt state in S3, drift's report, a region AWS does not have.

Bad-input cases run ``orchestrator.cli.main`` in-process (``via`` "main") with a sample through the
real command (``via`` "bin"), as in test_state_and_input.py.
"""
from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import REGION, ROOT, via_bin_for
from tests.e2e.test_state_and_input import one_error_line, state_files, valid_doc

from orchestrator.config import KEYS_DOCUMENTED  # noqa: E402

# -- a misspelt configuration key ----------------------------------------------------------------
MISSPELT = {
    "defaults key": ("[defaults]\nvpc_cdir = '10.0.0.0/16'\n", "unknown key 'vpc_cdir'; did you mean 'vpc_cidr'?"),
    "environment key": ("[environments.dev]\ndb_instance_clas = 'db.t3.large'\n",
                        "unknown key 'db_instance_clas'; did you mean 'db_instance_class'?"),
    "drift table key": ("[defaults.drift]\nignores = []\n", "unknown key 'drift.ignores'; did you mean 'drift.ignore'?"),
    "drift rule key": ("[[defaults.drift.ignore]]\nresource = 'vpc'\nreason = 'r'\nattribtue = 'x'\n",
                       "drift.ignore[1]: unknown key 'attribtue'; did you mean 'attribute'?"),
    "nothing close": ("[defaults]\ncolour = 'blue'\n", f"unknown key 'colour'; {KEYS_DOCUMENTED}"),
}


@pytest.mark.parametrize("via, text, message", via_bin_for({"defaults key", "nothing close"}, MISSPELT))
def test_a_misspelt_configuration_key_is_one_line_naming_the_file_and_the_key_it_means(
        run, quiet_server, tmp_path, via, text, message):
    config = tmp_path / "settings.toml"
    config.write_text(text)
    result = run(via, "reconcile", "--env", "dev", "--plan", "--config", str(config))
    # The key and the file, and no list of every key (dozens of them).
    assert one_error_line(result) == f"error: {config}: {message}"
    assert result.stdout == ""
    assert quiet_server.calls() == []


def test_the_readme_section_an_unknown_key_points_to_lists_every_key():
    import dataclasses

    from orchestrator.config import EnvConfig

    section = (ROOT / "docs" / "configuration.md").read_text()
    # `drift` is documented by its one key, `drift.ignore`.
    assert [f.name for f in dataclasses.fields(EnvConfig)
            if f"`{f.name}`" not in section and f"`{f.name}." not in section] == []


# -- a corrupt state in S3 -------------------------------------------------------------------------
BUCKET = "team-state"
URL = f"s3://{BUCKET}/envs"
STATE_URL = f"{URL}/dev.{REGION}.json"


@pytest.mark.parametrize("content, message", [
    (b"{not json", "is corrupt: Expecting property name enclosed in double quotes at line 1 column 2"),
    (b"\xff\xfe", "is corrupt: not UTF-8 text"),
    (valid_doc(env="prod").encode(), f"belongs to env 'prod' in region '{REGION}', not env 'dev' in '{REGION}'"),
], ids=["not json", "not utf-8", "other env"])
def test_a_corrupt_state_in_s3_is_named_by_its_url(cli, server, reader, content, message):
    assert cli("state", "init", URL).code == 0
    reader("s3").put_object(Bucket=BUCKET, Key=f"envs/dev.{REGION}.json", Body=content)
    server.clear_recording()
    result = cli("drift", "--env", "dev", env={"VIDEO_PIPELINE_STATE": URL})
    assert one_error_line(result) == f"error: state file {STATE_URL} {message}"
    assert server.mutating_calls() == []
    assert reader("s3").get_object(Bucket=BUCKET, Key=f"envs/dev.{REGION}.json")["Body"].read() == content


def test_drift_all_names_the_corrupt_state_file_of_one_environment(cli, server, state_dir):
    path, _ = state_files(state_dir, b"[]")
    result = cli("drift", "--all")
    assert f"error: dev: state file {path} is corrupt: expected an object, found an array" in result.stderr.splitlines()
    assert result.code == 1


# -- drift's report ----------------------------------------------------------------------------------
def test_drift_prints_its_report_on_stdout_and_with_json_only_the_document(cli, server):
    plain = cli("drift", "--env", "dev")
    assert plain.code == 2, plain.stderr
    # Nothing was ever made: everything is missing, and the report is the command's answer.
    assert plain.stdout.startswith(f"Drift in dev ({REGION}):\n  - missing vpc vpc-dev\n")
    assert "Drift in" not in plain.stderr

    as_json = cli("drift", "--env", "dev", "--json")
    assert as_json.code == 2, as_json.stderr
    assert json.loads(as_json.stdout)["in_sync"] is False  # stdout is exactly one JSON document
    assert f"Drift in dev ({REGION}):" in as_json.stderr


def test_drift_all_prints_its_report_on_stdout_and_with_json_only_the_document(cli, server, state_dir):
    state_files(state_dir, valid_doc())  # an environment whose state records nothing, AWS showing nothing
    plain = cli("drift", "--all")
    assert plain.code == 0, plain.stderr
    assert plain.stdout == f"0 environment(s) checked in {REGION}, 0 with drift.\n"
    as_json = cli("drift", "--all", "--json")
    assert as_json.code == 0, as_json.stderr
    assert json.loads(as_json.stdout)["all"] is True
    assert f"0 environment(s) checked in {REGION}, 0 with drift." in as_json.stderr


# -- a region AWS does not have ----------------------------------------------------------------------
COMMANDS = {"reconcile": ("reconcile", "--env", "dev", "--plan"), "teardown": ("teardown", "--env", "dev", "--yes"),
            "drift": ("drift", "--env", "dev"), "drift --all": ("drift", "--all"),
            "state init": ("state", "init", "s3://team-state")}
SHAPE = "AWS region names look like us-east-1 or eu-west-3"


@pytest.mark.parametrize("via, args", via_bin_for({"reconcile", "drift"}, {k: (v,) for k, v in COMMANDS.items()}))
def test_a_region_name_aws_cannot_have_is_one_line_before_any_call(run, quiet_server, via, args):
    result = run(via, *args, "--region", "mars-1")
    assert one_error_line(result) == f"error: unknown AWS region 'mars-1': {SHAPE}"
    assert result.stdout == ""
    assert quiet_server.calls() == []


@pytest.mark.parametrize("via, region, line", via_bin_for({"typo"}, {
    "typo": ("us-east1", f"unknown AWS region 'us-east1': {SHAPE}; did you mean us-east-1?"),
    "upper case": ("EU-WEST-1", f"unknown AWS region 'EU-WEST-1': {SHAPE}; did you mean eu-west-1?"),
}))
def test_a_misspelt_region_from_the_environment_names_the_one_it_means(run, quiet_server, via, region, line):
    result = run(via, "drift", "--env", "dev", env={"AWS_REGION": region})
    assert one_error_line(result) == f"error: {line}"
    assert quiet_server.calls() == []


def test_a_well_formed_region_no_endpoint_answers_for_is_one_line_after_one_read(run, quiet_server):
    # moto answers a region it does not have with an HTML error page; AWS with no endpoint at all.
    result = run("bin", "reconcile", "--env", "dev", "--region", "xx-mars-1")
    assert one_error_line(result) == "error: unknown AWS region 'xx-mars-1': no AWS endpoint answers for it"
    assert "html" not in result.stderr.lower()
    assert {(c.service, c.operation) for c in quiet_server.calls()} == {("ec2", "DescribeAvailabilityZones")}


# -- refusals name no internal row id --------------------------------------------------------------
def test_a_storage_shrink_and_an_engine_downgrade_are_refused_without_an_internal_row_id(cli, server, tmp_path):
    from tests.support.row_ids import ROW_ID

    def config(name: str, text: str) -> str:
        (tmp_path / name).write_text("[defaults]\n" + text)
        return str(tmp_path / name)

    made = cli("reconcile", "--env", "dev", "--config", config("30.toml", "db_allocated_storage = 30\n"))
    assert made.code == 0, made.stderr
    server.clear_recording()
    shrink = cli("reconcile", "--env", "dev", "--plan", "--config", config("25.toml", "db_allocated_storage = 25\n"))
    downgrade = cli("reconcile", "--env", "dev",
                    "--config", config("16.toml", "db_allocated_storage = 30\ndb_engine_version = '16'\n"))
    for result, why in ((shrink, "RDS storage can only grow"), (downgrade, "cannot downgrade PostgreSQL 17")):
        assert result.code == 1, result.stderr
        [error, *_] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert error.startswith("error: rds.instance: ") and why in error, error
        assert not ROW_ID.search(result.stdout + result.stderr), result.stdout + result.stderr
    assert server.mutating_calls() == []
