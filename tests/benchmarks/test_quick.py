"""Benchmarks are not tests: this only checks that they run and report every key."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from tests.conftest import ROOT

KEYS = ("trainer_vs_bare", "se_overhead_train", "se_overhead_infer", "vs_timm_train", "sweep_overhead", "loader_headroom",
        "packing_gain")


def test_benchmarks_run_and_report_every_key(data_root, cache_dir):
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--tiny", "--format", "json", "--data-root", str(data_root)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "SENET_CACHE_DIR": str(cache_dir), "HOME": str(cache_dir)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    for key in KEYS:
        assert key in result
        if key != "packing_gain":  # GPU only
            assert math.isfinite(result[key]) and result[key] > 0
    assert result["packing_gain"] is None
    # timm's own SE inference cost, measured in the same run, is ours' target
    assert result["targets"]["se_overhead_infer"]["target"] == f"<= {result['se_overhead_infer_timm']:.2f}"
    assert result["loader_headroom_224"] > 0 and result["loader_workers"] >= 1
    for key in ("trainer_vs_bare", "se_overhead_train", "se_overhead_infer"):
        low, high = result[f"{key}_spread"]
        assert low <= result[key] <= high
    assert result["dataset"] == "cifar10"
    from benchmarks.targets import verdicts

    # Each key judged against the smaller runs' limit, with the verdict its value gives.
    assert set(result["targets"]) == set(KEYS)
    assert result["targets"] == json.loads(json.dumps(verdicts(result, quick=True)))
    assert all((v["met"] is None) == (result[k] is None) for k, v in result["targets"].items())


def test_verdicts_apply_the_quick_limits_and_the_sweeps_own_limit():
    from benchmarks.targets import verdicts

    result = {"trainer_vs_bare": 0.92, "se_overhead_train": 1.101, "se_overhead_infer": 1.03, "vs_timm_train": None,
              "sweep_overhead": 1.2, "sweep_runs": 7, "sweep_train_s": 50.0, "loader_headroom": 5.0}
    quick, full = verdicts(result, quick=True), verdicts(result, quick=False)
    assert quick["trainer_vs_bare"] == {"target": ">= 0.90", "met": True}
    assert full["trainer_vs_bare"] == {"target": ">= 0.95", "met": False}
    assert quick["se_overhead_train"]["met"] is False and quick["se_overhead_infer"]["met"] is True
    assert quick["vs_timm_train"]["met"] is None
    assert quick["sweep_overhead"] == {"target": "<= 1.19", "met": False}
    assert full["loader_headroom"]["met"] is True
    # with timm installed, ours is judged against timm's SE inference cost from the same run
    judged = verdicts({**result, "se_overhead_infer": 1.07, "se_overhead_infer_timm": 1.08}, quick=False)
    assert judged["se_overhead_infer"] == {"target": "<= 1.08", "met": True}
    assert verdicts({**result, "se_overhead_infer": 1.07}, quick=False)["se_overhead_infer"]["met"] is False


def test_a_second_full_run_on_the_same_day_keeps_the_first(tmp_path):
    import datetime as dt

    from benchmarks.__main__ import results_path

    day = dt.date(2026, 1, 2)
    first = results_path(tmp_path / "results", "cpu", day)
    assert first.name == "cpu-2026-01-02.json"
    first.write_text("{}")
    second = results_path(tmp_path / "results", "cpu", day)
    assert second.name == "cpu-2026-01-02-2.json"
    second.write_text("{}")
    assert results_path(tmp_path / "results", "cuda", day).name == "cuda-2026-01-02.json"
    assert results_path(tmp_path / "results", "cpu", day).name == "cpu-2026-01-02-3.json"


def test_alternate_pairs_each_a_with_the_b_beside_it():
    from benchmarks.ab import alternate

    a_times = iter([9.0, 9.0, 2.0, 3.0, 4.0, 6.0, 30.0])  # two warm-up calls, then five timed
    b_times = iter([9.0, 9.0, 1.0, 2.0, 2.0, 2.0, 10.0])
    ab = alternate(lambda: next(a_times), lambda: next(b_times), repeats=5, warmup=2)
    assert ab.ratios == (2.0, 1.5, 2.0, 3.0, 3.0)
    assert ab.ratio == 2.0 and ab.spread == [1.5, 3.0]
    assert (ab.a_s, ab.b_s) == (4.0, 2.0)
