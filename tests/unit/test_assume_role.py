"""An environment's role (resources/aws/assume.py): assumed once up front, named after the run,
assumed again by botocore before its credentials expire, and a refusal said in one line."""
from __future__ import annotations

import datetime
from types import SimpleNamespace

import botocore.session
import pytest
from botocore.credentials import Credentials
from botocore.stub import Stubber

from resources.aws.assume import RoleNotAssumed, assumed_session, session_name

ROLE = "arn:aws:iam::222222222222:role/video-pipeline-deployer"
NAME = "video-pipeline-drift-prod"


def sts_source():
    """A source of credentials whose STS client is stubbed: (source, stubber, the AssumeRole calls)."""
    sts = botocore.session.get_session().create_client(
        "sts", region_name="us-east-1", aws_access_key_id="source", aws_secret_access_key="source")
    calls = []
    sts.meta.events.register("provide-client-params.sts.AssumeRole", lambda params, **_: calls.append(params))
    source = SimpleNamespace(get_credentials=lambda: Credentials("source", "source"),
                             create_client=lambda *_, **__: sts)
    return source, Stubber(sts), calls


def answer(key: str, lasts: datetime.timedelta) -> dict:
    expires = datetime.datetime.now(datetime.timezone.utc) + lasts
    return {"Credentials": {"AccessKeyId": key, "SecretAccessKey": "secret", "SessionToken": "token", "Expiration": expires},
            "AssumedRoleUser": {"AssumedRoleId": f"AROAEXAMPLEEXAMPLE:{NAME}",
                                "Arn": f"arn:aws:sts::222222222222:assumed-role/video-pipeline-deployer/{NAME}"}}


def test_the_role_is_assumed_at_once_and_again_before_its_credentials_expire():
    source, stub, calls = sts_source()
    asked = {"RoleArn": ROLE, "RoleSessionName": NAME}
    # The first credentials expire in 5 minutes: inside botocore's refresh window.
    stub.add_response("assume_role", answer("ASIAFIRSTFIRSTFIRST", datetime.timedelta(minutes=5)), asked)
    stub.add_response("assume_role", answer("ASIASECONDSECONDSEC", datetime.timedelta(hours=1)), asked)
    with stub:
        session = assumed_session("eu-west-1", ROLE, NAME, source=source)
        assert len(calls) == 1  # assumed up front, before any client is made
        credentials = session.get_credentials()
        assert credentials.method == "assume-role"
        assert credentials.get_frozen_credentials().access_key == "ASIASECONDSECONDSEC"
        # Fresh for an hour: read again, no further AssumeRole.
        assert credentials.get_frozen_credentials().access_key == "ASIASECONDSECONDSEC"
        assert len(calls) == 2
    assert session.get_config_variable("region") == "eu-west-1"


def test_a_role_that_cannot_be_assumed_names_the_role_and_awss_answer():
    source, stub, _ = sts_source()
    message = f"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:AssumeRole on resource: {ROLE}"
    stub.add_client_error("assume_role", "AccessDenied", message, 403)
    with stub, pytest.raises(RoleNotAssumed) as refused:
        assumed_session("us-east-1", ROLE, NAME, source=source)
    assert refused.value.user_message == f"cannot assume role {ROLE}: AccessDenied: {message}; nothing was changed"


@pytest.mark.parametrize("parts, name", [
    (("reconcile", "prod"), "video-pipeline-reconcile-prod"),
    (("drift", "all"), "video-pipeline-drift-all"),
    # Only STS's characters, at most 64 of them.
    (("drift", "a b/c"), "video-pipeline-drift-a-b-c"),
    (("teardown", "x" * 80), ("video-pipeline-teardown-" + "x" * 80)[:64]),
])
def test_the_session_is_named_after_the_run_in_stss_characters(parts, name):
    assert session_name(*parts) == name
