"""An in-memory state for reconciler tests: the real StateDocument, with saves counted."""
from __future__ import annotations

from state import StateDocument


class MemoryState:
    def __init__(self, env: str = "dev", region: str = "us-east-1"):
        self.doc = StateDocument.new(env, region)
        self.saves: list[str] = []

    def save(self) -> bool:
        text = self.doc.to_json()
        if self.saves and self.saves[-1] == text:
            return False
        self.saves.append(text)
        return True

    def lose(self) -> None:
        """The state file is gone: a new, empty document."""
        self.doc = StateDocument.new(self.doc.env, self.doc.region)
