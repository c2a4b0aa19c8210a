"""The outgoing relay down for a while, refusing connections and then timing out, then back:
every queued email goes out once, in order per ticket, none dropped. On SQLite and PostgreSQL.

The sender runs on a frozen clock moved by the test (back-off is counted on it); the relay is a
real loopback port: nothing listening, then a socket that accepts and never greets (smtplib
times out after 0.5 s), then an aiosmtpd sink. No deadline is slept through.
"""

from __future__ import annotations

import socket
from collections import defaultdict
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller

from autoresponder.transport import SmtpTransport
from inbox.domain.ticket import Status
from tests.durability.serve import free_port
from tests.fakes import mail
from tests.integration.test_serve_outbound import Sink
from tests.sla_kit import CONFIG, T0, Desk

TICKETS = 4
KINDS_IN_ORDER = ["acknowledgement", "severity_changed", "solved"]
# No rate limit gets in the way: 3 emails a ticket to one requester each.
RELAXED = CONFIG.replace("max_auto_per_hour: 3", "max_auto_per_hour: 50")


def test_every_queued_email_goes_out_once_in_order_after_the_relay_comes_back(tmp_path: Path, db_url: str) -> None:
    port = free_port()
    desk = Desk(tmp_path, db_url, RELAXED)
    outbound = desk.app.outbound(SmtpTransport("127.0.0.1", port, timeout=0.5))
    now = T0
    tallies: dict[str, int] = defaultdict(int)

    def turn(minutes: int) -> None:
        nonlocal now
        now += timedelta(minutes=minutes)
        desk.clock.set(now)
        for outcome, count in outbound.run_once(now).items():
            tallies[outcome] += count

    try:
        # Refusing: nothing listens. Each ticket's emails are queued across failing turns, so a
        # later one is due while an earlier one waits out a longer back-off.
        for n in range(1, TICKETS + 1):
            desk.feed(mail(sender=f"User {n} <user{n}@acme.com>", subject=f"Problem {n}",
                           message_id=f"<p{n}@acme.com>"), at=now)
        turn(1)
        for n in range(1, TICKETS + 1):
            desk.set(now, f"SUP-{n:06d}", severity="critical")
        turn(3)
        turn(7)
        for n in range(1, TICKETS + 1):
            desk.set(now, f"SUP-{n:06d}", status=Status.SOLVED)
        turn(2)
        # Timing out: the port accepts connections and never says a word.
        with socket.socket() as silent:
            silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            silent.bind(("127.0.0.1", port))
            silent.listen(64)
            turn(30)
            turn(60)
        assert tallies["sent"] == 0 and tallies["retry"] > 0 and tallies["dead"] == 0
        # Back, three hours after the first email was queued.
        sink = Sink()
        relay = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=10)
        relay.start()
        try:
            for _ in range(12):
                turn(120)
                if len(sink.received) > TICKETS * len(KINDS_IN_ORDER) and tallies["sent"] == len(sink.received):
                    break
        finally:
            relay.stop()
        about: dict[str, set[tuple[int, str]]] = defaultdict(set)  # Message-ID -> (ticket, kind) it told of
        for n in range(1, TICKETS + 1):
            for event in desk.events(f"SUP-{n:06d}", kind="notified"):
                about[f"<{event.detail['message_id']}>"].add((n, event.detail["kind"]))
        order: dict[tuple[int, str], list[str]] = defaultdict(list)
        ids = []
        for _sender, _rcpts, raw in sink.received:
            message = message_from_bytes(raw, policy=default)
            ids.append(str(message["Message-ID"]))
            for ticket, kind in sorted(about[ids[-1]]):
                order[(ticket, str(message["To"]))].append(kind)
    finally:
        desk.close()
    # Each ticket: the requester's three emails in order; the on-call engineer's `assigned` of all
    # four tickets, raised to critical in one turn, as one digest (more than outbound.digest_over).
    assert len(ids) == len(set(ids)) == len(about) == TICKETS * len(KINDS_IN_ORDER) + 1  # none lost, none twice
    assert dict(order) == {**{(n, f"user{n}@acme.com"): KINDS_IN_ORDER for n in range(1, TICKETS + 1)},
                           **{(n, "oncall@example.com"): ["assigned"] for n in range(1, TICKETS + 1)}}
    assert tallies["dead"] == 0 and tallies["sent"] == len(ids)


def test_an_email_is_retried_for_five_days_then_given_up_and_recorded(tmp_path: Path, db_url: str) -> None:
    """A relay down for days: the acknowledgement keeps its place in the queue for five days (as
    Postfix's maximal_queue_lifetime), then is marked dead with `delivery_failed` on the ticket."""
    desk = Desk(tmp_path, db_url, RELAXED)
    outbound = desk.app.outbound(SmtpTransport("127.0.0.1", free_port(), timeout=0.5))  # nothing listens
    try:
        desk.feed(mail(), at=T0)
        now, dead = T0, 0
        while now < T0 + timedelta(days=4, hours=22):
            dead += outbound.run_once(now)["dead"]
            now += timedelta(hours=2)
        assert dead == 0 and desk.events(kind="delivery_failed") == []
        while now < T0 + timedelta(days=5, hours=4):
            dead += outbound.run_once(now)["dead"]
            now += timedelta(hours=2)
        assert dead == 1
        [failed] = desk.events(kind="delivery_failed")
        assert failed.detail["permanent"] is False and "ConnectionRefusedError" in failed.detail["error"]
    finally:
        desk.close()


class _Interrupting:
    """Fails the first send with what no per-email handler catches, as the database going away
    under a turn does; then sends."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, message: bytes, mail_from: str, rcpt_tos: list[str]) -> None:
        if not self.sent:
            self.sent.append(b"")
            raise KeyboardInterrupt
        self.sent.append(message)


def test_a_turn_that_fails_midway_gives_its_claims_back_at_the_next_turn(tmp_path: Path, db_url: str) -> None:
    """The claimed email does not wait out the 10-minute claim timeout: the next turn sends it."""
    desk = Desk(tmp_path, db_url, RELAXED)
    transport = _Interrupting()
    outbound = desk.app.outbound(transport)  # type: ignore[arg-type]
    try:
        desk.feed(mail(), at=T0)
        try:
            outbound.run_once(T0)
        except KeyboardInterrupt:
            pass
        assert outbound.run_once(T0 + timedelta(seconds=5))["sent"] == 1
    finally:
        desk.close()
    assert len(transport.sent) == 2 and b"[SUP-000001]" in transport.sent[1]
