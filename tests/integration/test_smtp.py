"""The SMTP listener on a real loopback socket: 250 only after the commit, refusals, limits, TLS, shutdown."""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from inbox.app import App
from inbox.metrics import Metrics
from inbox.rawstore import RawItem, RawRef
from inbox.receive.group_commit import BatchLimits, RawSink
from inbox.receive.smtp import ListenerError, SmtpListener
from inbox.settings import SmtpSettings
from inbox.store.tables import RawMessage
from tests.fakes import T0, mail, make_app, make_settings

TIMEOUT = 10  # seconds: the bound on every wait in this file; nothing waits for it to pass


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Any:
    app = make_app(make_settings(tmp_path, db_url))
    yield app
    app.close()


class Listening:
    """A started listener and what it reported."""

    def __init__(self, listener: SmtpListener, metrics: Metrics) -> None:
        self.listener = listener
        self.metrics = metrics
        self.wakeups = 0

    @property
    def port(self) -> int:
        return self.listener.port

    def refused(self, reason: str) -> float:
        return self.metrics.value("inbox_messages_refused_total", source="smtp", reason=reason)


@asynccontextmanager
async def listening(
    app: App, store: RawSink | None = None, batch: BatchLimits | None = None,
    accepts: Callable[[str], bool] | None = None, **smtp: Any,
) -> AsyncIterator[Listening]:
    # Port 0 (any free port) is not a valid config value, hence model_copy, which skips validation.
    settings = SmtpSettings(host="127.0.0.1").model_copy(update={"port": 0, **smtp})
    metrics = Metrics()
    box: list[Listening] = []
    listener = SmtpListener(
        settings, accepts=accepts or app.settings.is_support_address, store=store or app.rawstore, metrics=metrics,
        on_stored=lambda: setattr(box[0], "wakeups", box[0].wakeups + 1), clock=app.clock, batch=batch or BatchLimits(),
        hostname="inbox.test",
    )
    box.append(Listening(listener, metrics))
    await listener.start()
    try:
        yield box[0]
    finally:
        await listener.stop(grace_seconds=TIMEOUT)


def client(port: int, **kw: Any) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=TIMEOUT, local_hostname="client.test", **kw)


async def transact(
    smtp: aiosmtplib.SMTP, data: bytes, *, sender: str = "alice@acme.com",
    rcpts: Sequence[str] = ("support@example.com",), size: int | None = None,
) -> tuple[int, str]:
    """One mail transaction on an open connection: the code and text of the reply that ended it."""
    if not smtp.last_ehlo_response:
        await smtp.ehlo()
    reply = await smtp.execute_command(b"MAIL", f"FROM:<{sender}>".encode() + (f" SIZE={size}".encode() if size else b""))
    if reply.code != 250:
        return reply.code, reply.message
    for rcpt in rcpts:
        reply = await smtp.execute_command(b"RCPT", f"TO:<{rcpt}>".encode())
        if reply.code != 250:
            await smtp.rset()
            return reply.code, reply.message
    try:
        reply = await smtp.data(data)
    except aiosmtplib.SMTPDataError as exc:
        return exc.code, exc.message
    return reply.code, reply.message


async def send(port: int, data: bytes, **kw: Any) -> tuple[int, str]:
    async with client(port) as smtp:
        return await transact(smtp, data, **kw)


def rows(app: App) -> list[RawMessage]:
    with app.sessions() as session:
        return list(session.scalars(select(RawMessage).order_by(RawMessage.id)))


def crlf(data: bytes) -> bytes:
    """The bytes as they travel over SMTP (and are stored): CRLF line endings."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


async def test_accepted_message_is_committed_with_its_envelope_before_250(app: App) -> None:
    """A mail to our address is answered 250 with its raw row committed: bytes, envelope, source, clock time."""
    data = mail()
    async with listening(app) as door:
        code, text = await send(door.port, data, sender="alice@acme.com", rcpts=["support@example.com", "help@example.com"])
        assert (code, text.split()[0]) == (250, "2.0.0")
        [row] = rows(app)  # read while the listener still runs: committed, not flushed at stop
        assert door.wakeups >= 1
        assert door.metrics.value("inbox_messages_accepted_total", source="smtp") == 1
    assert row.data == crlf(data)
    assert (row.source, row.envelope_from, row.rcpt_tos) == ("smtp", "alice@acme.com", ["support@example.com", "help@example.com"])
    assert row.received_at == T0 and row.state == "received"
    assert f"#{row.id}" in text


async def test_bounce_with_null_reverse_path_is_stored_with_empty_sender(app: App) -> None:
    """MAIL FROM:<> (a bounce, RFC 5321 section 4.5.5) is accepted and stored with envelope_from ""."""
    async with listening(app) as door, client(door.port) as smtp:
        await smtp.ehlo()
        assert (await smtp.execute_command(b"MAIL", b"FROM:<>")).code == 250
        assert (await smtp.execute_command(b"RCPT", b"TO:<support@example.com>")).code == 250
        assert (await smtp.data(mail())).code == 250
    assert [r.envelope_from for r in rows(app)] == [""]


@pytest.mark.parametrize("stranger", ["someone@elsewhere.test", "ceo@example.com", "support@example.com.evil.test"])
async def test_other_recipients_are_refused_550_and_nothing_is_stored(app: App, stranger: str, caplog: pytest.LogCaptureFixture) -> None:
    """RCPT TO for any address that is not ours gets 550 5.1.1 (never an open relay), is logged and counted."""
    caplog.set_level(logging.INFO, logger="inbox.receive.smtp")
    async with listening(app) as door:
        code, text = await send(door.port, mail(), sender="spammer@bad.test", rcpts=[stranger])
        assert (code, text.split()[0]) == (550, "5.1.1")
        assert door.refused("unknown_recipient") == 1
    assert rows(app) == []
    [line] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert "unknown_recipient" in line and "spammer@bad.test" in line and stranger in line


async def test_plus_address_and_any_case_are_ours(app: App) -> None:
    """Support+Acme@Example.COM is accepted as ours, and stored as the sender wrote it."""
    async with listening(app) as door:
        code, _ = await send(door.port, mail(), rcpts=["Support+Acme@Example.COM"])
    assert code == 250
    assert [r.rcpt_tos for r in rows(app)] == [["Support+Acme@Example.COM"]]


async def test_declared_size_over_the_limit_is_refused_at_mail(app: App) -> None:
    """MAIL FROM with SIZE= over max_message_bytes gets 552 5.3.4 before any data is sent."""
    async with listening(app, max_message_bytes=2_000) as door:
        async with client(door.port) as smtp:
            assert "2000" in (await smtp.ehlo()).message  # the limit is advertised (RFC 1870)
            code, text = await transact(smtp, mail(), size=2_001)
            assert (code, text.split()[0]) == (552, "5.3.4")
            assert (await transact(smtp, mail(), size=len(mail()) + 50))[0] == 250  # the session goes on
        assert door.refused("too_large") == 1
    assert len(rows(app)) == 1


async def test_actual_data_over_the_limit_is_refused_after_the_dot(app: App) -> None:
    """A DATA bigger than max_message_bytes with no SIZE declared gets 552 5.3.4 and is not stored."""
    big = mail(body=("y" * 70 + "\n") * 60)
    async with listening(app, max_message_bytes=2_000) as door:
        async with client(door.port) as smtp:
            code, text = await transact(smtp, big)
            assert (code, text.split()[0]) == (552, "5.3.4")
            assert (await transact(smtp, mail()))[0] == 250  # the next transaction starts clean
        assert door.refused("too_large") == 1
    assert [r.data for r in rows(app)] == [crlf(mail())]


async def test_database_failing_at_commit_answers_451_and_stores_nothing(app: App) -> None:
    """The commit fails (database down): 451 4.3.0, no row at all, no internals; the retry is stored once."""

    def fail_commit(conn: Any) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    data = mail()
    event.listen(app.durable_engine, "commit", fail_commit)
    async with listening(app) as door:
        code, text = await send(door.port, data)
        assert (code, text.split()[0]) == (451, "4.3.0")
        assert "OperationalError" not in text and "disk" not in text
        assert door.refused("store_failed") == 1
        assert rows(app) == []  # the INSERT ran, and was rolled back with its transaction
        event.remove(app.durable_engine, "commit", fail_commit)
        assert (await send(door.port, data))[0] == 250  # what a sending server does after a 451
    assert [r.data for r in rows(app)] == [crlf(data)]


async def test_an_internal_error_answers_451_without_internals_and_the_session_goes_on(app: App) -> None:
    """A bug in a hook is a 451 4.3.0 naming nothing internal (never aiosmtpd's 500), and the next MAIL works."""
    calls: list[str] = []

    def accepts(address: str) -> bool:
        calls.append(address)
        if len(calls) == 1:
            raise KeyError("secret-internal-detail")
        return app.settings.is_support_address(address)

    async with listening(app, accepts=accepts) as door, client(door.port) as smtp:
        code, text = await transact(smtp, mail())
        assert (code, text.split()[0]) == (451, "4.3.0") and "secret" not in text and "KeyError" not in text
        assert (await transact(smtp, mail()))[0] == 250
    assert len(rows(app)) == 1


class CountingStore:
    """The real store, counting its transactions."""

    def __init__(self, inner: RawSink) -> None:
        self.inner = inner
        self.batches: list[int] = []

    def put_many(self, items: Sequence[RawItem]) -> list[RawRef]:
        self.batches.append(len(items))
        return self.inner.put_many(items)


class DownStore:
    """A database that is down: every transaction fails as SQLAlchemy reports it."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def put_many(self, items: Sequence[RawItem]) -> list[RawRef]:
        self.batches.append(len(items))
        raise OperationalError("INSERT INTO raw_messages", {}, Exception("connection refused"))


async def test_concurrent_sessions_share_commits_and_each_message_is_stored_once(app: App) -> None:
    """20 concurrent sessions: fewer transactions than messages, every message one row, every sender 250."""
    store = CountingStore(app.rawstore)
    mails = [mail(message_id=f"<g{i}@acme.com>", subject=f"group {i}") for i in range(20)]
    async with listening(app, store=store, batch=BatchLimits(max_wait=0.5, max_items=20)) as door:
        replies = await asyncio.gather(*(send(door.port, m) for m in mails))
    assert [code for code, _ in replies] == [250] * 20
    assert sum(store.batches) == 20 and len(store.batches) < 20
    assert sorted(r.data for r in rows(app)) == sorted(crlf(m) for m in mails)


async def test_a_failed_batch_answers_451_to_every_session_in_it(app: App) -> None:
    """When the shared transaction fails, each of its senders gets 451 and is counted as refused."""
    store = DownStore()
    async with listening(app, store=store, batch=BatchLimits(max_wait=0.5, max_items=5)) as door:
        replies = await asyncio.gather(*(send(door.port, mail(subject=f"s{i}")) for i in range(5)))
        assert door.refused("store_failed") == 5
    assert [code for code, _ in replies] == [451] * 5
    assert len(store.batches) < 5
    assert rows(app) == []


class GatedStore:
    """The real store, held at the door until the test lets it commit."""

    def __init__(self, inner: RawSink) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def put_many(self, items: Sequence[RawItem]) -> list[RawRef]:
        self.entered.set()
        if not self.release.wait(TIMEOUT):
            raise TimeoutError("the test never released the store")
        return self.inner.put_many(items)


async def test_stop_waits_for_an_in_flight_data_and_refuses_new_connections(app: App) -> None:
    """stop() during a DATA commit stops listening at once, but returns only after that sender got its 250."""
    store = GatedStore(app.rawstore)
    async with listening(app, store=store) as door:
        port = door.port
        sending = asyncio.create_task(send(port, mail()))
        assert await asyncio.to_thread(store.entered.wait, TIMEOUT)
        stopping = asyncio.create_task(door.listener.stop(grace_seconds=TIMEOUT))
        await asyncio.sleep(0)  # one turn of the loop: stop() runs up to its wait for the session
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
        assert not stopping.done()  # it cannot finish while the session's commit is held
        store.release.set()
        code, _ = await asyncio.wait_for(sending, TIMEOUT)
        await asyncio.wait_for(stopping, TIMEOUT)
    assert code == 250
    assert len(rows(app)) == 1


async def test_stop_tells_an_idle_session_421_and_returns(app: App) -> None:
    """An idle session at stop() is told 421 4.3.2 and closed, so stop() does not wait for its timeout."""
    async with listening(app) as door:
        reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
        assert (await asyncio.wait_for(reader.readline(), TIMEOUT)).startswith(b"220 ")
        await asyncio.wait_for(door.listener.stop(grace_seconds=TIMEOUT), TIMEOUT)
        assert (await asyncio.wait_for(reader.readline(), TIMEOUT)).startswith(b"421 4.3.2")
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        writer.close()


async def test_more_sessions_than_max_sessions_get_421(app: App) -> None:
    """With max_sessions=2, a third connection is greeted 421 4.3.2 and closed; the two others still work."""
    async with listening(app, max_sessions=2) as door:
        async with client(door.port) as first, client(door.port) as second:
            reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
            assert (await asyncio.wait_for(reader.readline(), TIMEOUT)).startswith(b"421 4.3.2")
            assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
            writer.close()
            assert (await transact(first, mail(subject="one")))[0] == 250
            assert (await transact(second, mail(subject="two")))[0] == 250
        assert door.refused("too_many_sessions") == 1
    assert len(rows(app)) == 2


async def test_idle_session_is_closed_after_the_timeout(app: App) -> None:
    """A client that says nothing is disconnected once timeout_seconds pass."""
    async with listening(app, timeout_seconds=0.3) as door:
        reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
        assert (await asyncio.wait_for(reader.readline(), TIMEOUT)).startswith(b"220 ")
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""  # EOF: the server hung up
        writer.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and its key, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=inbox.test"],
        check=True, capture_output=True, timeout=TIMEOUT,
    )
    return cert, key


async def test_starttls_is_offered_and_works_with_the_configured_certificate(app: App, certificate: tuple[Path, Path]) -> None:
    """With tls_cert/tls_key set, STARTTLS is offered, the session is encrypted with our certificate, mail is stored."""
    cert, key = certificate
    async with listening(app, tls_cert=cert, tls_key=key) as door:
        async with client(door.port, validate_certs=False) as smtp:
            await smtp.ehlo()
            assert smtp.supports_extension("starttls")
            await smtp.starttls()
            tls = smtp.get_transport_info("ssl_object")
            assert tls is not None
            assert tls.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(cert.read_text())
            assert (await transact(smtp, mail(subject="secret")))[0] == 250
        assert (await send(door.port, mail(subject="plain")))[0] == 250  # STARTTLS is offered, not required
    assert len(rows(app)) == 2


async def test_start_fails_loudly_when_the_port_is_taken(app: App) -> None:
    """A second listener on a bound port raises at start(), naming the address."""
    async with listening(app) as door:
        taken = SmtpSettings(host="127.0.0.1", port=door.port)
        second = SmtpListener(taken, accepts=lambda a: True, store=app.rawstore, metrics=Metrics(),
                              on_stored=lambda: None, clock=app.clock, hostname="inbox.test")
        with pytest.raises(ListenerError, match=f"127.0.0.1:{door.port}"):
            await second.start()


async def test_several_transactions_on_one_connection_are_each_stored_and_counted(app: App) -> None:
    """Accepted mails on one connection, several transactions: one row each, counted as accepted."""
    async with listening(app) as door:
        async with client(door.port) as smtp:
            for i in range(5):
                assert (await transact(smtp, mail(subject=f"n{i}", message_id=f"<n{i}@acme.com>")))[0] == 250
        assert door.metrics.value("inbox_messages_accepted_total", source="smtp") == 5
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RawMessage)) == 5
