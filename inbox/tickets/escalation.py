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
from inbox.settings import Settings
from inbox.store import history
from inbox.store.tables import Ticket
from inbox.tickets import notices
from inbox.tickets.assignment import engineers
from inbox.tickets.due_times import last_public_activity, view
from inbox.tickets.desk import Desk, TicketFacts

WORDS_KEPT = 2000  # of the customer's own words, in the escalation emails


def request_escalation(session: Session, desk: Desk, ticket: Ticket, *, by: str, at: datetime, key: str,
                       words: str, wish: str | None, tell_sender: bool = True) -> int:
    """Record a customer's escalation request and tell the next level of the chain; the level reached.
    `tell_sender` False: the sender is not told it was passed on (their acknowledgement was held back)."""
    plan = desk.settings.plans.get(ticket.plan) if ticket.plan else None
    chain = plan.breach_escalation.requests if plan else []
    level, to = next_escalation(chain, ticket.escalation_level)
    ticket.escalation_level, ticket.updated_at = level, at
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.ESCALATION_REQUESTED, at=at, actor=by,
                      detail={"level": level, "levels": len(chain), "told": to, "wish": wish})
    facts = view(ticket, last_public_activity(session, ticket))
    escalation = {"level": level, "levels": len(chain), "by": by, "text": words.strip()[:WORDS_KEPT] or None,
                  "wish": wish}
    data = notices.context(desk, facts, escalation=escalation)
    staff = escalation_staff(desk, facts, to)
    notices.tell_staff(session, desk, facts, kind="escalation_request", key=f"escalate:{ticket.id}:{key}", at=at,
                       recipients=staff, data=data)
    if tell_sender:
        notices.tell_customer(session, desk, facts, kind="escalation_received",
                              key=f"escalation-received:{ticket.id}:{key}", at=at, data=data)
    return level


def next_escalation(chain: Sequence[str], level: int | None) -> tuple[int, str | None]:
    """The level a customer's request reaches from `level` (None: never escalated) and who of the
    plan's `chain` is told there; (0, None) when the plan has no chain. Past the top of the chain
    the top is told again: a repeated request is never dropped."""
    reached = min((level or 0) + 1, len(chain))
    return reached, chain[reached - 1] if reached else None


def escalation_staff(desk: Desk, ticket: TicketFacts, to: str | None) -> list[str]:
    """Who of ours hears of a customer's escalation request: the chain's person at its level and the
    assignee; where the plan has no chain, the ticket's engineers instead."""
    return [to, *([ticket.assignee] if ticket.assignee else [])] if to else engineers(desk, ticket)


def refusal_staff(settings: Settings, customer_id: str | None, tell: bool = True) -> list[str]:
    """Who hears of refused keyword lines: the account managers of the ticket's own customer (never
    the stranger who sent them); nobody when `tell` is False or the ticket has no customer."""
    customer = settings.customer(customer_id)
    return list(customer.account_managers) if customer and tell else []


def refuse(session: Session, desk: Desk, ticket: Ticket, *, kind: EventKind, by: str, at: datetime, key: str,
           items: Sequence[dict[str, str]], authentication: str | None = None, tell: bool = True) -> None:
    """Record refused keyword lines and (unless `tell` is False) tell the customer's account managers why."""
    detail: dict[str, Any] = {"by": by, "lines": list(items)}
    if authentication:
        detail["authentication"] = authentication
    history.add_event(session, ticket_id=ticket.id, kind=kind, at=at, actor=by, detail=detail)
    managers = refusal_staff(desk.settings, ticket.customer_id, tell)
    if not managers:
        return
    facts = view(ticket, last_public_activity(session, ticket))
    data = notices.context(desk, facts, refusal={"by": by, "lines": list(items), "reason": None, "relayed": False})
    notices.tell_staff(session, desk, facts, kind="escalation_refused", key=f"refused:{ticket.id}:{key}", at=at,
                       recipients=managers, data=data)
