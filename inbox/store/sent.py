"""Emails already sent, read as history by the rules that decide whether to answer a mail
(`inbox.tickets.acknowledging`): which was the last we sent about a ticket, which were the latest
sent to an address. Sent rows only: what a transaction holds back is never sent, so nothing held
is written first (`deferred.AWARE`). In an ingest batch the last sent about each ticket it names
is read once for all (`look_ahead_last_sent`). Functions take the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from inbox.store import deferred
from inbox.store.tables import OutboxRow

__all__ = ["Sent", "last_sent_about", "latest_sent", "look_ahead_last_sent"]

_LAST_SENT_ABOUT = (select(OutboxRow.kind, OutboxRow.automatic)
                    .where(OutboxRow.ticket_id == bindparam("ticket_id"), OutboxRow.audience == bindparam("audience"),
                           OutboxRow.sent_at.is_not(None))
                    .order_by(OutboxRow.sent_at.desc(), OutboxRow.id.desc()).limit(1)
                    .execution_options(**deferred.AWARE))  # sent rows only: none of them is held


def last_sent_about(session: Session, ticket_id: int, audience: str) -> tuple[str, bool] | None:
    """The kind of the latest email sent about a ticket to `audience`, and whether it was automatic.
    Rows this transaction holds back are never sent: no need to write them first."""
    held = deferred.held(session)
    if held is not None and (ticket_id, audience) in held.note(_SENT_AHEAD):
        return held.note(_SENT_AHEAD)[ticket_id, audience]
    row = session.connection().execute(_LAST_SENT_ABOUT, {"ticket_id": ticket_id, "audience": audience}).first()
    return (row[0], row[1]) if row else None


# (ticket id, audience) -> what `last_sent_about` answers, read for a batch's tickets at its start.
# Nothing this transaction queues is sent in it (a sender sends committed rows): it stays true.
_SENT_AHEAD = "latest sent about, looked up ahead"
_RANKED = (select(OutboxRow.ticket_id, OutboxRow.kind, OutboxRow.automatic,
                  func.row_number().over(partition_by=OutboxRow.ticket_id,
                                         order_by=(OutboxRow.sent_at.desc(), OutboxRow.id.desc())).label("n"))
           .where(OutboxRow.ticket_id.in_(bindparam("ids", expanding=True)), OutboxRow.audience == bindparam("audience"),
                  OutboxRow.sent_at.is_not(None))
           .subquery())
_LAST_SENT_OF = (select(_RANKED.c.ticket_id, _RANKED.c.kind, _RANKED.c.automatic).where(_RANKED.c.n == 1)
                 .execution_options(**deferred.AWARE))


def look_ahead_last_sent(session: Session, ticket_ids: Collection[int], audience: str) -> None:
    """Answer `last_sent_about` for these tickets with one query (the latest by the same order),
    in a transaction that holds its writes (else nothing to keep the answers in: do nothing)."""
    held = deferred.held(session)
    if held is None or not ticket_ids:
        return
    answers: dict[tuple[int, str], tuple[str, bool] | None] = held.note(_SENT_AHEAD)
    answers.update(((ticket_id, audience), None) for ticket_id in ticket_ids)
    for ticket_id, kind, automatic in session.connection().execute(
            _LAST_SENT_OF, {"ids": sorted(ticket_ids), "audience": audience}):
        answers[ticket_id, audience] = (kind, automatic)


@dataclass(frozen=True)
class Sent:
    ticket_id: int | None
    kind: str
    automatic: bool
    sent_at: datetime


def latest_sent(session: Session, recipient: str, audience: str, kinds: Sequence[str], limit: int) -> list[Sent]:
    """The newest `limit` emails sent to `recipient` that are of `kinds` or were written by a person
    (not automatic), newest first: read backwards along (recipient, sent_at). Rows this
    transaction holds back are never sent: no need to write them first."""
    stmt = (select(OutboxRow.ticket_id, OutboxRow.kind, OutboxRow.automatic, OutboxRow.sent_at)
            .where(OutboxRow.recipient == recipient.lower(), OutboxRow.sent_at.is_not(None),
                   OutboxRow.audience == audience, or_(OutboxRow.kind.in_(list(kinds)), OutboxRow.automatic.is_(False)))
            .order_by(OutboxRow.sent_at.desc()).limit(limit))
    return [Sent(*row) for row in session.execute(stmt)]
