"""Engines and sessions for SQLite and PostgreSQL, tuned for "never lose a 250".

SQLite runs in WAL mode; the raw-message commit uses synchronous=FULL because
WAL with NORMAL can drop the last commits on power loss, while pipeline
commits may use NORMAL: a lost pipeline commit is redone from its raw row.
Hence two engines on one SQLite file: a durable one and a relaxed one. PostgreSQL gets the same
pair: the relaxed engine's connections commit with synchronous_commit=off, so a commit returns
before its WAL record is flushed. What a server crash can then lose (well under a second of such
commits) is redone as on SQLite: the raw row is durable and processed again, an outbox row whose
"sent" was lost goes again with its fixed Message-ID. A crash of our own processes loses nothing
either way: the server still has every commit it acknowledged.
Every SQLite transaction starts with BEGIN IMMEDIATE so two writers queue instead of
failing to upgrade a read lock, and it queues first on the file's `WriteLock`, so writers in
several threads and processes wake in turn rather than sleep in SQLite's busy handler.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from inbox.store import deferred, liveness
from inbox.store.json_text import dump_json
from inbox.store.write_lock import BUSY_TIMEOUT_MS, WriteLock

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

def make_engine(url: str, *, durable: bool = True) -> Engine:
    """An engine; `durable=False` gives commits that may be lost on a power cut (SQLite's
    synchronous=NORMAL) or a database server crash (PostgreSQL's synchronous_commit=off): only
    for work that is redone from a durable row."""
    engine = _make_engine(url, durable)
    # A transaction that holds its writes (`deferred`) has the held tickets and messages written
    # before any statement that may read them or refer to them.
    event.listen(engine, "before_execute", deferred.guard)
    return engine


def _make_engine(url: str, durable: bool) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, synchronous="FULL" if durable else "NORMAL")
    url = _psycopg(url)
    connect_args = {} if durable else {"options": "-c synchronous_commit=off"}
    engine = create_engine(url, pool_size=10, max_overflow=10, connect_args=connect_args, json_serializer=dump_json)
    liveness.ping_when_idle(engine)  # not pool_pre_ping: a round trip for every transaction
    return engine


def _psycopg(url: str) -> str:
    """A bare postgresql:// URL would pick psycopg2, which we do not ship: name psycopg 3."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    parsed = make_url(url)
    lock = None
    connect_args: dict[str, object] = {"timeout": BUSY_TIMEOUT_MS / 1000}
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        lock = WriteLock(Path(parsed.database).resolve())
        connect_args["factory"] = _releasing(lock)
    engine = create_engine(url, connect_args=connect_args, json_serializer=dump_json)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event, not pysqlite, decide when transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        if lock is None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        dbapi_connection = conn.connection.dbapi_connection
        lock.acquire(dbapi_connection)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            lock.release(dbapi_connection)
            raise

    return engine


def _releasing(lock: WriteLock) -> type[sqlite3.Connection]:
    """A sqlite3 connection class that lets go of `lock` once its transaction has ended."""

    class Releasing(sqlite3.Connection):
        def commit(self) -> None:
            try:
                super().commit()
            finally:
                lock.release(self)

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                lock.release(self)

        def close(self) -> None:
            try:
                super().close()
            finally:
                lock.release(self)

    return Releasing


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker  # here: a command that reads with Core alone never loads the ORM

    return sessionmaker(engine, expire_on_commit=False)
