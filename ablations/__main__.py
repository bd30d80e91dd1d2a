"""``python -m ablations``: the same as ``run_sweep.py``."""

from .cli import run

run()
