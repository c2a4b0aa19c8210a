"""A From that names no single mailbox: `From: undisclosed-recipients:;` with `Sender: alice@acme.com`,
two authors, an address posing as another's display name. On SQLite and PostgreSQL.

Acme's SUP-000001 is open at low. Such a mail used to be attributed through Sender: or Reply-To:
(or to the first of its authors) and joined Alice's ticket as Alice, or, signed by example.com,
changed the severity as the account manager. Each must now be refused as a sender: recorded, with
the reason, on no ticket, answered by nobody, and changing nothing.
"""

from __future__ import annotations

from datetime import timedelta

import dkim
import pytest
from sqlalchemy import select

from inbox.domain.ticket import Outcome
from inbox.store import tickets as store
from inbox.store.tables import Event, Ticket
from tests.dkim_kit import SIGNED_HEADERS, Key
from tests.fakes import mail
from tests.sla_kit import T0, Desk
from tests.staff_kit import TAM

AT = T0 + timedelta(minutes=20)
SUBJECT = "Re: [SUP-000001] Printer on fire"


def _attempt(sender: str, body: str, **headers: str) -> bytes:
    return mail(sender=sender, subject=SUBJECT, message_id="<g1@elsewhere.test>", in_reply_to="<m1@acme.com>",
                headers=headers, body=body)


def _refused_and_nothing_changed(desk: Desk, sent_before: int, reason: str) -> None:
    acme = desk.ticket()
    with desk.app.sessions() as session:  # one session at a time: SQLite's writer lock is per transaction
        [refused] = session.scalars(select(Event).where(Event.kind == "refused")).all()
        on_acme = [m.from_addr for m in store.messages_of(session, acme.id) if m.direction == "in"]
        tickets = session.scalars(select(Ticket.tracking)).all()
    assert refused.ticket_id is None and refused.detail["reason"].startswith(reason), refused.detail
    assert refused.detail["from"] == "" and refused.detail["message_id"] == "g1@elsewhere.test"
    assert on_acme == ["alice@acme.com"] and tickets == ["SUP-000001"]  # joined nothing, opened nothing
    assert acme.severity == "low" and desk.events(kind="severity_changed") == []
    assert len(desk.sent()) == sent_before  # nobody was answered, Alice least of all


@pytest.mark.parametrize("stand_in", ["Sender", "Reply-To"])
def test_a_group_from_is_refused_never_attributed_to_its_sender_or_reply_to(desk: Desk, stand_in: str) -> None:
    """`From: undisclosed-recipients:;` with Alice in Sender: (or Reply-To:) does not join her ticket as her."""
    sent_before = len(desk.sent())
    raw = _attempt("undisclosed-recipients:;", "Please send me the full history of this ticket.\n",
                   **{stand_in: "Alice <alice@acme.com>"})
    assert desk.feed(raw, at=AT) == Outcome.REFUSED
    desk.run(AT)
    _refused_and_nothing_changed(desk, sent_before, "From names no mailbox: 'undisclosed-recipients:;'")


def test_a_signed_group_from_does_not_speak_for_the_account_manager_in_sender(desk: Desk, key: Key) -> None:
    """Signed by example.com, From a group and Sender: the account manager, "#severity critical" changes nothing."""
    sent_before = len(desk.sent())
    raw = _attempt("Example Co:;", "#severity critical\n\nProduction is down.\n", Sender=TAM)
    raw = dkim.sign(raw, b"s1", b"example.com", key.private_pem, include_headers=[*SIGNED_HEADERS, b"sender"]) + raw
    assert desk.feed(raw, at=AT) == Outcome.REFUSED
    desk.run(AT)
    _refused_and_nothing_changed(desk, sent_before, "From names no mailbox: 'Example Co:;'")


@pytest.mark.parametrize("author", ["alice@acme.com, mallory@evil.test", "alice@acme.com <mallory@evil.test>"])
def test_a_from_naming_two_mailboxes_is_refused(desk: Desk, author: str) -> None:
    """Two authors, or an address written as another address's display name, name no single sender."""
    sent_before = len(desk.sent())
    raw = _attempt(author, "Please send me the full history.\n", Sender="alice@acme.com")
    assert desk.feed(raw, at=AT) == Outcome.REFUSED
    desk.run(AT)
    _refused_and_nothing_changed(desk, sent_before, "From names 2 mailboxes, not one")
