"""`inbox serve`'s wiring of the sender: a committed ingest batch wakes it, the tick is only a safety net.

Built by the composition root itself (`_build_service`) with a scheduler interval of a day and a
frozen clock, so any email sent after the first turn was sent because ingest woke the sender.
Waiting is on Events with a bound, never a deadline slept through.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import pytest

from autoresponder.transport import MemoryTransport
from inbox.app import _build_service, _wake_on_news
from inbox.domain.ticket import Outcome
from tests.fakes import mail, make_app, write_config
from inbox.settings import load_settings

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
    service, _ = _build_service(app, transport)
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
