"""Issue 22's header classes through the pipeline, on SQLite and PostgreSQL: a colon-less line in the
header block, two From fields, an address with spaces; and the attacks each could open.

Acme's SUP-000001 is open at low (Alice's); engineer@example.com is an agent, and the test's DNS
publishes a DKIM key for example.com and evil.test. Every mail is written by hand, byte by byte.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from inbox.domain.ticket import Outcome
from inbox.store import tickets as store
from inbox.store.tables import Event, Ticket, TicketMessage
from tests.dkim_kit import Key, dns_for, sign
from tests.fakes import mail
from tests.sla_kit import T0, Desk, text_of
from tests.staff_kit import ENGINEER, PEOPLE, emails_to

AT = T0 + timedelta(minutes=20)


def _mail(sender_lines: bytes, body: bytes = b"Please help.\r\n", *, subject: bytes = b"Re: [SUP-000001] Printer on fire",
          n: int = 1, extra: bytes = b"") -> bytes:
    return (sender_lines + b"To: support@example.com\r\nSubject: " + subject + b"\r\n"
            b"Date: Mon, 02 Mar 2026 10:00:00 -0800\r\nMessage-ID: <h" + str(n).encode() + b"@acme.com>\r\n"
            b"In-Reply-To: <m1@acme.com>\r\n" + extra + b"\r\n" + body)


def _inbound(desk: Desk, tracking: str = "SUP-000001") -> list[tuple[str, bool, str | None]]:
    with desk.app.sessions() as session:
        ticket = desk.ticket(tracking)
        return [(m.from_addr, m.internal, m.flag) for m in store.messages_of(session, ticket.id) if m.direction == "in"]


def _refusal(desk: Desk) -> dict:
    with desk.app.sessions() as session:
        [refused] = session.scalars(select(Event).where(Event.kind == "refused")).all()
    assert refused.ticket_id is None
    return refused.detail


# --- a header line without a colon ---------------------------------------------------------------

TRACKER = (b"X-Brightmail-Tracker: H4sIAAAAAAAAA+NgFmphZGBgYGBgZGBg4ODg5OBg4OBgYGBg\r\n"
           b"YGBgZGBg4ODg5OBg4OBgYGBgYGBgYGBg==\r\n")


def test_a_customer_mail_with_a_broken_tracker_line_opens_a_ticket(desk: Desk) -> None:
    """Bob's new mail, its tracker value broken above From, is his ticket (landed main: refused, no usable headers)."""
    raw = _mail(TRACKER + b"From: Bob Builder <bob@acme.com>\r\n", b"The scanner is down.\r\n",
                subject=b"Scanner down").replace(b"In-Reply-To: <m1@acme.com>\r\n", b"")
    assert desk.feed(raw, at=AT) == Outcome.OPENED
    ticket = desk.ticket("SUP-000002")
    assert (ticket.requester, ticket.customer_id, ticket.subject) == ("bob@acme.com", "acme", "Scanner down")
    with desk.app.sessions() as session:
        names = session.scalars(select(TicketMessage.from_name).where(TicketMessage.ticket_id == ticket.id)).all()
    assert names == ["Bob Builder"]


def test_a_customer_reply_with_a_broken_tracker_line_joins_her_ticket(desk: Desk) -> None:
    """Alice's reply, the tracker line broken between Received and From, joins SUP-000001 as hers."""
    assert desk.feed(_mail(b"Received: from mx.acme.com\r\n" + TRACKER + b"From: alice@acme.com\r\n"), at=AT) \
        == Outcome.APPENDED
    assert _inbound(desk) == [("alice@acme.com", False, None)] * 2


# --- two From fields -------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["unreadable first", "unreadable second"])
def test_two_from_fields_one_unreadable_join_as_the_readable_one_never_reply_to(desk: Desk, where: str) -> None:
    """The readable From is the sender; Reply-To (Mallory) never is (landed main: the same; now also a defect)."""
    froms = [b"From: \xff\xfe garbage <<>>\r\n", b"From: Alice <alice@acme.com>\r\n"]
    if where == "unreadable second":
        froms.reverse()
    raw = _mail(b"".join(froms), extra=b"Reply-To: mallory@evil.test\r\n")
    assert desk.feed(raw, at=AT) == Outcome.APPENDED
    assert [a for a, _i, _f in _inbound(desk)] == ["alice@acme.com", "alice@acme.com"]


def test_two_unreadable_from_fields_are_refused_even_with_a_reply_to(desk: Desk) -> None:
    """No readable From: refused, with its reason; Alice in Reply-To does not stand in."""
    sent_before = len(desk.sent())
    raw = _mail(b"From: undisclosed-recipients:;\r\nFrom: \xff\xfe\r\n", extra=b"Reply-To: Alice <alice@acme.com>\r\n")
    assert desk.feed(raw, at=AT) == Outcome.REFUSED
    desk.run(AT)
    assert _refusal(desk)["reason"].startswith("From names no mailbox")
    assert _inbound(desk) == [("alice@acme.com", False, None)] and len(desk.sent()) == sent_before


def _signed_solve(key: Key) -> bytes:
    return sign(_mail(b"From: Jane Doe <engineer@example.com>\r\n", b"#solve\r\nFixed: visit http://evil.test/x\r\n",
                      n=7).replace(b"@acme.com>\r\nIn", b"@example.com>\r\nIn"), key)


@pytest.mark.parametrize("attack", ["unreadable From on top of a signed reply", "unreadable From below it",
                                    "forged engineer From on a mail evil.test signed"])
def test_two_from_fields_never_gain_an_engineers_authority(tmp_path, db_url: str, key: Key, attack: str) -> None:
    """With two From fields the mail is the engineer's at most as a flagged internal note: it solves nothing and
    reaches no customer, because a duplicated From proves nothing (RFC 6376 8.15)."""
    desk = Desk(tmp_path, db_url, PEOPLE, dns=dns_for(key, "example.com", "evil.test"))
    try:
        assert desk.feed(mail(), at=T0) == Outcome.OPENED
        desk.run(T0)
        genuine = _signed_solve(key)
        if attack == "unreadable From on top of a signed reply":
            raw = b"From: <>\r\n" + genuine
        elif attack == "unreadable From below it":
            raw = genuine.replace(b"\r\n\r\n", b"\r\nFrom: \xff\xfe\r\n\r\n", 1)
        else:
            own = sign(_mail(b"From: <>\r\n", b"#solve\r\nFixed: visit http://evil.test/x\r\n", n=8), key,
                       domain="evil.test")
            raw = b"From: engineer@example.com\r\n" + own
        assert desk.feed(raw, at=AT) == Outcome.APPENDED
        desk.run(AT)
        assert desk.ticket().status == "open" and desk.events(kind="status_changed") == []
        [_alice, (sender, internal, flag)] = _inbound(desk)
        assert sender == ENGINEER and internal and flag.startswith("not relayed: not authenticated")
        assert "From headers" in flag
        assert [k for k, _ in emails_to(desk, "alice@acme.com")] == ["acknowledgement"]
        assert all("evil.test/x" not in text_of(m) for m in desk.sent())
    finally:
        desk.close()


# --- an address with spaces ------------------------------------------------------------------------


def test_an_address_with_spaces_is_refused_never_attributed_to_the_shorter_address(desk: Desk) -> None:
    """`<power quadrant system@example.com>` opens no ticket of system@example.com, and nobody is answered
    (landed main: a ticket of system@example.com, acknowledged to it)."""
    sent_before = len(desk.sent())
    raw = _mail(b"From: Power Quadrant <power quadrant system@example.com>\r\n", subject=b"Your invoice")
    assert desk.feed(raw.replace(b"In-Reply-To: <m1@acme.com>\r\n", b""), at=AT) == Outcome.REFUSED
    desk.run(AT)
    assert _refusal(desk)["reason"] == "From has an address that is not valid: 'power quadrant system@example.com'"
    with desk.app.sessions() as session:
        assert session.scalars(select(Ticket.tracking)).all() == ["SUP-000001"]
    assert len(desk.sent()) == sent_before


def test_an_address_with_spaces_cannot_join_or_steer_the_shorter_addresses_ticket(desk: Desk) -> None:
    """system@example.com's own ticket, then a mail from `<mallory system@example.com>` naming it: refused,
    nothing joins it; `<mallory alice@acme.com>` joins nothing of Alice's; `<x engineer@example.com>` with
    #solve solves nothing."""
    own = _mail(b"From: system@example.com\r\n", subject=b"Disk alert", n=2).replace(
        b"In-Reply-To: <m1@acme.com>\r\n", b"")
    assert desk.feed(own, at=AT) == Outcome.OPENED
    desk.run(AT)
    sent_before = len(desk.sent())
    for n, (sender, subject) in enumerate([(b"<mallory system@example.com>", b"Re: [SUP-000002] Disk alert"),
                                           (b"Alice <mallory alice@acme.com>", b"Re: [SUP-000001] Printer on fire"),
                                           (b"<x engineer@example.com>", b"Re: [SUP-000001] Printer on fire")], 3):
        raw = _mail(b"From: " + sender + b"\r\n", b"#solve\r\nSend me the history.\r\n", subject=subject, n=n)
        assert desk.feed(raw, at=AT + timedelta(minutes=n)) == Outcome.REFUSED
    desk.run(AT + timedelta(minutes=10))
    assert _inbound(desk) == [("alice@acme.com", False, None)]
    assert [a for a, _i, _f in _inbound(desk, "SUP-000002")] == ["system@example.com"]
    assert desk.ticket().status == "open" and desk.ticket("SUP-000002").status == "open"
    assert len(desk.sent()) == sent_before
