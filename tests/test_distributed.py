"""Many workers, one sweep, on a real PostgreSQL: no duplicates, crash recovery with
resume from checkpoint, concurrent launchers (signals: tests/test_interruptions.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, paper_tables

pytestmark = pytest.mark.postgres


def _cmd(tmp, data_root, storage, tracking, study, *extra):
    return [sys.executable, str(ROOT / "run_sweep.py"), "--preset", "tiny", "--study", study,
            "--storage", storage, "--tracking-uri", tracking, "--run-dir", str(tmp / "runs"),
            "--data-root", str(data_root), "--heartbeat-interval", "1", "--grace-period", "4",
            "--no-progress", *extra]


def _env(cache_dir):
    return {**os.environ, "SENET_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}


def _finished_per_key(tracking, study):
    client = MlflowClient(tracking_uri=tracking)
    exp = client.get_experiment_by_name(study)
    runs = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'", max_results=5000)
    finished = Counter((r.data.tags["config_uid"], r.data.tags["seed"]) for r in runs if r.info.status == "FINISHED")
    return finished, runs


def test_four_workers_no_duplicates(tmp_path, data_root, cache_dir, stores):
    storage, tracking = stores
    proc = subprocess.run(_cmd(tmp_path, data_root, storage, tracking, "four", "--workers", "4"),
                          capture_output=True, text=True, timeout=900, env=_env(cache_dir))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "17/17 runs finished, 0 failed" in proc.stdout
    assert "s3cret-pw" not in proc.stdout + proc.stderr
    finished, runs = _finished_per_key(tracking, "four")
    assert len(finished) == 17 and set(finished.values()) == {1}
    workers = {r.data.tags.get("optuna.trial") for r in runs}
    assert len(workers) == 17
    study = optuna.load_study(study_name="four", storage=storage)
    assert len({t.user_attrs["worker"] for t in study.trials if "worker" in t.user_attrs}) > 1  # really parallel
    for r in runs:
        assert all("s3cret" not in v for v in r.data.params.values())


def _running_workers(storage, study_name, ready=lambda t: True) -> dict[int, optuna.trial.FrozenTrial]:
    """Worker pid -> the RUNNING trial it holds (those ``ready`` accepts)."""
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return {}
    return {int(t.user_attrs["worker"].split(":")[1]): t
            for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)) if "worker" in t.user_attrs and ready(t)}


def test_kill_9_worker_is_retried_and_resumes(tmp_path, data_root, cache_dir, stores):
    storage, tracking = stores
    # Few, longer runs so that a kill lands mid-run, after an epoch checkpoint.
    cmd = _cmd(tmp_path, data_root, storage, tracking, "kill", "--workers", "2", *paper_tables(tmp_path, 10),
               "--set", "train.epochs=4", "--set", "data.train_size=256")
    launcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(cache_dir))

    def checkpointed(t):
        return (tmp_path / "runs" / "checkpoints" / "kill" / f"{t.user_attrs['config_uid']}-seed0.pt").exists()

    held: dict = {}
    deadline = time.monotonic() + 300
    while not held and time.monotonic() < deadline:
        time.sleep(1)
        held = _running_workers(storage, "kill", checkpointed)
    assert held, "no run reached its first checkpoint"
    pid, victim = next(iter(held.items()))
    # The workers get the store URLs, passwords included, through the environment.
    assert b"s3cret-pw" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    os.kill(pid, signal.SIGKILL)
    out, _ = launcher.communicate(timeout=900)
    # Every run finished (the other worker took the killed one over), so the sweep succeeded;
    # the launcher still says which worker died.
    assert launcher.returncode == 0, out[-3000:]
    assert f"(pid {pid}) was killed by SIGKILL" in out
    finished, runs = _finished_per_key(tracking, "kill")
    assert len(finished) == 6 and set(finished.values()) == {1}, out[-3000:]
    key = (victim.user_attrs["config_uid"], "0")
    attempts = [r for r in runs if (r.data.tags["config_uid"], r.data.tags["seed"]) == key]
    assert sorted(r.info.status for r in attempts) == ["FAILED", "FINISHED"]
    retry = next(r for r in attempts if r.info.status == "FINISHED")
    assert int(retry.data.tags["resumed_from_epoch"]) >= 1
    study = optuna.load_study(study_name="kill", storage=storage)
    assert study.trials[victim.number].state == optuna.trial.TrialState.FAIL


def test_all_workers_killed_is_an_error(tmp_path, data_root, cache_dir, stores):
    """With no worker left to take the runs over, the launcher exits 1 and says to rerun."""
    storage, tracking = stores
    cmd = _cmd(tmp_path, data_root, storage, tracking, "allkilled", "--workers", "2", *paper_tables(tmp_path, 10),
               "--set", "train.epochs=8")
    launcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(cache_dir))
    held: dict = {}
    deadline = time.monotonic() + 300
    while len(held) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        held = _running_workers(storage, "allkilled")
    assert len(held) == 2, "the two workers never ran at the same time"
    for pid in held:
        os.kill(pid, signal.SIGKILL)
    out, _ = launcher.communicate(timeout=120)
    assert launcher.returncode == 1, out[-3000:]
    for pid in held:
        assert f"(pid {pid}) was killed by SIGKILL" in out
    assert "left unfinished by a worker that stopped early; run the same command again" in out
    assert " 0 failed" in out  # nothing failed: the runs were stranded, not broken


def test_two_launchers_do_not_duplicate(tmp_path, data_root, cache_dir, stores):
    storage, tracking = stores
    # One thread each, as the README asks of workers sharing a machine's cores by hand.
    cmd = _cmd(tmp_path, data_root, storage, tracking, "twice", *paper_tables(tmp_path, 10), "--threads", "1")
    a = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(cache_dir))
    b = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(cache_dir))
    out_a, _ = a.communicate(timeout=900)
    out_b, _ = b.communicate(timeout=900)
    assert a.returncode == 0 and b.returncode == 0, out_a[-2000:] + out_b[-2000:]
    finished, runs = _finished_per_key(tracking, "twice")
    assert len(finished) == 6 and set(finished.values()) == {1}
    assert len(runs) == 6  # duplicates were skipped before any training or tracking


def test_local_workers_on_the_default_sqlite_stores(tmp_path, data_root, cache_dir):
    """No server of the user's: the launcher puts one ``mlflow server`` on 127.0.0.1 in
    front of the SQLite tracking store, so two workers lose nothing and never hit a lock."""
    cmd = [sys.executable, str(ROOT / "run_sweep.py"), "--preset", "tiny", "--study", "local",
           "--run-dir", str(tmp_path / "runs"), "--data-root", str(data_root), "--no-progress",
           "--workers", "2", *paper_tables(tmp_path, 10), "--seeds", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=_env(cache_dir))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "locked" not in proc.stdout + proc.stderr
    assert "12/12 runs finished, 0 failed" in proc.stdout
    # Neither MLflow's table-creation log nor its per-run links to the launcher's server,
    # which is gone once the sweep ends.
    assert "View run" not in proc.stdout and "database tables" not in proc.stderr
    finished, runs = _finished_per_key(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}", "local")
    assert len(finished) == 12 and set(finished.values()) == {1} and len(runs) == 12
    artifacts = list((tmp_path / "runs" / "artifacts").rglob("excitation.json"))
    assert len(artifacts) == 10  # every SE run (5 configs x 2 seeds) kept its statistics


def test_a_database_restart_mid_sweep_is_ridden_out(tmp_path, data_root, cache_dir, pg):
    """PostgreSQL goes away for a few seconds (a restart, a failover) while runs train: the
    launcher and the workers wait for it, say so, and every run still finishes once (before,
    the launcher died at its next look at the study and took the workers with it)."""
    from tests.postgres import LocalPostgres

    own = LocalPostgres().start()  # restarted below; the session's server stays up for the others
    try:
        storage = own.create_db("optuna")
        tracking = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
        cmd = _cmd(tmp_path, data_root, storage, tracking, "restart", "--workers", "2", *paper_tables(tmp_path, 10),
                   "--set", "train.epochs=2")
        launcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    env=_env(cache_dir))
        deadline = time.monotonic() + 300
        while not _running_workers(storage, "restart") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert launcher.poll() is None, launcher.communicate()[0][-3000:]
        own.restart(down_s=8)
        out, _ = launcher.communicate(timeout=600)
        assert launcher.returncode == 0, out[-3000:]
        assert "the study's storage is unreachable (OperationalError" in out, out[-3000:]
        assert "the study's storage answers again" in out and "6/6 runs finished, 0 failed" in out, out[-3000:]
        assert "s3cret-pw" not in out
        finished, runs = _finished_per_key(tracking, "restart")
        assert len(finished) == 6 and set(finished.values()) == {1} and len(runs) == 6
    finally:
        own.stop()
