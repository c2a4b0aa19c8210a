"""The Akemona and SecPod support policies, run as timelines on config/examples/akemona.yaml and secpod.yaml, to the minute.

Each test feeds mail through the real pipeline at chosen instants, moves the clock like
`inbox jobs run-once --as-of` and checks every email sent (when, to whom, which kind, key text)
and every due time against the policy's text. Expected instants are worked out by hand and
written in UTC, with the local time beside them.
"""

from __future__ import annotations

from tests.seed_kit import Outcome, Status, breaches, dues, log, mails, utc

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
    [ack] = mails(desk, tr, to=ops)
    assert (ack.at, ack.to, ack.kind) == (utc(2026, 11, 26, 2, 30), ops, "acknowledgement")
    assert ack.subject == "[AKM-000001] Investor portal down"
    assert "Tracking number: AKM-000001" in ack.text and "Severity:        low" in ack.text
    assert "Response target: 48 business hours, due by Friday 4 December 2026, 11:00 PST" in ack.text

    desk.change(utc(2026, 11, 27, 17), tr, "ravi@akemona.com", severity="critical")  # Fri 27 Nov 09:00 PST
    # From creation (clock start Fri 08:00 PST): response 12:00 PST; workaround 24 hours later, Sat 08:00 PST.
    assert dues(desk, tr) == (utc(2026, 11, 27, 20), utc(2026, 11, 28, 16), None, None)
    changed = mails(desk, tr, to=ops)[1]
    assert "has changed from low to critical (by Akemona Technical Support)" in changed.text  # an engineer's address stays ours
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
    # Dispatch by severity: low to the first of the general team, critical to the on-call team; the
    # on-call engineer's reply reaches the customer from the support address.
    assert log(desk, tr) == [
        (utc(2026, 11, 26, 2, 30), "ravi@akemona.com", "assigned"),
        (utc(2026, 11, 26, 2, 30), ops, "acknowledgement"),
        (utc(2026, 11, 27, 17), ops, "severity_changed"),
        (utc(2026, 11, 27, 17), "oncall@akemona.com", "assigned"),
        (utc(2026, 11, 27, 19, 12), "oncall@akemona.com", "sla_warning"),
        (utc(2026, 11, 27, 20), lead, "breach_alert"),
        (utc(2026, 11, 27, 20, 30), ops, "agent_reply"),
        (utc(2026, 11, 28, 11, 12), "oncall@akemona.com", "sla_warning"),
        (utc(2026, 11, 28, 16), lead, "breach_alert"),
        (utc(2026, 11, 29, 16), manager, "breach_alert"),
    ]
    assert breaches(desk, tr) == [
        (utc(2026, 11, 27, 20), "response", 1, utc(2026, 11, 27, 20), lead),
        (utc(2026, 11, 28, 16), "workaround", 1, utc(2026, 11, 28, 16), lead),
        (utc(2026, 11, 29, 16), "workaround", 2, utc(2026, 11, 28, 16), manager),
    ]
    warnings, alerts = mails(desk, tr, kind="sla_warning"), mails(desk, tr, kind="breach_alert")
    assert "falls due at Friday 27 November 2026, 12:00 PST\n(4 business hours for critical tickets" in warnings[0].text
    assert "falls due at Saturday 28 November 2026, 08:00 PST\n(24 hours for critical tickets" in warnings[1].text
    assert alerts[2].subject == "[AKM-000001] SLA breach (level 2): workaround target missed - Investor portal down"
    assert "It was due at Saturday 28 November 2026, 08:00 PST (24 hours" in alerts[2].text
    assert "escalation level 2" in alerts[2].text


def test_akemona_high_across_the_spring_dst_change(seed) -> None:
    """Friday-afternoon mail, raised to high: 8 business hours and 7 business days, counted across 8 March (PST -> PDT).

    "2 – High | ... | Respond within 8 business hours | Workaround or fix within 7 business days".
    """
    desk, tr, cfo = seed("akemona"), "AKM-000001", "cfo@harborridge.example"
    team = ["ravi@akemona.com", "jenna@akemona.com"]
    assert desk.write(utc(2026, 3, 7, 0), cfo, "Report export fails", 1) == Outcome.OPENED  # Fri 6 Mar 16:00 PST
    # 48 business hours: Fri 1 h, Mon 9 .. Fri 13 Mar 45 h (PDT from Sunday), 2 h on Mon 16 Mar -> 10:00 PDT.
    assert dues(desk, tr) == (utc(2026, 3, 16, 17), None, None, None)
    assert "due by Monday 16 March 2026, 10:00 PDT" in mails(desk, tr, to=cfo)[0].text

    desk.change(utc(2026, 3, 9, 16), tr, "jenna@akemona.com", severity="high")  # Mon 9 Mar 09:00 PDT
    # Response: Fri 1 h + 7 h on Monday -> 15:00 PDT. Workaround: 7 open days after Friday 16:00 -> Tue 17 Mar 16:00 PDT.
    assert dues(desk, tr) == (utc(2026, 3, 9, 22), utc(2026, 3, 17, 23), None, None)
    assert "Response due by:   Monday 9 March 2026, 15:00 PDT" in mails(desk, tr, to=cfo)[1].text

    # Warned at 6 h 24 min of 8 (Mon 13:24 PDT), to the engineer the ticket was dispatched to.
    assert desk.run_until(utc(2026, 3, 9, 21), tr) == [utc(2026, 3, 9, 20, 24)]
    desk.write(utc(2026, 3, 9, 21), "ravi@akemona.com", "Re: [AKM-000001] Report export fails", 2, reply_to=1)
    # Workaround (63 open hours): warned at 50 h 24 min (Mon 16 Mar 12:24 PDT); lead at the due time; manager at
    # 126 open hours (Thu 26 Mar 16:00 PDT).
    assert desk.run_until(utc(2026, 4, 1, 7), tr) == [utc(2026, 3, 16, 19, 24), utc(2026, 3, 17, 23), utc(2026, 3, 26, 23)]
    # Round-robin gave it to Ravi (first in the team); Jenna raised it, so Ravi is told; Ravi's reply is relayed.
    assert log(desk, tr) == [
        (utc(2026, 3, 7, 0), team[0], "assigned"),
        (utc(2026, 3, 7, 0), cfo, "acknowledgement"),
        (utc(2026, 3, 9, 16), cfo, "severity_changed"),
        (utc(2026, 3, 9, 16), team[0], "severity_changed"),
        (utc(2026, 3, 9, 20, 24), team[0], "sla_warning"),
        (utc(2026, 3, 9, 21), cfo, "agent_reply"),
        (utc(2026, 3, 16, 19, 24), team[0], "sla_warning"),
        (utc(2026, 3, 17, 23), "support-lead@akemona.com", "breach_alert"),
        (utc(2026, 3, 26, 23), "support-manager@akemona.com", "breach_alert"),
    ]
    assert [(b[1], b[2], b[3]) for b in breaches(desk, tr)] == [("workaround", 1, utc(2026, 3, 17, 23)),
                                                               ("workaround", 2, utc(2026, 3, 17, 23))]
    warning = mails(desk, tr, kind="sla_warning")[1].text
    assert "falls due at Tuesday 17 March 2026, 16:00 PDT\n(7 business days for high tickets" in warning


def test_akemona_only_three_designated_contacts_get_support(seed) -> None:
    """Mail from a colleague who is not a designated contact is kept and flagged; they get a polite note, no ack.

    "Up to three (3) designated customer contacts may access technical support services."
    """
    desk, cfo, analyst = seed("akemona"), "cfo@harborridge.example", "analyst@harborridge.example"
    assert desk.write(utc(2026, 3, 2, 17), analyst, "Cannot download statements", 1) == Outcome.OPENED
    assert desk.write(utc(2026, 3, 2, 18), cfo, "Report export fails", 2) == Outcome.OPENED
    flagged, designated = desk.ticket("AKM-000001"), desk.ticket("AKM-000002")
    assert (flagged.customer_id, flagged.flags, designated.flags) == (
        "harbor-ridge", ["not-designated-contact", "awaiting-confirmation"], [])
    assert [e.detail["flag"] for e in desk.events("AKM-000001", kind="flagged")] == ["not-designated-contact"]
    assert [(m.to, m.kind) for m in mails(desk, "AKM-000001") if m.to == analyst] == [(analyst, "not_designated")]
    note = mails(desk, "AKM-000001", to=analyst)[0]
    assert "designated" in note.text and "AKM-000001" in note.subject
    assert "ops@harborridge.example" not in note.text and cfo not in note.text  # the contacts stay private
    assert [m.kind for m in mails(desk, "AKM-000002", to=cfo)] == ["acknowledgement"]


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
    [ack] = mails(desk, tr, to=secops)
    assert "Severity:        low" in ack.text and "Tracking number: SECPOD-000001" in ack.text
    assert "Response target: 2 business days, due by Wednesday 7 October 2026, 00:00 IST" in ack.text

    desk.change(utc(2026, 10, 2, 4, 45), tr, "meera@secpod.com", severity="critical")  # Fri 10:15 IST
    # Two hours around the clock from the mail, on the holiday itself: Friday 12:00 IST.
    assert dues(desk, tr) == (utc(2026, 10, 2, 6, 30), None, None, None)
    assert "Response due by:   Friday 2 October 2026, 12:00 IST" in mails(desk, tr, to=secops)[1].text
    # Warned at 96 minutes (11:36 IST) to the on-call engineer, lead told at 12:00; the reply at 12:20 ends the chain.
    assert desk.run_until(utc(2026, 10, 2, 6, 30), tr) == [utc(2026, 10, 2, 6, 6), utc(2026, 10, 2, 6, 30)]
    desk.write(utc(2026, 10, 2, 6, 50), "oncall@secpod.com", "Re: [SECPOD-000001] Agents offline", 2, reply_to=1)
    assert desk.run_until(utc(2026, 10, 20, 0), tr) == [] and desk.ticket(tr).next_check_at is None
    # Low went to Arjun by round-robin; Meera's raise told him, and critical moved it to on-call.
    assert log(desk, tr) == [
        (utc(2026, 10, 2, 4, 30), "arjun@secpod.com", "assigned"),
        (utc(2026, 10, 2, 4, 30), secops, "acknowledgement"),
        (utc(2026, 10, 2, 4, 45), secops, "severity_changed"),
        (utc(2026, 10, 2, 4, 45), "arjun@secpod.com", "severity_changed"),
        (utc(2026, 10, 2, 4, 45), "oncall@secpod.com", "assigned"),
        (utc(2026, 10, 2, 6, 6), "oncall@secpod.com", "sla_warning"),
        (utc(2026, 10, 2, 6, 30), "support-lead@secpod.com", "breach_alert"),
        (utc(2026, 10, 2, 6, 50), secops, "agent_reply"),
    ]
    assert breaches(desk, tr) == [(utc(2026, 10, 2, 6, 30), "response", 1, utc(2026, 10, 2, 6, 30), "support-lead@secpod.com")]
    assert "It was due at Friday 2 October 2026, 12:00 IST (2 hours for critical tickets on the sla plan)." in mails(desk, tr, kind="breach_alert")[0].text


def test_secpod_waiting_on_customer_pauses_then_three_daily_reminders_solve_and_close(seed) -> None:
    """High: waiting on the customer stops the 6 business hours; three unanswered reminders solve it, 3 days close it.

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
    # The customer answers Tue 6 Oct 11:00 IST: 5 h left -> Tue 16:00 IST. The reminder due Tue 10:00 went first.
    assert desk.run_until(utc(2026, 10, 6, 5, 29), tr) == [utc(2026, 10, 6, 4, 30)]
    assert desk.write(utc(2026, 10, 6, 5, 30), noc, f"Re: [{tr}] {subject}", 2, reply_to=1) == Outcome.APPENDED
    assert desk.ticket(tr).status == "open"
    assert dues(desk, tr) == (utc(2026, 10, 6, 10, 30), None, None, None)
    desk.write(utc(2026, 10, 6, 6, 30), eng, f"Re: [{tr}] {subject}", 3, reply_to=1)  # answered Tue 12:00 IST
    desk.change(utc(2026, 10, 6, 6, 30), tr, eng, status=Status.WAITING_ON_CUSTOMER)
    # A reminder each working day at 12:00 IST (Wed, Thu, Fri), none answered: solved a working day after the
    # third (Mon 12 Oct 12:00 IST, before the 7 days of Tue 13 Oct), closed 3 days later (Thu 15 Oct 12:00 IST).
    reminders = [utc(2026, 10, 7, 6, 30), utc(2026, 10, 8, 6, 30), utc(2026, 10, 9, 6, 30)]
    assert desk.run_until(utc(2026, 10, 31, 0), tr) == [*reminders, utc(2026, 10, 12, 6, 30), utc(2026, 10, 15, 6, 30)]
    ticket = desk.ticket(tr)
    assert (ticket.status, ticket.solved_at, ticket.closed_at) == ("closed", utc(2026, 10, 12, 6, 30), utc(2026, 10, 15, 6, 30))
    assert ticket.first_response_at == utc(2026, 10, 6, 6, 30) and ticket.next_check_at is None
    assert [(e.at, e.detail["to"], e.detail.get("why")) for e in desk.events(tr, kind="status_changed")][-2:] == [
        (utc(2026, 10, 12, 6, 30), "solved", "no answer from the customer after 3 follow-ups"),
        (utc(2026, 10, 15, 6, 30), "closed", "solved for 3 days"),
    ]
    assert log(desk, tr) == [  # no warning: the clock was paused when 80 % would have run, answered before it
        (utc(2026, 10, 5, 3, 30), eng, "assigned"),
        (utc(2026, 10, 5, 3, 30), noc, "acknowledgement"),
        (utc(2026, 10, 5, 4), noc, "severity_changed"),
        (utc(2026, 10, 6, 4, 30), noc, "reminder"),
        (utc(2026, 10, 6, 6, 30), noc, "agent_reply"),
        *[(at, noc, "reminder") for at in reminders],
        (utc(2026, 10, 12, 6, 30), noc, "solved"),
        (utc(2026, 10, 15, 6, 30), noc, "closed"),
    ]
    first_reminder = mails(desk, tr, kind="reminder")[1]
    assert first_reminder.subject.startswith(f"[{tr}]") and "is waiting for your answer" in first_reminder.text
    solved, closed = mails(desk, tr, to=noc)[-2:]
    assert solved.subject == f"[{tr}] Solved: {subject}" and "your reply reopens the ticket" in solved.text
    assert closed.subject == f"[{tr}] Closed: {subject}" and f"Ticket {tr} ({subject}) is now closed." in closed.text
    # "The ticket is archived": a reply after closing opens a new ticket (acknowledged), the old one stays closed.
    assert desk.write(utc(2026, 10, 16, 7), noc, f"Re: [{tr}] {subject}", 4, reply_to=1) == Outcome.OPENED
    assert desk.ticket(tr).status == "closed" and log(desk, "SECPOD-000002") == [
        (utc(2026, 10, 16, 7), "meera@secpod.com", "assigned"), (utc(2026, 10, 16, 7), noc, "acknowledgement")]


def test_secpod_seven_days_come_first_when_holidays_thin_out_the_reminders(seed) -> None:
    """Waiting from Wed 25 Mar 2026: Ram Navami and Mahavir Jayanti leave two reminders in 7 days, so 7 days solve it.

    "no feedback has been received from the customer after three follow-ups or more than 7 days, whichever is earlier".
    """
    desk, tr, noc, eng = seed("secpod"), "SECPOD-000001", "noc@contoso-mssp.example", "arjun@secpod.com"
    desk.write(utc(2026, 3, 25, 5, 30), noc, "Patch scan stuck", 1)  # Wed 25 Mar 11:00 IST
    desk.write(utc(2026, 3, 25, 6, 30), eng, f"Re: [{tr}] Please send the agent logs", 2, reply_to=1)
    desk.change(utc(2026, 3, 25, 6, 30), tr, eng, status=Status.WAITING_ON_CUSTOMER)  # Wed 12:00 IST
    # Thursday 26 is Ram Navami: reminders Fri 27 and Mon 30 12:00 IST; Tuesday 31 is Mahavir Jayanti, so the
    # third would be Wed 1 Apr 12:00 IST, the very instant the 7 days run out: solved then, not reminded.
    assert desk.run_until(utc(2026, 4, 3, 0), tr) == [utc(2026, 3, 27, 6, 30), utc(2026, 3, 30, 6, 30), utc(2026, 4, 1, 6, 30)]
    ticket = desk.ticket(tr)
    assert (ticket.status, ticket.solved_at, ticket.follow_ups) == ("solved", utc(2026, 4, 1, 6, 30), 2)
    assert desk.events(tr, kind="status_changed")[-1].detail["why"] == "no answer from the customer for 7 days"
    assert [(m.at, m.kind) for m in mails(desk, tr, to=noc)][2:] == [
        (utc(2026, 3, 27, 6, 30), "reminder"), (utc(2026, 3, 30, 6, 30), "reminder"), (utc(2026, 4, 1, 6, 30), "solved")]


def test_secpod_three_unanswered_follow_ups_solve_before_7_days(seed) -> None:
    """"no feedback has been received from the customer after three follow-ups or more than 7 days, whichever is earlier".

    An engineer's own chasing replies count as follow-ups, and each puts the next reminder off a working day.
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
    # Solved a working day after the third follow-up (Fri 9 Oct 10:00 IST), earlier than the 7 days
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
        (utc(2026, 10, 5, 3, 30), eng, "assigned"),
        (utc(2026, 10, 5, 3, 30), noc, "acknowledgement"),
        *[(utc(2026, 10, day, 4, 30), noc, "agent_reply") for day in (5, 6, 7, 8)],
        (utc(2026, 10, 9, 4, 30), noc, "solved"),
        (utc(2026, 10, 12, 4, 30), noc, "closed"),
    ]
    solved, closed = mails(desk, tr, to=noc)[-2:]
    assert solved.subject == f"[{tr}] Solved: {subject}" and f"Ticket {tr} ({subject}) has been solved." in solved.text
    assert "your reply reopens the ticket" in solved.text
    assert closed.subject == f"[{tr}] Closed: {subject}" and f"Ticket {tr} ({subject}) is now closed." in closed.text
