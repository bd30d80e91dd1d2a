"""``run_sweep.py``: parse the command line and dispatch to a launch (:mod:`.launch`), a
worker, or status. Bad input exits 2 before anything is written."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import ConfigError
from .settings import FINAL_CHECKPOINT, Settings
from .stopping import STOPPER, Interrupted
from .sweepfile import DEFAULT_SWEEPS
from .urls import missing, redact, require_existing
from .wording import count


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--study", help="study name (default: <suite>-<preset>)")
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///<run-dir>/optuna.db)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///<run-dir>/mlflow.db)")
    p.add_argument("--run-dir", type=Path, help="home of the default stores, artifacts, checkpoints (default: ./runs)")
    p.add_argument("--checkpoint-dir", type=Path, help="checkpoints, shared by all workers (default: <run-dir>/checkpoints)")
    p.add_argument("--data-root", type=Path, help="datasets folder (default: $SENET_DATA_ROOT or ./data)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--threads", type=int, help="torch CPU threads per worker")
    p.add_argument("--heartbeat-interval", type=int, default=10, help="seconds between heartbeats")
    p.add_argument("--grace-period", type=int, default=40, help="seconds without heartbeat before a run is retried")
    p.add_argument("--final-checkpoint", choices=FINAL_CHECKPOINT, default=Settings.final_checkpoint,
                   help="what is kept of a finished run's checkpoint (default: weights, as <uid>-seed<N>.weights.pt)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_sweep.py",
        description="Run an SE ablation sweep: every row of a suite, once per seed, tracked in MLflow.",
    )
    p.add_argument("--config", type=Path, default=DEFAULT_SWEEPS, help="sweep file (default: sweeps.yaml)")
    p.add_argument("--suite", default="paper", help="suite in the sweep file (default: paper)")
    p.add_argument("--preset", default="smoke", help="preset in the sweep file (default: smoke)")
    p.add_argument("--seeds", type=int, help="seeds per configuration (default: the preset's)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. model.se.reduction=8 (repeatable)")
    p.add_argument("--workers", type=int, default=1,
                   help="local worker processes, or SLURM array tasks (0: only create and queue the study)")
    p.add_argument("--launcher", choices=("local", "slurm"), default="local",
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
    _common(p)
    return p


def build_worker_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_sweep.py worker", description="Join an existing study and train its queued runs.")
    _common(p)
    # The launcher of local workers reports what they wait for itself, once for all of them.
    p.add_argument("--no-wait-report", action="store_true", help=argparse.SUPPRESS)
    return p


def build_status_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_sweep.py status",
                                description="What a study's runs are doing: queued, running, finished, failed, retried. "
                                            "Reads the stores and changes nothing.")
    p.add_argument("--study", required=True)
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///<run-dir>/optuna.db)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI, for the epoch each running run has reached")
    p.add_argument("--run-dir", type=Path, help="home of the default stores (default: ./runs)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    return p


def _settings(args: argparse.Namespace, study: str):
    from .settings import check_study_name, make_settings

    check_study_name(study)

    return make_settings(
        study,
        run_dir=args.run_dir,
        storage=args.storage,
        tracking_uri=args.tracking_uri,
        data_root=args.data_root,
        checkpoint_dir=args.checkpoint_dir,
        device=args.device,
        threads=args.threads,
        heartbeat_interval=args.heartbeat_interval,
        grace_period=args.grace_period,
        final_checkpoint=args.final_checkpoint,
        progress=not args.no_progress,
    )


def plan_from_args(args: argparse.Namespace):
    from .plan import make_plan
    from .sweepfile import load_yaml, parse_set, resolve

    data = load_yaml(args.config)
    sets = dict(parse_set(s) for s in args.sets)
    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds must be an integer >= 1, got {args.seeds}")
    return make_plan(resolve(data, args.suite, args.preset, sets, args.seeds))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Ctrl-C and SIGTERM (timeout, SLURM, systemd, Kubernetes) stop the same graceful way.
    STOPPER.install()
    try:
        if argv[:1] == ["worker"]:
            return _worker(build_worker_parser().parse_args(argv[1:]))
        if argv[:1] == ["status"]:
            return _status(build_status_parser().parse_args(argv[1:]))
        return _launch(build_parser().parse_args(argv))
    except ConfigError as err:
        print(f"error: {redact(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        sig = err.signal_name if isinstance(err, Interrupted) else "SIGINT"
        print(f"\ninterrupted by {sig}: the run in progress keeps its checkpoint and is queued again; "
              "run the same command again to finish what is missing", file=sys.stderr)
        return err.exit_code if isinstance(err, Interrupted) else 130


def _launch(args: argparse.Namespace) -> int:
    from .launch import launch

    plan = plan_from_args(args)
    return launch(args, plan, _settings(args, args.study or f"{plan.sweep.suite}-{plan.sweep.preset}"))


def _worker(args: argparse.Namespace) -> int:
    if not args.study:
        raise ConfigError("worker: --study is required (the name of an existing study)")
    settings = _settings(args, args.study)
    require_existing(settings.storage, "--storage", "queue the study first, or give its --storage or --run-dir")
    from . import engine
    from .lifeline import watch

    watch()  # started by a launcher: stop, as on SIGTERM, when it dies
    try:
        worker = engine.Worker(settings, on_done=lambda run, result, s: print(f"{run.name}: {result} ({s:.1f} s)", flush=True),
                               say=lambda line: print(line, flush=True), report_waits=not args.no_wait_report)
    except KeyError:
        raise ConfigError(f"--study {args.study!r}: no such study in {redact(settings.storage)}") from None
    try:
        trained = worker.run_forever()
    except engine.DeviceLost as err:
        print(f"worker stopped: {err}", file=sys.stderr, flush=True)
        return 3
    except Interrupted as err:
        print(f"worker stopped by {err.signal_name}: its run in progress keeps its checkpoint and is queued again",
              flush=True)
        return err.exit_code
    print(f"worker done: trained {count(trained, 'run')}, {worker.failed} failed")
    return 1 if worker.failed else 0


def _status(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .settings import make_settings

    settings = make_settings(args.study, run_dir=args.run_dir, storage=args.storage, tracking_uri=args.tracking_uri)
    require_existing(settings.storage, "--storage", "give the study's --storage or --run-dir")
    from . import engine
    from .tracking import epochs_logged

    storage = engine.make_storage(settings)
    try:
        st = engine.open_study(settings, storage, create=False)
    except KeyError:
        names = engine.study_names(storage)
        raise ConfigError(f"--study {args.study!r}: no such study in {redact(settings.storage)}; studies there: "
                          f"{', '.join(names) or 'none'}") from None
    status = engine.study_status(st, storage)
    ids = [r.mlflow_run_id for r in status.running if r.mlflow_run_id]
    reached = epochs_logged(settings.tracking_uri, ids) if ids and not missing(settings.tracking_uri) else {}
    if args.format == "json":
        out = asdict(status)
        for run in out["running"]:
            run["epochs_done"] = reached.get(run["mlflow_run_id"])
        print(json.dumps(out, indent=1))
        return 0
    c = status.counts
    print(f"study {status.study!r} ({redact(settings.storage)}): {count(status.runs, 'run')}: {c['finished']} finished, "
          f"{c['running']} running, {c['queued']} queued, {c['failed']} failed; "
          f"{status.retried} retried ({count(status.retries, 'retry', 'retries')})")
    for r in status.running:
        done = reached.get(r.mlflow_run_id or "")
        epoch = f"epoch {done}/{r.epochs}" if done is not None and r.epochs else "epoch ?"
        beat = f"heartbeat {r.heartbeat_age:.0f} s ago" if r.heartbeat_age is not None else "no heartbeat"
        print(f"  running: {r.name} (trial {r.trial}), {epoch}, on {r.worker}, {beat}")
    if status.slurm_jobs:
        print(f"  SLURM jobs: {', '.join(status.slurm_jobs)}")
    return 0


