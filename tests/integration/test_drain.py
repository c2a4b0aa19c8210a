"""The ingest queue: one bad message never blocks the rest, nothing is lost, retries work."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from inbox.claimant import Claimant
from inbox.domain.ticket import Outcome
from inbox.ingest.pipeline import PermanentError, ingest_one
from inbox.ingest.drain import IngestWorker
from inbox.store import rawqueue
from inbox.store import tickets as store
from inbox.store.tables import RawMessage
from tests.fakes import mail, make_app, make_settings


@pytest.fixture
def app(db_url: str, tmp_path: Path):
    app = make_app(make_settings(tmp_path, db_url))
    yield app
    app.close()


def _worker_failing_on(app, poison: bytes, exc: Exception) -> IngestWorker:
    def process(session, raw, ctx, parsed=None):
        if raw.data == poison:
            raise exc
        return ingest_one(session, raw, ctx, parsed)

    return IngestWorker(app.sessions, app.current_desk(), app.clock, app.claimant, process=process)


def test_failing_message_does_not_block_the_ones_behind(app) -> None:
    """The middle message raises: it is marked failed with its reason, its neighbours become tickets."""
    mails = [mail(message_id=f"<m{i}@acme.com>", subject=f"s{i}") for i in range(3)]
    refs = [app.rawstore.put(m, "test") for m in mails]
    worker = _worker_failing_on(app, mails[1], RuntimeError("template exploded"))
    outcomes = dict(worker.run_batch())
    assert [outcomes[r.id] for r in refs] == [Outcome.OPENED, Outcome.FAILED, Outcome.OPENED]
    with app.sessions() as session:
        bad = session.get(RawMessage, refs[1].id)
        assert bad.state == rawqueue.FAILED and "template exploded" in bad.last_error
        assert bad.data == mails[1]
        assert store.count_tickets(session) == 2


def test_permanent_error_quarantines_and_retry_failed_recovers(app) -> None:
    """A permanent failure is quarantined; released for retry, it then becomes a ticket."""
    data = mail()
    ref = app.rawstore.put(data, "test")
    _worker_failing_on(app, data, PermanentError("cannot")).run_batch()
    with app.sessions() as session:
        assert session.get(RawMessage, ref.id).state == rawqueue.QUARANTINED
    with app.sessions() as session, session.begin():
        assert rawqueue.release_failed(session, app.clock.now()) == 1
    assert app.worker().drain() == {Outcome.OPENED: 1}


def test_failed_message_is_retried_with_backoff(app) -> None:
    """A temporary failure waits for its back-off; once due it is claimed again."""
    data = mail()
    app.rawstore.put(data, "test")
    _worker_failing_on(app, data, RuntimeError("db blip")).run_batch()
    assert app.worker().run_batch() == []  # not due yet
    app.clock.set(app.clock.now() + rawqueue.retry_delay(1))
    assert [o for _, o in app.worker().run_batch()] == [Outcome.OPENED]


def test_worker_that_died_mid_message_is_reclaimed_then_quarantined(app) -> None:
    """A claim left by a dead worker is taken again after the timeout; a repeat killer is quarantined."""
    ref = app.rawstore.put(mail(), "test")
    for attempt in range(rawqueue.MAX_ATTEMPTS):
        with app.sessions() as session, session.begin():
            claimed = rawqueue.claim(session, app.clock.now(), 10)  # ... and the worker dies here
            assert [r.id for r in claimed] == [ref.id], attempt
        app.clock.set(app.clock.now() + rawqueue.CLAIM_TIMEOUT * 2)
    assert app.worker().run_batch() == []
    with app.sessions() as session:
        assert session.get(RawMessage, ref.id).state == rawqueue.QUARANTINED


def test_concurrent_writers_get_unique_tracking_numbers(app) -> None:
    """Four threads opening tickets at once get 1..N with no gaps or repeats."""
    per_thread, threads = 10, 4
    for t in range(threads):
        for i in range(per_thread):
            app.rawstore.put(mail(message_id=f"<t{t}-{i}@acme.com>", subject=f"{t}-{i}"), "test")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker = app.worker(batch_size=3)
            while worker.run_batch():
                pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    assert errors == []
    with app.sessions() as session:
        numbers = sorted(t.number for t in store.list_tickets(session))
        states = set(session.execute(select(RawMessage.state)).scalars())
    assert numbers == list(range(1, per_thread * threads + 1))
    assert states == {rawqueue.PROCESSED}


def test_drain_with_parser_process_matches_in_process(app) -> None:
    """With parsing in a worker process, a drain makes the same tickets and follow-ups."""
    mails = [mail(message_id=f"<w{i}@acme.com>", subject=f"s{i}") for i in range(30)]
    mails.append(mail(message_id="<reply@acme.com>", subject="Re: SUP-000003"))
    ids = [app.rawstore.put(m, "test").id for m in mails]
    worker = app.worker(batch_size=7, parse_processes=1)
    try:
        assert worker.drain(ids) == {Outcome.OPENED: 30, Outcome.APPENDED: 1}
    finally:
        worker.close()


def test_drain_of_given_ids_leaves_other_rows_alone(app) -> None:
    """Draining a list of ids processes those and nothing else that is due."""
    mine = [app.rawstore.put(mail(message_id=f"<mine{i}@acme.com>"), "test").id for i in range(3)]
    other = app.rawstore.put(mail(message_id="<other@acme.com>"), "test").id
    assert app.worker(batch_size=2).drain(mine) == {Outcome.OPENED: 3}
    with app.sessions() as session:
        assert session.get(RawMessage, other).state == rawqueue.RECEIVED


def test_claims_of_a_dead_process_are_taken_back_at_once(app) -> None:
    """Rows a killed process on this host had claimed are processed when the next worker starts, without the timeout."""
    host = app.claimant.host
    ref = app.rawstore.put(mail(), "test")
    with app.sessions() as session, session.begin():
        rawqueue.claim(session, app.clock.now(), 10, owner=f"{host}:999999:gone")  # then SIGKILL
    live = app.rawstore.put(mail(message_id="<live@acme.com>"), "test")
    with app.sessions() as session, session.begin():
        rawqueue.claim(session, app.clock.now(), 10, ids=[live.id], owner=f"{host}:1:alive")  # pid 1 lives
    app.worker()
    with app.sessions() as session:
        assert session.get(RawMessage, ref.id).state == rawqueue.PROCESSED
        assert session.get(RawMessage, live.id).state == rawqueue.PROCESSING


def test_the_worker_claims_as_the_claimant_the_app_hands_it(app) -> None:
    """The app's claimant decides whose claims are orphans (a dead pid of its host: taken back at
    start; another host's: left to its timeout) and which claims are the worker's own."""
    app.claimant = Claimant("web-1", 4242, "t0k3n", alive=lambda pid: False)
    ours = app.rawstore.put(mail(), "test")
    theirs = app.rawstore.put(mail(message_id="<theirs@acme.com>"), "test")
    with app.sessions() as session, session.begin():
        rawqueue.claim(session, app.clock.now(), 1, ids=[ours.id], owner="web-1:77:gone")
        rawqueue.claim(session, app.clock.now(), 1, ids=[theirs.id], owner="web-2:77:gone")
    worker = app.worker()
    fresh = app.rawstore.put(mail(message_id="<fresh@acme.com>"), "test")
    assert worker.release_own() == 0
    with app.sessions() as session, session.begin():
        rawqueue.claim(session, app.clock.now(), 1, ids=[fresh.id], owner=app.claimant.owner)
    assert worker.release_own() == 1  # what it claims in the claimant's name is its own
    with app.sessions() as session:
        assert session.get(RawMessage, ours.id).state == rawqueue.PROCESSED
        assert session.get(RawMessage, theirs.id).state == rawqueue.PROCESSING
        assert session.get(RawMessage, fresh.id).state == rawqueue.RECEIVED


def test_crashes_in_a_batch_never_quarantine_but_crashes_alone_do(app) -> None:
    """Killed five times inside batches, a message is still processed; killed five times alone, it is quarantined."""
    host = app.claimant.host
    innocent = app.rawstore.put(mail(), "test").id
    poison = app.rawstore.put(mail(message_id="<poison@acme.com>"), "test").id
    for n in range(rawqueue.MAX_ATTEMPTS + 1):
        with app.sessions() as session, session.begin():
            rawqueue.claim(session, app.clock.now(), 1, [innocent], owner=f"{host}:999999:batch{n}")
            rawqueue.claim(session, app.clock.now(), 1, [poison], owner=f"{host}:999999:n{n}{rawqueue.SOLO}")
            released = rawqueue.release_orphans(session, host, lambda owner: True)
        assert sorted(released) == sorted(r for r in (innocent, poison) if n < rawqueue.MAX_ATTEMPTS or r == innocent)
    with app.sessions() as session:
        assert session.get(RawMessage, poison).state == rawqueue.QUARANTINED
        assert session.get(RawMessage, innocent).attempts == 0
    assert app.worker().drain() == {Outcome.OPENED: 1}
