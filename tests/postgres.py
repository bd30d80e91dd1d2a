"""A throw-away PostgreSQL server from the machine's own packages (initdb, postgres).

Runs in a temporary directory on a free loopback port, as the ``postgres`` user when
started by root (PostgreSQL refuses to run as root), in the foreground under the project's
lifeline guard: it shuts down when the process that started it ends, SIGKILL included.
``python -m tests.postgres`` starts one for development and prints its URL; ``make postgres``
does the same.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found (install the postgresql package)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPostgres:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="senet-pg-"))
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        self.proc: subprocess.Popen | None = None
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")

    def _as_owner(self, *cmd: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if self.as_postgres else list(cmd)

    def _run(self, *cmd: str) -> None:
        subprocess.run(self._as_owner(*cmd), check=True, capture_output=True, text=True, cwd="/")

    def start(self, timeout: float = 60.0) -> LocalPostgres:
        self._run(_bin("initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        return self._serve(timeout)

    def restart(self, down_s: float) -> None:
        """Shut the server down, leave it down ``down_s`` seconds, start it again on the same
        port and data: what a database restart or a failover looks like to its clients."""
        self.shut_down()
        time.sleep(down_s)
        self._serve()

    def shut_down(self, how: str = "fast") -> None:
        """``fast`` (SIGINT: sessions ended, a clean stop) or ``crash`` (SIGQUIT to the
        postmaster: an immediate stop, recovered from its WAL at the next start). Its guard
        ends with it; :meth:`serve` starts it again on the same port and data."""
        if how == "crash":
            postmaster = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
            os.kill(postmaster, signal.SIGQUIT)
        else:
            self.proc.terminate()  # the guard shuts the server down fast
        self.proc.wait(timeout=60)

    def serve(self) -> LocalPostgres:
        return self._serve()

    def _serve(self, timeout: float = 60.0) -> LocalPostgres:
        from ablations.runtime import lifeline

        data = self.dir / "data"
        server = self._as_owner(_bin("postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self.dir),
                                "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200")
        with open(self.dir / "log", "ab") as log:
            # SIGINT is PostgreSQL's fast shutdown.
            self.proc = lifeline.spawn(lifeline.guard_command(server, sig="SIGINT", grace=20),
                                       stdout=log, stderr=subprocess.STDOUT, cwd="/")
        deadline = time.monotonic() + timeout
        while subprocess.run([_bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log_tail = (self.dir / "log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"PostgreSQL did not start: {log_tail}")
            time.sleep(0.2)
        return self

    def create_db(self, name: str) -> str:
        self._run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def url(self, db: str) -> str:
        # trust auth: the password is not checked; it is there so redaction can be tested.
        return f"postgresql://postgres:s3cret-pw@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()  # the guard shuts the server down
                self.proc.wait(timeout=60)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    pg = LocalPostgres().start()
    print(f"PostgreSQL on 127.0.0.1:{pg.port}\n  optuna: {pg.create_db('optuna')}\n  mlflow: {pg.create_db('mlflow')}")
    print("Ctrl-C stops it and deletes its data.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pg.stop()
        sys.exit(0)
