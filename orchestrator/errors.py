"""Errors that end a command with one clear line on stderr and exit 1."""


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
