"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from inbox.store.db import make_engine
from inbox.store.tables import Base


def test_migrations_match_the_models(db_url: str) -> None:
    """No table, column, index or constraint differs between `db upgrade` and tables.py."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": False})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []
