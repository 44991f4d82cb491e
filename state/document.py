"""The versioned JSON state document of one environment in one region."""

from __future__ import annotations

import json
import threading
from typing import Any

from .errors import CorruptStateError, ForeignStateError, SchemaVersionError

# 2: the environment's configuration is recorded (config, pending_config). A version-1 file
# is read as one with no configuration recorded and written back as version 2, which older
# tools refuse: they would judge the environment against their defaults.
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)

# Field names whose values are secrets. `value` is deliberately absent: it names
# plenty of harmless things (tags, parameters).
_SECRET_FIELDS = frozenset(
    {"password", "masteruserpassword", "secret_string", "secretstring",
     "auth_token", "authtoken", "api_key_value"}
)


def _refuse_secrets(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if str(key).lower() in _SECRET_FIELDS:
                raise ValueError(f"refusing to store {where!r} in state: it looks like a secret")
            _refuse_secrets(item, where)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _refuse_secrets(item, f"{path}[{index}]")


def _json_copy(value: Any, what: str) -> Any:
    # A round trip through JSON both deep-copies and fails early, in the caller's
    # thread, on values that could not be saved later.
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-serializable: {exc}") from None


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _subject(source: str | None) -> str:
    # The file (or s3:// URL) named, so that whoever reads the error knows which one to look at.
    return f"state file {source}" if source else "state file"


def corrupt(problem: str, source: str | None = None) -> CorruptStateError:
    return CorruptStateError(f"{_subject(source)} is corrupt: {problem}")


def _strings(v) -> bool:
    return isinstance(v, list) and all(isinstance(item, str) for item in v)


# Required keys: what each must hold, and the test for it.
_SHAPE = {
    "env": ("a string", lambda v: isinstance(v, str)),
    "region": ("a string", lambda v: isinstance(v, str)),
    "account": ("a string or null", lambda v: v is None or isinstance(v, str)),
    "azs": ("an array of strings", _strings),
    "resources": ("an object of objects",
                  lambda v: isinstance(v, dict) and all(isinstance(r, dict) for r in v.values())),
    "outputs": ("an object", lambda v: isinstance(v, dict)),
}


_CONFIG_KEYS = ("config", "pending_config")


def _config_record_ok(record) -> bool:
    return (isinstance(record, dict) and isinstance(record.get("values"), dict)
            and isinstance(record.get("hash"), str) and isinstance(record.get("source"), str))


def _retired_record_ok(record) -> bool:
    return (isinstance(record, dict) and isinstance(record.get("at"), str)
            and isinstance(record.get("retained"), list))


def _check_shape(data: dict, source: str | None) -> None:
    for key, (expected, ok) in _SHAPE.items():
        if key not in data:
            raise corrupt(f"missing key {key!r}", source)
        if not ok(data[key]):
            raise corrupt(f"{key!r} must be {expected}", source)


class StateDocument:
    """Thread-safe holder of the state dict; every getter returns a copy."""

    def __init__(self, data: dict) -> None:
        self._data = data
        # Re-entrant so a method may call another guarded one.
        self._lock = threading.RLock()

    @classmethod
    def new(cls, env: str, region: str, account: str | None = None) -> StateDocument:
        return cls({"schema_version": SCHEMA_VERSION, "env": env, "region": region,
                    "account": account, "azs": [], "resources": {}, "outputs": {}})

    @classmethod
    def from_json(cls, text: str, *, env: str, region: str, account: str | None = None,
                  source: str | None = None) -> StateDocument:
        """``source``: the file or s3:// URL the text was read from, named by every error."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise corrupt(f"{exc.msg} at line {exc.lineno} column {exc.colno}", source) from None
        if not isinstance(data, dict):
            raise corrupt(f"expected an object, found {_type_name(data)}", source)
        if "schema_version" not in data:
            raise corrupt("missing key 'schema_version'", source)
        version = data["schema_version"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise corrupt(f"'schema_version' must be an integer, found {_type_name(version)}", source)
        if version not in READABLE_VERSIONS:
            hint = "; it was written by a newer version of this tool" if version > SCHEMA_VERSION else ""
            raise SchemaVersionError(
                f"{_subject(source)} has schema version {version}, this tool reads versions "
                f"{READABLE_VERSIONS[0]} to {SCHEMA_VERSION}{hint}")
        _check_shape(data, source)
        for key in _CONFIG_KEYS:
            if data.get(key) is not None and not _config_record_ok(data[key]):
                raise corrupt(f"{key!r} must be an object with 'values' (an object), 'hash' and 'source' (strings)",
                              source)
        if data.get("az_ids") is not None and not _strings(data["az_ids"]):
            raise corrupt("'az_ids' must be an array of strings", source)
        if data.get("retired") is not None and not _retired_record_ok(data["retired"]):
            raise corrupt("'retired' must be an object with 'at' (a string) and 'retained' (an array)", source)
        data["schema_version"] = SCHEMA_VERSION
        if (data["env"], data["region"]) != (env, region):
            raise ForeignStateError(
                f"{_subject(source)} belongs to env {data['env']!r} in region {data['region']!r}, "
                f"not env {env!r} in {region!r}")
        if account is not None and data["account"] is not None and data["account"] != account:
            raise ForeignStateError(
                f"{_subject(source)} belongs to account {data['account']!r}, not account {account!r}")
        if data["account"] is None:
            # Learn the account the first time it is known, so later runs can check it.
            data["account"] = account
        return cls(data)

    @property
    def schema_version(self) -> int:
        return self._data["schema_version"]

    @property
    def env(self) -> str:
        return self._data["env"]

    @property
    def region(self) -> str:
        return self._data["region"]

    @property
    def account(self) -> str | None:
        with self._lock:
            return self._data["account"]

    @account.setter
    def account(self, account: str | None) -> None:
        if account is not None and not isinstance(account, str):
            raise TypeError("account must be a string or None")
        with self._lock:
            self._data["account"] = account

    @property
    def azs(self) -> list[str]:
        with self._lock:
            return list(self._data["azs"])

    @azs.setter
    def azs(self, azs: list[str]) -> None:
        if isinstance(azs, str) or not all(isinstance(az, str) for az in azs):
            raise TypeError("azs must be a sequence of strings")
        with self._lock:
            self._data["azs"] = list(azs)

    @property
    def az_ids(self) -> list[str]:
        """The AZ IDs of ``azs``, in the same order (docs/aws-behaviours.md C-AZ-1). Optional: a
        document written before they were recorded has names only, and older tools ignore it."""
        with self._lock:
            return list(self._data.get("az_ids") or [])

    @az_ids.setter
    def az_ids(self, ids: list[str]) -> None:
        if isinstance(ids, str) or not all(isinstance(i, str) for i in ids):
            raise TypeError("az_ids must be a sequence of strings")
        with self._lock:
            if ids:
                self._data["az_ids"] = list(ids)
            else:
                self._data.pop("az_ids", None)

    @property
    def outputs(self) -> dict[str, Any]:
        with self._lock:
            return _json_copy(self._data["outputs"], "outputs")

    @outputs.setter
    def outputs(self, outputs: dict[str, Any]) -> None:
        if not isinstance(outputs, dict):
            raise TypeError("outputs must be a dict")
        _refuse_secrets(outputs, "outputs")
        outputs = _json_copy(outputs, "outputs")
        with self._lock:
            self._data["outputs"] = outputs

    def _get_config(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return _json_copy(self._data.get(key), key)

    def _set_config(self, key: str, record: dict[str, Any] | None) -> None:
        if record is not None and not _config_record_ok(record):
            raise TypeError(f"{key} must be a dict with values, hash and source")
        _refuse_secrets(record, key)
        record = _json_copy(record, key)
        with self._lock:
            if record is None:
                self._data.pop(key, None)
            else:
                self._data[key] = record

    # The configuration of the last successful reconcile: {values, hash, source}.
    config = property(lambda self: self._get_config("config"), lambda self, r: self._set_config("config", r))
    # The configuration a reconcile that failed was applying, until one succeeds.
    pending_config = property(
        lambda self: self._get_config("pending_config"), lambda self, r: self._set_config("pending_config", r)
    )

    @property
    def retired(self) -> dict[str, Any] | None:
        """Set by a teardown that succeeded: {at, by, command, retained}; the document is kept for
        audit, and a reconcile that creates the environment anew clears it. Optional, so documents
        written before it (and by older tools, which ignore it) stay loadable."""
        return self._get_config("retired")

    @retired.setter
    def retired(self, record: dict[str, Any] | None) -> None:
        if record is not None and not _retired_record_ok(record):
            raise TypeError("retired must be a dict with at (a string) and retained (a list)")
        record = _json_copy(record, "retired")
        with self._lock:
            if record is None:
                self._data.pop("retired", None)
            else:
                self._data["retired"] = record

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return _json_copy(self._data["resources"], "resources")

    def resource(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._data["resources"].get(key)
            return None if entry is None else _json_copy(entry, key)

    def set_resource(self, key: str, **fields: Any) -> None:
        """Merge fields into the entry of `key`, creating it; a field set to None is removed."""
        _refuse_secrets(fields, key)
        fields = _json_copy(fields, f"resource {key!r}")
        with self._lock:
            entry = self._data["resources"].setdefault(key, {})
            for name, value in fields.items():
                if value is None:
                    entry.pop(name, None)
                else:
                    entry[name] = value

    def remove_resource(self, key: str) -> None:
        with self._lock:
            self._data["resources"].pop(key, None)

    def to_json(self) -> str:
        with self._lock:
            return json.dumps(self._data, sort_keys=True, indent=2) + "\n"

    def __repr__(self) -> str:
        return f"StateDocument(env={self.env!r}, region={self.region!r}, resources={len(self.resources)})"
