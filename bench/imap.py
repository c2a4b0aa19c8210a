"""IMAP benchmark: our poller (fetch, commit, move) beside a plain imapclient fetch.

The 2,000 mixed mails of bench/mailgen.py are appended to a throwaway Dovecot (tests/dovecot.py)
for every run, each run in a mailbox of its own, so each starts full:

  plain imapclient   UID FETCH BODY.PEEK[] in batches of the same size; nothing stored, nothing moved
  ours, SQLite       ImapPoller.poll_once into a fresh SQLite database: every mail committed, then
                     moved to Processed, progress recorded
  ours, PostgreSQL   the same into a fresh database inbox_bench_<random> (dropped after), when reachable

Prints raw messages durably stored per second and the ratio ours / plain (aim: >= 0.5), then
tickets per second from a full mailbox until it is empty and every mail is a ticket or a
follow-up (poll, then `app.worker(parse_processes=1).drain()`). Best of `--runs` runs each.
Needs the `dovecot` binary and root (the mail processes run as nobody).

    .venv/bin/python bench/imap.py [--count 2000] [--batch 50] [--runs 3] [--pg URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import config_text, fresh_pg  # noqa: E402
from bench.mailgen import generate  # noqa: E402
from inbox.app import build_app  # noqa: E402
from inbox.clock import SystemClock  # noqa: E402
from inbox.metrics import Metrics  # noqa: E402
from inbox.receive.imap import ImapPoller  # noqa: E402
from inbox.receive.mailbox import ImapMailboxClient  # noqa: E402
from inbox.settings import ImapMailbox, load_settings  # noqa: E402
from inbox.store.db import make_engine  # noqa: E402
from inbox.store.migrate import upgrade  # noqa: E402
from inbox.store.tables import Ticket  # noqa: E402
from tests.dovecot import PASSWORD, Dovecot, is_available, running_dovecot  # noqa: E402

PASSWORD_ENV = "INBOX_BENCH_IMAP_PASSWORD"
HELPDESK_TICKETS_PER_SECOND = 28  # django-helpdesk 2.6.1 on this kind of machine, one at a time


@dataclass
class Result:
    stored_seconds: float  # full mailbox -> every mail committed and moved
    ticket_seconds: float  # full mailbox -> empty, every mail a ticket or a follow-up
    tickets: int


def fill(server: Dovecot, mails: list[bytes]) -> str:
    """A fresh user whose INBOX holds every mail; returns the user name."""
    user = f"bench{uuid.uuid4().hex[:8]}"
    with server.client(user) as client:
        for data in mails:
            client.append("INBOX", data)
    return user


def plain_fetch(server: Dovecot, user: str, batch: int, expected: int, quiet: bool = False) -> float:
    """Seconds for imapclient alone to fetch every mail, in batches, storing nothing. `quiet`
    turns imaplib's debug formatting off, as our client does (see inbox/receive/mailbox.py)."""
    started = time.perf_counter()
    client = IMAPClient(server.host, port=server.port, ssl=False, timeout=60)
    if quiet:
        client._imap.debug = 0
    client.login(user, PASSWORD)
    client.select_folder("INBOX")
    uids = client.search(["UID", "1:*"])
    fetched = 0
    for start in range(0, len(uids), batch):
        response = client.fetch(uids[start : start + batch], ["BODY.PEEK[]"])
        fetched += sum(1 for data in response.values() if data.get(b"BODY[]"))
    elapsed = time.perf_counter() - started
    client.logout()
    assert fetched == expected, (fetched, expected)
    return elapsed


def ours(server: Dovecot, user: str, url: str, tmp: Path, batch: int, expected: int) -> Result:
    """Our poller empties the mailbox into a fresh database; then the worker makes the tickets."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    (tmp / "inbox.yaml").write_text(config_text(url, tmp))
    app = build_app(load_settings(tmp / "inbox.yaml"), SystemClock())
    mailbox = ImapMailbox(name="bench", host=server.host, port=server.port, tls=False, username=user,
                          password_env=PASSWORD_ENV, processed_folder="Processed", idle=False)
    poller = ImapPoller(mailbox, client_factory=lambda: ImapMailboxClient(mailbox), store=app.rawstore,
                        sessions=app.sessions, metrics=Metrics(), on_stored=lambda: None, clock=app.clock,
                        claimant=app.claimant, batch_size=batch)
    app.secret()
    worker = app.worker(parse_processes=1)  # running before the mail comes, as in `inbox serve`
    try:
        started = time.perf_counter()
        stored = poller.poll_once()
        stored_at = time.perf_counter()
        counts = Counter({outcome.value: count for outcome, count in worker.drain().items()})
        done_at = time.perf_counter()
        with app.sessions() as session:
            tickets = session.execute(select(func.count()).select_from(Ticket)).scalar_one()
    finally:
        poller.close()
        worker.close()
        app.close()
    assert stored == expected, (stored, expected)
    assert sum(counts.values()) == expected and not counts.get("failed"), counts
    assert server.uids(user=user) == {}, "the mailbox is not empty"
    return Result(stored_at - started, done_at - started, tickets)


def best(runs: int, measure: Callable[[], Result]) -> Result:
    """The fastest of several runs: the others measured this machine's neighbours, not the code."""
    results = [measure() for _ in range(runs)]
    return Result(min(r.stored_seconds for r in results), min(r.ticket_seconds for r in results), results[0].tickets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50, help="UIDs per fetch, for both sides")
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs each")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if not is_available():
        sys.exit("bench/imap.py needs the dovecot binary (apt-get install dovecot-imapd) and root")
    os.environ[PASSWORD_ENV] = PASSWORD
    mails = generate(args.count)
    n = len(mails)
    print(f"{n} mails, {sum(map(len, mails)) / n / 1024:.1f} KB on average, batch {args.batch}, "
          f"best of {args.runs} runs, a fresh full mailbox each run")
    with running_dovecot() as server:
        plain = min(plain_fetch(server, fill(server, mails), args.batch, n) for _ in range(args.runs))
        quiet = min(plain_fetch(server, fill(server, mails), args.batch, n, quiet=True) for _ in range(args.runs))

        def sqlite() -> Result:
            user = fill(server, mails)
            with tempfile.TemporaryDirectory() as tmp:
                return ours(server, user, f"sqlite:///{tmp}/bench.db", Path(tmp), args.batch, n)

        def postgres() -> Result:
            user = fill(server, mails)
            url, drop = fresh_pg(args.pg)
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    return ours(server, user, url, Path(tmp), args.batch, n)
            finally:
                drop()

        results: list[tuple[str, Result]] = []
        for name, run in (("SQLite", sqlite), ("PostgreSQL", postgres)):
            try:
                results.append((name, best(args.runs, run)))
            except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: say so, keep the rest
                print(f"{name} skipped: {str(exc).splitlines()[0]}")

    print(f"\n{'raw messages durably stored':<46}{'seconds':>9}{'msg/s':>9}{'ratio':>8}{'ratio q':>9}")
    print(f"{'plain imapclient fetch (nothing stored)':<46}{plain:>9.2f}{n / plain:>9.0f}{'-':>8}{'-':>9}")
    print(f"{'plain, imaplib debug off (q)':<46}{quiet:>9.2f}{n / quiet:>9.0f}{'-':>8}{'-':>9}")
    for name, result in results:
        label = f"ours, {name} (commit, then move)"
        print(f"{label:<46}{result.stored_seconds:>9.2f}{n / result.stored_seconds:>9.0f}"
              f"{plain / result.stored_seconds:>8.2f}{quiet / result.stored_seconds:>9.2f}")
    print("ratio = ours msg/s / plain imapclient msg/s (aim: >= 0.50); ratio q = the same against (q)")
    print(f"\n{'full mailbox -> empty, every mail a ticket':<46}{'seconds':>9}{'mail/s':>9}{'tickets':>8}")
    for name, result in results:
        label = f"ours, {name} (poll, then drain, 1 parser)"
        print(f"{label:<46}{result.ticket_seconds:>9.2f}{n / result.ticket_seconds:>9.0f}{result.tickets:>8}")
    print(f"{'django-helpdesk 2.6.1, for scale':<46}{n / HELPDESK_TICKETS_PER_SECOND:>9.0f}"
          f"{HELPDESK_TICKETS_PER_SECOND:>9}{'':>8}")
    print("mail/s: mails that became tickets or follow-ups per second (aim: 10x django-helpdesk)")


if __name__ == "__main__":
    main()
