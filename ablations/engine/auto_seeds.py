"""``--seeds auto`` in the study: the decision rows and each configuration's run are kept in
the study's user attributes at launch; after every finished run, whoever finished it (a
worker, a cluster task, the launcher) decides each row's state from the study's results and
queues the next seed only for configurations that an open row needs
(:mod:`ablations.experiment.auto_seeds`). A seed already queued, held or finished is never
queued again, so relaunching continues where the study stopped."""

from __future__ import annotations

from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from ..experiment.auto_seeds import AutoSeeds, Decision, Row, decide, next_runs
from ..experiment.config import ExperimentConfig
from ..experiment.plan import Plan, Run, table_tag
from ..experiment.schema import parse, to_dict
from ..wording import count
from .store import run_attrs, run_key, run_states

ATTR = "adaptive"  # the study attribute stores were written with: kept, so their auto studies go on


@dataclass(frozen=True)
class Record:
    """What a ``--seeds auto`` study keeps: its bounds, its decision rows, and each
    configuration's config and cells (to queue more of its seeds)."""

    auto: AutoSeeds
    rows: tuple[Row, ...]
    runs: dict[str, dict]  # config_uid -> its config and cells


def record(study: optuna.Study, plan: Plan) -> None:
    """Keep what deciding and queueing later seeds needs with the study."""
    assert plan.auto_seeds is not None
    study.set_user_attr(ATTR, {
        **plan.auto_seeds.to_json(),
        "rows": [[r.table, r.row, r.config_uid, r.reference_uid] for r in plan.decision_rows()],
        "runs": {uid: {"config": to_dict(cfg), "cells": [list(c) for c in plan.cells_of(uid)]}
                 for uid, cfg in plan.configs.items()},
    })


def recorded(study: optuna.Study) -> Record | None:
    """The study's ``--seeds auto`` record; None for a study of fixed seeds."""
    attr = study.user_attrs.get(ATTR)
    if not attr:
        return None
    return Record(AutoSeeds.from_json(attr),
                tuple(Row(*r) for r in attr["rows"]), attr["runs"])


@dataclass(frozen=True)
class Snapshot:
    """A ``--seeds auto`` study now, from one read of its trials: each configuration's
    finished top-1 errors by seed, the configurations with a run that failed for good, every
    run's state, and each row's decision."""

    record: Record
    finished: dict[str, dict[int, float]]
    states: dict[tuple[str, int], str]
    decided: dict[tuple[int | str, str], Decision]


def snapshot(study: optuna.Study) -> Snapshot | None:
    """None for a study of fixed seeds."""
    s = recorded(study)
    if s is None:
        return None
    trials = study.get_trials(deepcopy=False)
    states = run_states(study, trials)
    finished: dict[str, dict[int, float]] = {}
    for t in trials:
        if t.state == TrialState.COMPLETE and (key := run_key(t)) is not None and t.value is not None:
            finished.setdefault(key[0], {})[key[1]] = t.value
    failed = {uid for (uid, _), state in states.items() if state == "failed"}
    return Snapshot(s, finished, states, decide(s.rows, finished, failed, s.auto))


def decisions(study: optuna.Study) -> dict[tuple[int | str, str], Decision] | None:
    """Each row's state now; None for a study of fixed seeds."""
    snap = snapshot(study)
    return snap.decided if snap else None


def extend(study: optuna.Study) -> str | None:
    """Queue the next seed of every configuration an open row needs; the line that says so,
    or None when nothing was queued."""
    snap = snapshot(study)
    if snap is None:
        return None
    s = snap.record
    wanted = sorted((uid, seed) for uid, seed in next_runs(s.rows, snap.decided, snap.finished)
                    if (uid, seed) not in snap.states and seed < s.auto.max_seeds)
    for uid, seed in wanted:
        run = s.runs[uid]
        cells = tuple((table, str(row)) for table, row in run["cells"])
        study.enqueue_trial({}, user_attrs=run_attrs(Run(uid, seed, parse(ExperimentConfig, run["config"]), cells)))
    if not wanted:
        return None
    asked = {uid for uid, _ in wanted}
    rows = [f"{table_tag(r.table)} {r.row}" for r in s.rows
            if snap.decided[(r.table, r.row)].state == "open" and {r.config_uid, r.reference_uid} & asked]
    seeds = sorted({seed for _, seed in wanted})
    return (f"seeds auto: queued {count(len(wanted), 'run')} (seed {', '.join(map(str, seeds))}) for "
            f"{count(len(rows), 'undecided row')}: {', '.join(rows[:5])}{', ...' if len(rows) > 5 else ''}")


def summary(snap: Snapshot) -> str:
    """Rows by state and the runs trained against the budget."""
    a = snap.record.auto
    states = [d.state for d in snap.decided.values() if d.state is not None]
    finished = sum(len(v) for v in snap.finished.values())
    by_state = ", ".join(f"{states.count(st)} {st}" for st in ("resolved", "futile", "open", "failed") if states.count(st))
    return (f"seeds auto ({a.min_seeds} to {a.max_seeds}): {by_state}; "
            f"{finished} runs trained of the {a.max_seeds * len(snap.record.runs)} that {a.max_seeds} seeds each would take")
