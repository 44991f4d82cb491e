"""A resource's independent reads made at once instead of one after the other.

A KMS key's rotation, policy and aliases, a load balancer's listeners and attributes, a file
system's lifecycle and backup policy: each is its own call, none needs another's answer, and a
drift check at 30 ms a call waited for them in a row (the key's four reads were the walk's longest
chain). The first runs on the caller's thread, the others on a small shared pool, each in a copy
of the caller's context (the engine's first look and live-tag switches, shared_reads.py).
"""
from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

# Leaf reads only (none of them calls ``together`` again), so a bounded pool cannot deadlock.
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="reads")


def together(*reads: Callable[[], Any]) -> list[Any]:
    """The answers of ``reads`` in their order; the first error raised, once all have ended."""
    futures = [_POOL.submit(contextvars.copy_context().run, read) for read in reads[1:]]
    try:
        first = reads[0]()
    finally:
        for future in futures:
            future.exception()  # every read ended, whatever this thread's own did
    return [first, *(future.result() for future in futures)]
