"""Batch launches on a real (single-node) SLURM, with PostgreSQL stores: the tiny paper suite
as an array of 2 tasks, scancel of a task mid-run, --dry-run and the bad inputs.

Needs Debian's slurmctld, slurmd, slurm-client and munge, as root (tests/slurm.py); skipped
with the reason where they are missing, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.conftest import ROOT, paper_tables
from tests.slurm import LocalSlurm, missing

pytestmark = [pytest.mark.slurm, pytest.mark.postgres]


@pytest.fixture(scope="module")
def slurm():
    if lacking := missing():
        reason = f"SLURM cannot run here: missing {', '.join(lacking)} (apt-get install slurmctld slurmd slurm-client munge)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = LocalSlurm().start()
    yield cluster
    cluster.stop()


def _cmd(tmp, data_root, storage, tracking, study, *extra):
    return [sys.executable, str(ROOT / "run_sweep.py"), "--launcher", "slurm", "--preset", "tiny", "--study", study,
            "--storage", storage, "--tracking-uri", tracking, "--run-dir", str(tmp / "runs"),
            "--data-root", str(data_root), "--heartbeat-interval", "1", "--grace-period", "6", "--no-progress",
            "--slurm-cpus-per-task", "1", *extra]


def _env(slurm, cache_dir):
    return {**slurm.env(), "SENET_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}


def _exactly_once(storage, tracking, study, expected):
    trials = optuna.load_study(study_name=study, storage=storage).get_trials()
    complete = Counter((t.user_attrs["config_uid"], t.user_attrs["seed"]) for t in trials if t.state == TrialState.COMPLETE)
    assert len(complete) == expected and set(complete.values()) == {1}
    client = MlflowClient(tracking_uri=tracking)
    exp = client.get_experiment_by_name(study)
    runs = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'", max_results=1000)
    finished = Counter((r.data.tags["config_uid"], int(r.data.tags["seed"])) for r in runs if r.info.status == "FINISHED")
    assert finished == complete
    return trials, runs


def test_an_array_of_two_tasks_trains_the_tiny_suite_once(slurm, tmp_path, data_root, cache_dir, stores):
    storage, tracking = stores
    proc = subprocess.run(_cmd(tmp_path, data_root, storage, tracking, "array", "--workers", "2", "--wait"),
                          capture_output=True, text=True, timeout=900, env=_env(slurm, cache_dir))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "submitted SLURM job" in proc.stdout and "17/17 runs finished, 0 failed" in proc.stdout
    job = proc.stdout.split("submitted SLURM job ")[1].split(":")[0]
    trials, _ = _exactly_once(storage, tracking, "array", 17)
    assert len({t.user_attrs["worker"] for t in trials if "worker" in t.user_attrs}) == 2  # both tasks worked
    status = subprocess.run([sys.executable, str(ROOT / "run_sweep.py"), "status", "--study", "array", "--storage",
                             storage, "--tracking-uri", tracking, "--format", "json"],
                            capture_output=True, text=True, timeout=120)
    seen = json.loads(status.stdout)
    assert seen["counts"] == {"finished": 17, "running": 0, "queued": 0, "failed": 0} and seen["slurm_jobs"] == [job]
    # The password is in no script, command line or log of the job.
    files = [p for p in (tmp_path / "runs" / "slurm").rglob("*") if p.is_file() and p.suffix != ".pkl"]
    assert any(p.name.endswith("_submission.sh") for p in files)
    for p in files:
        assert "s3cret-pw" not in p.read_text(errors="replace"), p
    assert "s3cret-pw" not in proc.stdout + proc.stderr


def test_scancel_of_a_task_mid_run_hands_its_run_to_the_other(slurm, tmp_path, data_root, cache_dir, stores):
    storage, tracking = stores
    cmd = _cmd(tmp_path, data_root, storage, tracking, "cancel", "--workers", "2", *paper_tables(tmp_path, 10),
               "--set", "train.epochs=4", "--set", "data.train_size=384")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env(slurm, cache_dir))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    job = proc.stdout.split("submitted SLURM job ")[1].split(":")[0]
    checkpoints = tmp_path / "runs" / "checkpoints" / "cancel"
    deadline = time.monotonic() + 300
    held = {}
    while len(held) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            trials = optuna.load_study(study_name="cancel", storage=storage).get_trials()
        except KeyError:
            continue
        held = {t.number: t for t in trials if t.state == TrialState.RUNNING
                and (checkpoints / f"{t.user_attrs['config_uid']}-seed0.pt").exists()}
    assert len(held) == 2, "both tasks never held a checkpointed run"
    # No process of the running job (or any other) shows the password on its command line.
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline") if b"s3cret-pw" in _read(p)]
    subprocess.run(["scancel", f"{job}_0"], check=True, env=slurm.env())
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        study = optuna.load_study(study_name="cancel", storage=storage)
        if len(study.get_trials(states=(TrialState.COMPLETE,))) >= 6 or not _tasks(slurm, job):
            break
        time.sleep(2)
    trials, runs = _exactly_once(storage, tracking, "cancel", 6)
    stopped = [t for t in trials if t.state == TrialState.FAIL]
    assert stopped and all(t.user_attrs["failure"].startswith("interrupted by SIGTERM") for t in stopped)
    resumed = [r for r in runs if r.info.status == "FINISHED" and int(r.data.tags.get("resumed_from_epoch", 0)) >= 1]
    assert resumed, "the handed-back run was not resumed from its checkpoint"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _tasks(slurm, job):
    out = subprocess.run(["squeue", "-h", "-r", "-j", job, "-o", "%i"], capture_output=True, text=True, env=slurm.env())
    return out.stdout.split()


def test_dry_run_submits_nothing_and_prints_the_script(slurm, tmp_path, data_root, stores):
    storage, tracking = stores
    proc = subprocess.run(_cmd(tmp_path, data_root, storage, tracking, "dry", "--workers", "3", "--dry-run",
                               "--slurm-setup", "module load cuda"),
                          capture_output=True, text=True, timeout=300, env=slurm.env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "#SBATCH --array=0-2%3" in proc.stdout and "module load cuda" in proc.stdout
    assert "s3cret-pw" not in proc.stdout
    assert not (tmp_path / "runs").exists() and not _queue(slurm)


def _queue(slurm):
    return subprocess.run(["squeue", "-h"], capture_output=True, text=True, env=slurm.env()).stdout.split()


@pytest.mark.parametrize("case", ["sqlite", "checkpoint-dir", "data-root", "no-sbatch", "partition"])
def test_bad_input_for_the_cluster(slurm, tmp_path, data_root, stores, case):
    storage, tracking = stores
    env = slurm.env()
    extra = []
    if case == "sqlite":
        storage = f"sqlite:///{tmp_path / 'optuna.db'}"
        expect = "use PostgreSQL"
    elif case == "checkpoint-dir":
        extra = ["--checkpoint-dir", str(tmp_path / "nowhere")]
        expect = "--checkpoint-dir"
    elif case == "data-root":
        data_root = tmp_path / "no-data"
        expect = "--data-root"
    elif case == "no-sbatch":
        env = {**env, "PATH": os.path.dirname(sys.executable)}
        expect = "'sbatch' is not on the PATH"
    else:
        extra = ["--slurm-partition", "gpu-big"]
        expect = "no such partition; partitions here: debug"
    proc = subprocess.run(_cmd(tmp_path, data_root, storage, tracking, "bad", "--workers", "2", *extra),
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and expect in proc.stderr
    assert not (tmp_path / "runs").exists() and not _queue(slurm)

