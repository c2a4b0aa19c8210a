"""Escalation by email that changes no severity: a customer's request, and keywords refused.

A customer who writes `#escalate` or asks to escalate changes nothing but is heard: the request
is recorded and the plan's escalation chain is told, one level further each time it is repeated
(team lead, manager, executive), and the customer is told it was passed on. A severity keyword
that is not honoured (the sender has no right to it, or the mail is not authenticated) changes
nothing either: the refusal is recorded with its reason and the customer's account managers,
never the stranger who sent it, are told why. Takes the caller's session; never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from inbox.domain.ticket import EventKind
from inbox.store import history
from inbox.store.tables import Ticket
from inbox.tickets import notices
from inbox.tickets.assignment import engineers
from inbox.tickets.clocks import last_public_activity, view
from inbox.tickets.desk import Desk

WORDS_KEPT = 2000  # of the customer's own words, in the escalation emails


def request_escalation(session: Session, desk: Desk, ticket: Ticket, *, by: str, at: datetime, key: str,
                       words: str, wish: str | None, tell_sender: bool = True) -> int:
    """Record a customer's escalation request and tell the next level of the chain; the level reached.
    `tell_sender` False: the sender is not told it was passed on (their acknowledgement was held back)."""
    plan = desk.settings.plans.get(ticket.plan) if ticket.plan else None
    chain = list(plan.breach_escalation) if plan else []
    # Past the top of the chain the top is told again: a repeated request is never dropped.
    level = min((ticket.escalation_level or 0) + 1, len(chain))
    ticket.escalation_level, ticket.updated_at = level, at
    to = chain[level - 1] if level else None
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.ESCALATION_REQUESTED, at=at, actor=by,
                      detail={"level": level, "levels": len(chain), "told": to, "wish": wish})
    facts = view(ticket, last_public_activity(session, ticket))
    escalation = {"level": level, "levels": len(chain), "by": by, "text": words.strip()[:WORDS_KEPT] or None,
                  "wish": wish}
    data = notices.context(desk, facts, escalation=escalation)
    # The assignee hears of it too; where the plan has no chain, the ticket's engineers are told instead.
    staff = [to, *([ticket.assignee] if ticket.assignee else [])] if to else engineers(desk, facts)
    notices.tell_staff(session, desk, facts, kind="escalation_request", key=f"escalate:{ticket.id}:{key}", at=at,
                       recipients=staff, data=data)
    if tell_sender:
        notices.tell_customer(session, desk, facts, kind="escalation_received",
                              key=f"escalation-received:{ticket.id}:{key}", at=at, data=data)
    return level


def refuse(session: Session, desk: Desk, ticket: Ticket, *, kind: EventKind, by: str, at: datetime, key: str,
           items: Sequence[dict[str, str]], authentication: str | None = None, tell: bool = True) -> None:
    """Record refused keyword lines and (unless `tell` is False) tell the customer's account managers why."""
    detail: dict[str, Any] = {"by": by, "lines": list(items)}
    if authentication:
        detail["authentication"] = authentication
    history.add_event(session, ticket_id=ticket.id, kind=kind, at=at, actor=by, detail=detail)
    customer = desk.settings.customer(ticket.customer_id)
    managers = list(customer.account_managers) if customer and tell else []
    if not managers:
        return
    facts = view(ticket, last_public_activity(session, ticket))
    data = notices.context(desk, facts, refusal={"by": by, "lines": list(items), "reason": None, "relayed": False})
    notices.tell_staff(session, desk, facts, kind="escalation_refused", key=f"refused:{ticket.id}:{key}", at=at,
                       recipients=managers, data=data)
