"""``python -m sandbox.serve -H 127.0.0.1 -p PORT``: moto's server with the fidelity layer applied.

The end-to-end tests run this as their moto server subprocess, so the real bin/ commands meet the
same AWS behaviour as ``--sandbox``. It also answers ``POST /fidelity/clock`` and
``POST /fidelity/fail`` (loopback only; ``sandbox/fidelity/control.py``), so a test can drive the
layer's clock in this process.
"""
from __future__ import annotations

import os

from sandbox.fidelity import apply
from sandbox.server import SERVER_ENVIRONMENT


def main() -> None:
    for key, value in SERVER_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    apply()
    from sandbox.fidelity import tagging

    # GetResources as a real account answers it (aws-notes C-TAG-1), in every test using this server.
    tagging.on_by_default()
    import moto.server

    from sandbox.fidelity.control import with_control

    moto.server.DomainDispatcherApplication = with_control(moto.server.DomainDispatcherApplication)
    from moto.server import main as moto_main

    moto_main()


if __name__ == "__main__":
    main()
