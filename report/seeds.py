"""How many seeds a study needs: ``python -m report seeds --study NAME [--gap POINTS] [--power 0.8]``.

For each table, the per-seed standard deviation of top-1 error pooled over its rows (those
with two or more seeds) says how noisy one run is; from it, for each row against its
reference: the seeds per row needed to detect the gap we observed and the gap the paper
reports, at the table's most stringent Holm level (alpha over its number of comparisons)
with the given power, and the smallest gap the seeds at hand can resolve.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass

from ablations.errors import ConfigError
from ablations.runtime.settings import make_settings
from ablations.tracking.reader import read_study
from ablations.wording import count

from .render import fixed
from .stats import ALPHA, pooled_std, resolvable_gap, seeds_needed
from .tables import TableResult, build_results

DEFAULT_POWER = 0.8


@dataclass(frozen=True)
class RowPlan:
    row: str
    reference: str
    observed_gap: float | None  # |our mean - the reference's|, points
    seeds_for_observed: int | None
    paper_gap: float | None  # |paper row - paper reference|
    seeds_for_paper: int | None
    seeds_for_gap: int | None  # for the gap asked for with --gap


@dataclass(frozen=True)
class TablePlan:
    table: int | str
    title: str
    seeds: int  # seeds per row in the study
    std: float | None  # pooled per-seed standard deviation, points
    dof: int
    comparisons: int
    alpha: float  # the level each comparison is planned at
    resolvable: float | None  # smallest gap the study's seeds resolve
    rows: tuple[RowPlan, ...]


def plan_seeds(results: list[TableResult], seeds: int, power: float = DEFAULT_POWER,
               gap: float | None = None) -> list[TablePlan]:
    plans = []
    for t in results:
        by_label = {r.row: r for r in t.rows}
        compared = [r for r in t.rows if r.reference is not None]
        m = max(1, len(compared))
        alpha = ALPHA / m
        pooled = pooled_std([r.top1 for r in t.rows])
        sd, dof = pooled if pooled else (None, 0)
        rows = []
        for r in compared:
            ref = by_label.get(r.reference)
            observed = abs(r.mean("top1") - ref.mean("top1")) if r.top1 and ref and ref.top1 else None
            paper = (abs(r.paper.top1_err - ref.paper.top1_err)
                     if r.paper and ref and ref.paper and r.paper.top1_err is not None
                     and ref.paper.top1_err is not None else None)

            need = [seeds_needed(g, sd, alpha, power) if g is not None and sd else None for g in (observed, paper, gap)]
            rows.append(RowPlan(r.row, r.reference, observed, need[0], paper, need[1], need[2]))
        resolvable = resolvable_gap(seeds, sd, alpha, power) if sd else None
        plans.append(TablePlan(t.number, t.title, seeds, sd, dof, len(compared), alpha, resolvable, tuple(rows)))
    return plans


PAGE_COLUMNS = ("Row", "vs", "our gap", "seeds for it", "paper gap", "seeds for it")


def describe(p: TablePlan) -> str:
    if p.std is None:
        return "No row has two finished seeds yet: the noise cannot be estimated."
    return (f"Per-seed std {p.std:.2f} points (pooled, {count(p.dof, 'degree')} of freedom); "
            f"{count(p.comparisons, 'comparison')}, each planned at {p.alpha:.4f}; with {count(p.seeds, 'seed')} the "
            f"smallest gap resolvable is {fixed(p.resolvable)} points.")


def page_rows(p: TablePlan) -> list[tuple[str, ...]]:
    return [(r.row, r.reference, fixed(r.observed_gap), fixed(r.seeds_for_observed, 0), fixed(r.paper_gap),
             fixed(r.seeds_for_paper, 0)) for r in p.rows]


def one_seed_message(study: str) -> str:
    return (f"Study {study!r} has one seed per run, so the noise between seeds cannot be estimated and no "
            "seed count can be computed. Run at least 2 seeds (3 give a usable first estimate), e.g. "
            "`python run_sweep.py ... --seeds 3` (finished seeds are kept), then ask again.")


def intro(power: float) -> str:
    return (f"Seeds per row to detect a gap in mean top-1 error with {power:.0%} power: two-sided two-sample "
            f"t-test at each table's most stringent Holm level ({ALPHA} over its comparisons), from the "
            "per-seed standard deviation pooled over the table's rows. The paper's gaps are measured against "
            "this study's noise: what it would take to see them with this setup.")


def to_text(plans: list[TablePlan], power: float, gap: float | None) -> str:
    out = [intro(power)]
    for p in plans:
        out.append(f"\nTable {p.table}: {p.title}")
        out.append(f"  {describe(p)}")
        if p.std is None:
            continue
        head = ["row", "vs", "our gap", "seeds", "paper gap", "seeds"] + ([f"seeds for {gap:g}"] if gap else [])
        lines = [head] + [[r.row, r.reference, fixed(r.observed_gap), fixed(r.seeds_for_observed, 0),
                           fixed(r.paper_gap), fixed(r.seeds_for_paper, 0)] + ([fixed(r.seeds_for_gap, 0)] if gap else [])
                          for r in p.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        for line in lines:
            out.append("  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths,
                                                                                                         strict=True))))
    return "\n".join(out)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m report seeds", description=__doc__.splitlines()[0])
    p.add_argument("--study", required=True)
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///runs/mlflow.db)")
    p.add_argument("--gap", type=float, help="also: seeds to detect this gap, in points of top-1 error")
    p.add_argument("--power", type=float, default=DEFAULT_POWER, help="power to detect each gap (default 0.8)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    args = p.parse_args(argv)
    if not 0 < args.power < 1:
        raise ConfigError(f"--power must be between 0 and 1, got {args.power}")
    if args.gap is not None and args.gap <= 0:
        raise ConfigError(f"--gap must be a positive number of points, got {args.gap}")
    study = read_study(make_settings(args.study, tracking_uri=args.tracking_uri).tracking_uri, args.study)
    seeds = study.plan.seeds
    if seeds < 2:
        print(one_seed_message(args.study))
        return 0
    plans = plan_seeds(build_results(study), seeds, args.power, args.gap)
    print(json.dumps([asdict(p) for p in plans], indent=1) if args.format == "json" else to_text(plans, args.power, args.gap))
    return 0

