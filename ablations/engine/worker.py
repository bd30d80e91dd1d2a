"""A worker: claims queued runs of one study, trains them, and tells Optuna and MLflow.

Exactly once, whatever ends a worker:
- a claim is preceded and followed by a heartbeat, so a worker that dies holding a run is
  always noticed (:mod:`.liveness` retries the run after the grace period);
- a run that an earlier attempt finished in MLflow before its worker died is completed from
  that result, with no second MLflow run;
- Ctrl-C or SIGTERM stops training at the next step with the checkpoint saved, marks the
  MLflow run KILLED and queues the run again at once (:meth:`Worker.execute`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from senet_core import structure

from ..errors import ConfigError
from ..experiment.config import ExperimentConfig, config_uid
from ..experiment.plan import Run
from ..experiment.schema import parse
from ..runtime.outage import storage_patience, tracking_patience
from ..runtime.settings import Settings
from ..runtime.stopping import STOPPER, Interrupted
from ..runtime.urls import redact
from ..tracking.writer import ChildRun, Tracker
from ..training.data import DataCache
from ..training.device import DeviceLost, allotted_cpus, device_name, is_device_error, resolve_device
from ..training.trainer import NonFiniteLoss, Stopped, finish_checkpoint, init_model, train
from . import auto_seeds
from .liveness import WaitReporter, fail_stale
from .store import SEED_DISTRIBUTION, make_storage, open_study, requeue, run_key, run_states

IdleStep = Literal["again", "done", "wait"]  # runs were queued; none is left; others still train

# How long a stopping worker waits for MLflow to take a run's KILLED status: when the
# launcher dies, its tracking server dies with it, and MLflow's client would retry for minutes.
MLFLOW_ON_STOP_S = 10.0


@dataclass(frozen=True)
class _Claim:
    number: int
    trial_id: int
    run: Run | None  # None until the trial's attributes are read


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


def _run_of(attrs: dict) -> Run:
    """The run a trial's user attributes describe; its config must hash to its config_uid."""
    cfg = parse(ExperimentConfig, attrs["config"])
    if config_uid(cfg) != attrs["config_uid"]:
        raise ValueError(f"its config hashes to {config_uid(cfg)}, not to its config_uid {attrs['config_uid']} "
                         "(queued by a version of the project whose configurations differ from this one's)")
    cells = tuple((table, str(row)) for table, row in attrs["cells"])
    return Run(attrs["config_uid"], attrs["seed"], cfg, cells)


def _with_timeout(fn: Callable[[], object], seconds: float) -> None:
    """Run ``fn`` in a daemon thread, ignoring its errors, and wait for it at most ``seconds``."""

    def quiet() -> None:
        with contextlib.suppress(Exception):
            fn()

    thread = threading.Thread(target=quiet, daemon=True)
    thread.start()
    thread.join(seconds)


class Worker:
    """Claims WAITING trials of one study and trains them until none are left."""

    def __init__(self, settings: Settings, parent_tags: dict[str, str] | None = None,
                 on_done: Callable[[Run, str, float], None] | None = None,
                 storage: RDBStorage | None = None, tracker: Tracker | None = None,
                 say: Callable[[str], None] | None = print, report_waits: bool = True) -> None:
        """``storage`` and ``tracker``: the launcher's own, when the worker runs in its process
        (opening each store again costs about a second). ``say`` prints retries and, when
        ``report_waits``, what the worker waits for once nothing is left to claim."""
        self.settings = settings
        self.say = say or (lambda _line: None)
        # From the first connection on, an outage is waited out (a worker started while the
        # database restarts, a SLURM task requeued during a failover).
        self.patience = storage_patience(settings, self.say)
        self.storage = storage or self.patience(lambda: make_storage(settings))
        self.study = self.patience(lambda: open_study(settings, self.storage, create=False))
        self.study_id = self.patience(lambda: self.storage.get_study_id_from_name(settings.study))
        self.study_attrs = self.study.user_attrs  # suite and preset, for the MLflow tags
        tracking = tracking_patience(settings, self.say)
        self.tracker = tracker or tracking(lambda: Tracker(settings.tracking_uri, settings.study, settings.artifact_root))
        self.parent_id = tracking(lambda: self.tracker.parent_run(parent_tags or {}))
        self.device = resolve_device(settings.device)
        threads = settings.threads or allotted_cpus()
        if threads:
            torch.set_num_threads(threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.data = DataCache(settings.data_root, settings.cache_dir, self.device)
        self.device_name = device_name(self.device)
        self.on_done = on_done
        self.waits = WaitReporter(self.study, self.storage, settings.grace_period,
                                  settings.heartbeat_interval) if report_waits else None
        self.failed = 0
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._held: _Claim | None = None  # the trial claimed and not yet told or handed back
        self._child: ChildRun | None = None  # its MLflow run while one is open

    def claim(self) -> _Claim | None:
        """Claim a WAITING trial: from then on this worker holds it until it tells Optuna how
        it ended or hands it back (:meth:`run_forever`)."""
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, t.number)
            # Beat before claiming: a worker that dies right after its claim still leaves a
            # heartbeat to go stale (a beat on a trial another worker wins is harmless).
            self.storage.record_heartbeat(trial_id)
            # A stop signal landing between the claim and the record of it would leave the
            # trial RUNNING until its heartbeat went stale: it waits for the record.
            with STOPPER.deferred():
                try:
                    if not self.storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                        continue
                except RuntimeError:  # finished meanwhile (e.g. pruned as a duplicate)
                    continue
                self._held = _Claim(t.number, trial_id, None)
            STOPPER.check()
            # Claimed: from here an outage is waited out, so that the hold is never dropped.
            self.patience(lambda: self.storage.record_heartbeat(trial_id))  # noqa: B023 - called at once
            self._set(trial_id, "worker", self.name)
            try:
                run = _run_of(t.user_attrs)
            except (ConfigError, KeyError, TypeError, ValueError) as err:
                # Queued by another version of the project, or edited by hand: this run fails
                # with the reason; the worker goes on with the others.
                self._reject(t.number, trial_id, f"trial {t.number} cannot be run here: {err}")
                continue
            self._held = _Claim(t.number, trial_id, run)
            return self._held
        return None

    def _set(self, trial_id: int, key: str, value: object) -> None:
        """A user attribute of a held trial, waiting out a storage outage."""
        self.patience(lambda: self.storage.set_trial_user_attr(trial_id, key, value))

    def _settle(self, number: int, value: float | None = None, state: TrialState | None = None) -> None:
        """Tell Optuna how the held trial ended, waiting out a storage outage; a stop signal
        cannot come between the telling and the forgetting of the hold."""

        def tell() -> None:
            with STOPPER.deferred():
                self.study.tell(number, value, state=state)
                self._held = self._child = None

        self.patience(tell)

    def _extend(self) -> None:
        """``--seeds auto``: with this run's result, queue the seeds the open rows need (a
        study of fixed seeds, known at start, costs no look at the store)."""
        if auto_seeds.ATTR in self.study_attrs and (line := self.patience(lambda: auto_seeds.extend(self.study))):
            self.say(line)

    def _reject(self, number: int, trial_id: int, reason: str) -> None:
        self._set(trial_id, "failure", reason)
        self._settle(number, state=TrialState.FAIL)
        self.failed += 1
        print(f"error: {reason}", file=sys.stderr, flush=True)

    def _duplicate_of(self, claim: _Claim) -> int | None:
        """Another trial already owns this run: COMPLETE, or RUNNING with a lower number."""
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
            same = t.number != claim.number and run_key(t) == claim.run.key
            if same and (t.state == TrialState.COMPLETE or t.number < claim.number):
                return t.number
        return None

    def run_forever(self, poll: float = 2.0) -> int:
        """Train until no WAITING trial is left and no RUNNING trial can still fail over.

        Ctrl-C or SIGTERM: training stops at its next step with the checkpoint saved, and the
        trial this worker holds, if any, is handed back (:meth:`_hand_back`)."""
        trained = 0
        try:
            while True:
                STOPPER.check()
                claim = self.patience(self.claim)
                if claim is not None:
                    trained += self.execute(claim)
                    continue
                step = self.patience(self._idle_step)
                if step == "done":
                    return trained
                if step == "wait":
                    time.sleep(poll)
        except (KeyboardInterrupt, Stopped) as err:
            sig = err.signal_name if isinstance(err, Interrupted) else (STOPPER.signal_name or "SIGINT")
            if self._held is not None:
                self._hand_back(sig)
            raise Interrupted(sig) from None

    def _idle_step(self) -> IdleStep:
        """Nothing to claim: retry lost runs, then ``again`` (runs were queued), ``done`` (none
        is left, held or queued) or ``wait`` (others still train)."""
        for line in fail_stale(self.study, self.storage, self.settings.grace_period, self.settings.max_retry):
            self.say(line)
        if self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return "again"
        if not self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self._end_parent()
            return "done"
        if self.waits and (report := self.waits.due()):
            self.say(report)
        return "wait"

    def _end_parent(self) -> None:
        """Nothing is queued or held: the study's parent run ends, FAILED if a run failed for
        good, else FINISHED, whoever finished the last run (this worker, a hand-started one,
        a SLURM task; a launch that queues more sets it RUNNING again)."""
        failed = "failed" in run_states(self.study).values()
        try:
            self.tracker.set_status(self.parent_id, "FAILED" if failed else "FINISHED")
        except Exception as err:  # the study's result is in Optuna; its display can wait for a rerun
            self.say(f"warning: could not end the study's MLflow parent run: {redact(str(err))[:200]}")

    def execute(self, claim: _Claim) -> bool:
        """Train a claimed run; True if it trained to the end."""
        dup = self.patience(lambda: self._duplicate_of(claim))
        if dup is not None:
            self._set(claim.trial_id, "duplicate_of", dup)
            self._settle(claim.number, state=TrialState.PRUNED)
            return False
        if self._complete_from_mlflow(claim):
            return False
        self._child = self._start_child(claim)
        return self._train(claim, self._child)

    def _complete_from_mlflow(self, claim: _Claim) -> bool:
        """An earlier attempt finished in MLflow and its worker died before telling Optuna:
        complete the trial with that result rather than train and log the run a second time."""
        found = self.tracker.finished_attempt(claim.run.config_uid, claim.run.seed)
        if found is None:
            return False
        run_id, err = found
        self._set(claim.trial_id, "mlflow_run_id", run_id)
        self._set(claim.trial_id, "recovered", "an earlier attempt had finished in MLflow")
        self._settle(claim.number, err)
        self._extend()
        finish_checkpoint(self._checkpoint(claim.run), self.settings.final_checkpoint)
        if self.on_done:
            self.on_done(claim.run, f"val top-1 err {err:.2f}%, from an earlier attempt that finished in MLflow", 0.0)
        return True

    def _checkpoint(self, run) -> Path:
        return self.settings.checkpoint_dir / self.settings.study / f"{run.config_uid}-seed{run.seed}.pt"

    def _start_child(self, claim: _Claim) -> ChildRun:
        run = claim.run
        self.patience(lambda: self.storage.set_trial_param(claim.trial_id, "seed", float(run.seed), SEED_DISTRIBUTION))
        tags = {
            "suite": self.study_attrs.get("suite", ""),
            "preset": self.study_attrs.get("preset", ""),
            "tables": run.tables,
            "rows": run.rows,
            "config_uid": run.config_uid,
            "seed": str(run.seed),
            "optuna.trial": str(claim.number),
            "device": self.device_name,
            "torch": str(torch.__version__),
        }
        child = self.tracker.start_child(self.parent_id, run, tags)
        self.tracker.mark_failed_attempts(run.config_uid, run.seed, keep=child.run_id)
        self._set(claim.trial_id, "mlflow_run_id", child.run_id)
        return child

    def _train(self, claim: _Claim, child: ChildRun) -> bool:
        run = claim.run
        checkpoint = self._checkpoint(run)
        start = time.perf_counter()
        try:
            with Heartbeat(self.storage, claim.trial_id, self.settings.heartbeat_interval):
                train_b, test_b = self.data.batches(run.config.data)
                child.log_datasets(b.identity for b in (train_b, test_b) if b.identity is not None)
                model = init_model(run.config, run.seed)
                counted = structure(model, run.config.data.input_size)
                bar = _bar(self.settings.progress, len(train_b) * run.config.train.epochs, run.name)
                try:
                    with STOPPER.deferred():
                        outcome = train(
                            run.config, run.seed, train_b, test_b, self.device, checkpoint,
                            on_epoch=lambda epoch, metrics: self._log_epoch(child, epoch, metrics),
                            progress=bar.update if bar else None,
                            should_stop=lambda: STOPPER.requested, model=model,
                        )
                finally:
                    if bar:
                        bar.close()
        except (KeyboardInterrupt, Stopped):
            raise
        except Exception as err:  # the run fails with its reason; the sweep goes on
            reason = redact(f"{type(err).__name__}: {err}")
            child.finish("FAILED", reason)
            self._set(claim.trial_id, "failure", reason)
            self._settle(claim.number, state=TrialState.FAIL)
            self.failed += 1
            if self.on_done:
                self.on_done(run, f"FAILED ({reason})", time.perf_counter() - start)
            if not isinstance(err, NonFiniteLoss):
                print(f"run {run.name} failed: {reason}", file=sys.stderr)
            if is_device_error(err):
                raise DeviceLost(f"{reason}; this worker stops (its CUDA context is unusable), others take "
                                 "the remaining runs") from err
            return False
        child.log_once({"params_m": counted.params_m, "gflops": counted.gflops, **{f"final_{k}": v for k, v in outcome.final.items()}})
        if outcome.excitation is not None:
            child.log_json("excitation.json", outcome.excitation)
        if outcome.resumed_from:
            child.tag("resumed_from_epoch", str(outcome.resumed_from))
        child.finish()
        # From here a hand-back leaves the MLflow run FINISHED; a retry completes from it.
        self._child = None
        # Hours of training end here: a store that is briefly down must not lose the result.
        self._settle(claim.number, outcome.final["val_top1_err"])
        self._extend()
        finish_checkpoint(checkpoint, self.settings.final_checkpoint)
        if self.on_done:
            self.on_done(run, f"val top-1 err {outcome.final['val_top1_err']:.2f}%", time.perf_counter() - start)
        return True

    @staticmethod
    def _log_epoch(child: ChildRun, epoch: int, metrics: dict[str, float]) -> None:
        """The epoch's checkpoint is saved before it is logged, so a stop may abandon the
        logging: a tracking server that died with the launcher would hold it in retries for
        minutes, past the lifeline's hard exit, and leave the run RUNNING."""
        with STOPPER.interruptible():
            child.log_epoch(epoch, metrics)

    def _hand_back(self, signal_name: str) -> None:
        """Fail the held trial and queue its run again at once, so another worker (or the next
        launch) resumes it from its checkpoint; its MLflow run, if one was started, becomes
        KILLED."""
        claim, child = self._held, self._child
        self._held = self._child = None
        reason = f"interrupted by {signal_name}; queued again, resumes from its checkpoint"
        with contextlib.suppress(Exception):
            self.storage.set_trial_user_attr(claim.trial_id, "failure", reason)
            self.study.tell(claim.number, state=TrialState.FAIL)
            trial = self.storage.get_trial(claim.trial_id)
            requeue(self.study, trial, reason, lost=False, max_retry=self.settings.max_retry)
        if child is not None:
            _with_timeout(lambda: child.finish("KILLED", reason), MLFLOW_ON_STOP_S)


def _bar(enabled: bool, total: int, name: str):
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm  # only on a terminal

    return tqdm(total=total, desc=name, unit="step", leave=False, dynamic_ncols=True)

