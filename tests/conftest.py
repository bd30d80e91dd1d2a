from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real CIFAR-10 copy (``SENET_DATA_ROOT``); end-to-end tests need it."""
    root = Path(os.environ.get("SENET_DATA_ROOT", ROOT.parent / "shared" / "data"))
    if not (root / "cifar10" / "train").is_dir():
        pytest.fail(f"CIFAR-10 not found under {root}; set SENET_DATA_ROOT (see README)")
    return root


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path, cache_dir):
    monkeypatch.setenv("SENET_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
