"""The sweep engine: Optuna decides which worker trains which run; the only optuna importer.

One Optuna study per sweep; each (config_uid, seed) is one trial, enqueued WAITING with its
config in the trial's user attributes (:mod:`.store`). A worker claims a WAITING trial
atomically (``set_trial_state_values(..., RUNNING)`` only succeeds from WAITING), beats a
heartbeat while it trains, and tells the result (:mod:`.worker`). A trial whose worker goes
silent is failed after the grace period and queued again, and the retry resumes from the
run's checkpoint (:mod:`.liveness`). Re-launching enqueues only runs with no COMPLETE,
WAITING or RUNNING trial, so finished work is never repeated.

``config_uid`` and ``seed`` are trial user attributes rather than categorical params:
Optuna refuses a categorical whose choices change within a study, and adding a factor
value adds a configuration.
"""

import warnings

import optuna
from optuna.exceptions import ExperimentalWarning

from .. import tracking
from . import auto_seeds
from .liveness import WaitReporter, fail_stale, held_runs
from .status import StudyStatus, study_status
from .store import (
    RUN_STATES,
    Counts,
    RunState,
    enqueue_missing,
    make_storage,
    open_study,
    run_states,
    study_counts,
    study_names,
)
from .worker import Worker


def quiet() -> None:
    """What a process of ours wants of Optuna's and MLflow's output, set where the process
    starts (after its parser: importing this package is what --help must not wait for)."""
    tracking.quiet()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Heartbeats are experimental in Optuna 5; they are used on purpose.
    warnings.filterwarnings("ignore", category=ExperimentalWarning)


__all__ = [
    "RUN_STATES",
    "Counts",
    "RunState",
    "StudyStatus",
    "WaitReporter",
    "Worker",
    "auto_seeds",
    "enqueue_missing",
    "fail_stale",
    "held_runs",
    "make_storage",
    "open_study",
    "quiet",
    "run_states",
    "study_counts",
    "study_names",
    "study_status",
]
