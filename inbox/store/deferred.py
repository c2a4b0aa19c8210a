"""Writes held to the end of a transaction and made there in one statement each.

Ingest writes a batch of mails in one transaction, and each statement is a round trip (on
PostgreSQL the larger part of a mail's cost). Rows that the same transaction reads back only
through the store (tickets and their messages on PostgreSQL, events, participants, links, raw
rows marked processed or sent, counters advanced under the lock their first advance took, outbox
rows queued) wait here, and `holding`'s end writes each kind with one executemany (on PostgreSQL
inserts of several rows as one statement, `inbox.store.bulk`, and all kinds in one round trip),
before the caller commits: they still land with the rest of the
transaction or not at all.

The protocol, for a transaction that holds:
- Rows are written parents first (tickets, then their messages, then attachments, then the rest),
  so no foreign key ever waits for a row still held; a partial write (`flush`) takes the parents
  along.
- A held ticket or message has its id already, when the holder asks for it (the ingest worker's
  batches): `next_id` takes them, so a new ticket costs no statement of its own. On PostgreSQL from
  the table's own sequence, a block at a time (ids a rolled back batch took are skipped, as a
  sequence always skips them; tracking numbers are a counter of their own and have no gaps). On
  SQLite the id the insert would get: a table without AUTOINCREMENT gives a new row the largest id
  plus one, and the transaction holds the database's write lock (BEGIN IMMEDIATE), so the largest
  id is read once and counted on, and read again after any statement that may have inserted one
  (every statement not `held_aware`). Without ids, tickets are written at once and a held message
  has no id anyone could refer to.
- The store's readers of held rows either add what is held to what they read (`pending`; their
  statements say so with the `held_aware` execution option), or write it first (`flush`), as the
  ORM's autoflush would. Where rows wait with ids, every other statement of the transaction,
  whoever runs it (the ORM, a module that knows nothing of this one), first writes the held parents
  (`guard`, an engine event): nothing can find a ticket missing, or update one that is not there yet.

Only a caller that owns the transaction opens `holding` (the ingest worker, per batch; the
dispatcher, per email it records as sent); without it every write goes straight to the database,
as before. Never commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.base import Executable

from inbox.store import bulk

if TYPE_CHECKING:
    from sqlalchemy.orm import Session  # only named: a Core reader (tickets list) never loads the ORM

_KEY = "inbox.store.deferred"
# Written first, in this order: every other held row may refer to them.
PARENTS: tuple[str, ...] = ("tickets", "ticket_messages", "attachments")
_RANK = {name: rank for rank, name in enumerate(PARENTS)}
AWARE = {"held_aware": True}  # execution options of a statement that needs no held row written first
ID_BLOCK = 100
_NEXTVAL = (text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")
            .execution_options(**AWARE))
# SQLite: INTEGER PRIMARY KEY without AUTOINCREMENT, a new row's id is the largest one plus one.
_LARGEST = {name: text(f"SELECT coalesce(max(id), 0) FROM {name}").execution_options(**AWARE)
            for name in ("tickets", "ticket_messages")}


class Held:
    """What one transaction holds back: rows per statement (a later row with the same key
    replaces an earlier one), and notes the store keeps for the transaction's readers."""

    def __init__(self, connection: Connection, *, ids: bool = False) -> None:
        self._connection = connection
        self._rows: dict[Any, dict[Any, dict[str, Any]]] = {}
        self._ids: dict[str, list[int]] = {}
        self._writing = False
        self.notes: dict[str, Any] = {}
        # Only over a batch: a block of ids for one row would cost the statement it saves.
        self.takes_ids = ids
        self._sequences = connection.dialect.name == "postgresql"

    def add(self, stmt: Any, rows: list[dict[str, Any]]) -> None:
        pending = self._rows.setdefault(stmt, {})
        for row in rows:
            pending[len(pending), None] = row

    def put(self, stmt: Any, key: Any, row: dict[str, Any]) -> None:
        self._rows.setdefault(stmt, {})[key] = row

    def row(self, stmt: Any, key: Any) -> dict[str, Any] | None:
        """The held row put under `key` (None once written, or never held)."""
        return self._rows.get(stmt, {}).get(key)

    def pending(self, table: str) -> list[dict[str, Any]]:
        """The new rows held for `table` (its inserts, not its held updates), in the order they were added."""
        return [row for stmt, rows in self._rows.items() if isinstance(stmt, Insert) and stmt.table.name == table
                for row in rows.values()]

    def note(self, name: str, factory: type = dict) -> Any:
        """The transaction's scratch of `name` (made on first use): what the store remembers for it."""
        found = self.notes.get(name)
        if found is None:
            found = self.notes[name] = factory()
        return found

    def next_id(self, table: str) -> int:
        """A new row's id (of "tickets" or "ticket_messages"): see the module's protocol."""
        block = self._ids.setdefault(table, [])
        if not block and self._sequences:
            taken = self._connection.execute(_NEXTVAL, {"t": table, "n": ID_BLOCK})
            block.extend(sorted((int(i) for i, in taken), reverse=True))
        elif not block:
            block.append(int(self._connection.execute(_LARGEST[table]).scalar_one()) + 1)
        found = block.pop()
        if not self._sequences:
            block.append(found + 1)  # the next insert's id, unless a statement not aware of this one inserts
        return found

    def saw_unaware(self) -> None:
        """A statement not aware of held rows ran: on SQLite it may have inserted a row, so the
        next id is read again (a sequence never gives one twice)."""
        if not self._sequences:
            self._ids.clear()

    @property
    def writing(self) -> bool:
        return self._writing

    def parents_held(self) -> bool:
        """Whether rows others may refer to wait here: only rows given ids can be referred to."""
        return self.takes_ids and any(rows and stmt.table.name in _RANK for stmt, rows in self._rows.items())

    def write(self, tables: Collection[str] = ()) -> None:
        """Write the held rows (of `tables` and the parents, when named), parents first, each
        statement's rows of one shape in one executemany (on PostgreSQL an insert's in one statement
        where `bulk` can write them alike), and on PostgreSQL all in one round trip (`_one_trip`)."""
        wanted = {*tables, *PARENTS} if tables else None
        chosen = [s for s in self._rows if wanted is None or s.table.name in wanted]
        # A table's held updates (a ticket's clocks) after its inserts: what they change is there.
        chosen.sort(key=lambda s: (_RANK.get(s.table.name, len(_RANK)), not isinstance(s, Insert)))
        writes = [(stmt, rows) for stmt in chosen for rows in _shapes(list(self._rows.pop(stmt).values()))]
        if not writes:
            return
        connection, self._writing = self._connection, True
        try:
            with _one_trip(connection) if len(writes) > 1 else nullcontext():
                for stmt, rows in writes:
                    if len(rows) > 1 and isinstance(stmt, Insert) and bulk.write(connection, stmt, rows):
                        continue
                    # inline(): a one-row INSERT would otherwise fetch its new id (implicit RETURNING),
                    # which nothing held needs and which a pipeline cannot answer before its end.
                    connection.execute(stmt.inline() if isinstance(stmt, Insert) else stmt, rows)
        finally:
            self._writing = False


def _shapes(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by the columns they set, in first-seen order: one executemany takes the
    columns of its first row, so a row with more (a ticket opened with an assignee) goes apart."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


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
def holding(session: Session, *, ids: bool = False) -> Iterator[Held]:
    """Hold the store's deferrable writes until the block ends well, then write them; on an
    exception they are dropped with the transaction the caller rolls back. With `ids` (a batch of
    mails), new tickets and messages wait too, with ids taken ahead (`Held.next_id`)."""
    connection = session.connection()
    found = Held(connection, ids=ids)
    session.info[_KEY] = connection.info[_KEY] = found
    try:
        yield found
        found.write()
    finally:
        session.info.pop(_KEY, None)
        connection.info.pop(_KEY, None)  # the pooled connection outlives this transaction


def flush(session: Session, *tables: str) -> None:
    """Write what is held for `tables` (and the parents) now (everything, when none is named):
    a reader of held rows that cannot add them to what it reads calls this first."""
    found = held(session)
    if found is not None:
        found.write(tables)


def guard(conn: Connection, clauseelement: Any, *_: Any) -> None:
    """Engine event `before_execute`: a statement of a holding transaction that does not say it
    is aware of held rows has the held parents written first, and on SQLite the ids counted
    ahead forgotten (see the module's protocol)."""
    found: Held | None = conn.info.get(_KEY)
    if found is None or found.writing or not found.takes_ids:
        return
    if isinstance(clauseelement, Executable) and clauseelement.get_execution_options().get("held_aware"):
        return
    if found.parents_held():
        found.write(PARENTS)
    found.saw_unaware()
