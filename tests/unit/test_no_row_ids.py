"""No internal row id (B-RDS-1, C-APIGW-1, A-29) in a text a user can read: every string literal
of the code outside docstrings (error and refusal messages, log `detail=`/`reason=` values, help
texts, rendered reports) is scanned. The ids stay in the comments beside them."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support.row_ids import ROW_ID

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestrator", "resources", "state")


def _docstrings(tree: ast.AST) -> set[int]:
    nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, nodes) and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def row_ids_in(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string literal, f-string parts included, that carries a row id."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    return sorted((node.lineno, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and id(node) not in docs and ROW_ID.search(node.value))


def test_the_scan_finds_a_row_id_in_messages_and_not_in_comments_or_docstrings():
    source = '''"""Module doc (C-RDS-2)."""
def f(n):
    """Function doc (B-EC-2)."""
    log.warning("kept", reason="these stages log (C-APIGW-1)")  # C-APIGW-1
    raise ResourceError(f"{n} clusters (B-EC-2)")
'''
    assert [line for line, _ in row_ids_in(source)] == [4, 5]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_user_facing_string_carries_an_internal_row_id(package):
    found = [f"{path.relative_to(ROOT)}:{line}: {text!r}"
             for path in sorted((ROOT / package).rglob("*.py"))
             for line, text in row_ids_in(path.read_text())]
    assert found == []


def test_the_readme_names_no_row_id_issue_or_file_outside_the_repository():
    """The README is for users: AWS behaviours in words, no row ids, no issue numbers, nothing
    outside the repository (the design notes it was built from are not part of it)."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200, "the README is for users and short: the rest goes in docs/"
    found = [line for line in text.splitlines()
             if ROW_ID.search(line) or re.search(r"\bissue \d+|\.\./shared|aws-note[s]|spec/[a-z]+\.md", line)]
    assert found == []
