"""Shared start-up of the bin/ commands: use the project's .venv when it exists, then run."""
import gc
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
VENV = os.path.join(ROOT, ".venv")


def run(command: str) -> None:
    venv_python = os.path.join(VENV, "bin", "python")
    # Re-exec under the project's virtualenv so `bin/reconcile` works straight after the
    # README's install step, whatever python3 is first on PATH.
    if os.path.exists(venv_python) and os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        os.execv(venv_python, [venv_python, sys.argv[0], *sys.argv[1:]])
    sys.path.insert(0, ROOT)
    # No garbage collection until start-up is over (orchestrator.cli.start_up_over freezes what
    # it built and turns the collector back on), then every 10,000 allocations rather than 700.
    # Only when the collector runs changes.
    gc.disable()
    gc.set_threshold(10_000, 10, 10)
    from orchestrator.cli import main

    code = main(command)
    # Skip the interpreter's teardown: freeing a dozen botocore clients' models takes about
    # 0.3 s, a fifth of a drift check, and nothing is left to do: the state is fsynced, the
    # lock dies with the process, the thread pools are done. Only the output needs flushing.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that went away, a closed stream
            pass
    os._exit(code)
