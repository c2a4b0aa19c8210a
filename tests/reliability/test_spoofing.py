"""Spoofing: escalation keywords from senders who only look like the account manager, and ticket
hijacks by tracking number, on SQLite and PostgreSQL.

Acme's ticket SUP-000001 is open at low; tam@example.com is its account manager, and the test's
DNS publishes a DKIM key for example.com and for every look-alike domain, so a look-alike's mail
carries a signature that verifies: what must stop it is that the address is not the manager's.
Each attempt must change nothing on SUP-000001, be recorded as refused, tell the real manager and
never the sender, and disclose nothing of Acme's ticket to the sender.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from inbox.domain.ticket import Outcome
from inbox.store import tickets as store
from tests.dkim_kit import Key, dns_for, sign
from tests.fakes import mail
from tests.sla_kit import T0, Desk, text_of
from tests.staff_kit import PEOPLE, TAM, emails_to, reply

AT = T0 + timedelta(minutes=5)
LOOK_ALIKES = {
    "a digit for a letter": "tam@examp1e.com",
    "rn for m": "tam@exarnple.com",
    "a Cyrillic a, as IDNA": "tam@xn--exmple-4nf.com",
    "the real domain as a subdomain": "tam@example.com.evil.test",
    "another top-level domain": "tam@example.co",
    "the address in the display name": '"tam@example.com" <evil@evil.test>',
    "a whole From in the display name": '"Tam <tam@example.com>" <evil@evil.test>',
}


@pytest.fixture
def make(tmp_path: Path, db_url: str, key: Key):
    desks: list[Desk] = []

    def build(*domains: str) -> Desk:
        desks.append(Desk(tmp_path, db_url, PEOPLE, dns=dns_for(key, "example.com", *domains)))
        desk = desks[-1]
        assert desk.feed(mail(), at=T0) == Outcome.OPENED  # Alice opens SUP-000001 at low
        desk.run(T0)
        return desk

    yield build
    for desk in desks:
        desk.close()


def _address(sender: str) -> str:
    return sender.rpartition("<")[2].rstrip(">") if "<" in sender else sender


def _nothing_changed_and_the_manager_told(desk: Desk, by: str) -> None:
    assert desk.ticket().severity == "low" and desk.events(kind="severity_changed") == []
    [refused] = desk.events(kind="escalation_refused")
    assert refused.actor == by and refused.detail["lines"][0]["line"] == "#severity critical"
    assert [k for k, _ in emails_to(desk, TAM)] == ["escalation_refused"]
    assert all("refused" not in str(m["Subject"]) for m in desk.sent() if m["To"].addresses[0].addr_spec == by)
    acme = desk.ticket().id
    with desk.app.sessions() as session:
        on_acme = [m.from_addr for m in store.messages_of(session, acme) if m.direction == "in"]
    assert on_acme == ["alice@acme.com"]  # the attempt did not join Acme's thread


@pytest.mark.parametrize("trick", list(LOOK_ALIKES))
def test_a_look_alike_of_the_account_manager_is_refused_even_with_a_valid_signature(make, key: Key, trick: str) -> None:
    sender = LOOK_ALIKES[trick]
    by = _address(sender)
    desk = make(by.rpartition("@")[2])
    raw = sign(reply(sender, "#severity critical\n\nProduction is down, escalate now."), key,
               domain=by.rpartition("@")[2])
    assert desk.feed(raw, at=AT) == Outcome.OPENED  # a new ticket for the stranger, linked
    desk.run(AT)
    _nothing_changed_and_the_manager_told(desk, by)
    assert desk.ticket("SUP-000002").requester == by and desk.ticket("SUP-000002").severity == "low"


def test_a_raw_unicode_look_alike_is_refused(make) -> None:
    """From: tam@exаmple.com with a Cyrillic а, written as raw UTF-8 (no signature is possible for it)."""
    desk = make()
    raw = (b"From: tam@ex\xd0\xb0mple.com\r\nTo: support@example.com\r\n"
           b"Subject: Re: [SUP-000001] Printer on fire\r\nMessage-ID: <u1@evil.test>\r\n"
           b"In-Reply-To: <m1@acme.com>\r\nDate: Mon, 02 Mar 2026 10:00:00 -0800\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\n#severity critical\r\n")
    desk.feed(raw, at=AT)
    desk.run(AT)
    assert desk.ticket().severity == "low" and desk.events(kind="severity_changed") == []
    [refused] = desk.events(kind="escalation_refused")
    assert refused.actor != TAM and "not an account manager" in refused.detail["lines"][0]["reason"]


def test_a_forged_authentication_results_header_proves_nothing(make) -> None:
    """The manager's own address, unsigned, with an Authentication-Results the sender wrote itself:
    no host of ours is trusted to vouch here, so it is "not authenticated"."""
    desk = make()
    raw = (b"Authentication-Results: mx.example.com; dkim=pass header.d=example.com; dmarc=pass\r\n"
           + reply(TAM, "#severity critical\n\nEscalating."))
    desk.feed(raw, at=AT)
    desk.run(AT)
    assert desk.ticket().severity == "low" and desk.events(kind="severity_changed") == []
    [refused] = desk.events(kind="escalation_refused")
    assert refused.detail["lines"][0]["reason"].startswith("not authenticated")


def test_a_look_alike_engineer_cannot_solve_the_ticket_or_reach_the_customer(make, key: Key) -> None:
    """`"engineer@example.com" <evil@evil.test>` with #solve: not an engineer's reply; nothing is
    applied, Alice gets no relayed text."""
    desk = make("evil.test")
    raw = sign(reply('"engineer@example.com" <evil@evil.test>', "#solve\n\nFixed it, click http://evil.test/x"),
               key, domain="evil.test")
    desk.feed(raw, at=AT)
    desk.run(AT)
    assert desk.ticket().status == "open"
    assert all("evil.test/x" not in text_of(m) for _, m in emails_to(desk, "alice@acme.com"))


@pytest.mark.parametrize("how", ["tracking number in the subject", "In-Reply-To of Alice's mail"])
def test_a_stranger_cannot_hijack_a_ticket(make, how: str) -> None:
    """A stranger who knows SUP-000001 (or Alice's Message-ID) gets a new linked ticket: nothing
    joins Acme's thread, Alice hears nothing of it, and the stranger learns nothing of Alice's ticket."""
    desk = make()
    subject = "Re: [SUP-000001] Printer on fire" if how.startswith("tracking") else "Re: your printer"
    in_reply_to = None if how.startswith("tracking") else "<m1@acme.com>"
    raw = mail(sender="Mallory <mallory@evil.test>", subject=subject, message_id="<h1@evil.test>",
               in_reply_to=in_reply_to, body="Please send me the full history of this ticket.\n")
    assert desk.feed(raw, at=AT) == Outcome.OPENED
    desk.run(AT)
    acme, hijack = desk.ticket().id, desk.ticket("SUP-000002").id
    with desk.app.sessions() as session:
        assert [m.from_addr for m in store.messages_of(session, acme) if m.direction == "in"] == ["alice@acme.com"]
        assert store.linked_trackings(session, hijack) == ["SUP-000001"]
    assert [k for k, _ in emails_to(desk, "alice@acme.com")] == ["acknowledgement"]  # her own, from T0
    told = [text_of(m) + str(m["Subject"]) for m in desk.sent() if m["To"] == "mallory@evil.test"]
    assert told and all("Our printer is on fire" not in t and "alice@acme.com" not in t for t in told)
    assert all("SUP-000002" in t for t in told)
