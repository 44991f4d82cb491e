"""docs/aws-behaviours.md is the one catalogue the code's comments cite: every row id and timing id
used anywhere in the repository has a row there, each row names its source, and nothing in the
repository points at a file outside it (the design notes the catalogue was written from)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.row_ids import ROW_ID

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = "docs/aws-behaviours.md"
# The catalogue's own ids for the figures of "Timings and rate limits" (T-1.3, T-2).
TIMING_ID = re.compile(r"\bT-\d+(?:\.\d+)?\b")
# Names of files outside the repository, built from pieces so that this file does not name them.
OUTSIDE = re.compile("|".join(re.escape(a + b) for a, b in (
    ("../", "shared"), ("aws-", "notes"), ("aws-", "timings"), ("spec/", "cli.md"), ("spec/", "stack.md"),
    ("spec/", "security.md"), ("seed-", "README"))), re.IGNORECASE)


def tracked_texts() -> dict[str, str]:
    """Every file git tracks, by path, that reads as UTF-8 text."""
    paths = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.split("\0")
    texts = {}
    for path in filter(None, paths):
        try:
            texts[path] = (ROOT / path).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
    return texts


def catalogue_rows() -> dict[str, list[str]]:
    """The catalogue's table rows by their first cell (an id), each as its list of cells."""
    rows = {}
    for line in (ROOT / CATALOGUE).read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and (ROW_ID.fullmatch(cells[0]) or TIMING_ID.fullmatch(cells[0])):
            assert cells[0] not in rows, f"{cells[0]} is defined twice"
            rows[cells[0]] = cells
    return rows


def cited(pattern: re.Pattern) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path, text in tracked_texts().items():
        if path != CATALOGUE:
            for match in pattern.finditer(text):
                found.setdefault(match.group(), set()).add(path)
    return found


def test_every_row_id_cited_in_the_repository_has_a_row_in_the_catalogue():
    rows = catalogue_rows()
    citations = cited(ROW_ID)
    assert citations, "the scan found no citation at all: the regex or the file listing is broken"
    undefined = {row_id: sorted(paths) for row_id, paths in citations.items() if row_id not in rows}
    assert undefined == {}


def test_every_timing_id_cited_in_the_repository_has_a_row_in_the_catalogue():
    rows = catalogue_rows()
    undefined = {timing: sorted(paths) for timing, paths in cited(TIMING_ID).items() if timing not in rows}
    assert undefined == {}


def test_no_tracked_file_names_a_file_outside_the_repository():
    found = [f"{path}:{number}: {line.strip()}"
             for path, text in tracked_texts().items()
             for number, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert found == []


def test_every_row_of_the_catalogue_has_four_cells_and_a_source():
    rows = catalogue_rows()
    assert len(rows) > 100
    assert [row_id for row_id, cells in rows.items() if len(cells) != 4 or not all(cells)] == []
