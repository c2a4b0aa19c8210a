"""INSERT ... ON CONFLICT for the dialect in use, with only that dialect's module loaded.

Both dialects spell the statement alike (`on_conflict_do_nothing`, `on_conflict_do_update`), so
the store picks one by name. Loading both would cost every process of `inbox serve` the other's
module for nothing (about 2 MB of resident memory each, for the PostgreSQL dialect on SQLite).
Builds statements only; never executes one.
"""

from __future__ import annotations

from typing import Any, Callable


def insert_for(dialect: str) -> Callable[..., Any]:
    """`sqlalchemy.dialects.<dialect>.insert` for "postgresql", else SQLite's."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert
