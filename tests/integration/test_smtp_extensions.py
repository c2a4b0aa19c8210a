"""What the SMTP listener says of itself, on a real loopback socket: its greeting and EHLO name
(`service.hostname`), the extensions it advertises and honours (SIZE counted as RFC 1870 counts,
without dot-stuffing; PIPELINING; ENHANCEDSTATUSCODES on every reply), each tried by a client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from inbox.app import App
from inbox.metrics import Metrics
from inbox.receive.smtp_session import wire_size, with_enhanced_code
from inbox.serving import _front_doors
from tests.durability.serve import free_port
from inbox.settings import ConfigError, load_settings
from tests.fakes import make_app, make_settings, mail, write_config
from tests.integration.test_smtp import TIMEOUT, client, crlf, listening, rows, transact


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Any:
    app = make_app(make_settings(tmp_path, db_url))
    yield app
    app.close()


async def test_ehlo_advertises_pipelining_enhanced_codes_and_the_limit(app: App) -> None:
    async with listening(app, max_message_bytes=2_000) as door:
        async with client(door.port) as smtp:
            reply = await smtp.ehlo()
            assert reply.code == 250
            assert smtp.supports_extension("PIPELINING") and smtp.supports_extension("ENHANCEDSTATUSCODES")
            assert smtp.esmtp_extensions["size"] == "2000"  # RFC 1870's count, not the wire bound


async def test_greeting_and_ehlo_name_the_configured_hostname(tmp_path: Path, db_url: str) -> None:
    """With `service.hostname`, the 220 greeting and the EHLO reply name it, not the machine's name."""
    port = free_port()
    settings = make_settings(tmp_path, db_url, extra=f"smtp: {{host: 127.0.0.1, port: {port}}}\n")
    settings = settings.model_copy(update={"service": settings.service.model_copy(update={"hostname": "mx.example.com"})})
    app = make_app(settings)
    listener, _ = _front_doors(app, Metrics(process=False), lambda: None)
    await listener.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        greeting = (await asyncio.wait_for(reader.readline(), TIMEOUT)).decode()
        writer.write(b"EHLO client.test\r\n")
        first = (await asyncio.wait_for(reader.readline(), TIMEOUT)).decode()
        writer.close()
        assert greeting.startswith("220 mx.example.com ") and first.startswith("250-mx.example.com")
    finally:
        await listener.stop(grace_seconds=TIMEOUT)
        app.close()


def test_the_hostname_setting_must_be_a_domain_name(tmp_path: Path) -> None:
    """`service.hostname` is checked as the config loads: a name with a space is a config error naming the key."""
    config = write_config(tmp_path, "sqlite:///unused.db")
    config.write_text(config.read_text().replace("tracking_prefix: SUP}", "tracking_prefix: SUP, hostname: 'not a host'}"))
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert any("service.hostname" in problem for problem in caught.value.problems), caught.value.problems


async def _replies(reader: asyncio.StreamReader, n: int) -> list[str]:
    """The last line of each of the next `n` replies."""
    found: list[str] = []
    while len(found) < n:
        line = (await asyncio.wait_for(reader.readline(), TIMEOUT)).decode().rstrip("\r\n")
        if line[3:4] != "-":
            found.append(line)
    return found


async def test_a_pipelined_transaction_is_answered_in_order_and_stored(app: App) -> None:
    """EHLO, MAIL, RCPT and DATA sent in one write (RFC 2920): four replies in order, then the
    message is taken; every reply but EHLO's carries an enhanced code."""
    data = crlf(mail(message_id="<piped@acme.com>"))
    async with listening(app) as door:
        reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
        try:
            await _replies(reader, 1)
            writer.write(b"EHLO client.test\r\nMAIL FROM:<alice@acme.com>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n")
            ehlo, mail_reply, rcpt, go = await _replies(reader, 4)
            assert (ehlo, mail_reply[:10], rcpt[:10], go[:3]) == ("250 HELP", "250 2.1.0 ", "250 2.1.5 ", "354")
            writer.write(data + b".\r\nNOOP\r\nDATA\r\nQUIT\r\n")
            stored, noop, no_rcpt, bye = await _replies(reader, 4)
            assert stored.startswith("250 2.0.0 OK: stored as raw #")
            assert noop == "250 2.0.0 OK"
            assert no_rcpt == "503 5.5.1 Error: need RCPT command"
            assert bye.startswith("221 2.0.0 ")
        finally:
            writer.close()
    assert [r.data for r in rows(app)] == [data]


async def test_size_is_counted_without_dot_stuffing(app: App) -> None:
    """A mail of dot-leading lines just under max_message_bytes is taken (its stuffed dots take it
    over on the wire); one octet over the limit is refused with 552 5.3.4."""
    limit = 3_000
    head = crlf(mail(body=""))
    fits = head + b".\r\n" * ((limit - len(head)) // 3)  # each line: one real dot, one stuffed on the wire
    over = fits + b".\r\n"  # at most three octets over
    assert len(fits) <= limit < len(fits) + fits.count(b"\r\n.")  # over the limit on the wire, not as RFC 1870 counts
    assert limit < len(over) <= limit + 3
    async with listening(app, max_message_bytes=limit) as door:
        async with client(door.port) as smtp:
            assert (await transact(smtp, fits))[0] == 250
            code, text = await transact(smtp, over)
            assert (code, text.split()[0]) == (552, "5.3.4")
        assert door.refused("too_large") == 1
    assert [r.data for r in rows(app)] == [fits]


def test_the_wire_bound_holds_a_message_of_only_dots() -> None:
    for limit in (1, 2, 3, 1_000, 26_214_400):
        lines = limit // 3
        assert wire_size(limit) >= lines * 4 + (limit - lines * 3)


@pytest.mark.parametrize(("reply", "expected"), [
    ("250 OK", "250 2.0.0 OK"),
    ("250 2.1.0 OK", "250 2.1.0 OK"),
    ('500 Error: command "FOO" not recognized', '500 5.5.2 Error: command "FOO" not recognized'),
    ("501 Syntax: NOOP [ignored]", "501 5.5.4 Syntax: NOOP [ignored]"),
    ("221 Bye", "221 2.0.0 Bye"),
    ("354 End data with <CR><LF>.<CR><LF>", "354 End data with <CR><LF>.<CR><LF>"),
    ("220 mx.example.com ESMTP", "220 mx.example.com ESMTP"),
    ("421 4.3.2 Service shutting down, try again later", "421 4.3.2 Service shutting down, try again later"),
    ("451 Try later", "451 4.0.0 Try later"),
])
def test_replies_get_an_enhanced_code_once(reply: str, expected: str) -> None:
    assert with_enhanced_code(reply) == expected
