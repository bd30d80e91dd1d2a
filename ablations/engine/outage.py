"""Riding out a storage outage: a PostgreSQL restart, a failover, a network blip.

Training goes on through one (heartbeats are retried by themselves); what must not happen is
that the launcher or an idle worker dies at its next look at the study and takes every run
in progress down with it. Calls between runs are retried until the store answers again, for
up to ``OUTAGE_S``; an error that is not about reaching the store is raised at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy.exc

from ..runtime.urls import redact

OUTAGE_S = 600.0
RETRY_EVERY_S = 5.0
T = TypeVar("T")


def unreachable(err: BaseException) -> bool:
    """True when ``err`` (or what caused it: Optuna wraps SQLAlchemy's errors) says the
    database could not be reached or dropped the connection."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and (
                seen.connection_invalidated or isinstance(seen, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError)):
            return True
        if isinstance(seen, sqlalchemy.exc.DisconnectionError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Patience:
    """Retries calls while the store is unreachable; says once when it is lost and once when
    it is back."""

    def __init__(self, say: Callable[[str], None], outage_s: float = OUTAGE_S, every_s: float = RETRY_EVERY_S,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.say, self.outage_s, self.every_s, self.sleep, self.clock = say, outage_s, every_s, sleep, clock

    def __call__(self, call: Callable[[], T]) -> T:
        lost_at: float | None = None
        while True:
            try:
                result = call()
            except Exception as err:
                if not unreachable(err):
                    raise
                now = self.clock()
                if lost_at is None:
                    lost_at = now
                    self.say(f"the study's storage is unreachable ({_reason(err)}); retrying every "
                             f"{self.every_s:.0f} s for up to {self.outage_s / 60:.0f} min, training goes on")
                if now - lost_at >= self.outage_s:
                    raise
                self.sleep(self.every_s)
                continue
            if lost_at is not None:
                self.say(f"the study's storage answers again (after {self.clock() - lost_at:.0f} s)")
            return result


def _reason(err: BaseException) -> str:
    root = err
    while root.__cause__ is not None:
        root = root.__cause__
    first = str(root).strip().splitlines()[0] if str(root).strip() else ""
    return redact(f"{type(root).__name__}: {first}"[:200])
