"""``run_sweep.py`` (and ``senet-sweep``, ``python -m ablations``): parse the command line and
hand it to its command, a launch, a worker or status (:mod:`.commands`). Bad input exits 2
before anything is written."""

from __future__ import annotations

import sys

from .commands.parsers import launch_parser, status_parser
from .commands.process import exit_now, run_command


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["worker"]:
        from .commands import worker  # heavy (torch, MLflow, Optuna): not for --help

        return worker.main(argv[1:])
    if argv[:1] == ["status"]:
        args = status_parser().parse_args(argv[1:])
        from .commands import status  # heavy: after the parser has answered --help

        return run_command(lambda: status.run(args))
    args = launch_parser().parse_args(argv)
    from .commands import launch  # heavy: after the parser has answered --help

    return run_command(lambda: launch.run(args))


def run() -> None:
    """The console script: :func:`main`, then a quick exit."""
    exit_now(main())
