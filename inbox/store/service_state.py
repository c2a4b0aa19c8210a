"""Small named values the service keeps for itself (the generated Message-ID secret)."""

from __future__ import annotations

from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from inbox.store.tables import KeyValue
from inbox.store.upsert import insert_for


def get_or_create(session: Session, key: str, make: Callable[[], str]) -> str:
    """The stored value of `key`; the first caller's `make()` wins when two race."""
    insert = insert_for(session.get_bind().dialect.name)
    session.execute(insert(KeyValue).values(key=key, value=make()).on_conflict_do_nothing())
    return session.execute(select(KeyValue.value).where(KeyValue.key == key)).scalar_one()
