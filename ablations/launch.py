"""A launch: queue the plan's runs, then train them here, in local worker processes, or as a
SLURM job array, and say what happened. Bad input is refused before anything is written."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from .errors import ConfigError
from .settings import worker_flags
from .stopping import Interrupted
from .urls import redact
from .wording import count


def print_plan(plan, fmt: str, device_name: str) -> None:
    if fmt == "json":
        print(json.dumps(plan.to_json(), indent=1))
        return
    from .engine import resolve_device
    from .estimate import describe_plan

    print(describe_plan(plan, device=resolve_device(device_name)))


def check_inputs(plan, settings) -> None:
    from .data import check_data

    for data_cfg, num_classes in {(cfg.data, cfg.model.num_classes) for cfg in plan.configs.values()}:
        check_data(data_cfg, settings.data_root, num_classes)


def cpu_compile_warning(plan, device_type: str) -> str | None:
    """What ``train.compile`` costs where runs train on the CPU: minutes before each first step."""
    if device_type != "cpu" or not any(cfg.train.compile for cfg in plan.configs.values()):
        return None
    return ("train.compile is on and runs train on the CPU: each run compiles before its first step "
            "(measured on 2 cores: about 45 s for a width-1/8 ResNet-20, 2.5 min for a ResNet-110)")


def launch(args: argparse.Namespace, plan, settings) -> int:
    """Queue the plan's runs in the study and train them: in this process (``--workers 1``),
    in local worker processes, or as a SLURM job array; or only queue them (``--workers 0``)."""
    if args.workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {args.workers}")
    slurm = _slurm_options(args, settings) if args.launcher == "slurm" else None
    if args.dry_run:
        print_plan(plan, args.format, settings.device)
        if slurm:
            from . import cluster

            ex = cluster.executor(slurm, settings.run_dir.resolve() / "slurm", args.workers, settings.study)
            print(f"\nsbatch script of the array ({count(args.workers, 'task')}; nothing submitted):\n")
            print(cluster.sbatch_script(ex, args.workers))
        return 0
    check_inputs(plan, settings)
    from . import engine

    # refuses a GPU-less 'auto' where GPUs were handed out (not here for SLURM: the nodes have them)
    device = engine.resolve_device("cpu" if slurm else settings.device)
    storage = engine.make_storage(settings)
    st = engine.open_study(settings, storage, create=True)
    for key, value in {"suite": plan.sweep.suite, "preset": plan.sweep.preset, "seeds": plan.sweep.seeds,
                       "config_file": str(args.config)}.items():
        st.set_user_attr(key, value)
    done, queued = engine.enqueue_missing(st, plan)
    print(f"study {settings.study!r}: {count(len(plan.runs), 'run')} ({count(len(plan.configs), 'configuration')} x "
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
    # The sweep may end while the study's database is briefly away: its counts wait for it too.
    patience = engine.Patience(lambda line: print(line, flush=True))

    def counts_now():
        return patience(lambda: engine.study_counts(st, plan))

    started = time.perf_counter()
    worker_errors: list[str] = []
    if args.workers:
        tracker.set_status(parent_id, "RUNNING")
    from .pool import run_workers
    from .tracking import ServerLost

    try:
        if args.workers == 1:
            _run_inline(settings, plan, done, storage, tracker, parent_tags)
        elif args.workers > 1:
            worker_errors = run_workers(args.workers, settings, st, storage)
    except Interrupted as err:
        return _interrupted(err, counts_now(), tracker, parent_id)
    except (engine.DeviceLost, ServerLost) as err:
        print(f"error: {err}", file=sys.stderr)
        tracker.set_status(parent_id, "FAILED")
        return 1
    counts = counts_now()
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
    ex = cluster.executor(options, folder, args.workers, settings.study)
    jobs = cluster.submit(ex, worker_flags(settings), args.workers, settings)
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


def _summary(settings, counts, seconds: float, workers: int, experiment_id: str) -> None:
    from .tracking import ui_hint

    print(
        f"\n{counts.finished}/{counts.planned} runs finished, {counts.failed} failed "
        f"({seconds:.0f} s with {count(workers, 'worker')}).\n"
        f"  MLflow:  {ui_hint(settings.tracking_uri, experiment_id, settings.study)}\n"
        f"  Optuna:  {redact(settings.storage)} (study {settings.study!r})\n"
        f"  Report:  python -m report --study {shlex.quote(settings.study)}"
        + (f" --tracking-uri {shlex.quote(redact(settings.tracking_uri))}" if settings.tracking_uri != _default_tracking(settings) else "")
    )


def _default_tracking(settings) -> str:
    """The URI ``python -m report`` uses when given none."""
    from .settings import make_settings

    return make_settings(settings.study).tracking_uri
