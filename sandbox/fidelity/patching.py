"""Installing a fidelity patch over a moto method once (the layer is applied by every server
start and test session; a second wrap would run the behaviour twice)."""
from __future__ import annotations

from typing import Any, Callable


def patch_once(cls: Any, name: str, build: Callable[[Callable], Callable], marker: str) -> None:
    """Replace ``cls.name`` by ``build(original)`` unless a patch carrying ``marker`` is there
    already. Each module passes its own marker: two modules may wrap the same method."""
    original = getattr(cls, name)
    if getattr(original, marker, False):
        return
    patched = build(original)
    setattr(patched, marker, True)
    setattr(cls, name, patched)
