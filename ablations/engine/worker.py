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

import torch
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from senet_core import structure

from ..config import ExperimentConfig, config_uid
from ..data import FolderBatches, TensorBatches, TensorSplit, load_split
from ..errors import ConfigError
from ..plan import Run
from ..schema import parse
from ..settings import Settings
from ..stopping import STOPPER, Interrupted
from ..tracking import ChildRun, Tracker
from ..trainer import NonFiniteLoss, Stopped, finish_checkpoint, init_model, train
from ..urls import redact
from .liveness import WaitReporter, fail_stale
from .outage import Patience
from .store import SEED_DISTRIBUTION, make_storage, open_study, requeue, run_key

# How long a stopping worker waits for MLflow to take a run's KILLED status: when the
# launcher dies, its tracking server dies with it, and MLflow's client would retry for minutes.
MLFLOW_ON_STOP_S = 10.0


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


def allotted_cpus() -> int | None:
    """The CPUs a scheduler gave this task (SLURM's --cpus-per-task), so that tasks sharing a
    node do not each start a thread per core: oversubscribed, their training steps ran 5-10
    times slower (seen: two 1-CPU SLURM tasks on a 2-core node)."""
    value = os.environ.get("SLURM_CPUS_PER_TASK")
    return int(value) if value and value.isdigit() else None


def resolve_device(name: str) -> torch.device:
    """``auto``: the GPU when there is one; but when the launcher (or a scheduler) handed this
    process GPUs through CUDA_VISIBLE_DEVICES and none is usable, refuse rather than train on
    the CPU without a word."""
    if name == "auto":
        handed = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        if torch.cuda.is_available():
            name = "cuda"
        elif handed and handed != "-1":
            raise ConfigError(f"--device auto: CUDA_VISIBLE_DEVICES={handed} but no GPU is usable here "
                              "(driver, or a device list this process cannot see); use --device cpu to train on the CPU")
        else:
            name = "cpu"
    return torch.device(name)


class DeviceLost(RuntimeError):
    """A CUDA error poisoned this process's context: every later run would fail here."""


def is_device_error(err: BaseException) -> bool:
    """A CUDA error (a device-side assert, an illegal access): the context cannot be used again."""
    accelerator_error = getattr(torch, "AcceleratorError", ())
    return isinstance(err, accelerator_error) or (isinstance(err, RuntimeError) and "CUDA error" in str(err))


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
        self.storage = storage or make_storage(settings)
        self.study = open_study(settings, self.storage, create=False)
        self.study_id = self.storage.get_study_id_from_name(settings.study)
        self.tracker = tracker or Tracker(settings.tracking_uri, settings.study, settings.artifact_root)
        self.parent_id = self.tracker.parent_run(parent_tags or {})
        self.device = resolve_device(settings.device)
        threads = settings.threads or allotted_cpus()
        if threads:
            torch.set_num_threads(threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.data = DataCache(settings, self.device)
        self.device_name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        self.on_done = on_done
        self.say = say or (lambda _line: None)
        self.patience = Patience(self.say)
        self.waits = WaitReporter(self.study, self.storage, settings.grace_period,
                                  settings.heartbeat_interval) if report_waits else None
        self.failed = 0
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def claim(self) -> _Claim | None:
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, t.number)
            # Beat before claiming: a worker that dies right after its claim still leaves a
            # heartbeat to go stale (a beat on a trial another worker wins is harmless).
            self.storage.record_heartbeat(trial_id)
            try:
                if not self.storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                    continue
            except RuntimeError:  # finished meanwhile (e.g. pruned as a duplicate)
                continue
            self.storage.record_heartbeat(trial_id)
            self.storage.set_trial_user_attr(trial_id, "worker", self.name)
            try:
                run = _run_of(t.user_attrs)
            except (ConfigError, KeyError, TypeError, ValueError) as err:
                # Queued by another version of the project, or edited by hand: this run fails
                # with the reason; the worker goes on with the others.
                self._reject(t.number, trial_id, f"trial {t.number} cannot be run here: {err}")
                continue
            return _Claim(t.number, trial_id, run)
        return None

    def _reject(self, number: int, trial_id: int, reason: str) -> None:
        self.storage.set_trial_user_attr(trial_id, "failure", reason)
        self.study.tell(number, state=TrialState.FAIL)
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
        """Train until no WAITING trial is left and no RUNNING trial can still fail over."""
        trained = 0
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

    def _idle_step(self) -> str:
        """Nothing to claim: retry lost runs, then ``again`` (runs were queued), ``done`` (none
        is left, held or queued) or ``wait`` (others still train)."""
        for line in fail_stale(self.study, self.storage, self.settings.grace_period, self.settings.max_retry):
            self.say(line)
        if self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return "again"
        if not self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            return "done"
        if self.waits and (report := self.waits.due()):
            self.say(report)
        return "wait"

    def execute(self, claim: _Claim) -> int:
        """Train a claimed run; returns 1 if it trained to the end, else 0."""
        child: ChildRun | None = None
        try:
            dup = self._duplicate_of(claim)
            if dup is not None:
                self.storage.set_trial_user_attr(claim.trial_id, "duplicate_of", dup)
                self.study.tell(claim.number, state=TrialState.PRUNED)
                return 0
            if self._complete_from_mlflow(claim):
                return 0
            child = self._start_child(claim)
            return self._train(claim, child)
        except (KeyboardInterrupt, Stopped) as err:
            sig = err.signal_name if isinstance(err, Interrupted) else (STOPPER.signal_name or "SIGINT")
            self._hand_back(claim, child, sig)
            raise Interrupted(sig) from None

    def _complete_from_mlflow(self, claim: _Claim) -> bool:
        """An earlier attempt finished in MLflow and its worker died before telling Optuna:
        complete the trial with that result rather than train and log the run a second time."""
        found = self.tracker.finished_attempt(claim.run.config_uid, claim.run.seed)
        if found is None:
            return False
        run_id, err = found
        self.storage.set_trial_user_attr(claim.trial_id, "mlflow_run_id", run_id)
        self.storage.set_trial_user_attr(claim.trial_id, "recovered", "an earlier attempt had finished in MLflow")
        self.study.tell(claim.number, err)
        finish_checkpoint(self._checkpoint(claim.run), self.settings.final_checkpoint)
        if self.on_done:
            self.on_done(claim.run, f"val top-1 err {err:.2f}%, from an earlier attempt that finished in MLflow", 0.0)
        return True

    def _checkpoint(self, run) -> Path:
        return self.settings.checkpoint_dir / self.settings.study / f"{run.config_uid}-seed{run.seed}.pt"

    def _start_child(self, claim: _Claim) -> ChildRun:
        run = claim.run
        self.storage.set_trial_param(claim.trial_id, "seed", float(run.seed), SEED_DISTRIBUTION)
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
        return child

    def _train(self, claim: _Claim, child: ChildRun) -> int:
        run = claim.run
        checkpoint = self._checkpoint(run)
        start = time.perf_counter()
        try:
            with Heartbeat(self.storage, claim.trial_id, self.settings.heartbeat_interval):
                train_b, test_b = self.data.batches(run.config)
                model = init_model(run.config, run.seed)
                shape = structure(model, run.config.data.input_size)
                bar = _bar(self.settings.progress, len(train_b) * run.config.train.epochs, run.name)
                try:
                    with STOPPER.deferred():
                        outcome = train(
                            run.config, run.seed, train_b, test_b, self.device, checkpoint,
                            on_epoch=child.log_epoch, progress=bar.update if bar else None,
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
            self.storage.set_trial_user_attr(claim.trial_id, "failure", reason)
            self.study.tell(claim.number, state=TrialState.FAIL)
            self.failed += 1
            if self.on_done:
                self.on_done(run, f"FAILED ({reason})", time.perf_counter() - start)
            if not isinstance(err, NonFiniteLoss):
                print(f"run {run.name} failed: {reason}", file=sys.stderr)
            if is_device_error(err):
                raise DeviceLost(f"{reason}; this worker stops (its CUDA context is unusable), others take "
                                 "the remaining runs") from err
            return 0
        child.log_once({"params_m": shape.params_m, "gflops": shape.gflops, **{f"final_{k}": v for k, v in outcome.final.items()}})
        if outcome.excitation is not None:
            child.log_json("excitation.json", outcome.excitation)
        if outcome.resumed_from:
            child.tag("resumed_from_epoch", str(outcome.resumed_from))
        child.finish()
        # Hours of training end here: a store that is briefly down must not lose the result.
        self.patience(lambda: self.study.tell(claim.number, outcome.final["val_top1_err"]))
        finish_checkpoint(checkpoint, self.settings.final_checkpoint)
        if self.on_done:
            self.on_done(run, f"val top-1 err {outcome.final['val_top1_err']:.2f}%", time.perf_counter() - start)
        return 1

    def _hand_back(self, claim: _Claim, child: ChildRun | None, signal_name: str) -> None:
        """Fail the interrupted trial and queue its run again at once, so another worker (or
        the next launch) resumes it from its checkpoint; the MLflow run becomes KILLED."""
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
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="step", leave=False, dynamic_ncols=True)

