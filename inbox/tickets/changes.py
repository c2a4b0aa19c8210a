"""Changes people and rules make to a ticket: status, severity, workaround, assignee.

Each change records its event, recomputes the clocks (`clocks.refresh`) and queues the emails
it causes, all in the caller's transaction; a change to what it already is does nothing and
returns False. Takes the caller's session; never commits, never sends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from inbox.domain.ticket import EventKind, Status
from inbox.sla.agenda import FOLLOW_UP, RESPONSE
from inbox.store import tickets as store
from inbox.store.tables import Ticket
from inbox.tickets import notices
from inbox.tickets.clocks import following_update, last_public_activity, refresh, view
from inbox.tickets.desk import Desk

_STOPPED = (Status.SOLVED, Status.CLOSED)


def set_status(session: Session, desk: Desk, ticket: Ticket, to: Status, at: datetime, actor: str,
               why: str | None = None) -> bool:
    """Move the ticket to `to`, pausing or resuming clocks, and tell the customer of solved and closed."""
    before = Status(ticket.status)
    if to == before:
        return False
    if before == Status.WAITING_ON_CUSTOMER and ticket.paused_since is not None:
        ticket.pauses = [*(ticket.pauses or []), [ticket.paused_since.isoformat(), at.isoformat()]]
        ticket.paused_since = None
    if to == Status.WAITING_ON_CUSTOMER:
        ticket.paused_since, ticket.follow_ups = at, 0
        ticket.sla_state = {k: v for k, v in (ticket.sla_state or {}).items() if k != FOLLOW_UP}
    if to == Status.SOLVED:
        ticket.solved_at, ticket.closed_at = at, None
        # Solving answers the customer: a ticket solved before anyone replied counts as responded then.
        ticket.first_response_at = ticket.first_response_at or at
    elif to == Status.CLOSED:
        ticket.solved_at = ticket.solved_at or at
        ticket.closed_at = at
        ticket.first_response_at = ticket.first_response_at or at
    else:
        ticket.solved_at = ticket.closed_at = None
    ticket.status, ticket.updated_at = to.value, at
    detail: dict[str, Any] = {"from": before.value, "to": to.value}
    if why:
        detail["why"] = why
    store.add_event(session, ticket_id=ticket.id, kind=EventKind.STATUS_CHANGED, at=at, actor=actor, detail=detail)
    refresh(session, desk, ticket, at)
    if to in _STOPPED:
        facts = view(ticket, last_public_activity(session, ticket))
        notices.tell_customer(session, desk, facts, kind=to.value, key=f"{to.value}:{ticket.id}:{at.isoformat()}",
                              at=at, data=notices.context(desk, facts))
    return True


def set_severity(session: Session, desk: Desk, ticket: Ticket, to: str, at: datetime, actor: str,
                 why: str | None = None) -> bool:
    """Change the severity: new targets, new due times, and the customer is told."""
    before = ticket.severity
    if to == before:
        return False
    ticket.severity, ticket.updated_at = to, at
    detail: dict[str, Any] = {"from": before, "to": to}
    if why:
        detail["why"] = why
    store.add_event(session, ticket_id=ticket.id, kind=EventKind.SEVERITY_CHANGED, at=at, actor=actor, detail=detail)
    refresh(session, desk, ticket, at)
    facts = following_update(desk, view(ticket, last_public_activity(session, ticket)), at)
    change = {"from": before, "to": to, "by": actor, "why": why}
    data = notices.context(desk, facts, change=change,
                           target=notices.target_context(desk, facts, RESPONSE, ticket.first_response_due))
    notices.tell_customer(session, desk, facts, kind="severity_changed",
                          key=f"severity:{ticket.id}:{at.isoformat()}:{to}", at=at, data=data)
    return True


def set_workaround(session: Session, desk: Desk, ticket: Ticket, at: datetime, actor: str) -> bool:
    """A temporary resolution was given: the workaround clock stops."""
    if ticket.workaround_at is not None:
        return False
    ticket.workaround_at, ticket.updated_at = at, at
    store.add_event(session, ticket_id=ticket.id, kind=EventKind.WORKAROUND, at=at, actor=actor, detail={})
    refresh(session, desk, ticket, at)
    return True
