"""bin/policy: the least-privilege IAM policy a CI role needs to run this tool (docs/state.md,
"The IAM policy a CI role needs").

The actions come from declarations next to the code that makes the calls: each handler's ``iam``
(resources/aws/permissions.py) for the stack's nodes, the engine's modules' ``IAM`` for the
calls the engine makes itself, and the S3 state backend's for its objects. ``deployer`` holds
everything a reconcile, a teardown and a drift check call; ``drift`` only the reads, without a
secret's value.
"""
from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass

from resources.aws.ownership import MANAGED_BY
from resources.aws.permissions import Grant

KINDS = ("deployer", "drift")
# IAM's limit for a customer managed policy, counted without whitespace.
MAX_POLICY_CHARS = 6144
# The engine's own calls: each of these modules declares ``IAM``, a tuple of Grants.
ENGINE_MODULES = ("orchestrator.identity", "orchestrator.quotas", "orchestrator.retained", "orchestrator.rotation",
                  "resources.aws.availability_zones", "resources.aws.inventory")


@dataclass(frozen=True)
class Target:
    """What the policy is for: one environment (``env``), or every one of a state location (None)."""

    kind: str
    region: str
    account: str
    env: str | None = None
    partition: str = "aws"
    state_bucket: str = ""
    state_prefix: str = ""


def declared(env: str | None) -> list[tuple[str, Grant, str]]:
    """Every grant the tool declares, as (module that declares it, grant, node name or "")."""
    from orchestrator.config import EnvConfig
    from orchestrator.stack import every_node

    found = []
    # "*" for every environment: the nodes' names become patterns of every environment's names.
    azs = ["a", "b"]  # names do not depend on the AZs, the handler classes neither
    for node in every_node(env or "*", EnvConfig(), azs):
        found += [(node.handler.__module__, g, node.spec.get("name", "")) for g in node.handler.iam]
    for module in ENGINE_MODULES:
        found += [(module, g, "") for g in importlib.import_module(module).IAM]
    return found


def state_grants(target: Target) -> list[tuple[str, Grant, str]]:
    if not target.state_bucket:
        return []  # a local state directory: no AWS call
    from orchestrator import state_cli
    from state import s3

    objects = s3.iam_grants(target.state_bucket, target.state_prefix, target.env or "*", target.region)
    return [("state.s3", g, "") for g in objects] + [
        ("orchestrator.state_cli", g, "") for g in state_cli.iam_grants(target.state_bucket, target.state_prefix)]


def grants_for(target: Target) -> list[tuple[str, Grant]]:
    """The target's grants with every placeholder filled in; drift's are the reads only."""
    out = []
    for module, grant, name in declared(target.env) + state_grants(target):
        if target.kind == "drift" and not grant.read:
            continue
        arns = tuple(sorted({_fill(a, target, name) for a in grant.arns}))
        out.append((module, Grant(grant.actions, arns, grant.tag, grant.read, _fill_condition(grant.condition, target),
                                  grant.implied_by)))
    return out


def _fill(text: str, target: Target, name: str) -> str:
    for key, value in (("{partition}", target.partition), ("{region}", target.region), ("{account}", target.account),
                       ("{env}", target.env or "*"), ("{name}", name)):
        text = text.replace(key, value)
    return text


def _fill_condition(condition: dict, target: Target) -> dict:
    return json.loads(_fill(json.dumps(condition), target, "")) if condition else {}


def tag_condition(tag: str, env: str | None) -> dict:
    """The ownership tags a resource (or a create call) must carry: the environment's, or for every
    environment of a location, the tool's own."""
    if not tag:
        return {}
    key = "aws:ResourceTag" if tag == "resource" else "aws:RequestTag"
    wanted = {f"{key}/ManagedBy": MANAGED_BY}
    if env:
        wanted[f"{key}/Environment"] = env
    return {"StringEquals": wanted}


def statements(target: Target) -> list[dict]:
    """The grants' actions on the same resources under the same condition in one statement: first
    each group of actions over all the nodes that declare it (seven log groups, one statement),
    then every group of the same resources and condition."""
    by_actions: dict[tuple[tuple[str, ...], str], set[str]] = {}
    for _, grant in grants_for(target):
        condition = json.dumps(_merge(tag_condition(grant.tag, target.env), grant.condition), sort_keys=True)
        arns = by_actions.setdefault((tuple(sorted(grant.actions)), condition), set())
        arns.update(grant.arns)
        if "*" in arns:  # any resource: the names add nothing
            arns.intersection_update({"*"})
    merged: dict[tuple[tuple[str, ...], str], set[str]] = {}
    for (actions, condition), arns in by_actions.items():
        merged.setdefault((tuple(sorted(arns)), condition), set()).update(actions)
    out, sids = [], set()
    for (arns, condition), actions in sorted(merged.items(), key=lambda kv: (sorted(kv[1])[0], kv[0])):
        statement = {"Sid": _sid(sorted(actions), arns, json.loads(condition), sids), "Effect": "Allow",
                     "Action": sorted(actions), "Resource": list(arns) if len(arns) > 1 else arns[0]}
        if json.loads(condition):
            statement["Condition"] = json.loads(condition)
        out.append(statement)
    return out


def _merge(a: dict, b: dict) -> dict:
    out = {op: dict(keys) for op, keys in a.items()}
    for op, keys in b.items():
        out.setdefault(op, {}).update(keys)
    return out


def _sid(actions: list[str], arns: tuple[str, ...], condition: dict, taken: set[str]) -> str:
    """Alphanumeric, unique: the services, then what scopes it (any resource, a tag, names)."""
    services = sorted({a.split(":")[0] for a in actions})
    base = "".join(re.sub(r"[^A-Za-z0-9]", "", s).capitalize() for s in services)[:48]
    scope = "Any" if arns == ("*",) else "Tagged" if any("ResourceTag" in k or "RequestTag" in k
                                                         for keys in condition.values() for k in keys) else "Named"
    sid, n = base + scope, 1
    while sid in taken:
        n += 1
        sid = f"{base}{scope}{n}"
    taken.add(sid)
    return sid


def documents(target: Target) -> list[dict]:
    """The policy as IAM documents, each under IAM's size limit for a managed policy: one when it
    fits, else the statements packed into as few as it takes (attach them all): the largest
    first, each into the first document with room for it."""
    parts = [part for statement in statements(target) for part in _fitting(statement)]
    docs: list[list[dict]] = []
    for part in sorted(parts, key=lambda p: -_size([p])):
        room = next((d for d in docs if _size(d + [part]) <= MAX_POLICY_CHARS), None)
        if room is None:
            docs.append(room := [])
        room.append(part)
    order = {part["Sid"]: i for i, part in enumerate(parts)}
    return [_document(sorted(d, key=lambda p: order[p["Sid"]])) for d in docs]


def _fitting(statement: dict) -> list[dict]:
    """A statement too long for a document of its own, cut into several by its actions."""
    if _size([statement]) <= MAX_POLICY_CHARS or len(statement["Action"]) == 1:
        return [statement]
    half = len(statement["Action"]) // 2
    return [part for i, actions in enumerate((statement["Action"][:half], statement["Action"][half:]))
            for part in _fitting({**statement, "Sid": f"{statement['Sid']}Part{i + 1}", "Action": actions})]


def _document(statements_: list[dict]) -> dict:
    return {"Version": "2012-10-17", "Statement": statements_}


def _size(statements_: list[dict]) -> int:
    return len(json.dumps(_document(statements_), separators=(",", ":")))


def action_count(docs: list[dict]) -> int:
    return len({a for d in docs for s in d["Statement"] for a in s["Action"]})


# -- bin/policy -------------------------------------------------------------------------------

def build_parser():
    from orchestrator.commands import STATE_HELP, Parser

    p = Parser(prog="bin/policy", allow_abbrev=False,
               description="Print the least-privilege IAM policy a CI role needs to run this tool: deployer "
                           "(reconcile, teardown, drift) or drift (read-only, no secret value).")
    p.add_argument("kind", choices=KINDS, help="deployer: every command; drift: bin/drift only")
    p.add_argument("--env", help="the environment (default: every environment this tool manages in the account and "
                                 "region, and the state location's)")
    p.add_argument("--state", "--state-dir", dest="state", metavar="URL", help=STATE_HELP)
    p.add_argument("--region", help="AWS region (default: $AWS_REGION or $AWS_DEFAULT_REGION)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document: the policy documents (a list) with what they are for")
    return p


def target_of(args) -> Target:
    """What the command line asks for; the account is the credentials' (one STS call): for an
    environment's ``role_arn`` in another account, run it with credentials of that account."""
    from orchestrator.commands import region_of
    from orchestrator.names import validate_env
    from resources.aws import Aws
    from state import default_state_dir, resolve_location

    if args.env is not None:
        validate_env(args.env)
    location = resolve_location(args.state, default_state_dir())  # a bad URL: one line, no AWS call
    aws = Aws(region_of(args))
    partition = aws.session.get_partition_for_region(aws.region)
    return Target(args.kind, aws.region, aws.account_id(), args.env, partition,
                  location.bucket if location.is_s3 else "", location.prefix if location.is_s3 else "")


def main(argv: list[str] | None = None) -> int:
    import sys

    from orchestrator.commands import EXIT_ERROR, EXIT_OK, error_lines

    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
        target = target_of(args)
        docs = documents(target)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - every error ends as one line per problem, never a traceback
        for line in error_lines(exc):
            print(line, file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps({"policy": target.kind, "env": target.env, "region": target.region, "account": target.account,
                          "state": _state_url(target), "actions": action_count(docs),
                          "documents": docs}, indent=2))
        return EXIT_OK
    # One document is printed as it is (ready for `aws iam create-policy`); several, as a list.
    print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
    if len(docs) > 1:
        print(f"note: the policy is {len(docs)} documents (IAM allows {MAX_POLICY_CHARS} characters in a managed "
              "policy): create and attach each one", file=sys.stderr)
    return EXIT_OK


def _state_url(target: Target) -> str | None:
    if not target.state_bucket:
        return None
    return f"s3://{target.state_bucket}/{target.state_prefix}" if target.state_prefix else f"s3://{target.state_bucket}"
