"""Shared by the benchmark scripts: run a call once under tracemalloc and a wall clock."""

from __future__ import annotations

import time
import tracemalloc


def traced(fn):
    """(result, wall seconds, peak bytes allocated by Python and numpy during the call)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak
