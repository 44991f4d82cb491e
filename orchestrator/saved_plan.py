"""Saved plans: ``bin/reconcile --plan --out FILE`` and ``bin/reconcile --apply FILE``.

A plan shown on a pull request and recomputed at merge may not be what is applied. A saved plan
is applied exactly, or not at all: the file keeps what the plan would change, the configuration
it resolved (with the consent to replacements, redeploys and rotations asked for), where it was
made (environment, region, account, state location), the state document's version, and a digest
of what the plan read of every resource (reconciler.observed_digest). Its apply takes the lock and
refuses, before any mutating call and without writing the state, when any of these moved since:
the apply's own plan (run.apply_stack's first walk, which it needs anyway) is compared with the
saved one. Terraform applies a saved plan over a resource changed by hand since; this does not.

The file holds no secret: the configuration holds none (config.ChosenConfig.record), the changes
are what a plan prints, and the observations are digests. It is written atomically, mode 0600.
A plan with a change AWS would refuse (exit 1) still writes its file, marked not applicable, so
that an older plan left at the same path is never applied in its place.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from orchestrator.errors import UserError

FORMAT = "video-pipeline-infra saved plan"
VERSION = 1
# Every key of a saved plan and the JSON type it holds; checked on read (a corrupt file is one line).
_SHAPE = {
    "format": str, "version": int, "env": str, "region": str, "account": str, "state_location": str,
    "state_version": str, "created_at": str, "config": dict, "allow_replace": list, "redeploy": list,
    "rotate": list, "changes": list, "observed": dict, "refused": list, "digest": str,
}
_CONFIG_SHAPE = {"origin": str, "source": str, "hash": str, "values": dict}


class StalePlan(UserError):
    """Something the saved plan rests on moved since it was made: nothing was changed."""


def stale(what: str) -> StalePlan:
    return StalePlan(f"the plan is stale: {what}; nothing was changed; make a new plan")


def state_version(doc) -> str:
    """The state document's revision: the digest of the document as loaded. Any run that wrote
    it since (an apply, a failed run's pending configuration, a state move) changes it, with
    either backend (a local file or S3)."""
    return "sha256:" + hashlib.sha256(doc.to_json().encode()).hexdigest()


def _digest(body: dict) -> str:
    canonical = json.dumps({k: v for k, v in body.items() if k != "digest"}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    # The plan's values as the file will hold them, so that a saved plan and a new one compare equal.
    from orchestrator.report import dump

    return json.loads(dump(value))


# -- flags ---------------------------------------------------------------------------------------

# Flags that say what a plan is: given at plan time, kept in the file, refused beside --apply.
_PLAN_FLAGS = (("plan", "--plan"), ("config", "--config"), ("allow_replace", "--allow-replace"),
               ("redeploy", "--redeploy"), ("rotate", "--rotate"))


def prepare(args) -> None:
    """bin/reconcile's --out and --apply, checked before any AWS call. For --apply, the saved
    plan is read and becomes what the run was asked for: its configuration (``args.given``) and
    its consents; ``args.saved`` holds it."""
    args.saved = None
    if not hasattr(args, "apply"):  # drift, teardown
        return
    if args.out and not args.plan:
        raise UserError("bin/reconcile: --out FILE saves a plan: use it with --plan")
    if (args.out or args.apply) and args.sandbox:
        raise UserError("bin/reconcile: --sandbox makes its own plan and applies it; --out and --apply are for an "
                        "environment in an AWS account")
    if args.out:
        # A plan that ends before it is saved (bad input, no credentials, a held lock, Ctrl-C)
        # leaves no older plan at this path for an --apply to take as this one.
        Path(args.out).unlink(missing_ok=True)
    if not args.apply:
        return
    given = [flag for attr, flag in _PLAN_FLAGS if getattr(args, attr)]
    if given:
        raise UserError(f"bin/reconcile: --apply FILE applies the plan as it was saved; {given[0]} belongs to the "
                        "plan (bin/reconcile --plan --out FILE ...)")
    saved = read(args.apply)
    if saved["env"] != args.env:
        raise UserError(f"{args.apply} is a saved plan for environment {saved['env']}, not {args.env}: "
                        "nothing was changed")
    if saved["refused"]:
        raise UserError(f"{args.apply} holds a plan that cannot be applied ({saved['refused'][0]}): nothing was "
                        "changed; make a new plan")
    args.given = planned_config(saved, args.apply)
    args.allow_replace, args.redeploy, args.rotate = saved["allow_replace"], saved["redeploy"], saved["rotate"]
    args.saved = saved


def planned_config(saved: dict, path: str):
    """The configuration the plan resolved, validated again; refused when it no longer gives the
    hash planned (a newer tool reads the values differently): it would not be the one planned."""
    from orchestrator.config import ChosenConfig, validate_config
    from orchestrator.stack import node_keys

    record = saved["config"]
    cfg = validate_config(record["values"], where=f"the configuration in {path}", node_keys=node_keys())
    chosen = ChosenConfig(cfg, record["origin"], record["source"])
    if chosen.hash != record["hash"]:
        raise UserError(f"{path}: its configuration no longer reads as the one planned (hash {chosen.hash}, "
                        f"planned {record['hash']}): nothing was changed; make a new plan")
    return chosen


# -- what a plan rests on ----------------------------------------------------------------------

@dataclass(frozen=True)
class Basis:
    """Where a plan was made and on what: the part of a saved plan known before its walk."""

    env: str
    region: str
    account: str
    location: str
    state_version: str
    config: Any  # config.ChosenConfig
    allow_replace: frozenset[str]
    redeploy: frozenset[str]
    rotate: frozenset[str]


def basis(args, doc, chosen, *, region: str, account: str, location: str, allow_replace: frozenset[str],
          redeploy: frozenset[str], rotate: frozenset[str]) -> Basis:
    """This run's basis, taken under the state lock; with --apply, checked against the saved
    plan's (before any change): a plan for another place, or a state written since, refuses."""
    here = Basis(args.env, region, account, location, state_version(doc), chosen, allow_replace, redeploy, rotate)
    if getattr(args, "saved", None):
        check_basis(args.saved, here, doc, args.apply)
    return here


def check_basis(saved: dict, here: Basis, doc, path: str) -> None:
    for key, what, value in (("region", "region", here.region), ("account", "AWS account", here.account),
                             ("state_location", "state location", here.location)):
        if saved[key] != value:
            raise UserError(f"{path} was planned for {what} {saved[key]}, this run is for {what} {value}: "
                            "nothing was changed")
    if saved["state_version"] == here.state_version:
        return
    planned = saved["config"]
    recorded = doc.pending_config or doc.config or {}
    if planned["origin"] in ("recorded", "pending") and recorded.get("hash") != planned["hash"]:
        raise stale(f"the configuration recorded for {here.env} changed since the plan was made")
    raise stale(f"the state of {here.env} was written since the plan was made (another run changed it)")


def checker(args) -> Callable[[Any], None]:
    """For run.apply_stack: its plan compared with the saved one, before any change. A no-op
    without --apply."""
    saved = getattr(args, "saved", None)
    if not saved:
        return lambda preview: None
    return lambda preview: check_preview(saved, preview)


def check_preview(saved: dict, preview) -> None:
    """Refuse unless the apply's own plan read what the saved plan read and would make the same
    changes: every resource as it was (same id, attributes and tags), none made or gone since."""
    from orchestrator.report import change_entries

    if preview.failures:
        key, outcome = next(iter(preview.failures.items()))
        raise StalePlan(f"the plan could not be checked against AWS: {key}: {outcome.reason}; nothing was changed")
    moved = moved_resources(saved["observed"], preview.results)
    if moved:
        more = f" (and {len(moved) - 1} more)" if len(moved) > 1 else ""
        raise stale(moved[0] + more)
    changes = _jsonable(change_entries(preview.results))
    if changes != saved["changes"]:
        raise stale(f"{_first_different(saved['changes'], changes)} would now change differently from the plan")


def observations(results) -> dict[str, dict]:
    """What a plan read, by node: the resource's id and the digest of what it read."""
    return {r.key: {"id": r.id, "digest": r.observed} for r in results if r.observed is not None}


def moved_resources(saved: dict[str, dict], results) -> list[str]:
    """One phrase per resource whose reading differs from the saved one, in stack order."""
    by_key = {r.key: r for r in results}
    now = observations(results)
    moved = []
    for key in [*now, *(k for k in saved if k not in now)]:
        before, after = saved.get(key) or {}, now.get(key) or {}
        if before.get("digest") == after.get("digest"):
            continue
        r = by_key.get(key)
        what = f"{r.kind} {r.name}" if r else key
        if before.get("digest") == "absent":
            moved.append(f"{what} ({after.get('id')}) was created since the plan was made")
        elif after.get("digest") in ("absent", None):
            moved.append(f"{what} ({before.get('id')}) is gone since the plan was made")
        elif before.get("id") != after.get("id"):
            moved.append(f"{what} is {after.get('id')} now, the plan read {before.get('id')}")
        else:
            moved.append(f"{what} ({after.get('id')}) changed since the plan was made")
    return moved


def _first_different(saved: list[dict], now: list[dict]) -> str:
    before = {c["resource"]: c for c in saved}
    after = {c["resource"]: c for c in now}
    keys = [k for k in [*after, *before] if before.get(k) != after.get(k)]
    if not keys:
        return "the environment"
    entry = after.get(keys[0]) or before[keys[0]]
    return f"{entry['kind']} {entry['name']}"


# -- the file -----------------------------------------------------------------------------------

def save(args, here: Basis, run, *, applicable: bool) -> str:
    """Write the saved plan of ``run`` to --out (atomically, 0600) and say so; the path."""
    from datetime import datetime, timezone

    from orchestrator.report import change_entries

    body = {
        "format": FORMAT, "version": VERSION, "env": here.env, "region": here.region, "account": here.account,
        "state_location": here.location, "state_version": here.state_version,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {**here.config.entry(), "values": here.config.values},
        "allow_replace": sorted(here.allow_replace), "redeploy": sorted(here.redeploy), "rotate": sorted(here.rotate),
        "changes": _jsonable(change_entries(run.results)), "observed": observations(run.results),
        # Why --apply refuses the file: the plan's refusals, or its failures.
        "refused": [] if applicable else _why_not(run),
    }
    body = _jsonable(body)
    body["digest"] = _digest(body)
    write(args.out, body)
    if not args.json:
        if applicable:
            print(f"\nSaved the plan to {args.out}: apply exactly it with bin/reconcile --env {here.env} --apply {args.out}")
        else:
            print(f"\nSaved the plan to {args.out}, marked as one that cannot be applied: --apply refuses it")
    return args.out


def _why_not(run) -> list[str]:
    refused = [f"{r.key}: {r.refusal}" for r in run.refused]
    failed = [f"{k}: {o.reason}" for k, o in run.failures.items()]
    return refused + failed or ["the plan did not finish"]


def write(path: str, body: dict) -> None:
    from state.local import _write_atomic  # same directory, fsynced, rename: never a partial file

    data = (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()
    try:
        # mkstemp's file is mode 0600, and the rename keeps it: the plan names the account's resources.
        _write_atomic(Path(path), data)
    except OSError as exc:
        raise UserError(f"cannot write the saved plan to {path}: {exc.strerror or exc}") from None


def read(path: str) -> dict:
    """A saved plan, checked whole: one line for a file that is missing, not a saved plan,
    of another format version, altered or truncated."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read the saved plan {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a saved plan of bin/reconcile: not UTF-8 text") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not a saved plan of bin/reconcile: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise UserError(f"{path} is not a saved plan of bin/reconcile (bin/reconcile --plan --out FILE makes one)")
    if body.get("version") != VERSION:
        raise UserError(f"{path} is a saved plan of format version {body.get('version')!r}; this tool reads version "
                        f"{VERSION}: make a new plan")
    problem = _shape_problem(body)
    if problem:
        raise UserError(f"saved plan {path} is corrupt: {problem}")
    if body["digest"] != _digest(body):
        raise UserError(f"saved plan {path} is corrupt: its content does not match its digest (edited or truncated)")
    return body


def _shape_problem(body: dict) -> str | None:
    for shape, where in ((_SHAPE, body), (_CONFIG_SHAPE, body.get("config"))):
        if not isinstance(where, dict):
            return "'config' must be an object"
        for key, kind in shape.items():
            if not isinstance(where.get(key), kind) or isinstance(where.get(key), bool):
                return f"{key!r} is missing or not {kind.__name__}"
    return None
