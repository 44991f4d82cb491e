"""The real bin/ commands, started by forking a warm interpreter instead of a new one.

A bin/ command spends about 0.6 s of CPU before its first AWS call: the interpreter, the
orchestrator's and botocore's imports, and parsing botocore's JSON service models for its dozen
clients. The end-to-end and fault layers start about a thousand commands. This server (one per
pytest process, started on first use) imports all of that once, with botocore's parsed models
and client classes shared by every session (tests/support/botocore_cache.py); for each
command it forks, and the child runs the very bin/ script (runpy, as ``python bin/CMD``) with the
command's argv, environment, working directory and stdin/stdout/stderr. Only the start-up is
shared: everything a command does happens in its own process, which a test can SIGKILL by pid.

A command whose environment sets PYTHON* variables (they act at interpreter start) runs as a
plain subprocess instead (``needs_own_interpreter``).
"""
from __future__ import annotations

import atexit
import gc
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The modules every command imports, and the services whose models its clients parse.
PRELOAD = ("orchestrator.cli", "orchestrator.run", "orchestrator.drift", "orchestrator.report", "orchestrator.config",
           "orchestrator.state_cli", "orchestrator.progress", "orchestrator.notify", "orchestrator.drift_rules", "state")


def needs_own_interpreter(env: dict[str, str]) -> bool:
    return any(key.startswith("PYTHON") for key in env)


# -- the server side ---------------------------------------------------------------------------
def _preload() -> None:
    import importlib

    from tests.support import botocore_cache

    botocore_cache.install()
    for name in PRELOAD:
        importlib.import_module(name)
    from orchestrator.cli import STACK_SERVICES
    from resources.aws import Aws

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "preload")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "preload")
    aws = Aws("us-east-1")
    for service in (*STACK_SERVICES, "s3"):
        client = aws.client(service)
        botocore_cache.build_shapes(client.meta.service_model)
        botocore_cache.name_events(client)


def _run_command(request: dict, fds: list[int]) -> None:
    """In the forked child: become the bin/ command, then exit as its interpreter would."""
    import runpy
    import traceback

    # (The random module reseeds itself in a forked child: each command has its own stream.)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    code = 0
    try:
        runpy.run_path(request["argv"][0], run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass
    os._exit(code)


def _serve_one(conn: socket.socket) -> None:
    """In a forked manager: fork the command, send its pid, wait for it, send its wait status."""
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    request = json.loads(message)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run_command(request, fds)
    for fd in fds:
        os.close(fd)
    conn.sendall(struct.pack("!q", pid))
    _, status = os.waitpid(pid, 0)
    conn.sendall(struct.pack("!q", status))
    os._exit(0)


def serve(path: str) -> None:
    _preload()
    # The commands forked from here collect garbage every 10,000 allocations rather than 700 (as
    # the tests' moto server does, sandbox/serve.py): a twentieth of a command's CPU. What a
    # command does is the same; only when its collector runs changes.
    gc.set_threshold(10_000, 10, 10)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # managers are reaped by the kernel
    print("ready", flush=True)
    while True:
        # stdin is a pipe from the test process: its end (EOF) means the tests are over, however
        # that process ended, and the server goes with it.
        readable, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in readable:
            return
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the manager waits for its command
            _serve_one(conn)
        conn.close()


# -- the test side -----------------------------------------------------------------------------
class Command:
    """A started command, with the parts of subprocess.Popen the tests use: pid, communicate(),
    returncode (negative: killed by that signal)."""

    def __init__(self, conn: socket.socket, stdout: int, stderr: int):
        self._conn = conn
        self.pid = struct.unpack("!q", self._recv(8))[0]
        self.returncode: int | None = None
        self._out: list[str] = []
        self._readers = [self._reader(stdout), self._reader(stderr)]

    def _recv(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._conn.recv(n - len(data))
            if not chunk:
                raise RuntimeError("the command server went away")
            data += chunk
        return data

    def _reader(self, fd: int) -> tuple[threading.Thread, list[str]]:
        sink: list[str] = []

        def read() -> None:
            with open(fd, encoding="utf-8", errors="replace") as f:
                sink.append(f.read())

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        return thread, sink

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:  # already gone
            pass

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self._conn.settimeout(timeout)
        try:
            status = struct.unpack("!q", self._recv(8))[0]
        except socket.timeout:
            self.kill()
            raise subprocess.TimeoutExpired("bin command", timeout) from None
        self._conn.close()
        self.returncode = os.waitstatus_to_exitcode(status)
        outputs = []
        for thread, sink in self._readers:
            thread.join()
            outputs.append("".join(sink))
        return outputs[0], outputs[1]


class CommandServer:
    def __init__(self):
        self._dir = tempfile.mkdtemp(prefix="bin-commands-")
        self.path = os.path.join(self._dir, "socket")
        self.proc = subprocess.Popen(
            # sys.path[0] is the project, not -c's "" (the working directory, which changes per command).
            [sys.executable, "-c", f"import sys; sys.path[0] = {str(ROOT)!r}; "
                                   f"from tests.support.command_server import serve; serve({self.path!r})"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the command server did not start")

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> Command:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.path)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            request = json.dumps({"argv": argv, "env": env, "cwd": str(cwd)}).encode()
            socket.send_fds(conn, [request], [devnull, out_w, err_w])
        finally:
            for fd in (devnull, out_w, err_w):
                os.close(fd)
        return Command(conn, out_r, err_r)

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)  # its socket's directory


_server: CommandServer | None = None


def start(argv: list[str], env: dict[str, str], cwd: Path):
    """A bin/ command (argv as ``command_line`` builds it) forked from the warm server, or a plain
    subprocess when it needs an interpreter of its own."""
    global _server
    if needs_own_interpreter(env):
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=cwd)
    if _server is None:
        _server = CommandServer()
        atexit.register(_server.stop)
    return _server.start(argv[1:], env, cwd)
