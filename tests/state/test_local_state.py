import fcntl
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from state import (
    STATE_DIR_ENV, CorruptStateError, ForeignStateError, LocalStateBackend, LockHeldError,
    SchemaVersionError, StateBackend, StateDocument, StateError, default_state_dir,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def backend(tmp_path):
    b = LocalStateBackend(tmp_path / "state", "dev", "us-east-1", account="123456789012")
    b.lock()
    yield b
    b.unlock()


def _doc(**resources):
    doc = StateDocument.new("dev", "us-east-1", account="123456789012")
    for key, fields in resources.items():
        doc.set_resource(key, **fields)
    return doc


def _leftovers(directory):
    return sorted(p.name for p in Path(directory).iterdir() if p.name.endswith(".tmp"))


def test_is_a_state_backend(backend):
    assert isinstance(backend, StateBackend)
    assert backend.location == str(backend.path)
    assert backend.path.name == "dev.us-east-1.json"
    assert backend.backup_path.name == "dev.us-east-1.json.bak"
    assert backend.lock_path.name == "dev.us-east-1.lock"


@pytest.mark.parametrize("env", ["", "../x", "a/b", ".hidden"])
def test_rejects_names_that_are_not_one_path_component(tmp_path, env):
    with pytest.raises(ValueError):
        LocalStateBackend(tmp_path, env, "us-east-1")


def test_load_missing_file_gives_new_document(tmp_path):
    b = LocalStateBackend(tmp_path / "nowhere", "dev", "us-east-1", account="123456789012")
    doc = b.load()
    assert (doc.env, doc.region, doc.account) == ("dev", "us-east-1", "123456789012")
    assert doc.resources == {} and doc.azs == [] and doc.outputs == {}
    assert not (tmp_path / "nowhere").exists()  # loading creates nothing


def test_save_then_load_round_trip(backend):
    doc = _doc(vpc={"kind": "vpc", "id": "vpc-0abc"})
    doc.azs = ["us-east-1a"]
    assert backend.save(doc) is True
    assert backend.path.read_text() == doc.to_json()
    loaded = backend.load()
    assert loaded.to_json() == doc.to_json()


def test_save_only_when_changed(backend):
    doc = _doc(vpc={"id": "vpc-1"})
    assert backend.save(doc) is True
    before = backend.path.stat()
    assert backend.save(doc) is False
    assert backend.save(backend.load()) is False
    after = backend.path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not backend.backup_path.exists()


def test_backup_holds_previous_version(backend):
    first = _doc(vpc={"id": "vpc-1"})
    backend.save(first)
    assert not backend.backup_path.exists()  # nothing to back up yet
    second = _doc(vpc={"id": "vpc-2"})
    assert backend.save(second) is True
    assert backend.backup_path.read_text() == first.to_json()
    assert backend.path.read_text() == second.to_json()
    third = _doc(vpc={"id": "vpc-3"})
    backend.save(third)
    assert backend.backup_path.read_text() == second.to_json()


@pytest.mark.parametrize("failing_target", ["json", "bak"])
def test_crash_during_save_keeps_old_file_and_no_temp(backend, monkeypatch, failing_target):
    old = _doc(vpc={"id": "vpc-1"})
    backend.save(old)
    backend.save(_doc(vpc={"id": "vpc-0"}))  # now both the file and a backup exist
    backend.save(old)
    old_bytes, bak_bytes = backend.path.read_bytes(), backend.backup_path.read_bytes()
    real_replace = os.replace
    written = []

    def crash(src, dst):
        written.append(Path(src).read_bytes())  # the temp file was fully written
        if str(dst).endswith(failing_target):
            raise OSError("simulated crash")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        backend.save(_doc(vpc={"id": "vpc-2"}))
    assert written
    assert backend.path.read_bytes() == old_bytes
    assert backend.backup_path.read_bytes() in (bak_bytes, old_bytes)
    assert _leftovers(backend.state_dir) == []
    monkeypatch.undo()
    assert backend.load().resource("vpc") == {"id": "vpc-1"}


def test_failed_write_cleans_temp(backend, monkeypatch):
    def fail_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail_fsync)
    with pytest.raises(OSError, match="disk full"):
        backend.save(_doc(vpc={"id": "vpc-1"}))
    assert not backend.path.exists()
    assert _leftovers(backend.state_dir) == []


def test_save_without_lock_raises(tmp_path):
    b = LocalStateBackend(tmp_path, "dev", "us-east-1")
    with pytest.raises(StateError, match="without holding its lock"):
        b.save(StateDocument.new("dev", "us-east-1"))
    assert not b.path.exists()
    with b.locked():
        assert b.save(StateDocument.new("dev", "us-east-1")) is True
    with pytest.raises(StateError):
        b.save(StateDocument.new("dev", "us-east-1"))


def test_save_refuses_document_of_other_env(backend):
    with pytest.raises(StateError, match="env 'prod'"):
        backend.save(StateDocument.new("prod", "us-east-1"))


def test_file_and_directory_modes(tmp_path):
    old_umask = os.umask(0o022)
    try:
        b = LocalStateBackend(tmp_path / "a" / "state", "dev", "us-east-1")
        with b.locked():
            b.save(_doc(vpc={"id": "vpc-1"}))
            b.save(_doc(vpc={"id": "vpc-2"}))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(b.state_dir.stat().st_mode) == 0o700
    for path in (b.path, b.backup_path, b.lock_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize("content, error", [
    (b"{oops", CorruptStateError),
    (b"[]", CorruptStateError),
    (b'{"schema_version": 1}', CorruptStateError),
    (b"\xff\xfe not utf-8", CorruptStateError),
    (json.dumps({"schema_version": 3}).encode(), SchemaVersionError),
    (StateDocument.new("prod", "us-east-1").to_json().encode(), ForeignStateError),
    (StateDocument.new("dev", "eu-west-1").to_json().encode(), ForeignStateError),
    (StateDocument.new("dev", "us-east-1", account="999999999999").to_json().encode(), ForeignStateError),
])
def test_bad_files_raise_and_stay_untouched(backend, content, error):
    backend.path.write_bytes(content)
    before = backend.path.stat()
    with pytest.raises(error) as info:
        backend.load()
    assert "\n" not in str(info.value)
    assert backend.path.read_bytes() == content
    after = backend.path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in backend.state_dir.iterdir()) == [backend.path.name, backend.lock_path.name]


def test_lock_writes_holder_info_and_unlock_clears_it(tmp_path):
    b = LocalStateBackend(tmp_path, "dev", "us-east-1")
    b.lock()
    holder = json.loads(b.lock_path.read_text())
    assert holder["pid"] == os.getpid()
    assert holder["host"] == socket.gethostname()
    assert holder["command"] == " ".join(sys.argv)
    assert holder["started_at"].endswith("+00:00")
    assert b.previous_holder is None
    b.unlock()
    assert b.lock_path.read_bytes() == b""
    b.unlock()  # idempotent
    with b.locked():
        assert b.previous_holder is None  # a clean exit leaves no trace


def test_lock_twice_on_same_backend_is_an_error(backend):
    with pytest.raises(StateError, match="already held"):
        backend.lock()


def test_second_backend_in_same_process_is_refused(backend):
    # flock belongs to the open file description, so a second open() of the
    # lock file conflicts even inside the process that holds it.
    fd = os.open(backend.lock_path, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    other = LocalStateBackend(backend.state_dir, "dev", "us-east-1")
    with pytest.raises(LockHeldError) as info:
        other.lock()
    message = str(info.value)
    assert message.startswith(f"state for env 'dev' in 'us-east-1' is locked by pid {os.getpid()} "
                              f"on host {socket.gethostname()} since ")
    assert message.endswith("; another run is in progress")
    assert info.value.holder["pid"] == os.getpid()
    # The refused attempt must not have disturbed the holder's info.
    assert json.loads(backend.lock_path.read_text())["pid"] == os.getpid()
    other_region = LocalStateBackend(backend.state_dir, "dev", "eu-west-1")
    with other_region.locked():
        pass


def test_lock_held_by_killed_process_is_released(tmp_path):
    child_code = (
        "import sys\n"
        "from state import LocalStateBackend\n"
        "LocalStateBackend(sys.argv[1], 'dev', 'us-east-1').lock()\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, "-c", child_code, str(tmp_path)], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "locked\n"
        b = LocalStateBackend(tmp_path, "dev", "us-east-1")
        with pytest.raises(LockHeldError, match=f"locked by pid {child.pid} on host "):
            b.lock()
        child.kill()
        child.wait()
        b.lock()
        try:
            assert b.previous_holder is not None
            assert b.previous_holder["pid"] == child.pid
            assert json.loads(b.lock_path.read_text())["pid"] == os.getpid()
        finally:
            b.unlock()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdin.close()
        child.stdout.close()


def test_concurrent_saves_keep_every_resource(backend):
    doc = backend.load()
    barrier = threading.Barrier(8)
    errors = []

    def work(i):
        try:
            barrier.wait()
            doc.set_resource(f"r{i}", id=f"id-{i}")
            backend.save(doc)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    on_disk = json.loads(backend.path.read_text())["resources"]
    assert on_disk == {f"r{i}": {"id": f"id-{i}"} for i in range(8)}
    assert _leftovers(backend.state_dir) == []


def test_default_state_dir_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "explicit"


def test_default_state_dir_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv(STATE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "xdg" / "video-pipeline-infra"


def test_default_state_dir_home(monkeypatch, tmp_path):
    monkeypatch.delenv(STATE_DIR_ENV, raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / ".local" / "state" / "video-pipeline-infra"



# -- a stuck lock whose holder is gone, and --break-lock ------------------------------------------
def _holder_in_file(b):
    return json.loads(b.lock_path.read_text())


def test_a_stuck_lock_of_a_killed_run_is_named_and_broken_only_on_request(tmp_path):
    from tests.support.lock_holder import LockHolder

    with LockHolder(tmp_path, keeper=True) as holder:
        holder.kill()  # SIGKILL; its keeper child still holds the flock
        b = LocalStateBackend(tmp_path, "dev", "us-east-1")
        with pytest.raises(LockHeldError) as refused:
            b.lock()
        assert str(refused.value).endswith(
            f"locked by pid {holder.pid} on host {socket.gethostname()} since "
            f"{refused.value.holder['started_at']}; pid {holder.pid} is no longer running: "
            "rerun with --break-lock to take the lock over")
        assert _holder_in_file(b)["pid"] == holder.pid  # a refusal changes nothing
        b.lock(break_lock="")
        try:
            assert b.broken_holder["pid"] == holder.pid and b.previous_holder is None
            assert _holder_in_file(b)["pid"] == os.getpid()
            # The lock is really ours: another backend is refused while we hold it.
            with pytest.raises(LockHeldError, match=f"locked by pid {os.getpid()} "):
                LocalStateBackend(tmp_path, "dev", "us-east-1").lock(break_lock="")
            b.save(b.load())
        finally:
            b.unlock()
        assert _leftovers(tmp_path) == []
        # Released normally afterwards, although the keeper still holds the old, replaced file.
        with LocalStateBackend(tmp_path, "dev", "us-east-1").locked() as again:
            assert again.previous_holder is None and again.broken_holder is None


def test_break_lock_refuses_a_live_holder_on_this_host(tmp_path):
    from tests.support.lock_holder import LockHolder

    with LockHolder(tmp_path) as holder:
        b = LocalStateBackend(tmp_path, "dev", "us-east-1")
        before = b.lock_path.read_bytes()
        with pytest.raises(LockHeldError) as refused:
            b.lock(break_lock="")
        assert str(refused.value).endswith(
            f"another run is in progress; pid {holder.pid} is alive on this host, so its lock is not broken")
        assert b.lock_path.read_bytes() == before
        with pytest.raises(LockHeldError):  # the same answer for a PID@HOST that names it
            b.lock(break_lock=f"{holder.pid}@{socket.gethostname()}")
        assert not b.is_locked


def test_a_holder_on_another_host_is_broken_only_when_named_exactly(tmp_path):
    from tests.support.lock_holder import LockHolder

    with LockHolder(tmp_path, host="build-7") as holder:
        b = LocalStateBackend(tmp_path, "dev", "us-east-1")
        with pytest.raises(LockHeldError) as plain:
            b.lock()
        assert str(plain.value).endswith("; another run is in progress")
        for word in ("", f"{holder.pid}@build-8", f"{holder.pid + 1}@build-7"):
            with pytest.raises(LockHeldError) as refused:
                b.lock(break_lock=word)
            assert str(refused.value).endswith(
                f"pid {holder.pid} runs on another host and cannot be checked from here: "
                f"if that run is gone, rerun with --break-lock {holder.pid}@build-7")
        assert _holder_in_file(b)["host"] == "build-7"
        b.lock(break_lock=f"{holder.pid}@build-7")
        try:
            assert b.broken_holder["host"] == "build-7"
            assert _holder_in_file(b)["pid"] == os.getpid()
        finally:
            b.unlock()


def test_break_lock_on_a_free_lock_just_locks(tmp_path):
    b = LocalStateBackend(tmp_path, "dev", "us-east-1")
    with b.locked(break_lock=""):
        assert b.broken_holder is None
        assert _holder_in_file(b)["pid"] == os.getpid()
