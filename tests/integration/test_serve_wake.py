"""`inbox serve`'s wiring of the sender: a committed ingest batch wakes it, the tick is only a safety net.

Built by the wiring `inbox serve` uses (`inbox.serving.build_service`) with a scheduler interval of a day and a
frozen clock, so any email sent after the first turn was sent because ingest woke the sender.
On PostgreSQL, a row queued by any process wakes every instance's sender through LISTEN/NOTIFY.
Waiting is on Events with a bound, never a deadline slept through.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import psycopg
import pytest
from sqlalchemy import event, text

from autoresponder.transport import MemoryTransport
from inbox.serving import _wake_on_news, build_service
from inbox.domain.ticket import Outcome
from inbox.settings import load_settings
from inbox.store import outbox_signal
from inbox.store.outbox_signal import OutboxListener
from tests.fakes import mail, make_app, make_settings, write_config

BOUND = 60.0  # seconds: a bound on a hang, not a deadline
A_DAY = 86_400


class SignalledTransport(MemoryTransport):
    """A MemoryTransport that sets `arrived` at each email it takes."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()

    def send(self, message: bytes, mail_from: str, rcpt_tos: Sequence[str]) -> None:
        super().send(message, mail_from, rcpt_tos)
        self.arrived.set()


@pytest.fixture
def app(db_url: str, tmp_path: Path):
    path = write_config(tmp_path, db_url)
    text = path.read_text()
    path.write_text(text.replace('from_address: "Example Support <support@example.com>"}',
                                 f'from_address: "Example Support <support@example.com>", interval_seconds: {A_DAY}}}'))
    app = make_app(load_settings(path))
    assert app.settings.outbound.interval_seconds == A_DAY
    yield app
    app.close()


def test_an_ingested_mail_is_acknowledged_at_once_without_waiting_for_the_tick(app) -> None:
    """Mail stored after the scheduler's first turn is acknowledged by the next turn, which only the
    ingest batch's commit can have started: the interval is a day and the clock is frozen."""
    transport = SignalledTransport()
    service, _ = build_service(app, transport)
    scheduler, runner = service.scheduler, service.runner
    assert scheduler is not None
    ingest = threading.Thread(target=runner.run, daemon=True)
    ingest.start()
    scheduler.start()
    try:
        assert scheduler.idle.wait(BOUND) and runner.idle.wait(BOUND)  # the turn at start: nothing to send
        assert (scheduler.turns, transport.sent) == (1, [])
        app.rawstore.put(mail(), "smtp")
        runner.wake()
        assert transport.arrived.wait(BOUND)
    finally:
        runner.stop()
        ingest.join(BOUND)
        scheduler.stop()
    assert scheduler.turns >= 2 and scheduler.failures == 0
    acks = [s for s in transport.sent if s.rcpt_tos == ("alice@acme.com",)]
    assert len(acks) == 1 and b"[SUP-000001]" in acks[0].message


def test_only_a_batch_that_may_have_queued_an_email_wakes_the_sender() -> None:
    """Duplicates and failures change no ticket: a batch of only those does not wake the sender."""
    wakes: list[int] = []
    committed = _wake_on_news(lambda: wakes.append(1))
    committed([(1, Outcome.DUPLICATE), (2, Outcome.FAILED)])
    assert wakes == []
    committed([(3, Outcome.DUPLICATE), (4, Outcome.OPENED)])
    committed([(5, Outcome.APPENDED)])
    assert len(wakes) == 2


class Wakes:
    """Counts the listener's wakes; `seen` is set at each."""

    def __init__(self) -> None:
        self.count = 0
        self.seen = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.seen.set()


@pytest.fixture
def pg_app(pg_url: str, tmp_path: Path):
    app = make_app(make_settings(tmp_path, pg_url))
    yield app
    app.close()


@pytest.fixture
def listening(pg_app):
    """An OutboxListener on its own thread, as another instance would run it, listening."""
    wakes, stop = Wakes(), threading.Event()
    listener = OutboxListener(pg_app.engine, wakes)
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    assert listener.listening.wait(BOUND)
    yield wakes
    stop.set()
    thread.join(BOUND)
    assert not thread.is_alive()


def test_an_email_queued_by_ingest_on_postgresql_wakes_a_listening_instance(pg_app, listening: Wakes) -> None:
    """The acknowledgement ingest queues NOTIFYs at its commit: another instance's listener wakes."""
    pg_app.rawstore.put(mail(), "smtp")
    assert pg_app.worker().drain()[Outcome.OPENED] == 1
    assert listening.seen.wait(BOUND)


def test_a_rolled_back_notify_wakes_no_one(pg_app) -> None:
    """notify() speaks in the caller's transaction, and PostgreSQL delivers only at commit: after a
    rolled-back notify and a committed marker, the first notification a listener hears is the marker."""
    conninfo = pg_app.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {outbox_signal.CHANNEL}")
        with pg_app.sessions() as session:
            transaction = session.begin()
            outbox_signal.notify(session)
            transaction.rollback()
            with session.begin():
                session.execute(text(f"NOTIFY {outbox_signal.CHANNEL}, 'marker'"))
        [first] = list(listener.notifies(timeout=BOUND, stop_after=1))
    assert first.payload == "marker"


def test_one_notify_per_transaction_however_many_rows_it_queues(pg_app) -> None:
    """PostgreSQL folds a transaction's identical notifications into one: a second NOTIFY would only
    cost a round trip on ingest's path. The next transaction announces itself again."""
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if statement.startswith("NOTIFY"):
            sent.append(statement)

    event.listen(pg_app.engine, "before_cursor_execute", count)
    try:
        with pg_app.sessions() as session:
            with session.begin():
                for _ in range(3):
                    outbox_signal.notify(session)
            assert len(sent) == 1
            with session.begin():
                outbox_signal.notify(session)
        assert len(sent) == 2
    finally:
        event.remove(pg_app.engine, "before_cursor_execute", count)
