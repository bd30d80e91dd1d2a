"""What a study looks like in MLflow when its runs are trained by hand-started workers: the
parent run ends with the last run, and every run carries what the UI filters, groups and
shows by (fake data: the tags, not the training, are under test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mlflow.tracking import MlflowClient

from ablations.cli import main
from tests.conftest import ROOT, fake_sweep

ROWS = {"reference": "16", "rows": [{"row": "16", "set": {}}, {"row": "8", "set": {"model.se.reduction": 8}},
                                    {"row": "original", "set": {"model.se": None}}]}


def test_a_study_finished_by_hand_started_workers_ends_its_parent_run_and_tags_its_runs(tmp_path):
    sweep = fake_sweep(tmp_path, ROWS)
    run_dir = tmp_path / "runs"
    assert main([*sweep, "--seeds", "2", "--study", "hand", "--run-dir", str(run_dir), "--workers", "0",
                 "--no-progress"]) == 0
    tracking = f"sqlite:///{run_dir / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=tracking)
    exp = client.get_experiment_by_name("hand")
    (parent,) = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'study'")
    assert parent.info.status == "RUNNING"  # queued work: running until the last run ends

    worker = [sys.executable, str(ROOT / "run_sweep.py"), "worker", "--study", "hand", "--run-dir", str(run_dir),
              "--threads", "1", "--no-progress"]
    procs = [subprocess.Popen(worker, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"}) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"

    runs = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'")
    assert sorted(r.info.run_name for r in runs) == ["T99 16 s0", "T99 16 s1", "T99 8 s0", "T99 8 s1",
                                                     "T99 original s0", "T99 original s1"]
    assert all(r.info.status == "FINISHED" for r in runs)
    # One equality filter finds a row's runs; the config tag groups seeds.
    eight = client.search_runs([exp.experiment_id], "tags.t99 = '8'")
    assert sorted(r.data.tags["seed"] for r in eight) == ["0", "1"]
    assert {r.data.tags["config"] for r in eight} == {"T99 8"}
    assert len(client.search_runs([exp.experiment_id], "tags.t99 != ''")) == 6
    for r in runs:
        tags = r.data.tags
        assert tags["mlflow.source.name"] and tags["mlflow.note.content"].count("tags.t99 = ") == 1
        assert len(r.inputs.dataset_inputs) == 2  # trained on, evaluated on
        contexts = {next(t.value for t in d.tags if t.key == "mlflow.data.context") for d in r.inputs.dataset_inputs}
        assert contexts == {"training", "evaluation"}
        assert {d.dataset.name for d in r.inputs.dataset_inputs} == {"fake/train[32]", "fake/test[20]"}
        assert all(json.loads(d.dataset.profile)["num_rows"] in (32, 20) for d in r.inputs.dataset_inputs)
    # The baseline is off on the reduction axis, not beside some ratio.
    base = [r for r in runs if r.data.tags["config"] == "T99 original"]
    assert {r.data.params["model.se.reduction"] for r in base} == {"off"}
    assert {r.data.params["model.se.reduction"] for r in eight} == {"8"}
    note = client.get_experiment(exp.experiment_id).tags["mlflow.note.content"]
    assert "tags.t99 != ''" in note and "`config`" in note

    # A relaunch that queues more work runs the parent again; its worker ends it again.
    assert main([*sweep, "--seeds", "3", "--study", "hand", "--run-dir", str(run_dir), "--workers", "0",
                 "--no-progress"]) == 0
    assert client.get_run(parent.info.run_id).info.status == "RUNNING"
    done = subprocess.run(worker, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
