"""The tiny preset end to end on the real CIFAR-10 copy, then its report."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from mlflow.tracking import MlflowClient
from pypdf import PdfReader

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
STUDY = "e2e-tiny"
PER_EPOCH = {"train_loss", "train_top1_err", "val_loss", "val_top1_err", "val_top5_err", "lr", "epoch_time_s", "images_per_s"}


def _sweep(tmp, data_root, cache_dir, *extra):
    cmd = [sys.executable, str(ROOT / "run_sweep.py"), "--preset", "tiny", "--study", STUDY,
           "--run-dir", str(tmp / "runs"), "--data-root", str(data_root), *extra]
    env = {"PATH": "/usr/bin:/bin", "SENET_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1",
           "HOME": str(tmp)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, data_root, cache_dir):
    tmp = tmp_path_factory.mktemp("e2e")
    out = _sweep(tmp, data_root, cache_dir)
    return tmp, out


def _client(tmp):
    return MlflowClient(tracking_uri=f"sqlite:///{tmp / 'runs' / 'mlflow.db'}")


def _children(client):
    exp = client.get_experiment_by_name(STUDY)
    return client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'", max_results=1000)


def test_all_runs_finished_with_params_metrics_tags(sweep):
    tmp, out = sweep
    assert "17 runs (17 configurations x 1 seed); 0 already finished, 17 queued" in out
    assert "17/17 runs finished, 0 failed" in out
    client = _client(tmp)
    exp = client.get_experiment_by_name(STUDY)
    parent = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'study'")
    assert len(parent) == 1
    runs = _children(client)
    assert len(runs) == 17
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["config_uid"] for r in runs}) == 17
    for r in runs:
        tags, params, metrics = r.data.tags, r.data.params, r.data.metrics
        assert tags["mlflow.parentRunId"] == parent[0].info.run_id
        assert tags["study"] == STUDY and tags["suite"] == "paper" and tags["seed"] == "0"
        assert tags["tables"] and tags["rows"].startswith("T")
        assert params["model.arch"] == "cifar_resnet50" and params["model.width"] == "0.125"
        assert params["data.train_size"] == "256" and params["train.epochs"] == "1"
        assert set(metrics) >= PER_EPOCH and {"params_m", "gflops"} <= set(metrics)
        assert 0 <= metrics["val_top1_err"] <= 100
        assert re.fullmatch(r"T\d+ \S+( \(\+\d+\))? s0", r.info.run_name), r.info.run_name
        names = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert "config.yaml" in names
        if params["model.se.reduction"] != "off":  # a run without SE reads "off" for every SE factor
            assert "excitation.json" in names
    se_default = next(r for r in runs if "T10 16" in r.data.tags["rows"])
    assert se_default.data.tags["tables"] == "10,11,12,13,14,15,16"
    assert se_default.data.params["model.se.reduction"] == "16"


def test_finished_runs_keep_their_weights_only(sweep):
    tmp, _ = sweep
    kept = sorted(p.name for p in (tmp / "runs" / "checkpoints" / STUDY).iterdir())
    assert len(kept) == 17 and all(name.endswith("-seed0.weights.pt") for name in kept), kept


def test_rerun_trains_nothing(sweep, data_root, cache_dir):
    tmp, _ = sweep
    out = _sweep(tmp, data_root, cache_dir)
    assert "17 already finished, 0 queued" in out
    assert len(_children(_client(tmp))) == 17


def test_adding_a_reduction_value_trains_only_the_new_config(sweep, data_root, cache_dir):
    tmp, _ = sweep
    data = yaml.safe_load((ROOT / "sweeps.yaml").read_text())
    data["suites"]["paper"]["tables"][10]["rows"].insert(5, {"row": "64", "set": {"model.se.reduction": 64}})
    config = tmp / "sweeps-r64.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    out = _sweep(tmp, data_root, cache_dir, "--config", str(config))
    assert "18 runs (18 configurations x 1 seed); 17 already finished, 1 queued" in out
    runs = _children(_client(tmp))
    assert len(runs) == 18
    new = [r for r in runs if r.data.params.get("model.se.reduction") == "64"]
    assert len(new) == 1 and new[0].info.status == "FINISHED"


def test_report_of_the_tiny_sweep(sweep):
    tmp, _ = sweep
    out_dir = tmp / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "report", "--study", STUDY, "--tracking-uri", f"sqlite:///{tmp / 'runs' / 'mlflow.db'}",
         "--out", str(out_dir)], capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("ablation_report.pdf", "tables.md", "tables.tex", "tables.csv"):
        assert (out_dir / name).stat().st_size > 0
    reader = PdfReader(out_dir / "ablation_report.pdf")
    pages = [p.extract_text() for p in reader.pages]
    text = "\n".join(pages)
    for number in range(10, 17):
        assert any(re.search(rf"^Table {number}:", p, re.M) for p in pages), f"no page for Table {number}"
    for heading in ("Summary", "Section 7: the role of excitation", "Appendix: every run", "Cost against error"):
        assert heading in text
    assert "22.28" in text and "28.1" in text  # the paper's numbers beside ours
    md = (out_dir / "tables.md").read_text()
    assert md.count("### Table") == 7
    client = _client(tmp)
    exp = client.get_experiment_by_name(STUDY)
    parent = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'study'")[0]
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/ablation_report.pdf" in logged


def test_eca_suite_trains_and_renders_its_table(tmp_path, data_root, cache_dir):
    """ECA-Net's dissection of SE (the eca suite): six rows trained, table ECA2 rendered with
    its reference row and structure columns, named by its source."""
    out = _sweep(tmp_path, data_root, cache_dir, "--suite", "eca", "--study", "eca-tiny")
    assert "6/6 runs finished, 0 failed" in out
    out_dir = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "report", "--study", "eca-tiny", "--tracking-uri",
         f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}", "--out", str(out_dir), "--format", "md,csv"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (out_dir / "tables.md").read_text()
    assert "### Table ECA2: SE and its variants without dimensionality reduction" in md
    assert "Wang et al., ECA-Net" in md
    import pandas as pd

    csv = pd.read_csv(out_dir / "tables.csv").set_index("row")
    assert list(csv.index) == ["ResNet-50", "SE", "SE-Var1", "SE-Var2", "SE-Var3", "ECA"]
    assert (csv.status == "ok").all()
    assert csv.reference.isna()["SE"] and (csv.reference.drop("SE") == "SE").all()
    params = csv.params_m
    assert params["SE-Var1"] == params["ResNet-50"] < params["ECA"] < params["SE-Var2"] < params["SE"] < params["SE-Var3"]
