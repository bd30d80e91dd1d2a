"""Tables from a real MLflow SQLite store filled with known metrics."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from ablations.experiment.config import ExperimentConfig, config_uid
from ablations.experiment.plan import Run
from ablations.experiment.schema import to_dict
from ablations.tracking.reader import read_study
from ablations.tracking.writer import Tracker, log_plan
from report.study import build_report
from senet_core import ModelConfig, SEConfig

SEEDS = 3


def _cfg(se):
    return ExperimentConfig(model=ModelConfig(arch="cifar_resnet20", num_classes=10, se=se))


R2, R16, BASE = _cfg(SEConfig(reduction=2)), _cfg(SEConfig()), _cfg(None)
MAX = _cfg(SEConfig(squeeze="max"))
TOP1 = {config_uid(R2): [30.0, 31.0, 32.0], config_uid(R16): [35.0, 36.0, 37.0]}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    tracker = Tracker(uri, "known", tmp / "artifacts")
    parent = tracker.parent_run({"suite": "paper"})
    # A plan in the shape 0.1.0 logged before tables carried their references, dataset and
    # source: the report takes those from the packaged sweeps.yaml (r2.reference below).
    log_plan(tracker, parent, {
        "suite": "paper", "preset": "test", "seeds": SEEDS, "base": to_dict(R16),
        "tables": [
            {"number": 10, "title": "Reduction ratio r", "rows": [
                {"row": "2", "config_uid": config_uid(R2)},
                {"row": "16", "config_uid": config_uid(R16)},
                {"row": "original", "config_uid": config_uid(BASE)}]},
            {"number": 11, "title": "Squeeze operator", "rows": [
                {"row": "Max", "config_uid": config_uid(MAX)},
                {"row": "Avg", "config_uid": config_uid(R16)}]},
        ],
    })
    for cfg in (R2, R16):
        uid = config_uid(cfg)
        for seed, err in enumerate(TOP1[uid]):
            # r=16's seed 2 finished only on its second attempt.
            if uid == config_uid(R16) and seed == 2:
                lost = tracker.start_child(parent, Run(uid, seed, cfg, ((10, "r"),)), {"config_uid": uid, "seed": str(seed)})
                lost.finish("FAILED", "worker lost")
            run = tracker.start_child(parent, Run(uid, seed, cfg, ((10, "r"),)), {"config_uid": uid, "seed": str(seed)})
            run.log_epoch(0, {"val_top1_err": err + 10, "val_top5_err": 20.0})
            run.log_epoch(1, {"val_top1_err": err, "val_top5_err": err / 3})
            run.log_once({"params_m": 1.5 if uid == config_uid(R2) else 1.2, "gflops": 0.04,
                          "final_val_top1_err": err, "final_val_top5_err": err / 3})
            run.finish()
    failed = tracker.start_child(parent, Run(config_uid(BASE), 0, BASE, ((10, "original"),)),
                                 {"config_uid": config_uid(BASE), "seed": "0"})
    failed.finish("FAILED", "NonFiniteLoss: non-finite training loss at epoch 0")
    return uri, tmp


def test_tables_from_known_metrics(store):
    uri, tmp = store
    study = read_study(uri, "known")
    written = build_report(study, tmp / "out", ["md", "csv", "tex"])
    assert {p.name for p in written} == {"tables.md", "tables.csv", "tables.tex"}
    csv = pd.read_csv(tmp / "out" / "tables.csv", dtype={"row": str})
    csv["failures"] = csv.failures.fillna("")
    assert list(zip(csv.table, csv.row, strict=True)) == [
        (10, "2"), (10, "16"), (10, "original"), (11, "Max"), (11, "Avg")]
    r2 = csv.iloc[0]
    assert r2.status == "ok" and r2.n == 3
    assert r2.top1_err_mean == pytest.approx(31.0) and r2.top1_err_std == pytest.approx(1.0)
    assert r2.paper_top1_err == 22.29 and r2.paper_params_m == 45.7
    assert r2.reference == "16" and float(r2.p_value) < 0.05 and bool(r2.differs_from_reference)
    # The difference with its Welch-Satterthwaite interval; one comparison: Holm changes nothing.
    from scipy import stats

    welch = stats.ttest_ind([30.0, 31.0, 32.0], [35.0, 36.0, 37.0], equal_var=False)
    low, high = welch.confidence_interval(0.95)
    assert (r2.diff_top1_err, r2.diff_ci_low, r2.diff_ci_high) == pytest.approx((-5.0, low, high))
    assert r2.p_value == pytest.approx(welch.pvalue) and r2.p_adjusted == pytest.approx(welch.pvalue)
    assert r2.stats_method == "welch"
    r16 = csv.iloc[1]
    assert r16.n == 3 and r16.top1_err_mean == pytest.approx(36.0) and r16.status == "ok"
    assert "worker lost" in r16.failures  # the lost attempt is kept visible
    base = csv.iloc[2]
    assert base.status == "failed" and base.n == 0 and pd.isna(base.top1_err_mean)
    assert "NonFiniteLoss" in base.failures
    assert csv.iloc[3].status == "missing"
    assert csv.iloc[4].top1_err_mean == pytest.approx(36.0)  # Avg shares r=16's runs

    md = (tmp / "out" / "tables.md").read_text()
    assert "| 2 | **31.00 ± 1.00** |" in md  # best top-1 in bold, mean ± std
    assert "| 16 | 36.00 ± 1.00 |" in md
    assert "| original | FAILED | FAILED |" in md
    assert "| Max | missing | missing |" in md
    row2 = next(line for line in md.splitlines() if line.startswith("| 2 |"))
    assert f"| -5.00 [{low:+.2f}, {high:+.2f}] | † |" in row2 and "| 22.29 | 6.00 |" in row2
    row16 = next(line for line in md.splitlines() if line.startswith("| 16 |"))
    assert "| ref. |" in row16
    assert "Welch's t-test" in md and "Holm-adjusted" in md and "95% confidence interval" in md
    tex = (tmp / "out" / "tables.tex").read_text()
    assert r"\toprule" in tex and r"\textbf{31.00 $\pm$ 1.00}" in tex


def test_partial_seeds_show_n(store, tmp_path):
    uri, _ = store
    study = read_study(uri, "known")
    study = dataclasses.replace(study, plan=dataclasses.replace(study.plan, seeds=4))  # a fourth seed planned, not run
    build_report(study, tmp_path, ["md"])
    assert "31.00 ± 1.00 (n=3)" in (tmp_path / "tables.md").read_text()


def test_unknown_study_is_a_clear_error(store):
    from ablations.errors import ConfigError

    uri, _ = store
    with pytest.raises(ConfigError, match="no such study in .*; studies there: .*known"):
        read_study(uri, "nope")


def test_caption_counts_epochs_and_seeds_in_words():
    from report.tables import caption

    meta = {"dataset": "cifar10", "backbone": "cifar_resnet20"}
    one = caption({**meta, "epochs": "1"}, 1)
    assert "cifar_resnet20, 1 epoch, mean ± std over 1 seed (n shown" in one
    assert "3 epochs, mean ± std over 3 seeds (" in caption({**meta, "epochs": "3"}, 3)
    assert "? epochs" in caption({**meta, "epochs": "?"}, 2)


def test_paired_analysis_on_the_same_seeds(store, tmp_path):
    uri, _ = store
    build_report(read_study(uri, "known"), tmp_path, ["csv"], method="paired")
    r2 = pd.read_csv(tmp_path / "tables.csv", dtype={"row": str}).iloc[0]
    # per-seed differences are all -5: no spread, so the interval is the point
    assert r2.stats_method == "paired" and r2.diff_top1_err == -5.0 and r2.diff_ci_low == r2.diff_ci_high == -5.0


def test_seed_planning_from_known_noise(store):
    from report.seeds import plan_seeds, to_text
    from report.tables import build_results

    uri, _ = store
    plans = plan_seeds(build_results(read_study(uri, "known")), seeds=3)
    t10 = plans[0]
    assert t10.std == pytest.approx(1.0) and t10.dof == 4  # rows 2 and 16, three seeds each
    assert t10.comparisons == 2 and t10.alpha == pytest.approx(0.025)
    r2 = next(r for r in t10.rows if r.row == "2")
    assert r2.observed_gap == pytest.approx(5.0) and r2.seeds_for_observed == 3  # 2 leave 2 df: t_crit 6.2
    assert r2.paper_gap == pytest.approx(0.01) and r2.seeds_for_paper > 10_000  # 0.01 points: hopeless
    text = to_text(plans, 0.8, None)
    assert "Per-seed std 1.00 points (pooled, 4 degrees of freedom); 2 comparisons" in text


def test_report_seeds_with_one_seed_says_what_to_do(store, capsys, monkeypatch):
    from report.__main__ import main

    uri, _ = store
    import report.seeds as seeds

    real = seeds.read_study

    def one_seed(u, s):
        study = real(u, s)
        return dataclasses.replace(study, plan=dataclasses.replace(study.plan, seeds=1))

    monkeypatch.setattr(seeds, "read_study", one_seed)
    assert main(["seeds", "--study", "known", "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert "one seed per run" in out and "cannot be estimated" in out and "--seeds 3" in out


@pytest.mark.parametrize("argv", [["--study", "s"], ["seeds", "--study", "s"]])
def test_a_missing_tracking_file_is_refused_and_not_created(argv, tmp_path, capsys, monkeypatch):
    from report.__main__ import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --tracking-uri sqlite:///") and err.count("\n") == 1
    assert "runs/mlflow.db: no such file (run the sweep first" in err
    assert list(tmp_path.iterdir()) == []
