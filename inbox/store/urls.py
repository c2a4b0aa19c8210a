"""What a database URL names, read without SQLAlchemy (whose import is a third of a read command's start).

The service's engines read URLs with SQLAlchemy's `make_url`; a command that only reads
(`tickets list`, `tickets show`) and its missing-file check read them here. A test holds these
answers to `make_url`'s over URLs of every shape the config allows.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

__all__ = ["backend", "libpq_url", "sqlite_database", "sqlite_file"]


def backend(url: str) -> str:
    """The database kind a URL names: "sqlite" for sqlite:// and sqlite+pysqlite://, "postgresql"
    for postgresql:// and postgresql+psycopg://."""
    scheme, found, _ = url.partition("://")
    if not found:
        raise ValueError(f"not a database URL: {url!r}")
    return scheme.split("+", 1)[0]


def sqlite_database(url: str) -> str | None:
    """What a SQLite URL names after its scheme (percent-decoding undone, any ?options left out):
    a file path, ":memory:", or None when it names nothing (sqlite://)."""
    _, _, rest = url.partition("://")
    _, slash, path = rest.partition("/")  # a SQLite URL has no host: its database follows the first slash
    database = unquote(path.split("?", 1)[0]) if slash else ""
    return database or None


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for PostgreSQL and for an in-memory SQLite database."""
    if backend(url) != "sqlite":
        return None
    database = sqlite_database(url)
    return None if database in (None, ":memory:") else Path(database)


def libpq_url(url: str) -> str:
    """A PostgreSQL URL as libpq reads it (psycopg.connect): the scheme without SQLAlchemy's driver name."""
    _, _, rest = url.partition("://")
    return f"postgresql://{rest}"
