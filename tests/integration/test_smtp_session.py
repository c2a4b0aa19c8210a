"""One SMTP session on a real loopback socket: its idle timer counts the gaps between any bytes,
and a transaction that fails inside a hook is dropped, so the client can start again at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from inbox.app import App
from tests.fakes import mail, make_app, make_settings
from tests.integration.test_smtp import TIMEOUT, client, crlf, listening, rows, transact


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Any:
    app = make_app(make_settings(tmp_path, db_url))
    yield app
    app.close()


async def test_a_slow_data_is_timed_by_its_gaps_and_silence_after_it_hangs_up(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DATA whose chunks come 0.8 x timeout_seconds apart, 4 x timeout_seconds in all, is stored
    (RFC 5321 section 4.5.3.2.6 times the gaps); then timeout_seconds of silence hang up. The event
    loop's clock is moved forward by the test; real time only runs the dialogue."""
    loop, ahead = asyncio.get_running_loop(), [0.0]
    real_time = loop.time
    monkeypatch.setattr(loop, "time", lambda: real_time() + ahead[0])

    async def later(seconds: float) -> None:
        """Move the loop's clock forward, and let it run what came due and read what arrived."""
        ahead[0] += seconds
        for _ in range(5):
            await asyncio.sleep(0)

    idle = 60.0
    data = crlf(mail(body="slow line\n" * 40))
    lines = data.removesuffix(b"\r\n").split(b"\r\n")
    async with listening(app, timeout_seconds=idle) as door:
        reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
        assert (await asyncio.wait_for(reader.readline(), TIMEOUT)).startswith(b"220 ")
        for command in (b"HELO client.test", b"MAIL FROM:<alice@acme.com>", b"RCPT TO:<support@example.com>", b"DATA"):
            writer.write(command + b"\r\n")
            assert (await asyncio.wait_for(reader.readline(), TIMEOUT))[:1] in (b"2", b"3")
        quarter = len(lines) // 4 + 1
        for start in range(0, len(lines), quarter):  # four chunks
            await later(0.8 * idle)
            writer.write(b"".join(line + b"\r\n" for line in lines[start:start + quarter]))
            await writer.drain()
            await later(0)
        await later(0.8 * idle)
        writer.write(b".\r\n")
        assert (await asyncio.wait_for(reader.readline(), TIMEOUT)).startswith(b"250 2.0.0")
        assert ahead[0] >= 4 * idle
        await later(idle + 1)
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""  # EOF: the server hung up
        writer.close()
    assert [r.data for r in rows(app)] == [data]


async def test_after_an_internal_error_a_new_mail_starts_clean_without_rset(app: App) -> None:
    """A hook that fails mid-transaction (451) drops that transaction: a MAIL sent next without RSET
    is 250, never "503 nested MAIL", and its mail is stored."""
    failures = [KeyError("secret-internal-detail")]

    def accepts(address: str) -> bool:
        if failures:
            raise failures.pop()
        return app.settings.is_support_address(address)

    async with listening(app, accepts=accepts) as door, client(door.port) as smtp:
        await smtp.ehlo()
        assert (await smtp.execute_command(b"MAIL", b"FROM:<alice@acme.com>")).code == 250
        assert (await smtp.execute_command(b"RCPT", b"TO:<support@example.com>")).code == 451
        assert (await transact(smtp, mail()))[0] == 250
    assert len(rows(app)) == 1
