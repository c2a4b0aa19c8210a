"""Pinging a pooled PostgreSQL connection only when it has sat idle, instead of before every use.

SQLAlchemy's `pool_pre_ping` pings at every checkout: a round trip for every transaction. When
the sender recorded each email in a transaction of its own, the ping was a sixteenth of sending
an email on PostgreSQL (py-spy of `bench/outbox.py`). A connection handed back
to the pool moments ago answered then; one that sat idle may have been cut since (a server
restart, a failover, a firewall's idle timeout), and that is what the ping is for.

The protocol, on SQLAlchemy's documented pool events:
- "checkin" notes when the connection came back (`clock`, monotonic seconds);
- "checkout" pings a connection back for more than `idle` seconds, or never noted (a new
  connection is not: it has just connected). A ping that fails raises DisconnectionError, on which
  the pool drops that connection and takes another, as pre_ping does;
- a server lost within `idle` seconds of a connection's last use fails the first transaction
  that uses it, as a server lost in the middle of a transaction always could. SQLAlchemy then
  invalidates the pool, so the next checkouts connect anew. Every caller already copes with a
  failed transaction: the SMTP listener answers 451, ingest and the sender retry their rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

IDLE_SECONDS = 1.0
_BACK = "inbox.liveness.back"  # in the pooled connection's record: when it was last checked in


def _monotonic() -> float:
    return time.monotonic()


def ping_when_idle(engine: Engine, idle: float = IDLE_SECONDS, clock: Callable[[], float] | None = None) -> None:
    """Install the protocol above on `engine` (made without pool_pre_ping); `clock` defaults to
    this module's `_monotonic`, looked up at each use."""

    def now() -> float:
        return clock() if clock is not None else _monotonic()

    @event.listens_for(engine, "checkin")
    def _back(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_BACK] = now()

    @event.listens_for(engine, "checkout")
    def _out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        back = record.info.get(_BACK)
        if back is None or now() - back <= idle:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"idle connection did not answer a ping: {exc}") from exc
        if not alive:
            raise DisconnectionError("idle connection did not answer a ping")
