"""Alternating A/B timing with warm-up; medians of each side."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class AB:
    a_s: float
    b_s: float

    @property
    def ratio(self) -> float:
        """Median time of A over median time of B (> 1: A is slower)."""
        return self.a_s / self.b_s


def alternate(a: Callable[[], object], b: Callable[[], object], repeats: int, warmup: int = 1,
              sync: Callable[[], None] = lambda: None) -> AB:
    for _ in range(warmup):
        a(), b()
    sync()
    ta, tb = [], []
    for i in range(repeats):
        for fn, out in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
            start = time.perf_counter()
            fn()
            sync()
            out.append(time.perf_counter() - start)
    return AB(statistics.median(ta), statistics.median(tb))
