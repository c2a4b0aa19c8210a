"""Changes to a ticket that move its SLA clocks, and the notices those changes cause.

Every change that matters to a clock (opened, an engineer's reply, status, severity, a
workaround, an email sent to the customer) goes through here, so the stored due times, the
record of pauses and `next_check_at` always agree with the facts, and the emails a change
causes are queued in the same transaction. Takes the caller's session; never commits.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from inbox import notices
from inbox.clock import as_utc
from inbox.domain.ticket import EventKind, Status
from inbox.notices import CUSTOMER, Desk
from inbox.sla.agenda import FOLLOW_UP, RESPONSE, UPDATE, Agenda, Dues, Facts, agenda, cadence
from inbox.store import tickets as store
from inbox.store.tables import Ticket

SYSTEM = "system"
_STOPPED = (Status.SOLVED, Status.CLOSED)


def load(session: Session, ticket_id: int) -> Ticket:
    ticket = store.ticket_by_id(session, ticket_id)
    if ticket is None:
        raise LookupError(f"no ticket with id {ticket_id}")
    return ticket


def facts_of(ticket: Ticket) -> Facts:
    pauses = tuple((as_utc(datetime.fromisoformat(a)), as_utc(datetime.fromisoformat(b))) for a, b in ticket.pauses or ())
    return Facts(
        created_at=ticket.created_at,
        status=Status(ticket.status),
        first_response_at=ticket.first_response_at,
        workaround_at=ticket.workaround_at,
        solved_at=ticket.solved_at,
        closed_at=ticket.closed_at,
        last_update_sent_at=ticket.last_update_sent_at,
        pauses=pauses,
        paused_since=ticket.paused_since,
        follow_ups=ticket.follow_ups or 0,
        sla_state=ticket.sla_state or {},
    )


def dues_of(ticket: Ticket) -> Dues:
    return Dues(ticket.first_response_due, ticket.next_update_due, ticket.workaround_due, ticket.resolution_due)


def last_public_activity(session: Session, ticket: Ticket) -> datetime | None:
    """The latest public message on the ticket, or the latest email to the customer."""
    times = [t for t in (store.last_public_message_at(session, ticket.id), ticket.last_update_sent_at) if t is not None]
    return max(times, default=None)


def view(ticket: Ticket, last_activity: datetime | None = None) -> notices.TicketFacts:
    return notices.TicketFacts(
        id=ticket.id, tracking=ticket.tracking, subject=ticket.subject, severity=ticket.severity,
        status=ticket.status, customer_id=ticket.customer_id, plan=ticket.plan, requester=ticket.requester,
        assignee=ticket.assignee, created_at=ticket.created_at, dues=dues_of(ticket),
        last_public_activity=last_activity, category=ticket.category,
    )


def following_update(desk: Desk, facts: notices.TicketFacts, at: datetime) -> notices.TicketFacts:
    """The ticket as an email sent at `at` describes it: that email restarts the update cadence."""
    rule = desk.contracts.policy(facts.plan, facts.severity).targets.get(UPDATE)
    if rule is None or facts.status in _STOPPED:
        return facts
    return dataclasses.replace(facts, dues=dataclasses.replace(facts.dues, next_update_due=cadence(rule, at).due))


def clock_columns(result: Agenda, now: datetime) -> dict[str, datetime | None]:
    """The ticket columns an agenda sets: the four due times, and when the sweep must look next."""
    d = result.dues
    return {"first_response_due": d.first_response_due, "next_update_due": d.next_update_due,
            "workaround_due": d.workaround_due, "resolution_due": d.resolution_due,
            # Something already due is left for the next sweep, which does it under its row lock.
            "next_check_at": now if result.actions else result.next_check_at}


def refresh(session: Session, desk: Desk, ticket: Ticket, now: datetime) -> Agenda:
    """Recompute the due times and when the scheduler must look at this ticket next."""
    result = agenda(facts_of(ticket), desk.contracts.policy(ticket.plan, ticket.severity), now)
    for column, value in clock_columns(result, now).items():
        setattr(ticket, column, value)
    session.flush()
    return result


def starting_clocks(desk: Desk, plan: str | None, severity: str, at: datetime) -> Agenda:
    """The clocks of a ticket opened at `at`; its columns are written with it (no second statement)."""
    return agenda(Facts(created_at=at, status=Status.OPEN), desk.contracts.policy(plan, severity), at)


def acknowledge(session: Session, desk: Desk, ticket: notices.TicketFacts, at: datetime, message_id: str) -> None:
    """Queue the acknowledgement of a new ticket: its tracking number, severity and response target."""
    data = notices.context(desk, ticket, target=notices.target_context(desk, ticket, RESPONSE, ticket.dues.first_response_due))
    notices.enqueue(session, desk, ticket, kind="acknowledgement", key=f"ack:{ticket.id}", recipients=[ticket.requester],
                    audience=CUSTOMER, at=at, data=data, in_reply_to=message_id, references=[message_id])


def responded(session: Session, desk: Desk, ticket_id: int, at: datetime) -> None:
    """An engineer wrote on the thread: that is the first response (or, while waiting on the
    customer, a follow-up), and it restarts the update cadence."""
    ticket = load(session, ticket_id)
    if ticket.first_response_at is None:
        ticket.first_response_at = at
    if ticket.status == Status.WAITING_ON_CUSTOMER:
        _followed_up(ticket, at)  # the engineer chased the customer
    ticket.last_update_sent_at = max(at, ticket.last_update_sent_at or at)
    ticket.updated_at = at
    refresh(session, desk, ticket, at)


def emailed_customer(session: Session, desk: Desk, ticket_id: int, at: datetime, kind: str) -> None:
    """An email reached the customer's mail server: the update cadence restarts from it."""
    ticket = load(session, ticket_id)
    ticket.last_update_sent_at = max(at, ticket.last_update_sent_at or at)
    if kind == "status_update" and ticket.status == Status.WAITING_ON_CUSTOMER:
        _followed_up(ticket, at)
    refresh(session, desk, ticket, at)


def _followed_up(ticket: Ticket, at: datetime) -> None:
    """Count a follow-up of a ticket waiting on the customer, and remember when it was."""
    ticket.follow_ups = (ticket.follow_ups or 0) + 1
    ticket.sla_state = {**(ticket.sla_state or {}), FOLLOW_UP: {"at": at.isoformat()}}


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
