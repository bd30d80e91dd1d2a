"""A worker that starts while the study's PostgreSQL is down (a restart, a failover, a SLURM
task requeued at the wrong moment) waits for it like a running worker does: one line saying
what it waits for, then its runs; past its patience, one line and exit code 75, no
traceback. A database that can never answer fails at once (fake data: the start-up is under
test, not the training)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from ablations.cli import main
from ablations.runtime.outage import EXIT_UNREACHABLE
from tests.conftest import ROOT, fake_sweep

pytestmark = pytest.mark.postgres


@pytest.fixture()
def own_pg():
    """A PostgreSQL of the test's own, taken down and brought back below."""
    from tests.postgres import LocalPostgres

    server = LocalPostgres().start()
    yield server
    server.stop()


def _queue(tmp_path, storage: str) -> None:
    rows = [{"row": "a", "set": {}}, {"row": "b", "set": {"train.lr": 0.01}}]
    assert main([*fake_sweep(tmp_path, rows), "--study", "late", "--storage", storage, "--run-dir",
                 str(tmp_path / "runs"), "--workers", "0", "--no-progress"]) == 0


def _worker(tmp_path, storage: str, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, str(ROOT / "run_sweep.py"), "worker", "--study", "late", "--run-dir", str(tmp_path / "runs"),
           "--threads", "1", "--no-progress", *extra]
    return subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SENET_STORAGE": storage, "PYTHONUNBUFFERED": "1"})


def test_a_worker_started_while_postgres_is_down_waits_and_trains(tmp_path, own_pg):
    storage = own_pg.create_db("optuna")
    _queue(tmp_path, storage)
    own_pg.shut_down("fast")
    down_at = time.monotonic()
    worker = _worker(tmp_path, storage)
    time.sleep(max(0.0, 10 - (time.monotonic() - down_at)))
    assert worker.poll() is None, worker.communicate()  # before: exit 1 and a traceback
    own_pg.serve()
    out, err = worker.communicate(timeout=300)
    assert worker.returncode == 0, out[-2000:] + err[-3000:]
    waits = [line for line in out.splitlines() if "is unreachable" in line]
    assert len(waits) == 1, out
    assert waits[0].startswith("the study's storage is unreachable (") and "postgres:***@127.0.0.1" in waits[0]
    assert "for up to 10 min" in waits[0] and "s3cret-pw" not in out + err
    assert "the study's storage answers again" in out
    trials = optuna.load_study(study_name="late", storage=storage).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE]


def test_a_worker_whose_postgres_stays_down_exits_75_with_one_line(tmp_path, own_pg):
    storage = own_pg.create_db("optuna")
    _queue(tmp_path, storage)
    own_pg.shut_down("crash")
    worker = _worker(tmp_path, storage, "--storage-patience", "6")
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == EXIT_UNREACHABLE, out + err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: the study's storage at postgresql://postgres:***@127.0.0.1:") and \
        "stayed unreachable for " in line and "(--storage-patience 6)" in line, line
    own_pg.serve()


def test_a_database_that_does_not_exist_fails_at_once(tmp_path, own_pg):
    storage = own_pg.url("no_such_db")
    started = time.monotonic()
    worker = _worker(tmp_path, storage)
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 2, out + err
    assert time.monotonic() - started < 30  # no patience spent on it
    (line,) = err.strip().splitlines()
    assert 'database "no_such_db" does not exist' in line and "s3cret-pw" not in line, line
