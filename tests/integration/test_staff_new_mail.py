"""Commands in a brand-new mail from staff (issue 21): `[SUP-000001]` in the subject acts as a reply would.

An engineer or account manager who writes a new mail (no In-Reply-To, no References) naming the
ticket in its subject, with command lines at the top, steers it under the same rules as a reply:
proven by DKIM (a key the test publishes for example.com), and one proof acts once, ever. A staff
mail that names no ticket in its subject opens nothing and is answered with how to name one. The
attacks: an unsigned mail From a staff address, a signature of another domain, a replayed signed
mail, a tracking number in the text only. The `desk` (Acme's SUP-000001 open at low, Alice's
<m1@acme.com>) and `key` are tests/staff_kit.py's fixtures; each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from sqlalchemy import func, select

from inbox.domain.ticket import Outcome
from inbox.store import tickets as store
from inbox.store.tables import Event, Ticket
from tests.dkim_kit import Key, sign
from tests.sla_kit import T0, Desk, text_of
from tests.staff_kit import ENGINEER, TAM, emails_to

AT = T0 + timedelta(hours=1)  # Mon 2 Mar 2026 10:00 PST, an hour after Alice opened SUP-000001


def new_mail(sender: str, body: str, *, subject: str = "[SUP-000001] Printer on fire: update",
             message_id: str | None = "<new1@example.com>") -> bytes:
    """A new mail, not a reply: no In-Reply-To, no References; as a mail program writes it (CRLF)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 -0800"
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def ticket_count(desk: Desk) -> int:
    with desk.app.sessions() as session:
        return session.scalar(select(func.count()).select_from(Ticket)) or 0


def unticketed(desk: Desk) -> list[Event]:
    """Events about mail that reached no ticket, oldest first."""
    with desk.app.sessions() as session:
        return list(session.scalars(select(Event).where(Event.ticket_id.is_(None), Event.kind == "refused")
                                    .order_by(Event.id)))


def test_an_engineers_signed_new_mail_naming_the_ticket_acts_as_a_reply(desk: Desk, key: Key) -> None:
    """`#status pending` in a new signed mail "[SUP-000001] ...": applied, the words relayed to Alice, responded."""
    raw = sign(new_mail(f"Jane Doe <{ENGINEER}>", "#status pending\nWe are replacing the fuser unit today.\n"), key)
    assert desk.feed(raw, at=AT) == Outcome.APPENDED
    desk.run(AT)
    ticket = desk.ticket()
    assert (ticket.status, ticket.first_response_at) == ("pending", AT)
    [relayed] = [m for k, m in emails_to(desk, "alice@acme.com") if k == "agent_reply"]
    assert text_of(relayed).startswith("We are replacing the fuser unit today.") and ENGINEER not in relayed.as_string()
    assert relayed["In-Reply-To"] == "<m1@acme.com>"  # threaded under Alice's mail all the same
    assert ticket_count(desk) == 1 and desk.events(kind="command_refused") == []


def test_an_account_managers_signed_new_mail_raises_the_severity(desk: Desk, key: Key) -> None:
    """Acme's TAM writes afresh "[SUP-000001] ..." with `#severity critical`: critical, due times from creation."""
    raw = sign(new_mail(TAM, "#severity critical\n\nThe customer called: the whole floor is down.\n"), key)
    assert desk.feed(raw, at=AT) == Outcome.APPENDED
    desk.run(AT)
    assert (desk.ticket().severity, desk.ticket().first_response_due) == ("critical", T0 + timedelta(hours=4))
    [change] = desk.events(kind="severity_changed")
    assert (change.actor, change.detail["why"]) == (TAM, "#severity critical")


@pytest.mark.parametrize("forgery", ["unsigned", "signed by another domain", "a forged Authentication-Results"])
def test_a_new_mail_from_an_engineers_address_that_is_not_proven_steers_nothing(desk: Desk, key: Key,
                                                                                 forgery: str) -> None:
    """Anyone can write From: engineer@example.com: unproven, `#solve` is not applied, nothing reaches Alice,
    the mail is kept as a flagged internal note and the engineer is told."""
    raw = new_mail(ENGINEER, "#solve\n#assign engineer@example.com\nAll fixed, closing.\n")
    if forgery == "signed by another domain":
        raw = sign(raw, key, domain="evil.test")
    elif forgery == "a forged Authentication-Results":  # no host is trusted in this config
        raw = b"Authentication-Results: mx.example.com; dkim=pass header.d=example.com\r\n" + raw
    assert desk.feed(raw, at=AT) == Outcome.APPENDED
    desk.run(AT)
    ticket = desk.ticket()
    assert (ticket.status, ticket.first_response_at) == ("open", None)
    assert [k for k, _ in emails_to(desk, "alice@acme.com")] == ["acknowledgement"]
    with desk.app.sessions() as session:
        [note] = [m for m in store.messages_of(session, ticket.id) if m.from_addr == ENGINEER]
    assert note.internal and note.flag.startswith("not relayed: not authenticated")
    [refused] = desk.events(kind="command_refused")
    assert [line["line"] for line in refused.detail["lines"]] == ["#solve", "#assign engineer@example.com"]
    assert [k for k, _ in emails_to(desk, ENGINEER)] == ["command_refused"]


def test_an_unsigned_new_mail_from_the_account_managers_address_changes_no_severity(desk: Desk) -> None:
    """From: the TAM, unsigned, `#escalate critical`: refused as not authenticated; the TAM hears of it."""
    assert desk.feed(new_mail(TAM, "#escalate critical\n"), at=AT) == Outcome.APPENDED
    desk.run(AT)
    assert desk.ticket().severity == "low" and desk.events(kind="severity_changed") == []
    [refused] = desk.events(kind="escalation_refused")
    assert refused.detail["lines"][0]["reason"].startswith("not authenticated")
    assert [k for k, _ in emails_to(desk, TAM)] == ["escalation_refused"]


def test_a_replayed_signed_new_mail_acts_once(desk: Desk, key: Key) -> None:
    """One signed `#escalate` (one level up) sent three times: as it was (a duplicate), with a header added
    on top (new bytes, the same signature: already spent) and with a second Message-ID on top (proves
    nothing). The severity moves once, low -> medium."""
    # No Message-ID, its absence signed (RFC 6376 5.4): the mail is known by its bytes, so a copy with
    # a header added on top is a new mail to dedupe and must be stopped by the spent signature.
    headers = [b"from", b"to", b"subject", b"date", b"message-id", b"in-reply-to", b"references"]
    genuine = sign(new_mail(TAM, "#escalate\n\nPer the call.\n", message_id=None), key, headers=headers)
    assert desk.feed(genuine, at=AT) == Outcome.APPENDED
    assert desk.ticket().severity == "medium"
    assert desk.feed(genuine, at=AT + timedelta(minutes=1)) == Outcome.DUPLICATE
    later = AT + timedelta(minutes=2)
    assert desk.feed(b"X-Replayed: yes\r\n" + genuine, at=later) == Outcome.APPENDED
    second_id = sign(new_mail(TAM, "#escalate\n\nPer the call.\n"), key)
    assert desk.feed(b"Message-ID: <again@example.com>\r\n" + second_id, at=later) == Outcome.APPENDED
    assert desk.feed(b"Message-ID: <again2@example.com>\r\n" + second_id, at=later) == Outcome.APPENDED
    assert desk.ticket().severity == "medium"
    assert [e.detail["to"] for e in desk.events(kind="severity_changed")] == ["medium"]
    reasons = [e.detail["lines"][0]["reason"] for e in desk.events(kind="escalation_refused")]
    assert len(reasons) == 3 and all(r.startswith("not authenticated") for r in reasons)
    assert "already used" in reasons[0]


@pytest.mark.parametrize("sender", [ENGINEER, TAM])
def test_a_staff_mail_naming_no_ticket_in_its_subject_opens_nothing_and_the_sender_is_told(
        desk: Desk, key: Key, sender: str) -> None:
    """A signed staff mail whose subject names no ticket opens none, even with SUP-000001 and `#solve` in its
    text (a number in passing never counts): recorded as refused, SUP-000001 untouched, the sender told how."""
    raw = sign(new_mail(sender, "#solve\nSame printer as SUP-000001, now on floor 2.\n", subject="Acme printer"), key)
    assert desk.feed(raw, at=AT) == Outcome.REFUSED
    desk.run(AT)
    assert ticket_count(desk) == 1 and desk.ticket().status == "open"
    assert [e.kind for e in desk.events()].count("appended") == 0
    [event] = unticketed(desk)
    assert event.detail["from"] == sender and "names no ticket in its subject" in event.detail["reason"]
    assert "SUP-000001" in event.detail["reason"]
    [told] = [m for m in desk.sent() if m["To"] == sender]  # about no ticket: its `notified` event is on none
    assert told["Subject"] == "[Example Support] Your email reached no ticket: Acme printer"
    assert "Subject: [SUP-000123]" in text_of(told) and "names SUP-000001 in its text" in text_of(told)
    assert told["Auto-Submitted"] == "auto-replied"
    assert [k for k, _ in emails_to(desk, "alice@acme.com")] == ["acknowledgement"]


def test_an_unproven_staff_mail_naming_no_ticket_opens_nothing_either(desk: Desk) -> None:
    """Unsigned, From an engineer's address, no number: still no ticket (nobody gets a ticket in our name)."""
    assert desk.feed(new_mail(ENGINEER, "Hello, is this thing on?\n", subject="test"), at=AT) == Outcome.REFUSED
    assert ticket_count(desk) == 1 and len(unticketed(desk)) == 1
