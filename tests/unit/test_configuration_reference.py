"""docs/configuration.md is written from the configuration class (orchestrator/config_reference.py):
the page in the repository is what the command writes, and it has a row for every key."""
from __future__ import annotations

import dataclasses
import difflib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator import config_reference as reference
from orchestrator.config import ConfigError, EnvConfig, load_config, validate_config
from orchestrator.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"
ROW = re.compile(r"^\| `(\w+)` \| (.*) \|$", re.MULTILINE)


def _rows(text: str) -> dict[str, list[str]]:
    """key -> its cells after the key (type, default, allowed, per environment, meaning)."""
    return {m[1]: m[2].split(" | ") for m in ROW.finditer(text)}


def test_the_page_is_what_the_command_writes():
    written, wanted = PAGE.read_text(), reference.page()
    diff = "".join(list(difflib.unified_diff(written.splitlines(True), wanted.splitlines(True),
                                             "docs/configuration.md", "generated"))[:40])
    assert written == wanted, f"docs/configuration.md is out of date: regenerate it with `{reference.COMMAND}`\n{diff}"


def test_every_key_the_configuration_accepts_has_a_row_of_its_own():
    fields = [f.name for f in dataclasses.fields(EnvConfig)]
    for name in fields:  # what "accepts" means: validate_config takes the key
        validate_config({name: getattr(EnvConfig(), name)})
    assert sorted(_rows(PAGE.read_text())) == sorted(fields)


@pytest.mark.parametrize("key, bad", [
    ("db_allocated_storage", 19), ("api_log_level", "OFF"), ("redis_snapshot_window", "1:00"),
    ("db_monitoring_interval", 7), ("ecs_log_max_buffer_size", "5g"), ("api_cpu", 300),
])
def test_the_allowed_values_are_the_words_of_the_error_a_bad_value_gets(key, bad):
    allowed = _rows(reference.page())[key][2]
    with pytest.raises(ConfigError) as caught:
        validate_config({key: bad})
    assert allowed in caught.value.lines[0]


def test_every_key_may_be_set_per_environment_as_the_reference_says(tmp_path):
    """The "per environment" column says yes for every key: an environment's table takes each one."""
    rows = _rows(reference.page())
    assert all(cells[3].startswith("yes") for cells in rows.values())
    defaults = EnvConfig()
    lines = [f"{f.name} = {json.dumps(getattr(defaults, f.name))}" for f in dataclasses.fields(EnvConfig)]
    path = tmp_path / "every-key.toml"
    path.write_text("[environments.dev]\n" + "\n".join(lines) + "\n")
    assert load_config(str(path), "dev") == load_config(None, "dev")


def test_the_default_shown_is_the_declared_one_and_the_production_one():
    rows = _rows(reference.page())
    assert rows["db_allocated_storage"][1] == "`20`"
    assert rows["deletion_protection"][1].startswith("`false`; `true` for a production environment name")
    assert load_config(None, "prod").deletion_protection and not load_config(None, "dev").deletion_protection


@dataclass(frozen=True)
class Undocumented:
    db_documented: bool = True
    """Documented."""
    db_new_setting: bool = False


@dataclass(frozen=True)
class Unsorted:
    zz_setting: bool = True
    """In no section."""


@dataclass(frozen=True)
class Unchecked:
    db_free_text: str = ""
    """No check says what it takes, and neither does this."""


@pytest.mark.parametrize("cls, said", [(Undocumented, "db_new_setting has no doc string"),
                                       (Unsorted, "zz_setting belongs to no section"),
                                       (Unchecked, "db_free_text has no check and no \"Allowed:\" paragraph")])
def test_a_key_without_a_meaning_or_a_section_stops_the_command(cls, said):
    with pytest.raises(UserError, match=said):
        reference.describe(cls)


def test_the_doc_string_under_a_key_is_its_meaning_and_the_rest_its_notes():
    keys = {k.name: k for k in reference.describe()}
    assert keys["vpc_cidr"].allowed == "an IPv4 network, /16 to /24"
    assert keys["vpc_cidr"].notes[0].startswith("Fixed once created: a new CIDR is a new VPC")
    assert keys["tags"].per_environment.startswith("yes, `[environments.NAME.tags]` adds to `[defaults.tags]`")
    assert keys["db_final_snapshot"].meaning == "Take a final snapshot of the database on teardown."


def test_write_puts_the_page_in_place(tmp_path, monkeypatch, capsys):
    target = tmp_path / "configuration.md"
    monkeypatch.setattr(reference, "PAGE", target)
    assert reference.main(["--write"]) == 0
    assert target.read_text() == reference.page() and capsys.readouterr().out == ""


def test_the_command_prints_the_page_and_refuses_unknown_arguments_in_one_line():
    ran = subprocess.run([sys.executable, "-m", "orchestrator.config_reference"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert ran.stdout == PAGE.read_text()
    bad = subprocess.run([sys.executable, "-m", "orchestrator.config_reference", "--check"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.splitlines() == [
        "error: unknown arguments --check (usage: python -m orchestrator.config_reference [--write])"]


def test_the_template_must_say_where_the_keys_go():
    with pytest.raises(UserError, match="exactly once"):
        reference.page("# Configuration\n\nno marker\n")
