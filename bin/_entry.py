"""Shared start-up of the bin/ commands: use the project's .venv when it exists, then run."""
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
    from orchestrator.cli import main

    sys.exit(main(command))
