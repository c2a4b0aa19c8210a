"""A new ticket: classified, clocked, dispatched and acknowledged in one go.

The rules of the config set its severity and category (every decision an event naming its rule);
its SLA clocks start when the mail arrived; the plan's assignment rules give it to an engineer,
who is told; the tickets the mail names are linked; and the sender gets the acknowledgement with
the tracking number, or, when the contract limits support to designated contacts and the sender
is not one, a polite note instead (the ticket is kept, flagged and held: no engineer, clocks as
the plan's `undesignated_clocks` say, no escalation request, until it is confirmed or a person
assigns it: `entitlement`), unless
`acknowledging` holds it back (backscatter, a loop with another desk: the ticket says why). A
mail that answers one of our acknowledgements without joining its ticket flags the new one.
Auto-replies and bounces never get here; list mail opens a ticket but is never answered (RFC 3834);
a customer's machine notification (`inbox.ingest.notifications`) opens one flagged `notification`,
dispatched and clocked as any, never answered, its sender on the thread as `machine` (never mailed).
Takes the caller's session; never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from classifiers import CustomerView, asks_to_escalate, classify, strip_commands
from inbox.domain.message import Automation
from inbox.domain.ticket import SYSTEM, EventKind, Status
from inbox.domain.tracking import find_tracking_numbers, format_tracking
from inbox.settings import CustomerSettings, Settings
from inbox.store import history
from inbox.store import tickets as store
from inbox.store.tickets import TicketRow
from inbox.tickets import acknowledging, audience, notices
from inbox.tickets.acknowledging import ANSWERS_OUR_MAIL
from inbox.tickets.arrival import Arrival, keep, thread_roles
from inbox.tickets.assignment import next_assignee
from inbox.tickets.changes import brief
from inbox.tickets.due_times import clock_columns, load, starting_clocks
from inbox.tickets.desk import Desk, TicketFacts
from inbox.tickets.entitlement import AWAITING, NOT_DESIGNATED, held_clocks, is_designated
from inbox.tickets.escalation import request_escalation

__all__ = ["NOTIFICATION", "NOT_DESIGNATED", "customer_view", "is_designated", "open_ticket"]

NOTIFICATION = "notification"  # the flag of a ticket a customer's machine opened


def customer_view(settings: Settings, customer: CustomerSettings | None, plan: str | None) -> CustomerView:
    """The sender as the classification rules see them: customer and plan, and whether the plan lets
    the customer's own stated severity ("Severity: 1") raise the ticket, and how far."""
    stated = settings.plans[plan].stated_severity if plan in settings.plans else None
    return CustomerView(customer.id if customer else None, plan, stated_may_raise=bool(stated and stated.may_raise),
                        stated_up_to=stated.up_to if stated else None)


def open_ticket(session: Session, desk: Desk, mail: Arrival, *, customer: CustomerSettings | None, plan: str | None,
                links: Sequence[TicketRow], why: str) -> TicketRow:
    """Open a ticket for `mail`; `links` are tickets it answers without the right to join them."""
    settings, parsed, at = desk.settings, mail.parsed, mail.at
    verdict = classify(parsed, customer_view(settings, customer, plan), settings.rule_set, settings.severities)
    customer_id = customer.id if customer else None
    # A customer's machine the config accepts (`inbox.ingest.notifications`) is entitled as the config's own word.
    machine = mail.automation is Automation.NOTIFICATION
    designated = machine or is_designated(desk, customer, parsed.from_addr)
    # Held: nobody is dispatched (nor a turn of the team used up) until someone entitled vouches for it.
    picked = next_assignee(session, desk, plan, verdict.severity, verdict.category, customer_id) if designated else None
    person = mail.automation is Automation.PERSON
    echo = acknowledging.echo_of(session, desk, parsed, links) if person else None
    number = history.allocate_number(session)
    sla_state = {} if designated else held_clocks(desk, plan)
    clocks = starting_clocks(desk, plan, verdict.severity, at, sla_state)
    ticket = history.create_ticket(
        session, number=number, tracking=format_tracking(settings.service.tracking_prefix, number), at=at,
        subject=parsed.subject, requester=parsed.from_addr, customer_id=customer_id, plan=plan,
        severity=verdict.severity, category=verdict.category, status=Status.OPEN.value,
        assignee=picked[0] if picked else None,
        flags=([] if designated else [NOT_DESIGNATED, AWAITING]) + ([ANSWERS_OUR_MAIL] if echo else [])
        + ([NOTIFICATION] if machine else []),
        sla_state=sla_state, **clock_columns(clocks, at),
    )
    keep(session, ticket.id, mail)
    # The customer's people the first mail copies are on its customer list from the start.
    if machine:  # on the thread so its next alerts join, never mailed; the people it copies are not added either
        history.add_participants(session, ticket.id, thread_roles(parsed, settings, requester=True)
                                 | {parsed.from_addr: audience.MACHINE})
    else:
        history.add_participants(session, ticket.id, thread_roles(parsed, settings, requester=True)
                                 | audience.opened_with(settings, customer, parsed))
    events: list[dict[str, Any]] = [
        _event(ticket, EventKind.OPENED, at, parsed.from_addr, raw_id=mail.raw_id, message_id=mail.message_id,
               customer=customer_id, plan=plan, automation=mail.automation.value,
               automation_reason=mail.automation_reason, source=mail.source),
        _event(ticket, EventKind.CLASSIFIED, at, SYSTEM, severity=verdict.severity, category=verdict.category,
               hits=[{"rule": h.rule, "matched": h.matched, "why": h.why} for h in verdict.hits],
               stated={"text": verdict.stated.text, "severity": verdict.stated.severity} if verdict.stated else None),
    ]
    if picked:
        events.append(_event(ticket, EventKind.ASSIGNED, at, SYSTEM, to=picked[0], team=picked[1], why="assignment rules"))
    if not designated:
        events.append(_event(ticket, EventKind.FLAGGED, at, SYSTEM, flag=NOT_DESIGNATED,
                             why=f"{parsed.from_addr} is not a designated contact of {customer_id}",
                             held="not dispatched until a designated contact or an account manager writes #confirm, "
                                  "or a person assigns it", clocks=sla_state.get("clocks", {}).get("off", "from arrival")))
    if machine:
        events.append(_event(ticket, EventKind.FLAGGED, at, SYSTEM, flag=NOTIFICATION, why=mail.automation_reason,
                             held="never answered and never mailed (RFC 3834); engineers dispatched, clocks as the plan says"))
    if echo:
        events.append(_event(ticket, EventKind.FLAGGED, at, SYSTEM, flag=ANSWERS_OUR_MAIL, answers=echo.tracking,
                             why=f"{parsed.from_addr} opened it, and {echo.why}"))
    # Other tickets the mail names or answers without the right to join: link, never merge.
    named = find_tracking_numbers(settings.service.tracking_prefix, f"{parsed.subject}\n{parsed.fresh_text}")
    linked = {t.number for t in links}  # read for this mail already, nothing written to them since
    others = {t.id: t for t in links} | {t.id: t for t in store.rows_by_number(session, [n for n in named
                                                                                          if n not in linked]).values()}
    others.pop(ticket.id, None)
    if others:
        history.link_tickets(session, ticket.id, others, why)
        events.append(_event(ticket, EventKind.LINKED, at, SYSTEM, linked=sorted(t.tracking for t in others.values()),
                             why=why))
    # After the ticket's number is taken: the budget's counter is locked after it, as in every transaction.
    held = acknowledging.hold_back(session, desk, mail, customer, echo) if person else None
    if held:  # as the outbox's own skips read: which email, to whom, why
        notice = {"kind": "acknowledgement" if designated else "not_designated", "to": parsed.from_addr}
        events.append(_event(ticket, EventKind.SKIPPED, at, SYSTEM, **notice, rule=held.rule, why=held.why))
    history.add_events(session, *events)
    facts = TicketFacts(id=ticket.id, tracking=ticket.tracking, subject=parsed.subject, severity=verdict.severity,
                        status=Status.OPEN.value, customer_id=customer_id, plan=plan, requester=parsed.from_addr,
                        assignee=picked[0] if picked else None, created_at=at, dues=clocks.dues,
                        last_public_activity=at, category=verdict.category)
    if picked:
        brief(session, desk, facts, at, by="the assignment rules", team=picked[1],
              request=(parsed.from_addr, parsed.visible_text))
    if not person:
        return ticket
    if designated and not held:
        notices.acknowledge(session, desk, facts, at, mail.message_id)
    elif not held:
        notices.tell_customer(session, desk, facts, kind="not_designated", key=f"not-designated:{ticket.id}", at=at,
                              data=notices.context(desk, facts))
    if designated and asks_to_escalate(parsed.fresh_text):  # someone not entitled to support cannot escalate
        request_escalation(session, desk, load(session, ticket.id), by=parsed.from_addr, at=at, key=mail.message_id,
                           words=strip_commands(parsed.fresh_text), wish=None, tell_sender=not held)
    return ticket


def _event(ticket: TicketRow, event: EventKind, at: Any, actor: str, raw_id: int | None = None, **detail: Any) -> dict[str, Any]:
    return {"ticket_id": ticket.id, "raw_id": raw_id, "kind": event.value, "at": at, "actor": actor, "detail": detail}
