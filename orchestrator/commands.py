"""What the bin/ commands share (orchestrator.cli: reconcile, drift, teardown; orchestrator.state_cli:
state): the exit codes, the argument parser, the --state flag's help, the one-line error, the
state backend of one environment, and the environment's role. Both import it; neither imports the other's internals.
"""
from __future__ import annotations

import argparse

from orchestrator.errors import UserError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class Parser(argparse.ArgumentParser):
    # argparse exits 2 on a usage error, which the contract reserves for "changes pending".
    def error(self, message: str):
        raise UserError(f"{self.prog}: {message}")


STATE_HELP = ("where state lives: a directory or s3://BUCKET/PREFIX (default: $VIDEO_PIPELINE_STATE, else "
              "$VIDEO_PIPELINE_STATE_DIR, else ~/.local/state/video-pipeline-infra); --state-dir DIR is an alias. "
              "An environment names its location on its VPC: a run at another location changes nothing")


def region_of(args) -> str:
    """--region, else the environment's; one line when there is none or it is not a region's name."""
    import os

    from orchestrator.errors import UserError
    from orchestrator.names import validate_region

    region = getattr(args, "region", None) or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise UserError("no AWS region: pass --region or set AWS_REGION")
    return validate_region(region)


def error_lines(exc: BaseException) -> list[str]:
    """What a command prints for an error: one ``error:`` line per problem it names."""
    return [f"error: {' '.join(str(line).split())}" for line in getattr(exc, "lines", None) or [one_line(exc)]]


def one_line(exc: BaseException) -> str:
    """The `error:` line a command ends with: botocore's start-up failures (no credentials, no
    endpoint, a web page for an answer) said as what to do; any other error's message on one line."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError
    from botocore.parsers import ResponseParserError

    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach AWS: {exc}"
    if isinstance(exc, ResponseParserError):
        # Its message carries the whole body, an HTML page: no line for a person to read.
        return ("the AWS endpoint answered with something other than an AWS API response (a web page?): "
                "check the region and AWS_ENDPOINT_URL")
    if isinstance(exc, ClientError) and exc.operation_name == "GetCallerIdentity":
        return f"AWS rejected the credentials: {exc.response['Error'].get('Message', exc)}"
    message = getattr(exc, "user_message", None) or f"{type(exc).__name__}: {exc}"
    return " ".join(str(message).split())


def state_s3(region: str, account: str | None = None):
    """The S3 client of the state: a factory of its own (the JSON documents' `aws_calls` count
    the stack's calls only), every call naming the account that must own the bucket: the run's
    account, else the credentials' (one STS call, for bin/state)."""
    from resources.aws import Aws
    from state import expect_bucket_owner

    aws = Aws(region)
    s3 = aws.client("s3")
    expect_bucket_owner(s3, account or aws.account_id())
    return s3


def state_backend(location, env: str, region: str, account: str | None, *, check: bool = True,
                  owner: str | None = None):
    """The backend of one environment at a StateLocation. For S3, the bucket is checked first (three
    reads; one `error:` line per unmet requirement). Its client comes from a factory of its own, so
    the JSON documents' `aws_calls` still count the stack's calls only."""
    from state import LocalStateBackend, S3StateBackend, check_bucket

    if not location.is_s3:
        return LocalStateBackend(location.path, env, region, account)
    s3 = state_s3(region, owner or account)  # owner: the bucket's account (the caller's), when it is not the run's
    if check:
        check_bucket(s3, location.bucket, location.prefix)
    return S3StateBackend(s3, location.bucket, location.prefix, env, region, account)


def as_role(aws, role_arn: str, *run: str):
    """``aws`` as ``role_arn`` (the environment's, AssumeRole with a session named after the run:
    ``video-pipeline-reconcile-prod``): every call of the environment goes through it."""
    from resources.aws import Aws
    from resources.aws.assume import assumed_session, session_name

    return Aws(aws.region, session=assumed_session(aws.region, role_arn, session_name(*run), source=aws.session))
