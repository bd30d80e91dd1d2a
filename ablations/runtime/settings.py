"""Run settings: where things live and how they run. None of this enters the config_uid.

Each setting that is a command-line flag says so in its field's metadata (:func:`flag`):
its help and choices live there, its default is the field's, and :mod:`.flags` builds the
launcher's, the worker's and the status command's parsers, and a worker's command line,
from these fields alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from ..errors import ConfigError
from .urls import STORAGE_SCHEMES, TRACKING_SCHEMES, check_url, sqlite_url

FinalCheckpoint = Literal["weights", "full", "none"]  # what stays of a finished run's checkpoint
FINAL_CHECKPOINT = get_args(FinalCheckpoint)
# How workers and cluster tasks get the store URLs, passwords kept off their command lines.
STORAGE_ENV, TRACKING_ENV = "SENET_STORAGE", "MLFLOW_TRACKING_URI"


def flag(help: str, secret: bool = False, **argparse_kwargs: Any) -> dict[str, Any]:
    """Field metadata: the setting is the flag ``--<field-name>`` with this help. A ``secret``
    one (a URL that may hold a password) reaches workers through their environment, never on
    a command line, which anyone on the machine can read."""
    return {"flag": {"help": help, **argparse_kwargs}, "secret": secret}


def default_data_root() -> Path:
    return Path(os.environ.get("SENET_DATA_ROOT", "data"))


def default_cache_dir() -> Path:
    env = os.environ.get("SENET_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "senet-ablations"


@dataclass(frozen=True)
class Settings:
    """Paths, URLs and runtime knobs of a sweep (defaults need no server).

    run_dir: default home of the Optuna and MLflow SQLite files, artifacts and checkpoints.
    checkpoint_dir: must be readable by every worker that may retry a run.
    heartbeat_interval / grace_period: seconds; a RUNNING trial whose worker has not
    beaten for ``grace_period`` is failed and retried (up to ``max_retry`` times).
    """

    study: str = field(metadata=flag("study name (a launch's default: <suite>-<preset>)"))
    storage: str = field(metadata=flag(
        "Optuna storage URL (default: $SENET_STORAGE, else sqlite:///<run-dir>/optuna.db)", secret=True))
    tracking_uri: str = field(metadata=flag(
        "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///<run-dir>/mlflow.db)", secret=True))
    run_dir: Path = field(metadata=flag(
        "home of the default stores, artifacts, checkpoints (default: $SENET_RUN_DIR, else ./runs)"))
    checkpoint_dir: Path = field(metadata=flag("checkpoints, shared by all workers (default: <run-dir>/checkpoints)"))
    artifact_root: Path
    data_root: Path = field(metadata=flag("datasets folder (default: $SENET_DATA_ROOT, else ./data)"))
    cache_dir: Path
    device: Literal["auto", "cpu", "cuda"] = field(default="auto", metadata=flag("where runs train"))
    threads: int | None = field(default=None, metadata=flag(
        "torch CPU threads per worker (default: one per core; with --workers N, cores / N each)"))
    heartbeat_interval: int = field(default=10, metadata=flag("seconds between a worker's heartbeats"))
    grace_period: int = field(default=40, metadata=flag("seconds without a heartbeat before a run is retried"))
    max_retry: int = 3
    storage_patience: int = field(default=600, metadata=flag(
        "seconds a worker, launcher or status waits for an unreachable store (the study's database, the MLflow "
        "server), at start or later, before it exits with code 75"))
    final_checkpoint: FinalCheckpoint = field(default="weights", metadata=flag(
        "what is kept of a finished run's checkpoint: its weights as <uid>-seed<N>.weights.pt, all of it, or nothing"))
    progress: bool = field(default=True, metadata=flag("progress bars"))

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be an integer >= 1, got {self.threads}")
        if self.final_checkpoint not in FINAL_CHECKPOINT:
            raise ConfigError(f"--final-checkpoint {self.final_checkpoint!r}: valid choices: {', '.join(FINAL_CHECKPOINT)}")
        if self.storage_patience < 0:
            raise ConfigError(f"--storage-patience must be an integer >= 0 (seconds), got {self.storage_patience}")
        if self.heartbeat_interval < 1:
            raise ConfigError(f"--heartbeat-interval must be an integer >= 1 (seconds), got {self.heartbeat_interval}")
        # Optuna's own default is twice the interval; less, and one late beat would hand a live
        # worker's run to another worker, which would then train it a second time.
        if self.grace_period < 2 * self.heartbeat_interval:
            raise ConfigError(f"--grace-period must be at least twice --heartbeat-interval ({self.heartbeat_interval} s), "
                              f"got {self.grace_period}: a run whose worker is alive would be taken as lost")


def make_settings(
    study: str,
    run_dir: Path | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    data_root: Path | None = None,
    checkpoint_dir: Path | None = None,
    cache_dir: Path | None = None,
    **knobs: Any,
) -> Settings:
    """Fill the defaults (files under ``run_dir``) and check URL schemes and knobs; writes
    nothing. A knob given as None takes its default."""
    run_dir = Path(run_dir or os.environ.get("SENET_RUN_DIR", "runs"))
    storage = check_url(storage or os.environ.get(STORAGE_ENV) or sqlite_url(run_dir / "optuna.db"),
                        STORAGE_SCHEMES, "--storage")
    tracking_uri = check_url(
        tracking_uri or os.environ.get(TRACKING_ENV) or sqlite_url(run_dir / "mlflow.db"),
        TRACKING_SCHEMES,
        "--tracking-uri",
    )
    return Settings(
        study=study,
        storage=storage,
        tracking_uri=tracking_uri,
        run_dir=run_dir,
        checkpoint_dir=Path(checkpoint_dir or run_dir / "checkpoints"),
        artifact_root=run_dir / "artifacts",
        data_root=Path(data_root or default_data_root()),
        cache_dir=Path(cache_dir or default_cache_dir()),
        **{k: v for k, v in knobs.items() if v is not None},
    )


def check_study_name(study: str) -> None:
    """The study names folders (checkpoints, reports, SLURM logs): it must stay inside them."""
    parts = study.replace("\\", "/").split("/")
    if not study.strip() or study.startswith(("/", "-")) or ".." in parts or "\0" in study:
        raise ConfigError(f"--study {study!r}: a study name must not be empty, start with '/' or '-', or hold a '..' "
                          "part (it names folders under --run-dir and ./reports); e.g. letters, digits, '.', '_', '-'")
