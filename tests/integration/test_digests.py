"""Staff digests: many alerts of one kind due to one person in one turn arrive as one email.

End to end on a frozen clock and a real database (SQLite and PostgreSQL), with the kit of
tests/sla_kit.py: the lead is the plan's first escalation level, the engineers get warnings and
assignments, the hourly limit is 3. T0 is Monday 2 March 2026, 09:00 PST.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inbox import tickets
from inbox.cli import main
from inbox.domain.msgid import make_digest_message_id
from inbox.domain.ticket import Outcome
from inbox.store import outbox
from inbox.store.tables import Event, OutboxRow, TicketMessage
from inbox.tickets import notices
from tests.fakes import mail
from tests.sla_kit import CONFIG, T0, Desk, text_of

STORM = 900
LEAD = "lead@example.com"
TRACKING = re.compile(r"^(SUP-\d{6})  ", re.MULTILINE)


@pytest.fixture
def desk(db_url: str, tmp_path: Path):
    desk = Desk(tmp_path, db_url)
    yield desk
    desk.close()


def outage(n: int, sender: str = "alice@acme.com") -> bytes:
    """Report n of an outage, by default all from one person (the hourly limit drops most answers to them)."""
    return mail(sender=sender, message_id=f"<storm{n}@acme.com>", subject=f"Outage report {n}",
                body=f"Nothing works, report {n}.\n")


def to(desk: Desk, address: str) -> list[EmailMessage]:
    return [m for m in desk.sent() if m["To"] == address]


def listed(message: EmailMessage) -> list[str]:
    """The tracking numbers a digest lists, in its order."""
    return TRACKING.findall(text_of(message))


def rows(desk: Desk) -> list[OutboxRow]:
    with desk.app.sessions() as session:
        return list(session.execute(select(OutboxRow).order_by(OutboxRow.id)).scalars())


def test_a_storm_of_breaches_reaches_the_lead_as_one_digest(desk: Desk) -> None:
    """900 tickets in three waves breach their response target in one turn: the lead gets one digest
    listing all 900, the most late first, instead of 900 emails over ten days; each ticket records
    its breach and the digest that told of it; customers' emails are never folded; every outbox row
    is sent, skipped with its reason, or folded into a digest that was sent."""
    for wave in range(3):  # 09:00, 10:00 and 11:00: responses due Wednesday at those hours
        first = wave * STORM // 3
        counts = desk.feed_many([outage(n) for n in range(first, first + STORM // 3)], at=T0 + timedelta(hours=wave))
        assert counts == Counter({Outcome.OPENED: STORM // 3})
    desk.run(T0 + timedelta(hours=3))
    done = desk.run(T0 + timedelta(days=2, hours=3))  # Wednesday 12:00 PST: every response is late
    assert (done["breach"], done["digests"], done["digested"]) == (STORM, 1, STORM)
    assert "waiting" not in done and "left" not in done  # nothing due is left

    [digest] = to(desk, LEAD)
    trackings = listed(digest)
    assert len(trackings) == STORM and len(set(trackings)) == STORM
    # The 09:00 wave is three hours late, the 11:00 wave one: most late first, each wave by number.
    assert trackings == [f"SUP-{n:06d}" for n in range(1, STORM + 1)]
    text = text_of(digest)
    assert "SLA breaches on 900 tickets" in digest["Subject"] and "[SUP-" not in digest["Subject"]
    assert "3 h 00 min late" in text and "1 h 00 min late" in text and "response target (escalation level 1)" in text

    with desk.app.sessions() as session:
        breaches = session.execute(select(func.count()).where(Event.kind == "breach")).scalar_one()
        told = [e.detail for e in session.execute(select(Event).where(Event.kind == "notified")).scalars()
                if e.detail.get("kind") == "breach_alert"]
    assert breaches == STORM
    assert len(told) == STORM and {d["message_id"] for d in told} == {digest["Message-ID"].strip("<>")}
    assert len({d["outbox_id"] for d in told}) == STORM

    every = rows(desk)
    by_id = {row.id: row for row in every}
    [sent_digest] = [row for row in every if row.kind == "digest"]
    assert (sent_digest.state, sent_digest.recipient, sent_digest.ticket_id) == ("sent", LEAD, None)
    for row in every:
        if row.state == "digested":
            assert row.kind == "breach_alert" and by_id[row.digest_id].state == "sent"
        elif row.state == "skipped":  # the customer's answers over the hourly limit, each with its reason
            assert row.audience == "customer" and "in the last hour" in row.last_error
        else:
            assert row.state == "sent", (row.kind, row.state, row.last_error)
    assert not [row for row in every if row.audience == "customer" and row.state == "digested"]
    assert Counter(row.state for row in every if row.kind == "breach_alert") == {"digested": STORM}


def test_a_few_alerts_go_alone_and_more_go_as_one(desk: Desk, tmp_path: Path, capsys) -> None:
    """Three breaches due to the lead at once go as three emails (digest_over is 3); four go as one
    digest, which `tickets show` names on each ticket it lists."""
    desk.feed_many([outage(n) for n in range(3)], at=T0)
    desk.feed_many([outage(n) for n in range(3, 7)], at=T0 + timedelta(days=1))  # Tuesday: due Thursday
    desk.run(T0)
    desk.run(T0 + timedelta(days=1))
    assert desk.run(T0 + timedelta(days=2, hours=1))["breach"] == 3
    alone = to(desk, LEAD)
    assert len(alone) == 3 and all("SLA breach (level 1)" in m["Subject"] for m in alone)
    assert desk.run(T0 + timedelta(days=3, hours=1))["digests"] == 1
    [*_, digest] = to(desk, LEAD)
    assert listed(digest) == ["SUP-000004", "SUP-000005", "SUP-000006", "SUP-000007"]
    [digest_row] = [row for row in rows(desk) if row.kind == "digest"]
    assert main(["--config", str(tmp_path / "inbox.yaml"), "tickets", "show", "SUP-000005", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(o["state"], o["digest"]) for o in shown["outbox"] if o["to"] == LEAD] == [("digested", digest_row.id)]
    [told] = [e["detail"] for e in shown["events"] if e["kind"] == "notified" and e["detail"]["kind"] == "breach_alert"]
    assert (told["digest_outbox_id"], told["message_id"]) == (digest_row.id, digest_row.message_id)


def test_alerts_held_back_by_the_hourly_limit_join_the_waiting_digest(db_url: str, tmp_path: Path) -> None:
    """The lead may have one email an hour: after one alert, a digest of four waits for the hour, the
    two alerts due meanwhile join it rather than queue behind it, and when the hour allows the lead
    gets one email listing all six."""
    desk = Desk(tmp_path, db_url, CONFIG.replace("max_auto_per_hour: 3}}", "max_auto_per_hour: 1}}"))
    try:
        for n, minutes in enumerate([0, 30, 30, 30, 30, 50, 50]):  # each from its own person at Acme
            desk.feed_many([outage(n, sender=f"user{n}@acme.com")], at=T0 + timedelta(minutes=minutes))
        desk.run(T0 + timedelta(minutes=50))
        wednesday = T0 + timedelta(days=2)  # responses due at 09:00, 09:30 and 09:50
        assert desk.run(wednesday + timedelta(minutes=1))["breach"] == 1
        assert len(to(desk, LEAD)) == 1  # the lead's one email this hour
        assert desk.run(wednesday + timedelta(minutes=31))["breach"] == 4
        [waiting] = [row for row in rows(desk) if row.kind == "digest" and row.recipient == LEAD]
        assert (waiting.state, waiting.attempts) == ("retry", 0) and "in the last hour" in waiting.last_error
        assert desk.run(wednesday + timedelta(minutes=51))["breach"] == 2
        lead_rows = [row for row in rows(desk) if row.recipient == LEAD]
        assert [row.kind for row in lead_rows if row.kind == "digest"] == ["digest"]  # no second digest
        assert Counter(row.state for row in lead_rows) == {"sent": 1, "digested": 6, "retry": 1}
        desk.run(wednesday + timedelta(hours=1, minutes=1))
        first, digest = to(desk, LEAD)
        assert listed(digest) == [f"SUP-{n:06d}" for n in range(2, 8)]
        assert "31 min late" in text_of(digest) and "11 min late" in text_of(digest)  # as late as when sent
    finally:
        desk.close()


def test_a_digest_names_no_ticket_so_a_reply_joins_none_and_its_echo_is_our_own_mail(desk: Desk) -> None:
    """A digest's subject carries no tracking number and its signed Message-ID names no ticket: a reply
    to it, even one citing a genuine digest id whose number is a ticket's, joins no ticket; the digest
    coming back (a forwarding rule at the lead's end) is recognised as our own mail and opens nothing."""
    desk.feed_many([outage(n, sender=f"user{n}@acme.com") for n in range(4)], at=T0)
    desk.run(T0)
    desk.run(T0 + timedelta(days=2, hours=1))
    [digest] = to(desk, LEAD)
    assert "SUP-" not in digest["Subject"]
    assert desk.feed(digest.as_bytes(), at=T0 + timedelta(days=2, hours=2)) == Outcome.AUTO_REPLY

    forged = make_digest_message_id(2, "example.com", desk.app.desk().secret)  # "number 2": SUP-000002's
    reply = mail(sender="Lead <lead@example.com>", subject=f"Re: {digest['Subject']}", message_id="<r1@example.com>",
                 in_reply_to=f"<{forged}>", references=f"{digest['Message-ID']} <{forged}>", body="On it.\n")
    assert desk.feed(reply, at=T0 + timedelta(days=2, hours=3)) == Outcome.OPENED  # a new ticket, not SUP-000002
    with desk.app.sessions() as session:
        joined = session.execute(select(func.count()).select_from(TicketMessage)
                                 .where(TicketMessage.message_id == "r1@example.com",
                                        TicketMessage.ticket_id.in_([desk.ticket(f"SUP-{n:06d}").id
                                                                     for n in range(1, 5)]))).scalar_one()
    assert joined == 0


def test_jobs_say_what_they_leave_due_and_why(desk: Desk) -> None:
    """A run leaves due only an email waiting behind an earlier one to the same person about the same
    ticket (that one held back for the hour): it is counted as `waiting`, its row says why, and the
    run reports nothing `left` without a reason; once the hour allows, both go, in order."""
    desk.feed(mail(), at=T0)
    desk.run(T0)
    with desk.app.sessions() as session, session.begin():  # the lead had their three emails this hour
        for n in range(3):
            outbox.enqueue(session, key=f"earlier:{n}", ticket_id=None, kind="breach_alert", audience="staff",
                           recipient=LEAD, automatic=True, plan=None, customer_id=None, context={},
                           message_id=f"earlier{n}@example.com", created_at=T0, state="sent", sent_at=T0)
    at = T0 + timedelta(minutes=30)
    facts = tickets.view(desk.ticket())
    with desk.app.sessions() as session, session.begin():
        for n in (1, 2):
            notices.tell_staff(session, desk.app.desk(), facts, kind="breach_alert", key=f"alert:{n}", at=at,
                               recipients=[LEAD], data=tickets.context(desk.app.desk(), facts))
    done = desk.run(at)
    assert (done["deferred"], done["waiting"], done.get("left", 0)) == (1, 1, 0)
    first, second = [row for row in rows(desk) if row.key.startswith("alert:")]
    assert (first.state, second.state) == ("retry", "pending")
    assert "in the last hour" in first.last_error and second.last_error == outbox.WAITING
    desk.run(T0 + timedelta(hours=1, minutes=1))
    assert [m["Message-ID"].strip("<>") for m in to(desk, LEAD)] == [first.message_id, second.message_id]
