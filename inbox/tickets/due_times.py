"""A ticket's SLA clocks as stored columns: read the facts off a row, recompute the due times.

Every change that matters to a clock (opened, an engineer's reply, status, severity, a
workaround, an email sent to the customer) ends in `refresh`, so the stored due times, the
record of pauses and `next_check_at` always agree with the facts. Takes the caller's session;
never commits, never queues an email itself (`notices` does, for the callers that tell people).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session

from inbox.clock import as_utc
from inbox.domain.ticket import Status
from inbox.sla.agenda import FOLLOW_UP, UPDATE, Agenda, Dues, Facts, agenda, cadence
from inbox.store import clocks
from inbox.store import tickets as store
from inbox.store.tables import Ticket
from inbox.tickets.desk import Desk, TicketFacts

_STOPPED = (Status.SOLVED, Status.CLOSED)


def load(session: Session, ticket_id: int) -> Ticket:
    ticket = store.ticket_by_id(session, ticket_id)
    if ticket is None:
        raise LookupError(f"no ticket with id {ticket_id}")
    return ticket


def facts_of(ticket: Ticket | SimpleNamespace) -> Facts:
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


def view(ticket: Ticket, last_activity: datetime | None = None) -> TicketFacts:
    return TicketFacts(
        id=ticket.id, tracking=ticket.tracking, subject=ticket.subject, severity=ticket.severity,
        status=ticket.status, customer_id=ticket.customer_id, plan=ticket.plan, requester=ticket.requester,
        assignee=ticket.assignee, created_at=ticket.created_at, dues=dues_of(ticket),
        last_public_activity=last_activity, category=ticket.category,
    )


def following_update(desk: Desk, facts: TicketFacts, at: datetime) -> TicketFacts:
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


def starting_clocks(desk: Desk, plan: str | None, severity: str, at: datetime,
                    sla_state: dict[str, dict[str, Any]] | None = None) -> Agenda:
    """The clocks of a ticket opened at `at` (with `sla_state`, when they are held); its columns
    are written with it (no second statement)."""
    return agenda(Facts(created_at=at, status=Status.OPEN, sla_state=sla_state or {}),
                  desk.contracts.policy(plan, severity), at)


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
    """An email reached the customer's mail server: the update cadence restarts from it.

    As `refresh` would, but read and written as plain rows: this runs for every email a customer
    is sent, recorded a few at a time as the relay answers, where loading and
    flushing the ORM's Ticket cost more than the rest of the record. Like the ORM's flush, only the
    columns whose value changed are written, and none when nothing did."""
    read = clocks.clocks_of(session, ticket_id)
    if read is None:
        raise LookupError(f"no ticket with id {ticket_id}")
    ticket = SimpleNamespace(**read)  # the columns facts_of and _followed_up use, as a Ticket has them
    ticket.last_update_sent_at = max(at, ticket.last_update_sent_at or at)
    if kind in ("status_update", "reminder") and ticket.status == Status.WAITING_ON_CUSTOMER:
        _followed_up(ticket, at)
    result = agenda(facts_of(ticket), desk.contracts.policy(ticket.plan, ticket.severity), at)
    for column, value in clock_columns(result, at).items():
        setattr(ticket, column, value)
    changed = {column: value for column, value in vars(ticket).items() if value != read[column]}
    if changed:
        clocks.set_clocks(session, ticket_id, changed)


def _followed_up(ticket: Ticket | SimpleNamespace, at: datetime) -> None:
    """Count a follow-up of a ticket waiting on the customer, and remember when it was."""
    ticket.follow_ups = (ticket.follow_ups or 0) + 1
    ticket.sla_state = {**(ticket.sla_state or {}), FOLLOW_UP: {"at": at.isoformat()}}
