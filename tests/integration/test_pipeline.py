"""The ingest pipeline end to end on a real database: threading, dedupe, hijack, loops, bounces."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from inbox.app import App
from inbox.domain.msgid import make_message_id
from inbox import tickets as ticket_rules
from inbox.domain.ticket import Outcome, Status
from inbox.store import tickets as store
from inbox.store.tables import Event, RawMessage, Ticket
from tests.fakes import dsn, mail, make_app, make_settings


@pytest.fixture
def app(db_url: str, tmp_path: Path):
    app = make_app(make_settings(tmp_path, db_url))
    yield app
    app.close()


def feed(app: App, *mails: bytes) -> list[Outcome]:
    """Store and process each mail in turn; what each came to."""
    worker = app.worker()
    outcomes = []
    for data in mails:
        ref = app.rawstore.put(data, "test")
        done = worker.run_batch([ref.id])
        outcomes.append(done[0][1] if done else Outcome.DUPLICATE)
    return outcomes


def tickets(app: App) -> list[Ticket]:
    with app.sessions() as session:
        return store.list_tickets(session)


def kinds(app: App, tracking: str) -> list[str]:
    with app.sessions() as session:
        ticket = store.ticket_by_tracking(session, tracking)
        return [e.kind for e in store.events_of(session, ticket.id)]


def our_id(app: App, tracking: str) -> str:
    return make_message_id(tracking, "example.com", app.secret())


def test_new_mail_opens_ticket_at_lowest_severity(app: App) -> None:
    """A customer's new mail becomes one open ticket, lowest severity, its customer and plan resolved."""
    assert feed(app, mail()) == [Outcome.OPENED]
    [ticket] = tickets(app)
    assert (ticket.tracking, ticket.severity, ticket.status) == ("SUP-000001", "low", "open")
    assert (ticket.customer_id, ticket.plan, ticket.requester) == ("acme", "standard", "alice@acme.com")
    assert kinds(app, "SUP-000001") == ["opened", "classified"]


def test_reply_by_in_reply_to_joins(app: App) -> None:
    """A reply naming the first mail in In-Reply-To joins that ticket."""
    first = mail()
    reply = mail(subject="Re: Printer on fire", message_id="<m2@acme.com>", in_reply_to="<m1@acme.com>")
    assert feed(app, first, reply) == [Outcome.OPENED, Outcome.APPENDED]
    assert len(tickets(app)) == 1


def test_reply_by_tracking_number_in_subject_any_case_any_position(app: App) -> None:
    """The tracking number anywhere in the subject, in any case, joins for a participant."""
    reply = mail(sender="bob@acme.com", subject="more info sup-000001 (fw)", message_id="<m2@acme.com>")
    assert feed(app, mail(), reply) == [Outcome.OPENED, Outcome.APPENDED]
    with app.sessions() as session:
        assert len(store.messages_of(session, tickets(app)[0].id)) == 2


def test_subject_number_from_outsider_opens_linked_ticket(app: App) -> None:
    """No hijacking by number: a stranger naming a ticket gets a new ticket linked to it."""
    hijack = mail(sender="mallory@evil.test", subject="[SUP-000001] give me the data", message_id="<x@evil.test>")
    assert feed(app, mail(), hijack) == [Outcome.OPENED, Outcome.OPENED]
    first, second = tickets(app)
    with app.sessions() as session:
        assert len(store.messages_of(session, first.id)) == 1
        assert store.linked_trackings(session, second.id) == ["SUP-000001"]
    assert second.customer_id is None and second.plan == "standard"


def test_reference_to_stored_id_from_outsider_opens_linked_ticket(app: App) -> None:
    """A leaked Message-ID does not let a stranger add to the ticket either."""
    sneaky = mail(sender="mallory@evil.test", subject="hello", message_id="<x@evil.test>", references="<m1@acme.com>")
    assert feed(app, mail(), sneaky) == [Outcome.OPENED, Outcome.OPENED]


def test_signed_reference_joins_even_when_id_was_never_stored(app: App) -> None:
    """An id of ours whose HMAC verifies names its ticket; a forged one does not."""
    feed(app, mail())
    reply = mail(sender="bob@acme.com", subject="thanks", message_id="<m2@acme.com>", in_reply_to=f"<{our_id(app, 'SUP-000001')}>")
    forged = make_message_id("SUP-000001", "example.com", "wrong secret")
    other = mail(sender="bob@acme.com", subject="new question", message_id="<m3@acme.com>", in_reply_to=f"<{forged}>")
    assert feed(app, reply, other) == [Outcome.APPENDED, Outcome.OPENED]


def test_copied_address_becomes_participant(app: App) -> None:
    """Someone copied on the first mail may reply into the ticket."""
    first = mail(to="support@example.com, partner@vendor.test")
    reply = mail(sender="partner@vendor.test", subject="Re: SUP-000001", message_id="<p1@vendor.test>")
    assert feed(app, first, reply) == [Outcome.OPENED, Outcome.APPENDED]


def test_same_message_id_twice_is_one_message(app: App) -> None:
    """The same Message-ID with different bytes (another relay path) is a duplicate."""
    again = mail(headers={"Received": "from relay2.test"})
    assert feed(app, mail(), again) == [Outcome.OPENED, Outcome.DUPLICATE]
    assert len(tickets(app)) == 1


def test_same_message_id_twice_in_one_batch_is_one_message(app: App) -> None:
    """Two copies with one Message-ID processed in the same batch: the second is a duplicate, even for a bounce."""
    copies = [dsn(mail(message_id="<lost@elsewhere.test>")), dsn(mail(message_id="<lost@elsewhere.test>"), failed="x@y.test")]
    copies += [mail(), mail(headers={"Received": "from relay2.test"})]
    for data in copies:
        app.rawstore.put(data, "test")
    assert [o for _, o in app.worker().run_batch()] == [Outcome.BOUNCE, Outcome.DUPLICATE, Outcome.OPENED, Outcome.DUPLICATE]


def test_same_bytes_twice_is_one_raw_row(app: App) -> None:
    """The same bytes are stored once; the raw store says it knew them."""
    data = mail(message_id=None)
    first, second = app.rawstore.put(data, "a"), app.rawstore.put(data, "b")
    assert first.id == second.id and first.created and not second.created


def test_missing_message_id_gets_stable_identity(app: App) -> None:
    """Without a Message-ID, different bytes are different messages; the id is made from the hash."""
    assert feed(app, mail(message_id=None), mail(message_id=None, body="another\n")) == [Outcome.OPENED, Outcome.OPENED]
    with app.sessions() as session:
        ids = [m.message_id for t in store.list_tickets(session) for m in store.messages_of(session, t.id)]
    assert all(i.endswith("@no-message-id.invalid") for i in ids) and len(set(ids)) == 2


def test_auto_reply_joins_ticket_and_is_not_answered(app: App) -> None:
    """An out-of-office answering our acknowledgement is stored on the ticket, opens nothing."""
    feed(app, mail())
    ooo = mail(subject="Automatic reply: [SUP-000001] Printer on fire", message_id="<ooo@acme.com>",
               in_reply_to=f"<{our_id(app, 'SUP-000001')}>", headers={"Auto-Submitted": "auto-replied"})
    assert feed(app, ooo) == [Outcome.AUTO_REPLY]
    assert len(tickets(app)) == 1
    assert kinds(app, "SUP-000001")[-1] == "auto_reply"


def test_auto_reply_to_nothing_is_recorded_without_ticket(app: App) -> None:
    """An auto-reply that answers no ticket is recorded and opens nothing."""
    ooo = mail(subject="Out of Office", headers={"Auto-Submitted": "auto-replied"})
    assert feed(app, ooo) == [Outcome.AUTO_REPLY]
    assert tickets(app) == []
    with app.sessions() as session:
        assert session.execute(select(Event.kind).where(Event.ticket_id.is_(None))).scalars().all() == ["auto_reply"]


@pytest.mark.parametrize("loop", [
    {"headers": {"X-Inbox-Loop": "Example Support"}},
    {"sender": "Example Support <support@example.com>"},
])
def test_our_own_mail_coming_back_opens_nothing(app: App, loop: dict) -> None:
    """Mail this service sent, come back round, is recorded and never makes a ticket (no loops)."""
    assert feed(app, mail(**loop)) == [Outcome.AUTO_REPLY]
    assert tickets(app) == []


def test_bounce_of_our_mail_is_delivery_failure_on_its_ticket(app: App) -> None:
    """A DSN carrying our signed Message-ID is a delivery_failed event on that ticket, not a ticket."""
    feed(app, mail())
    ours = mail(sender="support@example.com", to="alice@acme.com", message_id=f"<{our_id(app, 'SUP-000001')}>")
    assert feed(app, dsn(ours)) == [Outcome.BOUNCE]
    assert len(tickets(app)) == 1
    assert kinds(app, "SUP-000001")[-2:] == ["delivery_failed", "suppressed"]
    with app.sessions() as session:
        event = session.execute(select(Event).where(Event.kind == "delivery_failed")).scalar_one()
    assert event.detail["failed_recipients"] == ["alice@acme.com"]


def test_bounce_without_usable_sender_still_reaches_its_ticket(app: App) -> None:
    """A DSN From "<>" (no usable sender) is still recognised as a bounce of our mail, not refused."""
    feed(app, mail())
    ours = mail(sender="support@example.com", to="alice@acme.com", message_id=f"<{our_id(app, 'SUP-000001')}>")
    assert feed(app, dsn(ours, sender="<>")) == [Outcome.BOUNCE]
    assert kinds(app, "SUP-000001")[-2:] == ["delivery_failed", "suppressed"]


def test_foreign_bounce_is_recorded_without_ticket(app: App) -> None:
    """A bounce of mail we never sent opens nothing and is never answered."""
    assert feed(app, dsn(mail(message_id="<unknown@elsewhere.test>"), auto_submitted=False)) == [Outcome.BOUNCE]
    assert tickets(app) == []


def test_headerless_mail_is_refused_but_kept(app: App) -> None:
    """Bytes without a sender are refused: stored, recorded, no ticket."""
    assert feed(app, b"\x00\x01 not a mail") == [Outcome.REFUSED]
    with app.sessions() as session:
        raw = session.execute(select(RawMessage)).scalar_one()
    assert raw.data == b"\x00\x01 not a mail" and raw.outcome == "refused" and raw.state == "processed"


def test_unknown_sender_refused_when_configured(db_url: str, tmp_path: Path) -> None:
    """With unknown_senders.reject, a stranger's new mail is refused and recorded."""
    app = make_app(make_settings(tmp_path, db_url, unknown="{reject: true}"))
    try:
        assert feed(app, mail(sender="who@nowhere.test"), mail(message_id="<m9@acme.com>")) == [Outcome.REFUSED, Outcome.OPENED]
    finally:
        app.close()


def test_reply_to_solved_reopens_and_to_closed_opens_linked(app: App) -> None:
    """A customer reply reopens a solved ticket; after closing it opens a new, linked ticket."""
    feed(app, mail())
    with app.sessions() as session, session.begin():
        ticket_rules.set_status(session, app.desk(), store.ticket_by_tracking(session, "SUP-000001"), Status.SOLVED,
                             app.clock.now(), "t")
    assert feed(app, mail(subject="Re: SUP-000001", message_id="<m2@acme.com>")) == [Outcome.APPENDED]
    assert tickets(app)[0].status == "open"
    with app.sessions() as session, session.begin():
        ticket_rules.set_status(session, app.desk(), store.ticket_by_tracking(session, "SUP-000001"), Status.CLOSED,
                             app.clock.now(), "t")
    assert feed(app, mail(subject="Re: SUP-000001", message_id="<m3@acme.com>")) == [Outcome.OPENED]
    with app.sessions() as session:
        assert store.linked_trackings(session, store.ticket_by_tracking(session, "SUP-000002").id) == ["SUP-000001"]


def test_new_mail_naming_other_tickets_links_them(app: App) -> None:
    """A stranger's mail naming two tickets opens its own ticket, linked to both."""
    feed(app, mail(), mail(message_id="<m2@acme.com>", subject="second"))
    stranger = mail(sender="x@other.test", subject="about SUP-000001 and SUP-000002", message_id="<s@other.test>")
    assert feed(app, stranger) == [Outcome.OPENED]
    with app.sessions() as session:
        assert store.linked_trackings(session, store.ticket_by_tracking(session, "SUP-000003").id) == ["SUP-000001", "SUP-000002"]


def test_auto_reply_from_outsider_does_not_land_on_the_ticket(app: App) -> None:
    """An auto-reply naming a ticket its sender has no part in is recorded apart, not stored on it."""
    feed(app, mail())
    fake = mail(sender="bot@evil.test", subject="Auto: [SUP-000001]", message_id="<b@evil.test>",
                headers={"Auto-Submitted": "auto-replied"})
    assert feed(app, fake) == [Outcome.AUTO_REPLY]
    with app.sessions() as session:
        assert len(store.messages_of(session, tickets(app)[0].id)) == 1
