"""Crash test: mail sent over SMTP while `inbox serve` is killed with SIGKILL and restarted, five
rounds during the deliveries (each at a random number of mails accepted, so all five land while
mail comes in) and five more while it sends the acknowledgements.

Afterwards every message that received 250 is stored and became exactly one ticket, and every
ticket's acknowledgement was sent. A sender that got no answer retries, as an MTA does; the
retried copy is the same Message-ID, so it never makes a second ticket. An acknowledgement whose
write reached the maildir just before a kill goes again (same Message-ID): that figure is printed.
"""

from __future__ import annotations

import mailbox
import random
import smtplib
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from autoresponder.dispatch import RECORD_GROUP
from inbox.store.db import make_engine
from inbox.store.tables import OutboxRow, RawMessage, Ticket, TicketMessage
from tests.durability.serve import ServeProcess, free_port
from tests.fakes import mail, write_config

MESSAGES = 500
KILLS = 5
SHARE = MESSAGES // (KILLS + 1)  # kill k falls in the second half of the (k+1)-th sixth of the deliveries
DEADLINE_SECONDS = 240


def _send_all(port_of, accepted: list[str], stop: threading.Event) -> None:
    """Send every message until it gets a 250, reconnecting whenever the server is gone."""
    for i in range(MESSAGES):
        message_id = f"<crash-{i}@acme.com>"
        # One sender each: the hourly limit on automatic emails to one address stays out of the way.
        data = mail(message_id=message_id, subject=f"crash {i}", sender=f"user{i}@acme.com")
        while not stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", port_of(), timeout=10) as client:
                    client.sendmail(f"user{i}@acme.com", ["support@example.com"], data)
                accepted.append(message_id.strip("<>"))
                break
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)  # the server is restarting: an MTA would retry later


def test_every_250_survives_sigkill(db_url: str, tmp_path: Path) -> None:
    """500 mails, the server SIGKILLed 5 times during the deliveries and 5 times while sending:
    each 250'd mail is exactly one ticket, and each ticket's acknowledgement went out."""
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
    engine = make_engine(db_url)
    try:
        for k in range(KILLS):
            # At a random count of accepted mails, not after a random time: on any machine's pace every
            # kill lands while mail is coming in (a timed kill could come after the last 250).
            mark = k * SHARE + rng.randint(SHARE // 2, SHARE)
            assert server.wait_until(lambda: len(accepted) >= mark, DEADLINE_SECONDS), "the deliveries stalled"
            assert sender.is_alive()
            server.kill()
            server.start()
        sender.join(DEADLINE_SECONDS)
        assert not sender.is_alive(), "the sender did not finish in time"
        assert server.wait_until(lambda: _pending(engine) == 0, DEADLINE_SECONDS), "queue never drained"
        kills_while_sending = 0
        for _ in range(KILLS):  # the acknowledgements are going out now, one scheduler turn at a time
            time.sleep(rng.uniform(0.1, 1.0))
            kills_while_sending += _unsent(engine) > 0
            server.kill()
            server.start()
        assert server.wait_until(lambda: _unsent(engine) == 0, DEADLINE_SECONDS), "the outbox never drained"
        with engine.connect() as conn:
            stored = set(conn.execute(select(TicketMessage.message_id).where(TicketMessage.direction == "in")).scalars())
            per_id = dict(conn.execute(select(TicketMessage.message_id, func.count()).where(TicketMessage.direction == "in")
                .group_by(TicketMessage.message_id)).all())
            tickets = conn.execute(select(func.count()).select_from(Ticket)).scalar_one()
        assert server.terminate() == 0  # SIGTERM: a clean exit
    finally:
        stop.set()
        server.kill()
        engine.dispose()
    acks = Counter(str(m["Message-ID"]) for m in mailbox.Maildir(tmp_path / "sent"))
    twice = sum(n - 1 for n in acks.values())
    print(f"\nSIGKILL rounds: {KILLS} during {MESSAGES} deliveries, {KILLS} while sending ({kills_while_sending}"
          f" with emails unsent); lost {len(set(accepted) - stored)}, duplicate tickets {tickets - len(stored)},"
          f" emails sent twice {twice} of {len(acks)}")
    assert len(accepted) == MESSAGES
    assert set(accepted) <= stored, sorted(set(accepted) - stored)[:5]
    assert all(n == 1 for n in per_id.values()) and tickets == len(stored) == MESSAGES
    assert len(acks) == MESSAGES  # every acknowledgement went out, none lost to a kill
    assert twice <= RECORD_GROUP * 2 * KILLS  # at most the emails in flight (not yet recorded) at each kill


def _pending(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(RawMessage).where(RawMessage.state != "processed")).scalar_one())




def _unsent(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboxRow)
                                .where(OutboxRow.state.in_(("pending", "sending", "retry")))).scalar_one())
