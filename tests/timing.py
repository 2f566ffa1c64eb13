"""Time bounds that survive a loaded CI machine: growth between two sizes, not tight timings.

Linear work grows 4x from a size to 4 times it; quadratic work grows 16x. `assert_linear` allows up
to 10x (plus a floor for inputs too fast to time), and an absolute bound far above the linear time
but far below what the quadratic code took, so a regression fails however fast the machine is.
"""

from __future__ import annotations

import gc
import time
from typing import Callable


def best_seconds(run: Callable[[], object], repeat: int = 2) -> float:
    """Best of `repeat` runs with the garbage collector off, as timeit does: late in a long test
    session a collection walks the whole suite's heap, which would be charged to the parse."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times)


def assert_linear(parse: Callable[[str], object], make: Callable[[int], str], small_bytes: int = 20_000,
                  factor: int = 4, limit_s: float = 5.0, min_small_s: float = 0.05) -> None:
    """`parse(make(n))` grows linearly in n from `small_bytes` to `factor` times as many. The small
    size is doubled until it takes `min_small_s`: a ratio of two times of a few milliseconds is
    mostly scheduler noise on a loaded machine."""
    once = best_seconds(lambda: parse(make(small_bytes * factor)), repeat=1)  # a quadratic parse fails here, fast
    assert once < limit_s, f"{small_bytes * factor} bytes' worth took {once:.2f} s (limit {limit_s} s)"
    small = best_seconds(lambda: parse(make(small_bytes)), repeat=3)
    while small < min_small_s and small_bytes * factor * 2 <= 2_000_000 and once * 2 < limit_s:
        small_bytes *= 2
        small = best_seconds(lambda: parse(make(small_bytes)), repeat=3)
        once = best_seconds(lambda: parse(make(small_bytes * factor)), repeat=1)
    large_text = make(small_bytes * factor)
    large = min(once, best_seconds(lambda: parse(large_text), repeat=3))
    ratio = large / max(small, 0.01)
    assert ratio < 2.5 * factor, f"{factor}x the input took {ratio:.1f}x the time ({small:.3f} s -> {large:.3f} s)"
