"""The IMAP front door against a real Dovecot, on SQLite and PostgreSQL: stored, then moved or
flagged; nothing marked before it is stored; state kept across pollers; reconnects; IDLE; leases."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from inbox.app import App
from inbox.metrics import Metrics
from inbox.rawstore import RawItem, RawRef, RawStore
from inbox.receive.imap import ACCEPTED, ERRORS, LAST_SUCCESS, Backoff, ImapPoller
from inbox.receive.mailbox import ImapMailboxClient, MailboxClient, MailboxUnavailable
from inbox.settings import ImapMailbox
from inbox.store import mailboxes
from inbox.store.tables import RawData, RawMessage
from tests.dovecot import PASSWORD, Dovecot, Recording, free_port, recorded, running_dovecot
from tests.fakes import T0, mail, make_app, make_settings

pytestmark = pytest.mark.servers  # `make quick` leaves it out: it starts a real server or tool

PASSWORD_ENV = "INBOX_TEST_IMAP_PASSWORD"
SEEN = b"\\Seen"
WAIT = 15.0  # seconds any condition below gets before the test fails
Pollers = Callable[..., ImapPoller]  # the poller fixture: make one for a mailbox


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """One server for the module; each test reads and writes its own user's mail."""
    with running_dovecot() as server:
        yield server


@pytest.fixture(autouse=True)
def _imap_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


_users = iter(range(1_000_000))


@pytest.fixture
def user() -> str:
    return f"support{next(_users)}"


@pytest.fixture
def app(db_url: str, tmp_path: Path, dovecot: Dovecot, user: str) -> Iterator[App]:
    """An app whose config has one mailbox on the shared Dovecot (the imap section, as users write it)."""
    extra = f"""
    imap:
      - {{name: main, host: {dovecot.host}, port: {dovecot.port}, tls: false, username: {user},
         password_env: {PASSWORD_ENV}, processed_folder: Processed, idle: false, poll_seconds: 60}}
    """
    application = make_app(make_settings(tmp_path, db_url, extra=extra))
    yield application
    application.close()


def mails(count: int, tag: str = "m") -> list[bytes]:
    return [mail(message_id=f"<{tag}{i}@acme.com>", subject=f"Problem {tag}{i}") for i in range(count)]


def mailbox_of(app: App, **changes: object) -> ImapMailbox:
    return app.settings.imap[0].model_copy(update=changes)


class FailingStore(RawStore):
    """The real raw store, except that a batch holding a message with `poison` in it fails to commit."""

    def __init__(self, inner: RawStore, poison: bytes) -> None:
        self.inner = inner
        self.poison = poison

    def put_many(self, items: Sequence[RawItem]) -> list[RawRef]:
        if self.poison and any(self.poison in item.data for item in items):
            raise OSError("disk full (for this test)")
        return self.inner.put_many(items)


@pytest.fixture
def poller(app: App) -> Iterator[Pollers]:
    """Makes pollers on the app's database (fast backoff); closes them, lease and all, at the end."""
    made: list[ImapPoller] = []

    def make(mailbox: ImapMailbox, *, store: RawStore | None = None, client: Callable[[], MailboxClient] | None = None,
             metrics: Metrics | None = None, wakes: list[int] | None = None) -> ImapPoller:
        made.append(ImapPoller(
            mailbox, client_factory=client or (lambda: ImapMailboxClient(mailbox, timeout=5)),
            store=store or app.rawstore, sessions=app.sessions, metrics=metrics or Metrics(),
            on_stored=lambda: wakes.append(1) if wakes is not None else None, clock=app.clock, claimant=app.claimant,
            backoff=Backoff(initial=0.05, cap=0.2)))
        return made[-1]

    yield make
    for target in made:
        target.close()


def raw_rows(app: App) -> list[tuple[str, bytes]]:
    with app.sessions() as session:
        return [(r.source, r.data) for r in session.execute(select(RawMessage.source, RawData.data).join(RawData, RawData.raw_id == RawMessage.id).order_by(RawMessage.id))]


def raw_count(app: App) -> int:
    return len(raw_rows(app))


def state(app: App) -> mailboxes.MailboxProgress:
    with app.sessions() as session:
        progress = mailboxes.load_state(session, "main")
    assert progress is not None
    return progress


def wait_until(condition: Callable[[], bool], what: str, seconds: float = WAIT) -> float:
    """Poll `condition` until true; returns the seconds it took, fails after `seconds`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds} s: {what}")
        time.sleep(0.02)
    return time.monotonic() - started


@contextmanager
def running(target: ImapPoller) -> Iterator[None]:
    """`target.run` in a thread for the block; stopped (and checked to stop) when it ends."""
    stop = threading.Event()
    thread = threading.Thread(target=target.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(WAIT)
        assert not thread.is_alive(), "the poller did not stop"


# -- the client seam -------------------------------------------------------------------------------


def test_new_uids_never_repeat_the_last_message(app: App, dovecot: Dovecot, user: str) -> None:
    """UID SEARCH n:* past the last message returns it anyway; new_uids drops it."""
    dovecot.append(mails(2), user=user)
    client = ImapMailboxClient(mailbox_of(app))
    try:
        client.select("INBOX")
        assert client.new_uids(0) == [1, 2]
        assert client.new_uids(2) == [] and client.new_uids(10) == []
        assert set(client.fetch_raw([1, 2])) == {1, 2}
        assert dovecot.uids(user=user) == {1: (), 2: ()}  # BODY.PEEK[]: still unseen
    finally:
        client.close()


def test_large_batches_are_fetched_in_bounded_pieces(app: App, dovecot: Dovecot, user: str) -> None:
    """With a byte limit below one message, every message is still fetched whole, one per FETCH."""
    sent = mails(3)
    dovecot.append(sent, user=user)
    client = ImapMailboxClient(mailbox_of(app), fetch_bytes=1)
    try:
        client.select("INBOX")
        bodies = client.fetch_raw(client.new_uids(0))
    finally:
        client.close()
    assert [bodies[uid].replace(b"\r\n", b"\n") for uid in (1, 2, 3)] == sent


def test_unreachable_server_or_bad_login_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed port, a wrong password and an unset password variable all say MailboxUnavailable."""
    # A server of its own: Dovecot slows every later login from an address after a failed one.
    with running_dovecot() as server:
        mailbox = ImapMailbox(name="main", host=server.host, port=server.port, tls=False,
                              username="nobody-here", password_env=PASSWORD_ENV)
        with pytest.raises(MailboxUnavailable, match="connect"):
            ImapMailboxClient(mailbox.model_copy(update={"port": free_port()}), timeout=2)
        monkeypatch.setenv(PASSWORD_ENV, "wrong")
        with pytest.raises(MailboxUnavailable, match="log in as nobody-here"):
            ImapMailboxClient(mailbox, timeout=10)
        monkeypatch.delenv(PASSWORD_ENV)
        with pytest.raises(MailboxUnavailable, match=PASSWORD_ENV):
            ImapMailboxClient(mailbox, timeout=10)


# -- the poller ------------------------------------------------------------------------------------


def test_new_mail_is_stored_then_moved(app: App, dovecot: Dovecot, user: str, poller: Pollers) -> None:
    """Appended mail becomes raw rows (source imap:main), then moves to the processed folder."""
    sent = mails(3)
    dovecot.append(sent, user=user)
    metrics, wakes = Metrics(), []
    target = poller(mailbox_of(app), metrics=metrics, wakes=wakes)
    assert target.poll_once() == 3
    assert target.poll_once() == 0
    rows = raw_rows(app)
    assert {source for source, _ in rows} == {"imap:main"}
    assert sorted(data.replace(b"\r\n", b"\n") for _, data in rows) == sorted(sent)
    assert dovecot.uids(user=user) == {}
    assert len(dovecot.uids("Processed", user=user)) == 3
    assert metrics.value(ACCEPTED, source="imap:main") == 3
    assert metrics.value(LAST_SUCCESS, mailbox="main") == T0.timestamp()
    assert wakes == [1]
    assert (state(app).last_uid, state(app).last_success_at, state(app).last_error) == (3, T0, None)


def test_without_a_processed_folder_mail_is_flagged_seen(
    app: App, dovecot: Dovecot, user: str, poller: Pollers,
) -> None:
    """With no processed folder, stored mail stays in the folder flagged \\Seen, and is not read again."""
    dovecot.append(mails(2), user=user)
    clients: list[Recording] = []
    mailbox = mailbox_of(app, processed_folder=None)
    target = poller(mailbox, client=recorded(mailbox, clients))
    assert target.poll_once() == 2
    assert target.poll_once() == 0
    assert {uid: SEEN in flags for uid, flags in dovecot.uids(user=user).items()} == {1: True, 2: True}
    assert clients[0].fetched == [1, 2] and raw_count(app) == 2


@pytest.mark.parametrize("without", [("MOVE",), ("MOVE", "UIDPLUS")], ids=["copy-uid-expunge", "copy-expunge"])
def test_servers_without_move_get_copy_delete_expunge(app: App, without: tuple[str, ...], poller: Pollers) -> None:
    """Without MOVE (and without UIDPLUS), stored mail is copied, flagged \\Deleted and expunged."""
    with running_dovecot(without=without) as server:
        server.append(mails(2), user="support")
        mailbox = mailbox_of(app, port=server.port, username="support")
        assert poller(mailbox).poll_once() == 2
        assert server.uids(user="support") == {}
        assert len(server.uids("Processed", user="support")) == 2


def test_nothing_is_marked_before_it_is_stored(app: App, dovecot: Dovecot, user: str, poller: Pollers) -> None:
    """When the raw store fails, the mail stays in the folder unflagged, and is taken once it works."""
    dovecot.append(mails(2), user=user)
    mailbox = mailbox_of(app, processed_folder=None)
    metrics = Metrics()
    broken = FailingStore(app.rawstore, poison=b"Problem")
    target = poller(mailbox, store=broken, metrics=metrics)
    assert target.poll_once() == 0
    assert dovecot.uids(user=user) == {1: (), 2: ()}
    assert raw_count(app) == 0 and state(app).last_uid == 0
    assert "uid 1: store: OSError" in (state(app).last_error or "")
    assert metrics.value(ERRORS, mailbox="main", stage="store") == 2
    broken.poison = b""  # the disk has room again
    assert target.poll_once() == 2
    assert all(SEEN in flags for flags in dovecot.uids(user=user).values())
    assert state(app).last_error is None


def test_a_message_that_fails_alone_is_skipped_and_retried(
    app: App, dovecot: Dovecot, user: str, poller: Pollers,
) -> None:
    """One message that cannot be stored holds back neither the others nor itself, next round."""
    dovecot.append([mail(message_id="<a@acme.com>"), mail(message_id="<poison@acme.com>"),
                           mail(message_id="<c@acme.com>")], user=user)
    mailbox = mailbox_of(app, processed_folder=None)
    recording: list[Recording] = []
    broken = FailingStore(app.rawstore, poison=b"poison@")
    target = poller(mailbox, store=broken, client=recorded(mailbox, recording))
    assert target.poll_once() == 2
    flags = dovecot.uids(user=user)
    assert (SEEN in flags[1], SEEN in flags[2], SEEN in flags[3]) == (True, False, True)
    assert state(app).last_uid == 1 and "uid 2: store" in (state(app).last_error or "")
    broken.poison = b""
    assert target.poll_once() == 1
    assert recording[0].fetched == [1, 2, 3, 2]  # 3 is done: only the failed one is fetched again
    assert SEEN in dovecot.uids(user=user)[2]
    assert (state(app).last_uid, state(app).last_error) == (3, None)


def test_a_message_the_server_will_not_send_is_skipped(app: App, dovecot: Dovecot, user: str, poller: Pollers) -> None:
    """A fetch refused for one message: the batch is fetched one by one and the others are stored."""
    dovecot.append(mails(3), user=user)
    mailbox = mailbox_of(app)
    refusing = {"on": True}
    clients: list[Recording] = []
    target = poller(mailbox, client=recorded(mailbox, clients, refuse=lambda uids: refusing["on"] and 2 in uids))
    assert target.poll_once() == 2
    assert list(dovecot.uids(user=user)) == [2]
    refusing["on"] = False
    assert target.poll_once() == 1
    assert dovecot.uids(user=user) == {} and raw_count(app) == 3


def test_uidvalidity_and_last_uid_survive_a_new_poller(app: App, dovecot: Dovecot, user: str, poller: Pollers) -> None:
    """A second poller (a restart) remembers UIDVALIDITY and the last UID: it fetches only new mail."""
    dovecot.append(mails(2), user=user)
    mailbox = mailbox_of(app, processed_folder=None)
    first = poller(mailbox)
    assert first.poll_once() == 2
    first.close()  # the process stops; a new one starts
    dovecot.append(mails(1, tag="late"), user=user)
    recording: list[Recording] = []
    second = poller(mailbox, client=recorded(mailbox, recording))
    assert second.poll_once() == 1
    assert recording[0].fetched == [3]


def test_a_new_uidvalidity_reads_the_folder_again(app: App, dovecot: Dovecot, user: str, poller: Pollers) -> None:
    """When UIDVALIDITY changes the poller starts from UID 0; the raw store dedupes what it had."""
    folder = "Support"
    dovecot.append(mails(2), folder=folder, user=user)
    mailbox = mailbox_of(app, folder=folder, processed_folder=None)
    target = poller(mailbox)
    assert target.poll_once() == 2
    before = state(app).uidvalidity
    with dovecot.client(user) as client:  # the folder is rebuilt: same mail, new UIDs
        client.delete_folder(folder)
    dovecot.append(mails(2) + mails(1, tag="new"), folder=folder, user=user)
    assert target.poll_once() == 1
    assert state(app).uidvalidity != before and state(app).last_uid == 3
    assert raw_count(app) == 3
    assert all(SEEN in flags for flags in dovecot.uids(folder, user=user).values())


def test_lease_held_by_another_instance_keeps_this_poller_idle(
    app: App, dovecot: Dovecot, user: str, poller: Pollers,
) -> None:
    """While another owner's lease runs this poller neither connects nor stores; after it, it does."""
    dovecot.append(mails(2), user=user)
    with app.sessions() as session, session.begin():
        assert mailboxes.acquire_lease(session, "main", "other-host:1", T0, timedelta(minutes=5))
    connects: list[int] = []
    mailbox = mailbox_of(app)

    def connect() -> MailboxClient:
        connects.append(1)
        return ImapMailboxClient(mailbox)

    target = poller(mailbox, client=connect)
    assert target.poll_once() == 0
    assert connects == [] and raw_count(app) == 0 and len(dovecot.uids(user=user)) == 2
    app.clock.set(T0 + timedelta(minutes=6))  # type: ignore[attr-defined]
    assert target.poll_once() == 2
    target.close()
    assert state(app).lease_owner is None  # released on close


def test_poller_reconnects_after_a_server_restart(app: App, user: str, poller: Pollers) -> None:
    """Dovecot restarted mid-run: the poller reconnects with backoff and takes the later mail too."""
    with running_dovecot() as server:
        mailbox = mailbox_of(app, port=server.port, idle=True, poll_seconds=1)
        metrics = Metrics()
        server.append(mails(2), user=user)
        with running(poller(mailbox, metrics=metrics)):
            wait_until(lambda: raw_count(app) == 2, "the first two mails stored")
            server.restart()
            server.append(mails(2, tag="after"), user=user)
            wait_until(lambda: raw_count(app) == 4, "the mails sent after the restart stored")
        assert server.uids(user=user) == {} and len(server.uids("Processed", user=user)) == 4
        noticed = sum(metrics.value(ERRORS, mailbox="main", stage=stage) for stage in ("round", "idle"))
        assert noticed >= 1  # it saw the connection drop, and came back


def test_idle_wakes_the_poller_for_new_mail(app: App, dovecot: Dovecot, user: str, poller: Pollers) -> None:
    """With IDLE, mail appended while the poller waits is stored at once, not after poll_seconds."""
    mailbox = mailbox_of(app, idle=True, poll_seconds=3600)
    clients: list[Recording] = []
    with running(poller(mailbox, client=recorded(mailbox, clients))):
        wait_until(lambda: bool(clients) and clients[-1].idling.is_set(), "the poller waiting in IDLE")
        dovecot.append(mails(1), user=user)
        took = wait_until(lambda: raw_count(app) == 1, "the mail stored after the IDLE wake-up")
    assert took < WAIT < mailbox.poll_seconds
    assert dovecot.uids(user=user) == {}


def test_mail_that_comes_during_a_round_is_not_left_for_poll_seconds(app: App, dovecot: Dovecot, user: str) -> None:
    """Mail delivered while a round stores and moves earlier mail is announced to those commands,
    not to the NOOP before IDLE: the poller looks again before it waits (poll_seconds: an hour)."""
    mailbox = mailbox_of(app, idle=True, poll_seconds=3600)
    late = threading.Event()

    def deliver_during_the_round() -> None:  # on_stored: after the first commit, before the move
        if not late.is_set():
            late.set()
            dovecot.append([mail(message_id="<late@acme.com>", subject="late")], user=user)

    target = ImapPoller(mailbox, client_factory=lambda: ImapMailboxClient(mailbox, timeout=5), store=app.rawstore,
                        sessions=app.sessions, metrics=Metrics(), on_stored=deliver_during_the_round,
                        clock=app.clock, claimant=app.claimant)
    dovecot.append(mails(1), user=user)
    try:
        with running(target):
            wait_until(lambda: raw_count(app) == 2, "the mail delivered during the first round stored")
    finally:
        target.close()
    assert late.is_set() and dovecot.uids(user=user) == {}


def test_run_stops_promptly_while_waiting(app: App, dovecot: Dovecot, poller: Pollers) -> None:
    """Setting the stop event ends run() during an IDLE wait, and the lease is given back."""
    metrics = Metrics()
    with running(poller(mailbox_of(app, idle=True, poll_seconds=3600), metrics=metrics)):
        wait_until(lambda: metrics.value(LAST_SUCCESS, mailbox="main") > 0, "the first round")
        started = time.monotonic()
    assert time.monotonic() - started < 5
    assert state(app).lease_owner is None


# -- the lease -------------------------------------------------------------------------------------


def test_lease_is_exclusive_until_it_runs_out(app: App) -> None:
    """Only the holder renews a running lease; anyone takes an expired or released one."""
    ttl = timedelta(minutes=2)

    def take(owner: str, minutes: float) -> bool:
        with app.sessions() as session, session.begin():
            return mailboxes.acquire_lease(session, "main", owner, T0 + timedelta(minutes=minutes), ttl)

    assert take("a", 0) and not take("b", 1) and take("a", 1)
    assert not take("b", 2.5) and take("b", 3.5)  # renewed at 1, so it ran until 3
    with app.sessions() as session, session.begin():
        mailboxes.release_lease(session, "main", "a")  # not a's any more: nothing happens
        assert mailboxes.lease_holder(session, "main", T0 + timedelta(minutes=4)) == "b"
        mailboxes.release_lease(session, "main", "b")
    assert take("c", 4)


def test_concurrent_lease_takers_get_one_winner(app: App) -> None:
    """Eight instances racing for a free lease: exactly one gets it."""
    barrier = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def race(owner: str) -> None:
        barrier.wait()
        with app.sessions() as session, session.begin():
            won = mailboxes.acquire_lease(session, "main", owner, T0, timedelta(minutes=2))
        with lock:
            results.append(won)

    threads = [threading.Thread(target=race, args=(f"host{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert sorted(results) == [False] * 7 + [True]
