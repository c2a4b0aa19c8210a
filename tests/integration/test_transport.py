"""Outbound transports against real things: an aiosmtpd sink on loopback, a Maildir on disk, memory."""

from __future__ import annotations

import email
import email.policy
import mailbox
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from autoresponder.transport import (
    MaildirTransport,
    MemoryTransport,
    PermanentSendError,
    SmtpTransport,
    TemporarySendError,
)

TIMEOUT = 10.0  # seconds: the bound on every wait here; nothing waits for it to pass
MESSAGE = (
    b"From: Example Support <support@example.com>\r\nTo: alice@acme.com\r\n"
    b"Subject: [SUP-000123] Checkout fails\r\nMessage-ID: <inbox.SUP-000123.x@example.com>\r\n"
    b"\r\nHello Alice,\r\n.leading dot survives dot-stuffing\r\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Sink:
    """An aiosmtpd handler that records envelopes, or answers `reply` at RCPT or DATA."""

    reply: str | None = None
    at: str = "RCPT"
    refuse: tuple[str, ...] = ()  # with `at="RCPT"`: only these recipients get `reply`
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    mail_replies: list[str] = field(default_factory=list)  # answered at MAIL, one each, before accepting again
    hang_up_in_data: bool = False  # keep the message, then close the connection before the final reply
    sessions: list[Any] = field(default_factory=list)  # the SMTP sessions that began a transaction
    quits: int = 0

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]) -> str:
        if not any(known is session for known in self.sessions):
            self.sessions.append(session)
        if self.mail_replies:
            return self.mail_replies.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits += 1
        return "221 Bye"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if self.reply and self.at == "RCPT" and (not self.refuse or address in self.refuse):
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply and self.at == "DATA":
            return self.reply
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        if self.hang_up_in_data:
            server.transport.close()  # the relay has the message; our client never hears so
        return "250 OK: queued"


@contextmanager
def serving(sink: Sink, port: int | None = None) -> Iterator[int]:
    port = port or free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=TIMEOUT)
    controller.start()  # returns once the server answers: no sleeps
    try:
        yield port
    finally:
        controller.stop()


def transport(port: int, **kw: Any) -> SmtpTransport:
    return SmtpTransport("127.0.0.1", port, timeout=TIMEOUT, local_hostname="inbox.test", **kw)


# --- SMTP ------------------------------------------------------------------------------------------


def test_smtp_delivers_envelope_and_bytes() -> None:
    """A 250 relay receives exactly our envelope and our bytes."""
    sink = Sink()
    with serving(sink) as port:
        transport(port).send(MESSAGE, "bounces@example.com", ["alice@acme.com", "bob@acme.com"])
    assert sink.received == [("bounces@example.com", ["alice@acme.com", "bob@acme.com"], MESSAGE)]


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_smtp_4xx_is_temporary(stage: str) -> None:
    """A 451 at RCPT or at DATA is TemporarySendError with code 451: the outbox will retry."""
    sink = Sink(reply="451 4.3.0 Try again later", at=stage)
    with serving(sink) as port, pytest.raises(TemporarySendError) as caught:
        transport(port).send(MESSAGE, "bounces@example.com", ["alice@acme.com"])
    assert caught.value.code == 451 and "Try again later" in str(caught.value)
    assert sink.received == []


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_smtp_5xx_is_permanent(stage: str) -> None:
    """A 550 at RCPT or at DATA is PermanentSendError with code 550: no retry will help."""
    sink = Sink(reply="550 5.1.1 No such user", at=stage)
    with serving(sink) as port, pytest.raises(PermanentSendError) as caught:
        transport(port).send(MESSAGE, "bounces@example.com", ["alice@acme.com"])
    assert caught.value.code == 550 and "No such user" in str(caught.value)


def test_smtp_partial_refusal_names_the_refused_recipients() -> None:
    """One of two recipients refused with 550: the other got it, and the error says who did not."""
    sink = Sink(reply="550 5.1.1 No such user", refuse=("gone@acme.com",))
    with serving(sink) as port, pytest.raises(PermanentSendError) as caught:
        transport(port).send(MESSAGE, "bounces@example.com", ["alice@acme.com", "gone@acme.com"])
    assert caught.value.code == 550
    assert list(caught.value.recipients) == ["gone@acme.com"]
    assert sink.received == [("bounces@example.com", ["alice@acme.com"], MESSAGE)]


def test_smtp_closed_port_is_temporary() -> None:
    """Nobody listening is a network error: TemporarySendError without a code."""
    with pytest.raises(TemporarySendError) as caught:
        transport(free_port()).send(MESSAGE, "bounces@example.com", ["alice@acme.com"])
    assert caught.value.code is None


def test_smtp_starttls_required_but_not_offered_is_temporary() -> None:
    """starttls=True against a relay without STARTTLS does not send in clear, and is retried later."""
    sink = Sink()
    with serving(sink) as port, pytest.raises(TemporarySendError):
        transport(port, starttls=True).send(MESSAGE, "bounces@example.com", ["alice@acme.com"])
    assert sink.received == []


def test_envelope_with_a_line_break_is_refused_before_connecting() -> None:
    """A CR or LF in an envelope address would inject an SMTP command: permanent, nothing sent."""
    with pytest.raises(PermanentSendError):
        transport(free_port()).send(MESSAGE, "bounces@example.com", ["alice@acme.com\r\nRCPT TO:<x@evil.net>"])
    with pytest.raises(PermanentSendError):
        transport(free_port()).send(MESSAGE, "bounces@example.com", [])


# --- SMTP: one connection across sends ------------------------------------------------------------


def other(n: int) -> bytes:
    return MESSAGE.replace(b"SUP-000123.x", f"SUP-000123.{n}".encode())


def test_smtp_sends_many_emails_over_one_connection_and_quits_on_close() -> None:
    """Five emails go over one SMTP session; close() ends it with QUIT, and the next send opens another."""
    sink = Sink()
    with serving(sink) as port:
        smtp = transport(port)
        for n in range(5):
            smtp.send(other(n), "bounces@example.com", ["alice@acme.com"])
        assert (smtp.connections, len(sink.sessions), sink.quits) == (1, 1, 0)
        smtp.close()
        assert sink.quits == 1
        smtp.send(other(5), "bounces@example.com", ["alice@acme.com"])
        smtp.close()
    assert [body for _, _, body in sink.received] == [other(n) for n in range(6)]
    assert (smtp.connections, len(sink.sessions)) == (2, 2)


def test_smtp_reopens_a_connection_the_relay_dropped_and_sends_once() -> None:
    """The relay restarts between two emails: the second finds the connection closed at MAIL, is sent
    on a new one, and arrives once."""
    first, second = Sink(), Sink()
    with serving(first) as port:
        smtp = transport(port)
        smtp.send(other(1), "bounces@example.com", ["alice@acme.com"])
    with serving(second, port):
        smtp.send(other(2), "bounces@example.com", ["alice@acme.com"])
        smtp.close()
    assert [body for _, _, body in first.received] == [other(1)]
    assert [body for _, _, body in second.received] == [other(2)]
    assert smtp.connections == 2


def test_smtp_reopens_a_connection_the_relay_closes_with_421_at_mail() -> None:
    """A 421 at MAIL on a kept connection (the relay's idle limit) costs a new connection, not an attempt;
    a 421 on a fresh one is a temporary failure, not a loop."""
    sink = Sink()
    with serving(sink) as port:
        smtp = transport(port)
        smtp.send(other(1), "bounces@example.com", ["alice@acme.com"])
        sink.mail_replies.append("421 4.4.2 Idle too long, closing")
        smtp.send(other(2), "bounces@example.com", ["alice@acme.com"])
        assert smtp.connections == 2
        sink.mail_replies.extend(["421 4.4.2 Idle too long, closing", "421 4.3.2 Shutting down"])
        with pytest.raises(TemporarySendError) as caught:
            smtp.send(other(3), "bounces@example.com", ["alice@acme.com"])
        smtp.close()
    assert caught.value.code == 421 and smtp.connections == 3
    assert [body for _, _, body in sink.received] == [other(1), other(2)]


def test_smtp_is_not_resent_when_the_relay_hangs_up_after_data() -> None:
    """The connection drops after the message went but before its final reply: a temporary failure for
    the outbox to retry (with the same bytes), never a second transaction here."""
    sink = Sink(hang_up_in_data=True)
    with serving(sink) as port:
        smtp = transport(port)
        with pytest.raises(TemporarySendError):
            smtp.send(other(1), "bounces@example.com", ["alice@acme.com"])
        assert smtp.connections == 1 and len(sink.received) == 1
        sink.hang_up_in_data = False
        smtp.send(other(2), "bounces@example.com", ["alice@acme.com"])
        smtp.close()
    assert [body for _, _, body in sink.received] == [other(1), other(2)]
    assert smtp.connections == 2


@pytest.mark.parametrize(("reply", "stage", "error"), [
    ("550 5.1.1 No such user", "RCPT", PermanentSendError), ("554 5.6.0 Rejected", "DATA", PermanentSendError),
    ("451 4.3.0 Try again later", "RCPT", TemporarySendError), ("452 4.3.1 Full", "DATA", TemporarySendError)])
def test_smtp_refusal_on_a_kept_connection_keeps_its_kind_and_the_connection(reply: str, stage: str,
                                                                              error: type[Exception]) -> None:
    """A 5xx stays permanent and a 4xx temporary on a kept connection; after RSET the next email goes over it."""
    sink = Sink()
    with serving(sink) as port:
        smtp = transport(port)
        smtp.send(other(1), "bounces@example.com", ["alice@acme.com"])
        sink.reply, sink.at = reply, stage
        with pytest.raises(error) as caught:
            smtp.send(other(2), "bounces@example.com", ["alice@acme.com"])
        sink.reply = None
        smtp.send(other(3), "bounces@example.com", ["alice@acme.com"])
        smtp.close()
    assert caught.value.code == int(reply[:3])  # type: ignore[attr-defined]
    assert [body for _, _, body in sink.received] == [other(1), other(3)]
    assert smtp.connections == 1 and len(sink.sessions) == 1


# --- Maildir ---------------------------------------------------------------------------------------


def test_maildir_writes_a_readable_message(tmp_path: Path) -> None:
    """A message lands in new/ of a Maildir created on demand, with its envelope as Return-Path and Delivered-To."""
    folder = tmp_path / "var" / "sent"
    MaildirTransport(folder).send(MESSAGE, "bounces@example.com", ["alice@acme.com"])
    assert len(list((folder / "new").iterdir())) == 1
    (stored,) = list(mailbox.Maildir(folder, create=False))
    msg = email.message_from_bytes(stored.as_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "[SUP-000123] Checkout fails"
    assert msg["Return-Path"] == "<bounces@example.com>" and msg["Delivered-To"] == "alice@acme.com"
    assert ".leading dot survives dot-stuffing" in msg.get_content()


def test_maildir_disk_error_is_temporary(tmp_path: Path) -> None:
    """An OSError (here: the Maildir path is a file) is TemporarySendError."""
    blocker = tmp_path / "sent"
    blocker.write_text("not a folder")
    with pytest.raises(TemporarySendError):
        MaildirTransport(blocker).send(MESSAGE, "bounces@example.com", ["alice@acme.com"])


# --- memory ----------------------------------------------------------------------------------------


def test_memory_transport_records_and_fails_on_request() -> None:
    """MemoryTransport keeps (bytes, mail_from, rcpt_tos) and raises the given error for the next N sends."""
    memory = MemoryTransport()
    memory.fail_next(2, TemporarySendError("451 busy", 451))
    for _ in range(2):
        with pytest.raises(TemporarySendError):
            memory.send(MESSAGE, "bounces@example.com", ["alice@acme.com"])
    memory.send(MESSAGE, "bounces@example.com", ["alice@acme.com"])
    assert memory.sent == [(MESSAGE, "bounces@example.com", ("alice@acme.com",))]


# The relay is on loopback: AUTH without TLS is what this test wants, not a risk.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_smtp_tells_on_login_how_each_password_login_went_and_never_the_password() -> None:
    """A relay refusing the password: `on_login` hears the relay's reply (and the email is temporary,
    never the password); the right password: it hears None, and the email goes."""

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == b"right horse"
        return AuthResult(success=ok, handled=False)

    heard: list[str | None] = []
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), ready_timeout=TIMEOUT, auth_required=True,
                            auth_require_tls=False, authenticator=check)
    controller.start()
    try:
        wrong = transport(controller.port, username="support", password="wrong staple", on_login=heard.append)
        with pytest.raises(TemporarySendError) as refused:
            wrong.send(MESSAGE, "support@example.com", ["alice@acme.com"])
        assert len(heard) == 1 and heard[0] is not None and "relay refused the login: 535" in heard[0]
        assert "wrong staple" not in heard[0] + str(refused.value) and sink.received == []
        right = transport(controller.port, username="support", password="right horse", on_login=heard.append)
        right.send(MESSAGE, "support@example.com", ["alice@acme.com"])
        right.close()
        assert heard[1:] == [None] and len(sink.received) == 1
    finally:
        controller.stop()
