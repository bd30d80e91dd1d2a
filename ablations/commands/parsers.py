"""The command lines of ``run_sweep.py``, ``run_sweep.py worker`` and ``run_sweep.py status``.
Runtime flags come from the settings' fields (:mod:`ablations.runtime.flags`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..launchers import LAUNCHERS
from ..runtime.flags import STATUS_FLAGS, add_flags

VARY = ("all", "init", "order", "augment")


def seeds_arg(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'auto', got {text!r}") from None


def launch_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_sweep.py",
        description="Run an SE ablation sweep: every row of a suite, once per seed, tracked in MLflow.",
    )
    p.add_argument("--config", type=Path,
                   help="sweep file (default: ./sweeps.yaml if there is one, else the one the package ships)")
    p.add_argument("--suite", default="paper", help="suite in the sweep file (default: paper)")
    p.add_argument("--preset", default="smoke", help="preset in the sweep file (default: smoke)")
    p.add_argument("--seeds", type=seeds_arg, help="seeds per configuration (default: the preset's), or auto: add "
                   "seeds until each row's comparison with its reference is decided")
    p.add_argument("--vary", choices=VARY, default="all",
                   help="the source of randomness that differs between seeds: init (initial weights), order "
                        "(batch order), augment (augmentation draws), or all (default); the others stay fixed")
    p.add_argument("--min-seeds", type=int, help="--seeds auto: the seeds every configuration starts with (default 3)")
    p.add_argument("--max-seeds", type=int, help="--seeds auto: the most seeds a configuration gets (default 8)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. model.se.reduction=8 (repeatable)")
    p.add_argument("--workers", type=int, default=1,
                   help="local worker processes, or SLURM array tasks (0: only create and queue the study)")
    p.add_argument("--launcher", choices=tuple(LAUNCHERS), default="local",
                   help="where the workers run: local processes, or one SLURM job array (submitit)")
    p.add_argument("--wait", action="store_true", help="--launcher slurm: follow the study until it is done")
    g = p.add_argument_group("SLURM (--launcher slurm)")
    g.add_argument("--slurm-partition")
    g.add_argument("--slurm-time", type=int, default=240, help="minutes per task (default 240)")
    g.add_argument("--slurm-gpus-per-task", type=int)
    g.add_argument("--slurm-cpus-per-task", type=int)
    g.add_argument("--slurm-mem-gb", type=float)
    g.add_argument("--slurm-array-parallelism", type=int, help="tasks running at once (default: all)")
    g.add_argument("--slurm-setup", action="append", default=[], metavar="LINE",
                   help="shell line run before the worker, e.g. 'module load cuda' (repeatable)")
    g.add_argument("--slurm-extra", action="append", default=[], metavar="KEY=VALUE",
                   help="any other sbatch option, e.g. account=proj or qos=high (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument("--format", choices=("text", "json"), default="text")
    add_flags(p)
    return p


def worker_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_sweep.py worker", description="Join an existing study and train its queued runs.")
    add_flags(p)
    # The launcher of local workers reports what they wait for itself, once for all of them.
    p.add_argument("--no-wait-report", action="store_true", help=argparse.SUPPRESS)
    return p


def status_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_sweep.py status",
                                description="What a study's runs are doing: queued, running, finished, failed, retried. "
                                            "Reads the stores and changes nothing.")
    add_flags(p, STATUS_FLAGS, required=("study",))
    p.add_argument("--format", choices=("text", "json"), default="text")
    return p
