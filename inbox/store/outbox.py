"""The outbox queue over `outbox`: the SQL behind sending.

States: pending -> sending -> sent | retry -> dead, or skipped (a policy said no).
Enqueueing is idempotent on the row's key; a claim older than the timeout is taken again;
on PostgreSQL claims skip rows another instance holds (FOR UPDATE SKIP LOCKED), so two
`inbox serve` processes never send one row twice. A new row also NOTIFYs every instance's
sender at commit (PostgreSQL; `inbox.store.outbox_signal`). In a transaction that holds its
writes (`inbox.store.deferred`, ingest's batch) new rows wait to its end and are written in one
statement; every reader here writes them first. Functions take the caller's session and never commit.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from sqlalchemy import Exists, and_, bindparam, func, select, text, union_all, update
from sqlalchemy.orm import Session, aliased

from inbox.store import deferred, outbox_signal
from inbox.store.claims import CLAIM_TIMEOUT, backoff, give_back, orphans, take
from inbox.store.tables import OutboxRow
from inbox.store.upsert import insert_for

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
RETRY = "retry"
DEAD = "dead"
SKIPPED = "skipped"
DEFERRED = "deferred"  # a count in results, never a state: the row goes back to retry

WAITING = "waiting behind an earlier email to this address about this ticket"

MAX_QUEUE_AGE = timedelta(days=5)  # as Postfix's maximal_queue_lifetime: a relay down overnight loses nothing


def retry_delay(attempts: int) -> timedelta:
    """Exponential back-off: 1, 2, 4 ... minutes, then every 2 hours."""
    return backoff(attempts, 120)


@dataclass(frozen=True)
class Outgoing:
    """A claimed outbox row, detached from the session."""

    id: int
    key: str
    ticket_id: int | None
    kind: str
    audience: str
    recipient: str
    automatic: bool
    plan: str | None
    customer_id: str | None
    context: dict[str, Any]
    message_id: str
    in_reply_to: str | None
    references: list[str]
    body: bytes | None
    attempts: int
    created_at: datetime
    attach_raw_id: int | None = None  # a relayed reply carries that mail's attachments


_INSERTS: dict[tuple[str, str, bool], Any] = {}


def _insert_ignoring(session: Session, table: Any, key: str, returning: bool = True) -> Any:
    """INSERT ... ON CONFLICT (key) DO NOTHING [RETURNING id] for the session's dialect, built once."""
    dialect = session.get_bind().dialect.name
    stmt = _INSERTS.get((dialect, table.name, returning))
    if stmt is None:
        insert_ = insert_for(dialect)
        stmt = insert_(table).on_conflict_do_nothing(index_elements=[key])
        stmt = _INSERTS[(dialect, table.name, returning)] = stmt.returning(table.c.id) if returning else stmt
    return stmt


_HELD_KEYS = "outbox.keys"  # the keys this transaction queued while holding, as the unique index would see them
_HELD_ROWS = "outbox.rows"  # and its rows, which readers answer from beside the table's (written or not)
_DEFAULTS = {"state": PENDING, "attempts": 0, "in_reply_to": None, "references": [], "body": None, "claimed_at": None,
             "claimed_by": None, "sent_at": None, "last_error": None, "attach_raw_id": None}


def enqueue(session: Session, **values: Any) -> bool:
    """Write one email to send; False when a row with its key is already there.

    In a transaction that holds its writes the row waits to the transaction's end, where a key
    already in the database is skipped as it would be now (ON CONFLICT DO NOTHING): False then
    means only that this transaction already queued the key."""
    row = {**_DEFAULTS, "references": [], "next_attempt_at": values["created_at"], **values}
    held = deferred.held(session)
    if held is not None:
        keys = held.note(_HELD_KEYS, set)
        if row["key"] in keys:
            return False
        keys.add(row["key"])
        held.note(_HELD_ROWS, list).append(row)
        held.add(_insert_ignoring(session, OutboxRow.__table__, "key", returning=False), [row])
        outbox_signal.notify(session)  # at commit, with the rows: a key that was there wakes a sender for nothing
        return True
    stmt = _insert_ignoring(session, OutboxRow.__table__, "key")
    # RETURNING, not rowcount: psycopg reports -1 rows for this statement, a key already queued
    # would count as new.
    new = session.connection().execute(stmt, row).first() is not None
    if new:
        outbox_signal.notify(session)  # every instance's sender looks once this commits
    return new


def _written(session: Session) -> None:
    """Write the rows this transaction holds back (if any): a reader of the outbox calls this first,
    unless it answers from them too (`_held_rows`) or they cannot match it (never sent)."""
    deferred.flush(session, "outbox")


def _held_rows(session: Session) -> list[dict[str, Any]]:
    """The rows this transaction queued while holding its writes, written yet or not."""
    held = deferred.held(session)
    return held.notes.get(_HELD_ROWS, []) if held is not None else []


def claim(session: Session, now: datetime, limit: int, owner: str | None = None) -> list[Outgoing]:
    """Take up to `limit` rows due by `now`, oldest first, and mark them sending."""
    _written(session)
    # Two index range reads, not one OR: with statistics (after ANALYZE) SQLite would answer an OR
    # by scanning the whole outbox, nearly all of it long sent, and a quiet sweep would grow with it.
    # One email at a time per ticket and recipient, in the order they were queued: a later email
    # never overtakes an earlier one that is waiting for a retry (the relay down, then back).
    waiting = (select(OutboxRow).where(OutboxRow.state.in_((PENDING, RETRY)), OutboxRow.next_attempt_at <= now, ~_ahead())
               .order_by(OutboxRow.next_attempt_at, OutboxRow.id).limit(limit))
    stale = (select(OutboxRow).where(OutboxRow.state == SENDING, OutboxRow.claimed_at < now - CLAIM_TIMEOUT)
             .order_by(OutboxRow.next_attempt_at).limit(limit))
    rows = take(session, waiting, SENDING, now, owner)
    if len(rows) < limit:
        rows += take(session, stale.limit(limit - len(rows)), SENDING, now, owner)
    return [
        Outgoing(r.id, r.key, r.ticket_id, r.kind, r.audience, r.recipient, r.automatic, r.plan, r.customer_id,
                 dict(r.context or {}), r.message_id, r.in_reply_to, list(r.references or []), r.body, r.attempts,
                 r.created_at, r.attach_raw_id)
        for r in rows
    ]


def _ahead() -> Exists:
    """An earlier email to the same recipient about the same ticket is still queued or being sent."""
    earlier = aliased(OutboxRow)
    return (select(earlier.id).where(earlier.ticket_id == OutboxRow.ticket_id, earlier.recipient == OutboxRow.recipient,
                                     earlier.id < OutboxRow.id, earlier.state.in_((PENDING, RETRY, SENDING)))
            .exists())


# Built once, as the other statements every turn runs.
_DUE_COUNT = select(func.count()).where(OutboxRow.state.in_((PENDING, RETRY)),
                                        OutboxRow.next_attempt_at <= bindparam("now"))


def left_due(session: Session, now: datetime) -> dict[str, int]:
    """After a drain, the rows still due by `now` and unclaimed: `waiting` behind an earlier email to
    the same person about the same ticket (that one held back or retrying; the reason is written on
    the row when it has none), and `left` for no reason this queue knows (another instance's claim
    in flight, or a bug)."""
    _written(session)
    total = int(session.execute(_DUE_COUNT, {"now": now}).scalar_one())  # runs every turn; nearly always 0
    if not total:
        return {"waiting": 0, "left": 0}
    due = and_(OutboxRow.state.in_((PENDING, RETRY)), OutboxRow.next_attempt_at <= now)
    waiting = int(session.execute(select(func.count()).where(due, _ahead())).scalar_one())
    if waiting:
        session.execute(update(OutboxRow).where(due, _ahead(), OutboxRow.last_error.is_(None))
                        .values(last_error=WAITING))
    return {"waiting": waiting, "left": total - waiting}


def release_orphans(session: Session, host: str, is_dead: Callable[[str], bool]) -> int:
    """Give back the emails a dead process on this host was sending, due now, their attempt refunded.
    One may have reached the relay before the process died: it goes again, with the same
    Message-ID and bytes (the only way this service sends an email twice)."""
    _written(session)
    dead = [row_id for row_id, _ in orphans(session, OutboxRow, SENDING, host, is_dead)]
    return give_back(session, OutboxRow, OutboxRow.id.in_(dead), RETRY) if dead else 0


def release_claims_of(session: Session, owner: str) -> int:
    """Give back the emails this live process claimed in a turn that failed midway (the database
    went away), due now, attempts refunded; one that reached the relay goes again."""
    _written(session)
    return give_back(session, OutboxRow, and_(OutboxRow.state == SENDING, OutboxRow.claimed_by == owner), RETRY)


def _set(session: Session, row_id: int, **values: Any) -> None:
    _written(session)
    session.execute(update(OutboxRow).where(OutboxRow.id == row_id).values(claimed_at=None, **values))


_SAVE_BODY = (update(OutboxRow.__table__).where(OutboxRow.__table__.c.id == bindparam("row_id"))
              .values(body=bindparam("body")))


def save_bodies(session: Session, bodies: dict[int, bytes]) -> None:
    """Keep the composed bytes of each row (by id), so that every attempt sends the same email:
    one statement for them all."""
    _written(session)
    if bodies:
        session.connection().execute(_SAVE_BODY, [{"row_id": row_id, "body": body} for row_id, body in bodies.items()])


# Built once, on the table (no ORM bookkeeping): it runs once for every email sent.
_MARK_SENT = (update(OutboxRow.__table__).where(OutboxRow.__table__.c.id.in_(bindparam("ids", expanding=True)))
              .values(claimed_at=None, state=SENT, sent_at=bindparam("now"), last_error=None))


_MARK_ONE_SENT = (update(OutboxRow.__table__).where(OutboxRow.__table__.c.id == bindparam("row_id"))
                  .values(claimed_at=None, state=SENT, sent_at=bindparam("now"), last_error=None))


def mark_sent(session: Session, row_ids: Sequence[int], now: datetime) -> None:
    """The rows' emails reached the relay. In a transaction that holds its writes, marked at its
    end with the rest (on PostgreSQL one round trip for all: `inbox.store.deferred`)."""
    held = deferred.held(session)
    if held is not None:
        held.add(_MARK_ONE_SENT, [{"row_id": row_id, "now": now} for row_id in row_ids])
        return
    _written(session)
    if row_ids:
        session.connection().execute(_MARK_SENT, {"ids": list(row_ids), "now": now})


def mark_retry(session: Session, row_id: int, now: datetime, error: str, attempts: int, queued_at: datetime) -> bool:
    """Schedule another attempt; False (and the row is dead) once the email would be older than MAX_QUEUE_AGE."""
    later = now + retry_delay(attempts)
    if later - queued_at > MAX_QUEUE_AGE:
        _set(session, row_id, state=DEAD, last_error=error[:2000])
        return False
    _set(session, row_id, state=RETRY, next_attempt_at=later, last_error=error[:2000])
    return True


def defer(session: Session, row_id: int, until: datetime, reason: str) -> None:
    """Not sent, not failed: try again at `until`, without counting an attempt."""
    _set(session, row_id, state=RETRY, next_attempt_at=until, last_error=reason[:2000],
         attempts=OutboxRow.attempts - 1)


def mark_dead(session: Session, row_id: int, error: str) -> None:
    _set(session, row_id, state=DEAD, last_error=error[:2000])


def mark_skipped(session: Session, row_id: int, reason: str) -> None:
    _set(session, row_id, state=SKIPPED, last_error=reason[:2000])


def hold_recipients(session: Session, recipients: Sequence[str]) -> None:
    """Until this transaction ends, no other sender counts or admits emails to `recipients`:
    instances sending at the same moment would each see room for one more (PostgreSQL; one
    SQLite file has one instance). The locks are taken in one order, so two senders holding
    overlapping batches wait for each other and never deadlock."""
    if recipients and session.get_bind().dialect.name == "postgresql":
        keys = sorted({int.from_bytes(hashlib.sha256(r.encode()).digest()[:8], "big", signed=True) for r in recipients})
        session.execute(_LOCK_IN_ORDER, {"keys": keys})


# The subquery's ORDER BY makes the locks be taken one key after another in that order.
_LOCK_IN_ORDER = text("SELECT count(pg_advisory_xact_lock(k)) FROM "
                      "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered")


def automatic_sent_since(session: Session, recipients: Sequence[str], since: datetime,
                         but: Sequence[int] = ()) -> Counter[str]:
    """How many automatic emails went to each of `recipients` after `since` (the hourly limit),
    counting those admitted and still being sent by any instance, except rows `but` (the caller's
    own batch, which it counts as it admits them). Addresses with none are left out."""
    _written(session)
    if not recipients:
        return Counter()
    # Two counts, not one OR: each reads its own index range (recipient and sent_at; the few rows
    # in state sending), where an OR would read every email a busy address ever got.
    mine = and_(OutboxRow.recipient.in_(list(recipients)), OutboxRow.automatic.is_(True))
    sent = select(OutboxRow.recipient, func.count()).where(mine, OutboxRow.sent_at > since).group_by(OutboxRow.recipient)
    sending = (select(OutboxRow.recipient, func.count())
               .where(mine, OutboxRow.state == SENDING, OutboxRow.admitted_at > since, OutboxRow.id.not_in(list(but)))
               .group_by(OutboxRow.recipient))
    counts: Counter[str] = Counter()
    for recipient, n in session.execute(union_all(sent, sending)):
        counts[recipient] += int(n)
    return counts


# -- what we have sent an address, for the rules that hold back acknowledgements -------------------
# Each reads an existing index: `recipient` (with sent_at), `message_id` (unique), `ticket_id`.

_HAS_MAILED = (select(OutboxRow.id).where(OutboxRow.recipient == bindparam("recipient"),
                                          OutboxRow.audience == bindparam("audience")).limit(1))


_KINDS_OF = (select(OutboxRow.message_id, OutboxRow.kind, OutboxRow.automatic, OutboxRow.audience)
             .where(OutboxRow.message_id.in_(bindparam("ids", expanding=True))))

def has_mailed(session: Session, recipient: str, audience: str) -> bool:
    """Whether any email to `recipient` as `audience` was ever queued (one index probe)."""
    params = {"recipient": recipient.lower(), "audience": audience}
    if any(row["recipient"] == params["recipient"] and row["audience"] == audience for row in _held_rows(session)):
        return True
    return session.connection().execute(_HAS_MAILED, params).first() is not None


def kinds_of(session: Session, message_ids: Sequence[str]) -> dict[str, tuple[str, bool, str]]:
    """The kind, whether automatic, and the audience of each of our emails named by Message-ID."""
    if not message_ids:
        return {}
    found = {mid: (kind, automatic, audience)
             for mid, kind, automatic, audience in session.connection().execute(_KINDS_OF, {"ids": list(message_ids)})}
    wanted = set(message_ids)
    found.update({row["message_id"]: (row["kind"], row["automatic"], row["audience"])
                  for row in _held_rows(session) if row["message_id"] in wanted})
    return found


def admit(session: Session, row_ids: Sequence[int], now: datetime) -> None:
    """The emails passed the hourly limit and are being sent: other senders count them from now."""
    _written(session)
    if row_ids:
        session.execute(update(OutboxRow).where(OutboxRow.id.in_(list(row_ids))).values(admitted_at=now))


def depth(session: Session) -> dict[str, int]:
    _written(session)
    stmt = select(OutboxRow.state, func.count()).where(OutboxRow.state != SENT).group_by(OutboxRow.state)
    return {state: n for state, n in session.execute(stmt)}


def oldest_waiting(session: Session) -> datetime | None:
    """When the oldest email not yet sent nor given up on (pending, sending, retry) was queued."""
    _written(session)
    stmt = select(func.min(OutboxRow.created_at)).where(OutboxRow.state.in_([PENDING, SENDING, RETRY]))
    return session.execute(stmt).scalar_one_or_none()


def rows_of(session: Session, ticket_id: int) -> list[OutboxRow]:
    _written(session)
    return list(session.execute(select(OutboxRow).where(OutboxRow.ticket_id == ticket_id).order_by(OutboxRow.id)).scalars())
