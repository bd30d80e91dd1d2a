"""The study in Optuna's RDB storage: one trial per (config_uid, seed), queued WAITING with the
run in its user attributes, and what state each planned run is in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import optuna
import sqlalchemy
from optuna.distributions import IntDistribution
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from ..experiment.plan import Plan, Run
from ..experiment.schema import to_dict
from ..runtime.first_use import retry_first_use
from ..runtime.settings import Settings
from ..runtime.urls import sqlite_file

SEED_DISTRIBUTION = IntDistribution(0, 2**31 - 1)
RunState = Literal["finished", "running", "queued", "failed"]  # a planned run's, over all its trials
RUN_STATES: tuple[RunState, ...] = get_args(RunState)
# The user attributes that describe a run; a retry copies these and nothing else.
RUN_ATTRS = ("config_uid", "seed", "name", "tables", "rows", "cells", "config")


def make_storage(settings: Settings) -> RDBStorage:
    """Heartbeats on; stale runs are found and retried by :mod:`.liveness`, not by Optuna's
    callback (which ignores a run claimed without a heartbeat and gives no reason)."""
    db_file = sqlite_file(settings.storage)
    sqlite = db_file is not None
    # pool_pre_ping: after a database restart, pooled connections are dead; test each before use.
    engine_kwargs = {"connect_args": {"timeout": 60}} if sqlite else {"pool_pre_ping": True}
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    storage = retry_first_use(lambda: RDBStorage(
        settings.storage,
        engine_kwargs=engine_kwargs,
        heartbeat_interval=settings.heartbeat_interval,
        grace_period=settings.grace_period,
    ))
    if sqlite:
        _serializable_sqlite(storage.engine)
    return storage


def _serializable_sqlite(engine: sqlalchemy.Engine) -> None:
    """Real transactions on SQLite, so that claiming a trial is atomic between processes.

    Python's sqlite3 driver opens a transaction only at the first write, so two workers could
    both read a trial as WAITING and both set it RUNNING (seen: 9 of 150 trials claimed twice
    by two processes). ``BEGIN IMMEDIATE`` takes the write lock when a transaction starts
    (SQLAlchemy's recipe for pysqlite); the others wait for it up to the 60 s timeout.
    """

    @sqlalchemy.event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @sqlalchemy.event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the hooks reconnect with them


def open_study(settings: Settings, storage: RDBStorage, create: bool) -> optuna.Study:
    if create:
        return retry_first_use(lambda: optuna.create_study(
            study_name=settings.study, storage=storage, direction="minimize", load_if_exists=True
        ))
    return optuna.load_study(study_name=settings.study, storage=storage)


def study_names(storage: RDBStorage) -> list[str]:
    return optuna.study.get_all_study_names(storage)


def run_key(trial: FrozenTrial) -> tuple[str, int] | None:
    uid, seed = trial.user_attrs.get("config_uid"), trial.user_attrs.get("seed")
    return (uid, seed) if uid is not None else None


def run_attrs(run: Run) -> dict[str, Any]:
    return {
        "config_uid": run.config_uid,
        "seed": run.seed,
        "name": run.name,
        "tables": run.tables,
        "rows": run.rows,
        "cells": [list(c) for c in run.cells],
        "config": to_dict(run.config),
    }


def requeue(study: optuna.Study, trial: FrozenTrial, reason: str, lost: bool, max_retry: int) -> bool:
    """Queue a failed trial's run again as a new WAITING trial, at once.

    ``lost``: its worker disappeared; those retries count against ``max_retry``, a hand-back
    from an interrupted worker does not. Returns False when the retries are used up.
    """
    retries = int(trial.user_attrs.get("retries", 0)) + int(lost)
    if retries > max_retry:
        return False
    attrs = {k: trial.user_attrs[k] for k in RUN_ATTRS if k in trial.user_attrs}
    study.enqueue_trial({}, user_attrs={**attrs, "retries": retries, "retry_of": trial.number, "retry_reason": reason})
    return True


def enqueue_missing(study: optuna.Study, plan: Plan) -> tuple[int, int]:
    """Enqueue every planned run with no COMPLETE, WAITING or RUNNING trial.

    Returns (already finished, newly queued).
    """
    states = run_states(study)
    done = queued = 0
    for run in plan.runs:
        state = states.get(run.key)
        if state == "finished":
            done += 1
        elif state in (None, "failed"):
            study.enqueue_trial({}, user_attrs=run_attrs(run))
            queued += 1
    return done, queued


def run_states(study: optuna.Study, trials: list[FrozenTrial] | None = None) -> dict[tuple[str, int], RunState]:
    """Each run's state over all its trials (``trials``: the study's, when the caller has
    them): finished (a COMPLETE trial), running, queued, or failed (only FAIL/PRUNED left)."""
    rank = {TrialState.COMPLETE: 3, TrialState.RUNNING: 2, TrialState.WAITING: 1}
    names: dict[int, RunState] = {3: "finished", 2: "running", 1: "queued", 0: "failed"}
    best: dict[tuple[str, int], int] = {}
    for t in study.get_trials(deepcopy=False) if trials is None else trials:
        if (k := run_key(t)) is not None:
            best[k] = max(best.get(k, 0), rank.get(t.state, 0))
    return {k: names[v] for k, v in best.items()}


@dataclass(frozen=True)
class Counts:
    """How many planned runs are in each :data:`RunState`."""

    planned: int
    finished: int
    running: int
    queued: int
    failed: int

    @property
    def unfinished(self) -> int:
        """Runs still queued or held by a worker."""
        return self.running + self.queued


def study_counts(study: optuna.Study, plan: Plan) -> Counts:
    """The plan's runs by state; with ``--seeds auto`` also the seeds queued since launch."""
    states = run_states(study)
    keys = dict.fromkeys(r.key for r in plan.runs)
    if plan.auto_seeds:
        keys.update(dict.fromkeys(states))
    return counts_of([states.get(k, "queued") for k in keys])


def counts_of(states: list[RunState]) -> Counts:
    return Counts(len(states), *(states.count(s) for s in RUN_STATES))
