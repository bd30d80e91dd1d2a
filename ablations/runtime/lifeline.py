"""Child processes that end with their parent, however the parent ends (SIGKILL included).

A parent killed with SIGKILL runs no cleanup, so each child holds the read end of a pipe
whose only write end is the parent's: the kernel closes it when the parent dies and the
child's read returns. Unlike Linux's parent-death signal this also works on macOS and
cannot miss a parent that died before the child was ready.

- :func:`spawn` starts a child with the pipe's read end (``SENET_LIFELINE_FD``).
- :func:`watch`, in a child of ours (the sweep worker): when the parent dies, SIGTERM to
  itself, the graceful stop a scheduler would send (checkpoint, hand the run back); if that
  has not ended the process ``HARD_EXIT_S`` later, it exits anyway.
- ``python -m ablations.runtime.lifeline [--signal NAME] -- CMD ...`` guards a program that is not
  ours (the MLflow server and its helpers, a test PostgreSQL): CMD runs in its own process
  group, and when the guard's parent dies, or the guard gets SIGTERM/SIGINT, or CMD exits,
  the whole group gets the signal and, ``--grace`` seconds later, SIGKILL.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

ENV = "SENET_LIFELINE_FD"
HARD_EXIT_S = 60.0
_pipe: tuple[int, int] | None = None


def _read_end() -> int:
    global _pipe
    if _pipe is None:
        _pipe = os.pipe()  # both ends non-inheritable: only the children given it see the read end
    return _pipe[0]


def spawn(cmd: Sequence[str], env: dict[str, str] | None = None, **popen_kwargs) -> subprocess.Popen:
    """``subprocess.Popen`` in a new session whose child learns when this process is gone."""
    fd = _read_end()
    env = dict(os.environ if env is None else env)
    env[ENV] = str(fd)
    return subprocess.Popen(list(cmd), env=env, pass_fds=(fd,), start_new_session=True, **popen_kwargs)


def _on_parent_death(fd: int, action: Callable[[], None]) -> None:
    def wait() -> None:
        try:
            while os.read(fd, 1):  # nothing is ever written: a return means end of file
                pass
        except OSError:
            pass
        action()

    threading.Thread(target=wait, daemon=True, name="lifeline").start()


def _inherited_fd() -> int | None:
    fd = os.environ.pop(ENV, None)
    if fd is None:
        return None
    try:
        os.set_inheritable(int(fd), False)  # this process's own children get their own line
    except OSError:
        return None
    return int(fd)


def watch(signum: int = signal.SIGTERM, hard_exit_s: float = HARD_EXIT_S) -> bool:
    """Stop this process with ``signum`` when its parent dies; False if it has no lifeline."""
    fd = _inherited_fd()
    if fd is None:
        return False

    def stop() -> None:
        os.kill(os.getpid(), signum)
        time.sleep(hard_exit_s)
        os._exit(128 + signum)

    _on_parent_death(fd, stop)
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def guard(cmd: Sequence[str], sig: int = signal.SIGTERM, grace: float = 15.0) -> int:
    """Run ``cmd`` until it exits or this process is told to stop; leave nothing of it behind."""
    stop = threading.Event()
    fd = _inherited_fd()
    if fd is not None:
        _on_parent_death(fd, stop.set)
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    proc = subprocess.Popen(list(cmd), start_new_session=True)
    while proc.poll() is None and not stop.wait(0.2):
        pass
    _signal_group(proc.pid, sig)
    deadline = time.monotonic() + grace
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        proc.poll()  # reaps CMD itself once it exits, so the group can empty
        time.sleep(0.1)
    _signal_group(proc.pid, signal.SIGKILL)
    code = proc.wait()
    return code if code >= 0 else 128 - code


def guard_command(cmd: Sequence[str], sig: str = "SIGTERM", grace: float = 15.0) -> list[str]:
    """The command line that runs ``cmd`` under :func:`guard`."""
    return [sys.executable, "-m", __name__, "--signal", sig, "--grace", str(grace), "--", *cmd]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ablations.runtime.lifeline",
                                description="Run CMD; end its whole process group when this process's parent ends.")
    p.add_argument("--signal", default="SIGTERM", help="signal that stops CMD's group (default: SIGTERM)")
    p.add_argument("--grace", type=float, default=15.0, help="seconds before SIGKILL (default: 15)")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        p.error("no command given")
    name = args.signal.upper()
    return guard(cmd, signal.Signals[name if name.startswith("SIG") else f"SIG{name}"], args.grace)


if __name__ == "__main__":
    sys.exit(main())
