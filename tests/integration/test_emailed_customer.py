"""An email sent to a customer restarts the ticket's clocks exactly as loading the ORM's Ticket,
refreshing it and flushing did: the same columns after, and an UPDATE only when one changed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from inbox.domain.ticket import Status
from inbox.store import deferred
from inbox.store.tables import Ticket
from inbox.tickets import Desk as TicketDesk
from inbox.tickets import due_times
from tests.fakes import mail
from tests.sla_kit import T0, Desk

Way = Callable[[Session, TicketDesk, int, datetime, str], None]
KINDS = ("acknowledgement", "status_update", "reminder", "agent_reply", "solved")


def orm_way(session: Session, desk: TicketDesk, ticket_id: int, at: datetime, kind: str) -> None:
    """`emailed_customer` as it was: the ORM's Ticket loaded, changed, refreshed and flushed."""
    ticket = due_times.load(session, ticket_id)
    ticket.last_update_sent_at = max(at, ticket.last_update_sent_at or at)
    if kind in ("status_update", "reminder") and ticket.status == Status.WAITING_ON_CUSTOMER:
        due_times._followed_up(ticket, at)
    due_times.refresh(session, desk, ticket, at)


def held_way(session: Session, desk: TicketDesk, ticket_id: int, at: datetime, kind: str) -> None:
    """As the sender records an email: in a transaction that holds its writes to its end."""
    with deferred.holding(session):
        due_times.emailed_customer(session, desk, ticket_id, at, kind)


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    """Tickets in many states: low and critical, answered or not, waiting on the customer (paused,
    followed up), solved, closed, with SLA warnings recorded."""
    desk = Desk(tmp_path, db_url)
    for n in range(1, 8):
        desk.feed(mail(message_id=f"<m{n}@acme.com>", subject=f"Case {n}"), T0 + timedelta(minutes=n))
    desk.run(T0 + timedelta(minutes=10))  # the acknowledgements
    desk.set(T0 + timedelta(hours=1), "SUP-000002", severity="critical")
    desk.set(T0 + timedelta(hours=2), "SUP-000003", status=Status.WAITING_ON_CUSTOMER)
    desk.set(T0 + timedelta(hours=2), "SUP-000004", severity="high", status=Status.WAITING_ON_CUSTOMER)
    desk.set(T0 + timedelta(hours=3), "SUP-000005", status=Status.SOLVED)
    desk.set(T0 + timedelta(hours=3), "SUP-000006", status=Status.SOLVED)
    desk.set(T0 + timedelta(hours=4), "SUP-000006", status=Status.CLOSED)
    desk.run_until(T0 + timedelta(days=3), "SUP-000002")  # warnings and breaches in sla_state
    desk.run_until(T0 + timedelta(days=3), "SUP-000004")  # reminders: follow-ups while waiting
    yield desk
    desk.close()


def after(desk: Desk, way: Way, ticket_id: int, at: datetime, kind: str) -> tuple[dict[str, Any], int]:
    """The ticket's row after `way` records an email of `kind` at `at`, and how many UPDATEs of the
    tickets table it made; rolled back, so each way starts from the same row."""
    updates = 0

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal updates
        updates += statement.lstrip().upper().startswith("UPDATE TICKETS")

    engine = desk.app.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        with desk.app.sessions() as session:
            session.begin()
            way(session, desk.app.desk(), ticket_id, at, kind)
            session.flush()
            row = session.connection().execute(select(Ticket.__table__).where(Ticket.id == ticket_id)).mappings().one()
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return dict(row), updates


def test_the_same_clocks_as_the_orm_refresh(desk: Desk) -> None:
    """For every ticket state, kind of email and instant (before, at and after what is due), the
    row and whether it was written are the same as the ORM way left them."""
    compared = 0
    for n in range(1, 8):
        ticket = desk.ticket(f"SUP-{n:06d}")
        instants = [T0 + timedelta(minutes=30), T0 + timedelta(days=1, hours=2), T0 + timedelta(days=9)]
        instants += [t for t in (ticket.next_check_at, ticket.next_update_due, ticket.last_update_sent_at) if t]
        for at in instants:
            for kind in KINDS:
                expected = after(desk, orm_way, ticket.id, at, kind)
                assert after(desk, due_times.emailed_customer, ticket.id, at, kind) == expected, \
                    (ticket.tracking, ticket.status, at, kind)
                assert after(desk, held_way, ticket.id, at, kind) == expected, (ticket.tracking, at, kind, "held")
                compared += 1
    assert compared >= 7 * 4 * len(KINDS)


def test_the_sample_has_followups_and_unchanged_rows(desk: Desk) -> None:
    """The comparison above meets a follow-up counted and an email that changes nothing."""
    waiting = desk.ticket("SUP-000004")
    row, _ = after(desk, due_times.emailed_customer, waiting.id, T0 + timedelta(days=4), "reminder")
    assert waiting.status == Status.WAITING_ON_CUSTOMER and row["follow_ups"] == (waiting.follow_ups or 0) + 1
    sent = desk.ticket("SUP-000001")
    _, updates = after(desk, due_times.emailed_customer, sent.id, sent.last_update_sent_at - timedelta(hours=1),
                       "acknowledgement")
    assert sent.status == Status.OPEN and updates == 0


def test_a_missing_ticket_is_a_lookup_error(desk: Desk) -> None:
    """As `load` refused it, so does the plain read."""
    with desk.app.sessions() as session, pytest.raises(LookupError):
        due_times.emailed_customer(session, desk.app.desk(), 999_999, T0, "acknowledgement")


def test_two_emails_in_one_holding_transaction_end_as_two_written_at_once(desk: Desk) -> None:
    """The second email of a ticket in a transaction that holds reads the clocks the first one
    left (still held), and one UPDATE writes what both changed."""
    def twice(hold: bool) -> Way:
        def way(session: Session, ticket_desk: TicketDesk, ticket_id: int, at: datetime, kind: str) -> None:
            with deferred.holding(session) if hold else nullcontext():
                due_times.emailed_customer(session, ticket_desk, ticket_id, at, kind)
                due_times.emailed_customer(session, ticket_desk, ticket_id, at + timedelta(days=2), "reminder")
        return way

    written = []
    for tracking in ("SUP-000001", "SUP-000004"):
        ticket = desk.ticket(tracking)
        at = T0 + timedelta(days=1)
        plain, plain_updates = after(desk, twice(False), ticket.id, at, "status_update")
        held, held_updates = after(desk, twice(True), ticket.id, at, "status_update")
        assert held == plain and held_updates == min(plain_updates, 1), tracking
        written.append(plain_updates)
    assert written == [1, 2]  # the waiting ticket's two changes were merged into one UPDATE
