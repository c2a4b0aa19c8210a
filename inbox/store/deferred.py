"""Writes held to the end of a transaction and made there in one statement each.

Ingest writes a batch of mails in one transaction, and each statement is a round trip (on
PostgreSQL the larger part of a mail's cost). Rows that the same transaction reads back only
through the store (events, a ticket's messages without attachments, participants, links, raw
rows marked processed or sent, counters advanced under the lock their first advance took, outbox
rows queued) wait here, and `holding`'s end writes each kind with one executemany (on PostgreSQL
all kinds in one round trip), before the caller commits: they still land with the rest of the
transaction or not at all. The store's readers of a table flush its
held rows first (`flush`), as the ORM's autoflush would; the rows referred to (tickets, raw rows)
are never held, so a partial flush breaks no foreign key.

Only a caller that owns the transaction opens `holding` (the ingest worker, per batch; the
dispatcher, per email it records as sent); without it every write goes straight to the database,
as before. Never commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_KEY = "inbox.store.deferred"


class Held:
    """What one transaction holds back: rows per statement (a later row with the same key
    replaces an earlier one), and notes the store keeps for the transaction's readers."""

    def __init__(self) -> None:
        self._rows: dict[Any, dict[Any, dict[str, Any]]] = {}
        self.notes: dict[str, Any] = {}

    def add(self, stmt: Any, rows: list[dict[str, Any]]) -> None:
        pending = self._rows.setdefault(stmt, {})
        for row in rows:
            pending[len(pending), None] = row

    def put(self, stmt: Any, key: Any, row: dict[str, Any]) -> None:
        self._rows.setdefault(stmt, {})[key] = row

    def note(self, name: str, factory: type = dict) -> Any:
        """The transaction's scratch of `name` (made on first use): what the store remembers for it."""
        found = self.notes.get(name)
        if found is None:
            found = self.notes[name] = factory()
        return found

    def write(self, session: Session, tables: Collection[str] = ()) -> None:
        """Write the held rows (of `tables` only, when named), each statement's in one executemany,
        and on PostgreSQL all of them in one round trip (`_one_trip`)."""
        writes = [(stmt, list(self._rows.pop(stmt).values()))
                  for stmt in [s for s in self._rows if not tables or s.table.name in tables]]
        writes = [(stmt, rows) for stmt, rows in writes if rows]
        if not writes:
            return
        connection = session.connection()
        with _one_trip(connection) if len(writes) > 1 else nullcontext():
            for stmt, rows in writes:
                # inline(): a one-row INSERT would otherwise fetch its new id (implicit RETURNING),
                # which nothing held needs and which a pipeline cannot answer before its end.
                connection.execute(stmt.inline() if isinstance(stmt, Insert) else stmt, rows)


@contextmanager
def _one_trip(connection: Connection) -> Iterator[None]:
    """On PostgreSQL, psycopg's pipeline: each executemany inside rides it (psycopg documents
    this), so the statements go out together and their results are waited for once, at its end,
    instead of once per statement. Nothing inside reads a result: these writes return none."""
    if connection.dialect.name != "postgresql":
        yield
        return
    import psycopg

    driver = connection.connection.driver_connection
    try:
        with driver.pipeline():  # type: ignore[union-attr]
            yield
    except psycopg.Error as exc:
        # What the pipeline's end finds is raised outside SQLAlchemy's execute: give it the shape
        # SQLAlchemy gives every database error, so the callers' retries and rollbacks still hold.
        lost = bool(driver.closed)  # type: ignore[union-attr]
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(None, None, exc, psycopg.Error, connection_invalidated=lost) from exc


def held(session: Session) -> Held | None:
    """The transaction's held writes, when its owner opened `holding`."""
    return session.info.get(_KEY)


@contextmanager
def holding(session: Session) -> Iterator[Held]:
    """Hold the store's deferrable writes until the block ends well, then write them; on an
    exception they are dropped with the transaction the caller rolls back."""
    found = Held()
    session.info[_KEY] = found
    try:
        yield found
        found.write(session)
    finally:
        session.info.pop(_KEY, None)


def flush(session: Session, *tables: str) -> None:
    """Write what is held for `tables` now (everything, when none is named): a reader of held
    rows calls this before it reads them."""
    found = held(session)
    if found is not None:
        found.write(session, tables)
