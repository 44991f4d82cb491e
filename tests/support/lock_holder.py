"""A real process holding an environment's state lock, for lock tests (state and end-to-end).

``keeper=True`` makes the holder start a child that inherits the locked descriptor (as a helper
process of a run would): after the holder is SIGKILLed, the flock stays held by the keeper while
the recorded holder pid is dead, the stuck lock ``--break-lock`` exists for. ``host`` records
another host name in the holder info, as a run on another machine sharing the directory would.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import json, os, subprocess, sys
from state import LocalStateBackend
state_dir, env, region, keeper, host = sys.argv[1:6]
b = LocalStateBackend(state_dir, env, region)
b.lock()
fd = b._lock_fd
if host:
    info = json.loads(os.pread(fd, 65536, 0))
    info["host"] = host
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
kept = 0
if keeper == "1":
    # Blocks until killed; holds the same open file description, hence the flock.
    kept = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"], pass_fds=[fd],
                            stdin=subprocess.DEVNULL).pid
print("locked", kept, flush=True)
sys.stdin.read()
"""


class LockHolder:
    def __init__(self, state_dir: Path, env: str = "dev", region: str = "us-east-1", *,
                 keeper: bool = False, host: str = ""):
        env_vars = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(state_dir), env, region, "1" if keeper else "0", host],
            env=env_vars, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline().split()
        assert line[:1] == ["locked"], f"the lock holder did not start: {line}"
        self.pid = self.proc.pid
        self.keeper_pid = int(line[1]) or None

    def kill(self) -> None:
        """SIGKILL, as a run killed by the OOM killer or `kill -9`; the pid is reaped."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        if self.keeper_pid:
            try:
                os.kill(self.keeper_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.stdin.close()
        self.proc.stdout.close()

    def __enter__(self) -> "LockHolder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
