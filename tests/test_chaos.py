"""A seeded chaos run, as an operator lives it: three ``run_sweep.py worker`` processes on the
tiny suite (two seeds), a PostgreSQL and an ``mlflow server`` started here, and a random
schedule of faults, each kind at least twice: kill -9 of a worker, SIGTERM of a worker,
kill -9 of the MLflow server, a PostgreSQL crash (SIGQUIT) and a fast shutdown. Each is
repaired as an operator would: a new worker, the server or the database started again on
the same port; at least one new worker starts while PostgreSQL is down.

What the stores must say afterwards: one COMPLETE trial and one FINISHED MLflow run per
(configuration, seed), nothing RUNNING or WAITING, MLflow's final error equal to the trial's
value; every worker exited 0 or by the signal it was sent, and no process is left.

``SENET_CHAOS_SEED=N`` replays a schedule; a failure prints its seed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.conftest import ROOT
from tests.mlflow_server import LocalMlflowServer
from tests.procs import descendants, wait_gone

pytestmark = pytest.mark.postgres

KINDS = ("kill9_worker", "sigterm_worker", "kill9_server", "pg_crash", "pg_fast")
STUDY = "chaos"


def _schedule(rng: random.Random) -> list[str]:
    """Every kind twice, in random order; one PostgreSQL outage right after a worker's kill,
    so that its replacement starts while the database is down."""
    faults = [k for k in KINDS for _ in range(2)]
    rng.shuffle(faults)
    if not any(a in ("kill9_worker", "sigterm_worker") and b.startswith("pg_") for a, b in zip(faults, faults[1:], strict=False)):
        outage = faults.pop(next(j for j, f in enumerate(faults) if f.startswith("pg_")))
        faults.insert(faults.index("kill9_worker") + 1, outage)
    return faults


def test_the_schedule_has_every_fault_twice_and_a_worker_started_during_an_outage():
    for seed in range(200):
        faults = _schedule(random.Random(seed))
        assert Counter(faults) == Counter({k: 2 for k in KINDS})
        assert any(a.endswith("_worker") and b.startswith("pg_") for a, b in zip(faults, faults[1:], strict=False))


def test_a_study_survives_a_seeded_schedule_of_faults(tmp_path, data_root, cache_dir):
    seed = int(os.environ.get("SENET_CHAOS_SEED", random.SystemRandom().randrange(10**6)))
    print(f"chaos seed {seed} (replay: SENET_CHAOS_SEED={seed})", flush=True)
    try:
        _chaos(tmp_path, data_root, cache_dir, seed)
    except AssertionError as err:
        raise AssertionError(f"chaos seed {seed} (replay: SENET_CHAOS_SEED={seed}): {err}") from None


def _chaos(tmp_path, data_root, cache_dir, seed: int) -> None:
    from tests.postgres import LocalPostgres

    rng = random.Random(seed)
    before = descendants(os.getpid())
    pg = LocalPostgres().start()
    server = LocalMlflowServer(pg.create_db("mlflow"), tmp_path / "artifacts", tmp_path / "mlflow-server.log")
    storage = pg.create_db("optuna")
    env = {**os.environ, "SENET_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1", "SENET_STORAGE": storage,
           "MLFLOW_TRACKING_URI": server.url}
    common = ["--run-dir", str(tmp_path / "runs"), "--data-root", str(data_root), "--heartbeat-interval", "1",
              "--grace-period", "4", "--no-progress"]
    workers: list[tuple[subprocess.Popen, int | None]] = []  # (process, the signal it was sent)
    logs = tmp_path / "workers"
    logs.mkdir()

    def start_worker() -> None:
        log = open(logs / f"{len(workers)}.log", "w")  # noqa: SIM115 - kept open while the worker runs
        cmd = [sys.executable, str(ROOT / "run_sweep.py"), "worker", "--study", STUDY, "--threads", "1", *common]
        workers.append([subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path), None])

    def signal_worker(sig: int) -> None:
        alive = [w for w in workers if w[0].poll() is None and w[1] is None]
        if alive:
            victim = rng.choice(alive)
            victim[0].send_signal(sig)
            victim[1] = sig

    try:
        server.start()
        queue = subprocess.run([sys.executable, str(ROOT / "run_sweep.py"), "--preset", "tiny", "--seeds", "2",
                                "--set", "train.epochs=2", "--study", STUDY, "--workers", "0", *common],
                               env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert queue.returncode == 0, queue.stdout[-2000:] + queue.stderr[-2000:]
        for _ in range(3):
            start_worker()
        time.sleep(4)  # the workers are training
        faults = _schedule(rng)
        done, started_while_down = [], 0
        for kind in faults:
            time.sleep(rng.uniform(1.5, 3.5))
            if not any(w[0].poll() is None for w in workers):
                break  # finished before the schedule ended (checked below)
            if kind in ("kill9_worker", "sigterm_worker"):
                signal_worker(signal.SIGKILL if kind == "kill9_worker" else signal.SIGTERM)
                start_worker()  # its replacement (during the next fault when that one is the database's)
            elif kind == "kill9_server":
                server.kill()
                time.sleep(rng.uniform(0.5, 1.5))
                server.start()
            else:
                pg.shut_down("crash" if kind == "pg_crash" else "fast")
                if done and done[-1] in ("kill9_worker", "sigterm_worker"):
                    start_worker()  # an operator's replacement, started before the database is back
                    started_while_down += 1
                time.sleep(rng.uniform(2, 4))
                pg.serve()
            done.append(kind)
        assert Counter(done) == Counter({k: 2 for k in KINDS}), f"the study ended after only {done}"
        assert started_while_down >= 1
        deadline = time.monotonic() + 300
        for proc, _ in workers:
            proc.wait(timeout=max(1, deadline - time.monotonic()))
        codes = [(p.returncode, sig) for p, sig in workers]
        # SIGTERM: 143 from the worker's handler, or -15 when it landed before the handler was
        # installed (a replacement still importing torch); either way the signal it was sent.
        bad = [(i, code, sig) for i, (code, sig) in enumerate(codes)
               if not (code == 0 or (sig == signal.SIGKILL and code == -9) or (sig == signal.SIGTERM and code in (143, -15)))]
        assert not bad, f"workers ended badly (index, code, signal sent): {bad}; " + "".join(
            f"\n--- worker {i}:\n{(logs / f'{i}.log').read_text()[-1500:]}" for i, _, _ in bad)
        _check_stores(storage, server.url)
    finally:
        for proc, _ in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        server.stop()
        pg.stop()
    left = wait_gone(descendants(os.getpid()) - before, 20)
    assert not left, f"processes left: {left}"


def _check_stores(storage: str, tracking: str) -> None:
    trials = optuna.load_study(study_name=STUDY, storage=storage).trials
    states = Counter(t.state for t in trials)
    assert not states[TrialState.RUNNING] and not states[TrialState.WAITING], states
    complete = Counter((t.user_attrs["config_uid"], t.user_attrs["seed"]) for t in trials if t.state == TrialState.COMPLETE)
    assert len(complete) == 34 and set(complete.values()) == {1}, complete
    value = {(t.user_attrs["config_uid"], t.user_attrs["seed"]): t.value for t in trials if t.state == TrialState.COMPLETE}
    client = MlflowClient(tracking_uri=tracking)
    exp = client.get_experiment_by_name(STUDY)
    runs = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'", max_results=5000)
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"]
    finished = [r for r in runs if r.info.status == "FINISHED"]
    keys = Counter((r.data.tags["config_uid"], int(r.data.tags["seed"])) for r in finished)
    assert set(keys) == set(value) and set(keys.values()) == {1}, keys
    for r in finished:
        key = (r.data.tags["config_uid"], int(r.data.tags["seed"]))
        assert r.data.metrics["final_val_top1_err"] == pytest.approx(value[key]), (r.info.run_name, value[key])
    (parent,) = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'study'")
    assert parent.info.status == "FINISHED"
