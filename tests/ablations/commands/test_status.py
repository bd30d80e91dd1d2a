"""run_sweep.py status on a study with runs in every state, built through the stores' APIs."""

from __future__ import annotations

import json

import optuna
import yaml
from optuna.trial import TrialState

from ablations.cli import main
from ablations.engine import make_storage, open_study
from ablations.experiment.config import ExperimentConfig
from ablations.experiment.plan import Run
from ablations.experiment.schema import parse
from ablations.runtime.settings import make_settings
from ablations.tracking.writer import Tracker


def test_status_of_runs_in_every_state(tmp_path, capsys):
    rows = [{"row": f"r{i}", "set": {"train.lr": 0.01 * (i + 1)}} for i in range(5)]
    sweep = {"base": {"model": {"arch": "cifar_resnet20", "num_classes": 10, "width": 0.25},
                      "data": {"name": "fake", "train_size": 32, "batch_size": 32}, "train": {"epochs": 3}},
             "suites": {"s": {"tables": {1: rows}}}, "presets": {"p": {"set": {}}}}
    (tmp_path / "sweeps.yaml").write_text(yaml.safe_dump(sweep))
    run_dir = tmp_path / "runs"
    base = ["--config", str(tmp_path / "sweeps.yaml"), "--suite", "s", "--preset", "p", "--run-dir", str(run_dir),
            "--study", "states", "--no-progress"]
    assert main([*base, "--workers", "0"]) == 0
    settings = make_settings("states", run_dir=run_dir)
    storage = make_storage(settings)
    study = open_study(settings, storage, create=False)
    sid = storage.get_study_id_from_name("states")
    t = {n: storage.get_trial_id_from_study_id_trial_number(sid, n) for n in range(5)}
    storage.set_trial_state_values(t[0], TrialState.COMPLETE, [12.5])  # finished
    storage.set_trial_state_values(t[1], TrialState.FAIL)  # failed once, its retry finished: retried
    first = study.trials[1]
    study.enqueue_trial({}, user_attrs={k: first.user_attrs[k] for k in ("config_uid", "seed", "name", "tables",
                                                                          "rows", "cells", "config")})
    storage.set_trial_state_values(storage.get_trial_id_from_study_id_trial_number(sid, 5), TrialState.COMPLETE, [13.0])
    storage.set_trial_state_values(t[2], TrialState.RUNNING)  # running, one epoch logged, beating
    storage.record_heartbeat(t[2])
    storage.set_trial_user_attr(t[2], "worker", "node3:777")
    tracker = Tracker(settings.tracking_uri, "states")
    cfg = parse(ExperimentConfig, study.trials[2].user_attrs["config"])
    uid = study.trials[2].user_attrs["config_uid"]
    child = tracker.start_child(tracker.parent_run({}), Run(uid, 0, cfg, ((1, "r2"),)), {"config_uid": uid, "seed": "0"})
    child.log_epoch(0, {"val_top1_err": 80.0})
    storage.set_trial_user_attr(t[2], "mlflow_run_id", child.run_id)
    storage.set_trial_state_values(t[3], TrialState.FAIL)  # failed, no retry
    study.set_user_attr("slurm_jobs", ["4242"])  # trial 4 stays queued

    capsys.readouterr()
    assert main(["status", "--study", "states", "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("5 runs: 2 finished, 1 running, 1 queued, 1 failed; 1 retried (1 retry)")
    assert out[1].startswith("  running: T1 r2 seed 0 (trial 2), epoch 1/3, on node3:777, heartbeat ")
    assert out[2] == "  SLURM jobs: 4242"
    assert main(["status", "--study", "states", "--run-dir", str(run_dir), "--format", "json"]) == 0
    seen = json.loads(capsys.readouterr().out)
    assert seen["counts"] == {"finished": 2, "running": 1, "queued": 1, "failed": 1}
    assert seen["running"][0]["epochs_done"] == 1 and seen["retries"] == 1
    # status changed nothing
    assert [tr.state for tr in optuna.load_study(study_name="states", storage=settings.storage).trials] == [
        TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING, TrialState.COMPLETE]
