"""A worker never leaves a run RUNNING behind when it stops: a stop signal that lands while
it claims a run or while it logs an epoch to a tracking server that is gone, or a storage
outage right after the claim, still ends with the run queued again or trained (fake data,
fast)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import optuna
import pytest
import sqlalchemy.exc
from optuna.trial import TrialState

from ablations.cli import main
from ablations.engine import Worker
from ablations.runtime.settings import make_settings
from ablations.runtime.stopping import STOPPER, Interrupted
from tests.conftest import fake_sweep


@pytest.fixture()
def queued(tmp_path):
    """A study of two queued runs, and the worker that will claim them."""
    rows = [{"row": "a", "set": {}}, {"row": "b", "set": {"train.lr": 0.01}}]
    assert main([*fake_sweep(tmp_path, rows), "--run-dir", str(tmp_path / "runs"), "--study", "held",
                 "--workers", "0"]) == 0
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    STOPPER.install()
    yield make_settings("held", run_dir=tmp_path / "runs")
    STOPPER.signal_name = None
    for s, handler in saved.items():
        signal.signal(s, handler)


def _states(settings) -> Counter:
    return Counter(t.state for t in optuna.load_study(study_name="held", storage=settings.storage).trials)


def test_a_stop_signal_during_a_claim_hands_the_run_back(queued, monkeypatch):
    worker = Worker(queued, say=None)
    claim = worker.storage.set_trial_state_values

    def claimed_then_signalled(trial_id, state, *args, **kwargs):
        won = claim(trial_id, state, *args, **kwargs)
        if state == TrialState.RUNNING:
            os.kill(os.getpid(), signal.SIGTERM)  # SIGTERM from the launcher, at the worst moment
            time.sleep(0.2)
        return won

    monkeypatch.setattr(worker.storage, "set_trial_state_values", claimed_then_signalled)
    with pytest.raises(Interrupted):
        worker.run_forever()
    states = _states(queued)
    assert states[TrialState.RUNNING] == 0, states
    # The claimed run failed with the reason and was queued again at once, beside the other.
    assert states == Counter({TrialState.FAIL: 1, TrialState.WAITING: 2})


def test_a_storage_outage_right_after_a_claim_is_waited_out(queued, monkeypatch):
    worker = Worker(queued, say=None)
    worker.patience.every_s = 0.1
    record = worker.storage.set_trial_user_attr
    down = {"left": 3}

    def flaky(trial_id, key, value):
        if key == "worker" and down["left"]:
            down["left"] -= 1
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
        return record(trial_id, key, value)

    monkeypatch.setattr(worker.storage, "set_trial_user_attr", flaky)
    assert worker.run_forever() == 2
    assert _states(queued) == Counter({TrialState.COMPLETE: 2})


def test_a_stop_while_an_epoch_is_logged_to_a_dead_server_hands_the_run_back(queued, monkeypatch):
    """A launcher killed with SIGKILL takes its MLflow server along; the worker's epoch
    logging then retries for minutes (seen: past the lifeline's hard exit, the run left
    RUNNING). The stop abandons the logging: the epoch's checkpoint is saved already."""
    from ablations.tracking.writer import ChildRun

    def server_gone(self, epoch, metrics):
        os.kill(os.getpid(), signal.SIGTERM)  # the lifeline's SIGTERM, while MLflow retries
        time.sleep(2)
        raise ConnectionError("the tracking server is gone")

    monkeypatch.setattr(ChildRun, "log_epoch", server_gone)
    worker = Worker(queued, say=None)
    with pytest.raises(Interrupted):
        worker.run_forever()
    trials = optuna.load_study(study_name="held", storage=queued.storage).trials
    stopped = next(t for t in trials if t.state == TrialState.FAIL)
    assert stopped.user_attrs["failure"].startswith("interrupted by SIGTERM")  # handed back, not failed
    assert _states(queued) == Counter({TrialState.FAIL: 1, TrialState.WAITING: 2})
