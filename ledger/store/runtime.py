"""Process-wide tuning of the Python runtime for doudi's workloads.

Catch-up, imports and roll generation allocate millions of short-lived dicts and tuples and
create no reference cycles; with CPython's default thresholds (700, 10, 10) the cyclic garbage
collector then runs thousands of times a second and repeatedly walks everything long-lived.
The thresholds below make it run far less often; objects alive at start-up (modules, classes)
are frozen out of its walks. Cycles are still collected.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

THRESHOLDS = (100_000, 50, 1_000)
_tuned = False


def tune_gc() -> None:
    global _tuned
    if _tuned:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    _tuned = True


_pauses = 0  # how many ``gc_paused`` blocks are running, in any thread
_resume = False  # whether the collector was on when the first of them began
_pause_lock = threading.Lock()


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off while the block runs (in any thread: it is process-wide), on
    again after the last such block ends if it was on before the first began.

    For a roll's generation: hundreds of thousands of lines, components and rows live a few
    chunks each and form no cycles, yet even with ``THRESHOLDS`` the collector would walk those
    still alive every 100,000 allocations, missing the cache. Cycles a block makes are
    collected after it."""
    global _pauses, _resume
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()


def worker_pool(
    workers: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> ProcessPoolExecutor:
    """Worker processes for CPU-bound work (import, sharded rebuild). Spawned, not forked: a
    fork would copy open connections and the pool's threads. The executor (unlike
    ``multiprocessing.Pool``) fails instead of hanging when a process dies."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer,
        initargs=initargs,
    )
