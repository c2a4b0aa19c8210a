"""Starting the service's own processes so that a terminal's Ctrl-C reaches only the one it started.

A terminal sends SIGINT to its whole foreground process group: `inbox serve`, its role processes
and their parser pools at once. A child that took it would die mid-task with a
`KeyboardInterrupt` traceback, before its parent could stop it in the order that loses no mail.
So the parent alone hears Ctrl-C and stops its children as on SIGTERM. A blocked signal stays
blocked across fork and exec, so a process started inside `sigint_held()` never sees SIGINT,
even while it imports, before it could set a handler; `ignore_sigint()` is for its first line.

Standard library only. Never changes what SIGTERM does: that still stops any process directly.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

_INTERRUPT = {signal.SIGINT}


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """Start processes inside this block: they are born with SIGINT blocked. Only the calling
    thread's mask changes, and is put back after; a SIGINT sent meanwhile reaches another thread
    of this process, or waits (pending, never lost) until the block ends."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPT)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def ignore_sigint() -> None:
    """In a child process: SIGINT does nothing here, whatever this process starts in turn (an
    ignored signal stays ignored across exec, and Python keeps it so)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
