"""Acknowledgements, status updates, warnings, breaches and lifecycle, end to end on a frozen clock.

Mail goes through the real pipeline into a real database (SQLite and PostgreSQL); the jobs and
the outbox run as `inbox jobs run-once --as-of` runs them; sent mail is read back from a memory
transport. Times in the names are Los Angeles local time; T0 is Monday 2 March 2026, 09:00 PST.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from autoresponder.transport import PermanentSendError, TemporarySendError
from inbox.domain.ticket import Outcome, Status
from inbox.store.tables import OutboxRow
from tests.fakes import mail
from tests.sla_kit import CONFIG, T0, Desk, text_of

UTC = timezone.utc


def pst(day: int, hour: int, minute: int = 0) -> datetime:
    """A March 2026 instant in Los Angeles (PST until the 8th, PDT from then)."""
    offset = 8 if day < 8 or (day == 8 and hour < 2) else 7
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC) + timedelta(hours=offset)


@pytest.fixture
def desk(db_url: str, tmp_path: Path):
    desk = Desk(tmp_path, db_url)
    yield desk
    desk.close()


def test_new_ticket_is_acknowledged_once_with_its_response_target(desk: Desk) -> None:
    """The ack is queued with the ticket, sent once, threads under the customer's mail and names the target."""
    assert desk.feed(mail()) == Outcome.OPENED
    with desk.app.sessions() as session:
        [row] = session.execute(select(OutboxRow)).scalars()
        assert (row.kind, row.state, row.recipient) == ("acknowledgement", "pending", "alice@acme.com")
    assert desk.run(T0)["sent"] == 1
    assert desk.run(T0).get("sent", 0) == 0
    [ack] = desk.sent()
    assert ack["To"] == "alice@acme.com" and "[SUP-000001]" in ack["Subject"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<m1@acme.com>" and "<m1@acme.com>" in ack["References"]
    body = text_of(ack)
    assert "SUP-000001" in body and "low" in body and "2 business days" in body
    assert "Wednesday 4 March 2026, 09:00 PST" in body
    ticket = desk.ticket()
    assert ticket.first_response_due == pst(4, 9)
    assert ticket.last_update_sent_at == T0 and ticket.next_update_due == pst(4, 9)
    assert [e.detail["kind"] for e in desk.events(kind="notified")] == ["acknowledgement"]


def test_automatic_and_list_mail_is_never_answered(desk: Desk) -> None:
    """List mail may open a ticket but gets no ack; auto-replies and bounces open none."""
    assert desk.feed(mail(headers={"List-Id": "<news.acme.com>"})) == Outcome.OPENED
    assert desk.feed(mail(message_id="<a@acme.com>", headers={"Auto-Submitted": "auto-replied"})) == Outcome.AUTO_REPLY
    assert desk.run(T0).get("sent", 0) == 0
    assert desk.transport.sent == []


def test_status_updates_follow_the_cadence_and_an_engineer_reply_restarts_it(desk: Desk) -> None:
    """Low: an update every 2 days from the last email to the customer; an engineer's reply resets it."""
    desk.feed(mail())
    desk.run(T0)
    assert desk.run(pst(4, 8, 59)).get("status_update", 0) == 0
    assert desk.run(pst(4, 9))["status_update"] == 1
    update = desk.sent()[-1]
    assert "[SUP-000001]" in update["Subject"] and update["Auto-Submitted"] == "auto-replied"
    assert "Friday 6 March 2026, 09:00 PST" in text_of(update)  # when the next one is due
    assert desk.run(pst(4, 9)).get("status_update", 0) == 0
    reply = mail(sender="engineer@example.com", subject="Re: [SUP-000001] Printer on fire",
                 message_id="<e1@example.com>", in_reply_to="<m1@acme.com>", vouched=True)
    assert desk.feed(reply, at=pst(5, 9)) == Outcome.APPENDED
    ticket = desk.ticket()
    assert ticket.first_response_at == pst(5, 9)
    assert ticket.next_update_due == pst(7, 9)  # two days after the reply, not after the update


def test_warning_then_breach_escalates_level_by_level(desk: Desk) -> None:
    """Critical, 4 business hours: warned at 80 %, then lead at the breach, manager and CTO each 4 business hours on."""
    desk.feed(mail())
    desk.set(T0, severity="critical")
    assert desk.ticket().first_response_due == pst(2, 13)
    assert desk.run_until(pst(3, 12)) == [pst(2, 12, 12), pst(2, 13), pst(2, 17), pst(3, 12)]
    staff = [(m["To"], m["Subject"]) for m in desk.sent() if m["To"] != "alice@acme.com"]
    # Raised to critical, the ticket goes to the critical team (told once), who is warned before the breach.
    assert [to for to, _ in staff] == ["oncall@example.com", "oncall@example.com", "lead@example.com",
                                       "manager@example.com", "cto@example.com"]
    assert "assigned to you" in staff[0][1].lower() and "SLA warning" in staff[1][1]
    breaches = desk.events(kind="breach")
    assert [(e.detail["target"], e.detail["level"]) for e in breaches] == [("response", 1), ("response", 2), ("response", 3)]
    assert all(e.detail["due"] == pst(2, 13).isoformat() for e in breaches)
    customer = [m for m in desk.sent() if m["To"] == "alice@acme.com"]
    assert any("critical" in text_of(m) for m in customer)  # told of the severity change


def test_waiting_on_customer_pauses_the_response_clock(desk: Desk) -> None:
    """Nine business hours spent waiting on the customer move the response due by nine business hours."""
    desk.feed(mail())
    desk.set(pst(2, 10), status=Status.WAITING_ON_CUSTOMER)
    assert desk.ticket().first_response_due is None
    answer = mail(subject="Re: [SUP-000001] Printer on fire", message_id="<m2@acme.com>", in_reply_to="<m1@acme.com>")
    assert desk.feed(answer, at=pst(3, 10)) == Outcome.APPENDED
    ticket = desk.ticket()
    assert ticket.status == "open"
    assert ticket.first_response_due == pst(5, 9)


def test_a_temporary_failure_is_retried_on_the_same_clock(desk: Desk) -> None:
    """A 451 is retried after the back-off, counted on the as-of clock, with the same Message-ID."""
    desk.feed(mail())
    desk.transport.fail_next(1, TemporarySendError("451 4.3.0 try later", code=451))
    assert desk.run(T0)["retry"] == 1
    assert desk.run(T0 + timedelta(seconds=59)).get("sent", 0) == 0
    assert desk.run(T0 + timedelta(minutes=1))["sent"] == 1
    with desk.app.sessions() as session:
        [row] = session.execute(select(OutboxRow)).scalars()
    assert desk.sent()[0]["Message-ID"] == f"<{row.message_id}>" and row.attempts == 2


def test_a_permanent_failure_suppresses_the_address_until_a_person_writes(desk: Desk) -> None:
    """A 550 marks the email dead, records delivery_failed, and stops automatic mail to that address."""
    desk.feed(mail())
    desk.transport.fail_next(1, PermanentSendError("550 5.1.1 no such user", code=550))
    assert desk.run(T0)["dead"] == 1
    assert [e.detail["to"] for e in desk.events(kind="delivery_failed")] == ["alice@acme.com"]
    assert desk.run(pst(4, 9))["skipped"] == 1  # the status update is not sent
    assert [m["To"] for m in desk.sent()] == ["lead@example.com"]  # the breach alert still goes to staff
    with desk.app.sessions() as session:
        assert session.execute(select(OutboxRow.state).where(OutboxRow.kind == "status_update")).scalar_one() == "skipped"
    desk.feed(mail(subject="Re: [SUP-000001]", message_id="<m2@acme.com>"), at=pst(4, 10))
    desk.run(pst(6, 9))  # the update that could not go out is tried again one cadence later
    [update] = [m for m in desk.sent() if m["To"] == "alice@acme.com"]
    assert "Status" in update["Subject"] or "status" in text_of(update).lower()


def test_no_address_gets_more_automatic_mail_an_hour_than_the_limit(desk: Desk) -> None:
    """max_auto_per_hour is 3: five new tickets from one sender get three acks in that hour."""
    for n in range(5):
        desk.feed(mail(message_id=f"<n{n}@acme.com>", subject=f"problem {n}"))
    done = desk.run(T0)
    assert (done["sent"], done["skipped"]) == (3, 2)


def test_waiting_ticket_is_solved_after_unanswered_follow_ups_then_closed(desk: Desk) -> None:
    """Two follow-ups unanswered, then solved when a third would be due (across the DST change), closed 3 days on."""
    desk.feed(mail())
    desk.run(T0)
    desk.set(pst(2, 10), status=Status.WAITING_ON_CUSTOMER)
    desk.run_until(pst(14, 0))
    ticket = desk.ticket()
    assert ticket.follow_ups == 2
    # Follow-ups Wed 09:00 and Fri 09:00 PST; 2 days later (nominal days) is Sunday 09:00 PDT, 47 hours on.
    assert ticket.solved_at == datetime(2026, 3, 8, 16, 0, tzinfo=UTC)
    assert ticket.status == "closed" and ticket.closed_at == datetime(2026, 3, 11, 16, 0, tzinfo=UTC)
    kinds = [e.detail["kind"] for e in desk.events(kind="notified")]
    assert kinds == ["acknowledgement", "status_update", "status_update", "solved", "closed"]


def test_staff_alerts_over_the_hourly_limit_are_held_back_not_dropped(db_url: str, tmp_path: Path) -> None:
    """Digests off: five breaches at once, the lead gets three alerts now and the other two once the hour allows."""
    desk = Desk(tmp_path, db_url, CONFIG.replace("max_auto_per_hour: 3}}", "max_auto_per_hour: 3, digest_over: null}}"))
    for n in range(5):
        desk.feed(mail(sender=f"user{n}@acme.com", message_id=f"<u{n}@acme.com>", subject=f"case {n}"))
    desk.run(T0)
    done = desk.run(pst(4, 9, 15))  # five responses breached at 09:00; the updates go out now, on time
    assert (done["breach"], done["status_update"], done["deferred"]) == (5, 5, 2)
    leads = lambda: [m for m in desk.sent() if m["To"] == "lead@example.com"]  # noqa: E731
    assert len(leads()) == 3
    desk.run(pst(4, 9, 25))
    assert len(leads()) == 3  # still three in the last hour
    desk.run(pst(4, 10, 25))
    assert len(leads()) == 5  # none lost
    with desk.app.sessions() as session:
        attempts = session.execute(select(OutboxRow.attempts).where(OutboxRow.kind == "breach_alert")).scalars().all()
    assert set(attempts) == {1}  # waiting for the hour is not a failed attempt
    desk.close()


def test_an_email_claimed_by_a_dead_sender_is_sent_after_the_claim_times_out(desk: Desk) -> None:
    """A claim whose sender died is taken back after 10 minutes, and the email keeps its Message-ID."""
    from inbox.store import outbox

    desk.feed(mail())
    with desk.app.sessions() as session, session.begin():
        [claimed] = outbox.claim(session, T0, 10, owner="dead-host:1:x")  # then the process dies
    assert desk.run(T0 + timedelta(minutes=9)).get("sent", 0) == 0
    assert desk.run(T0 + timedelta(minutes=10, seconds=1))["sent"] == 1
    assert desk.sent()[0]["Message-ID"] == f"<{claimed.message_id}>"


def test_a_ticket_that_breaks_the_sweep_does_not_stop_the_others(desk: Desk) -> None:
    """Corrupt SLA state on one ticket: it is skipped for an hour and logged; the next ticket is still acknowledged and updated."""
    from sqlalchemy import update

    from inbox.store.tables import Ticket

    desk.feed(mail())
    desk.feed(mail(sender="bob@acme.com", message_id="<b1@acme.com>", subject="other"))
    desk.run(T0)
    with desk.app.sessions() as session, session.begin():
        session.execute(update(Ticket).where(Ticket.tracking == "SUP-000001")
                        .values(sla_state={"response": "not a mapping"}))
    done = desk.run(pst(4, 9))
    assert done["failed"] == 1 and done["status_update"] == 1
    assert desk.ticket("SUP-000001").next_check_at == pst(4, 10)


def test_a_broken_template_holds_the_email_until_an_admin_fixes_it(desk: Desk, tmp_path: Path) -> None:
    """A template error keeps the ack waiting (retried, with the file and line recorded); the fixed template sends it."""
    import shutil

    from tests.sla_kit import TEMPLATES

    own = tmp_path / "own-templates"
    shutil.copytree(TEMPLATES, own)
    desk.outbound.dispatcher.renderer = type(desk.outbound.dispatcher.renderer)(own)
    good = (own / "acknowledgement" / "body.txt.j2").read_text()
    (own / "acknowledgement" / "body.txt.j2").write_text("{{ ticket.nonsense.deeper }}\n")
    desk.feed(mail())
    assert desk.run(T0)["retry"] == 1
    with desk.app.sessions() as session:
        [row] = session.execute(select(OutboxRow)).scalars()
    assert row.state == "retry" and "acknowledgement/body.txt.j2:1" in row.last_error
    (own / "acknowledgement" / "body.txt.j2").write_text(good)
    assert desk.run(T0 + timedelta(minutes=1))["sent"] == 1


def test_an_address_no_server_would_take_is_dead_not_suppressed(desk: Desk) -> None:
    """A requester address the composer refuses marks the email dead and records why, without a crash."""
    from sqlalchemy import update

    desk.feed(mail())
    with desk.app.sessions() as session, session.begin():
        session.execute(update(OutboxRow).values(recipient="not an address"))
    assert desk.run(T0)["dead"] == 1
    [failed] = desk.events(kind="delivery_failed")
    assert "cannot compose" in failed.detail["error"] and desk.events(kind="suppressed") == []


def test_log_lines_about_a_message_name_its_ticket_and_message_id(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    """Ingesting and sending each log one line with the tracking number and the Message-ID."""
    with caplog.at_level(logging.INFO):
        desk.feed(mail())
        desk.run(T0)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("SUP-000001 Message-ID <m1@acme.com>") and line.endswith(": opened") for line in lines), lines
    sent = [line for line in lines if line.endswith(": sent")]
    assert len(sent) == 1 and sent[0].startswith("SUP-000001 Message-ID <inbox.SUP-000001.")
    assert "acknowledgement to alice@acme.com" in sent[0]
