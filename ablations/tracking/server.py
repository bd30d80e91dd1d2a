"""The MLflow server a launcher runs for its local workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ..runtime.lifeline import guard_command, spawn
from ..runtime.urls import redact


def check_answers(tracking_uri: str, timeout: float = 5.0) -> None:
    """Raise at once when ``tracking_uri`` is a tracking server that does not answer (the
    error an outage's patience waits on), rather than after the minutes MLflow's client spends
    retrying its first request in silence."""
    if not tracking_uri.startswith(("http://", "https://")):
        return
    import requests  # MLflow's own HTTP client, only for a server

    requests.get(f"{tracking_uri.rstrip('/')}/health", timeout=timeout)


class ServerLost(Exception):
    """The launcher's MLflow server died and could not be kept running."""


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 in front of a database store, so that many local
    worker processes write through one server instead of contending for a SQLite file.

    It runs under :mod:`ablations.runtime.lifeline`'s guard, so the server and its helper processes end with
    this process even when it is killed with SIGKILL. MLflow's job runner (seven helper
    processes for GenAI jobs) is not started: sweeps never use it. Its output goes to
    ``log_path``.
    """

    def __init__(self, backend_uri: str, artifact_root: Path, log_path: Path, host: str = "127.0.0.1") -> None:
        with socket.socket() as s:
            s.bind((host, 0))
            self.port = s.getsockname()[1]
        self.host = host
        self.url = f"http://{host}:{self.port}"
        self.log_path = log_path
        artifact_root.mkdir(parents=True, exist_ok=True)
        self.cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
                    "--default-artifact-root", artifact_root.resolve().as_uri(), "--no-serve-artifacts",
                    "--host", host, "--port", str(self.port), "--workers", "1"]
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    MAX_RESTARTS = 3

    def start(self, timeout: float = 120.0) -> MlflowServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with open(self.log_path, "ab") as log:
            self.proc = spawn(guard_command(self.cmd), env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {redact(self._log_tail())}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer on {self.url} within {timeout:.0f} s "
                           f"(its log: {self.log_path}): {redact(self._log_tail())}")

    def keep_alive(self) -> str | None:
        """If the server has died (the OOM killer, a crash), start it again on the same port,
        where the workers' requests, which MLflow retries for minutes, find it; returns the line
        that says so, or None while it runs. :class:`ServerLost` past ``MAX_RESTARTS``."""
        if self.proc is None or self.proc.poll() is None:
            return None
        self.restarts += 1
        if self.restarts > self.MAX_RESTARTS:
            raise ServerLost(f"the MLflow server the workers log through stopped {self.restarts} times "
                             f"(its log: {self.log_path}); the runs in progress are retried by the next launch")
        code = self.proc.returncode
        try:
            self.start()
        except RuntimeError as err:
            raise ServerLost(str(err)) from None
        return (f"the MLflow server on {self.url} had stopped (exit code {code}; its log: {self.log_path}); "
                "started it again, the workers' logging goes on")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """The guard stops the server's whole process group, then exits."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
