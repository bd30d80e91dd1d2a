"""A forced NaN fails that run with its reason; the sweep goes on (fake data, fast)."""

from __future__ import annotations

import yaml
from mlflow.tracking import MlflowClient

from ablations.cli import main


def test_nan_run_fails_and_the_sweep_continues(tmp_path, capsys):
    sweep = {
        "base": {
            "model": {"arch": "cifar_resnet20", "num_classes": 10, "width": 0.5},
            "data": {"name": "fake", "train_size": 64, "test_size": 40, "batch_size": 32},
            "train": {"epochs": 1, "lr": 0.05, "momentum": 0.0},
        },
        "suites": {"s": {"tables": {99: [
            {"row": "explodes", "set": {"train.lr": 1.0e30}},
            {"row": "fine", "set": {}},
        ]}}},
        "presets": {"p": {"set": {}}},
    }
    config = tmp_path / "sweeps.yaml"
    config.write_text(yaml.safe_dump(sweep))
    run_dir = tmp_path / "runs"
    rc = main(["--config", str(config), "--suite", "s", "--preset", "p", "--run-dir", str(run_dir),
               "--study", "nan", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 1  # some run failed
    assert "1/2 runs finished, 1 failed" in out
    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("nan")
    runs = {r.data.tags["rows"]: r for r in client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'")}
    assert runs["T99 explodes"].info.status == "FAILED"
    assert "NonFiniteLoss: non-finite training loss" in runs["T99 explodes"].data.tags["failure"]
    assert runs["T99 fine"].info.status == "FINISHED"
    # Re-running retries the failed run (and only it); it fails again the same way.
    assert main(["--config", str(config), "--suite", "s", "--preset", "p", "--run-dir", str(run_dir),
                 "--study", "nan", "--no-progress"]) == 1
    assert "1 already finished, 1 queued" in capsys.readouterr().out
