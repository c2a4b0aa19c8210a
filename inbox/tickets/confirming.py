"""`#confirm`: someone entitled vouches for a ticket a non-designated contact opened, and it is worked.

Who may: a designated contact of the ticket's own customer (identified by address, as customers
are everywhere: see `entitlement`), or an account manager of that customer whose mail is
authenticated, its proof spent as it acts (a replayed copy is refused as unauthenticated). An
engineer releases a ticket by assigning it instead; anyone else's `#confirm` is refused with the
reason, and a non-designated contact can never confirm their own ticket.

What it does, once: the hold is lifted (`entitlement.release`: clocks start as the plan says),
the plan's assignment rules dispatch an engineer as opening would have, who is told, and the
requester gets the acknowledgement they were not sent (tracking number, response target). A
second `#confirm`, from anyone, changes nothing and is recorded as refused: the ticket is no
longer awaiting confirmation. Takes the caller's session; never commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from inbox.domain.ticket import SYSTEM
from inbox.store.tables import Ticket
from inbox.tickets.assignment import next_assignee
from inbox.tickets.changes import acknowledge_released, set_assignee
from inbox.tickets.desk import Desk
from inbox.tickets.entitlement import is_awaiting, release

NOT_AWAITING = "the ticket is not awaiting confirmation (confirmed or assigned already, or opened by a designated contact)"


def confirm(session: Session, desk: Desk, ticket: Ticket, at: datetime, actor: str, **detail: Any) -> str | None:
    """Carry out a `#confirm` whose sender has the right; None when done, else why nothing changed."""
    if not is_awaiting(ticket.flags):
        return NOT_AWAITING
    release(session, desk, ticket, at, actor, how="#confirm", **detail)
    if ticket.assignee is None:  # as opening would have: the plan's rules, the team's next turn
        picked = next_assignee(session, desk, ticket.plan, ticket.severity, ticket.category, ticket.customer_id)
        if picked is not None:
            set_assignee(session, desk, ticket, picked[0], at, SYSTEM, team=picked[1])
    acknowledge_released(session, desk, ticket, at)
    return None

