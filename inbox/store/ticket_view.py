"""One ticket as `inbox tickets show` gives it, read through SQLAlchemy Core alone.

The ORM models (`tables.py`) and the service behind them cost `tickets show` half its second
before it read a row. These queries name only the columns the view shows, typed as the models type
them (`types.UTCDateTime`, JSON), and return rows whose names are the models' attribute names, so
`inbox.present.ticket_detail` reads them as it reads the models. Reads only: a command reading a
database in use by `inbox serve` sees what has committed (nothing held back in a transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import JSON, Boolean, Connection, Row, column, select, table

from inbox.store.types import UTCDateTime

__all__ = ["TicketView", "read"]

_TIMES = ("created_at", "updated_at", "first_response_due", "first_response_at", "next_update_due", "workaround_due",
          "workaround_at", "resolution_due", "solved_at", "closed_at", "last_update_sent_at", "paused_since")
_TICKETS = table("tickets", column("id"), column("number"), column("tracking"), column("subject"),
                 column("requester"), column("customer_id"), column("plan"), column("severity"), column("category"),
                 column("status"), column("assignee"), column("escalation_level"), column("flags", JSON),
                 *(column(name, UTCDateTime) for name in _TIMES))
_MESSAGES = table("ticket_messages", column("id"), column("ticket_id"), column("direction"), column("from_addr"),
                  column("from_name"), column("to_addrs", JSON), column("cc_addrs", JSON), column("subject"),
                  column("message_id"), column("at", UTCDateTime), column("automation"), column("internal", Boolean),
                  column("flag"), column("visible_text"))
_EVENTS = table("events", column("id"), column("ticket_id"), column("kind"), column("at", UTCDateTime),
                column("actor"), column("detail", JSON))
_LINKS = table("ticket_links", column("ticket_id"), column("linked_ticket_id"))
_PARTICIPANTS = table("participants", column("ticket_id"), column("address"))
_SUPPRESSIONS = table("suppressions", column("address"), column("reason"), column("since", UTCDateTime))
_OUTBOX = table("outbox", column("id"), column("ticket_id"), column("kind"), column("recipient"), column("state"),
                column("attempts"), column("next_attempt_at", UTCDateTime), column("sent_at", UTCDateTime),
                column("last_error"), column("digest_id"))
_ATTACHMENTS = table("attachments", column("id"), column("message_id"), column("filename"), column("content_type"),
                     column("size"), column("sha256"))


@dataclass(frozen=True)
class TicketView:
    """The rows `inbox.present.ticket_detail` takes, each with the models' attribute names."""

    ticket: Row[Any]
    messages: Sequence[Row[Any]]
    events: Sequence[Row[Any]]
    links: list[str]
    suppressed: Sequence[Row[Any]]
    outbox: Sequence[Row[Any]]
    attachments: Sequence[Row[Any]]


def read(conn: Connection, tracking: str) -> TicketView | None:
    """The ticket whose tracking number is `tracking` (any case), or None."""
    ticket = conn.execute(select(_TICKETS).where(_TICKETS.c.tracking == tracking.upper())).one_or_none()
    if ticket is None:
        return None
    tid = ticket.id
    messages = conn.execute(select(_MESSAGES).where(_MESSAGES.c.ticket_id == tid).order_by(_MESSAGES.c.id)).all()
    addresses = sorted({a.lower() for a in (ticket.requester, *conn.execute(
        select(_PARTICIPANTS.c.address).where(_PARTICIPANTS.c.ticket_id == tid)).scalars()) if a})
    linked = _TICKETS.alias("linked")
    links = conn.execute(select(linked.c.tracking).join(_LINKS, _LINKS.c.linked_ticket_id == linked.c.id)
                         .where(_LINKS.c.ticket_id == tid).order_by(linked.c.number)).scalars().all()
    return TicketView(
        ticket=ticket, messages=messages,
        events=conn.execute(select(_EVENTS).where(_EVENTS.c.ticket_id == tid).order_by(_EVENTS.c.id)).all(),
        links=list(links),
        suppressed=conn.execute(select(_SUPPRESSIONS).where(_SUPPRESSIONS.c.address.in_(addresses))
                                .order_by(_SUPPRESSIONS.c.address)).all() if addresses else [],
        outbox=conn.execute(select(_OUTBOX).where(_OUTBOX.c.ticket_id == tid).order_by(_OUTBOX.c.id)).all(),
        attachments=conn.execute(select(_ATTACHMENTS).where(_ATTACHMENTS.c.message_id.in_([m.id for m in messages]))
                                 .order_by(_ATTACHMENTS.c.message_id, _ATTACHMENTS.c.id)).all() if messages else [],
    )
