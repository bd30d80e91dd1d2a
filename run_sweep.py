#!/usr/bin/env python3
"""Run an SE ablation sweep (see ``python run_sweep.py --help``)."""

import atexit
import os
import sys

from ablations.cli import main

if __name__ == "__main__":
    code = main()
    # Tearing down torch, MLflow and SQLAlchemy at interpreter exit takes over a second per
    # process. Exit handlers (MLflow's and logging's flushes) still run; only that is skipped.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
