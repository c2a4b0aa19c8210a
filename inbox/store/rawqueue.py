"""The ingest queue over `raw_messages`: claim, finish, fail, retry.

States: received -> processing -> processed | failed -> quarantined.
A claim older than the timeout is taken again (its worker died). On
PostgreSQL claims skip rows another worker holds (FOR UPDATE SKIP LOCKED);
SQLite has one writer at a time anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Sequence

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from inbox.store import deferred
from inbox.store.claims import CLAIM_TIMEOUT, backoff, give_back, orphans, take_columns
from inbox.store.tables import RawData, RawMessage

RECEIVED = "received"
PROCESSING = "processing"
PROCESSED = "processed"
FAILED = "failed"
QUARANTINED = "quarantined"

MAX_ATTEMPTS = 5


def retry_delay(attempts: int) -> timedelta:
    """Exponential back-off: 1, 2, 4, 8 ... minutes, at most an hour."""
    return backoff(attempts, 60)


@dataclass(frozen=True)
class Claimed:
    """A claimed raw message, detached from any session: safe to carry across transactions."""

    id: int
    sha256: str
    source: str
    received_at: datetime
    data: bytes
    peer: str | None = None  # the SMTP client it came from; None when it did not come by SMTP


_CLAIMED = (RawMessage.id, RawMessage.sha256, RawMessage.source, RawMessage.received_at, RawData.data,
            RawMessage.peer)


def claim(
    session: Session, now: datetime, limit: int, ids: Sequence[int] | None = None, owner: str | None = None
) -> list[Claimed]:
    """Take up to `limit` rows that are due, oldest first, and mark them processing.

    The attempt is counted at the claim, so a message that kills its worker
    every time is quarantined after MAX_ATTEMPTS instead of looping for ever.
    """
    stale = and_(RawMessage.state == PROCESSING, RawMessage.claimed_at < now - CLAIM_TIMEOUT)
    session.execute(
        update(RawMessage)
        .where(or_(stale, RawMessage.state == RECEIVED), RawMessage.attempts >= MAX_ATTEMPTS)
        .values(state=QUARANTINED, claimed_at=None, outcome="failed",
                last_error="the worker stopped while processing it, too many times")
    )
    due = or_(
        RawMessage.state == RECEIVED,
        and_(RawMessage.state == FAILED, RawMessage.next_attempt_at <= now),
        stale,
    )
    stmt = (select(*_CLAIMED).join(RawData, RawData.raw_id == RawMessage.id)
            .where(due).order_by(RawMessage.id).limit(limit))
    if ids is not None:
        stmt = stmt.where(RawMessage.id.in_(ids))
    return [Claimed(*row) for row in take_columns(session, RawMessage.__table__, stmt, PROCESSING, now, owner)]


_FINISH = (
    update(RawMessage.__table__)
    .where(RawMessage.__table__.c.id == bindparam("raw_id"))
    .values(
        state=PROCESSED,
        outcome=bindparam("outcome_"),
        ticket_id=bindparam("ticket_id_"),
        message_id=bindparam("message_id_"),
        processed_at=bindparam("at"),
        claimed_at=None,
        claimed_by=None,
        last_error=None,
    )
)


def finish(
    session: Session, raw_id: int, *, outcome: str, ticket_id: int | None, message_id: str | None, now: datetime
) -> None:
    """Mark a row processed with what it came to (a prebuilt statement: this runs per message).

    In a transaction that holds its writes (`inbox.store.deferred`: an ingest batch) the rows are
    marked together at its end, still before its commit; until then the Message-ID is noted for
    `inbox.store.tickets.processed_copy`, the one reader of it in that transaction."""
    stored = message_id[:998] if message_id else None
    row = {"raw_id": raw_id, "outcome_": outcome, "ticket_id_": ticket_id, "message_id_": stored, "at": now}
    held = deferred.held(session)
    if held is None:
        session.connection().execute(_FINISH, row)
        return
    held.add(_FINISH, [row])
    if stored is not None:
        held.note(PROCESSED_HERE).setdefault(stored, ticket_id)


PROCESSED_HERE = "raw processed in this transaction"  # Message-ID -> its ticket, first one kept


def fail(session: Session, raw_id: int, *, error: str, now: datetime, permanent: bool) -> bool:
    """Record a failure; a permanent one, or too many, quarantines the row until retried by hand.
    True when it did quarantine it."""
    raw = session.get(RawMessage, raw_id)
    if raw is None:
        return False
    raw.last_error = error[:4000]
    raw.claimed_at = None
    raw.claimed_by = None
    raw.outcome = "failed"
    if permanent or raw.attempts >= MAX_ATTEMPTS:
        raw.state = QUARANTINED
        raw.next_attempt_at = None
        return True
    raw.state = FAILED
    raw.next_attempt_at = now + retry_delay(raw.attempts)
    return False


def is_claimed(session: Session, raw_id: int) -> bool:
    """Still ours to process (not finished by another worker meanwhile)."""
    return session.execute(select(RawMessage.state).where(RawMessage.id == raw_id)).scalar() == PROCESSING


SOLO = ":solo"  # claimed alone, during recovery: a crash then is this message's own fault


def release_orphans(session: Session, host: str, is_dead: Callable[[str], bool]) -> list[int]:
    """Give back the claims of dead processes on this host (a crash or SIGKILL), so their
    messages are processed now rather than after CLAIM_TIMEOUT; the ids given back.

    A message claimed in a batch gets its attempt refunded: the crash may have been any
    message's doing, or none's. One claimed alone (SOLO) keeps it, so a message that
    kills the process each time is still quarantined after MAX_ATTEMPTS. Other hosts'
    claims wait for the timeout: from here we cannot tell whether their process lives.
    """
    dead = orphans(session, RawMessage, PROCESSING, host, is_dead, suffix=SOLO)
    for raw_id, owner in dead:
        give_back(session, RawMessage, RawMessage.id == raw_id, RECEIVED, refund=0 if owner.endswith(SOLO) else 1)
    return [raw_id for raw_id, _ in dead]


def release_claims_of(session: Session, owner: str) -> int:
    """Give back what this live process claimed and could not finish (the database went away
    mid-batch), so it is processed as soon as the database is back, not after CLAIM_TIMEOUT;
    attempts refunded, except for a message claimed alone."""
    processing = RawMessage.state == PROCESSING
    batch = give_back(session, RawMessage, and_(processing, RawMessage.claimed_by == owner), RECEIVED)
    return batch + give_back(session, RawMessage, and_(processing, RawMessage.claimed_by == owner + SOLO), RECEIVED,
                             refund=0)


def release_failed(session: Session, now: datetime) -> int:
    """Make every failed and quarantined row due now (`inbox ingest --retry-failed`)."""
    stmt = (
        update(RawMessage)
        .where(RawMessage.state.in_([FAILED, QUARANTINED]))
        .values(state=FAILED, next_attempt_at=now, attempts=0)
    )
    return session.execute(stmt).rowcount or 0


def failed_ids(session: Session) -> list[int]:
    stmt = select(RawMessage.id).where(RawMessage.state.in_([FAILED, QUARANTINED])).order_by(RawMessage.id)
    return list(session.execute(stmt).scalars())


def states_of(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """State and outcome of given rows."""
    if not ids:
        return {}
    stmt = select(RawMessage.id, RawMessage.state, RawMessage.outcome).where(RawMessage.id.in_(ids))
    return {i: (s, o) for i, s, o in session.execute(stmt)}


def depth(session: Session) -> dict[str, int]:
    """Rows per state: the queue depth the metrics report."""
    stmt = select(RawMessage.state, func.count()).group_by(RawMessage.state)
    return {state: int(n) for state, n in session.execute(stmt)}


def oldest_waiting(session: Session) -> datetime | None:
    """When the oldest message not yet ingested (received or processing) was stored: the queue's age."""
    stmt = select(func.min(RawMessage.received_at)).where(RawMessage.state.in_([RECEIVED, PROCESSING]))
    return session.execute(stmt).scalar_one_or_none()


def data_of(session: Session, raw_id: int) -> bytes | None:
    """The exact bytes of a stored message (a relayed reply carries its attachments)."""
    return session.execute(select(RawData.data).where(RawData.raw_id == raw_id)).scalar_one_or_none()
