"""Replay: a genuine DKIM-signed `#escalate` from Acme's account manager, sent again with headers
added on top or changed where the signature does not reach, on SQLite and PostgreSQL.

DKIM verifies the bottom-most copy of each signed header and the parser reads the topmost (RFC
6376 8.15), so an attacker copied on one signed mail could add a `Message-ID:` (dedupe passed)
and a `Subject:` or `In-Reply-To:` naming another ticket, and escalate again, anywhere. What
must hold: a mail with two of a header RFC 5322 allows once proves nothing; a signature that
leaves From, Subject, Message-ID or a threading header unsigned proves nothing; one signature
acts once, ever, on any instance, however its b= is spelt. Acme has SUP-000001 (Alice's
<m1@acme.com>) and SUP-000002 (<m2@acme.com>), both low; every replay must leave both as the
genuine mail left them, with a refusal naming why.
"""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import dkim
import pytest
from dkim.crypto import parse_public_key

from inbox.domain.ticket import Outcome
from tests.dkim_kit import Key, dns_for, sign
from tests.fakes import mail
from tests.sla_kit import T0, Desk
from tests.staff_kit import PEOPLE, TAM

FIRST, THEN = T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)
EVERY_HEADER = [b"from", b"to", b"subject", b"date", b"message-id", b"in-reply-to", b"references"]


@pytest.fixture
def acme(tmp_path: Path, db_url: str, key: Key):
    """Acme's two low tickets, SUP-000001 and SUP-000002, on a desk that publishes example.com's key."""
    desks: list[Desk] = []

    def build(config: str = PEOPLE, where: Path = tmp_path) -> Desk:
        desks.append(Desk(where, db_url, config, dns=dns_for(key, "example.com")))
        return desks[-1]

    desk = build()
    assert desk.feed(mail(), at=T0) == Outcome.OPENED
    assert desk.feed(mail(message_id="<m2@acme.com>", subject="Badge reader broken"), at=T0) == Outcome.OPENED
    desk.run(T0)
    desk.build = build  # type: ignore[attr-defined]  # a second instance on the same database
    yield desk
    for each in desks:
        each.close()


def manager_mail(body: str = "#escalate\n\nThe customer called: escalating.", *, subject: str = "Re: [SUP-000001] Printer",
                 message_id: str | None = "<esc1@example.com>", in_reply_to: str | None = "<m1@acme.com>") -> bytes:
    """The account manager's mail as a mail program writes it (CRLF), not yet signed."""
    msg = EmailMessage()
    msg["From"] = f"Tam <{TAM}>"
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 02 Mar 2026 09:05:00 -0800"
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def severities(desk: Desk) -> tuple[str, str]:
    return desk.ticket("SUP-000001").severity, desk.ticket("SUP-000002").severity


def refusal(desk: Desk, tracking: str) -> str:
    """The reason of the one refused keyword line on the ticket."""
    [refused] = desk.events(tracking, kind="escalation_refused")
    [line] = refused.detail["lines"]
    assert line["reason"].startswith("not authenticated: ")
    return line["reason"]


@pytest.mark.parametrize("added", [b"Message-ID: <again@evil.test>", b"message-id: <again@evil.test>",
                                   b"Message-ID:\r\n <again@evil.test>"])
def test_an_extra_message_id_on_top_does_not_escalate_again(acme: Desk, key: Key, added: bytes) -> None:
    """The signed #escalate raised SUP-000001 to medium; the same mail under a new Message-ID on top
    (however the name is spelt or folded) gets past dedupe but proves nothing: still medium."""
    genuine = sign(manager_mail(), key)
    assert acme.feed(genuine, at=FIRST) == Outcome.APPENDED and severities(acme) == ("medium", "low")
    assert acme.feed(added + b"\r\n" + genuine, at=THEN) == Outcome.APPENDED  # not a duplicate: a new Message-ID
    assert severities(acme) == ("medium", "low")
    assert "2 Message-ID headers" in refusal(acme, "SUP-000001")


@pytest.mark.parametrize("added", [
    b"Subject: Re: [SUP-000002] Badge reader broken\r\nMessage-ID: <again@evil.test>",
    b"In-Reply-To: <m2@acme.com>\r\nMessage-ID: <again@evil.test>",
    b"References: <m2@acme.com>\r\nIn-Reply-To: <m2@acme.com>\r\nMessage-ID: <again@evil.test>",
])
def test_headers_on_top_naming_another_ticket_act_on_neither(acme: Desk, key: Key, added: bytes) -> None:
    """The signed #escalate named SUP-000001; with a Subject or In-Reply-To naming SUP-000002 added on
    top, it reaches SUP-000002, where it is refused: neither ticket moves."""
    subject = "[SUP-000001] Printer: please escalate"
    genuine = sign(manager_mail(subject=subject, in_reply_to=None if b"Subject" in added else "<m1@acme.com>"), key)
    acme.feed(genuine, at=FIRST)
    assert severities(acme) == ("medium", "low")
    acme.feed(added + b"\r\n" + genuine, at=THEN)
    assert severities(acme) == ("medium", "low")
    assert "headers (RFC 5322 3.6 allows one)" in refusal(acme, "SUP-000002")


@pytest.mark.parametrize("added", [b"In-Reply-To: <m2@acme.com>", b"References: <m2@acme.com>"])
def test_a_threading_header_the_signature_does_not_cover_is_refused(acme: Desk, key: Key, added: bytes) -> None:
    """A signed #escalate the desk never saw (sent to a colleague, the attacker copied) names no ticket
    and has no In-Reply-To, so its h= has none: one added naming SUP-000002's mail proves nothing."""
    genuine = sign(manager_mail("#escalate critical\n\nProduction is down.", subject="Status", in_reply_to=None), key)
    assert b"in-reply-to" not in genuine.split(b"\r\n\r\n")[0].lower()
    assert acme.feed(added + b"\r\n" + genuine, at=FIRST) == Outcome.APPENDED  # Acme's TAM may add to SUP-000002
    assert severities(acme) == ("low", "low")
    name = added.split(b":")[0].decode()
    assert f"does not sign {name}" in refusal(acme, "SUP-000002")


def test_a_signature_that_does_not_sign_message_id_proves_nothing(acme: Desk, key: Key) -> None:
    """h= without Message-ID lets anyone send the same signed mail again under any Message-ID:
    the first copy is refused, and so is the copy under a new one."""
    unsigned_id = [name for name in EVERY_HEADER if name not in (b"message-id", b"references")]
    genuine = sign(manager_mail(), key, headers=unsigned_id)
    acme.feed(genuine, at=FIRST)
    acme.feed(genuine.replace(b"<esc1@example.com>", b"<esc2@example.com>"), at=THEN)
    assert severities(acme) == ("low", "low")
    reasons = [e.detail["lines"][0]["reason"] for e in acme.events(kind="escalation_refused")]
    assert len(reasons) == 2 and all("does not sign Message-ID" in reason for reason in reasons)


def _respelt_b(raw: bytes, key: Key, how: str) -> bytes:
    """The same signature with its b= written another way that dkimpy still verifies."""
    found = re.search(rb"b=([A-Za-z0-9+/=\s]+)$", raw.split(b"\r\n\r\n")[0].split(b"DKIM-Signature:")[1].split(b"\r\nFrom")[0])
    assert found is not None
    value = found.group(1)
    signature = base64.b64decode(re.sub(rb"\s+", b"", value))
    if how == "b= folded at other places":
        plain = re.sub(rb"\s+", b"", value)
        respelt = b"\r\n ".join(plain[i:i + 50] for i in range(0, len(plain), 50))
    else:  # an RSA signature s verifies as s + n: dkimpy does not check s < n
        modulus = parse_public_key(base64.b64decode(key.public_b64))["modulus"]
        bigger = int.from_bytes(signature, "big") + modulus
        respelt = base64.b64encode(bigger.to_bytes((bigger.bit_length() + 7) // 8, "big"))
    return raw.replace(value, respelt, 1)


@pytest.mark.parametrize("replay", ["a Received header on top", "b= folded at other places", "b= as s + n"])
def test_one_signature_acts_once_however_the_copy_differs(acme: Desk, key: Key, replay: str) -> None:
    """A signed mail with no Message-ID (h= signs its absence) is known by its bytes, so any change
    makes it new to dedupe: the signature itself is spent by the first escalation, whatever its spelling."""
    genuine = sign(manager_mail(message_id=None), key, headers=EVERY_HEADER)
    acme.feed(genuine, at=FIRST)
    assert severities(acme) == ("medium", "low")
    if replay == "a Received header on top":
        copy = b"Received: from mx.evil.test by mx.example.com; Mon, 2 Mar 2026 17:09:00 +0000\r\n" + genuine
    else:
        copy = _respelt_b(genuine, key, replay)
    assert copy != genuine and dkim.verify(copy, dnsfunc=dns_for(key, "example.com"))  # still a good signature
    assert acme.feed(copy, at=THEN) == Outcome.APPENDED
    assert severities(acme) == ("medium", "low")
    assert "already used by raw message #3" in refusal(acme, "SUP-000001")


def test_one_signature_acts_once_across_two_instances(acme: Desk, key: Key, tmp_path: Path) -> None:
    """The first instance escalates with the signature; a copy reaching a second instance on the same
    database is refused there: what is spent is in the database, not in a process."""
    genuine = sign(manager_mail(message_id=None), key, headers=EVERY_HEADER)
    (tmp_path / "second").mkdir()
    second = acme.build(where=tmp_path / "second")  # type: ignore[attr-defined]
    acme.feed(genuine, at=FIRST)
    assert second.feed(b"Received: from mx2.example.com\r\n" + genuine, at=THEN) == Outcome.APPENDED
    assert severities(acme) == ("medium", "low")
    assert "already used by raw message #3" in refusal(second, "SUP-000001")


def test_an_engineers_signed_reply_is_relayed_once(acme: Desk, key: Key) -> None:
    """An engineer's signed `#solve` with a relayed answer, copied with a Received header on top: the
    ticket is solved and Alice answered once; the copy is kept as a flagged note."""
    body = "#solve\nFixed: the fuser was replaced."
    genuine = sign(manager_mail(body, message_id=None).replace(f"Tam <{TAM}>".encode(), b"engineer@example.com"),
                   key, headers=EVERY_HEADER)
    acme.feed(genuine, at=FIRST)
    acme.feed(b"Received: from mx.evil.test\r\n" + genuine, at=THEN)
    acme.run(THEN)
    relayed = [e for e in acme.events(kind="relayed")]
    assert len(relayed) == 1 and acme.ticket().status == "solved"
    [refused] = acme.events(kind="command_refused")
    assert "already used" in refused.detail["reason"]


# --- a trusted host's Authentication-Results ----------------------------------------------------

VOUCHING = PEOPLE.replace("trusted_authserv_ids: [], verify_dkim: true", "trusted_authserv_ids: [mx.test], verify_dkim: true")
RESULTS = b"Authentication-Results: mx.test; dkim=pass header.d=example.com; dmarc=pass header.from=example.com\r\n"


def test_a_vouched_pass_resting_on_a_signature_that_does_not_sign_message_id_is_refused(
        tmp_path: Path, db_url: str, key: Key) -> None:
    """The MTA verified a signature whose h= lacks Message-ID and said dkim=pass: the same mail under any
    Message-ID would pass there again, so its pass escalates nothing, here or in the copy."""
    desk = Desk(tmp_path, db_url, VOUCHING, dns=dns_for(key, "example.com"))
    try:
        assert VOUCHING != PEOPLE and desk.feed(mail(), at=T0) == Outcome.OPENED
        genuine = sign(manager_mail(), key, headers=[b"from", b"to", b"subject", b"date", b"in-reply-to"])
        desk.feed(RESULTS + genuine, at=FIRST)
        desk.feed(RESULTS + genuine.replace(b"<esc1@example.com>", b"<esc2@example.com>"), at=THEN)
        assert desk.ticket().severity == "low"
        reasons = [e.detail["lines"][0]["reason"] for e in desk.events(kind="escalation_refused")]
        assert len(reasons) == 2 and all("does not sign Message-ID" in reason for reason in reasons)
    finally:
        desk.close()


def test_a_vouched_pass_without_a_message_id_is_refused(tmp_path: Path, db_url: str) -> None:
    """An unsigned mail with a trusted pass and no Message-ID is known by its bytes: a Received line on top
    would make it new, so with nothing to hold the pass to once it escalates nothing."""
    desk = Desk(tmp_path, db_url, VOUCHING)
    try:
        assert desk.feed(mail(), at=T0) == Outcome.OPENED
        unsigned = RESULTS + manager_mail(message_id=None)
        desk.feed(unsigned, at=FIRST)
        desk.feed(b"Received: from mx.test\r\n" + unsigned, at=THEN)
        assert desk.ticket().severity == "low"
        reasons = [e.detail["lines"][0]["reason"] for e in desk.events(kind="escalation_refused")]
        assert len(reasons) == 2 and all("no Message-ID" in reason for reason in reasons)
    finally:
        desk.close()


def test_a_header_hidden_behind_a_bare_cr_is_refused(acme: Desk, key: Key) -> None:
    """A lone CR ends a line for the email parser, not for dkimpy: an In-Reply-To written inside a
    harmless header is read by the parser alone, while dkimpy verifies a signature that even signs
    the absence of In-Reply-To. A header block with a bare CR proves nothing."""
    genuine = sign(manager_mail("#escalate critical\n\nProduction is down.", subject="Status", in_reply_to=None), key,
                   headers=EVERY_HEADER)
    copy = b"X-Note: 1\rIn-Reply-To: <m2@acme.com>\r\n" + genuine
    assert dkim.verify(copy, dnsfunc=dns_for(key, "example.com"))  # to DKIM, the In-Reply-To is not there
    assert acme.feed(copy, at=FIRST) == Outcome.APPENDED  # to the parser, it names SUP-000002's mail
    assert severities(acme) == ("low", "low")
    assert "a CR that does not end a line" in refusal(acme, "SUP-000002")
