"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from inbox.store.db import make_engine
from inbox.store.migrate import alembic_config, upgrade
from inbox.store.tables import Base, RawMessage
from inbox.store.ticket_search import is_search_object
from tests.fakes import T0


def test_migrations_match_the_models(db_url: str) -> None:
    """No table, column, index or constraint differs between `db upgrade` and tables.py, but for
    migration 0010's search index, which the models cannot describe (FTS5 tables, expression indexes)."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": False, "include_name": lambda name, _type, _parent: not is_search_object(name)})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_raw_bytes_move_to_their_own_table_and_back(db_url: str) -> None:
    """Migration 0009 moves every stored mail's bytes to raw_data, unchanged, and its downgrade
    moves them back: an upgrade of a desk with mail in its queue loses none of it."""
    engine = make_engine(db_url)
    config = alembic_config(db_url)
    mail = b"From: a@acme.com\r\nSubject: kept\r\n\r\n\x00\xff bytes as received\r\n"
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0008")
            conn.execute(text("INSERT INTO raw_messages (sha256, source, rcpt_tos, received_at, size, data, state, "
                              "attempts) VALUES ('ab', 'test', '[]', :at, :size, :data, 'received', 0)"),
                         {"at": T0, "size": len(mail), "data": mail})
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT data FROM raw_data")).scalar_one() == mail
            assert conn.execute(select(RawMessage.data)).scalar_one() == mail  # the read-only attribute
            assert "data" not in {c["name"] for c in inspect(conn).get_columns("raw_messages")}
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0008")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT data FROM raw_messages")).scalar_one() == mail
            assert "raw_data" not in inspect(conn).get_table_names()
        upgrade(engine)
    finally:
        engine.dispose()
