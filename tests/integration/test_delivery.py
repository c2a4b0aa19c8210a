"""What became of a mail, as the ticket rules write it: bounces, failures, suppressions, notes.

`inbox.tickets`' delivery functions called directly, on a real database (SQLite and PostgreSQL),
with the mail and the email built by hand; one ticket, SUP-000001, opened by Alice's mail at T0.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from inbox import tickets
from inbox.app import App
from inbox.domain.message import Automation, ParsedMessage
from inbox.domain.people import Authentication
from inbox.domain.ticket import Outcome
from inbox.store import tickets as store
from inbox.store.outbox import Outgoing
from inbox.store.tables import Event, TicketMessage
from tests.fakes import T0, mail, make_app, make_settings

ALICE, BOB, CAROL = "alice@acme.com", "bob@acme.com", "carol@acme.com"


@pytest.fixture
def app(db_url: str, tmp_path: Path):
    app = make_app(make_settings(tmp_path, db_url))
    ref = app.rawstore.put(mail(), "test")
    assert app.worker().run_batch([ref.id])[0][1] == Outcome.OPENED
    yield app
    app.close()


def ticket_id(app: App) -> int:
    with app.sessions() as session:
        return store.ticket_by_tracking(session, "SUP-000001").id


def events(app: App, kind: str) -> list[Event]:
    with app.sessions() as session:
        return [e for e in store.events_of(session, ticket_id(app)) if e.kind == kind]


def suppressed(app: App, *addresses: str) -> list[str]:
    with app.sessions() as session:
        return sorted(tickets.suppressed(session, addresses))


def bounce(app: App, n: int, *failed: str) -> tickets.Arrival:
    """Bounce `n` of our mail to `failed`, stored as a raw row, as ingest hands it to the ticket rules."""
    message_id = f"bounce-{n}@mx.acme.com"
    data = f"Message-ID: <{message_id}>\r\nSubject: Undelivered Mail\r\n\r\nbounced\r\n".encode()
    raw = app.rawstore.put(data, "test")
    parsed = ParsedMessage(message_id=message_id, subject="Undelivered Mail", from_addr="mailer-daemon@mx.acme.com",
                           report_failed_recipients=failed, report_original_ids=("ours@example.com",))
    return tickets.Arrival(parsed, message_id, raw.id, "test", T0, Automation.BOUNCE, "delivery status report",
                           lambda: Authentication(False, None, "not asked"))


def email(app: App, *, audience: str = tickets.CUSTOMER, recipient: str = ALICE) -> Outgoing:
    """An outbox email about SUP-000001, as the dispatcher claimed it."""
    return Outgoing(id=1, key="k", ticket_id=ticket_id(app), kind="status_update", audience=audience,
                    recipient=recipient, automatic=True, plan="standard", customer_id="acme", context={},
                    message_id="out-1@example.com", in_reply_to=None, references=[], body=None, attempts=3,
                    created_at=T0)


def test_a_bounce_suppresses_each_failed_recipient_once_with_an_event_for_each(app: App) -> None:
    """A bounce failing Alice and Bob (already suppressed): a delivery_failed, a suppressed event for Alice
    only; a second such bounce adds a delivery_failed and no suppressed event. Both are kept, internal."""
    to_bob, ticket = email(app, recipient=BOB), ticket_id(app)
    with app.sessions() as session, session.begin():
        tickets.record_failure(session, to_bob, T0, "550 no such user", permanent=True)
    assert [e.detail["address"] for e in events(app, "suppressed")] == [BOB]
    for n in range(2):
        returned = bounce(app, n, ALICE, BOB)
        with app.sessions() as session, session.begin():
            tickets.record_bounce(session, ticket, returned)
    assert [e.detail["address"] for e in events(app, "suppressed")] == [BOB, ALICE]
    assert [e.detail["failed_recipients"] for e in events(app, "delivery_failed")[1:]] == [[ALICE, BOB]] * 2
    assert suppressed(app, ALICE, BOB, CAROL) == [ALICE, BOB]
    with app.sessions() as session:
        kept = select(TicketMessage.internal).where(TicketMessage.from_addr == "mailer-daemon@mx.acme.com")
        assert session.execute(kept).scalars().all() == [True, True]  # for the engineers, never the customer


def test_a_person_writing_lifts_the_suppression_of_their_address_once(app: App) -> None:
    """person_wrote takes the address off the list, whatever its case; a second time there is nothing to lift."""
    ticket, returned = ticket_id(app), bounce(app, 1, ALICE)
    with app.sessions() as session, session.begin():
        tickets.record_bounce(session, ticket, returned)
    assert suppressed(app, ALICE) == [ALICE]
    with app.sessions() as session, session.begin():
        assert tickets.person_wrote(session, "Alice@Acme.com") is True
        assert tickets.person_wrote(session, ALICE) is False
    assert suppressed(app, ALICE) == []


def test_only_a_persons_mail_lifts_a_suppression_not_an_auto_reply(app: App) -> None:
    """Ingest: an out-of-office from a suppressed address leaves it suppressed; Alice writing herself lifts it."""
    ticket, returned = ticket_id(app), bounce(app, 1, ALICE)
    with app.sessions() as session, session.begin():
        tickets.record_bounce(session, ticket, returned)
    worker = app.worker()
    ooo = mail(subject="Out of Office", message_id="<ooo@acme.com>", headers={"Auto-Submitted": "auto-replied"})
    assert worker.run_batch([app.rawstore.put(ooo, "test").id])[0][1] == Outcome.AUTO_REPLY
    assert suppressed(app, ALICE) == [ALICE]
    again = mail(subject="Re: [SUP-000001] Printer on fire", message_id="<m2@acme.com>")
    assert worker.run_batch([app.rawstore.put(again, "test").id])[0][1] == Outcome.APPENDED
    assert suppressed(app, ALICE) == []


@pytest.mark.parametrize(("audience", "permanent", "bounced", "suppresses"), [
    (tickets.CUSTOMER, True, True, True),  # a customer's server refused it for good
    (tickets.STAFF, True, True, False),  # the list is of customers' addresses: staff alerts keep going
    (tickets.CUSTOMER, True, False, False),  # an address no server would take: not a bounce
    (tickets.CUSTOMER, False, True, False),  # too old to retry: nobody refused it
])
def test_a_failure_suppresses_only_a_customers_address_a_server_refused(app: App, audience: str, permanent: bool,
                                                                       bounced: bool, suppresses: bool) -> None:
    """record_failure always writes delivery_failed; it suppresses the recipient only for a permanent bounce to
    a customer, and only once however often it fails."""
    failing = email(app, audience=audience)
    for n in range(2):
        with app.sessions() as session, session.begin():
            tickets.record_failure(session, failing, T0 + timedelta(minutes=n), "550 5.1.1 no", permanent=permanent,
                                   bounced=bounced)
    failed = [(e.detail["to"], e.detail["permanent"], e.detail["attempts"]) for e in events(app, "delivery_failed")]
    assert failed == [(ALICE, permanent, 3)] * 2
    assert len(events(app, "suppressed")) == (1 if suppresses else 0)
    assert suppressed(app, ALICE) == ([ALICE] if suppresses else [])


def test_a_staff_note_is_an_event_by_its_author(app: App) -> None:
    """add_note writes one `note` event with the note and who wrote it, and changes nothing else."""
    with app.sessions() as session, session.begin():
        ticket = store.ticket_by_tracking(session, "SUP-000001")
        before = ticket.updated_at
        tickets.add_note(session, ticket.id, "called the customer", T0 + timedelta(hours=1), "lead@example.com")
    [note] = events(app, "note")
    assert (note.actor, note.detail, note.at) == ("lead@example.com", {"note": "called the customer"},
                                                  T0 + timedelta(hours=1))
    with app.sessions() as session:
        assert store.ticket_by_tracking(session, "SUP-000001").updated_at == before


def test_the_outbox_tells_a_new_email_from_one_already_queued_under_its_key(app: App) -> None:
    """The same key queued twice is one row, and only the first call says it was new (psycopg reports
    -1 rows for INSERT ... ON CONFLICT DO NOTHING, so a rowcount would call both new)."""
    from inbox.store import outbox

    row = dict(key="probe:1", ticket_id=None, kind="breach_alert", audience=tickets.STAFF, recipient="lead@example.com",
               automatic=True, plan=None, customer_id=None, context={}, message_id="probe1@example.com",
               created_at=T0)
    with app.sessions() as session, session.begin():
        assert outbox.enqueue(session, **row) is True
        assert outbox.enqueue(session, **row) is False
        assert outbox.enqueue(session, **{**row, "key": "probe:2", "message_id": "probe2@example.com"}) is True
