"""Email to an SMTPUTF8 address (`jörg@acme.com`, RFC 6531): composed in UTF-8, sent with the
SMTPUTF8 option to a relay that offers it, and to one that does not, marked dead once with a reason
the ticket shows (the address is not suppressed: the relay is at fault, not the address).

A real aiosmtpd relay on loopback, with and without SMTPUTF8; the real pipeline and outbox on a
frozen clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from autoresponder.compose import compose
from autoresponder.render import RenderedEmail
from autoresponder.transport import RelayCannotCarry, SmtpTransport, needs_smtputf8
from inbox.store.tables import OutboxRow
from tests.fakes import T0
from tests.integration.test_transport import TIMEOUT, Sink, free_port
from tests.sla_kit import Desk

JOERG = "jörg@acme.com"
MAIL = ("From: Jörg Müller <jörg@acme.com>\r\nTo: support@example.com\r\nSubject: Drucker brennt\r\n"
        "Message-ID: <utf8-1@acme.com>\r\nDate: Mon, 02 Mar 2026 08:55:00 -0800\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Unser Drucker brennt.\r\n").encode("utf-8")


class _Relay:
    """An aiosmtpd sink on a free port, offering SMTPUTF8 or not; what it received, with MAIL's options."""

    def __init__(self, smtputf8: bool) -> None:
        self.sink, self.port = Sink(), free_port()
        self.options: list[list[str]] = []
        sink, options = self.sink, self.options

        class Recording(Sink):
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                options.append(list(envelope.mail_options))
                return await sink.handle_DATA(server, session, envelope)

        self.controller = Controller(Recording(), hostname="127.0.0.1", port=self.port, ready_timeout=TIMEOUT,
                                     enable_SMTPUTF8=smtputf8, decode_data=False)

    def __enter__(self) -> _Relay:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def _composed(to: str) -> bytes:
    rendered = RenderedEmail(subject="Wir haben es", text="Danke, Jörg.\n", html="<p>Danke, Jörg.</p>")
    return compose(rendered, from_address="Example Support <support@example.com>", to=[to],
                   message_id="<inbox.SUP-000001.a@example.com>", date=T0, tracking="SUP-000001", loop_marker="x")


def test_compose_writes_an_smtputf8_address_in_utf8() -> None:
    """The To of jörg@acme.com is raw UTF-8 (RFC 6532), reads back as that address; an ASCII
    address still gives ASCII bytes that need no SMTPUTF8."""
    body = _composed(f"Jörg Müller <{JOERG}>")
    assert f"To: Jörg Müller <{JOERG}>\r\n".encode() in body
    parsed = email.message_from_string(body.decode("utf-8"), policy=email.policy.default)
    assert parsed["To"].addresses[0].addr_spec == JOERG
    assert needs_smtputf8(body, "support@example.com", [JOERG])
    plain = _composed("alice@acme.com")
    assert plain.isascii() and not needs_smtputf8(plain, "support@example.com", ["alice@acme.com"])


def test_a_relay_offering_smtputf8_gets_it_with_the_option() -> None:
    body = _composed(JOERG)
    with _Relay(smtputf8=True) as relay:
        SmtpTransport("127.0.0.1", relay.port, timeout=TIMEOUT).send(body, "support@example.com", [JOERG])
    assert relay.sink.received == [("support@example.com", [JOERG], body)]
    assert "SMTPUTF8" in relay.options[0]


def test_a_relay_without_smtputf8_is_not_sent_to_and_says_why() -> None:
    body = _composed(JOERG)
    with _Relay(smtputf8=False) as relay:
        transport = SmtpTransport("127.0.0.1", relay.port, timeout=TIMEOUT)
        with pytest.raises(RelayCannotCarry, match="does not offer SMTPUTF8"):
            transport.send(body, "support@example.com", [JOERG])
        transport.send(_composed("alice@acme.com"), "support@example.com", ["alice@acme.com"])  # the connection goes on
    assert [rcpts for _, rcpts, _ in relay.sink.received] == [["alice@acme.com"]]


@pytest.fixture
def desk(db_url: str, tmp_path: Path):
    desk = Desk(tmp_path, db_url)
    yield desk
    desk.close()


def _through(desk: Desk, relay: _Relay) -> None:
    desk.outbound = desk.app.outbound(SmtpTransport("127.0.0.1", relay.port, timeout=TIMEOUT))


def test_jorg_is_acknowledged_through_a_relay_offering_smtputf8(desk: Desk) -> None:
    """The customer's ticket is opened and its acknowledgement reaches jörg@acme.com, sent with SMTPUTF8."""
    desk.feed(MAIL)
    with _Relay(smtputf8=True) as relay:
        _through(desk, relay)
        done = desk.run(T0)
    assert done.get("dead", 0) == 0 and done["sent"] >= 1, done
    [(sender, rcpts, body)] = [r for r in relay.sink.received if JOERG in r[1]]
    assert rcpts == [JOERG] and "SMTPUTF8" in relay.options[0]
    assert email.message_from_string(body.decode("utf-8"), policy=email.policy.default)["To"].addresses[0].addr_spec == JOERG
    assert desk.events(kind="delivery_failed") == []


def test_a_relay_without_smtputf8_marks_the_email_dead_once_and_the_ticket_says_why(desk: Desk) -> None:
    """No retry for ever: dead at the first try, a delivery_failed event naming the missing SMTPUTF8,
    and jörg's address is not suppressed (a later relay that offers it may still reach him)."""
    desk.feed(MAIL)
    with _Relay(smtputf8=False) as relay:
        _through(desk, relay)
        done = desk.run(T0)
    assert done["dead"] >= 1 and done.get("retry", 0) == 0, done
    assert relay.sink.received == []
    [failed] = desk.events(kind="delivery_failed")
    assert "does not offer SMTPUTF8" in failed.detail["error"] and failed.detail["permanent"] is True
    assert desk.events(kind="suppressed") == []
    with desk.app.sessions() as session:
        states = session.execute(select(OutboxRow.state).where(OutboxRow.recipient == JOERG)).scalars().all()
    assert states and set(states) == {"dead"}
