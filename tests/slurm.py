"""A throw-away single-node SLURM cluster from the machine's own packages (Debian's slurmctld,
slurmd and munge), for the cluster tests and for development (``make slurm``).

Runs as root in a temporary directory: munged on its own socket and key, slurmctld and slurmd
on free loopback ports with ``ProctrackType=proctrack/linuxproc`` and ``TaskPlugin=task/none``
(no cgroups), one partition ``debug`` with this machine's cores. Every daemon runs in the
foreground under the project's lifeline guard, so it ends when the process that started it
ends. Clients find it through ``SLURM_CONF`` (``env()``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.postgres import free_port

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo")


def missing() -> list[str]:
    """The programs this machine lacks (and why a cluster cannot start), empty when ready."""
    lacking = [d for d in DAEMONS if not (shutil.which(d) or Path(f"/usr/sbin/{d}").exists())]
    if os.geteuid() != 0:
        lacking.append("root (slurmd and munged run as root here)")
    return lacking


def _bin(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


class LocalSlurm:
    def __init__(self, cpus: int | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="senet-slurm-"))
        self.node = "senetnode"
        self.cpus = cpus or os.cpu_count() or 2
        self.conf = self.dir / "slurm.conf"
        self.procs: list[subprocess.Popen] = []

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_conf(self) -> None:
        d = self.dir
        for sub in ("state", "spool", "munge"):
            (d / sub).mkdir()
        self.conf.write_text(f"""\
ClusterName=senet
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
AuthInfo=socket={d}/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MaxArraySize=1000
NodeName={self.node} NodeHostname=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} State=UNKNOWN
PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")

    def _guarded(self, *cmd: str, log: str) -> None:
        from ablations.runtime import lifeline

        with open(self.dir / log, "ab") as out:
            self.procs.append(lifeline.spawn(lifeline.guard_command(list(cmd), grace=10), env=self.env(),
                                             stdout=out, stderr=subprocess.STDOUT, cwd="/"))

    def start(self, timeout: float = 60.0) -> LocalSlurm:
        self._write_conf()
        m = self.dir / "munge"
        subprocess.run([_bin("mungekey"), "--create", f"--keyfile={m}/munge.key"], check=True, capture_output=True)
        os.chmod(m / "munge.key", 0o400)
        self._guarded(_bin("munged"), "-F", "--force", f"--socket={m}/munge.socket", f"--key-file={m}/munge.key",
                      f"--pid-file={m}/munged.pid", f"--log-file={m}/munged.log", f"--seed-file={m}/munged.seed",
                      log="munged.out")
        self._wait(lambda: (m / "munge.socket").exists(), timeout, "munged")
        self._guarded(_bin("slurmctld"), "-D", "-i", "-f", str(self.conf), log="slurmctld.out")
        self._guarded(_bin("slurmd"), "-D", "-N", self.node, "-f", str(self.conf), log="slurmd.out")
        self._wait(self._node_idle, timeout, "slurmd to register")
        return self

    def _node_idle(self) -> bool:
        out = subprocess.run([_bin("sinfo"), "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env())
        return out.returncode == 0 and out.stdout.strip() in ("idle", "mixed", "allocated")

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                logs = "".join((self.dir / f).read_text(errors="replace")[-1500:] for f in
                               ("munged.out", "slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out")
                               if (self.dir / f).exists())
                self.stop()
                raise RuntimeError(f"SLURM did not start ({what}): {logs}")
            time.sleep(0.3)

    def stop(self) -> None:
        try:
            for p in reversed(self.procs):
                if p.poll() is None:
                    p.terminate()  # each guard stops its daemon's process group
            for p in self.procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    if lacking := missing():
        sys.exit(f"cannot start SLURM here: missing {', '.join(lacking)} (apt-get install slurmctld slurmd "
                 "slurm-client munge)")
    cluster = LocalSlurm().start()
    print(f"SLURM on this machine: export SLURM_CONF={cluster.conf}\nCtrl-C stops it and deletes its files.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        cluster.stop()
