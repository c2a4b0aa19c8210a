"""A connection that only reads, over the database driver itself: what `tickets list` and
`tickets show` read with.

Importing SQLAlchemy was a third of those commands' time (0.15-0.19 s of `tickets list --json`'s
0.5-0.7 s here), and they send a handful of fixed-shape SELECTs (`ticket_search`, `ticket_view`),
so they speak to sqlite3 or psycopg directly. The service and every command that writes keep
SQLAlchemy's engines (`db.py`).

Protocol:
- `open_reader(url)` connects and begins one transaction that reads one snapshot, so a count and
  the rows after it agree: on SQLite a deferred transaction (a WAL reader, which never waits for
  nor holds up a writer), on PostgreSQL REPEATABLE READ. The connection cannot write: SQLite's
  file is opened read-only (mode=ro, which also never creates a missing file) and query_only;
  PostgreSQL's transaction is READ ONLY.
- SQL is written with `reader.mark` as each parameter's placeholder ("?" or "%s") and holds no
  literal "%".
- Every driver error, on connecting or reading, comes out as `ReadError` with the driver's first line.
- `close()` ends the transaction (nothing was written) and the connection.
"""

from __future__ import annotations

import json
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, Sequence

from inbox.store import urls
from inbox.store.write_lock import BUSY_TIMEOUT_MS

__all__ = ["ReadError", "Reader", "open_reader"]

# A list of 100,000 tickets reads its pages once with 64 MB of page cache; SQLite's default 2 MB
# read them more than once (0.29 s against 0.19 s).
_SQLITE_CACHE_KB = 65536


class ReadError(Exception):
    """The database refused or failed a read (or the connection); the message is the driver's first line."""


class Reader:
    """One read-only connection in one snapshot. `dialect` is "sqlite" or "postgresql"."""

    def __init__(self, connection: Any, dialect: str, errors: type[Exception]) -> None:
        self._connection, self.dialect, self._errors = connection, dialect, errors
        self.mark = "?" if dialect == "sqlite" else "%s"

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._reading():
            return list(self._connection.execute(sql, params).fetchall())

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.all(sql, params)
        return rows[0][0] if rows else None

    def records(self, sql: str, params: Sequence[Any] = ()) -> list[SimpleNamespace]:
        """Each row with its columns as attributes, named as the query names them."""
        with self._reading():
            cursor = self._connection.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [SimpleNamespace(**dict(zip(names, row))) for row in cursor.fetchall()]

    def batches(self, sql: str, params: Sequence[Any], size: int) -> Iterator[list[tuple[Any, ...]]]:
        """The rows `size` at a time, as the database returns them (PostgreSQL: a server-side cursor)."""
        with self._reading():
            cursor = self._cursor()
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(size):
                yield batch
            cursor.close()

    def utf8_batches(self, sql: str, params: Sequence[Any], size: int) -> Iterator[list[bytes]]:
        """The first column of each row, a text column, as the database's UTF-8 bytes, `size` rows
        at a time: for text that goes to a file as it is (`tickets list --json`), where decoding
        each row into a str and encoding it again was a sixth of listing 100,000 tickets."""
        with self._reading():
            cursor = self._cursor()
            if self.dialect == "postgresql":
                from psycopg.adapt import Loader

                class _Utf8(Loader):  # the connection's client encoding is UTF8 (`_postgresql`)
                    def load(self, data: Any) -> bytes:
                        return bytes(data)

                cursor.adapters.register_loader("text", _Utf8)
            else:
                self._connection.text_factory = bytes
            try:
                cursor.execute(sql, params)
                while batch := cursor.fetchmany(size):
                    yield [row[0] for row in batch]
                cursor.close()
            finally:
                if self.dialect == "sqlite":
                    self._connection.text_factory = str

    def _cursor(self) -> Any:
        return self._connection.cursor(name="inbox_reader") if self.dialect == "postgresql" else self._connection.cursor()

    def time(self, value: Any) -> datetime | None:
        """A stored time as an aware UTC datetime: SQLite holds it as UTC text, PostgreSQL as timestamptz."""
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)

    def json(self, value: Any) -> Any:
        """A stored JSON value: SQLite holds its text, psycopg has decoded it already."""
        return json.loads(value) if isinstance(value, str) and self.dialect == "sqlite" else value

    def boolean(self, value: Any) -> bool | None:
        return None if value is None else bool(value)

    def close(self) -> None:
        """End the snapshot and the connection; a connection already lost has nothing left to end."""
        with suppress(self._errors):
            self._connection.rollback()
        with suppress(self._errors):
            self._connection.close()

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            raise ReadError(_first_line(exc)) from exc


def open_reader(url: str) -> Reader:
    """A Reader of the database `url` names (SQLAlchemy's URL forms, as the config gives them)."""
    if urls.backend(url) == "sqlite":
        return _sqlite(url)
    return _postgresql(url)


def _sqlite(url: str) -> Reader:
    import sqlite3

    database = urls.sqlite_database(url)
    if database in (None, ":memory:"):
        raise ReadError(f"{url}: an in-memory database holds nothing for another process to read")
    assert database is not None
    target = database if database.startswith("file:") else Path(database).resolve().as_uri()
    try:
        connection = sqlite3.connect(f"{target}{'&' if '?' in target else '?'}mode=ro", uri=True,
                                     timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        connection.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KB}")
        connection.execute("PRAGMA query_only=ON")
        connection.execute("BEGIN")  # deferred: the first SELECT takes the snapshot, no write lock
    except sqlite3.Error as exc:
        raise ReadError(_first_line(exc)) from exc
    return Reader(connection, "sqlite", sqlite3.Error)


def _postgresql(url: str) -> Reader:
    import psycopg

    try:
        connection = psycopg.connect(urls.libpq_url(url), client_encoding="UTF8")
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
    except psycopg.Error as exc:
        raise ReadError(_first_line(exc)) from exc
    return Reader(connection, "postgresql", psycopg.Error)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
