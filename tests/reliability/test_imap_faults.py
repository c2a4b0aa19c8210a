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
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from inbox.app import App
from inbox.metrics import Metrics
from inbox.receive import imap
from inbox.receive.imap import ERRORS, Backoff, ImapPoller
from inbox.receive.mailbox import ImapMailboxClient
from inbox.store import mailboxes
from inbox.store.tables import RawMessage, TicketMessage
from tests.dovecot import PASSWORD, Dovecot, running_dovecot
from tests.fakes import mail, make_app, make_settings

PASSWORD_ENV = "INBOX_TEST_IMAP_PASSWORD"
MESSAGES = 200
LARGE_EVERY = 8  # every eighth mail has a large body
LARGE_BYTES = 200 * 1024
WAIT = 60.0  # seconds any one condition below gets before the test fails
CHUNK = 64 * 1024


# -- the relay -------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One strike of the relay. `after`: downstream bytes (server to client, counted from when
    it is armed) at which it strikes, in the middle of whatever is passing; `on_move`: strike
    at the next UID MOVE instead. Kinds: "fin" and "rst" close the connection (an RST to the
    client for "rst"); "freeze" stops forwarding it and black-holes new connections until a
    client gives up on one; "hold" stops forwarding downstream until `resume`, for the test
    to stop the server meanwhile."""

    kind: str
    after: int | None = None
    on_move: bool = False
    fired: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)

    def __str__(self) -> str:
        return f"{self.kind} at {'UID MOVE' if self.on_move else f'{self.after} bytes'}"


class Link:
    """One relayed connection."""

    def __init__(self, client: socket.socket, server: socket.socket | None) -> None:
        self.client = client
        self.server = server
        self.frozen = False
        self.on_reply: Fault | None = None  # strikes at the server's next bytes (a MOVE's answer)
        self.held: Fault | None = None  # downstream waits for its resume
        self.closed = threading.Event()
        self._lock = threading.Lock()

    def close(self, reset: bool = False) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
        if reset:
            # SO_LINGER 0: close() sends an RST. shutdown(SHUT_RD) wakes our own reader and sends nothing.
            self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            _quietly(lambda: self.client.shutdown(socket.SHUT_RD))
        else:
            _quietly(lambda: self.client.shutdown(socket.SHUT_RDWR))
        _quietly(self.client.close)
        if self.server is not None:
            server = self.server
            _quietly(lambda: server.shutdown(socket.SHUT_RDWR))
            _quietly(server.close)


class Relay:
    """A TCP relay from a free loopback port to Dovecot's, in threads, striking as armed."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = int(self.listener.getsockname()[1])
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.links: list[Link] = []
        self.fault: Fault | None = None
        self.counted = 0  # downstream bytes since the fault was armed
        self.black_hole = False
        self.accepted = self.refused = self.swallowed = 0  # connections; refused upstream; given up on
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="relay-accept", daemon=True)
        self._thread.start()

    def arm(self, fault: Fault) -> None:
        with self.lock:
            self.fault, self.counted = fault, 0

    def wait(self, condition: Callable[[], bool], what: str, seconds: float = WAIT) -> None:
        """Until `condition()` (read under the lock) holds; fails the test after `seconds`."""
        with self.changed:
            if not self.changed.wait_for(condition, seconds):
                pytest.fail(f"not within {seconds} s: {what}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()
        with self.lock:
            links = list(self.links)
        for link in links:
            link.close()

    # -- connections --------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self.changed:
                self.accepted += 1
                hole = self.black_hole
            if hole:
                link = Link(client, None)
                link.frozen = True
                self._spawn(self._swallow, link, hole=True)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:  # Dovecot is down: the client sees its connection closed at once
                with self.changed:
                    self.refused += 1
                    self.changed.notify_all()
                _quietly(client.close)
                continue
            link = Link(client, server)
            with self.lock:
                self.links.append(link)
            self._spawn(self._up, link)
            self._spawn(self._down, link)

    def _spawn(self, target: Callable[..., None], link: Link, **kw: bool) -> None:
        threading.Thread(target=target, args=(link,), kwargs=kw, daemon=True).start()

    def _swallow(self, link: Link, hole: bool = False) -> None:
        """Read and drop what the client sends until it gives up (closes)."""
        try:
            while link.client.recv(CHUNK):
                pass
        except OSError:
            pass
        with self.changed:
            if hole and self.black_hole and not self._stop.is_set():
                self.swallowed += 1
                self.black_hole = False  # the client's timeout fired on a dead connection: enough
            self.changed.notify_all()
        link.close()

    def _up(self, link: Link) -> None:
        """Client to server: commands. A UID MOVE can be what the armed fault waits for."""
        assert link.server is not None
        try:
            while True:
                data = link.client.recv(CHUNK)
                if not data:
                    break
                if link.frozen:
                    self._swallow(link)
                    return
                fault = self._take(lambda f: f.on_move and b"UID MOVE" in data)
                if fault is not None and fault.kind == "hold":
                    link.held = fault  # its answer (if any comes) waits
                    link.server.sendall(data)
                    self._fired(fault)  # the test stops the server while it may be moving
                    continue
                if fault is not None:
                    link.on_reply = fault  # struck when the server has done it and answers
                link.server.sendall(data)
        except OSError:
            pass
        link.close()

    def _down(self, link: Link) -> None:
        """Server to client: greetings, listings, FETCH responses. Byte-counted faults strike here."""
        assert link.server is not None
        try:
            while True:
                data = link.server.recv(CHUNK)
                if not data:
                    break
                if link.held is not None:
                    link.held.resume.wait(WAIT)
                if link.on_reply is not None:  # the MOVE is done on the server; its answer is lost
                    self._strike(link.on_reply, link, b"")
                    return
                head, fault = self._count(data)
                if fault is None:
                    link.client.sendall(data)
                    continue
                link.client.sendall(head)  # part of the response reaches the client
                if not self._strike(fault, link, data[len(head):]):
                    return
        except OSError:
            pass
        if not link.frozen:
            link.close()

    def _count(self, data: bytes) -> tuple[bytes, Fault | None]:
        with self.lock:
            fault = self.fault
            if fault is not None and fault.after is not None and self.counted + len(data) >= fault.after:
                head = data[: fault.after - self.counted]
                self.fault = None
                return head, fault
            self.counted += len(data)
            return data, None

    def _take(self, matches: Callable[[Fault], bool]) -> Fault | None:
        with self.lock:
            fault = self.fault
            if fault is not None and matches(fault):
                self.fault = None
                return fault
            return None

    def _fired(self, fault: Fault) -> None:
        with self.changed:
            fault.fired.set()
            self.changed.notify_all()

    def _strike(self, fault: Fault, link: Link, rest: bytes) -> bool:
        """Do what `fault` says to `link`; True when the downstream pump should go on."""
        if fault.kind in ("fin", "rst"):
            link.close(reset=fault.kind == "rst")
            self._fired(fault)
            return False
        if fault.kind == "freeze":
            link.frozen = True  # the upstream pump swallows what the client sends from now on
            with self.changed:
                self.black_hole = True
            self._fired(fault)
            link.closed.wait(WAIT)  # the client gives up; nothing more is forwarded either way
            return False
        assert fault.kind == "hold"
        link.held = fault
        self._fired(fault)
        fault.resume.wait(WAIT)
        link.close()  # the server died meanwhile: what it had sent before is lost with it
        return False


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except OSError:
        pass


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
                        clock=app.clock, owner="me", batch_size=10, backoff=Backoff(initial=0.05, cap=0.2))

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
        raws = session.execute(select(RawMessage.data, RawMessage.state, RawMessage.source)).all()
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
