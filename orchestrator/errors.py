"""Errors that end a command with one clear line on stderr and exit 1."""
from __future__ import annotations

import difflib


class UserError(Exception):
    """Bad input or a refused operation: shown as one line, exit 1, nothing changed."""

    @property
    def user_message(self) -> str:
        return str(self)


def one_line(exc: BaseException) -> str:
    """The first line of an error's user message (its type and text when it has none)."""
    message = getattr(exc, "user_message", None) or f"{type(exc).__name__}: {exc}"
    lines = str(message).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def unknown_key(where: str, key: str, known, otherwise: str) -> str:
    """One line for a key no table has: the known key it most likely misspells, else ``otherwise``
    (what is allowed, or where the keys are documented)."""
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f"{where}: unknown key '{key}'; " + (f"did you mean '{close[0]}'?" if close else otherwise)
