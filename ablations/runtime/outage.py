"""Riding out an outage of a store: a PostgreSQL restart or failover, a database still
starting up, an MLflow server being restarted, a network blip.

Training goes on through one (heartbeats are retried by themselves); what must not happen is
that a worker, a launcher, ``status`` or the report dies at its next look at a store, or at
its first, and takes the work in progress down with it. Calls are retried while the store
cannot be reached, for up to one patience (``--storage-patience``, the same for a worker
that starts during the outage and for one that was running when it began); then
:class:`StoreUnreachable` says which store and why, and the process exits with
:data:`EXIT_UNREACHABLE`. A store that can never answer (an unknown host, a wrong password,
a database that does not exist) is not an outage: its error is raised at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy.exc

from ..errors import ConfigError
from .settings import Settings
from .urls import redact

RETRY_EVERY_S = 5.0
EXIT_UNREACHABLE = 75  # sysexits' EX_TEMPFAIL: try again later
T = TypeVar("T")

# Connection errors that no wait will mend (psycopg's and requests' wording).
_PERMANENT = ("could not translate host name", "name or service not known", "nodename nor servname",
              "temporary failure in name resolution", "failed to resolve", "password authentication failed",
              "no password supplied", "no pg_hba.conf entry", "does not exist", "invalid dsn")


class StoreUnreachable(Exception):
    """A store stayed unreachable for the whole patience; the message is the one line to print."""


def _chain(err: BaseException):
    seen: BaseException | None = err
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def _http_unanswered(e: BaseException) -> bool:
    """requests' connection errors (MLflow's HTTP client), without importing requests."""
    return type(e).__name__ in ("ConnectionError", "ConnectTimeout") and type(e).__module__.startswith("requests")


def _connection_error(err: BaseException) -> bool:
    return any(isinstance(e, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError) or _http_unanswered(e)
               for e in _chain(err))


def never_answers(err: BaseException) -> bool:
    """A connection error that no wait will mend: an unknown host, a refused login, a
    database that does not exist."""
    return _connection_error(err) and any(p in str(e).lower() for e in _chain(err) for p in _PERMANENT)


def unreachable(err: BaseException) -> bool:
    """True when ``err`` (or what caused it: Optuna wraps SQLAlchemy's errors, MLflow the
    HTTP client's) says the store could not be reached or dropped the connection, and waiting
    may mend it."""
    if never_answers(err):
        return False
    for seen in _chain(err):
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and (
                seen.connection_invalidated or isinstance(seen, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError)):
            return True
        if isinstance(seen, sqlalchemy.exc.DisconnectionError):
            return True
        if _http_unanswered(seen):
            return True  # an MLflow tracking server that does not answer
    return False


class Patience:
    """Retries calls while a store is unreachable; says once when it is lost (which store, its
    URL with the password hidden, for how long it waits) and once when it is back."""

    def __init__(self, say: Callable[[str], None], outage_s: float, every_s: float = RETRY_EVERY_S,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 store: str = "the study's storage", url: str | None = None) -> None:
        self.say, self.outage_s, self.every_s, self.sleep, self.clock = say, outage_s, every_s, sleep, clock
        self.store, self.where = store, f" at {redact(url)}" if url else ""

    def __call__(self, call: Callable[[], T]) -> T:
        lost_at: float | None = None
        while True:
            try:
                result = call()
            except Exception as err:
                if never_answers(err):
                    raise ConfigError(f"{self.store}{self.where} cannot be used: {_reason(err)}") from err
                if not unreachable(err):
                    raise
                now = self.clock()
                if lost_at is None:
                    lost_at = now
                    self.say(f"{self.store} is unreachable ({_reason(err)}){self.where}; retrying every "
                             f"{self.every_s:.0f} s for up to {_span(self.outage_s)}")
                if now - lost_at >= self.outage_s:
                    raise StoreUnreachable(f"{self.store}{self.where} stayed unreachable for {_span(now - lost_at)} "
                                           f"(--storage-patience {self.outage_s:.0f}): {_reason(err)}") from err
                self.sleep(self.every_s)
                continue
            if lost_at is not None:
                self.say(f"{self.store} answers again (after {self.clock() - lost_at:.0f} s)")
            return result


def storage_patience(settings: Settings, say: Callable[[str], None]) -> Patience:
    """Patience with the study's Optuna storage."""
    return Patience(say, settings.storage_patience, url=settings.storage)


def tracking_patience(settings: Settings, say: Callable[[str], None]) -> Patience:
    """Patience with the MLflow tracking store (a database, or a server)."""
    return Patience(say, settings.storage_patience, store="the MLflow tracking store", url=settings.tracking_uri)


def _span(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _reason(err: BaseException) -> str:
    # The explicit causes only (Optuna's error -> SQLAlchemy's OperationalError): deeper, the
    # driver's own errors name the path to the loss (AdminShutdown, InvalidatePoolError), not it.
    root = err
    while root.__cause__ is not None:
        root = root.__cause__
    first = str(root).strip().splitlines()[0] if str(root).strip() else ""
    return redact(f"{type(root).__name__}: {first}"[:200])
