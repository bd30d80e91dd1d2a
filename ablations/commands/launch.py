"""``run_sweep.py``: a launch. Queue the plan's runs, then train them here, in local worker
processes, or as a SLURM job array, and say what happened. Bad input is refused before
anything is written."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .. import engine
from ..errors import ConfigError
from ..experiment.auto_seeds import AutoSeeds
from ..experiment.plan import Plan, make_plan
from ..experiment.sweepfile import default_sweeps, load_yaml, parse_set, resolve
from ..launchers import Launched, Launcher, Queued, WorkerEntry, choose
from ..runtime.flags import settings_from_args
from ..runtime.outage import storage_patience, tracking_patience
from ..runtime.provenance import short, source_commit
from ..runtime.settings import Settings, make_settings
from ..runtime.stopping import Interrupted
from ..runtime.urls import redact
from ..tracking.links import ui_hint
from ..tracking.notes import experiment_note
from ..tracking.server import ServerLost
from ..tracking.writer import Tracker, log_plan
from ..training.build_check import check_builds
from ..training.data import check_data
from ..training.device import DeviceLost, resolve_device
from ..training.estimate import describe_plan
from ..wording import count
from . import worker

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

WORKER = WorkerEntry(worker.COMMAND, worker.main)  # what a launcher starts its workers with


def run(args: argparse.Namespace) -> int:
    args.config = args.config or default_sweeps()  # resolved once: the plan's source, recorded with the study
    plan = plan_from_args(args)
    vary = "" if args.vary == "all" else f"-vary-{args.vary}"
    settings = settings_from_args(args, args.study or f"{plan.sweep.suite}-{plan.sweep.preset}{vary}")
    engine.quiet()
    return launch(args, plan, settings)


def plan_from_args(args: argparse.Namespace) -> Plan:
    data = load_yaml(args.config)
    # --vary X: the other sources of randomness fixed (seed 0) for every run, before --set.
    sets = {f"train.seed_{source}": 0 for source in ("init", "order", "augment") if args.vary not in ("all", source)}
    sets.update(parse_set(s) for s in args.sets)
    auto = None
    if args.seeds == "auto":
        bounds = {"min_seeds": args.min_seeds, "max_seeds": args.max_seeds}
        auto = AutoSeeds(**{k: v for k, v in bounds.items() if v is not None})
    elif args.min_seeds is not None or args.max_seeds is not None:
        raise ConfigError("--min-seeds and --max-seeds apply to --seeds auto; give that, or --seeds N alone")
    elif args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds must be an integer >= 1 or 'auto', got {args.seeds}")
    seeds = auto.min_seeds if auto else args.seeds
    return make_plan(resolve(data, args.suite, args.preset, sets, seeds), auto)


def launch(args: argparse.Namespace, plan: Plan, settings: Settings) -> int:
    """Plan, check, queue, run the launcher, say what happened: the runs train in this
    process (``--workers 1``), in local worker processes, or as a SLURM job array, or are only
    queued (``--workers 0``)."""
    launcher = choose(args, settings, WORKER)
    # Every configuration is built and counted before anything is queued: a network that
    # cannot be would otherwise fail every one of its runs, on a cluster after the queue wait.
    structures = check_builds(plan)
    if args.dry_run:
        if args.format == "json":
            print(json.dumps(plan.to_json(), indent=1))
        else:
            print(describe_plan(plan, device=resolve_device(settings.device), structures=structures))
            print(f"\n{launcher.describe()}")
        return 0
    check_inputs(plan, settings)
    # Refuses a GPU-less 'auto' where GPUs were handed out.
    device = resolve_device(launcher.device)
    queued = queue(plan, settings, args.config)
    if launcher.trains and (warning := cpu_compile_warning(plan, device.type)):
        print(f"warning: {warning}", file=sys.stderr)
    return run_launcher(launcher, settings, plan, queued)


def check_inputs(plan: Plan, settings: Settings) -> None:
    for data_cfg, num_classes in {(cfg.data, cfg.model.num_classes) for cfg in plan.configs.values()}:
        check_data(data_cfg, settings.data_root, num_classes)


def cpu_compile_warning(plan: Plan, device_type: str) -> str | None:
    """What ``train.compile`` costs where runs train on the CPU: minutes before each first step."""
    if device_type != "cpu" or not any(cfg.train.compile for cfg in plan.configs.values()):
        return None
    return ("train.compile is on and runs train on the CPU: each run compiles before its first step "
            "(measured on 2 cores: about 45 s for a width-1/8 ResNet-20, 2.5 min for a ResNet-110)")


def queue(plan: Plan, settings: Settings, config_file: Path | Traversable) -> Queued:
    """Create or open the study, queue every planned run it has not finished, and open the
    study's parent run in MLflow with the plan the report reads."""
    def say(line: str) -> None:
        print(line, flush=True)

    patience, tracking = storage_patience(settings, say), tracking_patience(settings, say)
    storage = patience(lambda: engine.make_storage(settings))
    st = patience(lambda: engine.open_study(settings, storage, create=True))
    seeds = "auto" if plan.auto_seeds else plan.sweep.seeds
    for key, value in {"suite": plan.sweep.suite, "preset": plan.sweep.preset, "seeds": seeds,
                       "config_file": str(config_file)}.items():
        st.set_user_attr(key, value)
    done, queued = engine.enqueue_missing(st, plan)
    if plan.auto_seeds:
        a = plan.auto_seeds
        engine.auto_seeds.record(st, plan)
        print(f"study {settings.study!r}: {count(len(plan.configs), 'configuration')} x {a.min_seeds} to "
              f"{a.max_seeds} seeds (auto: more only where a row is undecided); {done} already finished, {queued} queued")
        if line := engine.auto_seeds.extend(st):  # a relaunch continues where the study stopped
            print(line)
    else:
        print(f"study {settings.study!r}: {count(len(plan.runs), 'run')} ({count(len(plan.configs), 'configuration')} x "
              f"{count(plan.sweep.seeds, 'seed')}); {done} already finished, {queued} queued")
    parent_tags = {"suite": plan.sweep.suite, "preset": plan.sweep.preset, "seeds": str(seeds),
                   "git_commit": short(source_commit())}
    tracker = tracking(lambda: Tracker(settings.tracking_uri, settings.study, settings.artifact_root))
    tracker.describe(experiment_note(plan, settings.study))
    parent_id = tracker.parent_run(parent_tags)
    log_plan(tracker, parent_id, plan.to_report_json())
    if queued:  # more work: the parent runs until whoever finishes the last run ends it
        tracker.set_status(parent_id, "RUNNING")
    return Queued(storage, st, done, tracker, parent_id, parent_tags)


def run_launcher(launcher: Launcher, settings: Settings, plan: Plan, q: Queued) -> int:
    """Run the launcher and say what happened; the exit code says whether every run finished."""
    if launcher.trains:
        q.tracker.set_status(q.parent_id, "RUNNING")
    try:
        done = launcher.run(q, plan)
    except Interrupted as err:
        return _interrupted(err, launcher.counts(q, plan), q)
    except (DeviceLost, ServerLost) as err:
        print(f"error: {err}", file=sys.stderr)
        q.tracker.set_status(q.parent_id, "FAILED")
        return 1
    if done.counts is None:  # submitted; the workers go on, and end the parent run themselves
        return 0
    return _summary(launcher, settings, plan, q, done)


def _interrupted(err: Interrupted, counts: engine.Counts, q: Queued) -> int:
    """One line on what a signal left, and the shell's exit code for that signal."""
    q.tracker.set_status(q.parent_id, "KILLED")
    print(f"\ninterrupted by {err.signal_name}: {counts.finished}/{counts.planned} runs finished; the runs in "
          f"progress stopped at a training step with their checkpoints and were queued again "
          f"({count(counts.unfinished, 'run')} to go); run the same command again to finish them", file=sys.stderr)
    return err.exit_code


def _summary(launcher: Launcher, settings: Settings, plan: Plan, q: Queued, done: Launched) -> int:
    counts = done.counts
    if launcher.trains:
        q.tracker.set_status(q.parent_id, "FAILED" if counts.failed or counts.unfinished else "FINISHED")
    default_tracking = make_settings(settings.study).tracking_uri  # what ``python -m report`` uses when given none
    print(
        f"\n{counts.finished}/{counts.planned} runs finished, {counts.failed} failed "
        f"({done.seconds:.0f} s with {count(launcher.workers, 'worker')}).\n"
        f"  MLflow:  {ui_hint(settings.tracking_uri, q.tracker.experiment_id)}\n"
        f"  Optuna:  {redact(settings.storage)} (study {settings.study!r})\n"
        f"  Report:  python -m report --study {shlex.quote(settings.study)}"
        + (f" --tracking-uri {shlex.quote(redact(settings.tracking_uri))}" if settings.tracking_uri != default_tracking else "")
    )
    patience = storage_patience(settings, lambda line: print(line, flush=True))
    if plan.auto_seeds and (auto := patience(lambda: engine.auto_seeds.snapshot(q.study))):
        print(f"  {engine.auto_seeds.summary(auto)}")
    for line in done.warnings:
        print(f"warning: {line}", file=sys.stderr)
    # A dead worker's run is retried by the others while they still have work; one left
    # queued or held when no worker is left is finished by a rerun.
    unfinished = bool(done.unfinished and counts.unfinished)
    if unfinished:
        print(f"error: {count(counts.unfinished, 'run')} {done.unfinished}; run the same command again to finish "
              "them", file=sys.stderr)
    return 1 if counts.failed or unfinished else 0
