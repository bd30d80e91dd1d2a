"""The error rate of ``--seeds auto``'s comparison under looks after every seed, by simulation
(``python -m report sequential --simulate``), beside the ordinary test it replaces."""

from __future__ import annotations

import contextlib
import io
import json
import math

from report.__main__ import main
from report.auto_seeds import simulate


def test_no_true_difference_is_declared_at_most_alpha_of_the_time_however_often_one_looks():
    out = simulate(reps=2000, max_seeds=30, sd=0.3, seed=0)
    monte_carlo = 3 * math.sqrt(out["alpha"] * (1 - out["alpha"]) / out["reps"])
    assert out["false_positive_rate"] <= out["alpha"] + monte_carlo
    # The same simulation catches the mistake: Welch's test after every seed errs far more.
    assert out["welch_every_seed_false_positive_rate"] > 3 * out["alpha"]
    # A gap of one sd is found within 30 seeds more often than not.
    assert out["resolved_gap_1sd"] > 0.5 and 5 <= out["median_seeds_gap_1sd"] <= 30


def test_the_command_prints_the_figures():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["sequential", "--simulate", "--format", "json", "--reps", "500"]) == 0
    out = json.loads(buf.getvalue())
    assert {"alpha", "false_positive_rate", "reps", "median_seeds_gap_1sd"} <= set(out) and out["reps"] == 500
