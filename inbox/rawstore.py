"""The first durable point: raw bytes committed before anyone is told "accepted".

`put` and `put_many` return only after COMMIT on the durable engine, so holding
a RawRef means it is safe to answer SMTP 250 or to move an IMAP message. They
never parse: nothing about the content can make storing fail. Idempotent on
the SHA-256 of the bytes: the same bytes twice are one row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session, sessionmaker

from inbox.clock import Clock
from inbox.store.outbox_signal import RAW_CHANNEL, notify
from inbox.store.tables import RawData, RawMessage
from inbox.store.upsert import insert_for

RECEIVED = "received"

_BY_HASH = select(RawMessage.sha256, RawMessage.id).where(RawMessage.sha256.in_(bindparam("hashes", expanding=True)))
_INSERTS: dict[str, Any] = {}
_INSERT_DATA = insert(RawData.__table__)


def _insert(dialect: str) -> Any:
    """Multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING, built once per dialect."""
    if dialect not in _INSERTS:
        # Only the dialect in use is loaded (the PostgreSQL dialect costs about 70 ms that
        # `inbox tickets list` on SQLite never needs).
        insert_ = insert_for(dialect)
        table = RawMessage.__table__
        _INSERTS[dialect] = (
            insert_(table).on_conflict_do_nothing(index_elements=["sha256"]).returning(table.c.sha256, table.c.id)
        )
    return _INSERTS[dialect]


@dataclass(frozen=True)
class RawRef:
    id: int
    sha256: str
    created: bool  # False: these bytes were already stored


@dataclass(frozen=True)
class RawItem:
    data: bytes
    source: str
    rcpt_tos: tuple[str, ...] = ()
    envelope_from: str | None = None
    received_at: datetime | None = None  # None: the clock's now
    peer: str | None = None  # the SMTP client's IP address; None when it did not come by SMTP


class RawStore:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def put(
        self,
        data: bytes,
        source: str,
        rcpt_tos: Sequence[str] = (),
        envelope_from: str | None = None,
        received_at: datetime | None = None,
        peer: str | None = None,
    ) -> RawRef:
        return self.put_many([RawItem(data, source, tuple(rcpt_tos), envelope_from, received_at, peer)])[0]

    def put_many(self, items: Sequence[RawItem]) -> list[RawRef]:
        """Store several messages in ONE transaction (one flush to disk for all)."""
        now = self._clock.now()
        rows = [
            {
                "sha256": hashlib.sha256(item.data).hexdigest(),
                "source": item.source[:200],
                "envelope_from": item.envelope_from[:998] if item.envelope_from is not None else None,
                "rcpt_tos": [r[:320] for r in item.rcpt_tos],
                "peer": item.peer[:100] if item.peer is not None else None,
                "received_at": item.received_at or now,
                "size": len(item.data),
                "state": RECEIVED,
                "attempts": 0,
                "next_attempt_at": None,
            }
            for item in items
        ]
        if not rows:
            return []
        with self._sessions() as session, session.begin():
            conn = session.connection()
            ids = dict(conn.execute(_BY_HASH, {"hashes": [r["sha256"] for r in rows]}).all())
            fresh = list({r["sha256"]: r for r in rows if r["sha256"] not in ids}.values())
            created = set()
            if fresh:
                # ON CONFLICT covers a concurrent writer storing the same bytes meanwhile.
                for digest, raw_id in conn.execute(_insert(conn.dialect.name), fresh):
                    ids[digest] = raw_id
                    created.add(digest)
                missing = [r["sha256"] for r in fresh if r["sha256"] not in ids]
                if missing:
                    ids.update(conn.execute(_BY_HASH, {"hashes": missing}).all())
            if created:
                data = {row["sha256"]: item.data for row, item in zip(rows, items)}
                conn.execute(_INSERT_DATA, [{"raw_id": ids[digest], "data": data[digest]} for digest in created])
                notify(session, RAW_CHANNEL)  # another process's or instance's ingest role looks now
        refs = []
        for row in rows:
            digest = row["sha256"]
            refs.append(RawRef(ids[digest], digest, digest in created))
            created.discard(digest)  # the same bytes twice in one call: only the first is new
        return refs
