"""Designated contacts: who a plan entitles to support, and a ticket held until someone entitled vouches for it.

A plan with `designated_contacts` (Akemona: "Up to three (3) designated customer contacts may
access technical support services.") entitles only each customer's listed contacts. Anyone else
the customer's domains admit is still heard, never dropped, but their ticket is held
(`AWAITING`): no engineer is dispatched to it until a designated contact of that customer or its
account manager confirms it (`confirming`), or a person assigns it (`#assign`, `inbox tickets set
--assign`). Its SLA clocks follow the plan's `undesignated_clocks`: from_arrival, as any ticket;
from_confirmation, none until it is released, then counted from that instant; none, never.

Customers are identified by their address, as everywhere (a customer's reply reopens a ticket
unproven): a designated contact needs no proof to confirm, because a forged From of theirs could
as well open a ticket of its own, dispatched at once. Staff need proof, as for every command.

Takes the caller's session; never commits, never queues an email (its callers tell people).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from inbox.domain.ticket import EventKind
from inbox.settings import CustomerSettings
from inbox.sla.agenda import CLOCKS
from inbox.store import history
from inbox.store.tables import Ticket
from inbox.tickets.desk import Desk
from inbox.tickets.due_times import refresh

NOT_DESIGNATED = "not-designated-contact"  # opened by someone the plan does not entitle: kept for good
AWAITING = "awaiting-confirmation"  # held: not dispatched, clocks per the plan, until released

_FROM_CONFIRMATION, _NONE = "from_confirmation", "none"


def is_designated(desk: Desk, customer: CustomerSettings | None, address: str) -> bool:
    """May this sender open tickets? Always, unless the plan limits support to the customer's listed contacts."""
    if customer is None:
        return True
    plan = desk.settings.plans.get(customer.plan)
    return plan is None or plan.designated_contacts is None or address.lower() in customer.contacts


def undesignated_clocks(desk: Desk, plan: str | None) -> str:
    """The plan's `undesignated_clocks` (from_arrival where the plan is unknown: nothing to hold)."""
    config = desk.settings.plans.get(plan) if plan else None
    return config.undesignated_clocks if config is not None else "from_arrival"


def held_clocks(desk: Desk, plan: str | None) -> dict[str, dict[str, Any]]:
    """The `sla_state` a held ticket opens with: its clocks off unless they run from arrival."""
    setting = undesignated_clocks(desk, plan)
    if setting == _FROM_CONFIRMATION:
        return {CLOCKS: {"off": "awaiting confirmation of a non-designated contact's ticket"}}
    if setting == _NONE:
        return {CLOCKS: {"off": "opened by a non-designated contact: the plan gives such tickets no SLA clocks"}}
    return {}


def is_awaiting(flags: list[str] | None) -> bool:
    return AWAITING in (flags or [])


def release(session: Session, desk: Desk, ticket: Ticket, at: datetime, actor: str, *, how: str,
            **detail: Any) -> bool:
    """Lift the hold: the flag goes, the clocks start as the plan says, a `confirmed` event records
    who and how. False when the ticket was not held (confirmed already, or never held): a second
    confirmation, or a replay of the first, changes nothing. Dispatch is the caller's."""
    if not is_awaiting(ticket.flags):
        return False
    setting = undesignated_clocks(desk, ticket.plan)
    ticket.flags = [flag for flag in ticket.flags if flag != AWAITING]
    # Read again now, not as opened: a reload may have changed the plan's choice while it was held.
    state = {name: value for name, value in (ticket.sla_state or {}).items() if name != CLOCKS}
    if setting == _FROM_CONFIRMATION:
        # As if it had arrived now: the promises run from the moment someone entitled vouched for it.
        state[CLOCKS] = {"from": at.isoformat()}
    elif setting == _NONE:
        state[CLOCKS] = held_clocks(desk, ticket.plan)[CLOCKS]
    ticket.sla_state = state  # from_arrival: no entry, the clocks count from the ticket's creation
    ticket.updated_at = at
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.CONFIRMED, at=at, actor=actor,
                      detail={"how": how, "clocks": setting, **detail})
    refresh(session, desk, ticket, at)
    return True
