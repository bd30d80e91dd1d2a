"""``python -m report noise --study A --study B ...``: which source of randomness a difference
must survive. For studies that vary one source each (``run_sweep.py --vary init|order|augment``,
and ``all``), the per-seed standard deviation of each table's reference row: how much of the
seed-to-seed spread comes from the initial weights, the batch order, the augmentation
(Bouthillier et al., "Accounting for variance in machine learning benchmarks", MLSys 2021)."""

from __future__ import annotations

import argparse
import json

from ablations.runtime.settings import make_settings
from ablations.tracking.reader import StudyRuns, read_study

from .render import TextTable, fixed, to_markdown
from .stats import std
from .tables import build_results

SOURCES = ("init", "order", "augment")


def varied(study: StudyRuns) -> str:
    """The sources the study's seeds vary: those its configuration leaves to the run's seed."""
    train = study.plan.base.get("train", {})
    free = [s for s in SOURCES if train.get(f"seed_{s}") is None]
    return "all" if len(free) == len(SOURCES) else ", ".join(free) or "none"


def noise_rows(studies: list[StudyRuns]) -> list[dict]:
    out = []
    for study in studies:
        source = varied(study)
        for t in build_results(study):
            for r in t.rows:
                if r.reference is None and r.status in ("ok", "partial"):
                    out.append({"study": study.study, "varied": source, "table": t.number, "row": r.row, "n": r.n,
                                "std": std(r.top1) if r.n > 1 else None})
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m report noise", description=__doc__.splitlines()[0])
    p.add_argument("--study", action="append", required=True, help="a study (repeat for each source varied)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///runs/mlflow.db)")
    p.add_argument("--format", choices=("md", "json"), default="md")
    args = p.parse_args(argv)
    uri = make_settings(args.study[0], tracking_uri=args.tracking_uri).tracking_uri
    rows = noise_rows([read_study(uri, s) for s in args.study])
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return 0
    cells = tuple((r["varied"], str(r["table"]), r["row"], str(r["n"]), fixed(r["std"], 2), r["study"]) for r in rows)
    print(to_markdown([TextTable("noise", "Per-seed std of each reference row, by the source of randomness varied",
                                 "std: sample standard deviation of top-1 error over the study's seeds, in points.",
                                 ("varied", "table", "reference row", "seeds", "std", "study"), cells, frozenset())]))
    return 0
