"""Writes held to the end of a transaction and made there in one statement each.

Ingest writes a batch of mails in one transaction, and each statement is a round trip (on
PostgreSQL the larger part of a mail's cost). Rows that nothing in the same transaction reads
back but through the store (events, raw rows marked processed, counters advanced under the lock
their first advance took) wait here, and `holding`'s end writes each kind with one executemany,
before the caller commits: they still land with the rest of the transaction or not at all. The
store's readers of those rows flush first (`flush`), as the ORM's autoflush would.

Only a caller that owns the transaction opens `holding` (the ingest worker, per batch); without
it every write goes straight to the database, as before. Never commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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

    def write(self, session: Session) -> None:
        conn = session.connection()
        while self._rows:
            stmt = next(iter(self._rows))
            rows = list(self._rows.pop(stmt).values())
            if rows:
                conn.execute(stmt, rows)


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


def flush(session: Session) -> None:
    """Write what is held now: a reader of held rows calls this before it reads."""
    found = held(session)
    if found is not None:
        found.write(session)
