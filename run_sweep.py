#!/usr/bin/env python3
"""Run an SE ablation sweep (see ``python run_sweep.py --help``)."""

import sys

from ablations.cli import main

if __name__ == "__main__":
    sys.exit(main())
