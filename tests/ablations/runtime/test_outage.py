"""Patience with an unreachable store: retry what is about reaching it, raise the rest."""

from __future__ import annotations

import optuna
import pytest
import sqlalchemy.exc

from ablations.runtime.outage import Patience, StoreUnreachable, unreachable


def _refused() -> Exception:
    """What Optuna raises when PostgreSQL refuses the connection: its own error, caused by
    SQLAlchemy's OperationalError."""
    cause = sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("Connection refused"))
    try:
        raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from cause
    except optuna.exceptions.StorageInternalError as err:
        return err


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_what_counts_as_unreachable():
    assert unreachable(_refused())
    assert not unreachable(ValueError("bad value"))
    assert not unreachable(sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key")))


def test_an_outage_is_waited_out_and_said_once_each_way():
    clock, said, calls = Clock(), [], []

    def call():
        calls.append(clock.now)
        if clock.now < 20:
            raise _refused()
        return "ok"

    patience = Patience(said.append, outage_s=60, every_s=5, sleep=clock.sleep, clock=clock)
    assert patience(call) == "ok"
    assert calls == [0, 5, 10, 15, 20]
    assert len(said) == 2
    assert said[0].startswith("the study's storage is unreachable (OperationalError")
    assert "retrying every 5 s for up to 60 s" in said[0]
    assert said[1] == "the study's storage answers again (after 20 s)"


def test_a_long_outage_is_raised_and_other_errors_at_once():
    clock, said = Clock(), []
    patience = Patience(said.append, outage_s=30, every_s=5, sleep=clock.sleep, clock=clock)

    def down():
        raise _refused()

    with pytest.raises(StoreUnreachable, match=r"stayed unreachable for 30 s \(--storage-patience 30\): ") as caught:
        patience(down)
    assert isinstance(caught.value.__cause__, optuna.exceptions.StorageInternalError)
    assert clock.now == 30

    def broken():
        raise ValueError("not about the store")

    with pytest.raises(ValueError):
        patience(broken)
    assert clock.now == 30  # no wait


def test_a_store_that_can_never_answer_is_not_an_outage():
    for text in ('could not translate host name "db-hots" to address: Name or service not known',
                 'FATAL:  password authentication failed for user "bob"',
                 'FATAL:  database "optuan" does not exist'):
        assert not unreachable(sqlalchemy.exc.OperationalError("connect", {}, Exception(text))), text
    for text in ("connection failed: Connection refused", "FATAL:  the database system is starting up",
                 "FATAL:  the database system is shutting down", "server closed the connection unexpectedly"):
        assert unreachable(sqlalchemy.exc.OperationalError("connect", {}, Exception(text))), text


def test_an_mlflow_server_that_does_not_answer_is_an_outage():
    import requests
    from mlflow.exceptions import MlflowException

    try:
        try:
            raise requests.exceptions.ConnectionError("Max retries exceeded (Caused by NewConnectionError: Connection refused)")
        except requests.exceptions.ConnectionError as e:
            raise MlflowException(f"API request to http://127.0.0.1:5000/api failed with exception {e}")  # noqa: B904 - as MLflow raises it
    except MlflowException as err:
        assert unreachable(err)
