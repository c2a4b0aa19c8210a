"""Who this process is when it claims work: one value, made once by the composition root.

A claim (a raw row, an outbox row, an IMAP mailbox's lease) is stamped `host:pid:token`. The
token is there because a restarted service often gets the same pid (PID 1 in a container) and
must still know the old claims are orphans. From a stamp, `is_dead` tells whether the process
that wrote it is provably gone: only on this host, where the pid can be asked; a stamp from
another host is never judged dead, its claim waits out its timeout. Queues may append a marker
to the stamp (`rawqueue.SOLO`); `is_dead` reads past it.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Claimant:
    host: str
    pid: int
    token: str
    # How a pid of this host is asked after (tests hand in their own).
    alive: Callable[[int], bool] = field(default=lambda pid: _pid_alive(pid), repr=False, compare=False)

    @classmethod
    def of_this_process(cls) -> Claimant:
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])

    @property
    def owner(self) -> str:
        """The stamp written into what this process claims."""
        return f"{self.host}:{self.pid}:{self.token}"

    def is_dead(self, stamp: str) -> bool:
        """Whether the process that wrote `stamp` is provably gone: a process of this host that no
        longer runs, or an earlier life of this pid (another token). False for another host."""
        host, _, rest = stamp.partition(":")
        pid, _, token = rest.partition(":")
        if host != self.host:
            return False
        if not pid.isdigit():
            return True  # not a stamp any process of ours wrote
        if int(pid) == self.pid:
            return token.partition(":")[0] != self.token
        return not self.alive(int(pid))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's: alive, unless it has exited
    return not _exited(pid)


def _exited(pid: int) -> bool:
    """A zombie: it has exited but its parent has not reaped it yet. A signal still finds it, but
    it holds nothing: a killed `serve`'s children wait so for whoever reaps orphans, sometimes for
    seconds, and their claims must be taken back at once, not after the claim timeout."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc here (not Linux): the signal's answer stands
    return stat.rpartition(")")[2].split()[:1] in (["Z"], ["X"])
