"""An environment is one thing, wherever its state is: the environment names its state location.

The state says what an environment should be; AWS says what it is. When the two part ways (a
state moved with ``bin/state move`` while a cron line still points at the old place, a lost or
emptied state directory, a laptop's local state beside the team's S3 state), a run that trusted
whatever state it found would reconcile a live environment to another document, or to the
defaults. So the environment itself records where its state lives: a tag on its VPC, the one
resource every environment has and every run reads first. A run whose location is not the one the
VPC names changes nothing and stops with one line naming it; ``bin/state move`` moves the tag with
the document, so the location moved from refuses too.

A local location is named with the host (``file://HOST/PATH``): two machines' local states are
two locations, and only one of them can ever drive the environment.
"""
from __future__ import annotations

import hashlib
import re
import socket
from dataclasses import dataclass, replace

from orchestrator.errors import UserError
from resources.aws.ownership import environment_filters
from resources.aws.permissions import arn, reads, writes
from resources.aws.shared_reads import listing


# The environment's VPC, found by its tags; the state location's tag set on it.
IAM = (
    reads("ec2:DescribeVpcs"),
    writes("ec2:CreateTags", arns=(arn("ec2", "vpc/*"),), tag="resource"),
)

# The tag on the environment's VPC naming its state location.
STATE_TAG = "video-pipeline:state"
# The stack's root: created first, torn down last, read by every run.
ANCHOR = "vpc"
# What a tag value may hold on every service (letters, digits, spaces and _ . : / = + - @, at most
# 256 characters); a location that does not fit is named by its digest.
_TAG_VALUE = re.compile(r"[\w .:/=+\-@]{1,256}", re.UNICODE)


class EnvironmentElsewhere(UserError):
    """The environment names another state location: this run must not drive it."""


class ConfigurationUnknown(UserError):
    """A live environment with no recorded configuration, and none given."""


def location_name(location) -> str:
    """The name a StateLocation is recorded under: its S3 URL, or the host and absolute path."""
    if location.is_s3:
        return location.url
    return f"file://{socket.gethostname()}{location.path.expanduser().resolve()}"


def tag_value(name: str) -> str:
    if _TAG_VALUE.fullmatch(name):
        return name
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


@dataclass(frozen=True)
class Live:
    """What AWS shows of the environment before a run: its VPC(s) and the locations they name."""

    vpc_ids: tuple[str, ...] = ()
    named: tuple[str, ...] = ()

    @property
    def exists(self) -> bool:
        return bool(self.vpc_ids)


def read(aws, env: str, shared=None) -> Live:
    """The environment's VPCs found by its ownership tags: the same listing the walk's VPC lookup
    makes, shared with it when ``shared`` is the walk's SharedReads (no extra call)."""
    vpcs = [v for v in listing(shared, aws.client("ec2"), "describe_vpcs", "Vpcs", environment_filters(env))
            if v.get("State") != "deleted"]
    named = sorted({t["Value"] for v in vpcs for t in v.get("Tags") or [] if t["Key"] == STATE_TAG})
    return Live(tuple(sorted(v["VpcId"] for v in vpcs)), tuple(named))


def check(live: Live, here: str, env: str) -> None:
    """Refuse when the environment names a location other than ``here``. An environment that
    names none (made before locations were recorded) is claimed by the next reconcile."""
    elsewhere = [n for n in live.named if n != tag_value(here)]
    if not elsewhere:
        return
    where = elsewhere[0]
    # A location too long or too unusual for a tag is recorded by its digest: named as such.
    hashed = where.startswith("sha256:")
    shown = f"another location (recorded as {where})" if hashed else where
    flag = "that --state" if hashed else f"--state {where} (or set VIDEO_PIPELINE_STATE)"
    raise EnvironmentElsewhere(
        f"environment {env} keeps its state at {shown}, not at {here}: nothing was changed; run with {flag}, "
        "or move the state here with bin/state move")


def named_elsewhere(swept, here: str) -> str | None:
    """The state location an environment's VPC names, when it is not ``here``, from what the
    tagging API listed for it (``bin/drift --all``: no read of its own)."""
    named = {f.tags.get(STATE_TAG) for f in swept if ":vpc/" in f.id} - {None, tag_value(here)}
    return min(named) if named else None


def require_configuration(live: Live, doc, chosen, env: str) -> None:
    """Adoption never weakens: a live environment whose state records no configuration is never
    reconciled to the defaults because a --config was forgotten or a state was lost."""
    if chosen.origin != "defaults" or not (live.exists or doc.resources):
        return
    raise ConfigurationUnknown(
        f"environment {env} exists in AWS ({', '.join(live.vpc_ids) or 'resources recorded in its state'}) but no "
        "configuration is recorded for it: nothing was changed; pass --config FILE with what it should be (an empty "
        "file means the defaults; add --plan to see what they would change)")


def anchor(nodes: list, here: str | None) -> list:
    """The stack's nodes with the location tag on the anchor (set at create, added to an
    environment made before locations were recorded)."""
    if here is None:
        return nodes
    value = tag_value(here)
    return [replace(n, spec={**n.spec, "tags": {**n.spec["tags"], STATE_TAG: value}}) if n.key == ANCHOR else n
            for n in nodes]


def record(aws, live: Live, here: str) -> None:
    """Name ``here`` on the environment's VPCs (``bin/state move``)."""
    if live.vpc_ids:
        aws.client("ec2").create_tags(Resources=list(live.vpc_ids), Tags=[{"Key": STATE_TAG, "Value": tag_value(here)}])
