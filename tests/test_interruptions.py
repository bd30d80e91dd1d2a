"""Signals on a launcher with two workers, on SQLite (with the MLflow server the launcher
starts) and on PostgreSQL: SIGTERM to one worker hands its run back at once; SIGTERM or
SIGKILL to the launcher leaves no process of the sweep alive, no run RUNNING and every
unfinished run queued again; after SIGTERM, the same command run again finishes exactly the
runs that are missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.conftest import ROOT, paper_tables
from tests.procs import alive, command_line, descendants, wait_gone

pytestmark = pytest.mark.postgres


def _cmd(tmp, data_root, storage, tracking, *extra):
    # Six Table 10 runs long enough (several epochs) to be caught mid-run.
    return [sys.executable, str(ROOT / "run_sweep.py"), "--preset", "tiny", "--study", "stop",
            "--storage", storage, "--tracking-uri", tracking, "--run-dir", str(tmp / "runs"),
            "--data-root", str(data_root), "--heartbeat-interval", "1", "--grace-period", "4",
            "--no-progress", *paper_tables(tmp, 10), "--set", "train.epochs=4", "--set", "data.train_size=256",
            *extra]


def _trials(storage):
    try:
        return optuna.load_study(study_name="stop", storage=storage).get_trials()
    except KeyError:
        return []


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("launcher_signal", ["SIGTERM", "SIGKILL"])
def test_signals_end_the_sweep_cleanly_and_a_rerun_finishes_it(tmp_path, data_root, cache_dir, both_stores,
                                                               launcher_signal):
    storage, tracking = both_stores
    env = {**os.environ, "SENET_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}
    cmd = _cmd(tmp_path, data_root, storage, tracking)
    launcher = subprocess.Popen([*cmd, "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env)
    try:
        checkpoints = tmp_path / "runs" / "checkpoints" / "stop"

        def two_checkpointed_runs():
            held = {int(t.user_attrs["worker"].split(":")[1]): t for t in _trials(storage)
                    if t.state == TrialState.RUNNING and "worker" in t.user_attrs
                    and (checkpoints / f"{t.user_attrs['config_uid']}-seed0.pt").exists()}
            return held if len(held) == 2 else None

        held = _wait_for(two_checkpointed_runs, 300, "both workers to hold a checkpointed run")

        # SIGTERM to one worker (a preempted cluster task): its run goes back to the queue now,
        # not after the grace period, and its MLflow run is KILLED with the reason.
        pid, trial = next(iter(held.items()))
        os.kill(pid, signal.SIGTERM)
        assert wait_gone({pid}, timeout=30) == set()

        def handed_back():
            trials = _trials(storage)
            mine = next(t for t in trials if t.number == trial.number)
            retry = [t for t in trials if t.user_attrs.get("retry_of") == trial.number]
            return (mine, retry) if mine.state == TrialState.FAIL and retry else None

        mine, retry = _wait_for(handed_back, 10, "the stopped worker's run to be queued again")
        assert mine.user_attrs["failure"].startswith("interrupted by SIGTERM")
        assert retry[0].user_attrs["retry_reason"].startswith("interrupted by SIGTERM")
        client = MlflowClient(tracking_uri=tracking)
        killed = client.get_run(mine.user_attrs["mlflow_run_id"])
        assert killed.info.status == "KILLED" and "interrupted by SIGTERM" in killed.data.tags["failure"]

        # Then the launcher: every process it started ends, and no run is left RUNNING.
        assert launcher.poll() is None, "the sweep ended before the launcher could be signalled"
        tree = descendants(launcher.pid)
        assert len(tree) >= 1
        launcher.send_signal(getattr(signal, launcher_signal))
        out, _ = launcher.communicate(timeout=90)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    left = wait_gone(tree, timeout=30)
    assert not left, [command_line(p) for p in left]
    if launcher_signal == "SIGTERM":
        assert launcher.returncode == 143, out[-3000:]
        assert "interrupted by SIGTERM:" in out and "run the same command again" in out, out[-3000:]
    else:
        assert launcher.returncode == -signal.SIGKILL
    trials = _trials(storage)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    done_before = len({t.user_attrs["config_uid"] for t in trials if t.state == TrialState.COMPLETE})
    assert done_before < 6
    # The workers stopped as on SIGTERM (after SIGKILL through their lifeline): every run not
    # finished is queued again, so a rerun (below, after SIGTERM) finishes exactly those.
    for t in trials:
        if t.state == TrialState.FAIL:
            assert t.user_attrs["failure"].startswith("interrupted by SIGTERM"), t.user_attrs["failure"]
    queued = {t.user_attrs["config_uid"] for t in trials if t.state == TrialState.WAITING}
    assert queued | {t.user_attrs["config_uid"] for t in trials if t.state == TrialState.COMPLETE} == \
        {t.user_attrs["config_uid"] for t in trials}
    if launcher_signal == "SIGKILL":
        return

    rerun = subprocess.run([*cmd, "--workers", "1"], capture_output=True, text=True, timeout=600, env=env)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert f"{done_before} already finished" in rerun.stdout
    assert "6/6 runs finished, 0 failed" in rerun.stdout
    complete = Counter(t.user_attrs["config_uid"] for t in _trials(storage) if t.state == TrialState.COMPLETE)
    assert len(complete) == 6 and set(complete.values()) == {1}
    exp = client.get_experiment_by_name("stop")
    runs = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'", max_results=1000)
    finished = Counter(r.data.tags["config_uid"] for r in runs if r.info.status == "FINISHED")
    assert finished == Counter({uid: 1 for uid in complete})
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert all(not alive(p) for p in tree)


def test_a_dead_mlflow_server_is_started_again_and_the_sweep_goes_on(tmp_path, data_root, cache_dir):
    """The server the launcher puts in front of a SQLite tracking store dies mid-sweep (the
    OOM killer, a crash): the launcher starts it again on the same port and every run still
    ends FINISHED once with all its epochs logged (before, the workers waited in MLflow's
    retries for minutes, silently)."""
    runs = tmp_path / "runs"
    storage, tracking = f"sqlite:///{runs / 'optuna.db'}", f"sqlite:///{runs / 'mlflow.db'}"
    env = {**os.environ, "SENET_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}
    launcher = subprocess.Popen([*_cmd(tmp_path, data_root, storage, tracking, "--set", "train.epochs=2"),
                                 "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        def server_while_a_run_trains():
            server = next((p for p in descendants(launcher.pid) if "-m mlflow server" in command_line(p)
                           and "lifeline" not in command_line(p)), None)
            return server if server and any(t.state == TrialState.RUNNING for t in _trials(storage)) else None

        server = _wait_for(server_while_a_run_trains, 300, "the MLflow server and a run in progress")
        os.kill(server, signal.SIGKILL)
        tree = descendants(launcher.pid)
        out, _ = launcher.communicate(timeout=600)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, out[-3000:]
    assert "had stopped (exit code 137" in out and "started it again" in out, out[-3000:]
    assert "6/6 runs finished, 0 failed" in out, out[-3000:]
    client = MlflowClient(tracking_uri=tracking)
    exp = client.get_experiment_by_name("stop")
    logged = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'", max_results=1000)
    assert Counter(r.info.status for r in logged) == Counter({"FINISHED": 6})
    assert {len(client.get_metric_history(r.info.run_id, "val_top1_err")) for r in logged} == {2}
    left = wait_gone(tree, timeout=30)
    assert not left, [command_line(p) for p in left]
