"""Dataset inputs: two workers logging the same dataset at the same moment race to create
MLflow's one record of it; the loser's unique-constraint error must not fail its run (seen
in a two-worker sweep: a run FAILED with ``UNIQUE constraint failed: datasets...``)."""

from __future__ import annotations

import threading

from ablations.experiment.config import DatasetIdentity, ExperimentConfig, ModelConfig, config_uid
from ablations.experiment.plan import Run
from ablations.tracking.writer import ChildRun, Tracker


def _identity(i: int) -> DatasetIdentity:
    return DatasetIdentity(f"cifar10/train[{i}]", f"{i:016x}", "/data/cifar10/train", i, "training")


def test_the_same_dataset_logged_at_once_by_two_runs_lands_on_both(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = ExperimentConfig(model=ModelConfig(num_classes=10))
    trackers = [Tracker(uri, "race", tmp_path / "artifacts") for _ in range(2)]
    parent = trackers[0].parent_run({})
    errors: list[BaseException] = []
    for i in range(1, 9):  # a new dataset each round: every round is a race to create it
        runs = [t.start_child(parent, Run(config_uid(cfg), s, cfg, ((10, "16"),)), {}) for s, t in enumerate(trackers)]
        barrier = threading.Barrier(2)

        def log(child: ChildRun, i=i, barrier=barrier) -> None:
            barrier.wait()
            try:
                child.log_datasets([_identity(i)])
            except BaseException as err:  # noqa: BLE001 - the test reports any
                errors.append(err)

        threads = [threading.Thread(target=log, args=(r,)) for r in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in runs:
            names = [d.dataset.name for d in trackers[0].client.get_run(r.run_id).inputs.dataset_inputs]
            assert names == [f"cifar10/train[{i}]"], (i, names)
    assert not errors


def test_a_failed_dataset_log_is_tried_again_and_never_raised(tmp_path, monkeypatch, capsys):
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "flaky", tmp_path / "artifacts")
    cfg = ExperimentConfig(model=ModelConfig(num_classes=10))
    child = tracker.start_child(tracker.parent_run({}), Run(config_uid(cfg), 0, cfg, ((10, "16"),)), {})
    calls = []

    def refuse(run_id, datasets):
        calls.append(run_id)
        raise RuntimeError("UNIQUE constraint failed: datasets.experiment_id, datasets.name, datasets.digest")

    monkeypatch.setattr(child.client, "log_inputs", refuse)
    child.log_datasets([_identity(1)])
    assert len(calls) == 3
    assert "dataset inputs were not logged" in capsys.readouterr().err
