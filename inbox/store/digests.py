"""The SQL of staff digests: the alerts due to fold, the digests still open, the fold, the members.

A digest is an ordinary outbox row (kind `digest`, no ticket) that is sent, retried, held back
by the hourly limit and claimed like any other. An alert folded into it leaves the queue in
state `digested` with `digest_id` pointing at it, so every alert stays accounted for and the
hourly limit counts the digest once. A digest stays open to more alerts of its kind for its
recipient until its bytes are composed (its first send attempt): what it lists is then fixed.
Functions take the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from inbox.store.outbox import PENDING, RETRY, SENDING
from inbox.store.tables import OutboxRow

DIGEST = "digest"  # the kind of a digest row
DIGESTED = "digested"  # the state of an alert folded into one
STAFF = "staff"


@dataclass(frozen=True)
class Foldable:
    """A due staff alert that may go into a digest."""

    id: int
    kind: str
    recipient: str


@dataclass(frozen=True)
class OpenDigest:
    id: int
    kind: str  # the kind of alert it lists
    recipient: str
    members: int


@dataclass(frozen=True)
class Member:
    """An alert a digest lists: its row, its ticket and the template data it was queued with."""

    id: int
    ticket_id: int | None
    kind: str
    context: dict[str, Any]


def _foldable() -> Select[tuple[int, str, str]]:
    earlier = aliased(OutboxRow)
    now = bindparam("now")
    behind = (select(earlier.id)
              .where(earlier.ticket_id == OutboxRow.ticket_id, earlier.recipient == OutboxRow.recipient,
                     earlier.id < OutboxRow.id, earlier.state.in_((PENDING, RETRY, SENDING)),
                     or_(earlier.state == SENDING, earlier.next_attempt_at > now, earlier.body.is_not(None),
                         earlier.kind.not_in(bindparam("kinds", expanding=True))))
              .exists())
    return (select(OutboxRow.id, OutboxRow.kind, OutboxRow.recipient)
            .where(OutboxRow.state.in_((PENDING, RETRY)), OutboxRow.next_attempt_at <= now,
                   OutboxRow.kind.in_(bindparam("kinds", expanding=True)), OutboxRow.audience == STAFF,
                   OutboxRow.automatic.is_(True), OutboxRow.body.is_(None), ~behind)
            # (state, next_attempt_at) is an index range; by id, SQLite would scan the whole outbox
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id).limit(bindparam("limit")))


# Built once: it runs every turn, and building it (an alias, an EXISTS) costs ten times running it.
_FOLDABLE = _foldable()
_FOLDABLE_LOCKING = _FOLDABLE.with_for_update(skip_locked=True, of=OutboxRow)


def foldable(session: Session, now: datetime, kinds: Collection[str], limit: int) -> list[Foldable]:
    """Automatic staff emails of `kinds` due by `now` and never composed, longest due first, locked
    past other instances (PostgreSQL). An alert waiting behind an earlier email to the same person
    about the same ticket that is not itself going into a digest now (being sent, not due, composed,
    or of another kind) stays out: folding it would let it overtake that email."""
    stmt = _FOLDABLE_LOCKING if session.get_bind().dialect.name == "postgresql" else _FOLDABLE
    rows = session.execute(stmt, {"now": now, "kinds": list(kinds), "limit": limit})
    return [Foldable(row_id, kind, recipient) for row_id, kind, recipient in rows]


def open_digests(session: Session, recipients: Iterable[str]) -> list[OpenDigest]:
    """The digests to `recipients` not yet composed, with how many alerts each lists, locked past
    other instances (PostgreSQL): one being sent elsewhere is not open."""
    wanted = sorted(set(recipients))
    if not wanted:
        return []
    stmt = (select(OutboxRow.id, OutboxRow.recipient, OutboxRow.context)
            .where(OutboxRow.kind == DIGEST, OutboxRow.state.in_((PENDING, RETRY)), OutboxRow.body.is_(None),
                   OutboxRow.recipient.in_(wanted))
            .order_by(OutboxRow.id))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = session.execute(stmt).all()
    if not rows:
        return []
    counts = dict(session.execute(select(OutboxRow.digest_id, func.count())
                                  .where(OutboxRow.digest_id.in_([r.id for r in rows]))
                                  .group_by(OutboxRow.digest_id)).all())
    return [OpenDigest(r.id, str((r.context or {}).get("digest", {}).get("kind", "")), r.recipient, counts.get(r.id, 0))
            for r in rows]


def fold(session: Session, ids: Collection[int], digest_id: int) -> int:
    """Put alerts `ids` into digest `digest_id`; how many went in (one another instance took meanwhile does not)."""
    if not ids:
        return 0
    result = session.execute(update(OutboxRow)
                             .where(OutboxRow.id.in_(list(ids)), OutboxRow.state.in_((PENDING, RETRY)))
                             .values(state=DIGESTED, digest_id=digest_id, claimed_at=None, last_error=None))
    return int(result.rowcount)


def members(session: Session, digest_id: int) -> list[Member]:
    """The alerts digest `digest_id` lists, in the order they were queued."""
    rows = session.execute(select(OutboxRow.id, OutboxRow.ticket_id, OutboxRow.kind, OutboxRow.context)
                           .where(OutboxRow.digest_id == digest_id).order_by(OutboxRow.id)).all()
    return [Member(r.id, r.ticket_id, r.kind, dict(r.context or {})) for r in rows]


def row_id(session: Session, key: str) -> int:
    """The id of the outbox row with `key` (a digest just queued)."""
    return int(session.execute(select(OutboxRow.id).where(OutboxRow.key == key)).scalar_one())
