"""The compose deployment's desk a week on, in process, at every fixed instant of tests/instants.py.

tests/durability/test_two_instances.py proves two `inbox serve` processes of docker-compose.yml on
one database (1,000 mails, then `jobs run-once` on both at once a week later), at one instant: it
takes half a minute a run. What the instant changes is what falls due in that week (business hours,
weekends, holidays, the DST night): how many breach alerts, status updates and digests the jobs
owe, and whether the hourly limit holds them back. That is proved here at every instant, on the
same config (config/docker.yaml, only its addresses moved to loopback) and the same mails, in one
process on SQLite and PostgreSQL: before digests this failed at Sunday 23:00 UTC with breach alerts
deferred by the hourly limit and never sent.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from autoresponder.transport import MemoryTransport
from inbox.app import build_app
from inbox.clock import FixedClock
from inbox.rawstore import RawItem
from inbox.settings import load_settings
from inbox.store.tables import OutboxRow
from tests.durability.compose_kit import (
    ROOT,
    Loopback,
    compose_service,
    loopback_config,
)
from tests.fakes import mail

ORIGINALS = 100
REPLIES = 10
CRITICAL_EVERY = 10  # as in the two-instance test: "Production is down" makes a ticket critical
JOBS_AFTER = timedelta(days=7)


def test_a_week_on_every_email_the_compose_desk_owes_is_sent_within_its_hourly_limit(
        db_url: str, tmp_path: Path, start_at: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mail arrives at `start_at` and is acknowledged; a week on, the jobs leave nothing due and every
    outbox row is sent or folded into a sent digest: one status update to each critical ticket's
    customer, every ticket's late response in the lead's digests, no address over the hourly limit."""
    service = compose_service("inbox-1")
    config = loopback_config(service.config, tmp_path / "docker.yaml",
                             Loopback(smtp_port=2525, http_port=8025, relay_host="127.0.0.1", relay_port=1025))
    document = yaml.safe_load(config.read_text())
    document["templates"] = {**document["templates"], "dir": str(ROOT / "templates")}
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    for name in ("INBOX_SECRET", "INBOX_ADMIN_TOKEN"):  # the secrets, as the compose file passes them
        monkeypatch.setenv(name, service.environment[name])
    monkeypatch.setenv("INBOX_DATABASE_URL", db_url)
    clock = FixedClock(start_at)
    app = build_app(load_settings(config), clock)
    transport = MemoryTransport()
    try:
        outbound, worker = app.outbound(transport), app.worker(clock=clock)
        originals = [_original(i, start_at) for i in range(ORIGINALS)]
        replies = [_reply(j, start_at) for j in range(REPLIES)]
        for batch in (originals, replies):  # the replies once their originals are tickets
            refs = app.rawstore.put_many([RawItem(data, "test") for data in batch])
            worker.drain([ref.id for ref in refs])
        outbound.run_once(start_at)
        as_of = start_at + JOBS_AFTER
        clock.set(as_of)
        done = outbound.run_once(as_of)
        with app.sessions() as session:
            rows = list(session.execute(select(OutboxRow)).scalars())
    finally:
        app.close()

    assert (done.get("waiting", 0), done.get("left", 0)) == (0, 0), done
    by_id = {row.id: row for row in rows}
    assert [(r.kind, r.state, r.last_error) for r in rows
            if not (r.state == "sent" or r.state == "digested" and by_id[r.digest_id].state == "sent")] == []
    sent = [row for row in rows if row.state == "sent"]
    assert len(transport.sent) == len(sent)
    acks = Counter(row.recipient for row in sent if row.kind == "acknowledgement")
    assert acks == Counter(f"user{i}@acme.com" for i in range(ORIGINALS))
    assert sum(row.created_at >= as_of for row in sent) > 0, "the jobs a week on owed no email"
    updates = Counter(row.recipient for row in sent if row.kind == "status_update")
    assert updates == Counter(f"user{i}@acme.com" for i in range(0, ORIGINALS, CRITICAL_EVERY))
    folded = Counter(by_id[row.digest_id].recipient for row in rows if row.state == "digested")
    assert folded["team-lead@example.com"] >= ORIGINALS
    limit = yaml.safe_load(config.read_text())["outbound"]["max_auto_per_hour"]
    per_hour = Counter((row.recipient, row.sent_at >= as_of) for row in sent if row.automatic)
    assert {key: n for key, n in per_hour.items() if n > limit} == {}


def _original(i: int, at: datetime) -> bytes:
    subject = f"Production is down for order {i}" if i % CRITICAL_EVERY == 0 else f"Order {i} did not arrive"
    return mail(sender=f"User {i} <user{i}@acme.com>", subject=subject, message_id=f"<orig-{i}@acme.com>",
                body=f"{subject}.\n", date=at)


def _reply(j: int, at: datetime) -> bytes:
    """Reply j, to an original spread over the range, threaded by In-Reply-To and References."""
    i = j * (ORIGINALS // REPLIES)
    parent = f"<orig-{i}@acme.com>"
    return mail(sender=f"user{i}@acme.com", subject="Re: any news?", message_id=f"<reply-{j}@acme.com>",
                in_reply_to=parent, references=parent, body="Any news?\n", date=at)
