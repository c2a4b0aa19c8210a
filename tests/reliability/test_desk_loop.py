"""A loop with a help desk that never threads, on SQLite and PostgreSQL.

The remote desk answers every email it gets with a ticket of its own: a new subject, no
In-Reply-To or References, no Auto-Submitted, our email quoted below its own words. Each of our
acknowledgements brought the next mail and so the next ticket and acknowledgement, one round per
turn up to the hourly limit, for ever. Now, once the address has opened 3 tickets within 24 hours
that each answered our acknowledgement, its further such tickets are opened silently (the ticket
says why) until a person writes: a mail that answers none of ours, or an engineer's reply.

Our desk runs its jobs every 15 minutes of a frozen clock; whatever it sends the remote desk is
answered `delay` later, by default a quarter of an hour: a round every half hour, under the
hourly limit (3 in the kit's config), which alone never ended it.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from inbox.domain.ticket import Outcome
from inbox.store import tickets as store
from tests.dkim_kit import Key, dns_for, sign
from tests.fakes import mail
from tests.sla_kit import CONFIG, T0, Desk, text_of
from tests.staff_kit import ENGINEER, PEOPLE

REMOTE = "desk@helpdesk.test"
STEP = timedelta(minutes=15)
FLAG = "answers-our-automatic-email"


class RemoteDesk:
    """The other end: answers each email from us with a new ticket of its own."""

    def __init__(self, *, quotes: bool = True, other_address: str | None = None,
                 delay: timedelta = timedelta(minutes=15)) -> None:
        self.quotes, self.other, self.delay = quotes, other_address, delay
        self.numbers = itertools.count(1)
        self.pending: list[tuple[datetime, bytes]] = []

    def receive(self, message: EmailMessage, now: datetime) -> None:
        to = message["To"].addresses[0].addr_spec
        # Answering from its other address (when it has one), naming our email's Message-ID: a
        # reply our desk cannot join to the ticket, since that address is not on its thread.
        sender = (self.other if to == REMOTE else REMOTE) if self.other else to
        n = next(self.numbers)
        body = f"Thank you for contacting the Helpdesk. Your request has been logged as R-{n}.\n"
        if self.quotes:
            quoted = "".join(f"> {line}\n" for line in text_of(message).splitlines())
            body += f"\nOn Mon, 2 Mar 2026 at 09:05, Example Support <support@example.com> wrote:\n{quoted}"
        answer = mail(sender=f"Helpdesk <{sender}>", subject=f"Request R-{n} received", body=body,
                      message_id=f"<r{n}@helpdesk.test>", in_reply_to=None if self.quotes else str(message["Message-ID"]))
        self.pending.append((now + self.delay, answer))

    def due(self, now: datetime) -> list[bytes]:
        ready = [raw for at, raw in self.pending if at <= now]
        self.pending = [(at, raw) for at, raw in self.pending if at > now]
        return ready


def run(desk: Desk, remote: RemoteDesk, start: datetime, hours: int) -> datetime:
    """Our jobs every 15 minutes for `hours`; every email to the remote desk answered. The end."""
    seen, now = len(desk.transport.sent), start
    for _ in range(int(timedelta(hours=hours) / STEP)):
        now += STEP
        desk.run(now)
        for message in desk.sent()[seen:]:
            if message["To"].addresses[0].addr_spec.endswith("@helpdesk.test"):
                remote.receive(message, now)
        seen = len(desk.transport.sent)
        for raw in remote.due(now):
            assert desk.feed(raw, at=now) == Outcome.OPENED
    return now


def acks(desk: Desk) -> list[str]:
    """The tracking number of each acknowledgement sent, in order."""
    return [str(m["Subject"]).split("]")[0].lstrip("[") for m in desk.sent()
            if "opened ticket" in text_of(m) and m["To"].addresses[0].addr_spec.endswith("@helpdesk.test")]


def tickets(desk: Desk) -> int:
    with desk.app.sessions() as session:
        return store.count_tickets(session)


@pytest.fixture
def desk(tmp_path: Path, db_url: str):
    desk = Desk(tmp_path, db_url)
    yield desk
    desk.close()


def _first_mail(desk: Desk, sender: str = REMOTE, n: int = 0) -> None:
    """A person at the remote desk's address writes to us: the round begins."""
    raw = mail(sender=f"Pat <{sender}>", subject="Printer on fire", message_id=f"<human{n}@helpdesk.test>")
    assert desk.feed(raw, at=T0 + timedelta(minutes=n)) == Outcome.OPENED


def test_a_desk_that_answers_every_acknowledgement_with_a_new_ticket_is_stopped_after_three(desk: Desk) -> None:
    """After 3 tickets in 24 h that each quote our acknowledgement, the 4th is opened silently and the loop ends."""
    _first_mail(desk)
    run(desk, RemoteDesk(), T0, hours=24)
    assert acks(desk) == ["SUP-000001", "SUP-000002", "SUP-000003", "SUP-000004"]
    assert tickets(desk) == 5  # every mail opened its ticket: nothing accepted is lost
    [held] = desk.events("SUP-000005", kind="notice_skipped")
    assert held.detail["rule"] == "desk-loop" and held.detail["to"] == REMOTE
    assert "opened 3 tickets within 24 hours" in held.detail["why"] and "until a person writes" in held.detail["why"]
    assert [desk.ticket(f"SUP-00000{n}").flags for n in range(1, 6)] == [[]] + [[FLAG]] * 4
    [flagged] = desk.events("SUP-000002", kind="flagged")
    assert flagged.detail["answers"] == "SUP-000001" and "quotes its ticket's number" in flagged.detail["why"]


def test_a_persons_fresh_mail_resumes_the_acknowledgements(desk: Desk) -> None:
    """Silenced, the address writes a mail that answers none of ours: it is acknowledged, and the loop that
    follows is stopped after 3 tickets again."""
    _first_mail(desk)
    remote = RemoteDesk()
    end = run(desk, remote, T0, hours=6)
    assert len(acks(desk)) == 4
    raw = mail(sender=f"Pat <{REMOTE}>", subject="And the scanner too", message_id="<human1@helpdesk.test>",
               body="Now the scanner is broken as well.\n")
    assert desk.feed(raw, at=end) == Outcome.OPENED  # SUP-000006
    run(desk, remote, end, hours=24)
    assert acks(desk)[4:] == ["SUP-000006", "SUP-000007", "SUP-000008", "SUP-000009"]
    [held] = desk.events("SUP-000010", kind="notice_skipped")
    assert held.detail["rule"] == "desk-loop"
    assert desk.ticket("SUP-000006").flags == []


def test_an_engineers_reply_resumes_the_acknowledgements(tmp_path: Path, db_url: str, key: Key) -> None:
    """An engineer's DKIM-signed reply on a silenced ticket is a person writing: the desk's answer to it is acknowledged."""
    desk = Desk(tmp_path, db_url, PEOPLE, dns=dns_for(key, "example.com"))
    try:
        _first_mail(desk)
        remote = RemoteDesk()
        end = run(desk, remote, T0, hours=6)
        assert len(acks(desk)) == 4 and desk.events("SUP-000005", kind="notice_skipped")
        reply = mail(sender=f"Engineer <{ENGINEER}>", subject="Re: [SUP-000005] Request R-4 received",
                     message_id="<eng1@example.com>", in_reply_to="<r4@helpdesk.test>",
                     body="Hello, this is a person: please stop answering our acknowledgements.\n")
        assert desk.feed(sign(reply, key), at=end) == Outcome.APPENDED
        run(desk, remote, end, hours=24)
        replied = [m for m in desk.sent() if "please stop" in text_of(m)]
        assert [m["To"].addresses[0].addr_spec for m in replied] == [REMOTE]  # relayed to the desk
        # The desk answered our engineer's reply (quoting SUP-000005): a new ticket, acknowledged; and
        # three more rounds after it before the loop is stopped again.
        assert acks(desk)[4:] == ["SUP-000006", "SUP-000007", "SUP-000008", "SUP-000009"]
        assert desk.events("SUP-000010", kind="notice_skipped")[0].detail["rule"] == "desk-loop"
    finally:
        desk.close()


def test_a_desk_answering_from_its_other_address_with_our_message_id_is_stopped(desk: Desk) -> None:
    """A desk that answers from its other address, naming our acknowledgement's Message-ID (so the answer
    cannot join its ticket), is stopped once one address has opened 3 such tickets."""
    _first_mail(desk)
    run(desk, RemoteDesk(quotes=False, other_address="tickets@helpdesk.test"), T0, hours=24)
    # The two addresses take turns: tickets@ opens SUP-2, 4, 6 (each answering our acknowledgement
    # of the one before), so its fourth, SUP-8, is opened silently and nothing more is sent.
    assert acks(desk) == [f"SUP-00000{n}" for n in range(1, 8)]
    assert tickets(desk) == 8
    [held] = desk.events("SUP-000008", kind="notice_skipped")
    assert held.detail["rule"] == "desk-loop" and held.detail["to"] == "tickets@helpdesk.test"
    [flagged] = desk.events("SUP-000002", kind="flagged")
    assert "names its Message-ID" in flagged.detail["why"]


@pytest.mark.parametrize("delay, stopped", [(timedelta(minutes=15), True), (timedelta(minutes=90), False)])
def test_the_count_and_window_are_configurable(tmp_path: Path, db_url: str, delay: timedelta, stopped: bool) -> None:
    """desk_loop {tickets: 2, within: 1 hour}: a desk answering in 15 minutes is stopped after 2 tickets; one that
    answers 90 minutes later opens no 2 tickets within an hour, and keeps its acknowledgements."""
    config = CONFIG.replace("max_auto_per_hour: 3}}", "max_auto_per_hour: 3, desk_loop: {{tickets: 2, within: 1 hour}}}}")
    assert "desk_loop" in config
    desk = Desk(tmp_path, db_url, config)
    try:
        _first_mail(desk)
        run(desk, RemoteDesk(delay=delay), T0, hours=12)
        if stopped:
            assert acks(desk) == ["SUP-000001", "SUP-000002", "SUP-000003"]
            assert desk.events("SUP-000004", kind="notice_skipped")[0].detail["rule"] == "desk-loop"
        else:
            assert len(acks(desk)) == tickets(desk) >= 6
    finally:
        desk.close()


def test_off_when_null(tmp_path: Path, db_url: str) -> None:
    """desk_loop: null turns the rule off: the quoting desk is acknowledged every round (the hourly limit still holds)."""
    config = CONFIG.replace("max_auto_per_hour: 3}}", "max_auto_per_hour: 3, desk_loop: null}}")
    desk = Desk(tmp_path, db_url, config)
    try:
        _first_mail(desk)
        run(desk, RemoteDesk(), T0, hours=3)
        assert len(acks(desk)) >= 5
        assert not any(desk.events(f"SUP-{n:06d}", kind="notice_skipped") for n in range(1, tickets(desk) + 1))
    finally:
        desk.close()
