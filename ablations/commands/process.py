"""What every command does as a process: stop signals handled the graceful way,
bad input one line and exit code 2, a stop signal the shell's exit code."""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable

from ..errors import ConfigError
from ..runtime.outage import EXIT_UNREACHABLE, StoreUnreachable
from ..runtime.stopping import STOPPER, Interrupted
from ..runtime.urls import redact


def run_command(command: Callable[[], int]) -> int:
    """Run ``command`` as this process's work and return its exit code."""
    # Ctrl-C and SIGTERM (timeout, SLURM, systemd, Kubernetes) stop the same graceful way.
    STOPPER.install()
    try:
        return command()
    except ConfigError as err:
        print(f"error: {redact(str(err))}", file=sys.stderr)
        return 2
    except StoreUnreachable as err:  # an outage outlasted the patience: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt as err:
        sig = err.signal_name if isinstance(err, Interrupted) else "SIGINT"
        print(f"\ninterrupted by {sig}: the run in progress keeps its checkpoint and is queued again; "
              "run the same command again to finish what is missing", file=sys.stderr)
        return err.exit_code if isinstance(err, Interrupted) else 130


def exit_now(code: int) -> None:
    """End the process with ``code`` without tearing torch, MLflow and SQLAlchemy down at
    interpreter exit, which takes over a second per process. Exit handlers (MLflow's and
    logging's flushes) still run; only that is skipped."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
