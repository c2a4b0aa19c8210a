"""Tells every instance on one PostgreSQL that emails were queued (or raw mail stored): NOTIFY
as they are queued, and a LISTEN connection in each `inbox serve` that wakes its sender (or its
ingest runner, when another instance or process receives the mail).

PostgreSQL delivers a notification only when the transaction that sent it commits (one per
channel and payload per transaction), so a listener never wakes before the rows are there to
claim, and a rolled-back transaction wakes no one. On SQLite (one instance, whose own ingest
wakes its sender in process) both do nothing. The listener never raises out of its thread: a
lost connection is logged and made again with back-off, and the scheduler's tick covers what is
missed meanwhile. It carries no data: a wake only says "look at the outbox" (or "at the raw queue").
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Callable

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "inbox_outbox"
RAW_CHANNEL = "inbox_raw"  # raw mail committed: what the ingest role listens for
POLL_SECONDS = 1.0  # how often the listener looks at its stop flag between notifications
MAX_BACKOFF = 60.0


# Transactions that have sent their NOTIFY: PostgreSQL folds identical notifications of one
# transaction into one, so a second would only cost a round trip on ingest's path (a ticket
# queues two emails or more).
_NOTIFIED: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()


def notify(session: Session, channel: str = CHANNEL) -> None:
    """Announce, at this transaction's commit, that outbox rows were queued (or, on RAW_CHANNEL,
    raw mail stored); PostgreSQL only, once per channel and transaction."""
    if session.get_bind().dialect.name != "postgresql":
        return
    transaction = session.get_transaction()
    if transaction is None or channel in _NOTIFIED.get(transaction, ()):
        return
    # Reads nothing: held rows need not be written before it (`inbox.store.deferred`)
    session.execute(text(f"NOTIFY {channel}").execution_options(held_aware=True))
    _NOTIFIED.setdefault(transaction, set()).add(channel)


class OutboxListener:
    """LISTENs on a channel (the outbox's by default) and calls `on_notify` for each notification
    (a Poller: `run(stop)` returns once `stop` is set)."""

    def __init__(self, engine: Engine, on_notify: Callable[[], None], channel: str = CHANNEL) -> None:
        self.name = f"listen:{channel}"
        self._channel = channel
        # Its own connection, outside the pool: it stays in LISTEN, autocommit, for the process's life.
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._on_notify = on_notify
        self.listening = threading.Event()  # set while LISTEN is in effect (tests wait on it)

    def run(self, stop: threading.Event) -> None:
        import psycopg  # PostgreSQL only: a SQLite service never loads the driver

        backoff = 1.0
        while not stop.is_set():
            try:
                self._listen(stop)
                return
            except psycopg.Error as exc:
                if self.listening.is_set():
                    backoff = 1.0  # it was listening: a fresh outage, not one going on
                self.listening.clear()
                log.warning("%s lost its connection (%s); again in %.0f s", self.name, exc, backoff)
                # A notification missed meanwhile is a turn missed: wake once to look.
                self._on_notify()
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _listen(self, stop: threading.Event) -> None:
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            conn.execute(f"LISTEN {self._channel}")
            self.listening.set()
            while not stop.is_set():
                for _ in conn.notifies(timeout=POLL_SECONDS):
                    self._on_notify()
