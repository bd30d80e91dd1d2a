"""Exactly once under fire: ``kill -9`` of a worker at a random moment of a ``--workers 2``
tiny paper sweep, repeated; after each, every (config, seed) must have exactly one FINISHED
MLflow child run and one COMPLETE trial, and no launch may hang.

    python -m tests.stress_kill --reps 20 [--store sqlite|postgres] [--seed 0]

Not part of ``make test`` (a repetition takes about a minute); it prints one line per
repetition and exits 1 if any repetition broke the rule or hung.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import optuna
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.conftest import ROOT

HANG_S = 400


def _workers(launcher_pid: int) -> list[int]:
    from tests.procs import command_line, descendants

    return [p for p in descendants(launcher_pid) if "ablations.commands.worker" in command_line(p)]


def _check(storage: str, tracking: str, study: str) -> str | None:
    trials = optuna.load_study(study_name=study, storage=storage).get_trials()
    complete = Counter((t.user_attrs["config_uid"], t.user_attrs["seed"]) for t in trials if t.state == TrialState.COMPLETE)
    client = MlflowClient(tracking_uri=tracking)
    exp = client.get_experiment_by_name(study)
    runs = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'", max_results=5000)
    finished = Counter((r.data.tags["config_uid"], int(r.data.tags["seed"])) for r in runs if r.info.status == "FINISHED")
    if len(complete) != 17 or set(complete.values()) != {1}:
        return f"COMPLETE trials per run: {sorted(complete.values())} over {len(complete)} runs"
    if finished != complete:
        return f"FINISHED MLflow runs per run: {sorted(finished.values())} over {len(finished)} runs"
    if any(t.state == TrialState.RUNNING for t in trials):
        return "a trial is still RUNNING"
    return None


def one(rep: int, rng: random.Random, store: str, data_root: Path, pg) -> tuple[bool, str]:
    tmp = Path(tempfile.mkdtemp(prefix=f"senet-stress-{rep}-"))
    if store == "postgres":
        storage, tracking = pg.create_db(f"optuna_stress_{rep}"), pg.create_db(f"mlflow_stress_{rep}")
    else:
        storage, tracking = f"sqlite:///{tmp / 'optuna.db'}", f"sqlite:///{tmp / 'mlflow.db'}"
    study = "stress"
    cmd = [sys.executable, str(ROOT / "run_sweep.py"), "--preset", "tiny", "--study", study, "--storage", storage,
           "--tracking-uri", tracking, "--run-dir", str(tmp / "runs"), "--data-root", str(data_root),
           "--heartbeat-interval", "1", "--grace-period", "4", "--no-progress", "--workers", "2"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    launcher = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    delay = rng.uniform(3.0, 35.0)
    time.sleep(delay)
    victims = _workers(launcher.pid)
    while not victims and launcher.poll() is None:  # still starting: kill as soon as one is up
        time.sleep(0.05)
        victims = _workers(launcher.pid)
    killed = None
    if victims:
        killed = rng.choice(victims)
        os.kill(killed, signal.SIGKILL)
        delay = time.monotonic() - started
    try:
        code = launcher.wait(timeout=HANG_S)
    except subprocess.TimeoutExpired:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=60)
        return False, f"HUNG: launcher still running {HANG_S} s after the kill at {delay:.1f} s"
    note = f"kill at {delay:.1f} s ({'worker ' + str(killed) if killed else 'sweep already over'}), exit {code}"
    if code == 1:  # no worker left to take the run over: the same command finishes it
        try:
            code = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                  timeout=HANG_S).returncode
        except subprocess.TimeoutExpired:
            return False, note + "; HUNG on the rerun"
        note += f", rerun exit {code}"
    problem = _check(storage, tracking, study)
    return problem is None and code == 0, note + (f"; BROKEN: {problem}" if problem else "; exactly once")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    data_root = Path(os.environ.get("SENET_DATA_ROOT", ROOT.parent / "shared" / "data"))
    pg = None
    if args.store == "postgres":
        from tests.postgres import LocalPostgres

        pg = LocalPostgres().start()
    rng = random.Random(args.seed)
    bad = 0
    try:
        for rep in range(args.reps):
            ok, note = one(rep, rng, args.store, data_root, pg)
            bad += not ok
            print(f"rep {rep + 1}/{args.reps}: {note}", flush=True)
    finally:
        if pg:
            pg.stop()
    print(f"{args.reps - bad}/{args.reps} repetitions held the rule")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
