"""The anytime-valid comparison of ``--seeds auto``: its Bayes factor against a numerical
integration of its definition, its interval, and the states and next seeds it gives."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from ablations.experiment.auto_seeds import (
    ALPHA,
    AutoSeeds,
    G,
    Row,
    compare,
    critical_t,
    decide,
    log_bayes_factor,
    next_runs,
    paired,
)


def _bf_by_integration(d: list[float], g: float) -> float:
    """BF10 from its definition: d_i ~ N(delta sigma, sigma^2), delta ~ N(0, g) under H1,
    delta = 0 under H0, the prior 1/sigma on sigma under both. Given sigma, integrating delta
    out leaves d ~ N(0, sigma^2 (I + g 11')); sigma is integrated numerically."""
    d = np.asarray(d)
    n = len(d)

    def marginal(sigma: float, cov: np.ndarray) -> float:
        return stats.multivariate_normal.pdf(d, np.zeros(n), sigma**2 * cov) / sigma

    h1, _ = integrate.quad(marginal, 1e-3, 50, args=(np.eye(n) + g * np.ones((n, n)),), epsabs=1e-14, limit=200)
    h0, _ = integrate.quad(marginal, 1e-3, 50, args=(np.eye(n),), epsabs=1e-14, limit=200)
    return h1 / h0


@pytest.mark.parametrize("d", [[0.9, 1.4, 0.2, 1.1], [-0.3, 0.5, 0.1, -0.2, 0.4]])
def test_the_closed_form_is_the_bayes_factor(d):
    n, mean, sd = len(d), float(np.mean(d)), float(np.std(d, ddof=1))
    closed = math.exp(log_bayes_factor(mean / (sd / math.sqrt(n)), n, G))
    assert closed == pytest.approx(_bf_by_integration(d, G), rel=1e-3)


def test_the_interval_is_where_the_evidence_stays_below_one_over_alpha():
    assert critical_t(3) == math.inf  # three seeds can never resolve: BF_3 <= 13 < 20
    t = critical_t(6)
    assert math.exp(log_bayes_factor(t, 6)) == pytest.approx(1 / ALPHA)
    d = [1.0, 1.3, 0.8, 1.2, 0.9, 1.1]
    c = compare(d)
    half = t * np.std(d, ddof=1) / math.sqrt(6)
    assert (c.low, c.high) == pytest.approx((np.mean(d) - half, np.mean(d) + half))
    assert c.p < ALPHA and c.low > 0  # resolved: the interval excludes 0
    # The anytime p-value is the best evidence over the looks so far: it never grows.
    ps = [compare(d[:k]).p for k in range(2, 7)]
    assert ps == sorted(ps, reverse=True)


ROWS = [Row(10, "16", "ref", None), Row(10, "2", "big", "ref"), Row(10, "8", "same", "ref"), Row(10, "4", "noisy", "ref")]
AUTO = AutoSeeds(min_seeds=3, max_seeds=8)


def _results(seeds: int) -> dict:
    rng = np.random.default_rng(1)
    base = rng.normal(30, 1, 8)
    return {
        "ref": dict(enumerate(base[:seeds])),
        "big": dict(enumerate(base[:seeds] - 5 + rng.normal(0, 0.2, 8)[:seeds])),  # 5 points better, tightly paired
        "same": dict(enumerate(base[:seeds] + rng.normal(0, 0.0001, 8)[:seeds])),  # no difference at all
        "noisy": dict(enumerate(base[:seeds] + rng.normal(0.5, 2.0, 8)[:seeds])),
    }


def test_states_and_the_next_seeds():
    at3 = _results(3)
    d = decide(ROWS, at3, set(), AUTO)
    assert d[(10, "16")].state is None  # the reference
    assert {d[(10, r)].state for r in ("2", "8", "4")} <= {"open", "futile"}
    assert d[(10, "2")].state == "open" and d[(10, "2")].seeds_needed == 4  # resolvable at 4 at this effect
    assert d[(10, "8")].state == "futile"  # no difference: no seed count up to 8 would resolve it
    queued = next_runs(ROWS, d, at3)
    assert ("big", 3) in queued and ("ref", 3) in queued and ("same", 3) not in queued
    d5 = decide(ROWS, _results(5), set(), AUTO)
    assert d5[(10, "2")].state == "resolved" and d5[(10, "2")].comparison.high < 0
    assert decide(ROWS, _results(8), set(), AUTO)[(10, "4")].state in ("futile", "resolved")  # never open at max
    assert decide(ROWS, at3, {"noisy"}, AUTO)[(10, "4")].state == "failed"


def test_pairs_stop_at_the_first_seed_either_lacks():
    assert paired({0: 3.0, 1: 4.0, 3: 9.0}, {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0}) == [2.0, 3.0]
