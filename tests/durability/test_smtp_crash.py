"""Crash test: mail sent over SMTP while `inbox serve` is killed with SIGKILL and restarted.

Afterwards every message that received 250 is stored and became exactly one
ticket message. A sender that got no answer retries, as an MTA does; the
retried copy is the same Message-ID, so it never makes a second ticket.
"""

from __future__ import annotations

import random
import smtplib
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from inbox.store.db import make_engine
from inbox.store.tables import RawMessage, TicketMessage
from tests.durability.serve import ServeProcess, free_port
from tests.fakes import mail, write_config

MESSAGES = 500
KILLS = 5
DEADLINE_SECONDS = 240


def _send_all(port_of, accepted: list[str], stop: threading.Event) -> None:
    """Send every message until it gets a 250, reconnecting whenever the server is gone."""
    for i in range(MESSAGES):
        message_id = f"<crash-{i}@acme.com>"
        data = mail(message_id=message_id, subject=f"crash {i}", sender="alice@acme.com")
        while not stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", port_of(), timeout=10) as client:
                    client.sendmail("alice@acme.com", ["support@example.com"], data)
                accepted.append(message_id.strip("<>"))
                break
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)  # the server is restarting: an MTA would retry later


def test_every_250_survives_sigkill(db_url: str, tmp_path: Path) -> None:
    """500 mails, the server SIGKILLed 5 times at random moments: each 250'd mail is exactly one ticket message."""
    smtp_port, http_port = free_port(), free_port()
    config = write_config(tmp_path, db_url, extra=f"""
        smtp: {{host: 127.0.0.1, port: {smtp_port}}}
        http: {{host: 127.0.0.1, port: {http_port}}}
        """)
    server = ServeProcess(config, smtp_port, tmp_path / "serve.log")
    server.start()
    accepted: list[str] = []
    stop = threading.Event()
    sender = threading.Thread(target=_send_all, args=(lambda: smtp_port, accepted, stop), daemon=True)
    sender.start()
    rng = random.Random(1)
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.5))
            server.kill()
            server.start()
        sender.join(DEADLINE_SECONDS)
        assert not sender.is_alive(), "the sender did not finish in time"
        engine = make_engine(db_url)
        try:
            assert server.wait_until(lambda: _pending(engine) == 0, DEADLINE_SECONDS), "queue never drained"
            with engine.connect() as conn:
                stored = set(conn.execute(select(TicketMessage.message_id).where(TicketMessage.direction == "in")).scalars())
                per_id = dict(conn.execute(select(TicketMessage.message_id, func.count()).where(TicketMessage.direction == "in")
                    .group_by(TicketMessage.message_id)).all())
        finally:
            engine.dispose()
        assert server.terminate() == 0  # SIGTERM: a clean exit
    finally:
        stop.set()
        server.kill()
    assert len(accepted) == MESSAGES
    assert set(accepted) <= stored, sorted(set(accepted) - stored)[:5]
    assert all(n == 1 for n in per_id.values())


def _pending(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(RawMessage).where(RawMessage.state != "processed")).scalar_one())


