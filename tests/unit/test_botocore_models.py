"""botocore's data files parsed into plain dicts (resources/aws/models.py) are the same data, in
the same order, as botocore's own OrderedDict parse, for every file the stack's clients load; the
service models, read from the cache, the same less their documentation."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import botocore
import botocore.loaders
import pytest

from orchestrator.cli import STACK_SERVICES
from resources.aws import Aws, models

ROOT = Path(__file__).resolve().parents[2]
DATA = os.path.join(os.path.dirname(botocore.__file__), "data")


def data_files() -> list[str]:
    """Every JSON data file of the stack's services (all their API versions), and the shared ones."""
    session = boto3.session.Session(region_name="us-east-1")._session
    names = {session.get_service_model(s).endpoint_prefix for s in STACK_SERVICES}
    names |= {session.get_service_model(s).service_name for s in (*STACK_SERVICES, "s3")}
    found = []
    for root, _, files in os.walk(DATA):
        top = os.path.relpath(root, DATA).split(os.sep)[0]
        if top in names or root == DATA:
            found += [os.path.join(root, f).removesuffix(".gz").removesuffix(".json") for f in files
                      if f.endswith((".json", ".json.gz"))]
    return sorted(set(found))


def documentation_strings(data) -> int:
    """How many documentation texts the data holds (an emptied one is none)."""
    if isinstance(data, dict):
        return sum(documentation_strings(v) + (k == "documentation" and isinstance(v, str) and v != "")
                   for k, v in data.items())
    return sum(map(documentation_strings, data)) if isinstance(data, list) else 0


def test_every_file_parses_to_the_same_data_in_the_same_order(tmp_path):
    files = data_files()
    assert len(files) > 40, files  # the services' models, rules, paginators, waiters, and the shared files
    theirs, ours = botocore.loaders.JSONFileLoader(), models.PlainJSONFileLoader()
    cached = models.PlainJSONFileLoader(str(tmp_path / "cache"))
    # Each service's newest API version: the one its client loads.
    versions: dict[str, list[str]] = {}
    for path in files:
        versions.setdefault(os.path.dirname(os.path.dirname(path)), []).append(os.path.dirname(path))
    newest = {max(dirs) for dirs in versions.values()}
    service_models = 0
    for path in files:
        full, got = theirs.load_file(path), ours.load_file(path)
        assert got == full and json.dumps(got) == json.dumps(full), path
        expected = full
        if os.path.basename(path) == "service-2":
            if os.path.dirname(path) not in newest:
                continue  # an older API version: the clients never load it through the cache
            service_models += 1
            expected = models.without_documentation(full)
            assert documentation_strings(expected) == 0 < documentation_strings(full), path
        written, read_back = cached.load_file(path), cached.load_file(path)
        assert written == expected and read_back == expected and json.dumps(read_back) == json.dumps(expected), path
    assert service_models >= len(STACK_SERVICES)
    assert len(os.listdir(tmp_path / "cache")) == service_models  # the models alone, one copy each
    assert ours.load_file(os.path.join(DATA, "no-such-file")) is None
    assert cached.load_file(os.path.join(DATA, "no-such-file", "service-2")) is None


MODEL = {
    "metadata": {"serviceId": "Demo"},
    "documentation": "<p>The service.</p>",
    "operations": {"Get": {"name": "Get", "input": {"shape": "In"}, "documentation": "<p>Gets.</p>",
                           "errors": [{"shape": "Nope", "documentation": "<p>Not there.</p>"}]}},
    "shapes": {"In": {"type": "structure", "members": {
        # A member called documentation is part of the API (API Gateway has them): it stays.
        "documentation": {"shape": "Text", "documentation": "<p>Its text.</p>"},
        "name": {"shape": "Text", "locationName": "n"}}}, "Text": {"type": "string"}},
}
STRIPPED = {
    "metadata": {"serviceId": "Demo"},
    "documentation": "",
    "operations": {"Get": {"name": "Get", "input": {"shape": "In"}, "documentation": "",
                           "errors": [{"shape": "Nope", "documentation": ""}]}},
    "shapes": {"In": {"type": "structure", "members": {
        "documentation": {"shape": "Text", "documentation": ""}, "name": {"shape": "Text", "locationName": "n"}}},
        "Text": {"type": "string"}},
}


def write_model(directory, model) -> str:
    """A model file as botocore ships it: data/SERVICE/VERSION/service-2.json.gz."""
    path = directory / "demo" / "2026-01-01" / "service-2.json.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps(model).encode()))
    return str(path).removesuffix(".json.gz")


def test_a_model_is_read_from_its_cached_copy_without_its_documentation(tmp_path):
    source = write_model(tmp_path / "data", MODEL)
    loader = models.PlainJSONFileLoader(str(tmp_path / "cache"))
    assert loader.load_file(source) == STRIPPED
    (copy,) = (tmp_path / "cache").iterdir()
    assert copy.name.startswith("demo-2026-01-01-") and json.loads(copy.read_text()) == STRIPPED

    def unreadable(*_args):
        raise AssertionError("the source was read again")

    assert loader._load_file(source + ".json.gz", unreadable) == STRIPPED


def test_a_changed_source_is_read_afresh_and_its_old_copy_removed(tmp_path):
    source = write_model(tmp_path / "data", MODEL)
    loader = models.PlainJSONFileLoader(str(tmp_path / "cache"))
    loader.load_file(source)
    changed = {**MODEL, "metadata": {"serviceId": "Demo", "apiVersion": "2026-01-01"}}
    write_model(tmp_path / "data", changed)
    assert loader.load_file(source)["metadata"] == changed["metadata"]
    (copy,) = (tmp_path / "cache").iterdir()
    assert json.loads(copy.read_text())["metadata"] == changed["metadata"]


def test_a_damaged_copy_is_replaced(tmp_path):
    source = write_model(tmp_path / "data", MODEL)
    loader = models.PlainJSONFileLoader(str(tmp_path / "cache"))
    loader.load_file(source)
    (copy,) = (tmp_path / "cache").iterdir()
    copy.write_text('{"metadata": {"servi')  # a copy cut short
    assert loader.load_file(source) == STRIPPED
    assert json.loads(copy.read_text()) == STRIPPED


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path):
    source = write_model(tmp_path / "data", MODEL)
    (tmp_path / "cache").write_text("a file where the directory should be")
    loader = models.PlainJSONFileLoader(str(tmp_path / "cache"))
    assert loader.load_file(source) == STRIPPED
    assert loader.load_file(source) == STRIPPED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "data"]


def test_the_cache_is_under_the_user_s_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.default_cache_dir() == str(tmp_path / "xdg" / "video-pipeline-infra" / "botocore-models")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models.default_cache_dir() == str(tmp_path / "home" / ".cache" / "video-pipeline-infra" / "botocore-models")


@pytest.mark.parametrize("service", ["ec2", "apigateway"])
def test_the_run_s_clients_load_through_it(service):
    aws = Aws("us-east-1")
    loader = aws.session.get_component("data_loader")
    assert isinstance(loader.file_loader, models.PlainJSONFileLoader)
    assert loader.file_loader.cache_dir == models.default_cache_dir()
    client = aws.client(service)
    assert client.meta.service_model.operation_names  # a whole model, usable



# Run in an interpreter of its own: this test process shares its parsed models and client classes
# (tests/support/botocore_cache.py), so a client built here would never read the cached copy.
BUILD_EVERY_CLIENT = """
import os, sys
import botocore.session
from resources.aws import models
cache, services = sys.argv[1], sys.argv[2:]
for attempt in ("written", "read back"):
    for service in services:
        session = botocore.session.get_session()
        session.get_component("data_loader").file_loader = models.PlainJSONFileLoader(cache)
        client = session.create_client(service, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
        model = client.meta.service_model
        [p.name for p in model.client_context_parameters]
        # The shapes once, from the copy read back (the copy written is the same data).
        for name in model.operation_names if attempt == "read back" else ():
            operation = model.operation_model(name)
            for shape in (operation.input_shape, operation.output_shape):
                if shape is not None:
                    assert shape.members is not None and shape.documentation == "", (service, name)
    print(attempt, len(os.listdir(cache)))
"""


def test_every_client_builds_from_the_cached_models(tmp_path):
    """What botocore reads of a model at run time is all there in the cached copy: every client
    builds (S3's and KMS's context parameters require their documentation key) and every
    operation's input and output shapes resolve, from the copy written and then read back."""
    services = [*STACK_SERVICES, "s3"]
    run = subprocess.run([sys.executable, "-c", BUILD_EVERY_CLIENT, str(tmp_path), *services],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split("\n")[:2] == [f"written {len(services)}", f"read back {len(services)}"]
