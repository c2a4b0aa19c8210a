"""Whether the outbound relay takes our login, for /healthz: the transport tells `heard` how each
login went (None: it worked; else the reason), and `failing` says since when logins fail and why.

It lives where /healthz is read; a sending child process hands each login's outcome up its pipe
(`inbox.processes`). It never sends, retries or holds a secret: the reasons it keeps are the
transport's, already scrubbed of tokens.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from inbox.clock import Clock

log = logging.getLogger(__name__)


class RelayLogin:
    """The relay's login as last heard: `failing` is None while it works, else {"reason", "since"}
    (since: the first of the failed logins in a row, as for a failing mailbox)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._since: datetime | None = None

    def heard(self, reason: str | None) -> None:
        with self._lock:
            before, since = self._reason, self._since
            if reason is None:
                self._reason = self._since = None
            else:
                self._reason, self._since = reason, since or self._clock.now()
        if reason is not None and before is None:
            log.warning("outbound relay: login failed; the emails wait: %s", reason)
        elif reason is None and since is not None:
            log.warning("outbound relay: login works again; it had failed since %s",
                        since.isoformat(timespec="seconds"))  # closes the failure warning

    @property
    def failing(self) -> dict[str, str] | None:
        with self._lock:
            if self._reason is None or self._since is None:
                return None
            return {"reason": self._reason, "since": self._since.isoformat()}
