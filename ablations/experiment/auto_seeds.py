"""Adding seeds until each comparison is decided (``--seeds auto``), with an error rate that
holds however often the results are looked at.

Looking after every seed with an ordinary t-test and stopping at p < 0.05 declares a
difference that is not there far more often than 5% (about 24% of comparisons with looks
from 3 to 30 seeds; ``python -m report sequential --simulate``). The test here stays valid:

- A row is compared with its reference row on the paired differences d_s = err_row(s) -
  err_ref(s) of the seeds both finished, in seed order (seed s fixes the same initialisation,
  data order and augmentation for both).
- Evidence against "no difference" is the Bayes factor of the one-sample t-test with a
  normal prior N(0, g) on the standardised effect E[d] / sigma and the right-Haar prior
  1/sigma on the unknown scale (Rouder, Speckman, Sun, Morey & Iverson, "Bayesian t tests
  for accepting and rejecting the null hypothesis", Psychonomic Bulletin & Review 2009,
  eq. 1 with a normal prior; the mixture of Lai, "On confidence sequences", Annals of
  Statistics 1976):
  BF_n = (1 + n g)^(-1/2) [(1 + t^2 / v) / (1 + t^2 / (v (1 + n g)))]^((v + 1) / 2), v = n - 1.
  With the right-Haar prior it is a test martingale under the null for the scale-invariant
  filtration (Perez-Ortiz, Lardy, de Heide & Grunwald, "E-statistics, group invariance and
  anytime-valid testing", Annals of Statistics 2024; Grunwald, de Heide & Koolen, "Safe
  testing", JRSS B 2024), so by Ville's inequality P(BF_n >= 1/alpha for some n) <= alpha.
- The anytime-valid p-value is 1 / max over k <= n of BF_k; Holm's adjustment across a
  table's rows applies to it as to any valid p-value. The confidence sequence for E[d] is
  {mu : BF_n(mu) < 1/alpha}: d-bar -/+ t*_n s / sqrt(n), with t*_n where BF_n reaches 1/alpha.
- g = 4 (a prior sd of 2 seed-noise units for the effect) lets 4 seeds resolve a large
  effect; no sample of 3 or fewer can (BF_n <= (1 + n g)^((n - 1) / 2)).

A row is **resolved** when its Holm-adjusted anytime p-value is below alpha; **futile** when
its configurations reached ``max_seeds`` without that, or when, with the difference and the
spread observed so far held fixed, no seed count up to ``max_seeds`` would resolve it (a
futility call only costs power, never the error rate); **open** otherwise, and then its
configuration and its reference's get one more seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from scipy import optimize

from ..errors import ConfigError
from .comparison import Comparison

G = 4.0
ALPHA = 0.05
State = Literal["resolved", "futile", "open", "failed"]


def log_bayes_factor(t: float, n: int, g: float = G) -> float:
    """log BF_n of the t statistic ``t`` of ``n`` paired differences (n >= 2)."""
    v = n - 1
    return -0.5 * math.log1p(n * g) + (v + 1) / 2 * (math.log1p(t * t / v) - math.log1p(t * t / (v * (1 + n * g))))


@lru_cache(maxsize=4096)
def critical_t(n: int, alpha: float = ALPHA, g: float = G) -> float:
    """The |t| at which BF_n reaches 1/alpha; infinite when no sample of n can reach it."""
    if n < 2 or (n - 1) / 2 * math.log1p(n * g) <= math.log(1 / alpha):
        return math.inf
    target = math.log(1 / alpha)
    high = 1.0
    while log_bayes_factor(high, n, g) < target:
        high *= 2
    return optimize.brentq(lambda t: log_bayes_factor(t, n, g) - target, 0.0, high, xtol=1e-10)


def compare(d: Sequence[float], alpha: float = ALPHA, g: float = G) -> Comparison | None:
    """The comparison of the paired differences ``d`` (in seed order) over its ``n`` seeds:
    mean difference, its anytime-valid 95% interval and p-value, the sample sd; None below 2."""
    n = len(d)
    if n < 2:
        return None
    best = 0.0  # the largest log BF over the prefixes k <= n
    for k in range(2, n + 1):
        best = max(best, _log_bf_at_zero(d[:k], g))
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    t = critical_t(n, alpha, g)
    half = math.inf if t == math.inf else t * sd / math.sqrt(n)
    return Comparison(mean, mean - half, mean + half, min(1.0, math.exp(-best)), "sequential", n, sd)


def first_resolved(d: Sequence[float], alpha: float = ALPHA, g: float = G) -> int | None:
    """The first look (seed count) at which ``d`` would be resolved alone; None if none."""
    for k in range(2, len(d) + 1):
        if _log_bf_at_zero(d[:k], g) >= math.log(1 / alpha):
            return k
    return None


def _log_bf_at_zero(d: Sequence[float], g: float) -> float:
    n = len(d)
    mean = sum(d) / n
    var = sum((x - mean) ** 2 for x in d) / (n - 1)
    if var == 0:
        return (n - 1) / 2 * math.log1p(n * g) if mean != 0 else 0.0  # the limit as |t| grows
    return log_bayes_factor(mean / math.sqrt(var / n), n, g)


def seeds_to_resolve(c: Comparison, max_seeds: int, alpha: float = ALPHA, g: float = G) -> int | None:
    """The fewest seeds, up to ``max_seeds``, at which the difference and spread observed so
    far would resolve the row; None when none would."""
    for n in range(max(c.n, 2), max_seeds + 1):
        t = critical_t(n, alpha, g)
        if t < math.inf and (c.sd == 0 and c.diff != 0 or c.sd > 0 and abs(c.diff) * math.sqrt(n) / c.sd >= t):
            return n
    return None


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of the p-values that exist (None stays None): the i-th
    smallest of m is multiplied by m - i + 1, then made non-decreasing, capped at 1."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, p * (len(present) - rank)))
        out[i] = running
    return out


@dataclass(frozen=True)
class AutoSeeds:
    """``--seeds auto``: every configuration starts with ``min_seeds``; none gets more than
    ``max_seeds``."""

    min_seeds: int = 3
    max_seeds: int = 8
    alpha: float = ALPHA

    def __post_init__(self) -> None:
        if self.min_seeds < 2:
            raise ConfigError(f"--min-seeds must be at least 2 (one seed says nothing of the noise), got {self.min_seeds}")
        if self.max_seeds < self.min_seeds:
            raise ConfigError(f"--max-seeds must be at least --min-seeds ({self.min_seeds}), got {self.max_seeds}")

    def to_json(self) -> dict:
        return {"min_seeds": self.min_seeds, "max_seeds": self.max_seeds, "alpha": self.alpha}

    @classmethod
    def from_json(cls, data: dict) -> AutoSeeds:
        return cls(data["min_seeds"], data["max_seeds"], data["alpha"])


@dataclass(frozen=True)
class Row:
    """A table row as the decision sees it: its configuration and its reference row's."""

    table: int | str
    row: str
    config_uid: str
    reference_uid: str | None  # None: the row is a reference


def table_rows(table: int | str, rows: Sequence[tuple[str, str, str | None]]) -> list[Row]:
    """One table's rows from (label, config_uid, reference label or None)."""
    uids = {label: uid for label, uid, _ in rows}
    return [Row(table, label, uid, uids.get(reference)) for label, uid, reference in rows]


@dataclass(frozen=True)
class Decision:
    state: State | None  # None for a reference row
    comparison: Comparison | None
    p_adjusted: float | None
    seeds_needed: int | None  # the seed count that would resolve it at the observed effect


def paired(a: Mapping[int, float], b: Mapping[int, float]) -> list[float]:
    """a[s] - b[s] over the seeds 0, 1, ... both have, up to the first one either lacks."""
    out = []
    while len(out) in a and len(out) in b:
        out.append(a[len(out)] - b[len(out)])
    return out


def decide(rows: Sequence[Row], results: Mapping[str, Mapping[int, float]], failed: set[str],
           auto: AutoSeeds) -> dict[tuple[int | str, str], Decision]:
    """Each row's state from the finished results ({config_uid: {seed: top-1 error}});
    ``failed``: configurations whose runs failed (their rows cannot be decided)."""
    out: dict[tuple[int | str, str], Decision] = {}
    for table in dict.fromkeys(r.table for r in rows):
        mine = [r for r in rows if r.table == table]
        comparisons = [compare(paired(results.get(r.config_uid, {}), results.get(r.reference_uid, {})), auto.alpha)
                       if r.reference_uid is not None else None for r in mine]
        adjusted = holm([c.p if c else None for c in comparisons])
        for r, c, p in zip(mine, comparisons, adjusted, strict=True):
            out[(r.table, r.row)] = _decision(r, c, p, failed, auto)
    return out


def _decision(r: Row, c: Comparison | None, p: float | None, failed: set[str], auto: AutoSeeds) -> Decision:
    if r.reference_uid is None:
        return Decision(None, None, None, None)
    if {r.config_uid, r.reference_uid} & failed:
        return Decision("failed", c, p, None)
    if c is None or c.n < auto.min_seeds:
        return Decision("open", c, p, None)
    needed = seeds_to_resolve(c, auto.max_seeds, auto.alpha)
    if p is not None and p < auto.alpha:
        return Decision("resolved", c, p, None)
    if c.n >= auto.max_seeds or needed is None:
        return Decision("futile", c, p, needed)
    return Decision("open", c, p, needed)


def next_runs(rows: Sequence[Row], decisions: Mapping[tuple[int | str, str], Decision],
              results: Mapping[str, Mapping[int, float]]) -> set[tuple[str, int]]:
    """(config_uid, seed) to queue: the next paired seed of every open row, for it and its
    reference (rows that share a configuration share its seeds)."""
    out = set()
    for r in rows:
        d = decisions[(r.table, r.row)]
        if d.state == "open" and r.reference_uid is not None:
            seed = len(paired(results.get(r.config_uid, {}), results.get(r.reference_uid, {})))
            out |= {(r.config_uid, seed), (r.reference_uid, seed)}
    return out
