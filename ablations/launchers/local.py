"""``--workers N``: local worker processes, watched until they finish, stopped on a signal
(``--workers 0``: none; the study is only queued, for workers started elsewhere).

Each worker holds a lifeline to the launcher (:mod:`ablations.runtime.lifeline`), so it stops (checkpoint,
run queued again) when the launcher dies, SIGKILL included. With a SQLite tracking store the
workers log through one ``mlflow server`` started here on 127.0.0.1, so no worker ever waits
on a locked SQLite file; it ends with the launcher too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence

import optuna
import torch
from optuna.storages import RDBStorage

from ..engine import WaitReporter
from ..experiment.plan import Plan
from ..runtime import lifeline
from ..runtime.flags import worker_argv, worker_env
from ..runtime.outage import storage_patience
from ..runtime.settings import Settings
from ..tracking.server import MlflowServer, ServerLost
from ..training.device import EXIT_DEVICE_LOST
from ..wording import count
from .base import Launched, Launcher, Queued

REPORT_EVERY_S = 5.0  # how often the launcher looks at the study while its workers train


class LocalProcesses(Launcher):
    def describe(self) -> str:
        if not self.workers:
            return "launcher: none; the runs are queued for workers started elsewhere (run_sweep.py worker)"
        threads = worker_threads(self.settings, self.workers)
        server = (", logging through an mlflow server on 127.0.0.1 in front of the SQLite tracking store"
                  if self.settings.tracking_uri.startswith("sqlite") else "")
        return f"launcher: {count(self.workers, 'local worker process', 'local worker processes')}, " \
               f"{count(threads, 'torch thread')} each{server}"

    def run(self, queued: Queued, plan: Plan) -> Launched:
        if not self.workers:
            return Launched(self.counts(queued, plan))
        started = time.perf_counter()
        errors = run_workers(self.workers, self.settings, queued.study, queued.storage, self.entry.command)
        return Launched(self.counts(queued, plan), time.perf_counter() - started, tuple(errors),
                        "left unfinished by a worker that stopped early")


def run_workers(n: int, settings: Settings, study: optuna.Study, storage: RDBStorage,
                entry: Sequence[str]) -> list[str]:
    """Run ``n`` workers (``entry``: the command that starts one, before its flags) to the
    end; returns a line for each worker that ended with an error (it printed its own
    traceback). Ctrl-C/SIGTERM stop them all and propagate."""
    server = None
    tracking = settings.tracking_uri
    if tracking.startswith("sqlite"):
        server = MlflowServer(tracking, settings.artifact_root, settings.run_dir / "mlflow-server.log").start()
        tracking = server.url
    gpus = gpu_slots(os.environ.get("CUDA_VISIBLE_DEVICES"), torch.cuda.device_count()) if settings.device != "cpu" else []
    threads = worker_threads(settings, n)
    cmd = [*entry, *worker_argv(settings, threads), "--no-wait-report"]
    procs: list[subprocess.Popen] = []
    waits = WaitReporter(study, storage, settings.grace_period, settings.heartbeat_interval)
    try:
        for i in range(n):
            env = {**os.environ, **worker_env(settings, tracking)}
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
            procs.append(lifeline.spawn(cmd, env=env))
        next_look = time.monotonic() + REPORT_EVERY_S
        patience = storage_patience(settings, lambda line: print(line, flush=True))
        while any(p.poll() is None for p in procs):
            time.sleep(0.5)
            if server and (line := server.keep_alive()):
                print(line, flush=True)
            if time.monotonic() >= next_look:
                next_look = time.monotonic() + REPORT_EVERY_S
                if report := patience(waits.due):
                    print(report, flush=True)
    except KeyboardInterrupt as err:
        stop_workers(procs, signal.Signals[getattr(err, "signal_name", "SIGINT")])  # pass on what stopped us
        raise
    except ServerLost:
        stop_workers(procs, signal.SIGTERM)
        raise
    finally:
        if server:
            server.stop()
    return [f"worker {i + 1} of {len(procs)} (pid {p.pid}) {exit_reason(p.returncode)}"
            for i, p in enumerate(procs) if p.returncode]


def worker_threads(settings: Settings, n: int) -> int:
    """Torch threads per worker: ``--threads``, else the cores shared among the ``n`` workers."""
    return settings.threads or max(1, (os.cpu_count() or 1) // n)


def gpu_slots(visible: str | None, count: int) -> list[str]:
    """What to give each worker as its CUDA_VISIBLE_DEVICES: an entry of the list this process
    was given (SLURM and MIG hand out lists such as ``2,3`` or UUIDs), else a device index.
    More workers than entries share them round-robin (packing small runs on a GPU)."""
    if visible is not None:
        return [v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1"]
    return [str(i) for i in range(count)]


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    if code > 128 and code - 128 in (signal.SIGINT, signal.SIGTERM):
        return f"was stopped by {signal.Signals(code - 128).name} (its run was queued again)"
    if code == EXIT_DEVICE_LOST:
        return "stopped after a CUDA error (its CUDA context was unusable; its run failed with the reason)"
    return f"exited with code {code}"


def stop_workers(procs: list[subprocess.Popen], stop: int = signal.SIGINT, grace: float = 20.0) -> None:
    """``stop`` (SIGINT or SIGTERM, what stopped the launcher) to each worker: it stops at its
    next training step, saves the checkpoint and queues its run again. The same signal again
    after ``grace`` seconds interrupts whatever it is doing (compiling, loading data);
    SIGKILL ten seconds later."""
    for sig, wait in ((stop, grace), (stop, 10.0), (signal.SIGKILL, 10.0)):
        alive = [p for p in procs if p.poll() is None]
        for p in alive:
            p.send_signal(sig)
        deadline = time.monotonic() + wait
        for p in alive:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
