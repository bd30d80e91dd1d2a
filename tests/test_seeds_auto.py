"""``--seeds auto``: seeds are added only where a row's comparison is undecided, between
--min-seeds and --max-seeds; re-running trains nothing twice; on SQLite and on PostgreSQL with
a worker killed with kill -9 mid-study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from ablations.cli import main
from ablations.engine import auto_seeds
from report.__main__ import main as report
from tests.conftest import ROOT, fake_sweep, paper_tables


def _finish_all(study: optuna.Study, error) -> None:
    """Play the workers: complete every queued run with ``error(config_uid, seed)``, and
    after each, let the study decide and queue what its open rows need."""
    storage = study._storage
    study_id = storage.get_study_id_from_name(study.study_name)
    while waiting := study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        t = waiting[0]
        storage.set_trial_state_values(storage.get_trial_id_from_study_id_trial_number(study_id, t.number),
                                       TrialState.RUNNING)
        study.tell(t.number, error(t.user_attrs["config_uid"], t.user_attrs["seed"]))
        auto_seeds.extend(study)


def test_seeds_go_only_where_a_row_is_undecided(tmp_path):
    rows = [{"row": "ref", "set": {}}, {"row": "better", "set": {"train.lr": 0.01}},
            {"row": "same", "set": {"train.lr": 0.02}}]
    args = [*fake_sweep(tmp_path, {"reference": "ref", "rows": rows}), "--run-dir", str(tmp_path / "runs"),
            "--study", "auto", "--seeds", "auto", "--min-seeds", "2", "--max-seeds", "6", "--workers", "0"]
    assert main(args) == 0
    study = optuna.load_study(study_name="auto", storage=f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}")
    uid = {t.user_attrs["rows"].split(" ", 1)[1]: t.user_attrs["config_uid"] for t in study.trials}
    noise = {s: 0.7 * ((s * 37) % 11 - 5) / 5 for s in range(10)}  # seed noise shared by all rows (paired)

    def error(config_uid: str, seed: int) -> float:
        base = 30 + noise[seed]
        if config_uid == uid["better"]:
            return base - 4 + 0.1 * ((seed * 7) % 3 - 1)  # 4 points better, tightly paired
        if config_uid == uid["same"]:
            return base + 0.2 * ((seed * 5) % 3 - 1)  # no difference
        return base

    _finish_all(study, error)
    seeds = Counter(t.user_attrs["config_uid"] for t in study.trials if t.state == TrialState.COMPLETE)
    assert seeds[uid["same"]] == 2  # futile at once: nothing to find, no seed spent on it
    assert 4 <= seeds[uid["better"]] == seeds[uid["ref"]] < 6  # resolved (4 is the fewest that can)
    decided = auto_seeds.decisions(study)
    assert decided[(99, "better")].state == "resolved" and decided[(99, "same")].state == "futile"
    # A relaunch queues nothing: every seed is finished and every row decided.
    assert main(args) == 0
    assert len(optuna.load_study(study_name="auto", storage=study._storage).trials) == len(study.trials)


def test_bad_seed_bounds_are_refused(tmp_path, capsys):
    sweep = fake_sweep(tmp_path, [{"row": "a", "set": {}}])
    for extra, message in ((["--seeds", "auto", "--min-seeds", "1"], "--min-seeds must be at least 2"),
                           (["--seeds", "auto", "--min-seeds", "3", "--max-seeds", "2"], "--max-seeds must be at least"),
                           (["--seeds", "2", "--max-seeds", "4"], "--min-seeds and --max-seeds apply to --seeds auto")):
        assert main([*sweep, "--run-dir", str(tmp_path / "runs"), "--dry-run", *extra]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.e2e
def test_a_tiny_auto_study_on_cifar10_and_its_report(tmp_path, data_root, capsys):
    args = ["--preset", "tiny", "--seeds", "auto", "--min-seeds", "2", "--max-seeds", "4", "--study", "auto",
            "--run-dir", str(tmp_path / "runs"), "--data-root", str(data_root), "--no-progress",
            *paper_tables(tmp_path, 11, 12)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "seeds auto (2 to 4):" in out
    study = optuna.load_study(study_name="auto", storage=f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}")
    complete = Counter((t.user_attrs["config_uid"], t.user_attrs["seed"]) for t in study.trials
                       if t.state == TrialState.COMPLETE)
    per_config = Counter(uid for uid, _ in complete)
    assert set(complete.values()) == {1} and all(2 <= n <= 4 for n in per_config.values())
    assert min(per_config.values()) < 4  # not every configuration spent the whole budget
    assert main(args) == 0  # the same command again trains nothing
    assert "0 queued" in capsys.readouterr().out
    assert len(optuna.load_study(study_name="auto", storage=study._storage).trials) == len(study.trials)

    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    assert report(["--study", "auto", "--tracking-uri", uri, "--out", str(tmp_path / "report"), "--format", "csv,md"]) == 0
    csv = pd.read_csv(tmp_path / "report" / "tables.csv")
    assert {"n_seeds", "state"} <= set(csv.columns)
    rows = csv[csv.reference.notna()]
    assert set(rows.state) <= {"resolved", "futile", "open"} and (rows.n_seeds >= 2).all()
    assert "anytime-valid confidence sequence" in (tmp_path / "report" / "tables.md").read_text()


@pytest.mark.postgres
def test_auto_seeds_on_postgres_survive_a_kill_9_and_a_rerun(tmp_path, data_root, cache_dir, stores):
    storage, tracking = stores
    cmd = [sys.executable, str(ROOT / "run_sweep.py"), "--preset", "tiny", "--study", "autokill", "--storage", storage,
           "--tracking-uri", tracking, "--run-dir", str(tmp_path / "runs"), "--data-root", str(data_root),
           "--heartbeat-interval", "1", "--grace-period", "4", "--no-progress", "--workers", "2", "--seeds", "auto",
           "--min-seeds", "2", "--max-seeds", "3", *paper_tables(tmp_path, 12), "--set", "train.epochs=2"]
    env = {**os.environ, "SENET_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}
    launcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            running = optuna.load_study(study_name="autokill", storage=storage).get_trials(states=(TrialState.RUNNING,))
        except KeyError:
            continue
        victim = next((int(t.user_attrs["worker"].split(":")[1]) for t in running if "worker" in t.user_attrs), None)
    assert victim is not None, "no worker held a run"
    os.kill(victim, signal.SIGKILL)
    out, _ = launcher.communicate(timeout=900)
    assert launcher.returncode == 0, out[-3000:]
    assert f"(pid {victim}) was killed by SIGKILL" in out
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert rerun.returncode == 0 and "0 queued" in rerun.stdout, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    study = optuna.load_study(study_name="autokill", storage=storage)
    complete = Counter((t.user_attrs["config_uid"], t.user_attrs["seed"]) for t in study.trials
                       if t.state == TrialState.COMPLETE)
    assert set(complete.values()) == {1}  # every run trained once, the killed one included
    assert all(2 <= n <= 3 for n in Counter(uid for uid, _ in complete).values())
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def test_an_auto_study_recorded_by_the_previous_version_is_read(tmp_path):
    """The study attribute an auto study was recorded under before the auto_seeds rename
    ('adaptive') is what a relaunch and its workers read: its decisions and next seeds."""
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", study_name="old")
    study.set_user_attr("adaptive", {"min_seeds": 3, "max_seeds": 8, "alpha": 0.05,
                                     "rows": [[10, "8", "a", "b"], [10, "16", "b", None]], "runs": {}})
    record = auto_seeds.recorded(study)
    assert record is not None and record.auto.max_seeds == 8 and len(record.rows) == 2
