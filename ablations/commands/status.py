"""``run_sweep.py status``: what a study's runs are doing, read from its stores; changes
nothing."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from .. import engine
from ..errors import ConfigError
from ..experiment.plan import table_tag
from ..runtime.outage import storage_patience
from ..runtime.settings import make_settings
from ..runtime.urls import missing, redact, require_existing
from ..tracking.links import runs_view_url, ui_address, ui_hint
from ..tracking.reader import epochs_logged, experiment_id
from ..wording import count


def run(args: argparse.Namespace) -> int:
    settings = make_settings(args.study, run_dir=args.run_dir, storage=args.storage, tracking_uri=args.tracking_uri,
                             storage_patience=args.storage_patience)
    require_existing(settings.storage, "--storage", "give the study's --storage or --run-dir")
    engine.quiet()
    patience = storage_patience(settings, lambda line: print(line, file=sys.stderr, flush=True))
    storage = patience(lambda: engine.make_storage(settings))
    try:
        st = patience(lambda: engine.open_study(settings, storage, create=False))
    except KeyError:
        names = engine.study_names(storage)
        raise ConfigError(f"--study {args.study!r}: no such study in {redact(settings.storage)}; studies there: "
                          f"{', '.join(names) or 'none'}") from None
    status = engine.study_status(st, storage)
    auto = engine.auto_seeds.snapshot(st)
    ids = [r.mlflow_run_id for r in status.running if r.mlflow_run_id]
    tracked = not missing(settings.tracking_uri)
    reached = epochs_logged(settings.tracking_uri, ids) if ids and tracked else {}
    exp_id = experiment_id(settings.tracking_uri, settings.study) if tracked else None
    if args.format == "json":
        out = asdict(status)
        out["counts"] = {s: out["counts"][s] for s in engine.RUN_STATES}  # runs by state; "runs" has the total
        for run in out["running"]:
            run["epochs_done"] = reached.get(run["mlflow_run_id"])
        if auto is not None:
            out["seeds_auto"] = [{"table": t, "row": r, "state": d.state, "paired_seeds": d.comparison.n if d.comparison else 0}
                                 for (t, r), d in auto.decided.items() if d.state is not None]
        out["mlflow_url"] = runs_view_url(exp_id, ui_address(settings.tracking_uri)) if exp_id else None
        print(json.dumps(out, indent=1))
        return 0
    c = status.counts
    print(f"study {status.study!r} ({redact(settings.storage)}): {count(status.runs, 'run')}: {c.finished} finished, "
          f"{c.running} running, {c.queued} queued, {c.failed} failed; "
          f"{status.retried} retried ({count(status.retries, 'retry', 'retries')})")
    for r in status.running:
        done = reached.get(r.mlflow_run_id or "")
        epoch = f"epoch {done}/{r.epochs}" if done is not None and r.epochs else "epoch ?"
        beat = f"heartbeat {r.heartbeat_age:.0f} s ago" if r.heartbeat_age is not None else "no heartbeat"
        print(f"  running: {r.name} (trial {r.trial}), {epoch}, on {r.worker}, {beat}")
    if status.slurm_jobs:
        print(f"  SLURM jobs: {', '.join(status.slurm_jobs)}")
    if exp_id:
        print(f"  MLflow: {ui_hint(settings.tracking_uri, exp_id)}")
    if auto is not None:
        print(f"  {engine.auto_seeds.summary(auto)}")
        for (table, row), d in auto.decided.items():
            if d.state == "open":
                n = d.comparison.n if d.comparison else 0
                print(f"  open: {table_tag(table)} {row}, {count(n, 'paired seed')}")
    return 0
