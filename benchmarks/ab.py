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
    ratios: tuple[float, ...]
    """Every pair's ratio, A's time over B's, in the order taken."""

    @property
    def ratio(self) -> float:
        """Median of the pairs' ratios (> 1: A is slower); each pair is taken back to back,
        so pairing cancels the machine's slow drifts in speed."""
        return statistics.median(self.ratios)

    @property
    def spread(self) -> list[float]:
        """The lowest and highest pair ratio: how far one pair strays on this machine."""
        return [min(self.ratios), max(self.ratios)]


def alternate(a: Callable[[], float | None], b: Callable[[], float | None], repeats: int, warmup: int = 1,
              sync: Callable[[], None] = lambda: None) -> AB:
    """Time ``a`` and ``b`` alternately. A callable that returns a float reports its own
    seconds (leaving its set-up out); otherwise the whole call is timed."""

    def timed(fn: Callable[[], float | None]) -> float:
        start = time.perf_counter()
        took = fn()
        sync()
        return took if isinstance(took, float) else time.perf_counter() - start

    for _ in range(warmup):
        a(), b()
    sync()
    ta, tb = [], []
    for i in range(repeats):
        for fn, out in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
            out.append(timed(fn))
    return AB(statistics.median(ta), statistics.median(tb), tuple(x / y for x, y in zip(ta, tb, strict=True)))
