from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def paper_tables(tmp: Path, *tables: int) -> list[str]:
    """``--config`` of a sweep file whose paper suite keeps only ``tables``, for the slower
    multi-process scenarios."""
    import yaml

    data = yaml.safe_load((ROOT / "sweeps.yaml").read_text())
    data["suites"]["paper"]["tables"] = {t: data["suites"]["paper"]["tables"][t] for t in tables}
    path = tmp / f"sweeps-t{'-'.join(map(str, tables))}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return ["--config", str(path)]


def fake_sweep(tmp: Path, rows: list[dict] | dict) -> list[str]:
    """``--config``, ``--suite`` and ``--preset`` of a sweep file whose one table (99) has
    ``rows`` (or is that mapping, with its own ``rows``) of a width-1/4 ResNet-20 trained one
    epoch on fake data (unit tests only)."""
    import yaml

    sweep = {
        "base": {
            "model": {"arch": "cifar_resnet20", "num_classes": 10, "width": 0.25},
            "data": {"name": "fake", "train_size": 32, "test_size": 20, "batch_size": 32},
            "train": {"epochs": 1, "lr": 0.05},
        },
        "suites": {"s": {"tables": {99: rows}}},
        "presets": {"p": {"set": {}}},
    }
    path = tmp / "fake-sweeps.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return ["--config", str(path), "--suite", "s", "--preset", "p"]


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
    monkeypatch.delenv("SENET_STORAGE", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def pg():
    """One PostgreSQL server for the whole session (tests create their own databases)."""
    from tests.postgres import LocalPostgres

    server = LocalPostgres().start()
    yield server
    server.stop()


@pytest.fixture()
def stores(pg, request):
    """An Optuna and an MLflow database of this test's own on the session's PostgreSQL."""
    import hashlib

    name = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    return pg.create_db(f"optuna_{name}"), pg.create_db(f"mlflow_{name}")


@pytest.fixture(params=["sqlite", "postgres"])
def both_stores(request, tmp_path):
    """(Optuna storage, MLflow tracking URI): SQLite files, then PostgreSQL databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'optuna.db'}", f"sqlite:///{tmp_path / 'mlflow.db'}"
    return request.getfixturevalue("stores")
