"""A live view of a walk on a terminal: every resource waiting, in progress, done or failed.

``WalkProgress`` is the walk's observer (orchestrator.executor.WalkObserver) and only records
events with the time they happened; ``render`` turns that record into lines, a pure function of
the record and the time now. ``LiveView`` redraws those lines in place on stderr a few times a
second (ANSI cursor movement, no extra dependency). While it runs, the per-resource log lines are
left out (the view shows the same thing) and warnings and errors print above the view.

When stderr is not a terminal, or logs are asked for as JSON, there is no view and the log lines
are exactly what they are without it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TextIO

import structlog

from orchestrator.executor import Outcome

WAITING, ACTIVE, DONE, FAILED, SKIPPED = "waiting", "active", "done", "failed", "skipped"


@dataclass(frozen=True)
class Words:
    """How a command names its states: a reconcile creates, a teardown deletes."""

    title: str
    active: str
    done: str


@dataclass
class WalkProgress:
    """Thread-safe record of a walk's events, each with the time it arrived."""

    clock: Callable[[], float] = time.monotonic
    names: dict[str, str] = field(default_factory=dict)
    began: float | None = None
    started: dict[str, float] = field(default_factory=dict)
    ended: dict[str, tuple[float, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin(self, names: Mapping[str, str]) -> None:
        # An apply walks twice (the plan, then the changes): each walk starts from zero.
        with self._lock:
            self.names = dict(names)
            self.started.clear()
            self.ended.clear()
            self.began = self.clock()

    def __call__(self, key: str, event: str, outcome: Outcome | None) -> None:
        with self._lock:
            now = self.clock()
            self.names.setdefault(key, key)
            if event == "start":
                self.started[key] = now
            elif event == "end" and outcome is not None:
                self.ended[key] = (now, outcome.status)

    def state(self, key: str) -> str:
        if key in self.ended:
            status = self.ended[key][1]
            return DONE if status == "ok" else FAILED if status == "failed" else SKIPPED
        return ACTIVE if key in self.started else WAITING

    def snapshot(self) -> "WalkProgress":
        with self._lock:
            return WalkProgress(self.clock, dict(self.names), self.began, dict(self.started), dict(self.ended))


def elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def render(progress: WalkProgress, now: float, words: Words, *, width: int = 100, max_active: int = 20) -> list[str]:
    """The view's lines: one of counts, then one per resource in progress, longest first."""
    states = {key: progress.state(key) for key in progress.names}
    count = {s: sum(1 for v in states.values() if v == s) for s in (WAITING, ACTIVE, DONE, FAILED, SKIPPED)}
    parts = [f"{count[DONE]} {words.done}", f"{count[ACTIVE]} {words.active}", f"{count[WAITING]} waiting",
             f"{count[FAILED]} failed"]
    if count[SKIPPED]:
        parts.append(f"{count[SKIPPED]} skipped")
    if progress.began is None:  # still reading state and choosing AZs: the walk has not begun
        return [f"{words.title}: starting"]
    lines = [f"{words.title}: {', '.join(parts)}  [{elapsed(now - progress.began)}]"]
    active = sorted((k for k, s in states.items() if s == ACTIVE), key=lambda k: (progress.started[k], k))
    key_width = max((len(k) for k in active), default=0)
    for key in active[:max_active]:
        lines.append(f"  {words.active} {key.ljust(key_width)}  {progress.names[key]}  {elapsed(now - progress.started[key])}")
    if len(active) > max_active:
        lines.append(f"  … and {len(active) - max_active} more")
    for key in sorted(k for k, s in states.items() if s == FAILED):
        lines.append(f"  failed {key}  {progress.names[key]}")
    # A line wider than the terminal wraps, and the redraw would then move up too few lines.
    return [line if len(line) < width else line[: max(width - 2, 1)] + "…" for line in lines]


class LiveView:
    """Redraws ``render`` in place on ``stream``; log lines written through it go above the view."""

    def __init__(self, progress: WalkProgress, stream: TextIO, words: Words, *, interval: float = 0.25,
                 size: Callable[[], os.terminal_size] = shutil.get_terminal_size):
        self.progress = progress
        self.stream = stream
        self.words = words
        self.interval = interval
        self._size = size
        self._drawn = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending = ""

    def draw(self) -> None:
        with self._lock:
            self._erase()
            self._paint()
            self.stream.flush()

    def write(self, text: str) -> int:
        """A file for the log: whole lines are printed above the view, which is drawn again below."""
        with self._lock:
            self._pending += text
            if "\n" in self._pending:
                done, self._pending = self._pending.rsplit("\n", 1)
                self._erase()
                self.stream.write(done + "\n")
                self._paint()
                self.stream.flush()
        return len(text)

    def flush(self) -> None:
        pass

    def start(self) -> None:
        self.draw()
        self._thread = threading.Thread(target=self._loop, name="progress-view", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.draw()  # the final state stays on the screen

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.draw()

    def _erase(self) -> None:
        if self._drawn:
            # Up to the view's first line, then clear from there to the end of the screen.
            self.stream.write(f"\x1b[{self._drawn}A\r\x1b[J")
            self._drawn = 0

    def _paint(self) -> None:
        size = self._size()
        lines = render(self.progress.snapshot(), self.progress.clock(), self.words, width=size.columns,
                       max_active=max(size.lines - 4, 3))
        self.stream.write("".join(line + "\n" for line in lines))
        self._drawn = len(lines)


def wanted(stream: TextIO, log_format: str) -> bool:
    """A live view only on a real terminal and with readable logs (JSON logs are for machines)."""
    return log_format == "console" and stream.isatty() and os.environ.get("TERM") != "dumb"


@contextlib.contextmanager
def live_progress(stream: TextIO, words: Words, *, enabled: bool) -> Iterator[WalkProgress | None]:
    """The observer to pass to the walk (None when there is no view) and the view around it."""
    if not enabled:
        yield None
        return
    progress = WalkProgress()
    view = LiveView(progress, stream, words)
    saved = structlog.get_config()
    # The view shows what the per-resource info lines say; warnings and errors still print,
    # above the view rather than through it.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=view),
    )
    view.start()
    try:
        yield progress
    finally:
        view.stop()
        structlog.configure(wrapper_class=saved["wrapper_class"], logger_factory=saved["logger_factory"])
