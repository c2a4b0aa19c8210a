"""The IMAP lease after a crash, on SQLite and PostgreSQL: a dead process's lease on this host is
taken back at once (by one taker only), a live one's and another host's are waited out.

Whether a pid lives is the claimant's injected `alive`, never a real process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from inbox.app import App
from inbox.claimant import Claimant
from inbox.metrics import Metrics
from inbox.receive.imap import ImapPoller
from inbox.receive.mailbox import MailboxClient
from inbox.store import mailboxes
from tests.fakes import T0, mail, make_app, make_settings

TTL = timedelta(minutes=2)
HERE = "web-1"
DEAD_PID = 8  # the injected `alive` says no process 8 runs on this host


def alive_but_8(pid: int) -> bool:
    return pid != DEAD_PID


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[App]:
    extra = """
    imap:
      - {name: main, host: 127.0.0.1, port: 1, tls: false, username: support, password_env: UNUSED,
         processed_folder: Processed, idle: false, poll_seconds: 60}
    """
    application = make_app(make_settings(tmp_path, db_url, extra=extra))
    yield application
    application.close()


def hold(app: App, holder: str) -> None:
    """`holder` takes the free lease at T0, as a process that then crashed would have."""
    with app.sessions() as session, session.begin():
        assert mailboxes.acquire_lease(session, "main", holder, T0, TTL)


def holder_at(app: App, minutes: float) -> str | None:
    with app.sessions() as session:
        return mailboxes.lease_holder(session, "main", T0 + timedelta(minutes=minutes))


def take_back(app: App, me: Claimant, minutes: float = 1, is_dead: Callable[[str], bool] | None = None) -> str | None:
    """What the poller does each round: renew, else take a dead holder's lease."""
    now = T0 + timedelta(minutes=minutes)
    with app.sessions() as session, session.begin():
        if mailboxes.acquire_lease(session, "main", me.owner, now, TTL):
            return me.owner
        return mailboxes.take_dead_lease(session, "main", me.owner, now, TTL, is_dead or me.is_dead)


# -- the store's rule ----------------------------------------------------------------------------


def test_a_dead_holder_of_this_host_is_replaced_at_once(app: App) -> None:
    """A lease of a process of this host that runs no more is taken, running for the taker's ttl."""
    hold(app, f"{HERE}:{DEAD_PID}:aaaa0000")
    me = Claimant(HERE, 1, "me", alive=alive_but_8)
    assert take_back(app, me, minutes=1) == f"{HERE}:{DEAD_PID}:aaaa0000"
    assert holder_at(app, 1) == me.owner
    assert holder_at(app, 2.9) == me.owner  # taken at 1 for two minutes, not the dead one's until 2
    assert holder_at(app, 3.1) is None


def test_a_live_holder_of_this_host_is_not_replaced(app: App) -> None:
    """Another live process of this host keeps its lease until it runs out."""
    hold(app, f"{HERE}:7:aaaa0000")
    me = Claimant(HERE, 1, "me", alive=alive_but_8)
    assert take_back(app, me) is None
    assert holder_at(app, 1) == f"{HERE}:7:aaaa0000"
    assert take_back(app, me, minutes=2.5) == me.owner  # ran out at 2


def test_a_holder_on_another_host_waits_until_its_lease_runs_out(app: App) -> None:
    """From here no pid of another host can be asked: its lease is waited out, however dead it looks."""
    hold(app, f"web-2:{DEAD_PID}:aaaa0000")
    me = Claimant(HERE, 1, "me", alive=lambda pid: False)
    assert take_back(app, me, minutes=1.9) is None
    assert holder_at(app, 1.9) == f"web-2:{DEAD_PID}:aaaa0000"
    assert take_back(app, me, minutes=2) == me.owner


def test_an_earlier_life_of_the_same_pid_is_replaced(app: App) -> None:
    """PID 1 again after a restart (a container): the stamp with the old token is a dead process's."""
    hold(app, f"{HERE}:1:00000000")
    me = Claimant(HERE, 1, "abcd1234", alive=lambda pid: True)
    assert take_back(app, me) == f"{HERE}:1:00000000"
    assert holder_at(app, 1) == me.owner


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_takers_that_both_judged_the_holder_dead_get_one_winner(app: App) -> None:
    """Both read the dead holder before either writes (PostgreSQL lets them; SQLite has one writer at
    a time): the UPDATE names the holder it replaces, so the second finds the first's and takes nothing."""
    hold(app, f"{HERE}:{DEAD_PID}:aaaa0000")
    takers = [Claimant(HERE, 100 + i, f"t{i}", alive=alive_but_8) for i in range(2)]
    both_judged = threading.Barrier(len(takers), timeout=15)
    results: dict[str, str | None] = {}

    def race(me: Claimant) -> None:
        def is_dead(stamp: str) -> bool:
            both_judged.wait()  # the other has read the row too
            return me.is_dead(stamp)

        results[me.owner] = take_back(app, me, is_dead=is_dead)

    threads = [threading.Thread(target=race, args=(me,)) for me in takers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 2 and set(results.values()) == {f"{HERE}:{DEAD_PID}:aaaa0000", None}  # one each
    winner = next(owner for owner, taken in results.items() if taken is not None)
    assert holder_at(app, 1) == winner


# -- the poller ----------------------------------------------------------------------------------


class MemoryMailbox:
    """A MailboxClient over a dict: the lease rule needs no IMAP server."""

    def __init__(self, messages: Sequence[bytes]) -> None:
        self.messages = dict(enumerate(messages, start=1))

    def select(self, folder: str) -> int:
        return 1

    def new_uids(self, after_uid: int) -> list[int]:
        return sorted(uid for uid in self.messages if uid > after_uid)

    def fetch_raw(self, uids: Sequence[int]) -> dict[int, bytes]:
        return {uid: self.messages[uid] for uid in uids if uid in self.messages}

    def mark_done(self, uids: Sequence[int], processed_folder: str | None) -> None:
        for uid in uids:
            self.messages.pop(uid, None)

    def supports_idle(self) -> bool:
        return False

    def idle_wait(self, timeout: float, cancelled: Callable[[], bool] = lambda: False) -> bool:
        return False

    def login_due_at(self) -> None:
        return None

    def close(self) -> None:
        pass


def poller_of(app: App, me: Claimant, server: MemoryMailbox, connects: list[int]) -> ImapPoller:
    def connect() -> MailboxClient:
        connects.append(1)
        return server

    return ImapPoller(app.settings.imap[0], client_factory=connect, store=app.rawstore, sessions=app.sessions,
                      metrics=Metrics(), on_stored=lambda: None, clock=app.clock, claimant=me)


def taken_back(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "took the lease back" in r.getMessage()]


@pytest.mark.parametrize(("holder", "alive", "at_once"), [
    (f"{HERE}:{DEAD_PID}:aaaa0000", alive_but_8, True),  # crashed, this host
    (f"{HERE}:1:00000000", lambda pid: True, True),  # an earlier life of this pid
    (f"{HERE}:7:aaaa0000", alive_but_8, False),  # alive, this host
    (f"web-2:{DEAD_PID}:aaaa0000", lambda pid: False, False),  # another host
], ids=["dead", "earlier-life", "alive", "other-host"])
def test_the_poller_pulls_at_once_only_after_a_dead_holder(
    app: App, caplog: pytest.LogCaptureFixture, holder: str, alive: Callable[[int], bool], at_once: bool,
) -> None:
    """The first round after a restart pulls the mail when the lease's holder is provably gone, and
    says so in one warning; otherwise it neither connects nor stores until the lease runs out."""
    hold(app, holder)
    server, connects = MemoryMailbox([mail(message_id=f"<lease{i}@acme.com>") for i in range(2)]), list[int]()
    target = poller_of(app, Claimant(HERE, 1, "abcd1234", alive=alive), server, connects)
    with caplog.at_level(logging.WARNING, logger="inbox.receive.imap"):
        assert target.poll_once() == (2 if at_once else 0)
        assert bool(connects) is at_once and len(server.messages) == (0 if at_once else 2)
        server.messages[3] = mail(message_id="<later@acme.com>")
        app.clock.set(T0 + timedelta(minutes=1))  # type: ignore[attr-defined]
        assert target.poll_once() == (1 if at_once else 0)  # renewed as its own, or still waiting
        assert len(taken_back(caplog)) == (1 if at_once else 0)
        assert all(holder in line for line in taken_back(caplog))
        app.clock.set(T0 + timedelta(minutes=2, seconds=1))  # type: ignore[attr-defined]
        assert target.poll_once() == (0 if at_once else 3)  # an unjudged lease ran out: taken, no warning
        assert len(taken_back(caplog)) == (1 if at_once else 0)
    target.close()
