"""The five seed support policies, each run as a timeline on its own example config, to the minute.

Each test loads config/examples/<policy>.yaml as shipped (only the database, the outbound
transport and the templates dir are swapped for the test's), feeds mail through the real
pipeline at chosen instants, moves the clock like `inbox jobs run-once --as-of` and checks every
email sent (when, to whom, which kind, key text) and every due time against the policy's text.
Expected instants are worked out by hand and written in UTC, with the local time beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from autoresponder.transport import MemoryTransport
from inbox import ticketing
from inbox.app import build_app
from inbox.clock import FixedClock
from inbox.domain.ticket import Outcome, Status
from inbox.settings import load_settings
from inbox.store import tickets as store
from tests.fakes import mail
from tests.sla_kit import T0, TEMPLATES, Desk, text_of

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"


def utc(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


class SeedDesk(Desk):
    """A Desk on one example config, changed only where a test must: database, outbox, templates."""

    def __init__(self, tmp: Path, db_url: str, name: str) -> None:
        data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
        data["database"]["url"] = db_url
        data["outbound"] = {"transport": "maildir", "maildir": str(tmp / "sent"),
                            "from_address": data["outbound"]["from_address"], "max_auto_per_hour": 50}
        data["templates"]["dir"] = str(TEMPLATES)
        data.pop("imap", None)
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        self.clock = FixedClock(T0)
        self.app = build_app(load_settings(path), self.clock)
        self.transport = MemoryTransport()
        self.outbound = self.app.outbound(self.transport)
        self._worker = self.app.worker(clock=self.clock)
        self.support = data["addresses"][0]

    def write(self, at: datetime, sender: str, subject: str, n: int, reply_to: int | None = None) -> Outcome:
        """Mail number n from `sender` at `at` (a reply to mail number `reply_to` when given); jobs run then."""
        domain = sender.rpartition("@")[2]
        outcome = self.feed(mail(sender=sender, to=self.support, subject=subject, message_id=f"<m{n}@{domain}>",
                                 in_reply_to=f"<m{reply_to}@{self.first_domain}>" if reply_to else None, date=at), at=at)
        if reply_to is None:
            self.first_domain = domain
        self.run(at)
        return outcome

    def change(self, at: datetime, tracking: str, by: str, *, severity: str | None = None,
               status: Status | None = None) -> None:
        """An engineer changes the ticket (as `inbox tickets set --by`), then the jobs run."""
        self.clock.set(at)
        with self.app.sessions() as session, session.begin():
            ticket = store.ticket_by_tracking(session, tracking)
            if severity:
                ticketing.set_severity(session, self.app.desk(), ticket, severity, at, by)
            if status:
                ticketing.set_status(session, self.app.desk(), ticket, status, at, by)
        self.run(at)

    def run_all_until(self, end: datetime, *trackings: str) -> list[datetime]:
        """Run the jobs at each instant any of the tickets next needs them, up to `end`."""
        instants = []
        while True:
            due = [t for t in (self.ticket(x).next_check_at for x in trackings) if t is not None and t <= end]
            if not due:
                return instants
            instants.append(min(due))
            self.run(min(due))


@dataclass
class Sent:
    at: datetime
    to: str
    kind: str
    subject: str
    text: str


def mails(desk: Desk, tracking: str) -> list[Sent]:
    """Every email sent about the ticket, in order, with its text read back from the transport."""
    by_id = {m["Message-ID"].strip("<>"): m for m in desk.sent()}
    out = []
    for event in desk.events(tracking, kind="notified"):
        message = by_id[event.detail["message_id"]]
        assert message["To"] == event.detail["to"] and message["Auto-Submitted"] == "auto-replied"
        # .strip(): a subject folded right after "Subject:" reads back with a leading space (RFC 5322 unfolding).
        out.append(Sent(event.at, event.detail["to"], event.detail["kind"], str(message["Subject"]).strip(),
                        text_of(message).replace("\r\n", "\n")))
    return out


def log(desk: Desk, tracking: str) -> list[tuple[datetime, str, str]]:
    return [(m.at, m.to, m.kind) for m in mails(desk, tracking)]


def breaches(desk: Desk, tracking: str) -> list[tuple[datetime, str, int, datetime, str]]:
    return [(e.at, e.detail["target"], e.detail["level"], datetime.fromisoformat(e.detail["due"]), e.detail["escalated_to"])
            for e in desk.events(tracking, kind="breach")]


def dues(desk: Desk, tracking: str) -> tuple:
    t = desk.ticket(tracking)
    return t.first_response_due, t.workaround_due, t.resolution_due, t.next_update_due


@pytest.fixture
def seed(db_url: str, tmp_path: Path):
    """seed("akemona") -> a SeedDesk on that example config, closed after the test."""
    desks: list[SeedDesk] = []

    def make(name: str) -> SeedDesk:
        desks.append(SeedDesk(tmp_path, db_url, name))
        return desks[-1]

    yield make
    for desk in desks:
        desk.close()


# -- Akemona: "Business Hours: 8:00 AM – 5:00 PM PST, Monday–Friday (excluding holidays)." ------------


def test_akemona_thanksgiving_eve_mail_then_critical_response_and_workaround_escalate(seed) -> None:
    """Low mail on Thanksgiving eve starts Friday; raised to critical it is due 4 business hours, then 24 hours, from then.

    "4 – Low ... Respond within 48 business hours"; "1 – Critical ... Respond within 4 business hours";
    "Work continuously until workaround or fix; best effort within 24 hours".
    """
    desk, tr, ops = seed("akemona"), "AKM-000001", "ops@harborridge.example"
    # Wednesday 25 Nov 18:30 PST, after hours; Thursday 26 Nov is Thanksgiving: the clock starts Friday 08:00 PST.
    assert desk.write(utc(2026, 11, 26, 2, 30), f"Ops <{ops}>", "Investor portal down", 1) == Outcome.OPENED
    # 48 business hours of nine a day: Fri 27, Mon 30, Tue 1, Wed 2, Thu 3 (45 h), then 3 h on Fri 4 Dec -> 11:00 PST.
    assert dues(desk, tr) == (utc(2026, 12, 4, 19), None, None, None)
    [ack] = mails(desk, tr)
    assert (ack.at, ack.to, ack.kind) == (utc(2026, 11, 26, 2, 30), ops, "acknowledgement")
    assert ack.subject == "[AKM-000001] Investor portal down"
    assert "Tracking number: AKM-000001" in ack.text and "Severity:        low" in ack.text
    assert "Response target: 48 business hours, due by Friday 4 December 2026, 11:00 PST" in ack.text

    desk.change(utc(2026, 11, 27, 17), tr, "ravi@akemona.com", severity="critical")  # Fri 27 Nov 09:00 PST
    # From creation (clock start Fri 08:00 PST): response 12:00 PST; workaround 24 hours later, Sat 08:00 PST.
    assert dues(desk, tr) == (utc(2026, 11, 27, 20), utc(2026, 11, 28, 16), None, None)
    changed = mails(desk, tr)[1]
    assert "has changed from low to critical (by ravi@akemona.com)" in changed.text
    assert "Response due by:   Friday 27 November 2026, 12:00 PST" in changed.text

    # Warned at 80 % (3 h 12 min: 11:12 PST), breached at 12:00 PST; the reply at 12:30 stops the level-2 (16:00).
    assert desk.run_until(utc(2026, 11, 27, 20), tr) == [utc(2026, 11, 27, 19, 12), utc(2026, 11, 27, 20)]
    assert desk.write(utc(2026, 11, 27, 20, 30), "oncall@akemona.com", "Re: [AKM-000001] Investor portal down", 2,
                      reply_to=1) == Outcome.APPENDED
    assert desk.ticket(tr).first_response_at == utc(2026, 11, 27, 20, 30)
    # Workaround: warned at 19 h 12 min (Sat 03:12 PST), lead at Sat 08:00, manager at 48 hours (Sun 08:00 PST).
    assert desk.run_until(utc(2026, 12, 7, 8), tr) == [utc(2026, 11, 28, 11, 12), utc(2026, 11, 28, 16), utc(2026, 11, 29, 16)]
    assert desk.ticket(tr).next_check_at is None
    lead, manager = "support-lead@akemona.com", "support-manager@akemona.com"
    assert log(desk, tr) == [
        (utc(2026, 11, 26, 2, 30), ops, "acknowledgement"),
        (utc(2026, 11, 27, 17), ops, "severity_changed"),
        (utc(2026, 11, 27, 19, 12), "oncall@akemona.com", "sla_warning"),
        (utc(2026, 11, 27, 20), lead, "breach_alert"),
        (utc(2026, 11, 28, 11, 12), "oncall@akemona.com", "sla_warning"),
        (utc(2026, 11, 28, 16), lead, "breach_alert"),
        (utc(2026, 11, 29, 16), manager, "breach_alert"),
    ]
    assert breaches(desk, tr) == [
        (utc(2026, 11, 27, 20), "response", 1, utc(2026, 11, 27, 20), lead),
        (utc(2026, 11, 28, 16), "workaround", 1, utc(2026, 11, 28, 16), lead),
        (utc(2026, 11, 29, 16), "workaround", 2, utc(2026, 11, 28, 16), manager),
    ]
    sent = mails(desk, tr)
    assert "falls due at Friday 27 November 2026, 12:00 PST\n(4 business hours for critical tickets" in sent[2].text
    assert "falls due at Saturday 28 November 2026, 08:00 PST\n(24 hours for critical tickets" in sent[4].text
    assert sent[6].subject == "[AKM-000001] SLA breach (level 2): workaround target missed - Investor portal down"
    assert "It was due at Saturday 28 November 2026, 08:00 PST (24 hours" in sent[6].text
    assert "escalation level 2" in sent[6].text


def test_akemona_high_across_the_spring_dst_change(seed) -> None:
    """Friday-afternoon mail, raised to high: 8 business hours and 7 business days, counted across 8 March (PST -> PDT).

    "2 – High | ... | Respond within 8 business hours | Workaround or fix within 7 business days".
    """
    desk, tr, cfo = seed("akemona"), "AKM-000001", "cfo@harborridge.example"
    team = ["ravi@akemona.com", "jenna@akemona.com"]
    assert desk.write(utc(2026, 3, 7, 0), cfo, "Report export fails", 1) == Outcome.OPENED  # Fri 6 Mar 16:00 PST
    # 48 business hours: Fri 1 h, Mon 9 .. Fri 13 Mar 45 h (PDT from Sunday), 2 h on Mon 16 Mar -> 10:00 PDT.
    assert dues(desk, tr) == (utc(2026, 3, 16, 17), None, None, None)
    assert "due by Monday 16 March 2026, 10:00 PDT" in mails(desk, tr)[0].text

    desk.change(utc(2026, 3, 9, 16), tr, "jenna@akemona.com", severity="high")  # Mon 9 Mar 09:00 PDT
    # Response: Fri 1 h + 7 h on Monday -> 15:00 PDT. Workaround: 7 open days after Friday 16:00 -> Tue 17 Mar 16:00 PDT.
    assert dues(desk, tr) == (utc(2026, 3, 9, 22), utc(2026, 3, 17, 23), None, None)
    assert "Response due by:   Monday 9 March 2026, 15:00 PDT" in mails(desk, tr)[1].text

    # Warned at 6 h 24 min of 8 (Mon 13:24 PDT), to the team that works non-critical tickets.
    assert desk.run_until(utc(2026, 3, 9, 21), tr) == [utc(2026, 3, 9, 20, 24)]
    desk.write(utc(2026, 3, 9, 21), "ravi@akemona.com", "Re: [AKM-000001] Report export fails", 2, reply_to=1)
    # Workaround (63 open hours): warned at 50 h 24 min (Mon 16 Mar 12:24 PDT); lead at the due time; manager at
    # 126 open hours (Thu 26 Mar 16:00 PDT).
    assert desk.run_until(utc(2026, 4, 1, 7), tr) == [utc(2026, 3, 16, 19, 24), utc(2026, 3, 17, 23), utc(2026, 3, 26, 23)]
    assert log(desk, tr) == [
        (utc(2026, 3, 7, 0), cfo, "acknowledgement"),
        (utc(2026, 3, 9, 16), cfo, "severity_changed"),
        *[(utc(2026, 3, 9, 20, 24), who, "sla_warning") for who in team],
        *[(utc(2026, 3, 16, 19, 24), who, "sla_warning") for who in team],
        (utc(2026, 3, 17, 23), "support-lead@akemona.com", "breach_alert"),
        (utc(2026, 3, 26, 23), "support-manager@akemona.com", "breach_alert"),
    ]
    assert [(b[1], b[2], b[3]) for b in breaches(desk, tr)] == [("workaround", 1, utc(2026, 3, 17, 23)),
                                                               ("workaround", 2, utc(2026, 3, 17, 23))]
    warning = mails(desk, tr)[4].text
    assert "falls due at Tuesday 17 March 2026, 16:00 PDT\n(7 business days for high tickets" in warning


# -- SecPod: "Support availability: 24 hours, Monday through Friday, except Closed Holidays." -----------


def test_secpod_holiday_mail_waits_for_monday_unless_critical(seed) -> None:
    """Mail on Gandhi Jayanti: low is due 2 business days after Monday's opening; critical is 2 hours, holiday or not.

    "Requests received on Saturday/Sunday/Closed Holidays: Replied to on the next working day unless the
    issue is critical." / "Critical | 2 Hours or Less" / "Low | 2 Business Days or Less".
    """
    desk, tr, secops = seed("secpod"), "SECPOD-000001", "secops@northwind.example"
    # Friday 2 Oct 2026 10:00 IST, a national holiday: the weekday clock starts Monday 5 Oct 00:00 IST.
    assert desk.write(utc(2026, 10, 2, 4, 30), secops, "Agents offline", 1) == Outcome.OPENED
    # Two open days after Monday 00:00 (Tuesday, Wednesday) -> Wednesday 7 Oct 00:00 IST.
    assert dues(desk, tr) == (utc(2026, 10, 6, 18, 30), None, None, None)
    [ack] = mails(desk, tr)
    assert "Severity:        low" in ack.text and "Tracking number: SECPOD-000001" in ack.text
    assert "Response target: 2 business days, due by Wednesday 7 October 2026, 00:00 IST" in ack.text

    desk.change(utc(2026, 10, 2, 4, 45), tr, "meera@secpod.com", severity="critical")  # Fri 10:15 IST
    # Two hours around the clock from the mail, on the holiday itself: Friday 12:00 IST.
    assert dues(desk, tr) == (utc(2026, 10, 2, 6, 30), None, None, None)
    assert "Response due by:   Friday 2 October 2026, 12:00 IST" in mails(desk, tr)[1].text
    # Warned at 96 minutes (11:36 IST) to the on-call engineer, lead told at 12:00; the reply at 12:20 ends the chain.
    assert desk.run_until(utc(2026, 10, 2, 6, 30), tr) == [utc(2026, 10, 2, 6, 6), utc(2026, 10, 2, 6, 30)]
    desk.write(utc(2026, 10, 2, 6, 50), "oncall@secpod.com", "Re: [SECPOD-000001] Agents offline", 2, reply_to=1)
    assert desk.run_until(utc(2026, 10, 20, 0), tr) == [] and desk.ticket(tr).next_check_at is None
    assert log(desk, tr) == [
        (utc(2026, 10, 2, 4, 30), secops, "acknowledgement"),
        (utc(2026, 10, 2, 4, 45), secops, "severity_changed"),
        (utc(2026, 10, 2, 6, 6), "oncall@secpod.com", "sla_warning"),
        (utc(2026, 10, 2, 6, 30), "support-lead@secpod.com", "breach_alert"),
    ]
    assert breaches(desk, tr) == [(utc(2026, 10, 2, 6, 30), "response", 1, utc(2026, 10, 2, 6, 30), "support-lead@secpod.com")]
    assert "It was due at Friday 2 October 2026, 12:00 IST (2 hours for critical tickets on the sla plan)." in mails(desk, tr)[3].text


def test_secpod_waiting_on_customer_pauses_then_solved_after_7_days_and_closed_3_days_later(seed) -> None:
    """High: waiting on the customer stops the 6 business hours; 7 silent days solve it, 3 more close it.

    "Waiting on Customer | ... The ticket remains in this status until requested information is received."
    "Solved | ... no feedback has been received from the customer after three follow-ups or more than 7 days,
    whichever is earlier." "Closed | The ticket has been in a resolved status for more than 3 days".
    """
    desk, tr, noc, eng = seed("secpod"), "SECPOD-000001", "noc@contoso-mssp.example", "arjun@secpod.com"
    subject = "Scan results missing"
    assert desk.write(utc(2026, 10, 5, 3, 30), noc, subject, 1) == Outcome.OPENED  # Mon 5 Oct 09:00 IST
    assert dues(desk, tr) == (utc(2026, 10, 7, 3, 30), None, None, None)  # Wed 7 Oct 09:00 IST
    desk.change(utc(2026, 10, 5, 4), tr, eng, severity="high")  # 09:30 IST
    assert dues(desk, tr) == (utc(2026, 10, 5, 9, 30), None, None, None)  # 6 open hours: Mon 15:00 IST
    desk.change(utc(2026, 10, 5, 4, 30), tr, eng, status=Status.WAITING_ON_CUSTOMER)  # 10:00 IST, 1 h used
    assert desk.ticket(tr).first_response_due is None
    # The customer answers Tue 6 Oct 11:00 IST: 5 h left -> Tue 16:00 IST.
    assert desk.write(utc(2026, 10, 6, 5, 30), noc, f"Re: [{tr}] {subject}", 2, reply_to=1) == Outcome.APPENDED
    assert desk.ticket(tr).status == "open"
    assert dues(desk, tr) == (utc(2026, 10, 6, 10, 30), None, None, None)
    desk.write(utc(2026, 10, 6, 6, 30), eng, f"Re: [{tr}] {subject}", 3, reply_to=1)  # answered Tue 12:00 IST
    desk.change(utc(2026, 10, 6, 6, 30), tr, eng, status=Status.WAITING_ON_CUSTOMER)
    # No feedback: solved 7 days later (Tue 13 Oct 12:00 IST), closed 3 days after that (Fri 16 Oct 12:00 IST).
    assert desk.run_until(utc(2026, 10, 31, 0), tr) == [utc(2026, 10, 13, 6, 30), utc(2026, 10, 16, 6, 30)]
    ticket = desk.ticket(tr)
    assert (ticket.status, ticket.solved_at, ticket.closed_at) == ("closed", utc(2026, 10, 13, 6, 30), utc(2026, 10, 16, 6, 30))
    assert ticket.first_response_at == utc(2026, 10, 6, 6, 30) and ticket.next_check_at is None
    assert [(e.at, e.detail["to"], e.detail.get("why")) for e in desk.events(tr, kind="status_changed")][-2:] == [
        (utc(2026, 10, 13, 6, 30), "solved", "no answer from the customer for 7 days"),
        (utc(2026, 10, 16, 6, 30), "closed", "solved for 3 days"),
    ]
    assert log(desk, tr) == [  # no warning: the clock was paused when 80 % would have run, answered before it
        (utc(2026, 10, 5, 3, 30), noc, "acknowledgement"),
        (utc(2026, 10, 5, 4), noc, "severity_changed"),
        (utc(2026, 10, 13, 6, 30), noc, "solved"),
        (utc(2026, 10, 16, 6, 30), noc, "closed"),
    ]
    solved, closed = mails(desk, tr)[2:]
    assert solved.subject == f"[{tr}] Solved: {subject}" and "your reply reopens the ticket" in solved.text
    assert closed.subject == f"[{tr}] Closed: {subject}" and f"Ticket {tr} ({subject}) is now closed." in closed.text
    # "The ticket is archived": a reply after closing opens a new ticket (acknowledged), the old one stays closed.
    assert desk.write(utc(2026, 10, 16, 7), noc, f"Re: [{tr}] {subject}", 4, reply_to=1) == Outcome.OPENED
    assert desk.ticket(tr).status == "closed" and log(desk, "SECPOD-000002") == [
        (utc(2026, 10, 16, 7), noc, "acknowledgement")]


def test_secpod_three_unanswered_follow_ups_solve_before_7_days(seed) -> None:
    """"no feedback has been received from the customer after three follow-ups or more than 7 days, whichever is earlier".

    "Closed | The ticket has been in a resolved status for more than 3 days".
    """
    desk, tr, noc, eng = seed("secpod"), "SECPOD-000001", "noc@contoso-mssp.example", "arjun@secpod.com"
    subject = "Scan results missing"
    desk.write(utc(2026, 10, 5, 3, 30), noc, subject, 1)  # Mon 5 Oct 09:00 IST
    desk.write(utc(2026, 10, 5, 4, 30), eng, f"Re: [{tr}] Please send the agent logs", 2, reply_to=1)
    desk.change(utc(2026, 10, 5, 4, 30), tr, eng, status=Status.WAITING_ON_CUSTOMER)  # Mon 10:00 IST
    for n, day in enumerate((6, 7, 8), start=3):  # follow-ups Tue, Wed, Thu 10:00 IST, none answered
        desk.write(utc(2026, 10, day, 4, 30), eng, f"Re: [{tr}] Following up: agent logs", n, reply_to=1)
        assert desk.ticket(tr).status == Status.WAITING_ON_CUSTOMER
    # The sla plan has no update target, so the wait after the third follow-up is the mean gap between them:
    # (Thu 10:00 - Mon 10:00 IST) / 3 = 24 hours -> solved Fri 9 Oct 10:00 IST, earlier than the 7 days
    # (Mon 12 Oct 10:00 IST); closed 3 days later, Mon 12 Oct 10:00 IST (IST has no DST).
    assert desk.run_until(utc(2026, 10, 31, 0), tr) == [utc(2026, 10, 9, 4, 30), utc(2026, 10, 12, 4, 30)]
    ticket = desk.ticket(tr)
    assert (ticket.status, ticket.solved_at, ticket.closed_at) == ("closed", utc(2026, 10, 9, 4, 30), utc(2026, 10, 12, 4, 30))
    assert ticket.next_check_at is None
    assert [(e.at, e.detail["to"], e.detail.get("why")) for e in desk.events(tr, kind="status_changed")][-2:] == [
        (utc(2026, 10, 9, 4, 30), "solved", "no answer from the customer after 3 follow-ups"),
        (utc(2026, 10, 12, 4, 30), "closed", "solved for 3 days"),
    ]
    assert log(desk, tr) == [
        (utc(2026, 10, 5, 3, 30), noc, "acknowledgement"),
        (utc(2026, 10, 9, 4, 30), noc, "solved"),
        (utc(2026, 10, 12, 4, 30), noc, "closed"),
    ]
    solved, closed = mails(desk, tr)[1:]
    assert solved.subject == f"[{tr}] Solved: {subject}" and f"Ticket {tr} ({subject}) has been solved." in solved.text
    assert "your reply reopens the ticket" in solved.text
    assert closed.subject == f"[{tr}] Closed: {subject}" and f"Ticket {tr} ({subject}) is now closed." in closed.text


# -- Standard (Central Time, 1 business day) and Enterprise (30 minutes, 24x7 including holidays) -----------


def test_standard_one_business_day_across_the_fall_dst_change_and_after_hours(seed) -> None:
    """Friday 16:00 CDT is due Monday 16:00 CST; Friday-evening mail is due a day after Monday's opening.

    "Our goal is to respond to all support requests within one business day." "Monday through Friday,
    8:00 AM to 5:00 PM Central Time, excluding holidays. Support requests received outside of these hours
    will be addressed on the next business day."
    """
    desk, peter, samir = seed("standard-enterprise"), "peter@initech.example", "samir@initech.example"
    assert desk.write(utc(2026, 10, 30, 21), peter, "VPN tunnel drops", 1) == Outcome.OPENED  # Fri 30 Oct 16:00 CDT
    assert desk.write(utc(2026, 10, 31, 1), samir, "Invoice portal question", 2) == Outcome.OPENED  # Fri 20:00 CDT
    # DST ends Sunday 1 Nov: the same local time one open day later is Monday 2 Nov 16:00 CST (22:00 UTC, not 21:00).
    assert dues(desk, "SUP-000001") == (utc(2026, 11, 2, 22), None, None, None)
    # After hours: the clock starts Monday 08:00 CST, due Tuesday 3 Nov 08:00 CST.
    assert dues(desk, "SUP-000002") == (utc(2026, 11, 3, 14), None, None, None)
    assert "Response target: 1 business day, due by Monday 2 November 2026, 16:00 CST" in mails(desk, "SUP-000001")[0].text
    assert "Response target: 1 business day, due by Tuesday 3 November 2026, 08:00 CST" in mails(desk, "SUP-000002")[0].text

    # Raised to high Friday 16:30 CDT: every priority is one business day from creation, so the due time stays.
    desk.change(utc(2026, 10, 30, 21, 30), "SUP-000001", "sam@vendor.example", severity="high")
    assert dues(desk, "SUP-000001") == (utc(2026, 11, 2, 22), None, None, None)
    changed = mails(desk, "SUP-000001")[1].text
    assert "from low to high" in changed and "Response due by:   Monday 2 November 2026, 16:00 CST" in changed

    # 9 open hours each: warned at 7 h 12 min (Mon 14:12 and 15:12 CST), lead at the due time, manager at 18 h.
    assert desk.run_all_until(utc(2026, 11, 4, 18), "SUP-000001", "SUP-000002") == [
        utc(2026, 11, 2, 20, 12), utc(2026, 11, 2, 21, 12), utc(2026, 11, 2, 22),
        utc(2026, 11, 3, 14), utc(2026, 11, 3, 22), utc(2026, 11, 4, 14)]
    team, lead, manager = ["sam@vendor.example", "priya@vendor.example"], "team-lead@vendor.example", "department-manager@vendor.example"
    assert log(desk, "SUP-000001") == [
        (utc(2026, 10, 30, 21), peter, "acknowledgement"),
        (utc(2026, 10, 30, 21, 30), peter, "severity_changed"),
        *[(utc(2026, 11, 2, 20, 12), who, "sla_warning") for who in team],
        (utc(2026, 11, 2, 22), lead, "breach_alert"),  # Mon 16:00 CST
        (utc(2026, 11, 3, 22), manager, "breach_alert"),  # Tue 16:00 CST
    ]
    assert log(desk, "SUP-000002") == [
        (utc(2026, 10, 31, 1), samir, "acknowledgement"),
        *[(utc(2026, 11, 2, 21, 12), who, "sla_warning") for who in team],
        (utc(2026, 11, 3, 14), lead, "breach_alert"),  # Tue 08:00 CST
        (utc(2026, 11, 4, 14), manager, "breach_alert"),  # Wed 08:00 CST
    ]
    assert [b[2:] for b in breaches(desk, "SUP-000002")] == [(1, utc(2026, 11, 3, 14), lead), (2, utc(2026, 11, 3, 14), manager)]


def test_enterprise_30_minutes_on_thanksgiving_night_escalates_three_levels(seed) -> None:
    """Enterprise mail at 02:10 CST on Thanksgiving is due 02:40; team lead, department manager, executives follow.

    "Our enterprise-level support is available 24x7, including holidays." "respond to all support requests
    within 30 minutes." "Level 1: Support team lead / Level 2: Department manager / Level 3: Executive management".
    """
    desk, tr, noc = seed("standard-enterprise"), "SUP-000001", "noc@globex.example"
    assert desk.write(utc(2026, 11, 26, 8, 10), noc, "Core switch down", 1) == Outcome.OPENED  # Thu 26 Nov 02:10 CST
    assert dues(desk, tr) == (utc(2026, 11, 26, 8, 40), None, None, None)  # 02:40 CST
    ack = mails(desk, tr)[0].text
    assert "Severity:        low" in ack and "Response target: 30 minutes, due by Thursday 26 November 2026, 02:40 CST" in ack
    # Warned at 24 min (02:34), then one level every further 30 minutes: 02:40, 03:10, 03:40 CST.
    assert desk.run_until(utc(2026, 11, 26, 11), tr) == [
        utc(2026, 11, 26, 8, 34), utc(2026, 11, 26, 8, 40), utc(2026, 11, 26, 9, 10), utc(2026, 11, 26, 9, 40)]
    assert desk.ticket(tr).next_check_at is None  # the chain has three levels
    desk.write(utc(2026, 11, 26, 9, 50), "oncall@vendor.example", f"Re: [{tr}] Core switch down", 2, reply_to=1)
    desk.change(utc(2026, 11, 26, 10), tr, "oncall@vendor.example", severity="high")  # 04:00 CST
    assert dues(desk, tr) == (utc(2026, 11, 26, 8, 40), None, None, None)  # still 30 minutes from creation
    levels = ["team-lead@vendor.example", "department-manager@vendor.example", "executives@vendor.example"]
    assert log(desk, tr) == [
        (utc(2026, 11, 26, 8, 10), noc, "acknowledgement"),
        *[(utc(2026, 11, 26, 8, 34), who, "sla_warning") for who in
          ("oncall@vendor.example", "sam@vendor.example", "priya@vendor.example")],
        (utc(2026, 11, 26, 8, 40), levels[0], "breach_alert"),
        (utc(2026, 11, 26, 9, 10), levels[1], "breach_alert"),
        (utc(2026, 11, 26, 9, 40), levels[2], "breach_alert"),
        (utc(2026, 11, 26, 10), noc, "severity_changed"),
    ]
    assert breaches(desk, tr) == [(at, "response", n, utc(2026, 11, 26, 8, 40), levels[n - 1]) for n, at in
                                  enumerate((utc(2026, 11, 26, 8, 40), utc(2026, 11, 26, 9, 10), utc(2026, 11, 26, 9, 40)), 1)]
    sent = mails(desk, tr)
    for n, alert in enumerate(sent[4:7], start=1):
        assert alert.subject == f"[{tr}] SLA breach (level {n}): response target missed - Core switch down"
        assert "It was due at Thursday 26 November 2026, 02:40 CST (30 minutes for low tickets on the enterprise plan)." in alert.text
        assert f"escalation level {n}." in alert.text
    assert "Response due by:   Thursday 26 November 2026, 02:40 CST" in sent[7].text


# -- Apporetum: "Every email sent to the support mailbox ... will begin at the lowest support severity level." --


def test_apporetum_easter_holidays_and_the_end_of_daylight_saving(seed) -> None:
    """Standard Business Service mail before Easter: Good Friday and Easter Monday (NSW) are skipped, AEDT -> AEST.

    "Every email sent to the support mailbox (support@apporetum.com.au) will begin at the lowest support
    severity level." Raised to SEVERITY ONE its (placeholder) 4 business hours count from creation.
    """
    desk, tr, idt = seed("apporetum"), "APP-000001", "identity-team@banksia-health.example"
    assert desk.write(utc(2026, 4, 2, 5), idt, "SSO login loop", 1) == Outcome.OPENED  # Thu 2 Apr 16:00 AEDT
    # Two open days later: Fri 3 (Good Friday), Sat, Sun, Mon 6 (Easter Monday) closed -> Tue 7, Wed 8 Apr 16:00 AEST.
    assert dues(desk, tr) == (utc(2026, 4, 8, 6), None, None, None)
    ack = mails(desk, tr)[0].text
    assert "Severity:        three" in ack and "Tracking number: APP-000001" in ack
    assert "Response target: 2 business days, due by Wednesday 8 April 2026, 16:00 AEST" in ack

    desk.change(utc(2026, 4, 6, 23, 30), tr, "support-desk@apporetum.com.au", severity="one")  # Tue 7 Apr 09:30 AEST
    # 4 business hours: Thu 16:00-17:00, then 3 h from Tuesday 09:00 -> 12:00 AEST.
    assert dues(desk, tr) == (utc(2026, 4, 7, 2), None, None, None)
    changed = mails(desk, tr)[1].text
    assert "from three to one" in changed and "Response due by:   Tuesday 7 April 2026, 12:00 AEST" in changed
    # Warned at 3 h 12 min (11:12 AEST), lead at 12:00, manager at 8 business hours (16:00 AEST).
    assert desk.run_until(utc(2026, 4, 7, 14), tr) == [utc(2026, 4, 7, 1, 12), utc(2026, 4, 7, 2), utc(2026, 4, 7, 6)]
    assert log(desk, tr) == [
        (utc(2026, 4, 2, 5), idt, "acknowledgement"),
        (utc(2026, 4, 6, 23, 30), idt, "severity_changed"),
        (utc(2026, 4, 7, 1, 12), "support-desk@apporetum.com.au", "sla_warning"),
        (utc(2026, 4, 7, 2), "support-lead@apporetum.com.au", "breach_alert"),
        (utc(2026, 4, 7, 6), "support-manager@apporetum.com.au", "breach_alert"),
    ]
    assert [b[1:4] for b in breaches(desk, tr)] == [("response", 1, utc(2026, 4, 7, 2)), ("response", 2, utc(2026, 4, 7, 2))]


def test_apporetum_business_critical_one_is_24x7_across_the_spring_forward_night(seed) -> None:
    """Business Critical, Sunday 4 Oct 01:30 AEST: three waits for Tuesday (Labour Day); one is 1 elapsed hour.

    "Specialized and prioritized support team available 24/7." Clocks jump 02:00 AEST -> 03:00 AEDT that night.
    """
    desk, tr, wattle = seed("apporetum"), "APP-000001", "ict-service-desk@wattle-council.example"
    assert desk.write(utc(2026, 10, 3, 15, 30), wattle, "Provisioning halted", 1) == Outcome.OPENED
    # Sunday, then Monday 5 Oct Labour Day (NSW): clock starts Tue 6 Oct 09:00 AEDT, due Wed 7 Oct 09:00 AEDT.
    assert dues(desk, tr) == (utc(2026, 10, 6, 22), None, None, None)
    assert "Response target: 1 business day, due by Wednesday 7 October 2026, 09:00 AEDT" in mails(desk, tr)[0].text
    desk.change(utc(2026, 10, 3, 15, 45), tr, "priority-team@apporetum.com.au", severity="one")  # 01:45 AEST
    # One elapsed hour after 01:30 AEST is 03:30 AEDT (02:00-03:00 does not exist that night).
    assert dues(desk, tr) == (utc(2026, 10, 3, 16, 30), None, None, None)
    assert "Response due by:   Sunday 4 October 2026, 03:30 AEDT" in mails(desk, tr)[1].text
    # Warned at 48 min (03:18 AEDT) to the critical on-call, lead at 03:30, manager at 2 hours (04:30 AEDT).
    assert desk.run_until(utc(2026, 10, 3, 17, 40), tr) == [utc(2026, 10, 3, 16, 18), utc(2026, 10, 3, 16, 30), utc(2026, 10, 3, 17, 30)]
    desk.write(utc(2026, 10, 3, 17, 45), "critical-oncall@apporetum.com.au", f"Re: [{tr}] Provisioning halted", 2, reply_to=1)
    assert desk.ticket(tr).next_check_at is None
    assert log(desk, tr) == [
        (utc(2026, 10, 3, 15, 30), wattle, "acknowledgement"),
        (utc(2026, 10, 3, 15, 45), wattle, "severity_changed"),
        (utc(2026, 10, 3, 16, 18), "critical-oncall@apporetum.com.au", "sla_warning"),
        (utc(2026, 10, 3, 16, 30), "support-lead@apporetum.com.au", "breach_alert"),
        (utc(2026, 10, 3, 17, 30), "support-manager@apporetum.com.au", "breach_alert"),
    ]
    warning = mails(desk, tr)[2].text
    assert "falls due at Sunday 4 October 2026, 03:30 AEDT\n(1 hour for one tickets on the business-critical plan)" in warning


# -- Viakoo: "8:00 AM to 6:00 PM U.S. Pacific Time, Monday through Friday, except for official US holidays" -----


def test_viakoo_serious_updates_every_24_hours_and_escalates_to_the_cto_ciso(seed) -> None:
    """Serious: response 4 hours, updates every 24 hours, temporary resolution 48 hours, permanent one week.

    "Serious | 4 Hours | Every 24 hour | Within forty-eight (48) hours | Within one week"; "In the event a
    resolution for a Critical or Serious Error is not provided in accordance with the foregoing, Viakoo will
    immediately escalate the issue to the CTO/CISO." Times PST (DST ended 1 Nov).
    """
    desk, tr, it = seed("viakoo"), "VKO-000001", "facilities-it@pinecrest-hospital.example"
    senior, cto = "senior-support@viakoo.com", "cto-ciso@viakoo.com"
    assert desk.write(utc(2026, 11, 2, 15), it, "Camera fleet offline", 1) == Outcome.OPENED  # Mon 2 Nov 07:00 PST
    # Minor: response from the 08:00 opening, 24 helpdesk hours (10 a day) -> Wed 4 Nov 12:00 PST; the update
    # cadence does not wait for the opening: 30 days after the ack (Mon 07:00 PST) -> Wed 2 Dec 07:00 PST.
    assert dues(desk, tr) == (utc(2026, 11, 4, 20), None, None, utc(2026, 12, 2, 15))
    [ack] = mails(desk, tr)
    assert ack.subject == "[VKO-000001] Camera fleet offline" and "Tracking number: VKO-000001" in ack.text
    assert "Severity:        minor" in ack.text
    assert "Response target: 24 business hours, due by Wednesday 4 November 2026, 12:00 PST" in ack.text

    desk.change(utc(2026, 11, 2, 17), tr, senior, severity="serious")  # Mon 09:00 PST
    # From the 08:00 opening: response 12:00 PST, workaround 48 elapsed hours -> Wed 4 Nov 08:00 PST, resolution
    # one week (same local time 7 days on, no DST change) -> Mon 9 Nov 08:00 PST; the severity email (09:00)
    # restarts the cadence: next update Tue 3 Nov 09:00 PST.
    assert dues(desk, tr) == (utc(2026, 11, 2, 20), utc(2026, 11, 4, 16), utc(2026, 11, 9, 16), utc(2026, 11, 3, 17))
    changed = mails(desk, tr)[1].text
    assert "from minor to serious" in changed and "Response due by:   Monday 2 November 2026, 12:00 PST" in changed
    assert "Resolution due by: Monday 9 November 2026, 08:00 PST" in changed
    assert "Next update due by: Tuesday 3 November 2026, 09:00 PST" in changed

    assert desk.run_until(utc(2026, 11, 2, 20), tr) == [utc(2026, 11, 2, 19, 12), utc(2026, 11, 2, 20)]  # 11:12, 12:00
    desk.write(utc(2026, 11, 2, 21), senior, f"Re: [{tr}] Camera fleet offline", 2, reply_to=1)  # Mon 13:00 PST
    assert desk.ticket(tr).next_update_due == utc(2026, 11, 3, 21)  # the reply restarts the cadence: Tue 13:00 PST
    assert desk.run_until(utc(2026, 11, 9, 20), tr) == [
        utc(2026, 11, 3, 21),  # Tue 13:00 update
        utc(2026, 11, 4, 6, 24),  # Tue 22:24: 80 % of 48 hours
        utc(2026, 11, 4, 16),  # Wed 08:00 temporary resolution missed
        utc(2026, 11, 4, 21), utc(2026, 11, 5, 21), utc(2026, 11, 6, 21), utc(2026, 11, 7, 21),  # Wed-Sat 13:00
        utc(2026, 11, 8, 6, 24),  # Sat 22:24: 80 % of one week (134 h 24 min after Mon 08:00 PST)
        utc(2026, 11, 8, 21),  # Sun 13:00 update
        utc(2026, 11, 9, 16),  # Mon 9 Nov 08:00 permanent resolution missed
    ]
    # "Every 24 hour" is wall-clock time: the updates run through the weekend, 24 hours apart (Sat and Sun 13:00 PST
    # too), without waiting for an opening. After Sunday's, the next is Mon 9 Nov 13:00 PST.
    assert desk.ticket(tr).next_update_due == utc(2026, 11, 9, 21)
    updates = [(utc(2026, 11, d, 21), it, "status_update") for d in (4, 5, 6, 7)]
    assert log(desk, tr) == [
        (utc(2026, 11, 2, 15), it, "acknowledgement"),
        (utc(2026, 11, 2, 17), it, "severity_changed"),
        (utc(2026, 11, 2, 19, 12), senior, "sla_warning"),
        (utc(2026, 11, 2, 20), cto, "breach_alert"),
        (utc(2026, 11, 3, 21), it, "status_update"),
        (utc(2026, 11, 4, 6, 24), senior, "sla_warning"),
        (utc(2026, 11, 4, 16), cto, "breach_alert"),
        *updates,
        (utc(2026, 11, 8, 6, 24), senior, "sla_warning"),
        (utc(2026, 11, 8, 21), it, "status_update"),
        (utc(2026, 11, 9, 16), cto, "breach_alert"),
    ]
    assert breaches(desk, tr) == [
        (utc(2026, 11, 2, 20), "response", 1, utc(2026, 11, 2, 20), cto),
        (utc(2026, 11, 4, 16), "workaround", 1, utc(2026, 11, 4, 16), cto),
        (utc(2026, 11, 9, 16), "resolution", 1, utc(2026, 11, 9, 16), cto),
    ]
    sent = mails(desk, tr)
    assert sent[4].subject == f"[{tr}] Status update: Camera fleet offline"
    assert "Severity: serious" in sent[4].text and "Next update due by:   Wednesday 4 November 2026, 13:00 PST" in sent[4].text
    assert "Next update due by:   Sunday 8 November 2026, 13:00 PST" in sent[10].text  # Saturday's update
    assert "Next update due by:   Monday 9 November 2026, 13:00 PST" in sent[12].text  # Sunday's update
    assert "It was due at Wednesday 4 November 2026, 08:00 PST (48 hours for serious tickets" in sent[6].text
    assert "It was due at Monday 9 November 2026, 08:00 PST (1 week for serious tickets" in sent[13].text


def test_viakoo_severity_email_states_when_the_next_update_really_comes(seed) -> None:
    """The email that raises to serious at Mon 09:00 PST is itself an update: the next is due 24 hours after it.

    "Serious | 4 Hours | Every 24 hour | ..."
    """
    desk, tr = seed("viakoo"), "VKO-000001"
    desk.write(utc(2026, 11, 2, 15), "facilities-it@pinecrest-hospital.example", "Camera fleet offline", 1)  # 07:00 PST
    desk.change(utc(2026, 11, 2, 17), tr, "senior-support@viakoo.com", severity="serious")  # Mon 09:00 PST
    # Mon 11:12 PST warning, 12:00 PST response breach, then the update Tue 3 Nov 09:00 PST, 24 hours after the email.
    assert desk.run_until(utc(2026, 11, 3, 17), tr) == [utc(2026, 11, 2, 19, 12), utc(2026, 11, 2, 20), utc(2026, 11, 3, 17)]
    changed = mails(desk, tr)[1]
    assert changed.kind == "severity_changed"
    assert "\n  Next update due by: Tuesday 3 November 2026, 09:00 PST\n" in changed.text
    assert [(m.at, m.kind) for m in mails(desk, tr)][-1] == (utc(2026, 11, 3, 17), "status_update")


def test_viakoo_major_updates_every_week_across_the_spring_dst_change(seed) -> None:
    """Major: 8 helpdesk hours, an update every week (the same local time 7 days on), temporary resolution 30 days.

    "Major | 8 Hours | Every week | Within thirty (30) days | Next Maintenance Release".
    """
    desk, tr, ot = seed("viakoo"), "VKO-000001", "ot-security@riverbend-airport.example"
    assert desk.write(utc(2026, 3, 6, 18), ot, "Agent upgrade stuck", 1) == Outcome.OPENED  # Fri 6 Mar 10:00 PST
    # Minor: Fri 8 h, Mon 9 Mar 10 h (PDT), 6 h Tue -> 14:00 PDT; update 30 days after the ack, at the same local
    # time across the 8 March change -> Sun 5 Apr 10:00 PDT (719 elapsed hours).
    assert dues(desk, tr) == (utc(2026, 3, 10, 21), None, None, utc(2026, 4, 5, 17))
    desk.change(utc(2026, 3, 6, 18, 30), tr, "helpdesk-a@viakoo.com", severity="major")  # Fri 10:30 PST
    # Response 8 helpdesk hours -> Fri 18:00 PST; workaround 30 days after 10:00 PST -> Sun 5 Apr 10:00 PDT;
    # no permanent resolution time ("Next Maintenance Release"); update a week after the 10:30 PST email ->
    # Fri 13 Mar 10:30 PDT (167 elapsed hours).
    assert dues(desk, tr) == (utc(2026, 3, 7, 2), utc(2026, 4, 5, 17), None, utc(2026, 3, 13, 17, 30))
    desk.write(utc(2026, 3, 6, 23), "helpdesk-a@viakoo.com", f"Re: [{tr}] Agent upgrade stuck", 2, reply_to=1)
    # The reply (Fri 15:00 PST) restarts the cadence: a week later is Fri 13 Mar 15:00 PDT (167 elapsed hours),
    # then Fri 20 Mar 15:00 PDT and Fri 27 Mar 15:00 PDT (168 hours each).
    assert desk.ticket(tr).next_update_due == utc(2026, 3, 13, 22)
    assert desk.run_until(utc(2026, 3, 21, 7), tr) == [utc(2026, 3, 13, 22), utc(2026, 3, 20, 22)]
    assert desk.ticket(tr).next_update_due == utc(2026, 3, 27, 22)
    assert log(desk, tr) == [
        (utc(2026, 3, 6, 18), ot, "acknowledgement"),
        (utc(2026, 3, 6, 18, 30), ot, "severity_changed"),
        (utc(2026, 3, 13, 22), ot, "status_update"),
        (utc(2026, 3, 20, 22), ot, "status_update"),
    ]
    first = mails(desk, tr)[2].text
    assert "Severity: major" in first and "Next update due by:   Friday 20 March 2026, 15:00 PDT" in first


def test_viakoo_minor_on_thanksgiving_updates_every_30_days(seed) -> None:
    """Minor mail on Thanksgiving: 24 helpdesk hours from Friday's opening; the monthly update runs from the ack.

    The cadence restarts at an engineer's reply.

    "Minor | 24 Hours | Every month | As mutually determined | As mutually determined" (a month is 30 days).
    """
    desk, tr, sec = seed("viakoo"), "VKO-000001", "security@pinecrest-hospital.example"
    assert desk.write(utc(2026, 11, 26, 18), sec, "Dashboard shows stale firmware", 1) == Outcome.OPENED  # Thu 10:00 PST
    # Thanksgiving: the response clock starts Fri 27 Nov 08:00 PST. Fri 10 h, Mon 10 h, 4 h Tue -> Tue 1 Dec
    # 12:00 PST; the ack's cadence does not wait for the opening: 30 days from the ack (Thu 26 Nov 10:00 PST)
    # -> Sat 26 Dec 10:00 PST.
    assert dues(desk, tr) == (utc(2026, 12, 1, 20), None, None, utc(2026, 12, 26, 18))
    assert "Response target: 24 business hours, due by Tuesday 1 December 2026, 12:00 PST" in mails(desk, tr)[0].text
    desk.write(utc(2026, 11, 30, 17), "helpdesk-b@viakoo.com", f"Re: [{tr}] Dashboard shows stale firmware", 2, reply_to=1)
    assert desk.ticket(tr).next_update_due == utc(2026, 12, 30, 17)  # Mon 30 Nov 09:00 + 30 days: Wed 30 Dec 09:00 PST
    assert desk.run_until(utc(2026, 12, 31, 8), tr) == [utc(2026, 12, 30, 17)]
    assert log(desk, tr) == [(utc(2026, 11, 26, 18), sec, "acknowledgement"), (utc(2026, 12, 30, 17), sec, "status_update")]
    update = mails(desk, tr)[1].text
    assert "Severity: minor" in update and "Next update due by:   Friday 29 January 2027, 09:00 PST" in update
    assert desk.ticket(tr).next_update_due == utc(2027, 1, 29, 17)
