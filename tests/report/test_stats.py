"""The numbers behind every verdict: intervals, Holm, paired tests and seed planning, checked
against independent implementations on fixed numbers, and a planted null."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats

from ablations.experiment.auto_seeds import holm
from ablations.tracking.links import compare_url, runs_view_url, ui_hint
from report.stats import compare, paired, pooled_std, resolvable_gap, seeds_needed, welch

A = [22.1, 22.6, 22.4, 22.9]
B = [22.9, 23.4, 23.0]


def test_welch_interval_and_p_match_scipy():
    c = welch(A, B)
    ref = stats.ttest_ind(A, B, equal_var=False)
    low, high = ref.confidence_interval(0.95)
    assert c.diff == pytest.approx(sum(A) / 4 - sum(B) / 3)
    assert (c.low, c.high, c.p) == pytest.approx((low, high, ref.pvalue))
    assert welch([1.0], B) is None  # one seed: no noise estimate


def test_paired_interval_and_p_match_scipy():
    a, b = {0: 22.1, 1: 22.6, 2: 22.4}, {0: 22.5, 1: 23.2, 2: 22.6}
    c = paired(a, b)
    ref = stats.ttest_rel([22.1, 22.6, 22.4], [22.5, 23.2, 22.6])
    low, high = ref.confidence_interval(0.95)
    assert (c.diff, c.low, c.high, c.p) == pytest.approx((-0.4, low, high, ref.pvalue))
    # paired only where both rows have the same seeds; otherwise Welch's
    assert compare(a, b, "paired").method == "paired"
    assert compare(a, {0: 22.5, 1: 23.2, 3: 22.6}, "paired").method == "welch"


def test_holm_by_hand_and_against_statsmodels():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, None, 0.03, 0.005]) == pytest.approx([0.03, 0.06, None, 0.06, 0.02])
    assert holm([None, None]) == [None, None]
    from statsmodels.stats.multitest import multipletests

    rng = random.Random(1)
    for m in (1, 2, 5, 20):
        ps = [rng.random() ** 3 for _ in range(m)]
        assert holm(ps) == pytest.approx(multipletests(ps, method="holm")[1].tolist())


def test_a_planted_null_is_marked_at_most_at_the_family_wise_rate():
    """Tables of 20 rows and their reference, all drawn from one distribution, 5 seeds each:
    Holm's marks hit at most about 5% of tables; unadjusted p marks most of them."""
    rng = random.Random(0)
    tables, holm_hits, raw_hits = 300, 0, 0
    for _ in range(tables):
        draw = [{s: rng.gauss(22.3, 0.3) for s in range(5)} for _ in range(21)]
        ps = [compare(row, draw[0], "welch").p for row in draw[1:]]
        holm_hits += any(p < 0.05 for p in holm(ps))
        raw_hits += any(p < 0.05 for p in ps)
    bound = 0.05 + 3 * math.sqrt(0.05 * 0.95 / tables)
    assert holm_hits / tables <= bound
    assert raw_hits / tables > 0.25  # unadjusted, a third of the tables had a false mark


def _power(n: int, gap: float, sd: float, alpha: float) -> float:
    """Exact power of the two-sided two-sample t-test, from the noncentral t distribution."""
    df, ncp = 2 * n - 2, gap / sd * math.sqrt(n / 2)
    crit = stats.t.ppf(1 - alpha / 2, df)
    return stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)


@pytest.mark.parametrize("gap,sd,alpha", [(0.5, 0.3, 0.05), (0.2, 0.3, 0.01), (1.0, 0.25, 0.05 / 6)])
def test_seeds_needed_is_the_smallest_n_with_the_power(gap, sd, alpha):
    n = seeds_needed(gap, sd, alpha, 0.8)
    assert _power(n, gap, sd, alpha) >= 0.8 > _power(n - 1, gap, sd, alpha) or n == 2
    # and close to the normal approximation 2 (z_a/2 + z_b)^2 (sd / gap)^2
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(0.8)
    assert abs(n - 2 * z**2 * (sd / gap) ** 2) <= 2.5


def test_resolvable_gap_has_the_power():
    g = resolvable_gap(3, 0.4, 0.05, 0.8)
    assert _power(3, g, 0.4, 0.05) == pytest.approx(0.8, abs=1e-3)
    assert resolvable_gap(1, 0.4, 0.05, 0.8) is None


def test_pooled_std():
    sd, dof = pooled_std([A, B, [5.0]])
    assert dof == 5
    assert sd == pytest.approx(math.sqrt((stats.tvar(A) * 3 + stats.tvar(B) * 2) / 5))
    assert pooled_std([[1.0], [2.0]]) is None


def test_the_mlflow_link_is_the_studys_training_runs_in_the_model_training_view():
    from urllib.parse import parse_qs, urlsplit

    url = runs_view_url("7")
    page, _, query = url.partition("?")
    assert page == "http://127.0.0.1:5000/#/experiments/7/runs"
    fields = parse_qs(query)
    assert fields["workflowType"] == ["machine_learning"]  # MLflow 3 opens its GenAI view without it
    assert fields["searchFilter"] == ["tags.`senet.role` = 'run'"]
    assert "searchFilter" not in runs_view_url("7", search=None)
    local = ui_hint("sqlite:///runs/mlflow.db", "7")
    assert local == f"mlflow ui --backend-store-uri sqlite:///runs/mlflow.db, then open {url}"
    server = ui_hint("https://bob:pw@mlflow.lab:5000/", "12")
    assert server.startswith("open https://bob:***@mlflow.lab:5000/#/experiments/12/runs?workflowType=machine_learning")
    compare = urlsplit(compare_url(["a1", "b2"], "12", "http://h:5000").replace("#/", ""))
    assert compare.path == "/compare-runs"
    assert parse_qs(compare.query)["runs"] == ['["a1", "b2"]'] and parse_qs(compare.query)["experiments"] == ['["12"]']
