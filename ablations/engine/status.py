"""What a study's runs are doing, read from its Optuna store (``run_sweep.py status``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from .liveness import held_runs
from .store import Counts, counts_of, run_key, run_states


@dataclass(frozen=True)
class Running:
    name: str
    seed: int
    trial: int
    worker: str
    heartbeat_age: float | None
    mlflow_run_id: str | None
    epochs: int | None  # the run's planned epochs


@dataclass(frozen=True)
class StudyStatus:
    study: str
    runs: int
    counts: Counts
    retried: int  # runs with more than one attempt
    retries: int  # attempts beyond the first, over all runs
    running: tuple[Running, ...]
    slurm_jobs: tuple[str, ...] = field(default_factory=tuple)


def study_status(study: optuna.Study, storage: RDBStorage) -> StudyStatus:
    states = run_states(study)
    attempts = Counter(k for t in study.get_trials(deepcopy=False)
                       if (k := run_key(t)) is not None and t.state != TrialState.PRUNED)
    running = tuple(
        Running(h.name, int(h.trial.user_attrs.get("seed", -1)), h.trial.number, h.worker,
                h.heartbeat_age, h.trial.user_attrs.get("mlflow_run_id"),
                h.trial.user_attrs.get("config", {}).get("train", {}).get("epochs"))
        for h in sorted(held_runs(study, storage), key=lambda h: h.trial.number)
    )
    return StudyStatus(
        study=study.study_name,
        runs=len(states),
        counts=counts_of(list(states.values())),
        retried=sum(1 for n in attempts.values() if n > 1),
        retries=sum(n - 1 for n in attempts.values()),
        running=running,
        slurm_jobs=tuple(study.user_attrs.get("slurm_jobs", [])),
    )
