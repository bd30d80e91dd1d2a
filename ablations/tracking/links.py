"""Where a person sees a study's runs in the MLflow UI.

MLflow 3 opens an experiment in its GenAI view unless the address asks for the
model-training one (``workflowType=machine_learning``); the runs page reads a search filter
from its address too, so a link can land on exactly a table's or a row's runs.
"""

from __future__ import annotations

import json
import shlex
from urllib.parse import quote

from ..experiment.plan import table_key
from ..experiment.sweepfile import TableId
from ..runtime.urls import redact
from .names import ROLE

UI_ADDRESS = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default
TRAINING_VIEW = "workflowType=machine_learning"
TRAINING_RUNS = f"tags.`{ROLE}` = 'run'"  # a study's training runs, without its parent run
# Sorted by name, the seeds of a configuration sit together, and the UI lists the runs flat
# (sorted by date, it folds them under their parent run).
BY_NAME = "orderByKey=" + quote("tags.`mlflow.runName`", safe="") + "&orderByAsc=true"


def row_filter(table: TableId, row: str) -> str:
    """The runs-table search that selects one row's runs (``tags.t10 = '8'``)."""
    return f"tags.{table_key(table)} = '{row}'"


def table_filter(table: TableId) -> str:
    """The runs-table search that selects one table's runs (``tags.t10 != ''``)."""
    return f"tags.{table_key(table)} != ''"


def _q(text: str) -> str:
    return quote(text, safe="")


def runs_view_url(experiment_id: str, address: str = UI_ADDRESS, search: str | None = TRAINING_RUNS) -> str:
    """The MLflow UI's runs table of one experiment (the study) in the model-training view,
    listing the runs ``search`` selects, by name (the study's training runs by default;
    ``None``: all, the parent run with its runs folded under it)."""
    query = TRAINING_VIEW + (f"&searchFilter={_q(search)}&{BY_NAME}" if search else "")
    return f"{address.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


def compare_url(run_ids: list[str], experiment_id: str, address: str = UI_ADDRESS) -> str:
    """MLflow's Compare page of these runs (params side by side, curves, parallel coordinates)."""
    return (f"{address.rstrip('/')}/#/compare-runs?runs={_q(json.dumps(run_ids))}"
            f"&experiments={_q(json.dumps([experiment_id]))}&{TRAINING_VIEW}")


def ui_address(tracking_uri: str) -> str:
    """The UI of a tracking server is the server; a database store's is ``mlflow ui``'s."""
    if tracking_uri.startswith(("http://", "https://")):
        return redact(tracking_uri).rstrip("/")
    return UI_ADDRESS


def ui_hint(tracking_uri: str, experiment_id: str) -> str:
    """How to see a study's runs: the command (none for a tracking server), then the page."""
    page = runs_view_url(experiment_id, ui_address(tracking_uri))
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {page}"
    return f"mlflow ui --backend-store-uri {shlex.quote(redact(tracking_uri))}, then open {page}"
