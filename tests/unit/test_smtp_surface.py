"""What `inbox.receive.smtp_session` relies on from aiosmtpd still holds in the installed release.

pyproject.toml pins aiosmtpd to the range tested; when the pin moves, these tests fail first, each
naming what changed and what to re-check in inbox/receive/smtp_session.py. The reply texts are
read off a bare aiosmtpd server in a real dialogue on loopback, not off its source.
"""

from __future__ import annotations

import asyncio
import inspect
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any, AnyStr

import pytest
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP, Envelope
from packaging.requirements import Requirement

from inbox.receive.smtp_session import (
    AIOSMTPD_LINE_TOO_LONG,
    AIOSMTPD_TIMEOUT_OFF,
    AIOSMTPD_TOO_MUCH_DATA,
    SmtpSession,
)

ROOT = Path(__file__).resolve().parents[2]
MODULE = "inbox/receive/smtp_session.py"
WAIT = 10  # seconds: the bound on each read of this file's dialogues; nothing waits for it to pass
LIMIT = 1_000  # bytes: the bare server's data_size_limit


def test_aiosmtpd_installed_is_within_the_pinned_range_and_the_range_is_closed() -> None:
    """pyproject.toml pins aiosmtpd with an upper bound, and the release installed is inside it."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    [pin] = [Requirement(d) for d in dependencies if Requirement(d).name == "aiosmtpd"]
    assert any(spec.operator in ("<", "<=", "~=", "==") for spec in pin.specifier), (
        f"pyproject.toml pins {pin} with no upper bound: {MODULE} relies on aiosmtpd beyond its documented surface")
    installed = version("aiosmtpd")
    assert pin.specifier.contains(installed, prereleases=True), (
        f"aiosmtpd {installed} is installed, outside the tested range {pin.specifier}: run this file and "
        f"tests/integration/test_smtp.py, re-check the block at the top of {MODULE}, then move the pin")


def test_the_methods_smtp_session_overrides_or_calls_keep_their_signatures() -> None:
    """smtp_MAIL/RCPT/DATA and push take one argument, _create_envelope none, and the constructor
    takes every keyword the listener and SmtpSession pass."""
    for name in ("smtp_MAIL", "smtp_RCPT", "smtp_DATA", "push"):
        method = getattr(SMTP, name, None)
        assert method is not None and inspect.iscoroutinefunction(method), (
            f"aiosmtpd's SMTP.{name} is gone or no longer a coroutine: SmtpSession overrides it ({MODULE})")
        assert list(inspect.signature(method).parameters)[1:] in (["arg"], ["status"]), (
            f"aiosmtpd's SMTP.{name} now takes {inspect.signature(method)}: re-check SmtpSession.{name} ({MODULE})")
    for name in ("smtp_HELO", "smtp_EHLO"):
        method = getattr(SMTP, name, None)
        assert method is not None and inspect.iscoroutinefunction(method) and \
            len(inspect.signature(method).parameters) == 2, (
            f"aiosmtpd's SMTP.{name} changed: SmtpSession wraps it to leave its replies without enhanced codes ({MODULE})")
    assert list(inspect.signature(SMTP._create_envelope).parameters) == ["self"], (
        f"aiosmtpd's SMTP._create_envelope changed: SmtpSession drops a failed transaction with it ({MODULE})")
    keywords = {"data_size_limit", "enable_SMTPUTF8", "hostname", "ident", "tls_context", "require_starttls",
                "timeout", "loop"}
    missing = keywords - set(inspect.signature(SMTP.__init__).parameters)
    assert not missing, f"aiosmtpd's SMTP() no longer takes {sorted(missing)}: the listener passes them ({MODULE})"
    assert issubclass(SmtpSession, SMTP)


async def test_a_fresh_envelope_starts_no_transaction() -> None:
    """_create_envelope() gives an Envelope with no sender and no recipients: what MAIL checks before
    answering "503 nested MAIL", so SmtpSession can drop a failed transaction with it."""
    session = SMTP(Sink(), hostname="surface.test", loop=asyncio.get_running_loop())
    envelope = session._create_envelope()
    assert isinstance(envelope, Envelope) and envelope.mail_from is None and envelope.rcpt_tos == [], (
        f"aiosmtpd's _create_envelope() now gives {vars(envelope)}: re-check _transaction_dropped_on_error ({MODULE})")


class _Recording(SMTP):
    """A bare aiosmtpd session that records what it pushes."""

    def __init__(self, pushed: list[str], *args: Any, **kwargs: Any) -> None:
        self.pushed = pushed
        super().__init__(*args, **kwargs)

    async def push(self, status: AnyStr) -> None:
        self.pushed.append(status if isinstance(status, str) else status.decode())
        await super().push(status)


@asynccontextmanager
async def _bare_server(pushed: list[str]) -> AsyncIterator[int]:
    """aiosmtpd itself (a Sink, no policy of ours) on a free loopback port, with our timeout setting."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Recording(pushed, Sink(), data_size_limit=LIMIT, hostname="surface.test",
                           timeout=AIOSMTPD_TIMEOUT_OFF, loop=loop),
        "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _reply(reader: asyncio.StreamReader) -> str:
    """One reply, its last line (a multi-line reply's earlier lines carry a '-' after the code)."""
    while True:
        line = (await asyncio.wait_for(reader.readline(), WAIT)).decode().rstrip("\r\n")
        if line[3:4] != "-":
            return line


async def _data_reply(port: int, body: bytes) -> str:
    """The reply to a DATA of `body` (CRLF lines, no final dot) in a fresh session."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert (await _reply(reader)).startswith("220 ")
        for command in (b"EHLO client.test", b"MAIL FROM:<a@surface.test>", b"RCPT TO:<b@surface.test>", b"DATA"):
            writer.write(command + b"\r\n")
            assert (await _reply(reader))[:1] in ("2", "3"), command
        writer.write(body + b".\r\n")
        return await _reply(reader)
    finally:
        writer.close()


@pytest.mark.parametrize("what, body, ours", [
    ("a DATA over data_size_limit", (b"y" * 70 + b"\r\n") * 20, AIOSMTPD_TOO_MUCH_DATA),
    ("a line over 1,000 octets", b"Subject: long\r\n" + b"z" * 2_000 + b"\r\n", AIOSMTPD_LINE_TOO_LONG),
], ids=["too-much-data", "line-too-long"])
async def test_aiosmtpd_refuses_in_data_through_push_in_the_words_smtp_session_rewrites(
    what: str, body: bytes, ours: str
) -> None:
    """A bare aiosmtpd server refuses `what` after the final dot, through push(), in the words
    SmtpSession matches: otherwise ours would pass its words through, uncounted."""
    pushed: list[str] = []
    async with _bare_server(pushed) as port:
        reply = await _data_reply(port, body)
    assert reply.startswith(ours), (
        f"aiosmtpd {version('aiosmtpd')} refuses {what} with {reply!r}, which no longer starts with {ours!r}: "
        f"update the constant in {MODULE}, whose SmtpSession would otherwise send aiosmtpd's words uncounted")
    assert reply in pushed, (
        f"aiosmtpd {version('aiosmtpd')} no longer sends {reply!r} through push(), where SmtpSession rewrites it ({MODULE})")


async def test_a_session_with_the_timeout_out_of_reach_still_talks() -> None:
    """aiosmtpd takes AIOSMTPD_TIMEOUT_OFF as its timeout and serves a whole transaction with it."""
    async with _bare_server([]) as port:
        reply = await _data_reply(port, b"Subject: hello\r\n\r\nhi\r\n")
    assert reply.startswith("250 "), f"a bare aiosmtpd with timeout={AIOSMTPD_TIMEOUT_OFF} answered {reply!r} ({MODULE})"
