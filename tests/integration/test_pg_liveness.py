"""A pooled PostgreSQL connection is pinged only after it sat idle (`inbox.store.liveness`): a
connection the server dropped while idle is replaced before anyone uses it, as pool_pre_ping did;
one in steady use costs no ping. Real PostgreSQL; the idle time is read from an injected clock."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from inbox.store import liveness
from inbox.store.db import make_engine


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _engine(pg_url: str, clock: Clock):  # type: ignore[no-untyped-def]
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1), pool_size=1, max_overflow=0)
    liveness.ping_when_idle(engine, idle=1.0, clock=clock)
    return engine, _count_pings(engine)


def _count_pings(engine) -> list[int]:  # type: ignore[no-untyped-def]
    """A list that grows by one at each ping the engine's dialect makes."""
    pings: list[int] = []
    real = engine.dialect.do_ping
    engine.dialect.do_ping = lambda dbapi_connection: pings.append(1) or real(dbapi_connection)
    return pings


def _backend_pid(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pg_url: str, pid: int) -> None:
    admin = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    admin.dispose()


def test_a_connection_in_steady_use_is_not_pinged_and_an_idle_one_is(pg_url: str) -> None:
    clock = Clock()
    engine, pings = _engine(pg_url, clock)
    try:
        first = _backend_pid(engine)  # a new connection: not pinged
        for _ in range(5):
            clock.now += 0.5
            assert _backend_pid(engine) == first
        assert pings == []
        clock.now += 1.5
        assert _backend_pid(engine) == first
        assert pings == [1]
    finally:
        engine.dispose()


def test_a_connection_the_server_dropped_while_idle_is_replaced_before_use(pg_url: str) -> None:
    """What pool_pre_ping gave and this keeps: the server cut an idle connection (a restart, a
    firewall), and the next transaction still succeeds, on a new connection."""
    clock = Clock()
    engine, pings = _engine(pg_url, clock)
    try:
        first = _backend_pid(engine)
        _terminate(pg_url, first)
        clock.now += 1.5
        second = _backend_pid(engine)
        assert second != first and pings == [1]
    finally:
        engine.dispose()


def test_a_connection_dropped_within_the_idle_time_fails_one_transaction_then_the_pool_reconnects(pg_url: str) -> None:
    """The trade, written down: no ping within a second of the last use, so a server lost in that
    second fails the first transaction (as one lost mid-transaction always could), and the pool
    is invalidated: the next one connects anew."""
    clock = Clock()
    engine, pings = _engine(pg_url, clock)
    try:
        first = _backend_pid(engine)
        _terminate(pg_url, first)
        clock.now += 0.5
        with pytest.raises(DBAPIError) as failed:
            _backend_pid(engine)
        assert failed.value.connection_invalidated
        assert _backend_pid(engine) != first and pings == []
    finally:
        engine.dispose()


def test_the_service_engine_pings_idle_connections_only(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """make_engine installs the protocol instead of pool_pre_ping: no ping in steady use, and an
    idle connection the server dropped is replaced."""
    clock = Clock()
    monkeypatch.setattr(liveness, "_monotonic", clock)
    engine = make_engine(pg_url)
    pings = _count_pings(engine)
    try:
        first = _backend_pid(engine)
        assert [_backend_pid(engine) for _ in range(3)] == [first] * 3 and pings == []
        _terminate(pg_url, first)
        clock.now += liveness.IDLE_SECONDS + 0.5
        assert _backend_pid(engine) != first and pings == [1]
    finally:
        engine.dispose()
