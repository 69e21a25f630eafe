"""Ctrl-C for the ``fluidframes`` process: a right answer at any moment.

:func:`fluidframes.cli.main` installs :class:`_Interrupts` as the SIGINT handler (in the main
thread, when Python's default is in place). While torch and PyAV are imported an interrupt is
held and acted on right after (one raised inside torch's native start-up code can abort the
process); every interrupt also sets the run's cancel event, so one that a library callback
swallows still stops the run; once the command has ended a late Ctrl-C no longer changes the
outcome. tests/fuzz/test_interrupts.py sends SIGINT at random moments of a run.

Standard library only: imported before any command runs.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager


class _InterruptEvent(threading.Event):
    """The CLI's cancel event: set by Ctrl-C; the pipeline says ``interrupted`` for it."""

    reason = "interrupted"


class _Interrupts:
    """SIGINT for the ``fluidframes`` process (installed by :func:`main` in the main thread)."""

    def __init__(self) -> None:
        self.event = _InterruptEvent()
        self.held = False

    def handler(self, signum, frame) -> None:
        self.event.set()
        if not self.held:
            raise KeyboardInterrupt

    @contextmanager
    def holding(self):
        """Interrupts inside the block are acted on when it ends."""
        self.held = True
        try:
            yield
        finally:
            self.held = False
        if self.event.is_set():
            raise KeyboardInterrupt


INTERRUPTS = _Interrupts()


def interrupt_event() -> threading.Event:
    """The event a Ctrl-C sets; commands hand it to the runs they start as ``cancel``."""
    return INTERRUPTS.event


def forget_caught_interrupt() -> None:
    """Clear CPython's "unhandled KeyboardInterrupt" flag after the interrupt was handled.

    CPython sets that flag whenever ``exec``/``eval`` of a string ends in KeyboardInterrupt
    (dataclasses and namedtuple build their methods that way, so an interrupt during an import
    often lands there) and never clears it when the exception is caught further up; under
    ``python -m`` the interpreter then kills itself with SIGINT on exit instead of returning our
    130. Running any string through ``exec`` resets it.
    """
    exec("", {})
