#!/usr/bin/env python3
"""Run an SE ablation sweep (see ``python run_sweep.py --help``)."""

from ablations.cli import run

if __name__ == "__main__":
    run()
