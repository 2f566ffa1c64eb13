"""Time bounds that survive a loaded CI machine: growth between two sizes, not tight timings.

Linear work grows 4x from a size to 4 times it; quadratic work grows 16x. `assert_linear` allows up
to 10x (plus a floor for inputs too fast to time), and an absolute bound far above the linear time
but far below what the quadratic code took, so a regression fails however fast the machine is.
"""

from __future__ import annotations

import time
from typing import Callable


def best_seconds(run: Callable[[], object], repeat: int = 2) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def assert_linear(parse: Callable[[str], object], make: Callable[[int], str], small_bytes: int = 20_000,
                  factor: int = 4, limit_s: float = 5.0) -> None:
    """`parse(make(n))` grows linearly in n from `small_bytes` to `factor` times as many."""
    small_text, large_text = make(small_bytes), make(small_bytes * factor)
    once = best_seconds(lambda: parse(large_text), repeat=1)  # a quadratic parse fails here, fast
    assert once < limit_s, f"{len(large_text)} characters took {once:.2f} s (limit {limit_s} s)"
    small = best_seconds(lambda: parse(small_text))
    large = min(once, best_seconds(lambda: parse(large_text)))
    ratio = large / max(small, 0.01)
    assert ratio < 2.5 * factor, f"{factor}x the input took {ratio:.1f}x the time ({small:.3f} s -> {large:.3f} s)"
