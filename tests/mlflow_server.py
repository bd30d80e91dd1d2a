"""An ``mlflow server`` the tests start on a free loopback port, in a session of its own so
that it ends whole (its web workers included) and can be started again on the same port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


class LocalMlflowServer:
    def __init__(self, backend: str, artifacts: Path, log: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend, "--default-artifact-root",
                    artifacts.as_uri(), "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        self.log, self.proc = log, None

    def start(self, timeout: float = 120.0) -> LocalMlflowServer:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not start: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.3)

    def kill(self) -> None:
        """kill -9 of the whole server."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
