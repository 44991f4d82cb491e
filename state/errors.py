"""Errors raised by the state package; each message is one line shown to users as-is."""

from __future__ import annotations


class StateError(Exception):
    """Base class for every state problem."""

    @property
    def user_message(self) -> str:
        # The message is the whole answer: no exception class name in front of it.
        return str(self)


class CorruptStateError(StateError):
    """The state file is not a valid state document."""


class ForeignStateError(StateError):
    """The state file belongs to another env, region or account."""


class SchemaVersionError(StateError):
    """The state file uses a schema version this tool does not understand."""


class LockHeldError(StateError):
    """Another run holds the state lock."""

    def __init__(self, message: str, holder: dict | None = None) -> None:
        super().__init__(message)
        self.holder = holder
