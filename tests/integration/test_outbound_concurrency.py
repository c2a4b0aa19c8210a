"""Two `inbox serve` processes on one PostgreSQL never send an email twice, nor act twice on a breach.

Two sweeps and two outbox dispatchers run at once in threads, each with its own engine, as two
instances would; row locks (FOR UPDATE SKIP LOCKED) and idempotency keys must keep every email
and every breach event single.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest

from sqlalchemy import func, select

from autoresponder import dispatch
from inbox.store import outbox
from inbox.tickets import sweep
from inbox.store.tables import Event, OutboxRow
from tests.fakes import mail
from tests.sla_kit import T0, Desk

TICKETS = 60


def _twice_at_once(work) -> list:
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def go(index: int) -> None:
        barrier.wait()
        results[index] = work(index)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


@pytest.fixture
def desks(pg_url: str, tmp_path: Path) -> Iterator[list[Desk]]:
    """Two instances on one PostgreSQL, with TICKETS new tickets from different customers' contacts."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    both = [Desk(tmp_path / "a", pg_url), Desk(tmp_path / "b", pg_url)]
    try:
        for n in range(TICKETS):
            both[0].feed(mail(sender=f"user{n}@acme.com", message_id=f"<c{n}@acme.com>", subject=f"case {n}"))
        yield both
    finally:
        for desk in both:
            desk.close()


def test_two_instances_send_each_email_once(desks: list[Desk]) -> None:
    """Two dispatchers draining one outbox together send every acknowledgement exactly once."""
    sent = _twice_at_once(lambda i: desks[i].outbound.dispatcher.run(T0))
    assert sum(r["sent"] for r in sent) == TICKETS
    ids = Counter(m["Message-ID"] for d in desks for m in d.sent())
    assert len(ids) == TICKETS and set(ids.values()) == {1}


def test_two_instances_record_each_breach_once(desks: list[Desk]) -> None:
    """Two sweeps at once over the same breached tickets write one breach event and one alert each."""
    late = T0 + timedelta(days=3)  # past every 2-business-day response due, before level 2
    _twice_at_once(lambda i: sweep(desks[i].app.sessions, desks[i].app.desk(), late))
    with desks[0].app.sessions() as session:
        breaches = Counter((t, d["target"], d["level"]) for t, d in
                           session.execute(select(Event.ticket_id, Event.detail).where(Event.kind == "breach")))
        alerts = session.execute(select(func.count()).select_from(OutboxRow)
                                 .where(OutboxRow.kind == "breach_alert")).scalar_one()
    assert sorted({(target, level) for _, target, level in breaches}) == [("response", 1)]
    assert len(breaches) == TICKETS and set(breaches.values()) == {1}
    assert alerts == TICKETS


def test_two_instances_keep_the_hourly_limit_together(pg_url: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Seven more acknowledgements due to one person than the hourly limit, two dispatchers at once:
    exactly the limit go out, not one more because both counted before either had sent."""
    monkeypatch.setattr(dispatch, "BATCH", 1)  # the two take turns row by row, as under load
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    both = [Desk(tmp_path / "a", pg_url), Desk(tmp_path / "b", pg_url)]
    try:
        limit = both[0].app.settings.outbound.max_auto_per_hour
        for n in range(limit + 7):
            both[0].feed(mail(sender="alice@acme.com", message_id=f"<h{n}@acme.com>", subject=f"hourly {n}"))
        met = threading.Barrier(2, timeout=2)
        for desk in both:  # each first send waits for the other's: both decided while neither had sent
            desk.outbound.dispatcher.transport = _MeetOnce(desk.outbound.dispatcher.transport, met)
        done = _twice_at_once(lambda i: both[i].outbound.dispatcher.run(T0))
        to_alice = [m for d in both for m in d.sent() if m["To"] == "alice@acme.com"]
        assert len(to_alice) == limit, done
        assert sum(r["deferred"] + r["skipped"] for r in done) == 7, done  # acknowledgements over it are dropped
    finally:
        for desk in both:
            desk.close()


def test_two_instances_with_overlapping_batches_keep_each_hourly_limit(pg_url: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Alice and Bob each have five more acknowledgements due than the hourly limit; two dispatchers claim
    batches of four (both addresses in each) at once: each address gets exactly the limit, and the
    locks on two addresses taken in one order never deadlock the two."""
    monkeypatch.setattr(dispatch, "BATCH", 4)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    both = [Desk(tmp_path / "a", pg_url), Desk(tmp_path / "b", pg_url)]
    try:
        limit = both[0].app.settings.outbound.max_auto_per_hour
        for n in range(limit + 5):
            for sender in ("alice@acme.com", "bob@acme.com"):
                both[0].feed(mail(sender=sender, message_id=f"<{sender[0]}{n}@acme.com>", subject=f"hourly {n}"))
        # Each instance's first count waits (up to two seconds) for the other's: without the locks both
        # would count before either admitted, and send more than the limit.
        counted, first = threading.Barrier(2, timeout=2), threading.local()
        count = outbox.automatic_sent_since

        def count_then_meet(*args, **kwargs):
            found = count(*args, **kwargs)
            if not getattr(first, "met", False):
                first.met = True
                try:
                    counted.wait()
                except threading.BrokenBarrierError:
                    pass  # the other was held back from counting, as it should be
            return found

        monkeypatch.setattr(outbox, "automatic_sent_since", count_then_meet)
        done = _twice_at_once(lambda i: both[i].outbound.dispatcher.run(T0))
        to = Counter(str(m["To"]) for d in both for m in d.sent())
        assert to == {"alice@acme.com": limit, "bob@acme.com": limit}, done
        assert sum(r["deferred"] + r["skipped"] for r in done) == 10, done
    finally:
        for desk in both:
            desk.close()


class _MeetOnce:
    """A relay whose first email from each instance waits (up to two seconds) for the other's."""

    def __init__(self, transport, met: threading.Barrier) -> None:
        self.transport, self.met, self.first = transport, met, True

    def send(self, *args, **kwargs) -> None:
        if self.first:
            self.first = False
            try:
                self.met.wait()
            except threading.BrokenBarrierError:
                pass  # the other was held back from sending, as it should be
        self.transport.send(*args, **kwargs)
