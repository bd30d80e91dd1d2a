"""Where a person sees a study's runs in the MLflow UI."""

from __future__ import annotations

import shlex

from ..runtime.urls import redact

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
