"""A forced NaN fails that run with its reason; the sweep goes on (fake data, fast)."""

from __future__ import annotations

import yaml
from mlflow.tracking import MlflowClient

from ablations.cli import main
from tests.conftest import fake_sweep


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


def test_a_run_queued_with_a_foreign_config_fails_alone(tmp_path, capsys):
    """A trial whose config does not hash to its config_uid (queued by another version of the
    project) fails with that reason; the worker goes on with the other runs."""
    import optuna

    rows = [{"row": "a", "set": {}}, {"row": "b", "set": {"train.lr": 0.01}}]
    args = [*fake_sweep(tmp_path, rows), "--run-dir", str(tmp_path / "runs"), "--study", "foreign", "--no-progress"]
    assert main([*args, "--workers", "0"]) == 0
    storage = f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    rdb = optuna.storages.RDBStorage(storage)
    first = optuna.load_study(study_name="foreign", storage=rdb).trials[0]
    tampered = {**first.user_attrs["config"], "train": {**first.user_attrs["config"]["train"], "lr": 0.3}}
    trial_id = rdb.get_trial_id_from_study_id_trial_number(rdb.get_study_id_from_name("foreign"), 0)
    rdb.set_trial_user_attr(trial_id, "config", tampered)
    capsys.readouterr()
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "1/2 runs finished, 1 failed" in captured.out
    assert "trial 0 cannot be run here: its config hashes to" in captured.err
    trials = optuna.load_study(study_name="foreign", storage=storage).trials
    assert trials[0].state == optuna.trial.TrialState.FAIL and "cannot be run here" in trials[0].user_attrs["failure"]


def test_a_cuda_error_ends_the_worker_and_leaves_the_other_runs_queued(tmp_path, capsys, monkeypatch):
    """A CUDA error poisons the process's CUDA context: the run fails with the reason and the
    worker stops rather than fail every run it would claim next (shown with the error raised
    by the trainer, as torch raises it on a GPU)."""
    import optuna

    import ablations.engine.worker as worker

    def device_assert(*args, **kwargs):
        raise RuntimeError("CUDA error: device-side assert triggered")

    monkeypatch.setattr(worker, "train", device_assert)
    sweep = {
        "base": {"model": {"arch": "cifar_resnet20", "num_classes": 10, "width": 0.25},
                 "data": {"name": "fake", "train_size": 32, "test_size": 20, "batch_size": 32},
                 "train": {"epochs": 1}},
        "suites": {"s": {"tables": {99: [{"row": "a", "set": {}}, {"row": "b", "set": {"train.lr": 0.01}}]}}},
        "presets": {"p": {"set": {}}},
    }
    config = tmp_path / "sweeps.yaml"
    config.write_text(yaml.safe_dump(sweep))
    rc = main(["--config", str(config), "--suite", "s", "--preset", "p", "--run-dir", str(tmp_path / "runs"),
               "--study", "cuda", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "this worker stops (its CUDA context is unusable)" in err
    trials = optuna.load_study(study_name="cuda", storage=f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}").trials
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]
    assert "device-side assert" in trials[0].user_attrs["failure"]


def test_gpu_slots_hand_out_the_devices_this_process_was_given():
    from ablations.launchers.local import gpu_slots

    assert gpu_slots(None, 2) == ["0", "1"]
    assert gpu_slots("2,3", 8) == ["2", "3"]  # a SLURM allocation: not 0 and 1
    assert gpu_slots("MIG-4f1c,MIG-9a2b", 1) == ["MIG-4f1c", "MIG-9a2b"]
    assert gpu_slots("", 4) == [] and gpu_slots("-1", 4) == []
