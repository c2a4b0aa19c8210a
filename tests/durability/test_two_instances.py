"""Several instances on one PostgreSQL, as docker-compose.yml deploys them: every ticket once, every email once.

Docker does not run here, so this test runs the compose file's own words (tests/durability/
compose_kit.py): services inbox-1 and inbox-2 with their `command` and `environment`, on
config/docker.yaml with only the addresses moved to loopback and the secrets from compose_kit's
DEPLOYER_ENV. As compose does, the one-shot `migrate` service runs first on an empty database
(`inbox db upgrade`), then both instances start at the same moment (two instances migrating at
once are tests/integration/test_startup.py's). 1,000 mails arrive through both
SMTP listeners and one IMAP mailbox both poll; both schedulers send; then `inbox jobs run-once`
runs on both at once a week later, so SLA emails fall due and both race to send them.

The instances' clocks start at a fixed instant ($INBOX_TEST_CLOCK), never the wall clock (issue 17).
At about 25 s a run, it runs at one instant (the first --clock-at, by default sunday-23utc, where it
once failed); tests/integration/test_compose_week.py runs the same desk and mails a week on at
every instant in process, which is where the instant matters.
"""

from __future__ import annotations

import json
import smtplib
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from inbox.clock import TEST_CLOCK_ENV
from inbox.store.db import make_engine
from inbox.store.tables import OutboxRow, RawMessage, Ticket, TicketMessage
from tests.dovecot import PASSWORD, Dovecot, running_dovecot
from tests.durability.compose_kit import ROOT, Loopback, compose_service, loopback_instance, message_ids, start_sink
from tests.durability.serve import ServeProcess, free_port
from tests.fakes import mail

SERVICES = ("inbox-1", "inbox-2")
ORIGINALS_PER_LISTENER = 350
ORIGINALS_BY_IMAP = 200
REPLIES = 100  # half through each listener, each to a spread-out original
ORIGINALS = 2 * ORIGINALS_PER_LISTENER + ORIGINALS_BY_IMAP
MAILS = ORIGINALS + REPLIES  # 1,000
CONNECTIONS_PER_LISTENER = 3  # smtplib clients at once on each listener
DEADLINE_SECONDS = 120  # for each wait; the whole test takes well under that
CRITICAL_EVERY = 10  # 90 critical tickets (config/docker.yaml: critical update every 24 hours)
# A week on, whatever the weekday and holidays at the start: every critical ticket is owed a status
# update and its response target is long past, so the jobs on both instances have emails to race for.
JOBS_AFTER = timedelta(days=7)
MAILBOX_PASSWORD_ENV = "INBOX_IMAP_PASSWORD"  # not in the compose file: its config has no mailbox


@pytest.mark.one_instant
def test_two_compose_instances_make_each_ticket_once_and_send_each_email_once(empty_pg: str, tmp_path: Path,
                                                                             start_at: datetime) -> None:
    """The compose deployment, two instances on one database, their clocks starting at `start_at`:
    1,000 mails over both listeners and a shared mailbox are each one ticket message, replies join
    their tickets, every email the outbox sent (acknowledgements, then the SLA jobs both ran at once)
    reached the relay once, and staff alerts went as digests: every outbox row is accounted for."""
    started = time.monotonic()
    with running_dovecot() as dovecot:
        relay_port = free_port()
        sink, relay = start_sink(relay_port)
        servers, envs = _instances(tmp_path, empty_pg, dovecot, relay_port, start_at)
        engine = make_engine(empty_pg)
        try:
            _migrate(tmp_path, empty_pg)  # compose starts the instances once `migrate` exited 0
            for server in servers:  # at the same moment, on the migrated database
                server.launch()
            for server in servers:
                server.wait_listening(DEADLINE_SECONDS)
            migrated = time.monotonic()

            originals = [_original(i, start_at) for i in range(ORIGINALS)]
            imap_part = originals[2 * ORIGINALS_PER_LISTENER:]
            appending = threading.Thread(target=dovecot.append, args=([one.data for one in imap_part],))
            appending.start()
            _send_over(servers, originals[:2 * ORIGINALS_PER_LISTENER])
            appending.join(DEADLINE_SECONDS)
            _wait(servers, lambda: _ingested(engine) == ORIGINALS and not dovecot.uids("INBOX"),
                  "the originals never all became ticket messages", engine)

            # Only now the replies: each original is a ticket already, so a reply must join it.
            replies = [_reply(j, originals[_replied(j)], start_at) for j in range(REPLIES)]
            _send_over(servers, replies)
            _wait(servers, lambda: _ingested(engine) == MAILS and _drained(engine),
                  "the replies were not ingested or the outbox not drained", engine)
            ingested = time.monotonic()

            as_of = start_at + JOBS_AFTER
            jobs = _run_jobs_at_once(envs, as_of, tmp_path)
            # Each run sends everything due by `as_of` before it exits, and says what it left and why.
            assert [(run["waiting"], run["left"]) for run in jobs] == [(0, 0), (0, 0)], jobs
            assert [server.terminate() for server in servers] == [0, 0]
            finished = time.monotonic()
            with engine.connect() as conn:
                incoming = conn.execute(select(TicketMessage.message_id, TicketMessage.ticket_id)
                                        .where(TicketMessage.direction == "in")).all()
                tickets = int(conn.execute(select(func.count()).select_from(Ticket)).scalar_one())
            rows = _outbox(engine)
        finally:
            for server in servers:
                server.kill()
            engine.dispose()
            relay.stop()

    # Every mail is one ticket message: none lost, none twice (both listeners, both pollers).
    per_id = Counter(message_id for message_id, _ in incoming)
    assert set(per_id) == {_id(f"orig-{i}") for i in range(ORIGINALS)} | {_id(f"reply-{j}") for j in range(REPLIES)}
    assert set(per_id.values()) == {1}
    # Each original opened one ticket; each reply joined its original's ticket.
    ticket_of = dict(incoming)
    assert tickets == ORIGINALS
    assert len({ticket_of[_id(f"orig-{i}")] for i in range(ORIGINALS)}) == ORIGINALS
    assert all(ticket_of[_id(f"reply-{j}")] == ticket_of[_id(f"orig-{_replied(j)}")] for j in range(REPLIES))

    # The relay got every email the outbox marks sent, exactly once, to its recipient, and nothing else.
    arrived = message_ids(sink)
    sent = {row.message_id.strip("<>"): row for row in rows if row.state == "sent"}
    assert [m for m, n in Counter(arrived).items() if n > 1] == [], "an email reached the relay twice"
    assert set(arrived) == set(sent)
    assert all(rcpts == [sent[m].recipient] for m, (_, rcpts, _) in zip(arrived, sink.received))
    # Every row is accounted for: sent, or folded into a digest that was sent. Nothing waits for a
    # later hour: the storm's 900 "assigned" emails to two engineers and the week's breach alerts to
    # the escalation chain went as digests, which the hourly limit counts once each.
    by_id = {row.id: row for row in rows}
    assert [(r.kind, r.state, r.last_error) for r in rows
            if not (r.state == "sent" or r.state == "digested" and by_id[r.digest_id].state == "sent")] == []
    digests = Counter(row.recipient for row in sent.values() if row.kind == "digest")
    folded = Counter(by_id[row.digest_id].recipient for row in rows if row.state == "digested")
    # A week on, every ticket's response is late: the lead's alerts, one per ticket, all in digests.
    assert folded["team-lead@example.com"] >= ORIGINALS
    # One acknowledgement per original, to its sender (one sender per mail: the hourly limit never bites).
    acks = Counter(row.recipient for row in sent.values() if row.kind == "acknowledgement")
    assert acks == Counter(f"user{i}@acme.com" for i in range(ORIGINALS))
    # The jobs both instances ran at once produced emails, each sent once (above); each critical
    # ticket's customer got one status update, not one from each instance.
    by_jobs = Counter(row.kind for row in sent.values() if row.created_at >= as_of)
    assert sum(by_jobs.values()) > 0, "the jobs produced no email: the race was not tested"
    updates = Counter(row.recipient for row in sent.values() if row.kind == "status_update")
    assert updates == Counter(f"user{i}@acme.com" for i in range(0, ORIGINALS, CRITICAL_EVERY))

    print(f"\ntwo instances from {start_at.isoformat()}: {MAILS} mails, {tickets} tickets, {len(sent)} emails sent "
          f"({sum(acks.values())} acknowledgements; by the jobs at once {dict(by_jobs)}, "
          f"sent {' + '.join(str(run['sent']) for run in jobs)}); digests {dict(digests)} listing {dict(folded)}; "
          f"{finished - started:.0f} s (migrate+listen {migrated - started:.1f} s, "
          f"mail in and acknowledged {ingested - migrated:.1f} s, jobs and stop {finished - ingested:.1f} s)")

    # The hourly limit of automatic emails per address (outbound.max_auto_per_hour) across both
    # instances, on each clock (the serve processes' now, the jobs' as_of).
    # Each dispatcher counts and admits an email to one address under a lock on that address, so
    # two sending at once cannot both see room for the last one (it failed 9 runs in 13 before).
    limit = yaml.safe_load(compose_service(SERVICES[0]).config.read_text())["outbound"]["max_auto_per_hour"]
    per_hour: dict[tuple[str, str], Counter[str]] = {}
    for row in sent.values():
        if row.automatic:
            per_hour.setdefault((row.recipient, "jobs" if row.sent_at >= as_of else "serve"), Counter())[
                str(row.claimed_by)] += 1
    over = {key: dict(by) for key, by in per_hour.items() if sum(by.values()) > limit}
    assert over == {}, f"more than {limit} automatic emails in an hour, by sending process: {over}"


def _migrate(tmp_path: Path, db_url: str) -> None:
    """The compose file's `migrate` service, run to its end as compose runs it before the others."""
    where = Loopback(smtp_port=free_port(), http_port=free_port(), relay_host="127.0.0.1", relay_port=free_port())
    migrate = loopback_instance("migrate", tmp_path / "migrate", where, database_url=db_url)
    done = subprocess.run(migrate.argv, env=migrate.environment, cwd=ROOT, check=False, capture_output=True, text=True,
                          timeout=DEADLINE_SECONDS)
    assert done.returncode == 0, f"migrate exited {done.returncode}: {done.stderr}"


def _instances(tmp_path: Path, db_url: str, dovecot: Dovecot, relay_port: int, start_at: datetime
               ) -> tuple[list[ServeProcess], list[dict[str, str]]]:
    """Each compose service as a process: its command and environment, with the database and
    config overridden, its config config/docker.yaml moved to loopback plus the shared mailbox,
    and its clock starting at `start_at`."""
    mailbox = {"name": "shared", "host": dovecot.host, "port": dovecot.port, "tls": False, "username": "support",
               "password_env": MAILBOX_PASSWORD_ENV, "processed_folder": "Processed", "idle": True, "poll_seconds": 1}
    servers, envs = [], []
    for name in SERVICES:
        where = Loopback(smtp_port=free_port(), http_port=free_port(), relay_host="127.0.0.1", relay_port=relay_port,
                         imap=(mailbox,))
        instance = loopback_instance(name, tmp_path / name, where, database_url=db_url,
                                     extra={"INBOX_LOG_LEVEL": "WARNING", MAILBOX_PASSWORD_ENV: PASSWORD,
                                            TEST_CLOCK_ENV: start_at.isoformat()})
        servers.append(ServeProcess(instance.config, where.smtp_port, tmp_path / f"{name}.log",
                                    argv=instance.argv, env=instance.environment))
        envs.append(instance.environment)
    return servers, envs


def _id(local: str) -> str:
    return f"{local}@acme.com"


@dataclass(frozen=True)
class Mail:
    sender: str
    subject: str
    data: bytes


def _original(i: int, at: datetime) -> Mail:
    """Original i from its own sender (user{i}@acme.com, customer acme); every CRITICAL_EVERY-th
    reports an outage, which the default rules make critical: its customer is owed a status
    update every 24 hours, so the jobs run days later have emails to send whatever the weekday."""
    sender = f"user{i}@acme.com"
    subject = f"Production is down for order {i}" if i % CRITICAL_EVERY == 0 else f"Order {i} did not arrive"
    data = mail(sender=f"User {i} <{sender}>", subject=subject, message_id=f"<{_id(f'orig-{i}')}>",
                body=f"{subject}.\n", date=at)
    return Mail(sender, subject, data)


def _replied(j: int) -> int:
    """The original reply j answers: spread over both listeners' and the mailbox's originals."""
    return j * (ORIGINALS // REPLIES)


def _reply(j: int, original: Mail, at: datetime) -> Mail:
    """Reply j, from the original's sender, threaded by In-Reply-To and References (no tracking number)."""
    parent, subject = f"<{_id(f'orig-{_replied(j)}')}>", f"Re: {original.subject}"
    return Mail(original.sender, subject, mail(sender=original.sender, subject=subject,
                                               message_id=f"<{_id(f'reply-{j}')}>", in_reply_to=parent,
                                               references=parent, body="Any news?\n", date=at))


def _send_over(servers: list[ServeProcess], mails: list[Mail]) -> None:
    """Alternate the mails over the instances' listeners, several SMTP sessions on each at once."""
    batches: list[tuple[int, list[Mail]]] = []
    for n, server in enumerate(servers):
        assert server.smtp_port is not None
        mine = mails[n::len(servers)]
        batches += [(server.smtp_port, mine[k::CONNECTIONS_PER_LISTENER]) for k in range(CONNECTIONS_PER_LISTENER)]
    with ThreadPoolExecutor(len(batches)) as pool:
        list(pool.map(lambda batch: _send(*batch), batches))


def _send(port: int, mails: list[Mail]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for one in mails:
            client.sendmail(one.sender, ["support@example.com"], one.data)


def _run_jobs_at_once(envs: list[dict[str, str]], as_of: datetime, tmp_path: Path) -> list[dict[str, int]]:
    """`inbox jobs run-once --as-of` on each instance's config, both started together; their counts."""
    argv = ["inbox", "jobs", "run-once", "--as-of", as_of.isoformat(timespec="seconds"), "--json"]
    logs = [tmp_path / f"jobs-{n + 1}.log" for n in range(len(envs))]
    procs = []
    for env, log in zip(envs, logs):
        with log.open("wb") as err:
            procs.append(subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err))
    outs = [proc.communicate(timeout=DEADLINE_SECONDS)[0].decode(errors="replace") for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * len(procs), [log.read_text()[-2000:] for log in logs]
    return [json.loads(out) for out in outs]


def _wait(servers: list[ServeProcess], condition: Callable[[], bool], message: str, engine: Engine) -> None:
    if not servers[0].wait_until(condition, DEADLINE_SECONDS):
        with engine.connect() as conn:
            raw = dict(conn.execute(select(RawMessage.state, func.count()).group_by(RawMessage.state)).all())
            out = dict(conn.execute(select(OutboxRow.state, func.count()).group_by(OutboxRow.state)).all())
        logs = "\n".join(f"--- {s.log.name}\n{s.log.read_text(errors='replace')[-1500:]}" for s in servers)
        pytest.fail(f"{message}: raw {raw}, outbox {out}, incoming {_ingested(engine)}\n{logs}")


def _ingested(engine: Engine) -> int:
    """Incoming ticket messages, once nothing is left in the raw queue (else -1)."""
    with engine.connect() as conn:
        waiting = conn.execute(select(func.count()).select_from(RawMessage)
                               .where(RawMessage.state != "processed")).scalar_one()
        if waiting:
            return -1
        return int(conn.execute(select(func.count()).select_from(TicketMessage)
                                .where(TicketMessage.direction == "in")).scalar_one())


def _drained(engine: Engine) -> bool:
    """Every outbox row is sent or held back by the hourly limit, or folded into a digest that is
    (the relay never fails here)."""
    rows = _outbox(engine)
    done = {row.id for row in rows if row.state == "sent" or _is_held_back(row)}
    return all(row.id in done or row.state == "digested" and row.digest_id in done for row in rows)


def _outbox(engine: Engine) -> list[OutboxRow]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.execute(select(OutboxRow)).scalars())


def _is_held_back(row: OutboxRow) -> bool:
    """A staff email deferred by the hourly limit without an attempt (outbox.defer refunds it)."""
    return row.state == "retry" and row.audience == "staff" and row.automatic and row.attempts == 0
