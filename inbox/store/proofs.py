"""Proofs of a sender that have changed a ticket: each acts once, ever, on every instance.

A DKIM signature, or a Message-ID a trusted host vouched for, lets an engineer's or account
manager's mail change a ticket; a copy of that mail (a replay) must not change it again.

Protocol: the ticket rules `spend` a proof's keys in the transaction that makes the change.
Each key is inserted with INSERT ... ON CONFLICT DO NOTHING on its unique column, so of two
instances racing with copies of one mail the second waits for the first's commit (PostgreSQL
holds the key's index entry; SQLite has one writer at a time) and then finds the key taken.
A change rolled back takes its keys with it. A refused attempt may leave the keys it could
insert: they belong to the same mail, and nothing else can present them. Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from inbox.store.tables import UsedProof
from inbox.store.upsert import insert_for

_INSERTS: dict[str, Any] = {}


def _insert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING key, built once per dialect."""
    if dialect not in _INSERTS:
        insert_ = insert_for(dialect)
        table = UsedProof.__table__
        _INSERTS[dialect] = insert_(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.key)
    return _INSERTS[dialect]


def spend(session: Session, keys: Sequence[str], *, raw_id: int, at: datetime) -> int | None:
    """Mark `keys` used by raw message `raw_id`. None when each was free (or already this message's);
    otherwise the raw message that used one of them first."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return None
    conn = session.connection()
    rows = [{"key": key, "raw_id": raw_id, "used_at": at} for key in wanted]
    fresh = {key for (key,) in conn.execute(_insert(conn.dialect.name), rows)}
    taken = [key for key in wanted if key not in fresh]
    if not taken:
        return None
    users = conn.execute(select(UsedProof.raw_id).where(UsedProof.key.in_(taken))).scalars()
    return next((user for user in users if user != raw_id), None)
