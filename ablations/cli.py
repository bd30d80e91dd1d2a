"""``run_sweep.py``: plan, launch and join sweeps. Bad input exits 2 before anything is written."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from .errors import ConfigError
from .stopping import STOPPER, Interrupted
from .sweepfile import DEFAULT_SWEEPS
from .urls import redact
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
    from .settings import make_settings

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


def _print_plan(plan, fmt: str, device_name: str) -> None:
    if fmt == "json":
        print(json.dumps(plan.to_json(), indent=1))
        return
    from .engine import resolve_device
    from .estimate import describe_plan

    print(describe_plan(plan, device=resolve_device(device_name)))


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


def _check_inputs(plan, settings) -> None:
    from .data import check_data

    for data_cfg, num_classes in {(cfg.data, cfg.model.num_classes) for cfg in plan.configs.values()}:
        check_data(data_cfg, settings.data_root, num_classes)


def cpu_compile_warning(plan, device_type: str) -> str | None:
    """What ``train.compile`` costs where runs train on the CPU: minutes before each first step."""
    if device_type != "cpu" or not any(cfg.train.compile for cfg in plan.configs.values()):
        return None
    return ("train.compile is on and runs train on the CPU: each run compiles before its first step "
            "(measured on 2 cores: about 45 s for a width-1/8 ResNet-20, 2.5 min for a ResNet-110)")


def _launch(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    study = args.study or f"{plan.sweep.suite}-{plan.sweep.preset}"
    settings = _settings(args, study)
    if args.workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {args.workers}")
    slurm = _slurm_options(args, settings) if args.launcher == "slurm" else None
    if args.dry_run:
        _print_plan(plan, args.format, settings.device)
        if slurm:
            from . import cluster

            ex = cluster.executor(slurm, settings.run_dir.resolve() / "slurm", args.workers, settings.study)
            print(f"\nsbatch script of the array ({count(args.workers, 'task')}; nothing submitted):\n")
            print(cluster.sbatch_script(ex, args.workers))
        return 0
    _check_inputs(plan, settings)
    from . import engine

    # refuses a GPU-less 'auto' where GPUs were handed out (not here for SLURM: the nodes have them)
    device = engine.resolve_device("cpu" if slurm else settings.device)
    storage = engine.make_storage(settings)
    st = engine.open_study(settings, storage, create=True)
    for key, value in {"suite": plan.sweep.suite, "preset": plan.sweep.preset, "seeds": plan.sweep.seeds,
                       "config_file": str(args.config)}.items():
        st.set_user_attr(key, value)
    done, queued = engine.enqueue_missing(st, plan)
    print(f"study {study!r}: {count(len(plan.runs), 'run')} ({count(len(plan.configs), 'configuration')} x "
          f"{count(plan.sweep.seeds, 'seed')}); {done} already finished, {queued} queued")
    warning = cpu_compile_warning(plan, device.type) if args.workers else None
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    parent_tags = {"suite": plan.sweep.suite, "preset": plan.sweep.preset, "seeds": str(plan.sweep.seeds),
                   "git_commit": _git_commit()}
    from .tracking import Tracker, log_plan

    tracker = Tracker(settings.tracking_uri, settings.study, settings.artifact_root)
    parent_id = tracker.parent_run(parent_tags)
    log_plan(tracker, parent_id, plan.to_report_json())
    if slurm and args.workers:
        return _launch_slurm(args, settings, slurm, plan, st, tracker)
    started = time.perf_counter()
    worker_errors: list[str] = []
    if args.workers:
        tracker.set_status(parent_id, "RUNNING")
    try:
        if args.workers == 1:
            _run_inline(settings, plan, done, storage, tracker, parent_tags)
        elif args.workers > 1:
            from .pool import run_workers

            worker_errors = run_workers(args.workers, settings, st, storage)
    except Interrupted as err:
        return _interrupted(err, engine.study_counts(st, plan), tracker, parent_id)
    except engine.DeviceLost as err:
        print(f"error: {err}", file=sys.stderr)
        tracker.set_status(parent_id, "FAILED")
        return 1
    counts = engine.study_counts(st, plan)
    if args.workers:
        tracker.set_status(parent_id, "FAILED" if counts.failed or counts.unfinished else "FINISHED")
    _summary(settings, counts, time.perf_counter() - started, args.workers, tracker.experiment_id)
    for line in worker_errors:
        print(f"warning: {line}", file=sys.stderr)
    # A dead worker's run is retried by the others while they still have work; one left
    # queued or held when no worker is left is finished by a rerun.
    if args.workers and counts.unfinished:
        print(f"error: {count(counts.unfinished, 'run')} left unfinished by a worker that stopped "
              "early; run the same command again to finish them", file=sys.stderr)
    return 1 if counts.failed or (args.workers and counts.unfinished) else 0


def _slurm_options(args: argparse.Namespace, settings):
    from .cluster import SlurmOptions, check
    from .sweepfile import parse_set

    extra = {}
    for item in args.slurm_extra:
        key, value = parse_set(item)
        extra[key.replace("-", "_")] = str(value)
    for flag, value in (("--slurm-time", args.slurm_time), ("--slurm-array-parallelism", args.slurm_array_parallelism),
                        ("--slurm-cpus-per-task", args.slurm_cpus_per_task), ("--slurm-mem-gb", args.slurm_mem_gb)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} must be positive, got {value}")
    options = SlurmOptions(args.slurm_partition, args.slurm_time, args.slurm_gpus_per_task, args.slurm_cpus_per_task,
                           args.slurm_mem_gb, args.slurm_array_parallelism, tuple(args.slurm_setup), extra)
    check(settings, options, args.checkpoint_dir is not None, args.data_root is not None)
    return options


def _launch_slurm(args, settings, options, plan, st, tracker) -> int:
    """Submit the array; with --wait, follow it to the end like a local launch."""
    from . import cluster, engine

    folder = settings.run_dir.resolve() / "slurm"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    worker_argv = ["--study", settings.study, "--run-dir", str(settings.run_dir.resolve()),
                   "--checkpoint-dir", str(Path(settings.checkpoint_dir).resolve()),
                   "--data-root", str(Path(settings.data_root).resolve()), "--device", settings.device,
                   "--heartbeat-interval", str(settings.heartbeat_interval),
                   "--grace-period", str(settings.grace_period), "--no-progress"]
    if settings.threads:
        worker_argv += ["--threads", str(settings.threads)]
    ex = cluster.executor(options, folder, args.workers, settings.study)
    jobs = cluster.submit(ex, worker_argv, args.workers, settings)
    job_id = jobs[0].job_id.split("_")[0]
    st.set_user_attr("slurm_jobs", [*st.user_attrs.get("slurm_jobs", []), job_id])
    print(cluster.announce(job_id, folder, settings, args.workers), flush=True)
    if not args.wait:
        return 0
    started = time.perf_counter()
    cluster.follow(lambda: engine.study_counts(st, plan), job_id)
    counts = engine.study_counts(st, plan)
    _summary(settings, counts, time.perf_counter() - started, args.workers, tracker.experiment_id)
    if counts.unfinished:
        print(f"error: {count(counts.unfinished, 'run')} left unfinished and no task of job {job_id} is left; "
              "run the same command again to finish them", file=sys.stderr)
    return 1 if counts.failed or counts.unfinished else 0


def _interrupted(err: Interrupted, counts, tracker, parent_id: str) -> int:
    """One line on what a signal left, and the shell's exit code for that signal."""
    tracker.set_status(parent_id, "KILLED")
    print(f"\ninterrupted by {err.signal_name}: {counts.finished}/{counts.planned} runs finished; the runs in "
          f"progress stopped at a training step with their checkpoints and were queued again "
          f"({count(counts.unfinished, 'run')} to go); run the same command again to finish them", file=sys.stderr)
    return err.exit_code


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _run_inline(settings, plan, done: int, storage, tracker, parent_tags) -> None:
    from . import engine

    total = len(plan.runs)
    bar = None
    if settings.progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, initial=done, desc="sweep", unit="run", dynamic_ncols=True)
    finished = [done]

    def on_done(run, result: str, seconds: float) -> None:
        finished[0] += 1
        if bar:
            bar.update(1)
            bar.set_postfix_str(f"{run.name}: {result}")
        else:
            print(f"[{finished[0]}/{total}] {run.name}: {result} ({seconds:.1f} s)", flush=True)

    say = bar.write if bar else (lambda line: print(line, flush=True))
    worker = engine.Worker(settings, parent_tags, on_done, storage, tracker, say=say)
    try:
        worker.run_forever()
    finally:
        if bar:
            bar.close()


def _worker(args: argparse.Namespace) -> int:
    if not args.study:
        raise ConfigError("worker: --study is required (the name of an existing study)")
    settings = _settings(args, args.study)
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
    if settings.storage.startswith("sqlite:///") and not Path(settings.storage.removeprefix("sqlite:///")).exists():
        raise ConfigError(f"--storage {redact(settings.storage)}: no such file (give the study's --storage or --run-dir)")
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
    reached = epochs_logged(settings.tracking_uri, [r.mlflow_run_id for r in status.running if r.mlflow_run_id])
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


def _summary(settings, counts, seconds: float, workers: int, experiment_id: str) -> None:
    from .tracking import ui_hint

    print(
        f"\n{counts.finished}/{counts.planned} runs finished, {counts.failed} failed "
        f"({seconds:.0f} s with {count(workers, 'worker')}).\n"
        f"  MLflow:  {ui_hint(settings.tracking_uri, experiment_id, settings.study)}\n"
        f"  Optuna:  {redact(settings.storage)} (study {settings.study!r})\n"
        f"  Report:  python -m report --study {settings.study}"
        + (f" --tracking-uri {redact(settings.tracking_uri)}" if settings.tracking_uri != _default_tracking(settings) else "")
    )


def _default_tracking(settings) -> str:
    """The URI ``python -m report`` uses when given none."""
    from .settings import make_settings

    return make_settings(settings.study).tracking_uri
