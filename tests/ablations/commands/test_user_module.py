"""A user's own attention module, in a file of theirs, runs in a sweep through
``model.se.module`` with no edit to the project (the README's example)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from ablations.cli import main
from tests.conftest import ROOT, fake_sweep


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


# Modules that pass the one-shape check at validation and fail only where a network puts
# them: at a later stage's width, in one integration slot, or once edited after queueing.
MODULES = '''
import os

import torch
from torch import nn


class _Scale(nn.Module):
    def __init__(self, channels, cfg):
        super().__init__()
        self.channels = channels
        self.conv = nn.Conv2d(channels, channels, 1, groups=channels, bias=False)

    def forward(self, u):
        return u * torch.sigmoid(self.conv(u))


class WideFails(_Scale):
    def forward(self, u):
        if self.channels > 64:
            raise ValueError(f"{self.channels} channels: at most 64")
        return super().forward(u)


class NarrowFails(_Scale):  # a unit's input narrower than 16 channels: only the pre slot sees one
    def __init__(self, channels, cfg):
        if channels < 16:
            raise ValueError(f"{channels} channels: at least 16")
        super().__init__(channels, cfg)


class EditedFails(_Scale):
    def __init__(self, channels, cfg):
        if os.environ.get("EDITED_MODULE_FAILS"):
            raise RuntimeError("edited after queueing")
        super().__init__(channels, cfg)
'''


@pytest.fixture()
def modules(tmp_path, monkeypatch):
    """The modules above as a file of the user's, under a name of this test's own."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    name = f"mods_{tmp_path.name}".replace("-", "_")
    (tmp_path / f"{name}.py").write_text(MODULES)
    yield name
    sys.modules.pop(name, None)


@pytest.mark.parametrize("dry_run", [True, False])
@pytest.mark.parametrize(("module", "row", "reason"), [
    ("WideFails", "row T10 '2'", "ValueError: 128 channels: at most 64"),
    ("NarrowFails", "row T14 'SE-PRE'", "ValueError: 8 channels: at least 16"),
])
def test_a_module_that_fails_in_some_network_stops_the_launch(modules, module, row, reason, dry_run, tmp_path,
                                                              capsys, data_root):
    run_dir = tmp_path / "runs"
    argv = ["--preset", "tiny", "--set", f"model.se.module={modules}:{module}", "--run-dir", str(run_dir),
            "--data-root", str(data_root), "--no-progress", *(["--dry-run"] if dry_run else [])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: model.se.module '{modules}:{module}': {row} cannot be built") and reason in err
    assert not run_dir.exists()
    assert {p.name for p in tmp_path.iterdir()} - {"__pycache__"} == {f"{modules}.py"}


def test_a_worker_fails_a_run_it_cannot_build_once(modules, tmp_path, capsys, monkeypatch):
    rows = [{"row": "SE", "set": {}}, {"row": "edited", "set": {"model.se.module": f"{modules}:EditedFails"}}]
    args = [*fake_sweep(tmp_path, rows), "--run-dir", str(tmp_path / "runs"), "--study", "edited", "--no-progress"]
    assert main([*args, "--workers", "0"]) == 0
    monkeypatch.setenv("EDITED_MODULE_FAILS", "1")
    worker = ["worker", "--study", "edited", "--run-dir", str(tmp_path / "runs"), "--no-progress"]
    assert main(worker) == 1
    assert "worker done: trained 1 run, 1 failed" in capsys.readouterr().out
    trials = optuna.load_study(study_name="edited", storage=f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL]  # failed once, not queued again
    assert "RuntimeError: edited after queueing" in trials[1].user_attrs["failure"]
    assert main(worker) == 0  # nothing left to do: the failure is not retried by itself
    assert len(optuna.load_study(study_name="edited", storage=f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}").trials) == 2
