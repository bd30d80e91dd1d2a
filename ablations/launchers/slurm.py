"""``--launcher slurm``: the study's workers as one SLURM job array, submitted through submitit.

The launcher creates and queues the study as ``--workers 0`` does, then submits N array
tasks, each running the worker entry point it is handed with the same study, checkpoint and
data folders.
The storage and tracking URLs, passwords included, reach the tasks through the job's
environment (``SENET_STORAGE``, ``MLFLOW_TRACKING_URI``; sbatch passes the submitting
environment on by default), never through the sbatch script, a task's command line or a log.
A task that SLURM stops (``scancel``, preemption, its time limit) gets SIGTERM and hands its
run back to the queue with its checkpoint, as a local worker does.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..experiment.plan import Plan
from ..experiment.sweepfile import parse_set
from ..runtime.flags import worker_argv, worker_env
from ..runtime.settings import Settings
from ..runtime.urls import redact
from ..wording import count
from .base import Launched, Launcher, Queued, WorkerEntry

if TYPE_CHECKING:
    import submitit

Entry = Callable[[list[str]], int]  # a worker's entry point: its flags -> exit code


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    time_min: int = 240
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    array_parallelism: int | None = None
    setup: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


def task(entry: Entry, argv: list[str]) -> int:
    """What each array task runs (``entry`` pickled by reference by submitit)."""
    code = entry(argv)
    if code not in (0, 1):  # 1: some run failed, which the study records; anything else is the task's own failure
        raise SystemExit(code)
    return code


def check(settings: Settings, options: SlurmOptions, checkpoint_given: bool, data_root_given: bool) -> None:
    """Refuse what cannot work on a cluster, before anything is written or submitted."""
    if settings.storage.startswith("sqlite"):
        raise ConfigError("--launcher slurm: --storage is SQLite, whose file lock nodes cannot share safely; "
                          "use PostgreSQL (--storage postgresql://user@db-host/optuna)")
    if settings.tracking_uri.startswith("sqlite"):
        raise ConfigError("--launcher slurm: --tracking-uri is SQLite, which nodes cannot share safely; use an "
                          "MLflow server (http://host:5000) or PostgreSQL")
    for given, flag, path in ((checkpoint_given, "--checkpoint-dir", settings.checkpoint_dir),
                              (data_root_given, "--data-root", settings.data_root)):
        if given and not Path(path).is_dir():
            raise ConfigError(f"{flag} {str(path)!r}: no such folder (it must exist and be shared by the nodes)")
    for program in ("sbatch", "srun", "sinfo"):
        if shutil.which(program) is None:
            raise ConfigError(f"--launcher slurm: {program!r} is not on the PATH (is this a SLURM login node?)")
    if options.partition:
        known = _partitions()
        if options.partition not in known:
            raise ConfigError(f"--slurm-partition {options.partition!r}: no such partition; partitions here: "
                              f"{', '.join(known) or 'none'}")


def _partitions() -> list[str]:
    out = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=60)
    return sorted(set(out.stdout.split()))


class Slurm(Launcher):
    """``--launcher slurm``: one job array of ``workers`` tasks (none with ``--workers 0``)."""

    def __init__(self, settings: Settings, workers: int, entry: WorkerEntry, options: SlurmOptions,
                 wait: bool = False) -> None:
        super().__init__(settings, workers, entry)
        self.options, self.wait = options, wait
        self.folder = settings.run_dir.resolve() / "slurm"

    @classmethod
    def from_args(cls, args: argparse.Namespace, settings: Settings, entry: WorkerEntry) -> Slurm:
        extra = {}
        for item in args.slurm_extra:
            key, value = parse_set(item)
            extra[key.replace("-", "_")] = str(value)
        for flag, value in (("--slurm-time", args.slurm_time), ("--slurm-array-parallelism", args.slurm_array_parallelism),
                            ("--slurm-cpus-per-task", args.slurm_cpus_per_task), ("--slurm-mem-gb", args.slurm_mem_gb)):
            if value is not None and value <= 0:
                raise ConfigError(f"{flag} must be positive, got {value}")
        options = SlurmOptions(args.slurm_partition, args.slurm_time, args.slurm_gpus_per_task,
                               args.slurm_cpus_per_task, args.slurm_mem_gb, args.slurm_array_parallelism,
                               tuple(args.slurm_setup), extra)
        check(settings, options, args.checkpoint_dir is not None, args.data_root is not None)
        return cls(settings, args.workers, entry, options, args.wait)

    @property
    def device(self) -> str:
        return "cpu"  # the nodes have the GPUs, not the login node

    def describe(self) -> str:
        return (f"sbatch script of the array ({count(self.workers, 'task')}; nothing submitted):\n\n"
                + sbatch_script(self.options, self.folder, self.workers, self.settings.study))

    def run(self, queued: Queued, plan: Plan) -> Launched:
        if not self.workers:
            return Launched(self.counts(queued, plan))
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        ex = executor(self.options, self.folder, self.workers, self.settings.study)
        jobs = submit(ex, self.entry.main, worker_argv(self.settings), self.workers, self.settings)
        job_id = jobs[0].job_id.split("_")[0]
        queued.study.set_user_attr("slurm_jobs", [*queued.study.user_attrs.get("slurm_jobs", []), job_id])
        print(announce(job_id, self.folder, self.settings, self.workers), flush=True)
        if not self.wait:
            return Launched(None)
        started = time.perf_counter()
        try:
            follow(lambda: self.counts(queued, plan), job_id)
        except KeyboardInterrupt:  # the tasks go on without a follower
            print(f"\nstopped following job {job_id}; its tasks go on (scancel {job_id} stops them)", file=sys.stderr)
            return Launched(None)
        return Launched(self.counts(queued, plan), time.perf_counter() - started,
                        unfinished=f"left unfinished and no task of job {job_id} is left")


def executor(options: SlurmOptions, folder: Path, workers: int, name: str) -> submitit.SlurmExecutor:
    import submitit  # only a SLURM launch needs it (the GPU check's machine has none)

    ex = submitit.SlurmExecutor(folder=folder / "%j")
    params: dict = {"job_name": name, "time": options.time_min, "array_parallelism": options.array_parallelism or workers}
    for key, value in (("partition", options.partition), ("gpus_per_task", options.gpus_per_task),
                       ("cpus_per_task", options.cpus_per_task)):
        if value is not None:
            params[key] = value
    if options.mem_gb is not None:
        params["mem"] = f"{int(options.mem_gb * 1024)}MB"
    if options.setup:
        params["setup"] = list(options.setup)
    if options.extra:
        params["additional_parameters"] = dict(options.extra)
    try:
        ex.update_parameters(**params)
    except ValueError as err:
        raise ConfigError(f"--slurm-extra: {str(err).splitlines()[0]}") from None
    return ex


@contextlib.contextmanager
def _environment(changes: dict[str, str]) -> Iterator[None]:
    """``changes`` in this process's environment for one submission (sbatch inherits it, and
    submitit has no other way to hand it one), as it was again afterwards."""
    before = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _nothing(_argv: list[str]) -> int:
    return 0


def sbatch_script(options: SlurmOptions, folder: Path, workers: int, name: str) -> str:
    """The script the array would be submitted with, as submitit writes it: a submission
    through submitit's public ``map_array`` into a scratch folder, to an ``sbatch`` there that
    keeps the script and submits nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch, kept = Path(tmp) / "jobs", Path(tmp) / "script.sh"
        fake = Path(tmp) / "bin" / "sbatch"
        fake.parent.mkdir()
        fake.write_text(f'#!/bin/sh\ncp "$1" {shlex.quote(str(kept))}\necho "Submitted batch job 1"\n')
        fake.chmod(0o755)
        ex = executor(options, scratch, workers, name)
        with _environment({"PATH": f"{fake.parent}{os.pathsep}{os.environ.get('PATH', '')}"}):
            ex.map_array(functools.partial(task, _nothing), [[] for _ in range(workers)])
        return kept.read_text().replace(str(scratch), str(folder))


def submit(ex: submitit.SlurmExecutor, entry: Entry, argv: list[str], workers: int, settings: Settings) -> list:
    """Submit ``workers`` tasks, each ``entry(argv)``; the secrets travel in the environment
    the tasks inherit, set for the submission alone."""
    with _environment(worker_env(settings)):
        return ex.map_array(functools.partial(task, entry), [list(argv) for _ in range(workers)])


def alive_tasks(job_id: str) -> int:
    """How many of the array's tasks SLURM still holds (pending or running)."""
    out = subprocess.run(["squeue", "-h", "-r", "-j", job_id, "-o", "%i"], capture_output=True, text=True, timeout=60)
    return len(out.stdout.split()) if out.returncode == 0 else 0


def follow(study_counts, job_id: str, every: float = 10.0) -> None:
    """``--wait``: a progress line whenever it changes, until every run is finished or no task
    of the array is left."""
    last = None
    while True:
        counts = study_counts()
        tasks = alive_tasks(job_id)
        line = (f"{counts.finished}/{counts.planned} finished, {counts.running} running, {counts.queued} queued, "
                f"{counts.failed} failed; {tasks} SLURM tasks of job {job_id} left")
        if line != last:
            print(line, flush=True)
            last = line
        if not counts.unfinished or not tasks:
            return
        time.sleep(every)


def announce(job_id: str, folder: Path, settings: Settings, workers: int) -> str:
    study = settings.study
    storage = redact(settings.storage)
    return (f"submitted SLURM job {job_id}: an array of {workers} worker tasks\n"
            f"  logs:    {folder}/{job_id}_*\n"
            f"  status:  {shlex.quote(sys.executable)} -m ablations status --study {shlex.quote(study)} --storage {shlex.quote(storage)}\n"
            f"  cancel:  scancel {job_id}   (the runs in progress go back to the queue with their checkpoints)")
