"""bin/state: create a state bucket, list and show environments' state, move a state between
locations. Exit 0 done, 1 error (one line on stderr per problem, no traceback); `--json` prints
exactly one JSON document on stdout.

    bin/state init s3://BUCKET/PREFIX
    bin/state list [--state URL]
    bin/state show --env ENV [--state URL]
    bin/state move --env ENV --from URL --to URL
"""
from __future__ import annotations

import json
import os
import re
import sys

from orchestrator.commands import EXIT_ERROR, EXIT_OK, STATE_HELP, Parser, as_role, error_lines, region_of, state_backend
from orchestrator.errors import UserError

_STATE_NAME = re.compile(r"(?P<env>[A-Za-z0-9][A-Za-z0-9_-]*)\.(?P<region>[a-z0-9-]+)\.json")


def build_parser() -> Parser:
    p = Parser(prog="bin/state", description="Where environments' state lives: create a bucket, list, show, move.",
               allow_abbrev=False)
    sub = p.add_subparsers(dest="action", required=True, metavar="{init,list,show,move}", parser_class=Parser)

    def common(q: Parser, *, region: bool = True) -> None:
        q.add_argument("--json", action="store_true", help="print exactly one JSON document on stdout")
        if region:
            q.add_argument("--region", help="AWS region (default: $AWS_REGION or $AWS_DEFAULT_REGION)")

    init = sub.add_parser("init", help="create (or bring up to the requirements) an S3 bucket for state",
                          allow_abbrev=False)
    init.add_argument("url", metavar="s3://BUCKET/PREFIX")
    common(init)
    listing = sub.add_parser("list", help="the environments whose state is at a location", allow_abbrev=False)
    listing.add_argument("--state", "--state-dir", dest="state", metavar="URL", help=STATE_HELP)
    common(listing)
    show = sub.add_parser("show", help="the state document of one environment and its lock", allow_abbrev=False)
    show.add_argument("--env", required=True)
    show.add_argument("--state", "--state-dir", dest="state", metavar="URL", help=STATE_HELP)
    common(show)
    move = sub.add_parser("move", help="move one environment's state between locations (local and S3); the "
                          "environment's VPC is told the new location, and runs at the old one refuse from then on",
                          allow_abbrev=False)
    move.add_argument("--env", required=True)
    move.add_argument("--from", dest="source", required=True, metavar="URL")
    move.add_argument("--to", dest="target", required=True, metavar="URL")
    move.add_argument("--lock-timeout", default="0", metavar="DURATION",
                      help="wait up to DURATION (30s, 5m, 1h, or seconds) for either state lock when another run "
                           "holds it (default 0: refuse at once)")
    common(move)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
        document, text = ACTIONS[args.action](args)
        print(json.dumps(document, indent=2, sort_keys=True) if args.json else text)
        return EXIT_OK
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - every error ends as one line per problem, never a traceback
        for line in error_lines(exc):
            print(line, file=sys.stderr)
        return EXIT_ERROR


def _location(value: str | None):
    from state import default_state_dir, resolve_location

    return resolve_location(value, default_state_dir())


def _s3(region: str, owner: str | None = None):
    from orchestrator.commands import state_s3

    return state_s3(region, owner)


def _owner(location, region: str) -> str | None:
    """The account that must own an S3 state bucket (the credentials'), asked once per command."""
    from resources.aws import Aws

    return Aws(region).account_id() if location.is_s3 else None


def _code(exc: BaseException) -> str | None:
    return getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None


# -- init ---------------------------------------------------------------------

def init(args) -> tuple[dict, str]:
    """Create the bucket if needed and bring it up to what check_bucket requires, plus a TLS-only
    policy and a lifecycle rule that expires old noncurrent versions, merged into what the bucket
    has (state/bucket.py: never weaker than it was). Idempotent."""
    from state import check_bucket, parse_location
    from state.bucket import NONCURRENT_DAYS, prepare_bucket

    location = parse_location(args.url)
    if not location.is_s3:
        raise UserError(f"bin/state init: {args.url!r} is not s3://BUCKET/PREFIX")
    region = region_of(args)
    s3, bucket = _s3(region), location.bucket
    try:
        # HeadBucket first: in us-east-1, CreateBucket on a bucket one already owns answers 200,
        # so its answer cannot say whether the bucket was new. 403: the name is someone else's
        # (ExpectedBucketOwner: another account's bucket answers 403 too).
        s3.head_bucket(Bucket=bucket)
        created = False
    except Exception as exc:
        if _code(exc) in ("403", "AccessDenied"):
            raise UserError(f"state bucket {bucket} answered AccessDenied: it belongs to another account than these "
                            "credentials', or they may not read it (s3:ListBucket); nothing was changed") from None
        if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        created = True
    if created:
        kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        # BucketOwnerEnforced: ACLs off, the account owns every object (S3's default for new buckets).
        s3.create_bucket(Bucket=bucket, ObjectOwnership="BucketOwnerEnforced", **kwargs)
    done = prepare_bucket(s3, bucket, location.prefix, existing=not created)
    check_bucket(s3, bucket, location.prefix)
    verb = "created" if created else "updated"
    encryption = {"AES256": "SSE-S3", "aws:kms": "SSE-KMS, kept", "aws:kms:dsse": "DSSE-KMS, kept"}.get(
        done["encryption"], done["encryption"])
    history = (f"noncurrent versions kept {NONCURRENT_DAYS} days" if done["lifecycle_rule"] else
               "noncurrent versions as the bucket's own rules keep them (no prefix: a rule of ours would reach "
               "every object of the bucket)")
    text = (f"bucket {bucket} {verb}: versioning on, public access blocked, default encryption ({encryption}), "
            f"TLS-only bucket policy, {history}.\n"
            f"Use it with: export VIDEO_PIPELINE_STATE={location.url}")
    return {"bucket": bucket, "prefix": location.prefix, "url": location.url, "created": created, "region": region,
            "encryption": done["encryption"], "lifecycle_rule": done["lifecycle_rule"]}, text


# -- list and show ------------------------------------------------------------

def iam_grants(bucket: str, prefix: str) -> tuple:
    """The permission of the listing below (bin/state list, and drift --all finding the
    environments with a state), for bin/policy: the keys under the location's prefix only."""
    from resources.aws.permissions import reads

    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return (reads("s3:ListBucket", arns=(f"arn:{{partition}}:s3:::{bucket}",), condition={"StringEquals": {"s3:prefix": base}}),)


def _entries(location, region: str | None, owner: str | None = None) -> list[dict]:
    """(env, region, last modified, locked) of every state document at the location."""
    if location.is_s3:
        s3 = _s3(region or "us-east-1", owner)
        base = f"{location.prefix}/" if location.prefix else ""
        found: dict[tuple[str, str], dict] = {}
        locks: set[tuple[str, str]] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=base, Delimiter="/"):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(base):]
                if name.endswith(".lock"):
                    match = _STATE_NAME.fullmatch(name[: -len(".lock")] + ".json")
                    if match:
                        locks.add((match["env"], match["region"]))
                    continue
                match = _STATE_NAME.fullmatch(name)
                if match:
                    found[(match["env"], match["region"])] = {
                        "env": match["env"], "region": match["region"],
                        "updated_at": obj["LastModified"].isoformat(timespec="seconds"),
                        "location": f"s3://{location.bucket}/{obj['Key']}"}
        for key, entry in found.items():
            entry["locked"] = key in locks
        return [found[k] for k in sorted(found)]
    from datetime import datetime, timezone

    entries = []
    directory = location.path
    if not directory.is_dir():
        return []
    for path in sorted(directory.iterdir()):
        match = _STATE_NAME.fullmatch(path.name)
        if match:
            lock = directory / f"{match['env']}.{match['region']}.lock"
            entries.append({
                "env": match["env"], "region": match["region"],
                "updated_at": datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds"),
                "location": str(path), "locked": lock.exists() and lock.stat().st_size > 0})
    return entries


def list_(args) -> tuple[dict, str]:
    location = _location(args.state)
    region = getattr(args, "region", None) or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    owner = None
    if location.is_s3:
        owner = _owner(location, region_of(args))
        _check(location, region_of(args), owner)
    entries = [{**e, **_status(location, e, owner)} for e in _entries(location, region, owner)]
    lines = [f"{e['env']:<20} {e['region']:<16} {e['updated_at']}  {_shown(e)}{'  locked' if e['locked'] else ''}"
             for e in entries]
    text = "\n".join(lines) if lines else f"No environment has state at {location.url}."
    return {"location": location.url, "environments": entries}, text


def _status(location, entry: dict, owner: str | None = None) -> dict:
    """"active", "torn down" (its document kept for audit, with the teardown's record under
    "retired") or "unreadable" (bin/state show says why)."""
    try:
        doc = state_backend(location, entry["env"], entry["region"], None, check=False, owner=owner).load()
    except Exception:  # noqa: BLE001 - one bad document must not hide the others
        return {"status": "unreadable", "retired": None}
    return {"status": "torn down" if doc.retired else "active", "retired": doc.retired}


def _shown(entry: dict) -> str:
    if entry["status"] == "torn down":
        return f"torn down {entry['retired']['at'][:10]}"
    return entry["status"]


def _check(location, region: str, owner: str | None = None) -> None:
    from state import check_bucket

    check_bucket(_s3(region, owner), location.bucket, location.prefix)


def _backend(location, env: str, region: str, owner: str | None = None):
    from orchestrator.names import validate_env

    validate_env(env)
    # No account: the document is shown or moved as it is; a run checks it against its account.
    return state_backend(location, env, region, None, owner=owner)


def show(args) -> tuple[dict, str]:
    region = region_of(args)
    backend = _backend(_location(args.state), args.env, region)
    doc = backend.load()
    if not backend.exists:
        raise UserError(f"no state for env {args.env!r} in {region!r} at {backend.location}")
    holder = backend.read_lock_holder()
    state = json.loads(doc.to_json())
    document = {"env": args.env, "region": region, "location": backend.location, "lock": holder, "state": state}
    lock = "unlocked" if not holder else (
        f"locked by {holder.get('user', '?')}, pid {holder.get('pid', '?')} on {holder.get('host', '?')} running "
        f"{holder.get('command', '?')!r} since {holder.get('started_at', '?')}"
        + (f", lease until {holder['expires_at']}" if holder.get("expires_at") else ""))
    outputs = "\n".join(f"  {k}: {v}" for k, v in sorted(doc.outputs.items()))
    text = (f"{backend.location}\n{lock}\naccount {doc.account}, AZs {', '.join(doc.azs) or '-'}, "
            f"{len(doc.resources)} resources, configuration {((doc.config or {}).get('hash') or 'not recorded')}"
            + (f"\noutputs:\n{outputs}" if outputs else ""))
    return document, text


# -- move -----------------------------------------------------------------------

def move(args) -> tuple[dict, str]:
    """Copy under both locks, read the copy back and compare, then retire the source: a local
    file is kept renamed ENV.REGION.json.moved; an S3 object is deleted (the bucket's versioning
    keeps it as a noncurrent version)."""
    from orchestrator.lock_wait import locked, parse_duration

    timeout = parse_duration(args.lock_timeout)
    region = region_of(args)
    source_location, target_location = _location(args.source), _location(args.target)
    if source_location == target_location:
        raise UserError("bin/state move: --from and --to are the same location")
    from orchestrator import identity
    from resources.aws import Aws

    aws = Aws(region)
    owner = aws.account_id() if source_location.is_s3 or target_location.is_s3 else None
    source = _backend(source_location, args.env, region, owner)
    target = _backend(target_location, args.env, region, owner)
    moved_from, moved_to = identity.location_name(source_location), identity.location_name(target_location)
    with locked(source, timeout=timeout, on_wait=_say_waiting), locked(target, timeout=timeout, on_wait=_say_waiting):
        doc = source.load()
        if not source.exists:
            raise UserError(f"no state for env {args.env!r} in {region!r} at {source.location}; nothing moved")
        aws = _as_recorded_role(aws, doc, args.env)
        # The environment names where its state lives: a copy at any other place is not its state.
        live = identity.read(aws, args.env)
        if live.named and identity.tag_value(moved_to) not in live.named:
            identity.check(live, moved_from, args.env)
        target.load()
        if target.exists:
            raise UserError(f"{target.location} already holds a state for env {args.env!r}; nothing moved")
        target.save(doc)
        copy = _backend(target_location, args.env, region, owner).load()
        if copy.to_json() != doc.to_json():
            raise UserError(f"the copy at {target.location} does not read back as written; the source is kept")
        # The environment names the new place before the old one goes: from here on a run at the
        # old location refuses, and one killed in between finds the copy it names.
        identity.record(aws, live, moved_to)
        source.retire()
    text = (f"moved the state of env {args.env!r} in {region!r} from {source.location} to {target.location}"
            + ("" if source_location.is_s3 else f" (the source is kept as {source.location}.moved)"))
    return {"env": args.env, "region": region, "from": source.location, "to": target.location,
            "resources": len(doc.resources)}, text


def _as_recorded_role(aws, doc, env: str):
    """The environment's VPC is read and tagged as the role its recorded configuration names
    (``role_arn``), in the environment's account; the state itself stays the caller's to move."""
    from orchestrator.config import choose_config
    from orchestrator.stack import node_keys

    role = choose_config(None, doc, env, node_keys()).cfg.role_arn
    return as_role(aws, role, "state-move", env) if role else aws


def _say_waiting(exc, timeout: float) -> None:
    # bin/state has no log format: a plain line on stderr (stdout is the answer, or --json's document).
    from orchestrator.lock_wait import shown

    print(f"waiting up to {shown(timeout)} for the state lock: {exc}", file=sys.stderr, flush=True)


ACTIONS = {"init": init, "list": list_, "show": show, "move": move}
