"""``run_sweep.py worker``: join an existing study and train its queued runs until none is
left. Also the entry point of the processes and cluster tasks a launch starts
(``python -m ablations.commands.worker``, or :func:`main` in a SLURM task)."""

from __future__ import annotations

import argparse
import sys

from .. import engine
from ..errors import ConfigError
from ..runtime import lifeline
from ..runtime.flags import settings_from_args
from ..runtime.stopping import Interrupted
from ..runtime.urls import redact, require_existing
from ..training.device import EXIT_DEVICE_LOST, DeviceLost
from ..wording import count
from .parsers import worker_parser
from .process import exit_now, run_command

COMMAND = (sys.executable, "-m", "ablations.commands.worker")  # what starts a worker process, before its flags


def main(argv: list[str]) -> int:
    """A worker process: its flags -> its exit code."""
    args = worker_parser().parse_args(argv)
    return run_command(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    if not args.study:
        raise ConfigError("worker: --study is required (the name of an existing study)")
    settings = settings_from_args(args, args.study)
    require_existing(settings.storage, "--storage", "queue the study first, or give its --storage or --run-dir")
    engine.quiet()
    lifeline.watch()  # started by a launcher: stop, as on SIGTERM, when it dies
    try:
        worker = engine.Worker(settings, on_done=lambda run, result, s: print(f"{run.name}: {result} ({s:.1f} s)", flush=True),
                               say=lambda line: print(line, flush=True), report_waits=not args.no_wait_report)
    except KeyError:
        raise ConfigError(f"--study {args.study!r}: no such study in {redact(settings.storage)}") from None
    try:
        trained = worker.run_forever()
    except DeviceLost as err:
        print(f"worker stopped: {err}", file=sys.stderr, flush=True)
        return EXIT_DEVICE_LOST
    except Interrupted as err:
        print(f"worker stopped by {err.signal_name}: its run in progress keeps its checkpoint and is queued again",
              flush=True)
        return err.exit_code
    print(f"worker done: trained {count(trained, 'run')}, {worker.failed} failed")
    return 1 if worker.failed else 0


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
