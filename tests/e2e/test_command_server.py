"""The warm interpreter the e2e and fault layers fork the bin/ commands from
(tests/support/command_server.py) gives each command what a new interpreter would: exactly its
own environment, working directory, arguments and pipes, a process of its own (its pid, killable),
its own random stream, and the exit status of `python SCRIPT` (SystemExit, an uncaught exception).
Checked with a small script in place of a bin/ command, and with a real one."""
from __future__ import annotations

import json
import signal
import sys

from tests.support import command_server
from tests.support.commands import command_line

SCRIPT = '''
import json, os, random, sys
what = sys.argv[1]
if what == "show":
    print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv, "pid": os.getpid(),
                      "random": random.random(), "stdin": sys.stdin.read()}))
    print("to stderr", file=sys.stderr)
    sys.exit(3)
if what == "die":
    os.kill(os.getpid(), 9)
if what == "message":
    sys.exit("a message")
raise RuntimeError("boom")
'''


def _script(tmp_path):
    path = tmp_path / "script.py"
    path.write_text(SCRIPT)
    return str(path)


def test_a_command_gets_exactly_its_environment_directory_arguments_and_pipes(tmp_path):
    script = _script(tmp_path)
    env = {"PATH": "/usr/bin", "ONLY_THIS": "1"}
    proc = command_server.start([sys.executable, script, "show", "x y"], env, tmp_path)
    out, err = proc.communicate(timeout=60)
    shown = json.loads(out)
    assert proc.returncode == 3
    assert shown["env"] == env  # nothing of the test process's or the server's environment
    assert shown["cwd"] == str(tmp_path)
    assert shown["argv"] == [script, "show", "x y"]
    assert shown["pid"] == proc.pid
    assert shown["stdin"] == ""
    assert err == "to stderr\n"

    again = command_server.start([sys.executable, script, "show"], env, tmp_path)
    assert json.loads(again.communicate(timeout=60)[0])["random"] != shown["random"]


def test_a_killed_command_and_a_failing_one_end_as_their_interpreter_would(tmp_path):
    script = _script(tmp_path)
    killed = command_server.start([sys.executable, script, "die"], {}, tmp_path)
    killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL

    message = command_server.start([sys.executable, script, "message"], {}, tmp_path)
    assert message.communicate(timeout=60)[1] == "a message\n" and message.returncode == 1

    raised = command_server.start([sys.executable, script, "raise"], {}, tmp_path)
    _, err = raised.communicate(timeout=60)
    assert raised.returncode == 1 and "Traceback" in err and "RuntimeError: boom" in err


def test_a_real_bin_command_runs_from_the_server(tmp_path):
    proc = command_server.start(command_line("reconcile", "--env", "Bad_Name"), {"PATH": "/usr/bin"}, tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out == ""
    assert err.startswith("error: invalid environment name 'Bad_Name'") and "Traceback" not in err
