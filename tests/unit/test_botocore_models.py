"""botocore's data files parsed into plain dicts (resources/aws/models.py) are the same data, in
the same order, as botocore's own OrderedDict parse, for every file the stack's clients load."""
from __future__ import annotations

import json
import os

import boto3
import botocore
import botocore.loaders
import pytest

from orchestrator.cli import STACK_SERVICES
from resources.aws import Aws, models

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


def test_every_file_parses_to_the_same_data_in_the_same_order():
    files = data_files()
    assert len(files) > 40, files  # the services' models, rules, paginators, waiters, and the shared files
    theirs, ours = botocore.loaders.JSONFileLoader(), models.PlainJSONFileLoader()
    for path in files:
        expected, got = theirs.load_file(path), ours.load_file(path)
        assert got == expected and json.dumps(got) == json.dumps(expected), path
    assert ours.load_file(os.path.join(DATA, "no-such-file")) is None


@pytest.mark.parametrize("service", ["ec2", "apigateway"])
def test_the_run_s_clients_load_through_it(service):
    aws = Aws("us-east-1")
    loader = aws.session.get_component("data_loader")
    assert isinstance(loader.file_loader, models.PlainJSONFileLoader)
    client = aws.client(service)
    assert client.meta.service_model.operation_names  # a whole model, usable
