"""docs/configuration.md, written from the configuration class itself.

    python -m orchestrator.config_reference            # the page, on stdout
    python -m orchestrator.config_reference --write    # the page, into docs/configuration.md

Every key of EnvConfig (orchestrator/config.py) becomes a row: its type and default from the
declaration, its meaning from the doc string under it (the first paragraph; an "Allowed:" or
"Per environment:" paragraph where the checks cannot say it; any other paragraph becomes a note
under the table), and its allowed values in the words of the check that enforces them. The prose
around the tables is docs/configuration.template.md, the rows go where it says KEYS_MARKER.
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from orchestrator import config
from orchestrator.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "docs" / "configuration.template.md"
PAGE = ROOT / "docs" / "configuration.md"
KEYS_MARKER = "<!-- the keys: written by orchestrator/config_reference.py -->"
COMMAND = "python -m orchestrator.config_reference --write"
GENERATED_NOTE = (f"<!-- Written by `{COMMAND}` from orchestrator/config.py and "
                  "docs/configuration.template.md: edit those, then run it. -->")

# The reference's sections, in order: a key goes to the first whose prefixes its name starts with
# (API Gateway's keys before the other api_ keys, which are the API service's containers).
SECTIONS = (
    ("Network, tags and the account", ("vpc_", "tags", "deletion_protection", "account_id", "role_arn", "flow_log_", "kms_")),
    ("Database (RDS)", ("db_",)),
    ("Redis (ElastiCache)", ("redis_",)),
    ("API Gateway", ("api_throttle_", "api_log_", "api_detailed_", "api_tracing", "api_waf", "api_key_")),
    ("Containers (ECS)", ("api_", "worker_", "ecs_", "log_retention_days")),
    ("File system and load balancer", ("efs_", "lb_")),
    ("Secrets", ("secret_",)),
    ("Drift checks", ("drift",)),
)
LABELS = ("Allowed:", "Per environment:")
# Any key may be set in [defaults] and in [environments.NAME] (orchestrator.config.load_config).
PER_ENVIRONMENT = "yes"
# An environment whose name the defaults depend on (orchestrator.config.defaults_for).
PRODUCTION_EXAMPLE = "prod"


@dataclass(frozen=True)
class Key:
    name: str
    section: str
    type: str
    default: str
    allowed: str
    per_environment: str
    meaning: str
    notes: tuple[str, ...]


def declared_docs(cls: type) -> dict[str, str]:
    """The doc string under each field of ``cls`` (a string statement right after it)."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    return {node.target.id: inspect.cleandoc(after.value.value) for node, after in zip(body, body[1:])
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)}


def checked_rules() -> dict[str, str]:
    """Each key's allowed values, as the check that enforces them words them."""
    rules: dict[str, str] = {}
    config._check_values(config.EnvConfig(), "reference", set(), rules)
    return {key: text.removeprefix("allowed: ") for key, text in rules.items()}


def section_of(name: str) -> str:
    for title, prefixes in SECTIONS:
        if name.startswith(prefixes):
            return title
    raise UserError(f"the key {name} belongs to no section: add its prefix to SECTIONS in orchestrator/config_reference.py")


def _default(name: str, value) -> str:
    shown = f"`{json.dumps(value)}`"
    special = config.defaults_for(PRODUCTION_EXAMPLE).get(name, value)
    if special != value:
        shown += f"; `{json.dumps(special)}` for a production environment name (see its meaning)"
    return shown


def _allowed(name: str, value, labelled: dict[str, str], rules: dict[str, str]) -> str:
    if "Allowed:" in labelled:
        return labelled["Allowed:"]
    if name in rules:
        return rules[name]
    if isinstance(value, bool):
        return "`true` or `false`"
    raise UserError(f"the key {name} has no check and no \"Allowed:\" paragraph in its doc string")


def describe(cls: type = config.EnvConfig) -> list[Key]:
    """Every key of ``cls``, in declaration order; a key without a doc string is an error."""
    docs, rules, defaults = declared_docs(cls), checked_rules(), cls()
    keys = []
    for f in dataclasses.fields(cls):
        if f.name not in docs:
            raise UserError(f"the key {f.name} has no doc string in {cls.__module__}: say what it means under it")
        first, *rest = docs[f.name].split("\n\n")
        labelled = {label: p.removeprefix(label).strip() for p in rest for label in LABELS if p.startswith(label)}
        notes = tuple(" ".join(p.split()) for p in rest if not p.startswith(LABELS))
        value = getattr(defaults, f.name)
        keys.append(Key(f.name, section_of(f.name), config._TYPE_NAMES[type(value)], _default(f.name, value),
                        " ".join(_allowed(f.name, value, labelled, rules).split()),
                        " ".join(labelled.get("Per environment:", PER_ENVIRONMENT).split()),
                        " ".join(first.split()), notes))
    return keys


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def tables(keys: list[Key]) -> str:
    """One table per section, its keys' notes under it."""
    out = []
    for title, _ in SECTIONS:
        rows = [k for k in keys if k.section == title]
        if not rows:
            continue
        out += [f"### {title}", "", "| key | type | default | allowed | per environment | meaning |",
                "| --- | --- | --- | --- | --- | --- |"]
        out += [f"| `{k.name}` | {k.type} | {_cell(k.default)} | {_cell(k.allowed)} | {_cell(k.per_environment)} "
                f"| {_cell(k.meaning)} |" for k in rows]
        out += [""] + [f"- `{k.name}`: {note}" for k in rows for note in k.notes]
        out += [""] if out[-1] else []
    return "\n".join(out).rstrip("\n") + "\n"


def page(template: str | None = None) -> str:
    text = TEMPLATE.read_text() if template is None else template
    if text.count(KEYS_MARKER) != 1:
        raise UserError(f"{TEMPLATE.relative_to(ROOT)} must hold the line {KEYS_MARKER} exactly once")
    head, tail = text.split(KEYS_MARKER)
    return GENERATED_NOTE + "\n" + head + tables(describe()) + tail


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args not in ([], ["--write"]):
            raise UserError(f"unknown arguments {' '.join(args)} (usage: python -m orchestrator.config_reference [--write])")
        text = page()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args:
        PAGE.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
