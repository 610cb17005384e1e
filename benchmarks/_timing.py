"""Best-of-k wall-clock timing shared by the benchmark scripts."""

from __future__ import annotations

import math
import time


def best_time(fn, repeats: int = 3, budget: float = 5.0):
    """Run ``fn`` up to ``repeats`` times (fewer once ``budget`` seconds are spent); return its
    last result and the best time."""
    out, best, spent = None, math.inf, 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
        if spent > budget:
            break
    return out, best
