"""PostgreSQL stops during SMTP deliveries, then comes back, and `inbox serve` is never restarted.

The database is a private server of this test (tests/reliability/pg_private.py), so stopping it
crash-like (`pg_ctl -m immediate`) leaves the shared one alone. While it is down every message is
refused with a 4xx (451: the sender keeps it and retries), nothing is half-stored, the process
stays up and /healthz says 503. After the restart the senders retry, new mail comes in, and every
message becomes exactly one ticket with its acknowledgement sent, with no restart of the service.
"""

from __future__ import annotations

import json
import mailbox
import smtplib
import urllib.error
import urllib.request
from collections import Counter
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import func, select

from inbox.store.db import make_engine
from inbox.store.tables import OutboxRow, RawData, RawMessage, Ticket, TicketMessage
from tests.durability.serve import ServeProcess, free_port
from tests.fakes import mail, write_config
from tests.reliability.pg_private import PrivatePostgres, private_postgres

BEFORE, WHILE_DOWN, NEW_AFTER = 50, 20, 30
DEADLINE_SECONDS = 30


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """This test's own PostgreSQL, which it may stop: never the shared server of the other tests."""
    with private_postgres() as pg:
        yield pg


def _mail(i: int) -> tuple[str, bytes]:
    # One sender each: the hourly limit on automatic emails to one address stays out of the way.
    return f"user{i}@acme.com", mail(message_id=f"<dbdown-{i}@acme.com>", subject=f"db down {i}",
                                     sender=f"user{i}@acme.com")


def _send(port: int, i: int) -> tuple[int, str]:
    """One delivery, on a connection of its own: the final reply code and text. A refusal at any
    step (greeting, MAIL, RCPT, DATA) is reported by its code; no reply at all is code 0."""
    sender, data = _mail(i)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=15) as client:
            client.sendmail(sender, ["support@example.com"], data)
        return 250, "OK"
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        return code, text.decode(errors="replace")
    except smtplib.SMTPResponseException as exc:  # SMTPDataError, SMTPSenderRefused, connect errors
        return exc.smtp_code, exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    except (OSError, smtplib.SMTPException) as exc:
        return 0, f"{type(exc).__name__}: {exc}"


def _message_id(data: bytes) -> str:
    return str(BytesHeaderParser().parsebytes(data)["Message-ID"]).strip().strip("<>")


def _healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError as exc:
        return 0, {"error": str(exc)}


def test_database_down_means_451_then_everything_flows_after_restart(private_pg: PrivatePostgres, tmp_path: Path) -> None:
    pg = private_pg
    smtp_port, http_port = free_port(), free_port()
    config = write_config(tmp_path, pg.url, extra=f"""
        smtp: {{host: 127.0.0.1, port: {smtp_port}}}
        http: {{host: 127.0.0.1, port: {http_port}}}
        """)
    server = ServeProcess(config, smtp_port, tmp_path / "serve.log")
    engine = make_engine(pg.url)
    try:
        server.start()
        assert server.wait_until(lambda: _healthz(http_port)[0] == 200, DEADLINE_SECONDS), _healthz(http_port)

        # 1. The database is up: every mail is stored.
        first = {i: _send(smtp_port, i) for i in range(BEFORE)}
        assert all(code == 250 for code, _ in first.values()), {i: r for i, r in first.items() if r[0] != 250}

        # 2. The database goes away, crash-like, in the middle of the ingest and the acknowledgements.
        pg.stop("immediate")
        down = list(range(BEFORE, BEFORE + WHILE_DOWN))
        refused = {i: _send(smtp_port, i) for i in down}
        codes = Counter(code for code, _ in refused.values())
        print(f"\nwhile down: replies {dict(codes)}; e.g. {next(iter(refused.values()))}")
        assert all(400 <= code < 500 for code, _ in refused.values()), refused  # never 250, never 5xx, never silence
        assert server.proc is not None and server.proc.poll() is None, "inbox serve died with its database"
        status, health = _healthz(http_port)
        assert status == 503 and str(health.get("database", "")).startswith("down"), (status, health)

        # 3. The database is back; the service is not restarted. Once it sees the database again,
        # the senders retry (as an MTA would) and new mail arrives: all of it is stored.
        pg.start()
        assert server.proc.poll() is None
        assert server.wait_until(lambda: _healthz(http_port)[0] == 200, DEADLINE_SECONDS), _healthz(http_port)
        # Before anyone retries: the refused messages left no row (the resend has the same bytes, and
        # so the same sha256, so it would hide a half-stored row by deduping onto it).
        with engine.connect() as conn:
            raw_before_resend = Counter(_message_id(data) for data in conn.execute(select(RawData.data)).scalars())
        half_stored = sum(raw_before_resend[f"dbdown-{i}@acme.com"] for i in down)
        after = {i: _send(smtp_port, i) for i in [*down, *range(BEFORE + WHILE_DOWN, BEFORE + WHILE_DOWN + NEW_AFTER)]}
        assert all(code == 250 for code, _ in after.values()), {i: r for i, r in after.items() if r[0] != 250}
        total = BEFORE + WHILE_DOWN + NEW_AFTER
        expected = {f"dbdown-{i}@acme.com" for i in range(total)}

        def settled() -> bool:
            with engine.connect() as conn:
                unfinished = conn.execute(select(func.count()).select_from(RawMessage)
                                          .where(RawMessage.state != "processed")).scalar_one()
                unsent = conn.execute(select(func.count()).select_from(OutboxRow)
                                      .where(OutboxRow.state != "sent")).scalar_one()
                messages = conn.execute(select(func.count()).select_from(TicketMessage)
                                        .where(TicketMessage.direction == "in")).scalar_one()
            return unfinished == 0 and unsent == 0 and messages >= total

        flowed = server.wait_until(settled, DEADLINE_SECONDS)
        with engine.connect() as conn:
            # What did not flow, if anything: rows left claimed, with who holds them and why.
            stuck = conn.execute(select(RawMessage.id, RawMessage.state, RawMessage.claimed_by, RawMessage.claimed_at,
                                        RawMessage.attempts, RawMessage.last_error)
                                 .where(RawMessage.state != "processed").order_by(RawMessage.id)).all()
            stuck_out = conn.execute(select(OutboxRow.id, OutboxRow.state, OutboxRow.claimed_by, OutboxRow.last_error)
                                     .where(OutboxRow.state != "sent").order_by(OutboxRow.id)).all()
        status, health = _healthz(http_port)

        # 4. Exactly one ticket message per Message-ID; nothing half-stored; every acknowledgement out.
        with engine.connect() as conn:
            per_id = dict(conn.execute(select(TicketMessage.message_id, func.count())
                                       .where(TicketMessage.direction == "in").group_by(TicketMessage.message_id)).all())
            raw_per_id = Counter(_message_id(data) for data in conn.execute(select(RawData.data)).scalars())
            raw_states = dict(conn.execute(select(RawMessage.state, func.count()).group_by(RawMessage.state)).all())
            tickets = conn.execute(select(func.count()).select_from(Ticket)).scalar_one()
            outbox_states = dict(conn.execute(select(OutboxRow.state, func.count()).group_by(OutboxRow.state)).all())
            ack_ids = set(conn.execute(select(OutboxRow.message_id).where(OutboxRow.kind == "acknowledgement")).scalars())
        assert server.proc.poll() is None
        assert server.terminate() == 0  # still a clean exit, the same process from the start
    finally:
        server.kill()
        engine.dispose()

    stored = {m.strip("<>") for m in per_id}
    lost = len(expected - set(raw_per_id))  # answered 250, and the bytes are not in the database
    not_ticketed = len(expected - stored)
    sent = Counter(str(m["Message-ID"]) for m in mailbox.Maildir(tmp_path / "sent"))
    print(f"database down: {len(refused)} refused with 451 while down, {len(after)} accepted after restart,"
          f" lost {lost}, half-stored {half_stored}" + (f" ({not_ticketed} stored but not yet a ticket)" if not_ticketed else ""))
    print(f"raw states {raw_states}, outbox states {outbox_states}, tickets {tickets}, acknowledgements in maildir"
          f" {len(sent)} (max copies of one: {max(sent.values(), default=0)})")
    assert set(codes) == {451}, codes
    assert status == 200, (status, health)
    assert half_stored == 0, raw_before_resend
    assert sum(raw_before_resend.values()) == BEFORE, raw_before_resend
    assert lost == 0 and set(raw_per_id) == expected and all(n == 1 for n in raw_per_id.values()), raw_per_id
    assert flowed and not stuck and not stuck_out, (
        f"{not_ticketed} messages answered 250 are not tickets {DEADLINE_SECONDS} s after the database came back"
        f" (raw states {raw_states}, outbox states {outbox_states}). Rows still claimed by the live `inbox serve`"
        f" wait out rawqueue.CLAIM_TIMEOUT / outbox.CLAIM_TIMEOUT (10 min): raw {stuck[:3]}... outbox {stuck_out[:3]}")
    assert stored == expected, (sorted(expected - stored)[:5], sorted(stored - expected)[:5])
    assert all(n == 1 for n in per_id.values()), {k: n for k, n in per_id.items() if n != 1}
    assert tickets == total
    assert raw_states == {"processed": total}
    assert outbox_states == {"sent": tickets}
    assert {f"<{m.strip('<>')}>" for m in ack_ids} == set(sent), "an acknowledgement missing from the maildir"
    assert len(sent) == tickets
