"""What became of the emails we send, written into their tickets' history.

The outbound side reports each outcome here (sent, skipped, failed, an address suppressed); this
module records it as an event on the ticket the email was about. A digest lists many tickets:
each gets its own event, naming the alert it carried and the digest that carried it, so a
ticket's history tells which email told whom, and the digest's row tells which tickets it listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from inbox.domain.ticket import SYSTEM, EventKind
from inbox.store import history
from inbox.store.digests import Member

def record_outcome(session: Session, ticket_id: int | None, kind: EventKind, at: datetime, detail: Mapping[str, Any]) -> None:
    """One outcome of an email about `ticket_id` (None: an email about no ticket, kept all the same)."""
    history.add_event(session, ticket_id=ticket_id, kind=kind, at=at, actor=SYSTEM, detail=detail)


def record_digest_outcome(session: Session, listed: Iterable[Member], kind: EventKind, at: datetime, *, digest_id: int,
                  detail: Mapping[str, Any]) -> None:
    """The outcome of digest `digest_id`, on the ticket of each alert it listed."""
    history.add_events(session, *(
        {"ticket_id": one.ticket_id, "kind": kind, "at": at, "actor": SYSTEM,
         "detail": {**detail, "kind": one.kind, "outbox_id": one.id, "digest_outbox_id": digest_id}}
        for one in listed if one.ticket_id is not None))
