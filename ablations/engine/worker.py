"""The sweep engine: Optuna decides which worker trains which run; the only optuna importer.

One Optuna study per sweep; each (config_uid, seed) is one trial, enqueued WAITING with
its config in the trial's user attributes. A worker claims a WAITING trial atomically
(``set_trial_state_values(..., RUNNING)`` only succeeds from WAITING), beats a heartbeat
while it trains, and tells the result. A trial whose worker dies goes stale; Optuna's
``fail_stale_trials`` fails it and ``RetryHeartbeatStaleTrialCallback`` re-enqueues it, and the
retry resumes from the run's checkpoint. Re-launching enqueues only runs with no
COMPLETE, WAITING or RUNNING trial, so finished work is never repeated.

``config_uid`` and ``seed`` are trial user attributes rather than categorical params:
Optuna refuses a categorical whose choices change within a study, and adding a factor
value adds a configuration.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import sqlalchemy
import torch
from optuna.distributions import IntDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import TrialState

from .config import ExperimentConfig, config_uid
from .data import FolderBatches, TensorBatches, TensorSplit, load_split
from .plan import Plan, Run
from .schema import parse, to_dict
from .settings import Settings
from .tracking import Tracker, retry_first_use
from .trainer import NonFiniteLoss, train
from .urls import redact

optuna.logging.set_verbosity(optuna.logging.WARNING)
# Heartbeats and fail_stale_trials are experimental in Optuna 5; they are used on purpose.
warnings.filterwarnings("ignore", category=ExperimentalWarning)
SEED_DISTRIBUTION = IntDistribution(0, 2**31 - 1)


def make_storage(settings: Settings) -> RDBStorage:
    sqlite = settings.storage.startswith("sqlite")
    engine_kwargs = {"connect_args": {"timeout": 60}} if sqlite else {}
    if sqlite:
        Path(settings.storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    storage = retry_first_use(lambda: RDBStorage(
        settings.storage,
        engine_kwargs=engine_kwargs,
        heartbeat_interval=settings.heartbeat_interval,
        grace_period=settings.grace_period,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=settings.max_retry),
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


def _key(trial: optuna.trial.FrozenTrial) -> tuple[str, int] | None:
    uid, seed = trial.user_attrs.get("config_uid"), trial.user_attrs.get("seed")
    return (uid, seed) if uid is not None else None


def enqueue_missing(study: optuna.Study, plan: Plan) -> tuple[int, int]:
    """Enqueue every planned run with no COMPLETE, WAITING or RUNNING trial.

    Returns (already finished, newly queued).
    """
    live = (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
    states: dict[tuple[str, int], set[TrialState]] = {}
    for t in study.get_trials(deepcopy=False):
        if (k := _key(t)) is not None:
            states.setdefault(k, set()).add(t.state)
    done = queued = 0
    for run in plan.runs:
        seen = states.get(run.key, set())
        if TrialState.COMPLETE in seen:
            done += 1
        elif not seen & set(live):
            study.enqueue_trial(
                {},
                user_attrs={
                    "config_uid": run.config_uid,
                    "seed": run.seed,
                    "name": run.name,
                    "tables": run.tables,
                    "rows": run.rows,
                    "cells": [list(c) for c in run.cells],
                    "config": to_dict(run.config),
                },
            )
            queued += 1
    return done, queued


@dataclass
class _Claim:
    number: int
    trial_id: int
    run: Run


class Heartbeat:
    """Records the trial's heartbeat from a daemon thread while a run trains."""

    def __init__(self, storage: RDBStorage, trial_id: int, interval: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(storage, trial_id, interval), daemon=True)

    def _beat(self, storage: RDBStorage, trial_id: int, interval: float) -> None:
        while True:
            # A missed beat is retried; only a long outage makes the trial stale.
            with contextlib.suppress(Exception):
                storage.record_heartbeat(trial_id)
            if self._stop.wait(interval):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class DataCache:
    """Loaded splits shared by the runs of one worker (most sweeps use one data config),
    kept on the training device so a GPU receives the dataset once, not once per run."""

    def __init__(self, settings: Settings, device: torch.device) -> None:
        self.settings, self.device = settings, device
        self._splits: dict = {}

    def batches(self, cfg: ExperimentConfig):
        d = cfg.data
        key = (d.name, d.path, d.train_size, d.test_size)
        if d.name == "imagefolder":
            root = self.settings.data_root
            train = FolderBatches(d, root, d.batch_size, self.device, True)
            test = FolderBatches(d, root, d.eval_batch_size, self.device, False)
            return train, test
        if key not in self._splits:
            self._splits = {key: tuple(
                _on(load_split(d, self.settings.data_root, t, self.settings.cache_dir), self.device)
                for t in (True, False)
            )}
        tr, te = self._splits[key]
        return (
            TensorBatches(tr, d, d.batch_size, self.device, True),
            TensorBatches(te, d, d.eval_batch_size, self.device, False),
        )


def _on(split: TensorSplit, device: torch.device) -> TensorSplit:
    return TensorSplit(split.images.to(device), split.labels.to(device), split.classes)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


class Worker:
    """Claims WAITING trials of one study and trains them until none are left."""

    def __init__(self, settings: Settings, parent_tags: dict[str, str] | None = None,
                 on_done: Callable[[Run, str, float], None] | None = None,
                 storage: RDBStorage | None = None, tracker: Tracker | None = None) -> None:
        """``storage`` and ``tracker``: the launcher's own, when the worker runs in its process
        (opening each store again costs about a second)."""
        self.settings = settings
        self.storage = storage or make_storage(settings)
        self.study = open_study(settings, self.storage, create=False)
        self.study_id = self.storage.get_study_id_from_name(settings.study)
        self.tracker = tracker or Tracker(settings.tracking_uri, settings.study, settings.artifact_root)
        self.parent_id = self.tracker.parent_run(parent_tags or {})
        self.device = resolve_device(settings.device)
        if settings.threads:
            torch.set_num_threads(settings.threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.data = DataCache(settings, self.device)
        self.device_name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        self.on_done = on_done
        self.failed = 0

    def claim(self) -> _Claim | None:
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, t.number)
            try:
                if not self.storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                    continue
            except RuntimeError:  # finished meanwhile (e.g. pruned as a duplicate)
                continue
            attrs = t.user_attrs
            cfg = parse(ExperimentConfig, attrs["config"])
            if config_uid(cfg) != attrs["config_uid"]:
                raise RuntimeError(f"trial {t.number}: config does not hash to its config_uid")
            cells = tuple((int(table), str(row)) for table, row in attrs["cells"])
            run = Run(attrs["config_uid"], attrs["seed"], cfg, cells)
            return _Claim(t.number, trial_id, run)
        return None

    def _duplicate_of(self, claim: _Claim) -> int | None:
        """Another trial already owns this run: COMPLETE, or RUNNING with a lower number."""
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
            same = t.number != claim.number and _key(t) == claim.run.key
            if same and (t.state == TrialState.COMPLETE or t.number < claim.number):
                return t.number
        return None

    def run_forever(self, poll: float = 2.0) -> int:
        """Train until no WAITING trial is left and no RUNNING trial can still fail over."""
        trained = 0
        while True:
            claim = self.claim()
            if claim is None:
                fail_stale_trials(self.study)
                if self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                    continue
                if not self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                    return trained
                time.sleep(poll)
                continue
            trained += self.execute(claim)

    def execute(self, claim: _Claim) -> int:
        run = claim.run
        dup = self._duplicate_of(claim)
        if dup is not None:
            self.storage.set_trial_user_attr(claim.trial_id, "duplicate_of", dup)
            self.study.tell(claim.number, state=TrialState.PRUNED)
            return 0
        self.storage.set_trial_param(claim.trial_id, "seed", float(run.seed), SEED_DISTRIBUTION)
        self.storage.set_trial_user_attr(claim.trial_id, "worker", f"{socket.gethostname()}:{os.getpid()}")
        tags = {
            "suite": self.study.user_attrs.get("suite", ""),
            "preset": self.study.user_attrs.get("preset", ""),
            "tables": run.tables,
            "rows": run.rows,
            "config_uid": run.config_uid,
            "seed": str(run.seed),
            "optuna.trial": str(claim.number),
            "device": self.device_name,
            "torch": str(torch.__version__),
        }
        child = self.tracker.start_child(self.parent_id, run.config, run.name, tags, run.seed)
        self.tracker.mark_failed_attempts(run.config_uid, run.seed, keep=child.run_id)
        self.storage.set_trial_user_attr(claim.trial_id, "mlflow_run_id", child.run_id)
        checkpoint = self.settings.checkpoint_dir / self.settings.study / f"{run.config_uid}-seed{run.seed}.pt"
        start = time.perf_counter()
        try:
            with Heartbeat(self.storage, claim.trial_id, self.settings.heartbeat_interval):
                train_b, test_b = self.data.batches(run.config)
                bar = _bar(self.settings.progress, len(train_b) * run.config.train.epochs, run.name)
                try:
                    outcome = train(
                        run.config, run.seed, train_b, test_b, self.device, checkpoint,
                        on_epoch=child.log_epoch, progress=bar.update if bar else None,
                    )
                finally:
                    if bar:
                        bar.close()
        except KeyboardInterrupt:
            child.finish(False, "interrupted")
            self.study.tell(claim.number, state=TrialState.FAIL)
            raise
        except Exception as err:  # the run fails with its reason; the sweep goes on
            reason = redact(f"{type(err).__name__}: {err}")
            child.finish(False, reason)
            self.storage.set_trial_user_attr(claim.trial_id, "failure", reason)
            self.study.tell(claim.number, state=TrialState.FAIL)
            self.failed += 1
            if self.on_done:
                self.on_done(run, f"FAILED ({reason})", time.perf_counter() - start)
            if not isinstance(err, NonFiniteLoss):
                print(f"run {run.name} failed: {reason}", file=sys.stderr)
            return 0
        child.log_once({"params_m": outcome.params_m, "gflops": outcome.gflops, **{f"final_{k}": v for k, v in outcome.final.items()}})
        if outcome.excitation is not None:
            child.log_json("excitation.json", outcome.excitation)
        if outcome.resumed_from:
            child.tag("resumed_from_epoch", str(outcome.resumed_from))
        child.finish(True)
        self.study.tell(claim.number, outcome.final["val_top1_err"])
        if self.on_done:
            self.on_done(run, f"val top-1 err {outcome.final['val_top1_err']:.2f}%", time.perf_counter() - start)
        return 1


def _bar(enabled: bool, total: int, name: str):
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="step", leave=False, dynamic_ncols=True)


def study_counts(study: optuna.Study, plan: Plan) -> dict[str, int]:
    keys = {r.key for r in plan.runs}
    done = {k for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if (k := _key(t)) in keys}
    failed = {k for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if (k := _key(t)) in keys} - done
    return {"planned": len(keys), "finished": len(done), "failed": len(failed)}
