"""Signals: SIGTERM is Ctrl-C; inside training the first one waits for the step boundary.
Lifelines: a child of ours, and a guarded program's whole group, end when the parent is
killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ablations.runtime.stopping import Interrupted, Stopper
from tests.conftest import ROOT
from tests.procs import command_line, descendants, wait_gone


@pytest.fixture()
def stopper():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield Stopper().install()
    for s, handler in saved.items():
        signal.signal(s, handler)


def test_sigterm_interrupts_at_once_outside_training(stopper):
    with pytest.raises(Interrupted) as err:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert err.value.signal_name == "SIGTERM" and err.value.exit_code == 143
    assert isinstance(err.value, KeyboardInterrupt)  # everything that handles Ctrl-C handles it


def test_first_signal_in_training_waits_for_the_step_second_interrupts(stopper):
    with stopper.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert stopper.requested and stopper.signal_name == "SIGINT"
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    with pytest.raises(Interrupted):
        stopper.check()


def test_an_interruptible_part_of_training_stops_at_once(stopper):
    with stopper.deferred():
        with pytest.raises(Interrupted), stopper.interruptible():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        assert stopper.requested
        with pytest.raises(Interrupted), stopper.interruptible():  # a stop that came before: at entry
            pass


PARENT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from ablations.runtime import lifeline
    child = lifeline.spawn([sys.executable, "-c", {child!r}])
    guarded = lifeline.spawn(lifeline.guard_command(["sleep", "300"], grace=2))
    print(child.pid, guarded.pid, flush=True)
    time.sleep(300)
""")
CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from ablations.runtime.lifeline import watch
    from ablations.runtime.stopping import STOPPER
    STOPPER.install()
    assert watch()
    try:
        time.sleep(300)
    except KeyboardInterrupt as err:
        sys.exit(err.exit_code)
""")


def test_children_end_when_the_parent_is_killed():
    child = CHILD.format(root=str(ROOT))
    parent = subprocess.Popen([sys.executable, "-c", PARENT.format(root=str(ROOT), child=child)],
                              stdout=subprocess.PIPE, text=True)
    try:
        child_pid, guard_pid = map(int, parent.stdout.readline().split())
        deadline = time.monotonic() + 30
        while not any("sleep" in command_line(p) for p in descendants(guard_pid)):
            assert time.monotonic() < deadline, "the guarded sleep never started"
            time.sleep(0.1)
        tree = descendants(parent.pid)
        assert {child_pid, guard_pid} <= tree and len(tree) >= 3
    finally:
        parent.kill()
        parent.wait()
    assert wait_gone(tree, timeout=15) == set()
