"""Reading a study back from MLflow, for the report and ``run_sweep.py status``."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.tracking import MlflowClient

from ..errors import ConfigError
from ..experiment.plan import LoggedPlan
from ..runtime.urls import redact, require_existing
from .names import PLAN_ARTIFACT, ROLE
from .server import check_answers


@dataclass(frozen=True)
class StudyRuns:
    """What the report reads: the parent run, its plan, child runs and their curves."""

    study: str
    parent: dict[str, Any]
    plan: LoggedPlan
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
    require_existing(uri, "--tracking-uri", "run the sweep first, or give the study's --tracking-uri")
    check_answers(uri)
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
    plan = LoggedPlan.from_json(_artifact_json(client, parent.info.run_id, PLAN_ARTIFACT) or {})
    parent_info = {"run_id": parent.info.run_id, "tags": dict(parent.data.tags), "start_time": parent.info.start_time}
    return StudyRuns(study, parent_info, plan, runs, curves_df, client, exp.experiment_id)


def experiment_id(uri: str, study: str) -> str | None:
    """The study's MLflow experiment id, or None when the tracking store has no such study."""
    exp = MlflowClient(tracking_uri=uri).get_experiment_by_name(study)
    return exp.experiment_id if exp is not None else None


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
