"""``python -m report structure``: the paper's Params/GFLOPs columns from our models.

Builds every row of a suite (default: the paper's) with the ``imagenet`` preset
(SE-ResNet-50, 224x224, 1000 classes, bias-free FCs, r=16 unless the row varies it) and
counts parameters and multiply-adds. No training, no data.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ablations.experiment.config import config_uid
from ablations.experiment.paper import published
from ablations.experiment.sweepfile import default_sweeps, load_yaml, resolve
from senet_core import build_model, structure

from .render import TextTable, fixed, to_markdown


def structure_rows(config: Path | None = None, suite: str = "paper", preset: str = "imagenet") -> list[dict]:
    """``config``: the sweep file (default: ./sweeps.yaml if there is one, else the packaged one)."""
    sweep = resolve(load_yaml(config or default_sweeps()), suite, preset)
    cache: dict[str, tuple[float, float]] = {}
    out = []
    for table in sweep.tables:
        for row in table.rows:
            uid = config_uid(row.config)
            if uid not in cache:
                s = structure(build_model(row.config.model), row.config.data.input_size)
                cache[uid] = (s.params_m, s.gflops)
            ref = published(table.number, row.label)
            out.append({
                "table": table.number,
                "row": row.label,
                "params_m": cache[uid][0],
                "gflops": cache[uid][1],
                "paper_params_m": ref.params_m if ref else None,
                "paper_gflops": ref.gflops if ref else None,
            })
    return out


def table_titles(config: Path | None = None, suite: str = "paper", preset: str = "imagenet") -> dict:
    return {t.number: t.title for t in resolve(load_yaml(config or default_sweeps()), suite, preset).tables}


def structure_markdown(rows: list[dict], titles: dict) -> str:
    tables = []
    notes = []
    for number in dict.fromkeys(r["table"] for r in rows):
        mine = [r for r in rows if r["table"] == number]
        cells = []
        for r in mine:
            cells.append((r["row"], fixed(r["params_m"], 3), fixed(r["paper_params_m"], 1),
                          fixed(r["gflops"], 3), fixed(r["paper_gflops"], 2)))
            p = r["paper_params_m"]
            if p is not None and round(r["params_m"], 1) != p:
                notes.append(f"Table {number} row {r['row']}: exact arithmetic gives {r['params_m']:.2f} M "
                             f"parameters; the paper prints {p}.")
        tables.append(TextTable(
            number, titles.get(number, f"Table {number}"), "",
            ("Row", "Params (M)", "Params (M), paper", "GFLOPs", "GFLOPs, paper"), tuple(cells),
        ))
    text = (
        "# Structure of the suite's rows\n\n"
        "SE-ResNet-50, 224x224 input, 1000 classes, bias-free SE FC layers, r = 16 unless the row "
        "varies it. GFLOPs are multiply-adds, SE pooling and scaling included.\n\n" + to_markdown(tables)
    )
    if notes:
        text += "\n## Where the paper's printed values differ from exact arithmetic\n\n"
        text += "\n".join(f"- {n}" for n in notes) + "\n"
        text += ("\nThe models are not bent to match: the counts above are exact for the "
                 "architectures as the paper defines them.\n")
    return text


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m report structure",
                                description="Params and GFLOPs of the paper's ablation rows, computed from our models.")
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.add_argument("--config", type=Path,
                   help="sweep file (default: ./sweeps.yaml if there is one, else the one the package ships)")
    p.add_argument("--suite", default="paper")
    p.add_argument("--preset", default="imagenet")
    args = p.parse_args(argv)
    rows = structure_rows(args.config, args.suite, args.preset)
    if args.format == "json":
        print(json.dumps(rows, indent=1))
    else:
        print(structure_markdown(rows, table_titles(args.config, args.suite, args.preset)))
    return 0
