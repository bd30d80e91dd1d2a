"""A user's own attention module, in a file of theirs, runs in a sweep through
``model.se.module`` with no edit to the project (the README's example)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from ablations.cli import main
from tests.conftest import ROOT


def _readme_example() -> str:
    """The module the README shows, so the README's code is the code tested."""
    text = (ROOT / "README.md").read_text()
    return re.search(r"```python\n# avgmax\.py\n(.*?)```", text, re.S).group(1)


def test_a_user_module_named_in_the_sweep_file_trains_and_is_tracked(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the import adds the working folder
    (tmp_path / "avgmax.py").write_text(_readme_example())  # the test runs in tmp_path
    sweep = {
        "base": {
            "model": {"arch": "cifar_resnet20", "num_classes": 10, "width": 0.5, "se": {"reduction": 4}},
            "data": {"name": "fake", "train_size": 64, "test_size": 40, "batch_size": 32},
            "train": {"epochs": 1, "lr": 0.05},
        },
        "suites": {"mine": {"tables": {"M1": {
            "title": "CBAM's channel attention against SE", "reference": "SE",
            "rows": [{"row": "SE", "set": {}}, {"row": "AvgMax", "set": {"model.se.module": "avgmax:AvgMaxAttention"}}],
        }}}},
        "presets": {"p": {"set": {}}},
    }
    config = tmp_path / "sweeps.yaml"
    config.write_text(yaml.safe_dump(sweep))
    run_dir = tmp_path / "runs"
    assert main(["--config", str(config), "--suite", "mine", "--preset", "p", "--run-dir", str(run_dir),
                 "--study", "mine", "--no-progress"]) == 0
    assert "2/2 runs finished, 0 failed" in capsys.readouterr().out
    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("mine")
    runs = {r.data.tags["rows"]: r for r in client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'")}
    mine, se = runs["M1 AvgMax"], runs["M1 SE"]
    assert mine.info.status == "FINISHED" and mine.data.params["model.se.module"] == "avgmax:AvgMaxAttention"
    # Same Linear layers as SE's FC pair, run on two descriptors: more multiply-adds, same parameters.
    assert mine.data.metrics["params_m"] == se.data.metrics["params_m"]
    assert mine.data.metrics["gflops"] > se.data.metrics["gflops"]
    # Its gate is exposed, so the Section 7 statistics are recorded for it too.
    path = client.download_artifacts(mine.info.run_id, "excitation.json", str(tmp_path))
    stages = json.loads(Path(path).read_text())["stages"]
    assert set(stages) == {"1", "2", "3"} and stages["3"]["channels"] == 32
