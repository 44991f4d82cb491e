import json
import threading

import pytest

from state import (
    SCHEMA_VERSION, CorruptStateError, ForeignStateError, SchemaVersionError, StateDocument, StateError,
)


def _doc_json(**overrides):
    data = {"schema_version": 1, "env": "dev", "region": "us-east-1", "account": None,
            "azs": [], "resources": {}, "outputs": {}}
    data.update(overrides)
    return json.dumps(data)


def test_new_document_shape():
    doc = StateDocument.new("dev", "us-east-1")
    assert json.loads(doc.to_json()) == {
        "schema_version": SCHEMA_VERSION, "env": "dev", "region": "us-east-1", "account": None,
        "azs": [], "resources": {}, "outputs": {}}


def test_round_trip():
    doc = StateDocument.new("dev", "us-east-1")
    doc.account = "123456789012"
    doc.azs = ["us-east-1a", "us-east-1b"]
    doc.outputs = {"VpcId": "vpc-0abc"}
    doc.set_resource("vpc", kind="vpc", name="vpc-dev", id="vpc-0abc", spec_hash="h1",
                     outputs={"cidr": "10.0.0.0/16"}, intent={"tags": [{"Key": "k", "Value": "v"}]})
    text = doc.to_json()
    again = StateDocument.from_json(text, env="dev", region="us-east-1", account="123456789012")
    assert again.to_json() == text
    assert again.resource("vpc")["outputs"] == {"cidr": "10.0.0.0/16"}
    assert again.azs == ["us-east-1a", "us-east-1b"]
    assert again.outputs == {"VpcId": "vpc-0abc"}
    assert again.account == "123456789012"


def test_to_json_is_stable():
    a = StateDocument.new("dev", "us-east-1")
    b = StateDocument.new("dev", "us-east-1")
    a.set_resource("x", one=1, two=2)
    b.set_resource("x", two=2, one=1)
    assert a.to_json() == b.to_json()
    assert a.to_json().endswith("}\n")
    assert '\n  "azs"' in a.to_json()  # indent 2
    keys = list(json.loads(a.to_json()))
    assert keys == sorted(keys)


def test_set_resource_merges_and_none_removes():
    doc = StateDocument.new("dev", "us-east-1")
    doc.set_resource("vpc", kind="vpc", id="vpc-1")
    doc.set_resource("vpc", spec_hash="h", id="vpc-2")
    assert doc.resource("vpc") == {"kind": "vpc", "id": "vpc-2", "spec_hash": "h"}
    doc.set_resource("vpc", id=None, absent=None)
    assert doc.resource("vpc") == {"kind": "vpc", "spec_hash": "h"}
    doc.remove_resource("vpc")
    assert doc.resource("vpc") is None
    doc.remove_resource("vpc")  # removing twice is harmless


def test_getters_return_copies():
    doc = StateDocument.new("dev", "us-east-1")
    doc.set_resource("vpc", outputs={"a": 1})
    doc.resource("vpc")["outputs"]["a"] = 2
    doc.resources["vpc"]["kind"] = "changed"
    doc.azs.append("x")
    doc.outputs["y"] = 1
    assert doc.resource("vpc") == {"outputs": {"a": 1}}
    assert doc.azs == [] and doc.outputs == {}


def test_set_resource_copies_its_input():
    doc = StateDocument.new("dev", "us-east-1")
    intent = {"tags": ["a"]}
    doc.set_resource("vpc", intent=intent)
    intent["tags"].append("b")
    assert doc.resource("vpc") == {"intent": {"tags": ["a"]}}


def test_set_resource_rejects_non_json_values():
    doc = StateDocument.new("dev", "us-east-1")
    with pytest.raises(ValueError, match="not JSON-serializable"):
        doc.set_resource("vpc", created=object())
    with pytest.raises(ValueError):
        doc.set_resource("vpc", ratio=float("nan"))
    assert doc.resource("vpc") is None


@pytest.mark.parametrize("fields", [
    {"password": "hunter2"},
    {"MasterUserPassword": "hunter2"},
    {"intent": {"SecretString": "s"}},
    {"intent": {"nested": [{"auth_token": "t"}]}},
    {"outputs": {"AuthToken": "t"}},
    {"outputs": {"deep": {"deeper": {"API_KEY_VALUE": "k"}}}},
    {"secret_string": "s"},
])
def test_secret_fields_are_refused(fields):
    doc = StateDocument.new("dev", "us-east-1")
    with pytest.raises(ValueError, match="secret"):
        doc.set_resource("db", **fields)
    assert doc.resource("db") is None


def test_value_and_lookalike_fields_are_allowed():
    doc = StateDocument.new("dev", "us-east-1")
    doc.set_resource("param", value="x", intent={"Tags": [{"Key": "k", "Value": "v"}]},
                     secret_arn="arn:aws:secretsmanager:...", password_secret_arn="arn")
    assert doc.resource("param")["value"] == "x"


def test_outputs_refuse_secrets_too():
    doc = StateDocument.new("dev", "us-east-1")
    with pytest.raises(ValueError, match="secret"):
        doc.outputs = {"Password": "x"}


def test_account_filled_in_when_document_has_none():
    doc = StateDocument.from_json(_doc_json(), env="dev", region="us-east-1", account="123456789012")
    assert doc.account == "123456789012"


@pytest.mark.parametrize("text, fragment", [
    ("", "state file is corrupt: Expecting value at line 1 column 1"),
    ("{not json", "state file is corrupt: "),
    ("[1, 2]", "expected an object, found an array"),
    ('"text"', "expected an object, found a string"),
    (json.dumps({"env": "dev"}), "missing key 'schema_version'"),
    (json.dumps({"schema_version": "1"}), "'schema_version' must be an integer"),
    (json.dumps({"schema_version": True}), "'schema_version' must be an integer"),
    (_doc_json(resources=None), "'resources' must be an object of objects"),
    (_doc_json(resources={"vpc": "vpc-1"}), "'resources' must be an object of objects"),
    (_doc_json(azs="us-east-1a"), "'azs' must be an array of strings"),
    (_doc_json(account=1), "'account' must be a string or null"),
    (_doc_json(env=None), "'env' must be a string"),
])
def test_corrupt_documents(text, fragment):
    with pytest.raises(CorruptStateError) as info:
        StateDocument.from_json(text, env="dev", region="us-east-1")
    message = str(info.value)
    assert message.startswith("state file is corrupt: ") and fragment in message
    assert "\n" not in message


def test_missing_key_is_corrupt():
    data = json.loads(_doc_json())
    del data["outputs"]
    with pytest.raises(CorruptStateError, match="missing key 'outputs'"):
        StateDocument.from_json(json.dumps(data), env="dev", region="us-east-1")


@pytest.mark.parametrize("overrides, expected", [
    ({"env": "prod"},
     "state file belongs to env 'prod' in region 'us-east-1', not env 'dev' in 'us-east-1'"),
    ({"region": "eu-west-1"},
     "state file belongs to env 'dev' in region 'eu-west-1', not env 'dev' in 'us-east-1'"),
    ({"account": "999999999999"},
     "state file belongs to account '999999999999', not account '123456789012'"),
])
def test_foreign_documents(overrides, expected):
    with pytest.raises(ForeignStateError) as info:
        StateDocument.from_json(_doc_json(**overrides), env="dev", region="us-east-1",
                                account="123456789012")
    assert str(info.value) == expected


def test_account_checked_only_when_both_sides_know_it():
    StateDocument.from_json(_doc_json(account="999999999999"), env="dev", region="us-east-1")
    StateDocument.from_json(_doc_json(account=None), env="dev", region="us-east-1", account="1")


@pytest.mark.parametrize("version", [3, 0])
def test_schema_version_mismatch(version):
    with pytest.raises(SchemaVersionError) as info:
        StateDocument.from_json(_doc_json(schema_version=version), env="dev", region="us-east-1")
    assert f"schema version {version}" in str(info.value)
    assert f"reads versions 1 to {SCHEMA_VERSION}" in str(info.value)
    assert isinstance(info.value, StateError)


def test_schema_version_checked_before_shape():
    # A newer tool may change the shape; the version is the useful message.
    text = json.dumps({"schema_version": SCHEMA_VERSION + 1, "environment": "dev"})
    with pytest.raises(SchemaVersionError, match="newer version"):
        StateDocument.from_json(text, env="dev", region="us-east-1")


def test_concurrent_mutations_are_not_lost():
    doc = StateDocument.new("dev", "us-east-1")
    barrier = threading.Barrier(8)

    def work(i):
        barrier.wait()
        for j in range(200):
            doc.set_resource(f"r{i}", **{f"f{j}": j})
            doc.to_json()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    resources = json.loads(doc.to_json())["resources"]
    assert len(resources) == 8
    assert all(len(entry) == 200 for entry in resources.values())


def test_the_retired_record_round_trips_and_older_documents_have_none():
    assert StateDocument.from_json(_doc_json(), env="dev", region="us-east-1").retired is None
    doc = StateDocument.new("dev", "us-east-1")
    record = {"at": "2026-12-06T17:00:00+00:00", "by": "ci@runner", "command": "bin/teardown",
              "retained": [{"resource": "kms.key", "kind": "kms_key", "id": "k-1", "until": "2027-01-05T17:00:00+00:00"}]}
    doc.retired = record
    again = StateDocument.from_json(doc.to_json(), env="dev", region="us-east-1")
    assert again.retired == record
    again.retired = None  # a reconcile creating the environment anew
    assert "retired" not in json.loads(again.to_json())


@pytest.mark.parametrize("retired", ["yes", {"at": 1, "retained": []}, {"at": "2026-12-06", "retained": "kms"}])
def test_a_malformed_retired_record_is_a_corrupt_state(retired):
    with pytest.raises(CorruptStateError, match="'retired' must be an object"):
        StateDocument.from_json(_doc_json(retired=retired), env="dev", region="us-east-1")
