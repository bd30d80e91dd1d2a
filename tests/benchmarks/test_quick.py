"""Benchmarks are not tests: this only checks that they run and report every key."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from tests.conftest import ROOT

KEYS = ("trainer_vs_bare", "se_overhead_train", "se_overhead_infer", "vs_timm_train", "sweep_overhead", "loader_headroom")


def test_benchmarks_run_and_report_every_key(data_root, cache_dir):
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--tiny", "--format", "json", "--data-root", str(data_root)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "SENET_CACHE_DIR": str(cache_dir), "HOME": str(cache_dir)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    for key in KEYS:
        assert key in result
        if key != "vs_timm_train" or result[key] is not None:
            assert math.isfinite(result[key]) and result[key] > 0
    assert result["dataset"] == "cifar10"


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
