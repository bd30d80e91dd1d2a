"""Ctrl-C and SIGTERM as one graceful stop: a training run ends at a step boundary with its
checkpoint saved; anywhere else the signal interrupts at once.

SIGTERM is what ``timeout``, SLURM (preemption, ``scancel``, time limits), systemd and
Kubernetes send, so it is treated exactly as Ctrl-C. A second signal always interrupts at
once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; ``signal_name`` says which (``SIGINT``, ``SIGTERM``)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + int(signal.Signals[self.signal_name])


class Stopper:
    """The process's stop signals. ``install()`` once in the main thread; training code runs
    inside ``deferred()`` and polls ``requested`` after each step."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._deferring = False

    def install(self) -> Stopper:
        # A process started in the background inherits SIGINT as ignored: take it back.
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        first = self.signal_name is None
        if first:
            self.signal_name = signal.Signals(signum).name
        if first and self._deferring:
            return  # the training loop stops at its next step boundary
        raise Interrupted(self.signal_name or signal.Signals(signum).name)

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def check(self) -> None:
        """Raise :class:`Interrupted` if a stop was requested (between runs, while waiting)."""
        if self.signal_name is not None:
            raise Interrupted(self.signal_name)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Within this block the first signal only sets ``requested`` (blocks may nest)."""
        outer, self._deferring = self._deferring, True
        try:
            yield
        finally:
            self._deferring = outer

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Within a deferred block, a part that a stop may abandon at once (its work is saved
        already, and it may block: logging to a tracking server that is gone); a stop that
        came before it raises on entry."""
        self.check()
        outer, self._deferring = self._deferring, False
        try:
            yield
        finally:
            self._deferring = outer


STOPPER = Stopper()
