"""botocore's data files parsed into plain dicts, service models read from a cache without their
documentation.

botocore parses every JSON data file with ``object_pairs_hook=OrderedDict``: for the dozen
services of a drift check that is most of the command's start-up (EC2's model alone takes 10 ms
that way and 2.6 ms without the hook). Since Python 3.7 a dict keeps its keys' order, and botocore
reads the loaded data only as a mapping (its model classes build their own OrderedDicts from it),
so the same files are parsed here into plain dicts, through botocore's own extension point (the
data loader's ``file_loader``).

The service models (``service-2.json.gz``) are four fifths documentation: 12.8 MB of JSON for the
stack's services, 85 ms to decompress and parse at every start, which parse in about 30 ms with
their documentation strings emptied. botocore reads a model's documentation only to write
docstrings, so the first command writes each model without it to the user's cache directory
(``$XDG_CACHE_HOME/video-pipeline-infra``, else ``~/.cache/...``) and later commands read that
copy. A copy is named after its source file, size and modification time and botocore's version,
so an upgraded botocore is read afresh; one that cannot be read or written (a read-only home, a
half-written file) is skipped and the source parsed as before.
``tests/unit/test_botocore_models.py`` holds that every file the stack's services load parses to
the same data, keys in the same order, the service models less their documentation.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile

import botocore
import botocore.loaders

SERVICE_MODEL = "service-2.json"
# Bumped when what a cached copy holds changes, so older copies are not read.
CACHE_FORMAT = 1


def default_cache_dir() -> str | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "video-pipeline-infra", "botocore-models") if os.path.isabs(base) else None


def without_documentation(data):
    """The model with every ``documentation`` string emptied, not removed: botocore reads a few
    as required keys (a client context parameter's, S3's). A member *named* documentation is a
    dict, and stays."""
    if isinstance(data, dict):
        return {k: "" if k == "documentation" and isinstance(v, str) else without_documentation(v) for k, v in data.items()}
    if isinstance(data, list):
        return [without_documentation(v) for v in data]
    return data


class PlainJSONFileLoader(botocore.loaders.JSONFileLoader):
    def __init__(self, cache_dir: str | None = None):
        self.cache_dir = cache_dir

    def _load_file(self, full_path, open_method):
        if not os.path.isfile(full_path):
            return None
        if self.cache_dir and os.path.basename(full_path).startswith(SERVICE_MODEL):
            return self._load_service_model(full_path, open_method)
        return self._parse(full_path, open_method)

    @staticmethod
    def _parse(full_path, open_method):
        with open_method(full_path, "rb") as fp:
            return json.loads(fp.read())

    def _load_service_model(self, full_path, open_method):
        cached = self._cache_path(full_path)
        try:
            with open(cached, "rb") as fp:
                return json.loads(fp.read())
        except (OSError, ValueError):
            pass
        data = without_documentation(self._parse(full_path, open_method))
        self._write(cached, data)
        return data

    def _cache_path(self, full_path: str) -> str:
        stat = os.stat(full_path)
        key = f"{CACHE_FORMAT}:{botocore.__version__}:{full_path}:{stat.st_size}:{stat.st_mtime_ns}"
        # data/SERVICE/API-VERSION/service-2.json.gz -> SERVICE-API-VERSION-HASH.json
        version_dir = os.path.dirname(full_path)
        name = f"{os.path.basename(os.path.dirname(version_dir))}-{os.path.basename(version_dir)}"
        return os.path.join(self.cache_dir, f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json")

    def _write(self, cached: str, data) -> None:
        written = None
        try:
            os.makedirs(self.cache_dir, mode=0o700, exist_ok=True)
            # Written whole, then renamed: a command reading at the same moment sees the old
            # copy or the new one, never half of one.
            with tempfile.NamedTemporaryFile("w", dir=self.cache_dir, suffix=".tmp", delete=False) as fp:
                written = fp.name
                json.dump(data, fp, separators=(",", ":"))
            os.replace(written, cached)
        except OSError:
            if written:
                with contextlib.suppress(OSError):
                    os.remove(written)
            return
        # The copies of this model for an earlier botocore (or an earlier file) go.
        prefix = os.path.basename(cached).rsplit("-", 1)[0] + "-"
        for other in os.listdir(self.cache_dir):
            if other.startswith(prefix) and other != os.path.basename(cached) and other[len(prefix):].count("-") == 0:
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(self.cache_dir, other))


def install(botocore_session) -> None:
    """Every data file this session's clients load from now on is parsed into plain dicts."""
    botocore_session.get_component("data_loader").file_loader = PlainJSONFileLoader(default_cache_dir())
