"""Crash tests: `inbox serve` pulling a Dovecot mailbox is SIGKILLed at random moments, also
between storing a message and moving it. Afterwards the mailbox is empty, every message
is in the processed folder, and each became exactly one ticket message. And the next start
takes the dead process's lease on the mailbox back at once: new mail is a ticket within one
poll interval, not after the lease (max(120 s, 3 x poll_seconds)) has run out.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inbox.store.db import make_engine
from inbox.store.tables import RawMessage, TicketMessage
from tests.dovecot import PASSWORD, running_dovecot
from tests.durability.serve import ServeProcess, free_port
from tests.fakes import mail, write_config
from tests.reliability.imap_relay import Fault, Relay

MESSAGES = 300
KILLS = 5
DEADLINE_SECONDS = 240
PASSWORD_ENV = "INBOX_TEST_IMAP_PASSWORD"
LEFT_MID_PULL = 100  # two FETCH batches
HELD_AFTER_BYTES = 15_000  # of the server's answers: inside the first FETCH (a mail is about 350 bytes)
POLL_SECONDS = 20  # a poll interval well below the 120 s lease the old code waited out


def test_every_pulled_message_survives_sigkill(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """300 mails in IMAP, the server SIGKILLed 5 times: inbox empty, each message exactly one ticket message."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)  # the serve subprocess inherits it
    with running_dovecot() as dovecot:
        dovecot.append([mail(message_id=f"<imap-{i}@acme.com>", subject=f"imap {i}") for i in range(MESSAGES)])
        smtp_port = free_port()  # listening on it means started, signal handlers in place
        config = write_config(tmp_path, db_url, extra=f"""
            smtp: {{host: 127.0.0.1, port: {smtp_port}}}
            http: {{host: 127.0.0.1, port: {free_port()}}}
            imap:
              - {{name: main, host: {dovecot.host}, port: {dovecot.port}, tls: false, username: support,
                 password_env: {PASSWORD_ENV}, processed_folder: Processed, idle: true, poll_seconds: 1}}
            """)
        server = ServeProcess(config, smtp_port, tmp_path / "serve.log")
        rng = random.Random(2)
        engine = make_engine(db_url)
        try:
            for _ in range(KILLS):
                server.start()
                # Kill once some mail has been pulled, at a random moment of the run.
                server.wait_until(lambda: _count(engine, RawMessage) > 0, 30)
                time.sleep(rng.uniform(0.05, 0.6))
                server.kill()
            server.start()
            assert server.wait_until(lambda: not dovecot.uids("INBOX"), DEADLINE_SECONDS), server.log.read_text()[-2000:]
            assert server.wait_until(lambda: _pending(engine) == 0 and _count(engine, TicketMessage) >= MESSAGES,
                                     DEADLINE_SECONDS), "queue never drained"
            assert server.terminate() == 0
            with engine.connect() as conn:
                per_id = dict(conn.execute(
                    select(TicketMessage.message_id, func.count()).where(TicketMessage.direction == "in")
                    .group_by(TicketMessage.message_id)).all())
        finally:
            server.kill()
            engine.dispose()
        processed = dovecot.uids("Processed")
    assert set(per_id) == {f"imap-{i}@acme.com" for i in range(MESSAGES)}
    assert set(per_id.values()) == {1}
    assert len(processed) >= MESSAGES  # a copy moved twice is possible only if MOVE failed midway


def test_after_sigkill_mid_pull_new_mail_is_a_ticket_within_one_poll_interval(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGKILLed in the middle of a FETCH, started again: a mail that came meanwhile is a ticket within
    one poll interval of the restart, because the dead process's lease on the mailbox is taken back at once."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with running_dovecot() as dovecot:
        dovecot.append([mail(message_id=f"<left-{i}@acme.com>", subject=f"left {i}") for i in range(LEFT_MID_PULL)])
        relay = Relay((dovecot.host, dovecot.port))  # holds the server's answer mid-FETCH, so the kill lands there
        smtp_port = free_port()
        config = write_config(tmp_path, db_url, extra=f"""
            smtp: {{host: 127.0.0.1, port: {smtp_port}}}
            http: {{host: 127.0.0.1, port: {free_port()}}}
            imap:
              - {{name: main, host: 127.0.0.1, port: {relay.port}, tls: false, username: support,
                 password_env: {PASSWORD_ENV}, processed_folder: Processed, idle: true,
                 poll_seconds: {POLL_SECONDS}}}
            """)
        server = ServeProcess(config, smtp_port, tmp_path / "serve.log")
        engine = make_engine(db_url)
        held = Fault("hold", after=HELD_AFTER_BYTES)
        try:
            relay.arm(held)
            server.start()
            relay.wait(lambda: held.fired.is_set(), "the first FETCH held mid-answer", 30)
            server.kill()
            held.resume.set()
            assert len(dovecot.uids("INBOX")) == LEFT_MID_PULL  # killed during the pull: nothing moved yet
            dovecot.append([mail(message_id="<while-down@acme.com>", subject="sent while it was down")])
            restarted = time.monotonic()
            server.start()
            left = POLL_SECONDS - (time.monotonic() - restarted)  # the interval counts from the launch
            became_ticket = server.wait_until(lambda: _has_message(engine, "while-down@acme.com"), left)
            assert became_ticket, f"not a ticket within {POLL_SECONDS} s: {server.log.read_text()[-2000:]}"
            print(f"new mail a ticket {time.monotonic() - restarted:.1f} s after the restart")
            assert server.terminate() == 0
        finally:
            server.kill()
            relay.close()
            engine.dispose()
    assert "took the lease back" in server.log.read_text()


def _has_message(engine, message_id: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(select(TicketMessage.id).where(TicketMessage.message_id == message_id)).first()
        return found is not None


def _count(engine, table) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(table)
        if table is TicketMessage:
            stmt = stmt.where(TicketMessage.direction == "in")  # not our acknowledgements
        return int(conn.execute(stmt).scalar_one())


def _pending(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(RawMessage).where(RawMessage.state != "processed")).scalar_one())
