"""The launcher interface: where a launch's workers run. A launcher takes the queued study
and the settings, runs or submits the workers, and says what happened; the launch command
chooses one by ``--launcher`` and ``--workers`` (:func:`ablations.launchers.choose`) and knows
nothing else of it, as Hydra's submitit plugin differs by its executor alone."""

from __future__ import annotations

import abc
import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import optuna
from optuna.storages import RDBStorage

from ..engine import Counts, study_counts
from ..experiment.plan import Plan
from ..runtime.outage import storage_patience
from ..runtime.settings import Settings
from ..tracking.writer import Tracker


@dataclass(frozen=True)
class Queued:
    """A launch's study once its runs are queued, and the study's parent run in MLflow."""

    storage: RDBStorage
    study: optuna.Study
    finished_before: int
    tracker: Tracker
    parent_id: str
    parent_tags: dict[str, str]


@dataclass(frozen=True)
class WorkerEntry:
    """How a worker is started, handed down by the command (a launcher never imports one):
    ``command``, the argv that starts a worker process, before its flags; ``main``, a worker
    in the calling process (a SLURM task): its flags -> its exit code."""

    command: Sequence[str]
    main: Callable[[list[str]], int]


@dataclass(frozen=True)
class Launched:
    """What a launcher did. ``counts``: the runs by state once its workers are done, or None
    when it only submitted them (they go on without it); ``warnings``: lines on workers that
    ended badly; ``unfinished``: what to tell of runs left unfinished, when that is an error."""

    counts: Counts | None
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()
    unfinished: str | None = None


class Launcher(abc.ABC):
    """Runs a queued study's workers somewhere. ``workers``: how many (0: none, the study is
    only queued)."""

    def __init__(self, settings: Settings, workers: int, entry: WorkerEntry) -> None:
        self.settings, self.workers, self.entry = settings, workers, entry

    @classmethod
    def from_args(cls, args: argparse.Namespace, settings: Settings, entry: WorkerEntry) -> Launcher:
        """The launcher the command line asks for; refuses what cannot work (one line, exit 2)
        before anything is written."""
        return cls(settings, args.workers, entry)

    @property
    def trains(self) -> bool:
        """Whether this launch trains runs (the study's parent run is RUNNING meanwhile)."""
        return self.workers > 0

    @property
    def device(self) -> str:
        """Where this process checks the device its workers will train on (``cpu`` where the
        workers run elsewhere, on nodes that have their own)."""
        return self.settings.device

    @abc.abstractmethod
    def describe(self) -> str:
        """What :meth:`run` would do: the dry run's closing lines."""

    @abc.abstractmethod
    def run(self, queued: Queued, plan: Plan) -> Launched:
        """Run or submit the workers. Ctrl-C/SIGTERM stop them and propagate
        (:class:`~ablations.runtime.stopping.Interrupted`)."""

    def counts(self, queued: Queued, plan: Plan) -> Counts:
        """The plan's runs by state, waiting out a storage outage."""
        patience = storage_patience(self.settings, lambda line: print(line, flush=True))
        return patience(lambda: study_counts(queued.study, plan))
