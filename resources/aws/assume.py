"""An environment's role (``role_arn``): a botocore session whose every call is made as that role.

The role is assumed once, up front, so that a role that cannot be assumed (no trust, no such
role, a typo in the account) stops the run before anything is touched; botocore's own
assume-role machinery (``AssumeRoleCredentialFetcher`` behind ``RefreshableCredentials``) then
assumes it again a little before the credentials expire, so a long run (an RDS create, a drift of
many environments) never meets ExpiredToken half way.
"""
from __future__ import annotations

import re

import botocore.session
from botocore.credentials import AssumeRoleCredentialFetcher, RefreshableCredentials
from botocore.exceptions import ClientError, NoCredentialsError

# AssumeRole RoleSessionName: 2-64 characters of letters, digits and _ + = , . @ - (STS API reference).
_NOT_IN_SESSION_NAME = re.compile(r"[^\w+=,.@-]", re.ASCII)
SESSION_NAME_MAX = 64


class RoleNotAssumed(Exception):
    """AWS refused to let these credentials assume the role: one line naming both."""

    def __init__(self, role_arn: str, reason: str):
        super().__init__(f"cannot assume role {role_arn}: {reason}; nothing was changed")

    @property
    def user_message(self) -> str:
        return str(self)


def session_name(*parts: str) -> str:
    """The RoleSessionName naming the run (``video-pipeline-drift-prod``): CloudTrail shows it
    beside every call the run makes as the role."""
    return _NOT_IN_SESSION_NAME.sub("-", "-".join(("video-pipeline", *parts)))[:SESSION_NAME_MAX]


def assumed_session(region: str, role_arn: str, name: str, source=None) -> botocore.session.Session:
    """A session in ``region`` acting as ``role_arn``, from the credentials of ``source`` (the
    standard chain's by default). Raises RoleNotAssumed when AWS refuses."""
    if source is None:
        source = botocore.session.get_session()
        source.set_config_variable("region", region)
    credentials = source.get_credentials()
    if credentials is None:
        raise NoCredentialsError()
    fetcher = AssumeRoleCredentialFetcher(
        # The STS client is made like every other (region, AWS_ENDPOINT_URL), from the source's credentials.
        source.create_client, credentials, role_arn, extra_args={"RoleSessionName": name},
    )
    try:
        first = fetcher.fetch_credentials()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise RoleNotAssumed(role_arn, f"{error.get('Code', 'error')}: {error.get('Message') or exc}") from None
    botocore_session = botocore.session.get_session()
    # botocore has no public setter for a session's credentials: it keeps them here, and every
    # client made from the session signs with their current value, refreshed as they expire.
    botocore_session._credentials = RefreshableCredentials.create_from_metadata(
        metadata=first, refresh_using=fetcher.fetch_credentials, method="assume-role")
    botocore_session.set_config_variable("region", region)
    return botocore_session
