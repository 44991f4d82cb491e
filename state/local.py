"""State backends: the interface the engine uses, and the local-file implementation."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import socket
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Protocol, TypeVar, runtime_checkable

from .document import StateDocument, corrupt
from .errors import LockHeldError, StateError

STATE_DIR_ENV = "VIDEO_PIPELINE_STATE_DIR"
T = TypeVar("T")

# env and region become file names: keep them to one harmless path component.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def default_state_dir() -> Path:
    if explicit := os.environ.get(STATE_DIR_ENV):
        return Path(explicit).expanduser()
    if xdg := os.environ.get("XDG_STATE_HOME"):
        return Path(xdg) / "video-pipeline-infra"
    return Path.home() / ".local" / "state" / "video-pipeline-infra"


@runtime_checkable
class StateBackend(Protocol):
    location: str

    def lock(self, *, break_lock: str | None = None) -> None: ...
    def unlock(self) -> None: ...
    def load(self) -> StateDocument: ...
    def save(self, doc: StateDocument) -> bool: ...


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    # The temp file lives in the target directory so os.replace is a same-filesystem
    # rename: readers and crashes see the old or the new file, never a partial one.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _refuse_unsafe(path: Path, what: str, fix_mode: str, *, follow: bool) -> None:
    """Refuse (one line, nothing touched) a state path another local user could change: owned by
    someone else, or writable by group or others. Such a user could rewrite the state (what a run
    then builds or deletes) or plant a symlink where a run writes. ``follow``: the state directory
    itself may be a symlink (to another disk); a lock file never."""
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        # A lock is made again by the next run; a state removed would be the environment's memory lost.
        advice = ("remove it (a run creates its own)" if what.endswith("lock file")
                  else "put the file it points to in its place (a run never follows one)")
        raise StateError(f"{what} {path} is a symbolic link; {advice}")
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.geteuid():
        raise StateError(f"{what} {path} is owned by another user (uid {info.st_uid}); "
                         f"chown it to this user (uid {os.geteuid()}) or use a state directory of your own")
    if mode & 0o022:
        raise StateError(f"{what} {path} is writable by others (mode {mode:04o}); chmod {fix_mode} {path}")


def _open_lock_file(path: Path, flags: int = os.O_RDWR) -> int:
    """Open (creating it 0600 when absent) a lock file without following a symlink: O_EXCL for
    the create, O_NOFOLLOW for an existing one, so a link planted between the checks and the
    open is refused rather than followed to a file elsewhere."""
    if flags & os.O_RDWR:
        with contextlib.suppress(FileExistsError):
            return os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        return os.open(path, flags | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateError(f"state lock file {path} is a symbolic link; remove it (a run creates its own)") from None
        raise


def _read_holder(fd: int) -> dict | None:
    try:
        holder = json.loads(os.pread(fd, 64 * 1024, 0).decode())
    except ValueError:  # empty, or caught half-written by its holder
        return None
    return holder if isinstance(holder, dict) else None


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: assume a live run rather than break its lock
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class LocalStateBackend:
    """State in `{state_dir}/{env}.{region}.json`, guarded by an flock on `{env}.{region}.lock`."""

    def __init__(self, state_dir: str | os.PathLike, env: str, region: str,
                 account: str | None = None) -> None:
        for what, name in (("env", env), ("region", region)):
            if not _NAME.fullmatch(name):
                raise ValueError(f"invalid {what} name {name!r}")
        self.state_dir = Path(state_dir)
        self.env, self.region, self.account = env, region, account
        self.path = self.state_dir / f"{env}.{region}.json"
        self.backup_path = self.state_dir / f"{env}.{region}.json.bak"
        self.lock_path = self.state_dir / f"{env}.{region}.lock"
        # The last drift check's findings (bin/drift --new-only) and the flock guarding them.
        self.drift_path = self.state_dir / f"{env}.{region}.drift.json"
        self.drift_lock_path = self.state_dir / f"{env}.{region}.drift.lock"
        self.drift_record_unreadable = False
        self.location = str(self.path)
        self.previous_holder: dict | None = None
        self.broken_holder: dict | None = None
        self._lock_fd: int | None = None
        self._save_lock = threading.Lock()

    # -- locking --------------------------------------------------------------

    def lock(self, *, break_lock: str | None = None) -> None:
        """Take the exclusive lock for this environment and region, or raise LockHeldError.

        ``break_lock`` (None: never) takes over a lock whose flock is still held although its
        recorded holder is gone: a dead pid on this host (any value, "" included), or exactly
        the holder the user named as ``PID@HOST`` for a run on another host, which cannot be
        checked from here. A stuck flock with a dead holder happens when a child process of the
        killed run inherited the descriptor, or on a network filesystem that lost track of it.
        """
        if self._lock_fd is not None:
            raise StateError(f"state lock {self.lock_path} is already held by this backend")
        self.check_private()
        self._make_dir()
        fd = _open_lock_file(self.lock_path)
        try:
            # flock, unlike a pid file, dies with its process: a killed run never
            # leaves behind a lock that blocks the next one.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            refusal = self._refuse_break(holder, break_lock)
            if refusal is not None:
                os.close(fd)
                raise LockHeldError(self._held_message(holder, refusal), holder) from None
            try:
                fd = self._take_over(fd, holder)
            except BaseException:
                os.close(fd)
                raise
            self.broken_holder, self.previous_holder = holder, None
        except BaseException:
            os.close(fd)
            raise
        else:
            # Holder info still present means the last holder died without unlock().
            self.previous_holder = _read_holder(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        os.fsync(fd)
        self._lock_fd = fd

    def unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        # Empty the file rather than delete it: unlinking a flocked file lets a
        # newcomer lock a fresh inode while a waiter still holds the old one.
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    @contextlib.contextmanager
    def locked(self, *, break_lock: str | None = None) -> Iterator[LocalStateBackend]:
        self.lock(break_lock=break_lock)
        try:
            yield self
        finally:
            self.unlock()

    @property
    def is_locked(self) -> bool:
        return self._lock_fd is not None

    def check_private(self) -> None:
        """Refuse a state directory, or a file of this environment in it, that another local user
        could change (see _refuse_unsafe). Before anything is created, read or locked."""
        _refuse_unsafe(self.state_dir, "state directory", "700", follow=True)
        for path in (self.lock_path, self.drift_lock_path):
            _refuse_unsafe(path, "state lock file", "600", follow=False)
        for path in (self.path, self.backup_path, self.drift_path):
            _refuse_unsafe(path, "state file", "600", follow=False)

    def _make_dir(self) -> None:
        if not self.state_dir.is_dir():
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.state_dir.chmod(0o700)  # mkdir's mode is masked by the umask

    @property
    def exists(self) -> bool:
        """Whether the environment has a state document here."""
        return self.path.exists()

    def read_lock_holder(self) -> dict | None:
        """The holder recorded in the lock file (a run in progress, or one killed since), for
        `bin/state show`; None when the file is empty. Reads without locking."""
        try:
            fd = _open_lock_file(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            return _read_holder(fd)
        finally:
            os.close(fd)

    def _refuse_break(self, holder: dict | None, break_lock: str | None) -> str | None:
        """None when the held lock may be taken over, else why not (the end of the message)."""
        if holder is None:
            return "another run is in progress" if break_lock is None else (
                "another run is in progress; the lock file names no holder, so it is not broken")
        pid, host = holder.get("pid"), holder.get("host")
        if host == socket.gethostname():
            if _pid_alive(pid):
                return "another run is in progress" if break_lock is None else (
                    f"another run is in progress; pid {pid} is alive on this host, so its lock is not broken")
            if break_lock is None:
                return f"pid {pid} is no longer running: rerun with --break-lock to take the lock over"
            return None
        if break_lock == f"{pid}@{host}":
            return None
        if break_lock is None:
            return "another run is in progress"
        return (f"another run may be in progress; pid {pid} runs on another host and cannot be checked "
                f"from here: if that run is gone, rerun with --break-lock {pid}@{host}")

    def _take_over(self, old_fd: int, holder: dict | None) -> int:
        """Replace the stuck lock file with a fresh one locked by us (rename: there is never a
        moment without a lock file), unless another run replaced it first."""
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=f".{self.lock_path.name}.", suffix=".tmp")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new inode: nobody else has it
            old, now = os.fstat(old_fd), os.stat(self.lock_path)
            if (old.st_dev, old.st_ino) != (now.st_dev, now.st_ino):
                raise LockHeldError(self._held_message(holder, "another run broke the lock first"), holder)
            os.replace(tmp, self.lock_path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        os.close(old_fd)  # releases nothing of ours: the stuck flock is someone else's
        _fsync_dir(self.state_dir)
        return fd

    def _held_message(self, holder: dict | None, why: str = "another run is in progress") -> str:
        where = f"state for env {self.env!r} in {self.region!r}"
        if holder is None:
            return f"{where} is locked by another process; {why}"
        return (f"{where} is locked by pid {holder.get('pid', '?')} on host {holder.get('host', '?')} "
                f"since {holder.get('started_at', '?')}; {why}")

    # -- reading and writing --------------------------------------------------

    def load(self) -> StateDocument:
        self.check_private()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return StateDocument.new(self.env, self.region, account=self.account)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise corrupt("not UTF-8 text", self.location) from None
        return StateDocument.from_json(text, env=self.env, region=self.region, account=self.account,
                                       source=self.location)

    def save(self, doc: StateDocument) -> bool:
        """Write `doc` atomically if it differs from the file; True if written."""
        if (doc.env, doc.region) != (self.env, self.region):
            raise StateError(f"cannot save state of env {doc.env!r} in {doc.region!r} "
                             f"to {self.location}")
        with self._save_lock:
            if self._lock_fd is None:
                raise StateError(f"refusing to write {self.location} without holding its lock")
            # Serialized under the lock: a snapshot taken before it could be older
            # than one another thread has already written.
            new = doc.to_json().encode()
            try:
                old = self.path.read_bytes()
            except FileNotFoundError:
                old = None
            if old == new:
                return False
            if old is not None:
                _write_atomic(self.backup_path, old)
            _write_atomic(self.path, new)
            return True

    def update_drift_record(self, update: Callable[[dict | None], tuple[dict, T]]) -> T:
        """Read the last drift check's record (None: none yet, or unreadable:
        ``drift_record_unreadable``), write the one ``update(previous)`` returns with its result,
        and return the result. The record is a file beside the state, never the state document:
        writing it needs no state lock, so a drift check never stands in a reconcile's way. An
        flock of its own, held for the read and the write only, serializes two checks, so that
        a finding is new for one of them only."""
        self.check_private()
        self._make_dir()
        fd = _open_lock_file(self.drift_lock_path)
        try:
            # Blocking: the other holder is a check between its read and its write, milliseconds.
            fcntl.flock(fd, fcntl.LOCK_EX)
            previous = self._read_drift_record()
            record, result = update(previous)
            _write_atomic(self.drift_path, (json.dumps(record, sort_keys=True, indent=2) + "\n").encode())
            return result
        finally:
            os.close(fd)  # releases the flock

    def _read_drift_record(self) -> dict | None:
        self.drift_record_unreadable = False
        try:
            record = json.loads(self.drift_path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
            record = None
        if not isinstance(record, dict):
            self.drift_record_unreadable = True
            return None
        return record

    def retire(self) -> None:
        """After the state was moved elsewhere (under the lock): keep the file renamed
        `ENV.REGION.json.moved`, so no run reads it again and nothing is lost."""
        if self._lock_fd is None:
            raise StateError(f"refusing to retire {self.location} without holding its lock")
        if self.path.exists():
            os.replace(self.path, self.path.with_name(self.path.name + ".moved"))
            _fsync_dir(self.state_dir)
