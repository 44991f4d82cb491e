"""Versioned JSON state per environment and region; knows nothing of AWS or the engine."""

from .document import SCHEMA_VERSION, StateDocument
from .errors import CorruptStateError, ForeignStateError, LockHeldError, SchemaVersionError, StateError
from .local import STATE_DIR_ENV, LocalStateBackend, StateBackend, default_state_dir

__all__ = [
    "SCHEMA_VERSION", "STATE_DIR_ENV", "CorruptStateError", "ForeignStateError", "LocalStateBackend",
    "LockHeldError", "SchemaVersionError", "StateBackend", "StateDocument", "StateError",
    "default_state_dir",
]
