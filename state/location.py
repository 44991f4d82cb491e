"""Where state lives: `--state URL`, `$VIDEO_PIPELINE_STATE`, the older `--state-dir` and
`$VIDEO_PIPELINE_STATE_DIR`, else the default directory. Parsing only; no I/O."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import StateError

STATE_ENV = "VIDEO_PIPELINE_STATE"

# S3's bucket naming rules (3-63 characters; lowercase letters, digits, dots and hyphens; a
# letter or digit at both ends). Checked here so a typo fails in one line, before any call.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_PART = re.compile(r"[A-Za-z0-9!_.*'()-]+")


class StateLocationError(StateError):
    """A state URL this tool cannot use."""


@dataclass(frozen=True)
class StateLocation:
    """A local directory (`path`) or an S3 bucket and key prefix."""

    path: Path | None = None
    bucket: str | None = None
    prefix: str = ""

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    @property
    def url(self) -> str:
        if self.is_s3:
            return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        return str(self.path)

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name


def parse_location(value: str) -> StateLocation:
    """`s3://BUCKET[/PREFIX]` or a directory path. Any other `scheme:` is refused rather than
    taken as a directory name (an `s3:/x` typo must not write a local folder named `s3:`)."""
    text = value.strip()
    if not text:
        raise StateLocationError("state location is empty: give a directory or s3://BUCKET/PREFIX")
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", text)
    if scheme and scheme.group(1).lower() == "s3":
        rest = text[len("s3:"):]
        if not rest.startswith("//"):
            raise StateLocationError(f"state URL {value!r} is not s3://BUCKET/PREFIX")
        bucket, _, prefix = rest[2:].partition("/")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise StateLocationError(
                f"state URL {value!r}: {bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, "
                "dots and hyphens)")
        parts = [p for p in prefix.split("/") if p]
        bad = [p for p in parts if not _PREFIX_PART.fullmatch(p) or p in (".", "..")]
        if bad:
            raise StateLocationError(f"state URL {value!r}: prefix part {bad[0]!r} is not a safe S3 key part")
        return StateLocation(bucket=bucket, prefix="/".join(parts))
    if scheme and scheme.group(1).lower() == "file" and text[5:].startswith("//"):
        return StateLocation(path=Path(text[7:]).expanduser())
    if scheme and "://" in text:
        raise StateLocationError(f"state URL {value!r}: only s3:// and local directories are supported")
    return StateLocation(path=Path(text).expanduser())


def resolve_location(flag: str | None, default_dir: Path, environ=os.environ) -> StateLocation:
    """The flag, else $VIDEO_PIPELINE_STATE, else the default directory (which honours
    $VIDEO_PIPELINE_STATE_DIR)."""
    for value in (flag, environ.get(STATE_ENV)):
        if value:
            return parse_location(value)
    return StateLocation(path=default_dir)
