"""The outbox works a claim as one batch: decided together, sent over one connection, recorded together.

On a frozen clock and a real database (SQLite and PostgreSQL), on the config kit of tests/sla_kit.py
(max_auto_per_hour 3). Each test queues fewer emails than `dispatch.BATCH`, so one claim takes them all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

import inbox.tickets
from autoresponder import dispatch
from autoresponder.transport import SmtpTransport
from inbox.store import suppression
from tests.fakes import mail
from tests.integration.test_transport import free_port
from tests.sla_kit import T0, Desk


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    desk = Desk(tmp_path, db_url)
    yield desk
    desk.close()


def to_each(desk: Desk) -> Counter[str]:
    return Counter(str(m["To"]) for m in desk.sent())


def test_one_batch_keeps_each_addresses_hourly_limit_apart(desk: Desk) -> None:
    """Alice's five new tickets and Bob's three, interleaved, in one claim: each gets the limit of three
    acknowledgements, Alice's last two are skipped, none of Bob's (his count is his own)."""
    limit = desk.app.settings.outbound.max_auto_per_hour
    senders = ["alice@acme.com", "bob@acme.com"] * limit + ["alice@acme.com"] * 2
    assert len(senders) < dispatch.BATCH
    for n, sender in enumerate(senders):
        desk.feed(mail(sender=sender, message_id=f"<b{n}@acme.com>", subject=f"problem {n}"))
    done = desk.run(T0)
    assert (done["sent"], done["skipped"]) == (2 * limit, 2)
    assert to_each(desk) == {"alice@acme.com": limit, "bob@acme.com": limit}
    alices = [f"<b{n}@acme.com>" for n, sender in enumerate(senders) if sender == "alice@acme.com"]
    answered = [str(m["In-Reply-To"]) for m in desk.sent() if m["To"] == "alice@acme.com"]
    assert answered == alices[:limit]  # the first three, in the order queued


def test_a_suppressed_address_in_a_batch_is_skipped_and_the_others_are_sent(desk: Desk) -> None:
    """Four acknowledgements in one claim, one to an address a bounce suppressed: that one is skipped
    (with its event, saying why), the three others go."""
    for n in range(4):
        desk.feed(mail(sender=f"user{n}@acme.com", message_id=f"<s{n}@acme.com>", subject=f"case {n}"))
    with desk.app.sessions() as session, session.begin():
        assert suppression.suppress(session, "user2@acme.com", "bounced: mailbox full", T0, None)
    done = desk.run(T0)
    assert (done["sent"], done["skipped"]) == (3, 1)
    assert sorted(to_each(desk)) == ["user0@acme.com", "user1@acme.com", "user3@acme.com"]
    [skipped] = desk.events("SUP-000003", kind="notice_skipped")
    assert "suppressed" in skipped.detail["why"]


def test_an_email_whose_record_fails_is_sent_again_with_its_message_id_and_the_others_recorded(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recording one email of a batch fails: the others are recorded sent, that one goes back for a
    retry and is sent once more, with the same Message-ID and bytes: sent twice, never lost."""
    for n in range(3):
        desk.feed(mail(sender=f"user{n}@acme.com", message_id=f"<r{n}@acme.com>", subject=f"case {n}"))
    record_sent = inbox.tickets.record_sent

    def failing(session: Any, desk_: Any, email: Any, *args: Any) -> None:
        if email.recipient == "user1@acme.com":
            raise RuntimeError("the history table is full")
        record_sent(session, desk_, email, *args)

    monkeypatch.setattr(inbox.tickets, "record_sent", failing)
    done = desk.run(T0)
    assert (done["sent"], done["retry"]) == (2, 1)
    monkeypatch.setattr(inbox.tickets, "record_sent", record_sent)
    assert desk.run(T0 + timedelta(minutes=1))["sent"] == 1
    again = [s.message for s in desk.transport.sent if s.rcpt_tos == ("user1@acme.com",)]
    assert len(again) == 2 and again[0] == again[1]
    assert [e.kind for e in desk.events("SUP-000002") if e.kind == "notified"] == ["notified"]


class _Sink:
    """An aiosmtpd relay that keeps what it receives and counts its sessions and QUITs."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.sessions: list[Any] = []
        self.quits = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not any(known is session for known in self.sessions):
            self.sessions.append(session)
        self.received.append(envelope.original_content)
        return "250 OK: queued"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits += 1
        return "221 Bye"


@contextmanager
def relay(sink: _Sink) -> Iterator[int]:
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def test_a_turn_sends_over_one_smtp_connection_and_closes_it(desk: Desk) -> None:
    """Five acknowledgements in one turn reach a real relay over one SMTP session, each once, and the
    turn ends it with QUIT; the next turn opens its own."""
    for n in range(5):
        desk.feed(mail(sender=f"user{n}@acme.com", message_id=f"<c{n}@acme.com>", subject=f"case {n}"))
    sink = _Sink()
    with relay(sink) as port:
        smtp = SmtpTransport("127.0.0.1", port, timeout=10, local_hostname="inbox.test")
        desk.outbound.dispatcher.transport = smtp
        assert desk.run(T0)["sent"] == 5
        assert (smtp.connections, len(sink.sessions), sink.quits) == (1, 1, 1)
        desk.feed(mail(sender="user9@acme.com", message_id="<c9@acme.com>", subject="case 9"))
        assert desk.run(T0)["sent"] == 1
        assert (smtp.connections, len(sink.sessions), sink.quits) == (2, 2, 2)
    ids = Counter(line for body in sink.received for line in body.splitlines() if line.startswith(b"Message-ID:"))
    assert len(ids) == 6 and set(ids.values()) == {1}


class _Killed(BaseException):
    """As a SIGKILL right after the relay took an email: nothing more of the turn runs."""


def test_a_crash_before_a_groups_record_sends_at_most_that_group_again(desk: Desk,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender records its emails `RECORD_GROUP` at a time. Killed after the relay took three
    emails of the second group, the next turn sends those three again (same bytes and Message-ID)
    and the rest once; the first group, recorded, is never sent again."""
    count = dispatch.RECORD_GROUP + 5
    assert count < dispatch.BATCH
    for n in range(count):
        desk.feed(mail(sender=f"user{n}@acme.com", message_id=f"<k{n}@acme.com>", subject=f"case {n}"))
    handed = desk.transport.send
    kill_at = dispatch.RECORD_GROUP + 3

    def killed_after(message: bytes, mail_from: str, rcpt_tos: Any) -> None:
        handed(message, mail_from, rcpt_tos)
        if len(desk.transport.sent) == kill_at:
            raise _Killed()

    monkeypatch.setattr(desk.transport, "send", killed_after)
    with pytest.raises(_Killed):
        desk.run(T0)
    monkeypatch.setattr(desk.transport, "send", handed)
    assert desk.run(T0 + timedelta(hours=1))["sent"] == count - dispatch.RECORD_GROUP
    sent = Counter(s.message for s in desk.transport.sent)
    again = [m for m, n in sent.items() if n == 2]
    assert len(desk.transport.sent) == count + 3 and len(again) == 3 and set(sent.values()) == {1, 2}
    assert sorted(to_each(desk).values()) == [1] * (count - 3) + [2] * 3
