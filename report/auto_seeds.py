"""``python -m report sequential --simulate``: the anytime-valid comparison of ``--seeds auto``
(:mod:`ablations.experiment.auto_seeds`) against the error it must not make, by simulation.

Two normal populations (sd 0.3 points, as per-seed top-1 errors), a look after every seed
from 2 to ``max_seeds``: with no true difference, how often a difference is declared at some
look (at most alpha, whatever the looks), and with a true gap of one sd, how many seeds it
takes. Beside it, the same looks with Welch's t-test at p < alpha, the mistake it replaces.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from scipy import stats

from ablations.experiment.auto_seeds import ALPHA, first_resolved


def simulate(reps: int = 2000, max_seeds: int = 30, sd: float = 0.3, alpha: float = ALPHA, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)

    def firsts(gap: float) -> list[int | None]:
        d = rng.normal(gap, sd, (reps, max_seeds)) - rng.normal(0.0, sd, (reps, max_seeds))
        return [first_resolved(row.tolist(), alpha) for row in d]

    null, gap = firsts(0.0), firsts(sd)
    took = sorted(math.inf if n is None else n for n in gap)
    median = took[len(took) // 2] if len(took) % 2 else (took[len(took) // 2 - 1] + took[len(took) // 2]) / 2
    return {
        "alpha": alpha,
        "false_positive_rate": sum(n is not None for n in null) / reps,
        "reps": reps,
        "median_seeds_gap_1sd": None if math.isinf(median) else median,
        "resolved_gap_1sd": sum(n is not None for n in gap) / reps,
        "max_seeds": max_seeds,
        "sd": sd,
        "welch_every_seed_false_positive_rate": _welch_every_seed(rng, reps, max_seeds, sd, alpha),
    }


def _welch_every_seed(rng: np.random.Generator, reps: int, max_seeds: int, sd: float, alpha: float) -> float:
    """Welch's test after every seed from 3 on, stopping at the first p < alpha, no difference."""
    a, b = rng.normal(0.0, sd, (2, reps, max_seeds))
    declared = np.zeros(reps, dtype=bool)
    for n in range(3, max_seeds + 1):
        va, vb = a[:, :n].var(1, ddof=1) / n, b[:, :n].var(1, ddof=1) / n
        t = (a[:, :n].mean(1) - b[:, :n].mean(1)) / np.sqrt(va + vb)
        df = (va + vb) ** 2 / (va ** 2 / (n - 1) + vb ** 2 / (n - 1))
        declared |= 2 * stats.t.sf(np.abs(t), df) < alpha
    return float(declared.mean())


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m report sequential", description=__doc__.splitlines()[0])
    p.add_argument("--simulate", action="store_true", required=True, help="run the simulation")
    p.add_argument("--reps", type=int, default=2000)
    p.add_argument("--max-seeds", type=int, default=30)
    p.add_argument("--seed", type=int, default=0, help="the simulation's random seed")
    p.add_argument("--format", choices=("text", "json"), default="text")
    args = p.parse_args(argv)
    out = simulate(args.reps, args.max_seeds, seed=args.seed)
    if args.format == "json":
        print(json.dumps(out, indent=1))
        return 0
    median = out["median_seeds_gap_1sd"]
    print(f"{out['reps']} simulated comparisons, a look after every seed from 2 to {out['max_seeds']}:\n"
          f"  no true difference: a difference declared in {out['false_positive_rate']:.1%} (alpha {out['alpha']}); "
          f"Welch's t-test at every seed: {out['welch_every_seed_false_positive_rate']:.1%}\n"
          f"  a true gap of one sd: resolved in {out['resolved_gap_1sd']:.0%} within {out['max_seeds']} seeds, "
          f"median {'more than ' + str(out['max_seeds']) if median is None else median} seeds")
    return 0
