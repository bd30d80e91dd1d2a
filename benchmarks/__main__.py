"""``python -m benchmarks [--quick] [--format text|json] [--device cpu|cuda]``."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

import torch

from .suite import FULL, GPU, QUICK, TINY, dumps, run_all
from .targets import TARGETS, verdicts


def results_path(out_dir: Path, device_type: str, day: dt.date) -> Path:
    """``<device>-<date>.json``, or ``-2``, ``-3``... after it: an earlier run's file is kept."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{'cuda' if device_type == 'cuda' else 'cpu'}-{day.isoformat()}"
    path, n = out_dir / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = out_dir / f"{stem}-{n}.json"
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smaller sizes, about 45 s on 2 CPU cores")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # for the test suite
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--data-root", type=Path, default=Path(os.environ.get("SENET_DATA_ROOT", "data")))
    p.add_argument("--out", type=Path, help="also write the JSON result to this file")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    # On a GPU, the paper's batch sizes (--quick there only skips writing the results file).
    budget = TINY if args.tiny else GPU if device.type == "cuda" else QUICK if args.quick else FULL
    result = run_all(budget, device, args.data_root)
    result["targets"] = verdicts(result, quick=budget in (QUICK, TINY))
    if not (args.quick or args.tiny):
        path = results_path(Path(__file__).resolve().parent / "results", device.type, dt.date.today())
        path.write_text(dumps(result))
        result["written"] = str(path)
    if args.out:
        args.out.write_text(dumps(result))
    if args.format == "json":
        print(dumps(result))
    else:
        print(f"device: {result['device']}, torch {result['torch']}")
        for key in TARGETS:
            value, verdict = result.get(key), result["targets"][key]
            shown = "n/a" if value is None else f"{value:.3f}"
            mark = {True: "met", False: "MISSED", None: ""}[verdict["met"]]
            spread = result.get(f"{key}_spread")
            pairs = f"pairs {spread[0]:.3f}-{spread[1]:.3f}" if spread else ""
            print(f"  {key:<20} {shown:>8}   target {verdict['target']:<8} {mark:<7} {pairs}".rstrip())
        if result.get("vs_timm_note"):
            print(f"  ({result['vs_timm_note']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
