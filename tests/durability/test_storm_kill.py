"""Crash test during a storm: mail pours in over several connections while `inbox serve` (split
into its processes, the outbox sending in batches) is SIGKILLed as a whole and restarted.

Receiving, ingesting and sending all run at once here, so each kill lands in the middle of all
three. Afterwards every mail that got a 250 is exactly one ticket, every ticket's acknowledgement
went out, and an acknowledgement went twice only where a kill fell between its handing to the
relay and its record: at most RECORD_GROUP per kill (the sender records its emails that many at a
time, as the relay answers), each time with the same Message-ID.
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

MESSAGES = 400
CONNECTIONS = 4
KILLS = 3
BOUND = 240.0  # seconds: a bound on a hang, not a deadline


def _deliver(port: int, numbers: list[int], accepted: list[str], stop: threading.Event) -> None:
    """One connection's share, as an MTA sends it: kept open, reopened whenever the server is gone,
    each mail again until it gets its 250."""
    client: smtplib.SMTP | None = None
    for i in numbers:
        data = mail(message_id=f"<storm-{i}@acme.com>", subject=f"down {i}", sender=f"user{i}@acme.com")
        while not stop.is_set():
            try:
                if client is None:
                    client = smtplib.SMTP("127.0.0.1", port, timeout=10)
                client.sendmail(f"user{i}@acme.com", ["support@example.com"], data)
                accepted.append(f"storm-{i}@acme.com")
                break
            except (OSError, smtplib.SMTPException):
                client = None
                time.sleep(0.05)  # the server is restarting: an MTA would retry later
    if client is not None:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            pass


def test_sigkill_during_a_storm_loses_nothing_and_sends_at_most_a_record_group_twice_per_kill(db_url: str, tmp_path: Path) -> None:
    smtp_port = free_port()
    config = write_config(tmp_path, db_url, extra=f"""
        smtp: {{host: 127.0.0.1, port: {smtp_port}}}
        http: {{host: 127.0.0.1, port: {free_port()}}}
        """)
    server = ServeProcess(config, smtp_port, tmp_path / "serve.log")
    server.start()
    accepted: list[str] = []
    stop = threading.Event()
    senders = [threading.Thread(target=_deliver, args=(smtp_port, list(range(c, MESSAGES, CONNECTIONS)), accepted, stop),
                                daemon=True) for c in range(CONNECTIONS)]
    for thread in senders:
        thread.start()
    rng = random.Random(20)
    engine = make_engine(db_url)
    kills_while_sending = 0
    try:
        for _ in range(KILLS):
            # Each kill once tickets are being made and acknowledged: the storm is in all three roles.
            seen = _sent(engine)
            assert server.wait_until(lambda: _sent(engine) > seen, BOUND), "nothing was sent between kills"
            time.sleep(rng.uniform(0.0, 0.5))
            kills_while_sending += _unsent(engine) > 0
            server.kill()
            server.start()
        for thread in senders:
            thread.join(BOUND)
        assert not any(thread.is_alive() for thread in senders), "the mail was not all delivered in time"
        assert server.wait_until(lambda: _pending(engine) == 0 and _unsent(engine) == 0, BOUND), "never drained"
        with engine.connect() as conn:
            per_id = dict(conn.execute(select(TicketMessage.message_id, func.count())
                                       .where(TicketMessage.direction == "in").group_by(TicketMessage.message_id)).all())
            tickets = conn.execute(select(func.count()).select_from(Ticket)).scalar_one()
        assert server.terminate() == 0
    finally:
        stop.set()
        server.kill()
        engine.dispose()
    acks = Counter(str(m["Message-ID"]) for m in mailbox.Maildir(tmp_path / "sent"))
    twice = sum(n - 1 for n in acks.values())
    print(f"\nstorm of {MESSAGES} over {CONNECTIONS} connections, {KILLS} SIGKILLs ({kills_while_sending} with emails"
          f" unsent): lost {len(set(accepted) - set(per_id))}, duplicate tickets {tickets - len(per_id)},"
          f" emails sent twice {twice} of {len(acks)}")
    assert len(set(accepted)) == MESSAGES
    assert set(accepted) <= set(per_id), sorted(set(accepted) - set(per_id))[:5]
    assert all(n == 1 for n in per_id.values()) and tickets == len(per_id) == MESSAGES
    assert len(acks) == MESSAGES
    assert twice <= RECORD_GROUP * KILLS


def _pending(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(RawMessage).where(RawMessage.state != "processed")).scalar_one())


def _unsent(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboxRow)
                                .where(OutboxRow.state.in_(("pending", "sending", "retry")))).scalar_one())


def _sent(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "sent")).scalar_one())
