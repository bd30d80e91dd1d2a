"""Run settings: where things live and how they run. None of this enters the config_uid."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .data import default_cache_dir, default_data_root
from .errors import ConfigError
from .urls import STORAGE_SCHEMES, TRACKING_SCHEMES, check_url, sqlite_url

FINAL_CHECKPOINT = ("weights", "full", "none")  # what stays of a finished run's checkpoint


@dataclass(frozen=True)
class Settings:
    """Paths, URLs and runtime knobs of a sweep (defaults need no server).

    run_dir: default home of the Optuna and MLflow SQLite files, artifacts and checkpoints.
    checkpoint_dir: must be readable by every worker that may retry a run.
    heartbeat_interval / grace_period: seconds; a RUNNING trial whose worker has not
    beaten for ``grace_period`` is failed and retried (up to ``max_retry`` times).
    """

    study: str
    storage: str
    tracking_uri: str
    run_dir: Path
    checkpoint_dir: Path
    artifact_root: Path
    data_root: Path
    cache_dir: Path
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = None
    heartbeat_interval: int = 10
    grace_period: int = 40
    max_retry: int = 3
    final_checkpoint: str = "weights"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be an integer >= 1, got {self.threads}")
        if self.final_checkpoint not in FINAL_CHECKPOINT:
            raise ConfigError(f"--final-checkpoint {self.final_checkpoint!r}: valid choices: {', '.join(FINAL_CHECKPOINT)}")
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
    **kwargs,
) -> Settings:
    """Fill the defaults (files under ``run_dir``) and check URL schemes and knobs; writes nothing."""
    run_dir = Path(run_dir or os.environ.get("SENET_RUN_DIR", "runs"))
    # SENET_STORAGE: how workers and cluster tasks get the storage URL (its password kept off command lines).
    storage = check_url(storage or os.environ.get("SENET_STORAGE") or sqlite_url(run_dir / "optuna.db"),
                        STORAGE_SCHEMES, "--storage")
    tracking_uri = check_url(
        tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or sqlite_url(run_dir / "mlflow.db"),
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
        **kwargs,
    )


def check_study_name(study: str) -> None:
    """The study names folders (checkpoints, reports, SLURM logs): it must stay inside them."""
    parts = study.replace("\\", "/").split("/")
    if not study.strip() or study.startswith(("/", "-")) or ".." in parts or "\0" in study:
        raise ConfigError(f"--study {study!r}: a study name must not be empty, start with '/' or '-', or hold a '..' "
                          "part (it names folders under --run-dir and ./reports); e.g. letters, digits, '.', '_', '-'")


def worker_flags(settings: Settings, threads: int | None = None) -> list[str]:
    """The ``run_sweep.py worker`` flags that join ``settings``' study from another process
    (a local worker or a cluster task). The storage and tracking URLs are left out: they go
    through the environment (:func:`worker_env`), since anyone on the machine can read a
    process's command line and they may hold passwords."""
    flags = ["--study", settings.study, "--run-dir", str(settings.run_dir.resolve()),
             "--checkpoint-dir", str(Path(settings.checkpoint_dir).resolve()),
             "--data-root", str(Path(settings.data_root).resolve()), "--device", settings.device,
             "--heartbeat-interval", str(settings.heartbeat_interval), "--grace-period", str(settings.grace_period),
             "--final-checkpoint", settings.final_checkpoint, "--no-progress"]
    threads = threads or settings.threads
    return [*flags, "--threads", str(threads)] if threads else flags


def worker_env(storage: str, tracking_uri: str) -> dict[str, str]:
    return {"SENET_STORAGE": storage, "MLFLOW_TRACKING_URI": tracking_uri}
