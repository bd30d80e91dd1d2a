"""Is a row's error different from its reference row's beyond seed noise, by how much, and how
many seeds would tell?

- Each row against its reference: the difference in mean top-1 error with a 95% confidence
  interval and a two-sided p-value, by Welch's unequal-variance t-test (Welch-Satterthwaite
  degrees of freedom) or, with ``paired``, by a paired t-test on the per-seed differences
  (seed s of two configurations shares its data order and augmentation), used only when both
  rows finished the same seeds.
- Within a table the p-values are adjusted for the number of comparisons (Holm); the marks
  use the adjusted values.
- Seed planning: from the per-seed standard deviation pooled over a table's rows, the seeds
  per row that a two-sided two-sample t-test needs to detect a gap with the given power at
  the table's most stringent Holm level (alpha / comparisons), and the smallest gap the
  seeds at hand can resolve (statsmodels' power solver).

With fewer than two seeds on either side there is no estimate of the noise, and the row is
reported as untested rather than guessed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Literal

from scipy import stats

from ablations.experiment.comparison import Comparison

ALPHA = 0.05
CONFIDENCE = 0.95
Method = Literal["welch", "paired", "sequential"]
METHODS: tuple[Method, ...] = ("welch", "paired")  # what --stats offers; sequential is --seeds auto's
DEFAULT_METHOD: Method = "welch"
TEST_NAMES = {
    "welch": "Welch's t-test on per-seed top-1 error",
    "paired": "paired t-test on per-seed differences (Welch's where the seeds differ)",
    "sequential": "anytime-valid paired t-test on per-seed differences, valid however often the seeds were looked at "
                  "(--seeds auto)",
}
INTERVALS = {"welch": "confidence interval (Welch-Satterthwaite)", "paired": "confidence interval (paired t)",
             "sequential": "anytime-valid confidence sequence"}


def test_name(method: Method) -> str:
    return f"{TEST_NAMES[method]}, two-sided, Holm-adjusted within the table, p < {ALPHA}"


def _mean(v: Sequence[float]) -> float:
    return sum(v) / len(v)


def _var(v: Sequence[float]) -> float:
    m = _mean(v)
    return sum((x - m) ** 2 for x in v) / (len(v) - 1)


def std(v: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0 for a single value."""
    return math.sqrt(_var(v)) if len(v) > 1 else 0.0


def _point(diff: float, method: Method) -> Comparison:
    """No spread on either side (identical values): the interval is the difference itself."""
    return Comparison(diff, diff, diff, 1.0 if diff == 0 else 0.0, method)


def _comparison(test, diff: float, method: Method) -> Comparison:
    """``test()``: scipy's t-test. A side whose seeds all gave the same error makes scipy warn
    of precision loss; its variance is exactly 0 and the interval is right, so it is not said."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Precision loss occurred in moment calculation", RuntimeWarning)
        result = test()
        ci = result.confidence_interval(CONFIDENCE)
    return Comparison(diff, float(ci.low), float(ci.high), float(result.pvalue), method)


def welch(a: Sequence[float], b: Sequence[float]) -> Comparison | None:
    """mean(a) - mean(b) with Welch-Satterthwaite's interval (scipy's unequal-variance t-test);
    None below two values a side."""
    if len(a) < 2 or len(b) < 2:
        return None
    diff = _mean(a) - _mean(b)
    if _var(a) == 0 and _var(b) == 0:
        return _point(diff, "welch")
    return _comparison(lambda: stats.ttest_ind(a, b, equal_var=False), diff, "welch")


def paired(a: dict[int, float], b: dict[int, float]) -> Comparison | None:
    """Mean of the per-seed differences a[s] - b[s] over the seeds both have (scipy's paired
    t-test)."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return None
    d = [a[s] - b[s] for s in seeds]
    if _var(d) == 0:
        return _point(_mean(d), "paired")
    return _comparison(lambda: stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]), _mean(d), "paired")


def compare(a: dict[int, float], b: dict[int, float], method: Method) -> Comparison | None:
    """Row ``a`` against reference ``b`` (seed -> top-1 error). ``paired`` only where both
    finished the same seeds; Welch's otherwise."""
    if method == "paired" and set(a) == set(b):
        return paired(a, b)
    return welch(list(a.values()), list(b.values()))


def pooled_std(groups: Sequence[Sequence[float]]) -> tuple[float, int] | None:
    """The per-seed standard deviation pooled over groups of two or more values, with its
    degrees of freedom; None when no group has two values."""
    usable = [g for g in groups if len(g) > 1]
    dof = sum(len(g) - 1 for g in usable)
    if not dof:
        return None
    return math.sqrt(sum(_var(g) * (len(g) - 1) for g in usable) / dof), dof


def seeds_needed(gap: float, sd: float, alpha: float, power: float) -> int | None:
    """Seeds per row for a two-sided two-sample t-test to detect ``gap`` points with
    ``power`` at ``alpha``, given per-seed standard deviation ``sd``; None for no gap."""
    from statsmodels.stats.power import TTestIndPower  # slow to import (0.9 s): only for seed planning

    if gap == 0 or sd <= 0:
        return None if gap == 0 else 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = TTestIndPower().solve_power(effect_size=abs(gap) / sd, alpha=alpha, power=power, ratio=1.0,
                                        alternative="two-sided")
    return max(2, math.ceil(float(n) - 1e-9))


def resolvable_gap(seeds: int, sd: float, alpha: float, power: float) -> float | None:
    """The smallest gap (points) that ``seeds`` per row detect with ``power`` at ``alpha``."""
    from statsmodels.stats.power import TTestIndPower  # slow to import (0.9 s): only for seed planning

    if seeds < 2 or sd <= 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        effect = TTestIndPower().solve_power(nobs1=seeds, alpha=alpha, power=power, ratio=1.0,
                                             alternative="two-sided")
    return float(effect) * sd
