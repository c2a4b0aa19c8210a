"""Escalation by email that changes no severity: a customer's request, and keywords refused.

A customer who writes `#escalate` or asks to escalate changes nothing but is heard: the request
is recorded and the plan's escalation chain is told, one level further each time it is repeated
(team lead, manager, executive), and the customer is told it was passed on. At the top of the
chain the executive level is told once a day (`TOP_NOTICE_EVERY`), not at every repeated request:
a request inside that day is still recorded and acknowledged, but emails none of our people. A
severity keyword that is not honoured (the sender has no right to it, or the mail is not
authenticated) changes nothing either: the refusal is recorded with its reason and the
customer's account managers, never the stranger who sent it, are told why. Takes the caller's session; never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from inbox.domain.ticket import EventKind
from inbox.settings import Settings
from inbox.store import history
from inbox.store import tickets as store
from inbox.store.tables import Ticket
from inbox.tickets import notices
from inbox.tickets.assignment import engineers
from inbox.tickets.due_times import last_public_activity, view
from inbox.tickets.desk import Desk, TicketFacts

WORDS_KEPT = 2000  # of the customer's own words, in the escalation emails
# How often the top of the chain hears of one ticket's repeated requests: a rolling day from the last
# request that told it. An executive needs to know a customer is still pressing, not every time they ask.
TOP_NOTICE_EVERY = timedelta(hours=24)


def request_escalation(session: Session, desk: Desk, ticket: Ticket, *, by: str, at: datetime, key: str,
                       words: str, wish: str | None, tell_sender: bool = True) -> int:
    """Record a customer's escalation request and tell the next level of the chain; the level reached.

    A request made when the ticket is already at the top of the chain tells the top again only once
    `TOP_NOTICE_EVERY` (24 hours, on the injected clock: `at` is when the mail arrived) has passed since
    the last request that told it; inside that day it is recorded (`told` None, `quiet_until` when the
    top may hear again) and the customer is still told it is on the ticket, but no staff email goes out.
    `tell_sender` False: the sender is not told it was passed on (their acknowledgement was held back)."""
    plan = desk.settings.plans.get(ticket.plan) if ticket.plan else None
    chain = list(plan.breach_escalation.requests) if plan else []
    at_top = bool(chain) and (ticket.escalation_level or 0) >= len(chain)
    level, to = next_escalation(chain, ticket.escalation_level)
    told_at = last_top_notice(session, ticket.id, len(chain)) if at_top else None
    quiet = told_at is not None and at < told_at + TOP_NOTICE_EVERY
    ticket.escalation_level, ticket.updated_at = level, at
    detail: dict[str, Any] = {"level": level, "levels": len(chain), "told": None if quiet else to, "wish": wish}
    if quiet and told_at is not None:
        detail["quiet_until"] = (told_at + TOP_NOTICE_EVERY).isoformat()
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.ESCALATION_REQUESTED, at=at, actor=by,
                      detail=detail)
    facts = view(ticket, last_public_activity(session, ticket))
    escalation = {"level": level, "levels": len(chain), "by": by, "text": words.strip()[:WORDS_KEPT] or None,
                  "wish": wish, "told_at": notices.when(told_at, desk.contracts.zone(ticket.plan)) if quiet else None}
    data = notices.context(desk, facts, escalation=escalation)
    if not quiet:
        notices.tell_staff(session, desk, facts, kind="escalation_request", key=f"escalate:{ticket.id}:{key}", at=at,
                           recipients=escalation_staff(desk, facts, to), data=data)
    if tell_sender:
        notices.tell_customer(session, desk, facts, kind="escalation_received",
                              key=f"escalation-received:{ticket.id}:{key}", at=at, data=data)
    return level


def last_top_notice(session: Session, ticket_id: int, levels: int) -> datetime | None:
    """When a customer's request on the ticket last told the top of a chain of `levels`; None if never."""
    told = [e.at for e in store.events_of_kind(session, ticket_id, EventKind.ESCALATION_REQUESTED.value)
            if e.detail.get("level") == levels and e.detail.get("told")]
    return max(told, default=None)


def next_escalation(chain: Sequence[str], level: int | None) -> tuple[int, str | None]:
    """The level a customer's request reaches from `level` (None: never escalated) and who of the
    plan's `chain` is told there; (0, None) when the plan has no chain. Past the top of the chain
    the top is reached again: a repeated request is never dropped (`request_escalation` decides
    whether the top hears of it again today)."""
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
