"""Rows a PostgreSQL batch writes as one statement (`inbox.store.bulk`) are the rows SQLAlchemy's
executemany of the same INSERT writes: the same values, defaults, JSON text, times and ids in
order; and what it cannot write alike (and anything on SQLite) is left to the executemany."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select, text

from inbox.store import bulk
from inbox.store.db import make_engine
from inbox.store.tables import Event, OutboxRow, Participant, Ticket
from inbox.store.upsert import insert_for
from tests.fakes import T0

EAST = timezone(timedelta(hours=9))


def _ticket(number: int, **fields: Any) -> dict[str, Any]:
    return {"number": number, "tracking": f"SUP-{number:06d}", "subject": f"naïve café ✓ {number}",
            "requester": "a@acme.com", "severity": "low", "status": "open", "created_at": T0.astimezone(EAST),
            "updated_at": T0, **fields}


# orjson writes the first, the stdlib the second (past 64 bits): each keeps its own text.
DETAILS = [{"why": "naïve café ✓", "keys": {1: "one"}}, {"big": 2**70}, {}, None, {"n": [1, [2]]}]


def _events(ticket_id: int) -> list[dict[str, Any]]:
    return [{"ticket_id": ticket_id, "raw_id": None, "kind": f"k{i}", "at": T0 + timedelta(microseconds=i),
             "actor": "x", "detail": detail} for i, detail in enumerate(DETAILS)]


def _write(conn: Connection, stmt: Any, rows: list[dict[str, Any]], at_once: bool) -> None:
    if at_once:
        assert bulk.write(conn, stmt, rows)
    else:
        conn.execute(stmt, rows)


def _rows(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(text(sql))]


def _empty(conn: Connection, *tables: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))


def test_one_statement_writes_what_the_executemany_writes(pg_url: str) -> None:
    engine = make_engine(pg_url)
    shapes: dict[bool, dict[str, list[tuple[Any, ...]]]] = {}
    try:
        for at_once in (False, True):
            with engine.begin() as conn:
                _empty(conn, "participants", "events", "tickets")
                # Tickets leave pauses, flags, sla_state and the rest to their Python defaults.
                _write(conn, insert(Ticket.__table__), [_ticket(1), _ticket(2)], at_once)
                _write(conn, insert(Event.__table__), _events(1), at_once)
                # The same address twice: ON CONFLICT DO NOTHING keeps the first row's role.
                _write(conn, insert_for("postgresql")(Participant.__table__).on_conflict_do_nothing(),
                       [{"ticket_id": 1, "address": "b@acme.com", "role": "requester"},
                        {"ticket_id": 1, "address": "b@acme.com", "role": "copied"},
                        {"ticket_id": 2, "address": "c@acme.com", "role": "copied"}], at_once)
            with engine.connect() as conn:
                shapes[at_once] = {
                    "tickets": _rows(conn, "SELECT * FROM tickets ORDER BY id"),
                    "json text": _rows(conn, "SELECT pauses::text, flags::text, sla_state::text FROM tickets "
                                             "ORDER BY id"),
                    "events": _rows(conn, "SELECT id, ticket_id, raw_id, kind, at, actor, detail::text FROM events "
                                          "ORDER BY id"),
                    "participants": _rows(conn, "SELECT * FROM participants ORDER BY ticket_id, address"),
                }
    finally:
        engine.dispose()
    assert shapes[True] == shapes[False]
    assert [row[3] for row in shapes[True]["events"]] == ["k0", "k1", "k2", "k3", "k4"]  # ids in the order added
    assert shapes[True]["events"][3][6] == "null"  # None is JSON null, as SQLAlchemy writes it
    assert ("b@acme.com", "requester") in [(row[1], row[2]) for row in shapes[True]["participants"]]


def test_what_it_cannot_write_alike_is_left_to_the_executemany(db_url: str) -> None:
    events = insert(Event.__table__)
    row = _events(1)[0]
    long = {**row, "actor": "x" * (bulk.MAX_TEXT + 1)}
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            _empty(conn, "events")
            if conn.dialect.name == "sqlite":
                assert not bulk.write(conn, events, [row, row])  # SQLite writes as before
                return
            assert not bulk.write(conn, events, [row, long])  # a document of that size, held twice over
            assert not bulk.write(conn, events.values(kind="fixed"), [row, row])  # values of its own
            queued = {"key": "k", "kind": "acknowledgement", "audience": "customer", "recipient": "a@acme.com",
                      "state": "pending", "body": b"bytes"}
            assert not bulk.write(conn, insert(OutboxRow.__table__), [queued, {**queued, "key": "k2"}])
            with pytest.raises(ValueError, match="naive"):
                bulk.write(conn, events, [row, {**row, "at": datetime(2026, 3, 2, 17, 0)}])
            assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_time_is_sent_as_the_instant_it_is(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        with engine.begin() as conn:
            _empty(conn, "participants", "events", "tickets")
            _write(conn, insert(Ticket.__table__), [_ticket(1), _ticket(2, created_at=T0 + timedelta(microseconds=7))],
                   True)
            found = list(conn.execute(select(Ticket.__table__.c.created_at).order_by(Ticket.__table__.c.id)).scalars())
    finally:
        engine.dispose()
    assert found == [T0, T0 + timedelta(microseconds=7)] and all(t.tzinfo is not None for t in found)
