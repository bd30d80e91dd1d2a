"""Writing a study to MLflow: one experiment per study, a parent run, a child run per
(config, seed) with its params, per-epoch metrics and artifacts.

Params are the flat dotted config keys, so the MLflow UI compares runs by the same names as
sweeps.yaml.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from ..experiment.config import DatasetIdentity, ExperimentConfig, SEConfig, params
from ..experiment.plan import Run
from ..experiment.schema import to_dict
from ..runtime.first_use import retry_first_use
from ..runtime.provenance import source_tags
from ..runtime.urls import redact
from .names import PER_EPOCH, PLAN_ARTIFACT, ROLE
from .notes import CONFIG_TAG, NOTE, run_note
from .server import check_answers

DATASET_ATTEMPTS = 3
OFF = "off"  # what every SE factor of a run without SE reads (model.se: null)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Tracker:
    """A study's MLflow experiment. ``artifact_root`` applies when the experiment is created
    against a database store; with a tracking server the server decides."""

    def __init__(self, uri: str, study: str, artifact_root: Path | None = None) -> None:
        self.uri = uri
        check_answers(uri)
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

    def describe(self, note: str) -> None:
        """The experiment's description in the UI (how to find a table's runs)."""
        self.client.set_experiment_tag(self.experiment_id, NOTE, note)

    def set_status(self, run_id: str, status: str) -> None:
        """The study's parent run: RUNNING while runs are queued or training, then FINISHED,
        FAILED (runs failed or left) or KILLED (interrupted). A parent already in ``status``
        is left as it is (every worker that finds the study done says so)."""
        if self.client.get_run(run_id).info.status == status:
            return
        if status == "RUNNING":
            self.client.update_run(run_id, status=status)
        else:
            self.client.set_terminated(run_id, status)

    def start_child(self, parent_id: str, run: Run, tags: dict[str, str]) -> ChildRun:
        """A run of one configuration and seed: the project's tags plus ``config`` (the group
        of its seeds), one tag per table it serves valued by its row (``t10`` = ``8``), its
        description, MLflow's source tags and its params."""
        created = self.client.create_run(
            self.experiment_id,
            run_name=run.run_name,
            tags={ROLE: "run", "mlflow.parentRunId": parent_id, "study": self.study, **tags,
                  CONFIG_TAG: run.label, **run.table_tags, NOTE: run_note(run), **source_tags()},
        )
        child = ChildRun(self.client, created.info.run_id)
        child.client.log_batch(child.run_id, params=[Param(k, redact(v)) for k, v in run_params(run.config, run.seed).items()])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "config.yaml"
            path.write_text(yaml.safe_dump({**to_dict(run.config), "seed": run.seed, **tags}, sort_keys=False))
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


def run_params(cfg: ExperimentConfig, seed: int) -> dict[str, str]:
    """The flat dotted config keys as MLflow params. A run without SE also reads ``off`` for
    every SE factor, so that a parallel-coordinates axis (the reduction's, Table 10) puts the
    baseline at a place of its own, not beside some ratio."""
    flat = {k: json.dumps(v) if isinstance(v, list) else str(v) for k, v in params(cfg).items()}
    if cfg.model.se is None:
        flat.update({f"model.se.{f.name}": OFF for f in dataclasses.fields(SEConfig)})
    flat["seed"] = str(seed)
    return flat


def _dataset_input(d: DatasetIdentity) -> DatasetInput:
    profile = json.dumps({"num_rows": d.size})
    dataset = Dataset(name=d.name, digest=d.digest, source_type="local", source=json.dumps({"uri": d.source}),
                      profile=profile)
    return DatasetInput(dataset, tags=[InputTag("mlflow.data.context", d.context)])


class ChildRun:
    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def log_datasets(self, datasets: Iterable[DatasetIdentity]) -> None:
        """The data the run trains and is evaluated on (the UI's Dataset column and filter).
        Workers that log the same dataset at once race to create MLflow's one record of it
        (a unique-constraint error for the loser), so a failure is tried again; the run's
        training never depends on it."""
        inputs = [_dataset_input(d) for d in datasets]
        for attempt in range(DATASET_ATTEMPTS):
            try:
                if inputs:
                    self.client.log_inputs(self.run_id, datasets=inputs)
                return
            except Exception as err:
                if attempt == DATASET_ATTEMPTS - 1:
                    print(f"warning: the run's dataset inputs were not logged: {redact(str(err))[:200]}",
                          file=sys.stderr, flush=True)
                time.sleep(0.2 * (attempt + 1))

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


def log_plan(tracker: Tracker, parent_id: str, plan_json: dict) -> None:
    """The expected tables and rows, so the report can show rows that never ran."""
    ChildRun(tracker.client, parent_id).log_json(PLAN_ARTIFACT, plan_json)
