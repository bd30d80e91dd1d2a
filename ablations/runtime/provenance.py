"""Where the code that runs came from: the git commit of a checkout, and the source tags
MLflow shows in its Source column for every run."""

from __future__ import annotations

import functools
import subprocess
import sys
from importlib import resources
from pathlib import Path


@functools.cache
def source_commit() -> str:
    """The git commit of the project's code when it runs from a checkout ("unknown" when it
    is installed: a virtual environment inside some other repository is not our checkout)."""
    package = Path(str(resources.files("ablations")))
    try:
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", "__init__.py"], cwd=package,
                                 capture_output=True, timeout=5)
        if tracked.returncode != 0:
            return "unknown"
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package, capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def short(commit: str) -> str:
    return commit if commit == "unknown" else commit[:7]


def source_tags() -> dict[str, str]:
    """MLflow's own source tags for a run this process logs: the program and, from a
    checkout, its commit (the UI's Source column shows both)."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    tags = {"mlflow.source.type": "LOCAL", "mlflow.source.name": program}
    if (commit := source_commit()) != "unknown":
        tags["mlflow.source.git.commit"] = commit
    return tags
