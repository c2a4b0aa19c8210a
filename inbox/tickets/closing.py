"""A customer closes their own ticket by email, where the plan allows it (`customers_may_close`).

Apporetum: "a ticket may also be closed when ... The ticket is not resolved but is closed by the
customer." Only the ticket's own customer may: its requester, or an address of its customer that
was already on the thread before this mail. Anyone else the ticket admits (a partner copied in, a
colleague of another company) is refused and the attempt recorded; nobody is told, as nothing
changed. Closing stops the clocks as any close does (`set_status`); the customer gets a short
confirmation (`closed_by_customer`), sent to the requester as well as the closer, so a forged close
in the requester's name reaches the real requester at once. Takes the caller's session; never commits.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from classifiers import Command, asks_to_close
from inbox.domain.ticket import EventKind, Status
from inbox.store import history
from inbox.store import tickets as store
from inbox.store.tables import Ticket
from inbox.tickets import audience, notices
from inbox.tickets.changes import set_status
from inbox.tickets.desk import Desk
from inbox.tickets.due_times import last_public_activity, view

NOT_THEIRS = "only the ticket's own customer (its requester, or the customer's addresses on the thread) may close it"


class CloseRight(enum.Enum):
    MAY = "may"  # the plan allows it and the sender is the ticket's own customer
    NOT_THEIRS = "not theirs"  # the plan allows it, but the sender is someone else the ticket admits
    NOT_IN_PLAN = "not in plan"  # the plan leaves closing to the engineers: "#close" is theirs only


@dataclass(frozen=True)
class CloseAsk:
    """How a customer's reply asks to close, if it does: a "#close" line or words ("please close this ticket")."""

    line: str | None  # the "#close" line, or the words that ask; None: it does not ask

    @property
    def asks(self) -> bool:
        return self.line is not None


def customers_may_close(desk: Desk, plan_name: str | None) -> bool:
    """Does the plan let a ticket's customer close it?"""
    plan = desk.settings.plans.get(plan_name or "")
    return plan is not None and plan.customers_may_close


def close_right(session: Session, desk: Desk, row: Ticket, address: str) -> CloseRight:
    """May `address` close this ticket? Read before the mail is added: being on the thread means
    having been on it already, not being put there by the mail that asks."""
    if not customers_may_close(desk, row.plan):
        return CloseRight.NOT_IN_PLAN
    address = address.lower()
    if address == row.requester.lower():
        return CloseRight.MAY
    customer = desk.settings.customer_for(address)
    if customer is not None and customer.id == row.customer_id and address in store.participants(session, row.id):
        return CloseRight.MAY
    return CloseRight.NOT_THEIRS


def close_ask(commands: tuple[Command, ...] | list[Command], fresh_text: str, right: CloseRight) -> CloseAsk:
    """What of a customer's reply asks to close. Words count only where the plan lets customers close:
    elsewhere they are just words for the engineer to read."""
    line = next((c.line for c in commands if c.verb == "close"), None)
    if line is None and right is not CloseRight.NOT_IN_PLAN:
        line = asks_to_close(fresh_text)
    return CloseAsk(line)


def close_for_customer(session: Session, desk: Desk, ticket: Ticket, *, by: str, at: datetime, line: str,
                       key: str) -> bool:
    """Close the ticket at its customer's request: a `closed_by_customer` event, the status change
    (clocks stop) and the confirmation. False when it was closed already."""
    before = ticket.status
    if before == Status.CLOSED:
        return False
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.CLOSED_BY_CUSTOMER, at=at, actor=by,
                      detail={"line": line, "from": before, "message_id": key})
    # Not the "closed" email: that one is for a close of ours; the customer's own gets its confirmation.
    set_status(session, desk, ticket, Status.CLOSED, at, by, why=f"closed by the customer: {line}", tell_customer=False)
    facts = view(ticket, last_public_activity(session, ticket))
    in_reply_to, refs = notices.thread_ids(session, ticket.id)
    roles = store.participant_roles(session, ticket.id)  # a machine requester is never mailed
    notices.enqueue(session, desk, facts, kind="closed_by_customer", key=f"closed-by-customer:{ticket.id}:{key}",
                    recipients=[a for a in (ticket.requester, by) if roles.get(a.lower()) != audience.MACHINE],
                    audience=notices.CUSTOMER, at=at,
                    data=notices.context(desk, facts, closing={"by": by, "line": line}),
                    in_reply_to=in_reply_to, references=refs)
    return True
