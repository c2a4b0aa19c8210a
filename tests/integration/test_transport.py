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

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if self.reply and self.at == "RCPT" and (not self.refuse or address in self.refuse):
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply and self.at == "DATA":
            return self.reply
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK: queued"


@contextmanager
def serving(sink: Sink) -> Iterator[int]:
    port = free_port()
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
