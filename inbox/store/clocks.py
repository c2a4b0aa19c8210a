"""A ticket's SLA clocks as plain rows: the facts they are computed from, and the columns they are
stored in, read and written without loading the ORM's Ticket.

For the one caller that runs once for every email a customer is sent (`inbox.tickets.due_times
.emailed_customer`, as the sender records its emails a few at a time), where loading a Ticket, building an
UPDATE and flushing it cost more than the rest of recording the email. Only the ticket rules call
it. Takes the caller's session and never commits; in a transaction that holds its writes
(`inbox.store.deferred`) the clocks written wait with the rest, and `clocks_of` reads them back.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from inbox.store import deferred
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
    """The ticket's SLA facts (with its plan and severity) and clock columns by name, with what
    this transaction holds for them; None: no such ticket."""
    row = session.connection().execute(_READ, {"ticket_id": ticket_id}).first()
    if row is None:
        return None
    found = deferred.held(session)
    waiting = found.row(_WRITE, ticket_id) if found is not None else None
    return {**row._mapping, **{k: v for k, v in (waiting or {}).items() if k != "ticket_id"}}


def set_clocks(session: Session, ticket_id: int, values: Mapping[str, object]) -> None:
    """Write these columns of the ticket (names as `clocks_of` gives them); in a transaction that
    holds its writes, at its end with the rest (on PostgreSQL in the same round trip)."""
    found = deferred.held(session)
    if found is None:
        session.connection().execute(_WRITE, {"ticket_id": ticket_id, **values})
        return
    # A second change of the same ticket in the transaction adds to the first: one UPDATE.
    found.put(_WRITE, ticket_id, {**(found.row(_WRITE, ticket_id) or {}), "ticket_id": ticket_id, **values})
