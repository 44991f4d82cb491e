"""The fidelity layer: small patches that make moto behave as AWS documents it, where the stack's
lifecycle needs it. Used only by the tests and ``--sandbox``; the orchestrator never knows.

Each patch lives in a module named after its service, says which AWS behaviour it reproduces and
where that is documented, and has a test in tests/fidelity/. ``apply()`` is idempotent.
"""
from __future__ import annotations

import importlib
import pkgutil

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    for module in pkgutil.iter_modules(__path__):
        patch = getattr(importlib.import_module(f"{__name__}.{module.name}"), "apply", None)
        if patch is not None:  # clock.py and control.py are the layer's own machinery
            patch()
    _applied = True
