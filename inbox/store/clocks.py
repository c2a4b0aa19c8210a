"""A ticket's SLA clocks as plain rows: the facts they are computed from, and the columns they are
stored in, read and written without loading the ORM's Ticket.

For the one caller that runs once for every email a customer is sent (`inbox.tickets.due_times
.emailed_customer`, in a transaction of its own per email), where loading a Ticket, building an
UPDATE and flushing it cost more than the rest of recording the email. Only the ticket rules call
it. Takes the caller's session and never commits.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from inbox.store.tables import Ticket

# Built once, as the rest of the store's hot statements: building one per call costs more than running it.
_READ = select(Ticket.plan, Ticket.severity, Ticket.status, Ticket.created_at, Ticket.first_response_at,
               Ticket.workaround_at, Ticket.solved_at, Ticket.closed_at, Ticket.last_update_sent_at, Ticket.pauses,
               Ticket.paused_since, Ticket.follow_ups, Ticket.sla_state, Ticket.first_response_due,
               Ticket.next_update_due, Ticket.workaround_due, Ticket.resolution_due,
               Ticket.next_check_at).where(Ticket.id == bindparam("ticket_id"))
# The columns set are those of the parameters given: one compiled form per set of columns.
_WRITE = update(Ticket.__table__).where(Ticket.__table__.c.id == bindparam("ticket_id"))


def clocks_of(session: Session, ticket_id: int) -> dict[str, object] | None:
    """The ticket's SLA facts (with its plan and severity) and clock columns by name; None: no such ticket."""
    row = session.connection().execute(_READ, {"ticket_id": ticket_id}).first()
    return dict(row._mapping) if row is not None else None


def set_clocks(session: Session, ticket_id: int, values: Mapping[str, object]) -> None:
    """Write these columns of the ticket (names as `clocks_of` gives them)."""
    session.connection().execute(_WRITE, {"ticket_id": ticket_id, **values})
