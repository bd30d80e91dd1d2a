"""Is a row's error different from its reference row's beyond seed noise?

Welch's unequal-variance t-test on the per-seed top-1 errors, two-sided, at ``ALPHA``.
With fewer than two seeds on either side there is no estimate of the noise, and the
row is reported as untested rather than guessed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

from scipy import stats

ALPHA = 0.05
TEST_NAME = f"Welch's t-test on per-seed top-1 error, two-sided, p < {ALPHA}"


def welch_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value, or ``None`` when either side has fewer than two values."""
    if len(a) < 2 or len(b) < 2:
        return None
    if _var(a) == 0 and _var(b) == 0:
        return 1.0 if _mean(a) == _mean(b) else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # near-identical samples
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def _mean(v: Sequence[float]) -> float:
    return sum(v) / len(v)


def _var(v: Sequence[float]) -> float:
    m = _mean(v)
    return sum((x - m) ** 2 for x in v) / (len(v) - 1)


def std(v: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0 for a single value."""
    return math.sqrt(_var(v)) if len(v) > 1 else 0.0
