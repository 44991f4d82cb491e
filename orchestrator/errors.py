"""Errors that end a command with one clear line on stderr and exit 1."""


class UserError(Exception):
    """Bad input or a refused operation: shown as one line, exit 1, nothing changed."""

    @property
    def user_message(self) -> str:
        return str(self)
