"""Runs held by workers that are gone, built through the stores' APIs (no timing luck), on
SQLite and on PostgreSQL:

- a trial claimed without a heartbeat (what earlier versions left when a worker died between
  its claim and its first beat) is failed with that reason and retried;
- a run that finished in MLflow before its worker died, its trial still RUNNING, is
  completed from that result with no second MLflow run;
- while the launcher waits on a run whose worker has gone silent, it says which run, which
  worker, how old the heartbeat is and when it will be retried.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter

import optuna
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from ablations.engine import make_storage, open_study
from ablations.experiment.config import ExperimentConfig
from ablations.experiment.plan import Run
from ablations.experiment.schema import parse
from ablations.runtime.settings import make_settings
from ablations.tracking.writer import Tracker
from tests.conftest import ROOT, paper_tables

GRACE = 12  # the launcher reports the silent worker between 2 s and 12 s of silence


def _launch(tmp, data_root, storage, tracking, study, *extra):
    return [sys.executable, str(ROOT / "run_sweep.py"), "--preset", "tiny", "--study", study,
            "--storage", storage, "--tracking-uri", tracking, "--run-dir", str(tmp / "runs"),
            "--data-root", str(data_root), "--heartbeat-interval", "1", "--grace-period", str(GRACE),
            "--no-progress", *paper_tables(tmp, 12), *extra]


def test_runs_of_lost_workers_finish_once_and_the_wait_is_reported(tmp_path, data_root, cache_dir, both_stores):
    storage_url, tracking = both_stores
    env = {"SENET_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    cmd = _launch(tmp_path, data_root, storage_url, tracking, "lost")
    queued = subprocess.run([*cmd, "--workers", "0"], capture_output=True, text=True, timeout=300, env=env)
    assert queued.returncode == 0, queued.stderr[-2000:]

    settings = make_settings("lost", storage=storage_url, tracking_uri=tracking, run_dir=tmp_path / "runs")
    storage = make_storage(settings)
    study = open_study(settings, storage, create=False)
    study_id = storage.get_study_id_from_name("lost")
    never_beat, finished, normal = study.get_trials(states=(TrialState.WAITING,))
    ids = {t.number: storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
           for t in (never_beat, finished, normal)}
    # A claim from an earlier version: RUNNING, no heartbeat, no worker.
    storage.set_trial_state_values(ids[never_beat.number], TrialState.RUNNING)
    # A worker that finished its run in MLflow and died before telling Optuna.
    storage.set_trial_state_values(ids[finished.number], TrialState.RUNNING)
    storage.set_trial_user_attr(ids[finished.number], "worker", "gone-host:4242")
    tracker = Tracker(tracking, "lost")
    cfg = parse(ExperimentConfig, finished.user_attrs["config"])
    run = Run(finished.user_attrs["config_uid"], 0, cfg, tuple(tuple(c) for c in finished.user_attrs["cells"]))
    child = tracker.start_child(tracker.parent_run({}), run, {"config_uid": run.config_uid, "seed": "0"})
    child.log_once({"final_val_top1_err": 42.5})
    child.finish()
    # status reads the stores as they are: two runs held, one queued.
    status = subprocess.run([sys.executable, str(ROOT / "run_sweep.py"), "status", "--study", "lost", "--storage",
                             storage_url, "--tracking-uri", tracking, "--format", "json"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert status.returncode == 0, status.stderr[-2000:]
    seen = json.loads(status.stdout)
    assert seen["counts"] == {"finished": 0, "running": 2, "queued": 1, "failed": 0}
    held = {r["trial"]: r for r in seen["running"]}
    assert held[never_beat.number]["heartbeat_age"] is None and held[never_beat.number]["worker"] == "unknown"
    assert held[finished.number]["worker"] == "gone-host:4242"
    # It beats (from here) until the other runs are done, then falls silent.
    silent = threading.Event()

    def beat():
        while not silent.wait(0.5):
            storage.record_heartbeat(ids[finished.number])

    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    launcher = subprocess.Popen([*cmd, "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and launcher.poll() is None:
            states = Counter(t.state for t in study.get_trials())
            if states[TrialState.COMPLETE] == 2:
                break
            time.sleep(0.5)
        silent.set()
        out, _ = launcher.communicate(timeout=120)
    finally:
        silent.set()
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, out[-3000:]
    assert "3/3 runs finished, 0 failed" in out, out[-3000:]
    # The wait was reported (once: at most every 30 s), with the worker, the heartbeat's age
    # and when each run is retried.
    assert re.search(r"^waiting for [12] runs? held by other workers:$", out, re.M), out[-3000:]
    assert re.search(r"T12 Tanh seed 0 \(trial \d\) on gone-host:4242: last heartbeat \d+ s ago; retried in about \d+ s",
                     out), out[-3000:]

    trials = optuna.load_study(study_name="lost", storage=storage_url).get_trials()
    lost = next(t for t in trials if t.number == never_beat.number)
    assert lost.state == TrialState.FAIL and "never beat" in lost.user_attrs["failure"]
    by_key = Counter((t.user_attrs["config_uid"], t.user_attrs["seed"]) for t in trials if t.state == TrialState.COMPLETE)
    assert len(by_key) == 3 and set(by_key.values()) == {1}
    recovered = next(t for t in trials if t.state == TrialState.COMPLETE
                     and t.user_attrs["config_uid"] == finished.user_attrs["config_uid"])
    assert recovered.value == 42.5 and recovered.user_attrs["mlflow_run_id"] == child.run_id
    assert "no heartbeat for" in next(t for t in trials if t.number == finished.number).user_attrs["failure"]

    client = MlflowClient(tracking_uri=tracking)
    exp = client.get_experiment_by_name("lost")
    runs = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'")
    finished_runs = Counter(r.data.tags["config_uid"] for r in runs if r.info.status == "FINISHED")
    assert finished_runs == Counter({uid: 1 for uid, _ in by_key})
    assert [r.info.run_id for r in runs if r.data.tags["config_uid"] == finished.user_attrs["config_uid"]] == [child.run_id]
