"""Changes people and rules make to a ticket: status, severity, workaround, assignee, a staff note.

Each change records its event, recomputes the clocks (`clocks.refresh`) and queues the emails
it causes, all in the caller's transaction; a change to what it already is does nothing and
returns False. Takes the caller's session; never commits, never sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from inbox.domain.ticket import SYSTEM, EventKind, Status
from inbox.sla.agenda import FOLLOW_UP, RESPONSE
from inbox.store import history
from inbox.store import tickets as store
from inbox.store.tables import Ticket
from inbox.tickets import notices
from inbox.tickets.assignment import matching_rule, next_assignee
from inbox.tickets.due_times import following_update, last_public_activity, refresh, view
from inbox.tickets.desk import Desk, TicketFacts
from inbox.tickets.entitlement import is_awaiting, release

_STOPPED = (Status.SOLVED, Status.CLOSED)
BRIEF_CHARS = 4000  # of the customer's request, in the engineer's email


def set_status(session: Session, desk: Desk, ticket: Ticket, to: Status, at: datetime, actor: str,
               why: str | None = None, *, tell_customer: bool = True) -> bool:
    """Move the ticket to `to`, pausing or resuming clocks, and tell the customer of solved and closed
    (unless `tell_customer` is False: an engineer's relayed reply already says so)."""
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
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.STATUS_CHANGED, at=at, actor=actor, detail=detail)
    refresh(session, desk, ticket, at)
    if to in _STOPPED and tell_customer:
        facts = view(ticket, last_public_activity(session, ticket))
        notices.tell_customer(session, desk, facts, kind=to.value, key=f"{to.value}:{ticket.id}:{at.isoformat()}",
                              at=at, data=notices.context(desk, facts))
    return True


def set_severity(session: Session, desk: Desk, ticket: Ticket, to: str, at: datetime, actor: str,
                 why: str | None = None, *, also_tell: Sequence[str] = ()) -> bool:
    """Change the severity: new targets and due times, recomputed from the ticket's start; the
    customer is told, and so are the assignee (unless the change is theirs) and `also_tell`."""
    before = ticket.severity
    if to == before:
        return False
    ticket.severity, ticket.updated_at = to, at
    detail: dict[str, Any] = {"from": before, "to": to}
    if why:
        detail["why"] = why
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.SEVERITY_CHANGED, at=at, actor=actor, detail=detail)
    refresh(session, desk, ticket, at)
    facts = following_update(desk, view(ticket, last_public_activity(session, ticket)), at)
    target = notices.target_context(desk, facts, RESPONSE, ticket.first_response_due)
    # The customer's copy names an engineer or account manager as customers may read them
    # ("by Example Support", or their name): the address stays ours (notices.for_customer).
    data = notices.context(desk, facts, change={"from": before, "to": to, "by": actor, "why": why}, target=target)
    key = f"severity:{ticket.id}:{at.isoformat()}:{to}"
    notices.tell_customer(session, desk, facts, kind="severity_changed", key=key, at=at, data=data)
    staff = severity_change_staff(ticket.assignee, actor, also_tell)
    if staff:
        notices.tell_staff(session, desk, facts, kind="severity_changed", key=key, at=at, recipients=staff, data=data)
    _redispatch(session, desk, ticket, at)
    return True


def severity_change_staff(assignee: str | None, actor: str, also_tell: Sequence[str] = ()) -> list[str]:
    """Our people told of a severity change: `also_tell` (an account manager who asked for it), and
    the engineer assigned, unless the change is theirs. The customer is told in any case."""
    return [*also_tell, *([assignee] if assignee and assignee != actor else [])]


def _redispatch(session: Session, desk: Desk, ticket: Ticket, at: datetime) -> None:
    """Dispatch goes by severity (Apporetum: "based on Ticket Type, Severity and Support Package"):
    when the rules now pick a team the engineer is not in, the ticket moves to that team, unless a
    person chose the engineer (`#assign`, by hand), whose choice stands."""
    if is_awaiting(ticket.flags):
        return  # a non-designated contact's ticket waits for #confirm or a person, whatever its severity
    found = matching_rule(desk, ticket.plan, ticket.severity, ticket.category, ticket.customer_id)
    if found is None or ticket.assignee in found[1].team:
        return
    if ticket.assignee and store.last_event_actor(session, ticket.id, EventKind.ASSIGNED) != SYSTEM:
        return
    picked = next_assignee(session, desk, ticket.plan, ticket.severity, ticket.category, ticket.customer_id)
    if picked is not None:
        set_assignee(session, desk, ticket, picked[0], at, SYSTEM, team=picked[1])


def set_workaround(session: Session, desk: Desk, ticket: Ticket, at: datetime, actor: str) -> bool:
    """A temporary resolution was given: the workaround clock stops."""
    if ticket.workaround_at is not None:
        return False
    ticket.workaround_at, ticket.updated_at = at, at
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.WORKAROUND, at=at, actor=actor, detail={})
    refresh(session, desk, ticket, at)
    return True


def set_assignee(session: Session, desk: Desk, ticket: Ticket, to: str, at: datetime, actor: str,
                 team: Sequence[str] = ()) -> bool:
    """Give the ticket to engineer `to`, who is told by email with the customer's request.

    A person's choice (anyone but the assignment rules) also releases a ticket held for a
    non-designated contact: they have looked at it, and its clocks start as its plan says."""
    before = ticket.assignee
    if to == before:
        return False
    released = actor != SYSTEM and release(session, desk, ticket, at, actor, how="assigned", to=to)
    ticket.assignee, ticket.updated_at = to, at
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.ASSIGNED, at=at, actor=actor,
                      detail={"from": before, "to": to, "team": list(team)})
    facts = view(ticket, last_public_activity(session, ticket))
    brief(session, desk, facts, at, by="the assignment rules" if actor == SYSTEM else actor, team=team)
    if released:
        acknowledge_released(session, desk, ticket, at)
    return True


def acknowledge_released(session: Session, desk: Desk, ticket: Ticket, at: datetime) -> None:
    """The acknowledgement a non-designated contact's ticket was not sent while held, with the
    response target now running; keyed as every acknowledgement (`ack:<ticket>`), so it goes once."""
    facts = view(ticket, last_public_activity(session, ticket))
    target = notices.target_context(desk, facts, RESPONSE, ticket.first_response_due)
    notices.tell_customer(session, desk, facts, kind="acknowledgement", key=f"ack:{ticket.id}", at=at,
                          data=notices.context(desk, facts, target=target))


def brief(session: Session, desk: Desk, facts: TicketFacts, at: datetime, *, by: str, team: Sequence[str] = (),
          request: tuple[str, str] | None = None) -> None:
    """Tell the ticket's engineer it is theirs, with the customer's request (read from the ticket unless given)."""
    assert facts.assignee
    sender, text = request or store.first_request(session, facts.id) or (facts.requester, "")
    data = notices.context(desk, facts, assignment={"by": by, "team": list(team)},
                           message={"from": sender, "text": text[:BRIEF_CHARS]},
                           target=notices.target_context(desk, facts, RESPONSE, facts.dues.first_response_due))
    notices.tell_staff(session, desk, facts, kind="assigned", key=f"assigned:{facts.id}:{facts.assignee}:{at.isoformat()}",
                       at=at, recipients=[facts.assignee], data=data)


def set_category(session: Session, ticket: Ticket, to: str, at: datetime, actor: str) -> bool:
    """Recategorise the ticket (technical problem, billing ...): it changes no clock."""
    before = ticket.category
    if to == before:
        return False
    ticket.category, ticket.updated_at = to, at
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.CATEGORY_CHANGED, at=at, actor=actor,
                      detail={"from": before, "to": to})
    return True


def add_note(session: Session, ticket_id: int, note: str, at: datetime, actor: str) -> None:
    """A staff member's note on the ticket, with no other change: it changes no clock and tells no one."""
    history.add_event(session, ticket_id=ticket_id, kind=EventKind.NOTE, at=at, actor=actor, detail={"note": note})
