"""MLflow: writing a study's runs (:mod:`.writer`), reading them back (:mod:`.reader`), the
server a launcher runs for its local workers (:mod:`.server`) and the UI's addresses
(:mod:`.links`). The only place that imports mlflow; this module itself does not, so that
:func:`quiet` costs nothing."""

from __future__ import annotations

import logging
import os


def quiet() -> None:
    """What a process of ours wants of MLflow's output, set where the process starts."""
    # MLflow's artifact progress bars would interleave with the sweep's own.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # Nor its two "View run ... at: http://..." lines per run: with --workers N they point at
    # the launcher's own tracking server, which is gone when the sweep ends.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # "Creating initial MLflow database tables..." on every fresh store tells a user nothing;
    # MLflow's own MLFLOW_LOGGING_LEVEL still decides when it is set.
    if not os.environ.get("MLFLOW_LOGGING_LEVEL"):
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
