"""Where a command's wall time went, from its own JSON log lines.

Every per-resource event (resource_created, _unchanged, _planned, _deleted) carries its end time
and ``duration_s``, so the walk runs from the first resource's start to the last one's end; the
rest is before the walk (interpreter start-up, imports, clients, credentials check, AZ lookup)
and after it (outputs, state, the report).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

RESOURCE_EVENTS = {"resource_created", "resource_updated", "resource_unchanged", "resource_planned", "resource_deleted"}


@dataclass
class Timeline:
    before_walk_s: float
    walk_s: float
    after_walk_s: float
    spans: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)  # (kind, name) -> start, end


def timeline(stderr: str, launched: float, exited: float) -> Timeline | None:
    """``launched`` and ``exited`` are epoch seconds around the command; None without resource events."""
    spans: dict[tuple[str, str], tuple[float, float]] = {}
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("event") not in RESOURCE_EVENTS or "duration_s" not in event:
            continue
        end = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
        start = end - float(event["duration_s"])
        key = (event.get("kind", "?"), event.get("name", "?"))
        old = spans.get(key)
        spans[key] = (min(start, old[0]), max(end, old[1])) if old else (start, end)
    if not spans:
        return None
    first = min(s for s, _ in spans.values())
    last = max(e for _, e in spans.values())
    return Timeline(first - launched, last - first, exited - last, spans)
