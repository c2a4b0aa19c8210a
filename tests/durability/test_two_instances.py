"""Two `inbox serve` processes on one PostgreSQL pulling one mailbox make no duplicate tickets."""

from __future__ import annotations

import mailbox
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inbox.store.db import make_engine
from inbox.store.tables import OutboxRow, RawMessage, TicketMessage
from tests.dovecot import PASSWORD, running_dovecot
from tests.durability.serve import ServeProcess, free_port
from tests.fakes import mail, write_config

MESSAGES = 200
DEADLINE_SECONDS = 180
PASSWORD_ENV = "INBOX_TEST_IMAP_PASSWORD"


def test_two_servers_one_mailbox_one_ticket_each(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both servers run at once (lease per mailbox, plus dedupe): every message is exactly one ticket message."""
    db_url = pg_url
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with running_dovecot() as dovecot:
        dovecot.append([mail(message_id=f"<two-{i}@acme.com>", subject=f"two {i}") for i in range(MESSAGES)])
        servers = []
        for n in range(2):
            smtp_port = free_port()  # listening on it means started, signal handlers in place
            home = tmp_path / f"server{n}"
            home.mkdir()
            config = write_config(home, db_url, extra=f"""
                smtp: {{host: 127.0.0.1, port: {smtp_port}}}
                http: {{host: 127.0.0.1, port: {free_port()}}}
                imap:
                  - {{name: main, host: {dovecot.host}, port: {dovecot.port}, tls: false, username: support,
                     password_env: {PASSWORD_ENV}, processed_folder: Processed, idle: true, poll_seconds: 1}}
                """)
            servers.append(ServeProcess(config, smtp_port, tmp_path / f"serve{n}.log"))
        engine = make_engine(db_url)
        try:
            for server in servers:
                server.start()
            first = servers[0]
            assert first.wait_until(lambda: not dovecot.uids("INBOX"), DEADLINE_SECONDS)
            assert first.wait_until(lambda: _done(engine) >= MESSAGES, DEADLINE_SECONDS), "queue never drained"
            assert first.wait_until(lambda: _unsent(engine) == 0, DEADLINE_SECONDS), "outbox never drained"
            assert [server.terminate() for server in servers] == [0, 0]
            with engine.connect() as conn:
                per_id = dict(conn.execute(
                    select(TicketMessage.message_id, func.count()).where(TicketMessage.direction == "in")
                    .group_by(TicketMessage.message_id)).all())
        finally:
            for server in servers:
                server.kill()
            engine.dispose()
    assert set(per_id) == {f"two-{i}@acme.com" for i in range(MESSAGES)}
    assert set(per_id.values()) == {1}
    # Both servers ran the scheduled jobs on one outbox: no acknowledgement went out twice, and
    # the hourly limit held across both (every mail came from alice).
    sent = Counter(m["Message-ID"] for n in range(2) for m in mailbox.Maildir(tmp_path / f"server{n}" / "sent"))
    assert len(sent) == 5 and set(sent.values()) == {1}


def _unsent(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboxRow)
                                .where(OutboxRow.state.in_(("pending", "sending", "retry")))).scalar_one())


def _done(engine) -> int:
    with engine.connect() as conn:
        pending = conn.execute(select(func.count()).select_from(RawMessage).where(RawMessage.state != "processed")).scalar_one()
        tickets = conn.execute(select(func.count()).select_from(TicketMessage)
                               .where(TicketMessage.direction == "in")).scalar_one()
    return 0 if pending else int(tickets)
