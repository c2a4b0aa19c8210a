"""The IMAP poller under network and server faults, against a real Dovecot, on SQLite and PostgreSQL.

200 mails (every eighth with a 200 KB body, so one FETCH response takes many reads) are pulled
by an in-process poller, with an ingest worker turning them into tickets alongside, as in
`inbox serve`. Between the poller and Dovecot sits a TCP relay of this file's own that strikes
at seeded moments of the stream:

1. the network: connections cut mid-FETCH (FIN, and RST), cut after the server carried out a
   MOVE but before its answer reached the poller, and a black hole (the relay swallows
   everything, on the open connection and on the next one, until the client's timeout fires);
2. the server: Dovecot stopped while a FETCH response (or a MOVE) is on its way, the poller
   left to reconnect while it is down, then started again.

Afterwards every Message-ID is exactly one raw row (its bytes intact) and one ticket message,
nothing is pending, and the INBOX is empty: all of it is in the processed folder.

The poller commits and marks in small groups here (the module's STORE_MESSAGES and MARK_EVERY
are lowered for the test): with the shipped sizes 200 mails are one commit and one MOVE at
the end of the round, and no fault could fall between two of them.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from inbox.app import App
from inbox.metrics import Metrics
from inbox.receive import imap
from inbox.receive.imap import ERRORS, Backoff, ImapPoller
from inbox.receive.mailbox import ImapMailboxClient
from inbox.store import mailboxes
from inbox.store.tables import RawData, RawMessage, TicketMessage
from tests.dovecot import PASSWORD, Dovecot, running_dovecot
from tests.fakes import mail, make_app, make_settings
from tests.reliability.imap_relay import WAIT, Fault, Relay

PASSWORD_ENV = "INBOX_TEST_IMAP_PASSWORD"
MESSAGES = 200
LARGE_EVERY = 8  # every eighth mail has a large body
LARGE_BYTES = 200 * 1024


# -- the desk: a poller and an ingest worker on one app ----------------------------------------------


def bodies(rng: random.Random) -> list[bytes]:
    """MESSAGES mails, every LARGE_EVERY-th with a body of LARGE_BYTES in 76-character lines."""
    sent = []
    for i in range(MESSAGES):
        body = f"Ticket body {i}.\n"
        if i % LARGE_EVERY == 0:
            line = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(75)) + "\n"
            body += line * (LARGE_BYTES // len(line))
        sent.append(mail(message_id=f"<fault-{i}@acme.com>", subject=f"Fault {i}", body=body))
    return sent


@dataclass
class Run:
    app: App
    poller: ImapPoller
    metrics: Metrics
    failures: list[BaseException]


@contextmanager
def desk(db_url: str, tmp_path: Path, port: int, timeout: float, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    """An app whose mailbox is behind the relay's `port`; its poller (clients with `timeout`)
    and an ingest worker run in threads for the block, as `inbox serve` runs them."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setattr(imap, "STORE_MESSAGES", 25)
    monkeypatch.setattr(imap, "MARK_EVERY", 40)
    app = make_app(make_settings(tmp_path, db_url, extra=f"""
        imap:
          - {{name: main, host: 127.0.0.1, port: {port}, tls: false, username: support,
             password_env: {PASSWORD_ENV}, processed_folder: Processed, idle: true, poll_seconds: 1}}
        """))
    mailbox = app.settings.imap[0]
    metrics, wake, stop = Metrics(), threading.Event(), threading.Event()
    failures: list[BaseException] = []
    poller = ImapPoller(mailbox, client_factory=lambda: ImapMailboxClient(mailbox, timeout=timeout),
                        store=app.rawstore, sessions=app.sessions, metrics=metrics, on_stored=wake.set,
                        clock=app.clock, claimant=app.claimant, batch_size=10, backoff=Backoff(initial=0.05, cap=0.2))

    def ingest() -> None:
        worker = app.worker()
        try:
            while not stop.is_set():
                wake.clear()
                worker.drain()
                wake.wait(0.2)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
        finally:
            worker.close()

    threads = [threading.Thread(target=poller.run, args=(stop,), name="poller", daemon=True),
               threading.Thread(target=ingest, name="ingest", daemon=True)]
    for thread in threads:
        thread.start()
    try:
        yield Run(app, poller, metrics, failures)
    finally:
        stop.set()
        wake.set()
        for thread in threads:
            thread.join(WAIT)
        alive = [thread.name for thread in threads if thread.is_alive()]
        app.close()
        assert not alive, f"did not stop: {alive}"


def raw_count(app: App) -> int:
    with app.sessions() as session:
        return len(session.scalars(select(RawMessage.id)).all())


def pending(app: App) -> int:
    with app.sessions() as session:
        return len(session.scalars(select(RawMessage.id).where(RawMessage.state != "processed")).all())


def wait_until(condition: Callable[[], bool], what: str, seconds: float = WAIT, fail: bool = True) -> bool:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            if fail:
                pytest.fail(f"not within {seconds} s: {what}")
            return False
        time.sleep(0.05)
    return True


def strike(relay: Relay, run: Run, fault: Fault, index: int) -> None:
    """Arm `fault` and wait until it has struck (the poller must not finish first)."""
    relay.arm(fault)
    relay.wait(lambda: fault.fired.is_set() or bool(run.failures), f"fault {index} ({fault}) to strike")
    assert not run.failures, run.failures


MESSAGE_ID = re.compile(rb"^Message-ID: <([^>]+)>", re.MULTILINE | re.IGNORECASE)


def finish_and_check(run: Run, dovecot: Dovecot, sent: list[bytes], faults: int, what: str, started: float) -> None:
    """Wait until the INBOX is empty and the ingest worker has caught up; compare with what was sent."""
    app = run.app
    # Not last_uid == MESSAGES: after a MOVE whose answer was lost, the recorded last UID stays
    # below UIDs the server moved (harmless: they are gone; the next new mail moves it on).
    done = lambda: raw_count(app) >= MESSAGES and not dovecot.uids("INBOX")  # noqa: E731
    if not wait_until(done, "", fail=False):
        rows = raw_count(app)
        with app.sessions() as session:
            progress = mailboxes.load_state(session, "main")
        inbox = dovecot.uids("INBOX")
        pytest.fail(f"not within {WAIT} s: every mail stored and marked done; {rows} raw rows, state {progress},"
                    f" {len(inbox)} in INBOX (UIDs {sorted(inbox)[:10]}...)")
    wait_until(lambda: bool(run.failures) or pending(app) == 0, "the ingest worker through the queue")
    assert not run.failures, run.failures
    expected = {MESSAGE_ID.search(data).group(1).decode(): data for data in sent}  # type: ignore[union-attr]
    with app.sessions() as session:
        raws = session.execute(select(RawData.data, RawMessage.state, RawMessage.source).join(RawData, RawData.raw_id == RawMessage.id)).all()
        ticketed = Counter(session.scalars(select(TicketMessage.message_id).where(TicketMessage.direction == "in")))
    raw_ids: Counter[str] = Counter()
    damaged = []
    for data, _, _ in raws:
        found = MESSAGE_ID.search(data)
        key = found.group(1).decode() if found else "?"
        raw_ids[key] += 1
        if expected.get(key, b"").replace(b"\n", b"\r\n") != data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"):
            damaged.append(key)
    lost = len(set(expected) - set(raw_ids)) + len(set(expected) - set(ticketed))
    duplicated = sum(n - 1 for n in raw_ids.values()) + sum(n - 1 for n in ticketed.values())
    processed = processed_ids(dovecot)
    print(f"\nimap faults: {len(sent)} mails, {faults} {what}, lost {lost}, duplicated {duplicated}"
          f" [{app.settings.database.url.split(':')[0]}, {time.monotonic() - started:.1f} s,"
          f" {sum(run.metrics.value(ERRORS, mailbox='main', stage=s) for s in ('round', 'idle')):.0f} rounds failed,"
          f" {len(processed)} in Processed]")
    assert set(raw_ids) == set(expected) and set(raw_ids.values()) == {1}, "raw rows: lost or duplicated"
    assert not damaged, f"raw rows whose bytes differ from what was sent: {damaged[:5]}"
    assert {source for _, _, source in raws} == {"imap:main"}
    assert set(ticketed) == set(expected) and set(ticketed.values()) == {1}, "ticket messages: lost or duplicated"
    assert {state for _, state, _ in raws} == {"processed"}, "raw rows left pending"
    assert dovecot.uids("INBOX") == {}
    # A copy in both folders is possible only if a MOVE was cut short inside the server; every one is there.
    assert set(processed) == set(expected) and len(processed) >= MESSAGES


def processed_ids(dovecot: Dovecot) -> list[str]:
    with dovecot.client() as client:
        client.select_folder("Processed", readonly=True)
        found = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    return [MESSAGE_ID.search(data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]).group(1).decode()  # type: ignore[union-attr]
            for data in found.values()]


# -- the tests -------------------------------------------------------------------------------------


def test_network_cuts_mid_fetch_lose_and_duplicate_nothing(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Connections cut mid-FETCH (FIN, RST), cut between a MOVE and its answer, and black-holed
    until the client's 1.5 s timeout fires: every mail arrives once, and leaves the INBOX."""
    rng = random.Random(20260302)
    faults = [Fault("fin"), Fault("rst"), Fault("fin", on_move=True), Fault("rst"), Fault("freeze"), Fault("fin")]
    for fault in faults:
        if not fault.on_move:
            # Well inside one round's traffic (about 5 MB): the poller cannot be done before it strikes.
            fault.after = rng.randrange(40_000, 600_000)
    rng.shuffle(faults)
    sent = bodies(rng)
    with running_dovecot() as dovecot:
        dovecot.append(sent)
        started = time.monotonic()
        relay = Relay((dovecot.host, dovecot.port))
        try:
            with desk(db_url, tmp_path, relay.port, 1.5, monkeypatch) as run:
                for index, fault in enumerate(faults):
                    strike(relay, run, fault, index)
                    if fault.kind == "freeze":
                        relay.wait(lambda: relay.swallowed >= 1, "the client giving up on a black-holed connection")
                finish_and_check(run, dovecot, sent, len(faults), "cuts", started)
        finally:
            relay.close()
    assert relay.swallowed == 1 and all(fault.fired.is_set() for fault in faults)


def test_dovecot_restarts_mid_fetch_lose_and_duplicate_nothing(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dovecot stopped while a FETCH response is on its way (twice) and while a MOVE is (once);
    the poller tries while it is down; it comes back: every mail arrives once, and leaves the INBOX."""
    rng = random.Random(20260303)
    faults = [Fault("hold", after=rng.randrange(40_000, 1_000_000)),
              Fault("hold", after=rng.randrange(40_000, 1_000_000)),
              Fault("hold", on_move=True)]
    rng.shuffle(faults)
    sent = bodies(rng)
    with running_dovecot() as dovecot:
        dovecot.append(sent)
        started = time.monotonic()
        relay = Relay((dovecot.host, dovecot.port))
        try:
            with desk(db_url, tmp_path, relay.port, 5.0, monkeypatch) as run:
                for index, fault in enumerate(faults):
                    strike(relay, run, fault, index)
                    refused = relay.refused
                    dovecot.stop()
                    fault.resume.set()
                    relay.wait(lambda: relay.refused > refused, "the poller trying again while Dovecot is down")
                    dovecot.start()
                finish_and_check(run, dovecot, sent, len(faults), "restarts", started)
        finally:
            relay.close()
