"""MLflow tracking: one experiment per study, a parent run, a child run per (config, seed).

The only module that imports mlflow. Params are the flat dotted config keys, so the MLflow
UI compares runs by the same names as sweeps.yaml.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from .config import ExperimentConfig, params
from .schema import to_dict
from .urls import redact, require_existing

# MLflow's artifact progress bars would interleave with the sweep's own.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# Nor its two "View run ... at: http://..." lines per run: with --workers N they point at
# the launcher's own tracking server, which is gone when the sweep ends.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
# "Creating initial MLflow database tables..." on every fresh store tells a user nothing;
# MLflow's own MLFLOW_LOGGING_LEVEL still decides when it is set.
if not os.environ.get("MLFLOW_LOGGING_LEVEL"):
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)

ROLE = "senet.role"
PER_EPOCH = ("train_loss", "train_top1_err", "val_loss", "val_top1_err", "val_top5_err",
             "lr", "epoch_time_s", "images_per_s")


def retry_first_use(fn, attempts: int = 8):
    """Run ``fn``, retrying while concurrent processes race to create a fresh database's
    tables (both MLflow and Optuna run schema migrations on first use)."""
    for i in range(attempts):
        try:
            return fn()
        except Exception as err:  # the race surfaces as IntegrityError/ProgrammingError/MlflowException
            if i == attempts - 1 or not _is_schema_race(err):
                raise
            time.sleep(0.5 + i)


def _is_schema_race(err: BaseException) -> bool:
    text = f"{type(err).__name__}: {err}"
    return any(s in text for s in ("alembic_version", "already exists", "UniqueViolation", "duplicate key",
                                   "IntegrityError", "database is locked"))


def _now_ms() -> int:
    return int(time.time() * 1000)


class Tracker:
    """A study's MLflow experiment. ``artifact_root`` applies when the experiment is created
    against a database store; with a tracking server the server decides."""

    def __init__(self, uri: str, study: str, artifact_root: Path | None = None) -> None:
        self.uri = uri
        self.client = retry_first_use(lambda: MlflowClient(tracking_uri=uri))
        exp = self.client.get_experiment_by_name(study)
        if exp is None:
            location = artifact_root.resolve().as_uri() if artifact_root else None
            try:
                exp_id = self.client.create_experiment(
                    study, artifact_location=location,
                    # MLflow 3's UI opens experiments of this kind on the runs table.
                    tags={"mlflow.experimentKind": "custom_model_development"},
                )
            except Exception:  # another worker created it first
                exp = self.client.get_experiment_by_name(study)
                if exp is None:
                    raise
                exp_id = exp.experiment_id
        else:
            exp_id = exp.experiment_id
        self.experiment_id = exp_id
        self.study = study

    def parent_run(self, tags: dict[str, str]) -> str:
        """The study's parent run id, created on first use."""
        found = self.client.search_runs(
            [self.experiment_id], f"tags.`{ROLE}` = 'study'", max_results=1
        )
        if found:
            return found[0].info.run_id
        run = self.client.create_run(
            self.experiment_id, run_name=self.study, tags={ROLE: "study", "study": self.study, **tags}
        )
        return run.info.run_id

    def set_status(self, run_id: str, status: str) -> None:
        """The study's parent run: RUNNING while a launcher works on it, then FINISHED,
        FAILED (runs failed or left) or KILLED (interrupted)."""
        if status == "RUNNING":
            self.client.update_run(run_id, status=status)
        else:
            self.client.set_terminated(run_id, status)

    def start_child(
        self, parent_id: str, cfg: ExperimentConfig, name: str, tags: dict[str, str], seed: int
    ) -> ChildRun:
        run = self.client.create_run(
            self.experiment_id,
            run_name=name,
            tags={ROLE: "run", "mlflow.parentRunId": parent_id, "study": self.study, **tags},
        )
        child = ChildRun(self.client, run.info.run_id)
        flat = {k: json.dumps(v) if isinstance(v, list) else str(v) for k, v in params(cfg).items()}
        flat["seed"] = str(seed)
        child.client.log_batch(child.run_id, params=[Param(k, redact(v)) for k, v in flat.items()])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "config.yaml"
            path.write_text(yaml.safe_dump({**to_dict(cfg), "seed": seed, **tags}, sort_keys=False))
            child.client.log_artifact(child.run_id, str(path))
        return child

    def finished_attempt(self, config_uid: str, seed: int) -> tuple[str, float] | None:
        """(run id, final top-1 error) of a FINISHED run of this configuration and seed, if any:
        a worker killed after finishing it in MLflow but before Optuna heard of it."""
        for run in self.client.search_runs(
            [self.experiment_id],
            f"tags.`{ROLE}` = 'run' and tags.config_uid = '{config_uid}' and tags.seed = '{seed}' "
            "and attributes.status = 'FINISHED'",
        ):
            err = run.data.metrics.get("final_val_top1_err")
            if err is not None:
                return run.info.run_id, err
        return None

    def mark_failed_attempts(self, config_uid: str, seed: int, keep: str) -> None:
        """Runs of an earlier attempt left RUNNING by a dead worker become FAILED."""
        for run in self.client.search_runs(
            [self.experiment_id],
            f"tags.config_uid = '{config_uid}' and tags.seed = '{seed}' and attributes.status = 'RUNNING'",
        ):
            if run.info.run_id != keep:
                self.client.set_tag(run.info.run_id, "failure", "worker lost (retried)")
                self.client.set_terminated(run.info.run_id, "FAILED")


class ChildRun:
    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        ts = _now_ms()
        self.client.log_batch(
            self.run_id, metrics=[Metric(k, float(metrics[k]), ts, epoch) for k in PER_EPOCH if k in metrics]
        )

    def log_once(self, metrics: dict[str, float]) -> None:
        ts = _now_ms()
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), ts, 0) for k, v in metrics.items()])

    def log_json(self, name: str, payload: Any) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(json.dumps(payload))
            self.client.log_artifact(self.run_id, str(path))

    def tag(self, key: str, value: str) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(key, value)])

    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None:
        """``status``: FINISHED, FAILED, or KILLED (interrupted; the run was handed back)."""
        if reason:
            self.tag("failure", reason[:5000])
        self.client.set_terminated(self.run_id, RunStatus.to_string(RunStatus.from_string(status)))


PLAN_ARTIFACT = "plan.json"
UI_ADDRESS = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default


def runs_view_url(experiment_id: str, address: str = UI_ADDRESS) -> str:
    """The MLflow UI's runs table of one experiment (the study), not its home page."""
    return f"{address}/#/experiments/{experiment_id}/runs"


def ui_hint(tracking_uri: str, experiment_id: str, study: str) -> str:
    """How to see a study's runs: the command (none for a tracking server), the page, and the
    parent run to expand."""
    expand = f"and expand the run {study!r} (the + before its name) to list its runs"
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {runs_view_url(experiment_id, redact(tracking_uri).rstrip('/'))} {expand}"
    return f"mlflow ui --backend-store-uri {shlex.quote(redact(tracking_uri))}, then open {runs_view_url(experiment_id)} {expand}"


def log_plan(tracker: Tracker, parent_id: str, plan_json: dict) -> None:
    """The expected tables and rows, so the report can show rows that never ran."""
    ChildRun(tracker.client, parent_id).log_json(PLAN_ARTIFACT, plan_json)


@dataclass(frozen=True)
class StudyRuns:
    """What the report reads: the parent run, its plan, child runs and their curves."""

    study: str
    parent: dict[str, Any]
    plan: dict[str, Any]
    runs: pd.DataFrame
    curves: pd.DataFrame
    client: MlflowClient
    experiment_id: str = ""

    def artifact_json(self, run_id: str, name: str) -> Any | None:
        return _artifact_json(self.client, run_id, name)

    def attach(self, files: list[Path]) -> None:
        """Attach the report's files to the study's parent run (the MLflow UI links to them)."""
        for f in files:
            self.client.log_artifact(self.parent["run_id"], str(f), artifact_path="report")


def _artifact_json(client: MlflowClient, run_id: str, name: str) -> Any | None:
    """A run's JSON artifact, or ``None`` when it has none by that name."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, name, tmp)
        except Exception:
            return None
        return json.loads(Path(path).read_text())


def read_study(uri: str, study: str, curves: tuple[str, ...] = ("val_top1_err", "train_loss")) -> StudyRuns:
    """All runs of ``study`` as DataFrames; raises ConfigError if there is no such study."""
    from .errors import ConfigError

    require_existing(uri, "--tracking-uri", "run the sweep first, or give the study's --tracking-uri")
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(study)
    if exp is None:
        names = [e.name for e in client.search_experiments()]
        raise ConfigError(f"--study {study!r}: no such study in {redact(uri)}; studies there: {', '.join(names) or 'none'}")
    parents = client.search_runs([exp.experiment_id], f"tags.`{ROLE}` = 'study'", max_results=1)
    if not parents:
        raise ConfigError(f"--study {study!r}: no parent run in {redact(uri)}")
    parent = parents[0]
    rows = []
    curve_rows = []
    for run in client.search_runs([exp.experiment_id], f"tags.`{ROLE}` = 'run'", max_results=50000):
        t, m = run.data.tags, run.data.metrics
        rows.append({
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "config_uid": t.get("config_uid"),
            "seed": int(t.get("seed", -1)),
            "rows": t.get("rows", ""),
            "failure": t.get("failure", ""),
            "device": t.get("device", ""),
            "torch": t.get("torch", ""),
            "top1_err": m.get("final_val_top1_err", m.get("val_top1_err")),
            "top5_err": m.get("final_val_top5_err", m.get("val_top5_err")),
            "params_m": m.get("params_m"),
            "gflops": m.get("gflops"),
            "start_time": run.info.start_time,
            "params": dict(run.data.params),
        })
        if run.info.status == "FINISHED":
            for key in curves:
                for point in client.get_metric_history(run.info.run_id, key):
                    curve_rows.append({"run_id": run.info.run_id, "config_uid": t.get("config_uid"),
                                       "seed": int(t.get("seed", -1)), "metric": key,
                                       "epoch": point.step, "value": point.value})
    runs = pd.DataFrame(rows, columns=["run_id", "run_name", "status", "config_uid", "seed", "rows", "failure",
                                       "device", "torch", "top1_err", "top5_err", "params_m", "gflops", "start_time", "params"])
    curves_df = pd.DataFrame(curve_rows, columns=["run_id", "config_uid", "seed", "metric", "epoch", "value"])
    plan = _artifact_json(client, parent.info.run_id, PLAN_ARTIFACT) or {}
    parent_info = {"run_id": parent.info.run_id, "tags": dict(parent.data.tags), "start_time": parent.info.start_time}
    return StudyRuns(study, parent_info, plan, runs, curves_df, client, exp.experiment_id)


def epochs_logged(uri: str, run_ids: list[str]) -> dict[str, int]:
    """How many epochs each run has logged so far (read only)."""
    client = MlflowClient(tracking_uri=uri)
    out = {}
    for run_id in run_ids:
        try:
            out[run_id] = len(client.get_metric_history(run_id, "val_top1_err"))
        except Exception:  # a run the tracking store does not know (another store, deleted)
            continue
    return out


class ServerLost(Exception):
    """The launcher's MLflow server died and could not be kept running."""


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 in front of a database store, so that many local
    worker processes write through one server instead of contending for a SQLite file.

    It runs under :mod:`.lifeline`'s guard, so the server and its helper processes end with
    this process even when it is killed with SIGKILL. MLflow's job runner (seven helper
    processes for GenAI jobs) is not started: sweeps never use it. Its output goes to
    ``log_path``.
    """

    def __init__(self, backend_uri: str, artifact_root: Path, log_path: Path, host: str = "127.0.0.1") -> None:
        import socket

        with socket.socket() as s:
            s.bind((host, 0))
            self.port = s.getsockname()[1]
        self.host = host
        self.url = f"http://{host}:{self.port}"
        self.log_path = log_path
        artifact_root.mkdir(parents=True, exist_ok=True)
        self.cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
                    "--default-artifact-root", artifact_root.resolve().as_uri(), "--no-serve-artifacts",
                    "--host", host, "--port", str(self.port), "--workers", "1"]
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    MAX_RESTARTS = 3

    def start(self, timeout: float = 120.0) -> MlflowServer:
        import urllib.request

        from .lifeline import guard_command, spawn

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with open(self.log_path, "ab") as log:
            self.proc = spawn(guard_command(self.cmd), env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {redact(self._log_tail())}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer on {self.url} within {timeout:.0f} s "
                           f"(its log: {self.log_path}): {redact(self._log_tail())}")

    def keep_alive(self) -> str | None:
        """If the server has died (the OOM killer, a crash), start it again on the same port,
        where the workers' requests, which MLflow retries for minutes, find it; returns the line
        that says so, or None while it runs. :class:`ServerLost` past ``MAX_RESTARTS``."""
        if self.proc is None or self.proc.poll() is None:
            return None
        self.restarts += 1
        if self.restarts > self.MAX_RESTARTS:
            raise ServerLost(f"the MLflow server the workers log through stopped {self.restarts} times "
                             f"(its log: {self.log_path}); the runs in progress are retried by the next launch")
        code = self.proc.returncode
        try:
            self.start()
        except RuntimeError as err:
            raise ServerLost(str(err)) from None
        return (f"the MLflow server on {self.url} had stopped (exit code {code}; its log: {self.log_path}); "
                "started it again, the workers' logging goes on")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """The guard stops the server's whole process group, then exits."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
