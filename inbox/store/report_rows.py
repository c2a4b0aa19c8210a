"""The SQL behind `inbox report sla`: a month's tickets with their due and met times, and their breaches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from inbox.store.tables import Event, Ticket

_COLUMNS = (
    Ticket.id, Ticket.customer_id, Ticket.plan, Ticket.severity, Ticket.last_update_sent_at, Ticket.created_at,
    Ticket.first_response_due, Ticket.first_response_at, Ticket.next_update_due,
    Ticket.workaround_due, Ticket.workaround_at, Ticket.resolution_due, Ticket.solved_at, Ticket.closed_at,
)


def month_tickets(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Tickets opened in [start, end), as plain dicts."""
    stmt = select(*_COLUMNS).where(Ticket.created_at >= start, Ticket.created_at < end).order_by(Ticket.id)
    return [dict(row._mapping) for row in session.execute(stmt)]


def breached_targets(session: Session, ticket_ids: list[int]) -> dict[int, set[str]]:
    """Which targets each ticket has a `breach` event for."""
    found: dict[int, set[str]] = {}
    for start in range(0, len(ticket_ids), 500):
        chunk = ticket_ids[start:start + 500]
        stmt = select(Event.ticket_id, Event.detail).where(Event.kind == "breach", Event.ticket_id.in_(chunk))
        for ticket_id, detail in session.execute(stmt):
            target = (detail or {}).get("target")
            if target:
                found.setdefault(ticket_id, set()).add(target)
    return found
