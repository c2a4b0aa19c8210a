"""`inbox.store.urls` reads a database URL as SQLAlchemy's `make_url` does (the service's engines
read it that way; `tickets list` and `show` read it here, without importing SQLAlchemy)."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import make_url

from inbox.store import urls

SQLITE = ["sqlite:///var/inbox.db", "sqlite:////srv/inbox/inbox.db", "sqlite://", "sqlite:///:memory:",
          "sqlite:///var/inbox.db?timeout=30", "sqlite+pysqlite:///var/inbox.db", "sqlite:///my%20desk/in%23box.db",
          "sqlite:////tmp/a?b/c.db", "sqlite:///", "sqlite:///./relative/../x.db", "sqlite:///d\u00e9sk/inbox.db"]
POSTGRESQL = ["postgresql://inbox@127.0.0.1:5432/inbox", "postgresql+psycopg://inbox:s%40cret%2F1@db.internal/inbox",
              "postgresql://inbox@[::1]:5433/inbox?sslmode=require&application_name=cli",
              "postgresql://db/inbox", "postgresql+psycopg://u:p@h/d?connect_timeout=3"]


@pytest.mark.parametrize("url", SQLITE + POSTGRESQL)
def test_backend_is_make_urls(url: str) -> None:
    assert urls.backend(url) == make_url(url).get_backend_name()


@pytest.mark.parametrize("url", SQLITE + POSTGRESQL)
def test_sqlite_file_is_make_urls_database(url: str) -> None:
    parsed = make_url(url)
    expected = (Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database
                and parsed.database != ":memory:" else None)
    assert urls.sqlite_file(url) == expected


@pytest.mark.parametrize("url", POSTGRESQL)
def test_libpq_reads_what_make_url_reads(url: str) -> None:
    """The URL psycopg is given names the same host, port, user, password, database and options."""
    parsed, given = make_url(url), conninfo_to_dict(urls.libpq_url(url))
    assert given.get("host") == parsed.host and given.get("user") == parsed.username
    assert given.get("password") == parsed.password and given.get("dbname") == parsed.database
    assert given.get("port") == (str(parsed.port) if parsed.port else None)
    assert {k: v for k, v in given.items() if k not in ("host", "user", "password", "dbname", "port")} == dict(parsed.query)


def test_a_string_that_is_no_url_is_refused() -> None:
    with pytest.raises(ValueError, match="not a database URL"):
        urls.backend("/var/inbox.db")
