"""The attention suite with the tiny preset on the real CIFAR-10 copy: every module (ours and
timm's) trains to the end, is tracked, and the report renders its table without a paper's
columns."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from ablations.cli import main
from report.__main__ import main as report

pytestmark = pytest.mark.e2e


def test_the_attention_suite_trains_every_module_and_reports_it(tmp_path, data_root, capsys):
    run_dir = tmp_path / "runs"
    assert main(["--suite", "attention", "--preset", "tiny", "--study", "att", "--run-dir", str(run_dir),
                 "--data-root", str(data_root), "--no-progress"]) == 0
    assert "6/6 runs finished, 0 failed" in capsys.readouterr().out
    uri = f"sqlite:///{run_dir / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("att")
    runs = {r.data.tags["rows"]: r for r in client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'")}
    assert set(runs) == {f"ATT {row}" for row in ("none", "SE", "ECA", "CBAM", "GC", "CoordAtt")}
    assert all(r.info.status == "FINISHED" and len(client.get_metric_history(r.info.run_id, "val_top1_err")) == 1
               for r in runs.values())
    assert runs["ATT CBAM"].data.params["model.se.module"] == "timm:cbam"
    # Coordinate attention gates its height and width maps: the two are averaged per channel.
    path = client.download_artifacts(runs["ATT CoordAtt"].info.run_id, "excitation.json", str(tmp_path))
    stages = json.loads(Path(path).read_text())["stages"]
    assert set(stages) == {"2", "3", "4", "5"} and stages["5"]["channels"] == 256
    assert "excitation.json" not in {a.path for a in client.list_artifacts(runs["ATT CBAM"].info.run_id)}  # no `gate`

    assert report(["--study", "att", "--tracking-uri", uri, "--out", str(tmp_path / "report")]) == 0
    md = (tmp_path / "report" / "tables.md").read_text()
    assert "### Table ATT: Attention modules in one backbone" in md and "paper top-1" not in md and "Paper:" not in md
    csv = pd.read_csv(tmp_path / "report" / "tables.csv")
    assert list(csv.row) == ["none", "SE", "ECA", "CBAM", "GC", "CoordAtt"] and set(csv.status) == {"ok"}
    assert (tmp_path / "report" / "ablation_report.pdf").stat().st_size > 10_000
