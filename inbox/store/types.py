"""Column types the ORM models share, in SQLAlchemy Core alone.

`tables.py` builds the models with them. `tickets show` reads without SQLAlchemy
(`ticket_view`, through `reader.Reader`, which decodes a time to aware UTC the same way; a test
holds the two to the same detail).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, TypeDecorator

__all__ = ["BigId", "UTCDateTime"]

# SQLite only makes INTEGER PRIMARY KEY an alias of its rowid; PostgreSQL gets bigint.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
