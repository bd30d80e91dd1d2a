"""First use of a fresh database by several processes at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def retry_first_use(fn: Callable[[], T], attempts: int = 8) -> T:
    """Run ``fn``, retrying while concurrent processes race to create a fresh database's
    tables (both MLflow and Optuna run schema migrations on first use)."""
    for i in range(attempts):
        try:
            return fn()
        except Exception as err:  # the race surfaces as IntegrityError/ProgrammingError/MlflowException
            if i == attempts - 1 or not _is_schema_race(err):
                raise
            time.sleep(0.5 + i)


def _is_schema_race(err: BaseException) -> bool:
    text = f"{type(err).__name__}: {err}"
    return any(s in text for s in ("alembic_version", "already exists", "UniqueViolation", "duplicate key",
                                   "IntegrityError", "database is locked"))
