"""Versioned JSON state per environment and region; knows nothing of AWS or the engine."""

from .document import SCHEMA_VERSION, StateDocument
from .errors import CorruptStateError, ForeignStateError, LockHeldError, SchemaVersionError, StateError
from .local import STATE_DIR_ENV, LocalStateBackend, StateBackend, default_state_dir
from .location import STATE_ENV, StateLocation, StateLocationError, parse_location, resolve_location
from .s3 import (
    LEASE_SECONDS, BucketRequirementsError, LockLostError, S3StateBackend, StateConflictError, check_bucket,
    expect_bucket_owner,
)

__all__ = [
    "LEASE_SECONDS", "SCHEMA_VERSION", "STATE_DIR_ENV", "STATE_ENV", "BucketRequirementsError", "CorruptStateError",
    "ForeignStateError", "LocalStateBackend", "LockHeldError", "LockLostError", "S3StateBackend",
    "SchemaVersionError", "StateBackend", "StateConflictError", "StateDocument", "StateError", "StateLocation",
    "StateLocationError", "check_bucket", "default_state_dir", "expect_bucket_owner", "parse_location", "resolve_location",
]
