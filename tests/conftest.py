"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is the server at $INBOX_TEST_PG (default: postgres@127.0.0.1:5432,
database test). The suite makes a database of its own there and drops it at
the end. A missing server is a skip on a laptop and a failure under CI=true.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text

from inbox.clock import TEST_CLOCK_ENV
from inbox.store.db import make_engine
from inbox.store.migrate import upgrade
from inbox.store.tables import Base
from tests.instants import DEFAULT, INSTANTS, instant

# Kits whose fixtures any test may ask for. pytest takes `pytest_plugins` only from this top-level
# conftest; a kit is a plain module, never a test module. seed_kit comes before people_kit, which
# imports it, so that both are loaded as plugins (with assertion rewriting). A module's own fixture
# of the same name (several modules have their own `desk`) overrides a kit's.
pytest_plugins = ["tests.seed_kit", "tests.people_kit", "tests.staff_kit", "tests.oauth_kit"]

PG_ADMIN = os.environ.get("INBOX_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI") == "true"
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--clock-at", action="append", default=None, metavar="NAME|INSTANT",
                     help=f"run the time-sensitive tests (fixture start_at) at this instant: one of "
                          f"{', '.join(INSTANTS)} or an ISO 8601 instant; repeatable (default: all of them)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes `start_at` runs once at each chosen instant: what it proves holds on any day.
    One marked `one_instant` (processes and a thousand mails, half a minute a run) runs at the first
    chosen instant only, by default DEFAULT: a cheaper test proves the same at every instant."""
    if "start_at" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--clock-at") or list(INSTANTS)
        if metafunc.definition.get_closest_marker("one_instant"):
            chosen = chosen[:1] if metafunc.config.getoption("--clock-at") else [DEFAULT]
        metafunc.parametrize("start_at", [instant(name) for name in chosen], ids=list(chosen))


@pytest.fixture(autouse=True)
def fixed_process_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `inbox` command a test runs, in this process or a child, starts its clock at the suite's
    default instant unless it is given one (--as-of, --received-at): no result depends on the day."""
    monkeypatch.setenv(TEST_CLOCK_ENV, INSTANTS[DEFAULT].isoformat())


def missing_service(what: str) -> None:
    """Skip on a laptop; fail under CI, where every service must be there."""
    if IN_CI:
        pytest.fail(f"{what} is not available, and CI=true requires it")
    pytest.skip(f"{what} is not available")


class PgScratch:
    """New empty PostgreSQL databases (no schema) on the test server, each dropped by `drop_all`."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.names = prefix, []
        self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")

    def new(self) -> str:
        """A new database's URL; raises when there is no server."""
        name = f"{self.prefix}_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.names:
            with self.admin.connect() as conn:
                for name in self.names:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@contextmanager
def scratch_pg(prefix: str) -> Iterator[PgScratch]:
    scratch = PgScratch(prefix)
    try:
        yield scratch
    finally:
        scratch.drop_all()


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """A new PostgreSQL database without a schema (what instances find on their first start)."""
    with scratch_pg("inbox_empty") as scratch:
        try:
            url = scratch.new()
        except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
            print(f"PostgreSQL unavailable: {exc}")
            missing_service("PostgreSQL")
        yield url


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str | None]:
    with scratch_pg("inbox_test") as scratch:
        try:
            url = scratch.new()
        except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
            print(f"PostgreSQL unavailable: {exc}")
            yield None
            return
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


class PgReset:
    """Empties the session's PostgreSQL database between tests, on one engine kept for the session.

    DELETE, children before parents, then each sequence restarted: what `TRUNCATE ... RESTART
    IDENTITY` leaves, in a tenth of its time on a few rows (TRUNCATE makes new files for every table
    and index; it cost about 0.1 s a test, a minute and a half of the suite)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "counters"]
        with self.engine.connect() as conn:
            self.sequences = list(conn.execute(text(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) FROM pg_sequences")).scalars())

    def __call__(self) -> None:
        with self.engine.begin() as conn:
            for name in self.tables:
                conn.execute(text(f'DELETE FROM "{name}"'))
            for sequence in self.sequences:
                conn.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))
            conn.execute(text("UPDATE counters SET value = 0"))


@pytest.fixture(scope="session")
def pg_reset(pg_database_url: str | None) -> Iterator[PgReset | None]:
    if pg_database_url is None:
        yield None
        return
    reset = PgReset(pg_database_url)
    yield reset
    reset.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head for the session; each test's database is a copy of it
    (a copy takes a millisecond, the migration 0.1 s a test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "inbox.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    # The last connection's close checkpointed the write-ahead log into the file; make sure of it,
    # so that the one file is the whole database.
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "inbox.db")
        return f"sqlite:///{tmp_path}/inbox.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty PostgreSQL database: for what only the PostgreSQL deployment does."""
    url, reset = request.getfixturevalue("pg_database_url"), request.getfixturevalue("pg_reset")
    if url is None:
        missing_service("PostgreSQL")
    reset()
    return url
