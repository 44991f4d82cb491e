"""botocore Stubber in front of the very client a handler uses (the Aws factory caches clients)."""
from __future__ import annotations

from botocore.stub import Stubber

from resources.aws import Aws


def stubbed_aws(service: str, region: str = "us-east-1"):
    """For a fixture: ``yield from stubbed_aws("ec2")`` gives (aws, stubber) and checks that every
    queued answer was used."""
    aws = Aws(region)
    stubber = Stubber(aws.client(service))
    with stubber:
        yield aws, stubber
    stubber.assert_no_pending_responses()
