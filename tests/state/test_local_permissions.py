"""Local state another user could change is refused, one line, nothing touched: a state directory
or file writable by group or others, or owned by another user; a symlinked lock file (checked
first, and opened with O_NOFOLLOW / O_EXCL so a link planted after the check is refused too)."""
from __future__ import annotations

import os
import stat

import pytest

from state import LocalStateBackend, StateDocument, StateError


def backend(directory) -> LocalStateBackend:
    return LocalStateBackend(directory, "dev", "us-east-1", account="123456789012")


def listing(directory) -> dict:
    return {p.name: (stat.S_IMODE(p.lstat().st_mode), p.lstat().st_size) for p in directory.iterdir()}


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702], ids=oct)
def test_a_state_directory_writable_by_others_is_refused_and_left_alone(tmp_path, mode):
    directory = tmp_path / "state"
    directory.mkdir()
    directory.chmod(mode)
    b = backend(directory)
    for action in (b.lock, b.load, lambda: b.update_drift_record(lambda prev: ({}, None))):
        with pytest.raises(StateError) as refused:
            action()
        assert str(refused.value) == (f"state directory {directory} is writable by others "
                                      f"(mode {mode:04o}); chmod 700 {directory}")
    assert listing(directory) == {} and stat.S_IMODE(directory.stat().st_mode) == mode


@pytest.mark.parametrize("name, kind", [("dev.us-east-1.lock", "state lock file"),
                                        ("dev.us-east-1.json", "state file"),
                                        ("dev.us-east-1.drift.lock", "state lock file")])
def test_a_lock_or_state_file_writable_by_others_is_refused(tmp_path, name, kind):
    directory = tmp_path / "state"
    with backend(directory).locked() as b:
        b.save(StateDocument.new("dev", "us-east-1", account="123456789012"))
    b.update_drift_record(lambda prev: ({}, None))
    (directory / name).chmod(0o666)
    before = listing(directory)
    with pytest.raises(StateError, match=f"^{kind} {directory / name} is writable by others "
                                         fr"\(mode 0666\); chmod 600 {directory / name}$"):
        backend(directory).lock()
    assert listing(directory) == before


def test_a_state_directory_of_another_user_is_refused(tmp_path, monkeypatch):
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    mine = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: mine + 1)
    with pytest.raises(StateError, match=f"^state directory {directory} is owned by another user "
                                         fr"\(uid {mine}\); chown"):
        backend(directory).lock()
    assert listing(directory) == {}


def test_a_symlinked_lock_file_is_refused_and_its_target_left_alone(tmp_path):
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    target.write_bytes(b"precious")
    (directory / "dev.us-east-1.lock").symlink_to(target)
    for action in (backend(directory).lock, backend(directory).read_lock_holder):
        with pytest.raises(StateError, match="state lock file .* is a symbolic link; remove it"):
            action()
    assert target.read_bytes() == b"precious"


@pytest.mark.parametrize("dangling", [False, True])
def test_a_lock_file_linked_after_the_check_is_not_followed(tmp_path, monkeypatch, dangling):
    # The link appears between the check and the open: O_EXCL (create) and O_NOFOLLOW refuse it.
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    if not dangling:
        target.write_bytes(b"precious")
    b = backend(directory)
    monkeypatch.setattr(b, "check_private", lambda: (directory / "dev.us-east-1.lock").symlink_to(target))
    with pytest.raises(StateError, match="is a symbolic link"):
        b.lock()
    assert target.read_bytes() == b"precious" if not dangling else not target.exists()


def test_new_directory_and_files_are_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        with backend(tmp_path / "new" / "state").locked() as b:
            doc = StateDocument.new("dev", "us-east-1", account="123456789012")
            b.save(doc)
            doc.set_resource("vpc", id="vpc-1")
            b.save(doc)  # the second save keeps the first as .bak
        b.update_drift_record(lambda prev: ({}, None))
    finally:
        os.umask(old)
    assert stat.S_IMODE(b.state_dir.stat().st_mode) == 0o700
    assert {name: mode for name, (mode, _) in listing(b.state_dir).items()} == {
        name: 0o600 for name in ("dev.us-east-1.json", "dev.us-east-1.json.bak", "dev.us-east-1.lock",
                                 "dev.us-east-1.drift.json", "dev.us-east-1.drift.lock")}
