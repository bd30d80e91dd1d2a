"""Which claimed runs still have a live worker, retrying those that do not, and saying so.

A worker records a heartbeat for a trial before and right after claiming it, so a claimed run
always has one. A run whose heartbeat is older than the grace period is failed with that
reason and queued again (its retry resumes from the checkpoint). For stores written by
earlier versions, which claimed first and beat later, a RUNNING trial with no heartbeat counts
from its start instead.

Optuna records heartbeats through its public API but offers no way to read them, so their
ages come from its ``trial_heartbeats`` table (one row per trial; the schema dates from
Optuna 2.9).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import optuna
import sqlalchemy
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from ..wording import count
from .store import requeue

_HEARTBEATS = sqlalchemy.Table(
    "trial_heartbeats", sqlalchemy.MetaData(),
    sqlalchemy.Column("trial_id", sqlalchemy.Integer),
    sqlalchemy.Column("heartbeat", sqlalchemy.DateTime),
)


def heartbeat_ages(engine: sqlalchemy.Engine, trial_ids: list[int]) -> dict[int, float]:
    """Seconds since each trial's last heartbeat, by the database's clock (trials that never
    beat are absent)."""
    if not trial_ids:
        return {}
    with engine.connect() as conn:
        now = conn.execute(sqlalchemy.select(sqlalchemy.func.now())).scalar_one()
        rows = conn.execute(sqlalchemy.select(_HEARTBEATS.c.trial_id, _HEARTBEATS.c.heartbeat)
                            .where(_HEARTBEATS.c.trial_id.in_(trial_ids))).all()
    # PostgreSQL's now() carries a zone, the column does not (the same local time); Optuna
    # compares them the same way.
    now = now.replace(tzinfo=None)
    return {tid: (now - beat).total_seconds() for tid, beat in rows}


@dataclass(frozen=True)
class Held:
    """A RUNNING trial: its run, its worker, and how long that worker has been silent."""

    trial: FrozenTrial
    trial_id: int
    heartbeat_age: float | None  # None: never beat (a store written by an earlier version)

    @property
    def name(self) -> str:
        return self.trial.user_attrs.get("name", f"trial {self.trial.number}")

    @property
    def worker(self) -> str:
        return self.trial.user_attrs.get("worker", "unknown")

    @property
    def silent_for(self) -> float:
        if self.heartbeat_age is not None:
            return self.heartbeat_age
        start = self.trial.datetime_start or datetime.now()
        return (datetime.now() - start).total_seconds()


def held_runs(study: optuna.Study, storage: RDBStorage) -> list[Held]:
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    study_id = storage.get_study_id_from_name(study.study_name) if running else None
    ids = {t.number: storage.get_trial_id_from_study_id_trial_number(study_id, t.number) for t in running}
    ages = heartbeat_ages(storage.engine, list(ids.values()))
    return [Held(t, ids[t.number], ages.get(ids[t.number])) for t in running]


def fail_stale(study: optuna.Study, storage: RDBStorage, grace: float, max_retry: int) -> list[str]:
    """Fail every RUNNING trial silent for longer than ``grace`` seconds and queue its run
    again; returns a line for each."""
    lines = []
    for h in held_runs(study, storage):
        if h.silent_for <= grace:
            continue
        silence = (f"no heartbeat for {h.silent_for:.0f} s" if h.heartbeat_age is not None
                   else f"claimed {h.silent_for:.0f} s ago and never beat")
        reason = f"worker {h.worker} lost ({silence})" if "worker" in h.trial.user_attrs else f"worker lost ({silence})"
        try:
            storage.set_trial_user_attr(h.trial_id, "failure", reason)
            if not storage.set_trial_state_values(h.trial_id, TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:  # finished meanwhile, or failed by another worker
            continue
        again = requeue(study, storage.get_trial(h.trial_id), reason, lost=True, max_retry=max_retry)
        lines.append(f"{h.name}: {reason}; " + ("queued again, resumes from its checkpoint" if again
                                                 else f"not retried: all {max_retry} retries used"))
    return lines


def describe_waiting(held: list[Held], grace: float) -> str:
    """What a worker or launcher with nothing left to claim is waiting for."""
    lines = [f"waiting for {count(len(held), 'run')} held by other workers:"]
    for h in sorted(held, key=lambda h: h.trial.number):
        beat = (f"last heartbeat {h.silent_for:.0f} s ago" if h.heartbeat_age is not None
                else f"no heartbeat since its claim {h.silent_for:.0f} s ago")
        left = grace - h.silent_for
        when = f"retried in about {left:.0f} s if still silent" if left > 0 else "retried at the next check"
        lines.append(f"  {h.name} (trial {h.trial.number}) on {h.worker}: {beat}; {when}")
    return "\n".join(lines)


class WaitReporter:
    """Says, at most every ``every`` seconds, which runs a sweep is waiting for once nothing is
    left to claim: at once when one of them has stopped beating, else after ``every`` seconds
    of waiting (the last runs of a healthy sweep are not news)."""

    def __init__(self, study: optuna.Study, storage: RDBStorage, grace: float, interval: float,
                 every: float = 30.0) -> None:
        self.study, self.storage, self.grace, self.interval, self.every = study, storage, grace, interval, every
        self._since: float | None = None
        self._last = float("-inf")

    def due(self) -> str | None:
        """The report when one is due, else None (queries the store)."""
        if self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            self._since = None
            return None
        held = held_runs(self.study, self.storage)
        now = time.monotonic()
        if not held:
            self._since = None
            return None
        self._since = self._since if self._since is not None else now
        silent = any(h.silent_for > 2 * self.interval for h in held)
        if now - self._last < self.every or (not silent and now - self._since < self.every):
            return None
        self._last = now
        return describe_waiting(held, self.grace)
