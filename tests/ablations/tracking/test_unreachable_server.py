"""A tracking server that does not answer at start is an outage like the database's: waited
out with one line at once (not after minutes of MLflow's silent retries), then exit 75's
error; a host that does not exist fails at once."""

from __future__ import annotations

import socket
import time

import pytest

from ablations.errors import ConfigError
from ablations.runtime.outage import StoreUnreachable, tracking_patience
from ablations.runtime.settings import make_settings
from ablations.tracking.writer import Tracker


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


def test_a_server_that_does_not_answer_is_waited_for_then_given_up(tmp_path):
    uri = f"http://bob:pw@127.0.0.1:{_closed_port()}"
    settings = make_settings("s", run_dir=tmp_path, tracking_uri=uri, storage_patience=3)
    said: list[str] = []
    started = time.monotonic()
    with pytest.raises(StoreUnreachable, match=r"the MLflow tracking store at http://bob:\*\*\*@127\.0\.0\.1:\d+ "
                                               r"stayed unreachable"):
        tracking_patience(settings, said.append)(lambda: Tracker(uri, "s"))
    assert time.monotonic() - started < 30
    assert len(said) == 1 and said[0].startswith("the MLflow tracking store is unreachable (") and "pw" not in said[0]


def test_a_server_whose_host_does_not_exist_fails_at_once(tmp_path):
    uri = "http://no-such-host.invalid:5000"
    settings = make_settings("s", run_dir=tmp_path, tracking_uri=uri, storage_patience=60)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="the MLflow tracking store at http://no-such-host.invalid:5000 cannot be used"):
        tracking_patience(settings, print)(lambda: Tracker(uri, "s"))
    assert time.monotonic() - started < 30
