"""Where a launch's workers run, behind one interface (:class:`.base.Launcher`): this process
(:mod:`.inprocess`), local processes (:mod:`.local`), a SLURM job array (:mod:`.slurm`).
A new place is one module and one entry in :data:`LAUNCHERS`. A launcher is handed the
worker's entry point; it never imports a command."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..errors import ConfigError
from ..runtime.settings import Settings
from .base import Launched, Launcher, Queued, WorkerEntry
from .inprocess import InProcess
from .local import LocalProcesses
from .slurm import Slurm

Factory = Callable[[argparse.Namespace, Settings, WorkerEntry], Launcher]


def _local(args: argparse.Namespace, settings: Settings, entry: WorkerEntry) -> Launcher:
    """One worker trains in the launching process; more are processes of their own."""
    return (InProcess if args.workers == 1 else LocalProcesses).from_args(args, settings, entry)


LAUNCHERS: dict[str, Factory] = {"local": _local, "slurm": Slurm.from_args}  # --launcher's choices


def choose(args: argparse.Namespace, settings: Settings, entry: WorkerEntry) -> Launcher:
    """The launcher ``--launcher`` and ``--workers`` ask for; the only place that chooses."""
    if args.workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {args.workers}")
    if args.launcher not in LAUNCHERS:
        raise ConfigError(f"--launcher {args.launcher!r}: valid choices: {', '.join(LAUNCHERS)}")
    return LAUNCHERS[args.launcher](args, settings, entry)


__all__ = ["LAUNCHERS", "InProcess", "Launched", "Launcher", "LocalProcesses", "Queued", "Slurm", "WorkerEntry", "choose"]
